//! The Plankton subset: `POST /images/` registers (headers in, headers
//! out, name and properties percent-quoted as kamaki sends them),
//! `GET /images/` and `/images/detail` list, `HEAD`/`GET /images/ID`
//! show, `DELETE /images/ID` unregisters.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Answer, Call, unauthorized};
use crate::cloud::RemoteImage;
use crate::cloud::local::registry::ImageRequest;
use crate::cloud::pithos::plankton::{PROPERTY_PREFIX, image_headers, unquote};

/// Route `/image/v1.0/images/…`.
pub(super) fn dispatch(call: &mut Call<'_>) -> Answer {
    let Some(user) = call.user() else {
        return unauthorized();
    };
    let path: Vec<&str> = call
        .path
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let result = match (call.method.as_str(), path.as_slice()) {
        ("POST", []) => register(call, &user.uuid),
        ("GET", []) => list(call, &user.uuid, false),
        ("GET", ["detail"]) => list(call, &user.uuid, true),
        ("HEAD" | "GET", [id]) => show(call, &user.uuid, id),
        ("DELETE", [id]) => unregister(call, &user.uuid, id),
        _ => return Answer::text(405, "method not allowed"),
    };
    result.unwrap_or_else(|e| Answer::from_error(&e))
}

type Res = Result<Answer, crate::cloud::CloudError>;

fn with_image_headers(mut a: Answer, img: &RemoteImage) -> Answer {
    for (k, v) in image_headers(img) {
        a = a.header(&k, v);
    }
    a
}

fn register(call: &mut Call<'_>, owner: &str) -> Res {
    let meta = |k: &str| call.header(&format!("X-Image-Meta-{k}"));
    let Some(location) = meta("Location") else {
        return Ok(Answer::text(
            501,
            "registering without X-Image-Meta-Location is not supported",
        ));
    };
    let Some(name) = meta("Name") else {
        return Ok(Answer::text(400, "X-Image-Meta-Name is required"));
    };
    if meta("Store").is_some_and(|s| s != "pithos") {
        return Ok(Answer::text(400, "only the pithos store is supported"));
    }
    let properties: BTreeMap<String, String> = call
        .headers_with(PROPERTY_PREFIX)
        .into_iter()
        .map(|(k, v)| (k[PROPERTY_PREFIX.len()..].to_uppercase(), unquote(&v)))
        .collect();
    let size = match meta("Size").map(|s| s.parse::<u64>()) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return Ok(Answer::text(400, "bad X-Image-Meta-Size")),
        None => None,
    };
    let req = ImageRequest {
        name: unquote(&name),
        location: unquote(&location),
        disk_format: meta("Disk-Format").unwrap_or_default(),
        container_format: meta("Container-Format").unwrap_or_default(),
        is_public: meta("Is-Public").is_some_and(|p| p.eq_ignore_ascii_case("true")),
        properties,
        size,
        checksum: meta("Checksum"),
    };
    let img = call.store.register(owner, &req)?;
    Ok(with_image_headers(Answer::new(200), &img))
}

fn list(call: &Call<'_>, viewer: &str, detail: bool) -> Res {
    let images = call.store.images(Some(viewer))?;
    let list: Vec<serde_json::Value> = images
        .into_iter()
        .map(|i| call.store.with_history(i))
        .map(|i| {
            if detail {
                serde_json::to_value(&i).unwrap_or_default()
            } else {
                json!({"id": i.id, "name": i.name, "container_format": i.container_format,
                       "disk_format": i.disk_format, "size": i.size, "status": i.status})
            }
        })
        .collect();
    Ok(Answer::json(200, &json!(list)))
}

fn visible(
    call: &Call<'_>,
    viewer: &str,
    id: &str,
) -> Result<Option<RemoteImage>, crate::cloud::CloudError> {
    Ok(call
        .store
        .image(id)?
        .filter(|i| i.owner == viewer || i.is_public)
        .map(|i| call.store.with_history(i)))
}

fn show(call: &Call<'_>, viewer: &str, id: &str) -> Res {
    match visible(call, viewer, id)? {
        Some(img) if call.method == "HEAD" => Ok(with_image_headers(Answer::new(200), &img)),
        Some(img) => Ok(with_image_headers(
            Answer::json(200, &json!({"image": img})),
            &img,
        )),
        None => Ok(Answer::text(404, format!("no image {id}"))),
    }
}

fn unregister(call: &Call<'_>, viewer: &str, id: &str) -> Res {
    match visible(call, viewer, id)? {
        Some(img) if img.owner == viewer => {
            call.store.unregister(id)?;
            Ok(Answer::new(204))
        }
        Some(_) => Ok(Answer::text(403, "not your image")),
        None => Ok(Answer::text(404, format!("no image {id}"))),
    }
}
