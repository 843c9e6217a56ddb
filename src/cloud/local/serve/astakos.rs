//! The Astakos subset: `POST /identity/v2.0/tokens` (token → user and
//! service catalog, with the entries astakosclient looks up by name) and
//! `POST /account/v1.0/user_catalogs` (UUIDs → display names).

use serde_json::{Value, json};

use super::{Answer, Call, unauthorized};

/// Authenticate a token given in the body (or the X-Auth-Token header).
pub(super) fn tokens(call: &mut Call<'_>) -> Answer {
    if call.method != "POST" {
        return Answer::text(405, "use POST");
    }
    let body = match call.read_body() {
        Ok(b) => b,
        Err(a) => return a,
    };
    let from_body = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["auth"]["token"]["id"].as_str().map(str::to_owned));
    let Some(token) = from_body.or_else(|| call.header("X-Auth-Token")) else {
        return unauthorized();
    };
    let Some(user) = call.tokens.user(&token).cloned() else {
        return unauthorized();
    };
    let base = &call.base;
    let service = |name: &str, kind: &str, version: &str, url: String| {
        json!({"name": name, "type": kind, "endpoints": [{
            "versionId": version, "publicURL": url, "SNF:uiURL": format!("{base}/ui"),
            "region": "default"}]})
    };
    Answer::json(
        200,
        &json!({"access": {
            "token": {"id": token, "expires": "2100-01-01T00:00:00+00:00",
                      "tenant": {"id": user.uuid, "name": user.name}},
            "user": {"id": user.uuid, "name": user.name, "roles": [{"id": 1, "name": "default"}],
                     "roles_links": []},
            "serviceCatalog": [
                service("astakos_identity", "identity", "v2.0", format!("{base}/identity/v2.0")),
                service("astakos_account", "account", "v1.0", format!("{base}/account/v1.0")),
                service("pithos_object-store", "object-store", "v1", format!("{base}/object-store/v1")),
                service("cyclades_plankton", "image", "v1.0", format!("{base}/image/v1.0")),
            ]
        }}),
    )
}

/// Map UUIDs to names (only the server's own users are known).
pub(super) fn user_catalogs(call: &mut Call<'_>) -> Answer {
    if call.user().is_none() {
        return unauthorized();
    }
    let body = match call.read_body() {
        Ok(b) => b,
        Err(a) => return a,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut uuids = serde_json::Map::new();
    let mut names = serde_json::Map::new();
    for u in call.tokens.0.values() {
        let wanted = |key: &str, val: &str| {
            v[key]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(val)))
        };
        if wanted("uuids", &u.uuid) {
            uuids.insert(u.uuid.clone(), json!(u.name));
        }
        if wanted("displaynames", &u.name) {
            names.insert(u.name.clone(), json!(u.uuid));
        }
    }
    Answer::json(
        200,
        &json!({"uuid_catalog": uuids, "displayname_catalog": names}),
    )
}
