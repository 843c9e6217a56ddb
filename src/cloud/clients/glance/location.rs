//! An image whose data stays where it already is: a Glance image record
//! pointing at an object of the owner's Swift account, made with Glance's
//! location API (`POST /v2/images/ID/locations`, Glance 2024.2 and later).
//! Glance takes a `swift+http(s)://` location only from a caller with the
//! `service` role, in the user's token or in an `X-Service-Token`; it then
//! reads the object with the user's token (its multi-tenant Swift store),
//! makes the image active and computes its checksums, in a task of its
//! own: the image is polled until it is active or the task failed. An
//! image that does not become active is deleted.

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

use super::GlanceBackend;
use crate::cloud::clients::keystone::GlanceAccess;
use crate::cloud::config::clouds_yaml::OsCloud;
use crate::cloud::error::CloudError;
use crate::cloud::{Registration, RemoteImage, Secret};

/// How long Glance may take to make a located image active.
const ACTIVATION: Duration = Duration::from_secs(300);
/// Between two looks at the image.
const POLL: Duration = Duration::from_millis(500);

/// What Glance's location API is told: where the data is.
pub fn location_body(url: &str) -> Value {
    json!({ "url": url })
}

/// The location request: JSON `body`, and the service token, if any, as
/// `X-Service-Token` (the user's own token is already on `b`).
pub fn location_request(b: RequestBuilder, body: &str, service: Option<&Secret>) -> RequestBuilder {
    let b = b
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    match service {
        Some(t) => b.header("X-Service-Token", t.expose()),
        None => b,
    }
}

impl GlanceBackend {
    /// A cloud's Glance reached with a token and URL already known (the
    /// Swift backend's own Keystone session).
    pub fn with_access(cloud: OsCloud, access: GlanceAccess) -> Result<GlanceBackend, CloudError> {
        let g = GlanceBackend::new(cloud)?;
        let _ = g.session.set(access);
        Ok(g)
    }

    /// Register the data at `url` (`swift+http(s)://…`) as a new private
    /// image named and described as `reg` says; once active, the image.
    pub fn register_location(
        &self,
        url: &str,
        reg: &Registration,
        service: Option<&Secret>,
    ) -> Result<RemoteImage, CloudError> {
        let id = self.create(&reg.name)?;
        let made = self
            .set_properties(&id, reg)
            .and_then(|()| self.add_location(&id, url, service))
            .and_then(|()| self.wait_active(&id, url));
        if made.is_err() {
            self.delete(&id);
        }
        made
    }

    fn add_location(
        &self,
        id: &str,
        url: &str,
        service: Option<&Secret>,
    ) -> Result<(), CloudError> {
        let path = format!("/v2/images/{id}/locations");
        let body = location_body(url).to_string();
        let what = format!("adding location {url} to image {id}");
        let r = self.http.call(&what, &[200, 201, 202, 204], &|c| {
            location_request(self.req(c, Method::POST, &path), &body, service)
        });
        r.map(drop).map_err(|e| match e {
            CloudError::Status {
                status: 403,
                url,
                message,
                ..
            } => CloudError::Auth {
                url,
                status: 403,
                message: format!(
                    "{message} Glance takes a Swift location only from the `service' role: \
                     give the account that role, or name an account that has it with \
                     `service_cloud' in clouds.yaml"
                ),
            },
            other => other,
        })
    }

    /// Wait until image `id` is active; an error naming Glance's reason
    /// when its location task failed.
    fn wait_active(&self, id: &str, url: &str) -> Result<RemoteImage, CloudError> {
        let start = Instant::now();
        loop {
            let img = self.image(id)?;
            match img.status.as_str() {
                "active" => return Ok(img),
                "queued" | "importing" | "saving" => {}
                other => {
                    return Err(CloudError::Protocol(format!(
                        "image {id} became {other} instead of active"
                    )));
                }
            }
            if let Some(why) = self.failed_task(id)? {
                return Err(CloudError::Protocol(format!(
                    "Glance could not use {url} as image {id} ({why}): its Swift store must be \
                     enabled and multi-tenant (see the README), and the object readable by the account"
                )));
            }
            if start.elapsed() > ACTIVATION {
                return Err(CloudError::Protocol(format!(
                    "image {id} did not become active within {} s",
                    ACTIVATION.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The message of a failed location task of image `id`, if one failed.
    fn failed_task(&self, id: &str) -> Result<Option<String>, CloudError> {
        let path = format!("/v2/images/{id}/tasks");
        let what = format!("reading the tasks of image {id}");
        let r = self
            .http
            .call(&what, &[200, 404], &|c| self.req(c, Method::GET, &path))?;
        if r.status == 404 {
            return Ok(None);
        }
        let v: Value = r.json(&what)?;
        Ok(failure(&v))
    }
}

/// The message of the first failed `location_import` task of a task list.
fn failure(tasks: &Value) -> Option<String> {
    tasks["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["type"] == "location_import" && t["status"] == "failure")
        .map(|t| {
            t["message"]
                .as_str()
                .filter(|m| !m.is_empty())
                .unwrap_or("the location task failed")
                .to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::http;

    #[test]
    fn location_requests_carry_the_url_and_the_service_token() {
        let body = location_body("swift+http://s:8080/v1/AUTH_p/images/d.diskdump").to_string();
        assert_eq!(
            body,
            r#"{"url":"swift+http://s:8080/v1/AUTH_p/images/d.diskdump"}"#
        );
        let c = reqwest::blocking::Client::new();
        let user = Some(Secret::new("user-token"));
        let b = http::with_token(c.post("http://g/v2/images/i/locations"), user.as_ref());
        let req = location_request(b, &body, Some(&Secret::new("svc-token")))
            .build()
            .unwrap();
        let h = req.headers();
        assert_eq!(h["X-Auth-Token"], "user-token");
        assert_eq!(h["X-Service-Token"], "svc-token");
        assert_eq!(h["Content-Type"], "application/json");
        let sent = req.body().and_then(|b| b.as_bytes()).unwrap();
        assert_eq!(sent, body.as_bytes());
        let plain = location_request(c.post("http://g/x"), &body, None)
            .build()
            .unwrap();
        assert!(!plain.headers().contains_key("X-Service-Token"));
    }

    #[test]
    fn failed_location_tasks_give_their_message() {
        let tasks = json!({"tasks": [
            {"type": "import", "status": "failure", "message": "other"},
            {"type": "location_import", "status": "processing"},
            {"type": "location_import", "status": "failure", "message": "Invalid location"}]});
        assert_eq!(failure(&tasks).as_deref(), Some("Invalid location"));
        assert_eq!(failure(&json!({"tasks": []})), None);
        let silent = json!({"tasks": [{"type": "location_import", "status": "failure"}]});
        assert_eq!(
            failure(&silent).as_deref(),
            Some("the location task failed")
        );
    }
}
