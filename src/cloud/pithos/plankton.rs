//! Plankton's wire forms of an image, shared by the client and the
//! server: `X-Image-Meta-*` headers (name, location, description and
//! properties percent-quoted, as kamaki quotes them) and the JSON of
//! `GET /images/detail`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::cloud::RemoteImage;
use crate::cloud::error::CloudError;

/// Python's `urllib.quote` safe set: letters, digits, `_.-` and `/`.
const PY_QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'/');

/// Percent-quote as Python 2's `urllib.quote` does.
pub fn quote(s: &str) -> String {
    utf8_percent_encode(s, PY_QUOTE).to_string()
}

/// `pithos://account/container/name`, each part percent-encoded.
pub fn location(account: &str, container: &str, name: &str) -> String {
    format!(
        "pithos://{}/{}/{}",
        quote(account),
        quote(container),
        quote(name)
    )
}

/// Undo [`quote`].
pub fn unquote(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The prefix of property headers.
pub const PROPERTY_PREFIX: &str = "x-image-meta-property-";

/// The headers that describe an image, as (name, value) pairs.
pub fn image_headers(img: &RemoteImage) -> Vec<(String, String)> {
    let mut h = vec![
        ("X-Image-Meta-Id".to_owned(), img.id.clone()),
        ("X-Image-Meta-Name".into(), quote(&img.name)),
        ("X-Image-Meta-Location".into(), quote(&img.location)),
        ("X-Image-Meta-Owner".into(), img.owner.clone()),
        ("X-Image-Meta-Disk-Format".into(), img.disk_format.clone()),
        (
            "X-Image-Meta-Container-Format".into(),
            img.container_format.clone(),
        ),
        ("X-Image-Meta-Size".into(), img.size.to_string()),
        ("X-Image-Meta-Checksum".into(), img.checksum.clone()),
        (
            "X-Image-Meta-Is-Public".into(),
            if img.is_public { "True" } else { "False" }.into(),
        ),
        ("X-Image-Meta-Status".into(), img.status.clone()),
        ("X-Image-Meta-Created-At".into(), img.created_at.clone()),
        ("X-Image-Meta-Updated-At".into(), img.updated_at.clone()),
    ];
    for (k, v) in &img.properties {
        h.push((format!("X-Image-Meta-Property-{k}"), quote(v)));
    }
    h
}

/// An image from the headers of a registration or `HEAD /images/ID` reply.
pub fn image_from_headers(headers: &HeaderMap) -> Result<RemoteImage, CloudError> {
    let get = |k: &str| {
        headers
            .get(format!("x-image-meta-{k}"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let id = get("id");
    if id.is_empty() {
        return Err(CloudError::Protocol(
            "the image service answered without an image id".into(),
        ));
    }
    let properties = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix(PROPERTY_PREFIX)?;
            Some((key.to_uppercase(), unquote(v.to_str().ok()?)))
        })
        .collect();
    Ok(RemoteImage {
        id,
        name: unquote(&get("name")),
        location: unquote(&get("location")),
        owner: get("owner"),
        disk_format: get("disk-format"),
        container_format: get("container-format"),
        size: get("size").parse().unwrap_or(0),
        checksum: get("checksum"),
        is_public: get("is-public").eq_ignore_ascii_case("true"),
        status: get("status"),
        created_at: get("created-at"),
        updated_at: get("updated-at"),
        properties,
    })
}

/// An image from one element of `GET /images/detail`.
pub fn image_from_json(v: &Value) -> Option<RemoteImage> {
    serde_json::from_value(v.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let img = RemoteImage {
            id: "i-1".into(),
            name: "Debian 12 ü".into(),
            location: "pithos://u/images/a b".into(),
            owner: "u".into(),
            disk_format: "diskdump".into(),
            container_format: "bare".into(),
            size: 42,
            checksum: "c".into(),
            is_public: true,
            status: "available".into(),
            created_at: "t".into(),
            updated_at: "t".into(),
            properties: [("OSFAMILY".to_owned(), "linux".to_owned())].into(),
        };
        let mut map = HeaderMap::new();
        for (k, v) in image_headers(&img) {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        assert_eq!(image_from_headers(&map).unwrap(), img);
        assert_eq!(quote("a b/ü.x-y_z"), "a%20b/%C3%BC.x-y_z");
    }
}
