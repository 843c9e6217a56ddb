//! Keystone v3 for the OpenStack backends (Glance, Swift): the
//! project-scoped token request for a clouds.yaml account (password or
//! token), and the endpoints of the catalog it answers with, for the
//! cloud's region and interface.

use serde_json::{Value, json};

use crate::cloud::Secret;
use crate::cloud::config::clouds_yaml::{OsAuth, OsCloud};
use crate::cloud::error::CloudError;
use crate::cloud::http::Http;

/// A token and the Glance URL to use it with.
pub struct GlanceAccess {
    /// `None` for a Glance in no-auth mode.
    pub token: Option<Secret>,
    pub glance: String,
}

/// Authenticate `cloud` (through `http`): a token and the Glance URL, or
/// only the configured Glance URL when the cloud needs no auth.
pub fn authenticate(http: &Http, cloud: &OsCloud) -> Result<GlanceAccess, CloudError> {
    let Some(session) = token(http, cloud)? else {
        let glance = cloud.image_endpoint.clone().unwrap_or_default();
        return Ok(GlanceAccess {
            token: None,
            glance: glance.trim_end_matches('/').into(),
        });
    };
    let glance = match &cloud.image_endpoint {
        Some(e) => e.trim_end_matches('/').to_owned(),
        None => session.endpoint(cloud, "image")?,
    };
    Ok(GlanceAccess {
        token: Some(session.token),
        glance,
    })
}

/// A project-scoped Keystone token and the catalog it came with.
pub struct Session {
    pub token: Secret,
    /// The `token` object of Keystone's answer (catalog, project…).
    pub body: Value,
}

impl Session {
    /// The URL of the `service_type` endpoint for the cloud's region and
    /// interface.
    pub fn endpoint(&self, cloud: &OsCloud, service_type: &str) -> Result<String, CloudError> {
        self.find(cloud, service_type).ok_or_else(|| {
            CloudError::NotFound(format!(
                "no {service_type} service ({} interface{}) in the catalog of {}",
                cloud.interface,
                cloud
                    .region
                    .as_ref()
                    .map_or(String::new(), |r| format!(", region {r}")),
                cloud.name
            ))
        })
    }

    /// The URL of the `service_type` endpoint, if the catalog has one.
    pub fn find(&self, cloud: &OsCloud, service_type: &str) -> Option<String> {
        endpoint(&self.body, service_type, cloud)
    }
}

/// A project-scoped token for `cloud`; `None` when it needs no auth.
pub fn token(http: &Http, cloud: &OsCloud) -> Result<Option<Session>, CloudError> {
    token_for(http, &cloud.auth)
}

/// A project-scoped token for the account `auth`; `None` for no auth.
pub fn token_for(http: &Http, auth: &OsAuth) -> Result<Option<Session>, CloudError> {
    let Some((url, body)) = token_request(auth) else {
        return Ok(None);
    };
    let text = body.to_string();
    let hint = "the credentials were refused: check the cloud's auth in clouds.yaml";
    let r = http.authenticate("authenticating", &[201, 200], hint, &|c| {
        c.post(&url)
            .header("Content-Type", "application/json")
            .body(text.clone())
    })?;
    let token = r
        .header("X-Subject-Token")
        .ok_or_else(|| CloudError::Protocol(format!("{url} gave no X-Subject-Token")))?
        .to_owned();
    let v: Value = r.json("authenticating")?;
    Ok(Some(Session {
        token: Secret::new(token),
        body: v["token"].clone(),
    }))
}

/// A service's endpoint from a Keystone v3 catalog, for the cloud's
/// interface and region.
fn endpoint(token: &Value, service_type: &str, cloud: &OsCloud) -> Option<String> {
    let region = cloud.region.as_deref();
    token["catalog"]
        .as_array()?
        .iter()
        .filter(|s| s["type"] == service_type)
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .find(|e| {
            e["interface"] == cloud.interface.as_str()
                && region.is_none_or(|r| e["region_id"] == r || e["region"] == r)
        })?["url"]
        .as_str()
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// `{"id": x}` or `{"name": x}` from our `id:`/`name:` domain form.
fn domain(d: &str) -> Value {
    match d.split_once(':') {
        Some(("id", id)) => json!({"id": id}),
        Some((_, name)) => json!({"name": name}),
        None => json!({"id": d}),
    }
}

/// The Keystone v3 token URL and request body for an account; `None`
/// when it needs no authentication.
fn token_request(auth: &OsAuth) -> Option<(String, Value)> {
    let (url, identity, project, pdomain) = match auth {
        OsAuth::None => return None,
        OsAuth::Password {
            auth_url,
            username,
            password,
            project_name,
            user_domain,
            project_domain,
        } => (
            auth_url,
            json!({"methods": ["password"], "password": {"user": {
                "name": username, "domain": domain(user_domain), "password": password.expose()}}}),
            project_name,
            project_domain,
        ),
        OsAuth::Token {
            auth_url,
            token,
            project_name,
            project_domain,
        } => (
            auth_url,
            json!({"methods": ["token"], "token": {"id": token.expose()}}),
            project_name,
            project_domain,
        ),
    };
    let body = json!({"auth": {"identity": identity,
        "scope": {"project": {"name": project, "domain": domain(pdomain)}}}});
    Some((tokens_url(url), body))
}

/// `…/v3/auth/tokens` from an auth URL with or without its `/v3`.
fn tokens_url(auth_url: &str) -> String {
    let base = auth_url.trim_end_matches('/');
    match base.ends_with("/v3") {
        true => format!("{base}/auth/tokens"),
        false => format!("{base}/v3/auth/tokens"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_and_catalogs() {
        assert_eq!(tokens_url("http://k:5000/"), "http://k:5000/v3/auth/tokens");
        assert_eq!(tokens_url("http://k/v3"), "http://k/v3/auth/tokens");
        let auth = OsAuth::Token {
            auth_url: "http://k/v3".into(),
            token: Secret::new("t"),
            project_name: "p".into(),
            project_domain: "name:Default".into(),
        };
        let (_, body) = token_request(&auth).unwrap();
        assert_eq!(
            body["auth"]["scope"]["project"]["domain"]["name"],
            "Default"
        );
        assert!(token_request(&OsAuth::None).is_none());
        let token = json!({"catalog": [{"type": "image", "endpoints": [
            {"interface": "internal", "url": "http://in"},
            {"interface": "public", "region_id": "r1", "url": "http://pub/"}]}]});
        let mut cloud = OsCloud {
            name: "c".into(),
            auth: OsAuth::None,
            region: Some("r1".into()),
            interface: "public".into(),
            image_endpoint: None,
            service_auth: None,
        };
        assert_eq!(endpoint(&token, "image", &cloud).unwrap(), "http://pub");
        assert_eq!(endpoint(&token, "object-store", &cloud), None);
        cloud.interface = "internal".into();
        cloud.region = None;
        assert_eq!(endpoint(&token, "image", &cloud).unwrap(), "http://in");
        cloud.region = Some("r2".into());
        assert_eq!(endpoint(&token, "image", &cloud), None);
    }
}
