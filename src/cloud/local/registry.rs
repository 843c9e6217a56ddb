//! Registered images in the local store, with Plankton's rules: an image
//! is a registered object (its id is the object's UUID), its location is
//! `pithos://ACCOUNT/CONTAINER/NAME`, a public image makes its object
//! world-readable, and registering the same object again updates it.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::cloud::RemoteImage;
use crate::cloud::error::CloudError;
use crate::cloud::ids;
use crate::cloud::local::history::{HistoryError, VersionExtras};
use crate::cloud::local::store::{ObjectRecord, Store};
use crate::cloud::pithos::plankton::location;

/// What a registration asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRequest {
    pub name: String,
    pub location: String,
    pub disk_format: String,
    pub container_format: String,
    pub is_public: bool,
    pub properties: BTreeMap<String, String>,
    /// When given, must equal the object's size.
    pub size: Option<u64>,
    /// When given, must equal the object's hash.
    pub checksum: Option<String>,
}

/// Split a location into (account, container, name).
pub fn parse_location(loc: &str) -> Result<(String, String, String), CloudError> {
    let bad = || {
        CloudError::Protocol(format!(
            "bad image location `{loc}': expected pithos://ACCOUNT/CONTAINER/NAME"
        ))
    };
    let rest = loc.strip_prefix("pithos://").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, '/');
    let (Some(a), Some(c), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let d = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    if a.is_empty() || c.is_empty() || n.is_empty() {
        return Err(bad());
    }
    Ok((d(a), d(c), d(n)))
}

/// Refuse a size or checksum that is not the object's.
fn check_matches(req: &ImageRequest, obj: &ObjectRecord) -> Result<(), CloudError> {
    if req.size.is_some_and(|s| s != obj.bytes) {
        return Err(CloudError::Protocol(format!(
            "the size given does not match the object's {} bytes",
            obj.bytes
        )));
    }
    if req
        .checksum
        .as_ref()
        .is_some_and(|c| !c.is_empty() && *c != obj.hash)
    {
        return Err(CloudError::Protocol(
            "the checksum given does not match the object's hash".into(),
        ));
    }
    Ok(())
}

/// The image `req` makes of `obj` (first registered at `created`, if it
/// was before).
fn new_image(
    req: &ImageRequest,
    owner: &str,
    obj: &ObjectRecord,
    created: Option<String>,
) -> RemoteImage {
    let now = ids::rfc3339(ids::unix_now());
    RemoteImage {
        id: obj.uuid.clone(),
        name: req.name.clone(),
        location: req.location.clone(),
        owner: owner.to_owned(),
        disk_format: or(&req.disk_format, "diskdump"),
        container_format: or(&req.container_format, "bare"),
        size: obj.bytes,
        checksum: obj.hash.clone(),
        is_public: req.is_public,
        status: "available".into(),
        created_at: created.unwrap_or_else(|| now.clone()),
        updated_at: now,
        properties: req.properties.clone(),
    }
}

impl Store {
    /// Register (or re-register) the object at `req.location` for `owner`,
    /// as the next version of its name.
    pub fn register(&self, owner: &str, req: &ImageRequest) -> Result<RemoteImage, CloudError> {
        self.register_version(owner, req, &VersionExtras::default())
    }

    /// As [`Store::register`], with what the version keeps besides the
    /// image; the answer's `VERSION` property is its number.
    pub fn register_version(
        &self,
        owner: &str,
        req: &ImageRequest,
        extras: &VersionExtras,
    ) -> Result<RemoteImage, CloudError> {
        let (mut image, obj) = self.register_object(owner, req)?;
        let n = self
            .record_version(&image, &obj, extras)
            .map_err(|e| match e {
                HistoryError::Store(e) => e,
                other => CloudError::Protocol(other.to_string()),
            })?;
        image.properties.insert("VERSION".into(), n.to_string());
        let json =
            serde_json::to_vec_pretty(&image).map_err(|e| CloudError::Protocol(e.to_string()))?;
        self.write_file(&self.image_path(&image.id)?, &json)?;
        Ok(image)
    }

    fn register_object(
        &self,
        owner: &str,
        req: &ImageRequest,
    ) -> Result<(RemoteImage, ObjectRecord), CloudError> {
        if req.name.trim().is_empty() {
            return Err(CloudError::Protocol("an image needs a name".into()));
        }
        let (account, container, name) = parse_location(&req.location)?;
        if account != owner {
            return Err(CloudError::Protocol(format!(
                "cannot register {}: images can only be made of your own objects",
                req.location
            )));
        }
        let mut obj = self
            .object(&account, &container, &name)?
            .ok_or_else(|| CloudError::NotFound(format!("no object at {}", req.location)))?;
        check_matches(req, &obj)?;
        let created = self.image(&obj.uuid)?.map(|o| o.created_at);
        let mut image = new_image(req, owner, &obj, created);
        image.location = location(&account, &container, &name);
        if req.is_public && !obj.is_world_readable() {
            obj.sharing = Some("read=*".into());
            self.save_object(&account, &container, &obj)?;
        }
        let json =
            serde_json::to_vec_pretty(&image).map_err(|e| CloudError::Protocol(e.to_string()))?;
        self.write_file(&self.image_path(&image.id)?, &json)?;
        Ok((image, obj))
    }

    /// One image by id.
    pub fn image(&self, id: &str) -> Result<Option<RemoteImage>, CloudError> {
        self.read_json(&self.image_path(id)?)
    }

    /// Every image `viewer` may see (its own and the public ones), by name.
    pub fn images(&self, viewer: Option<&str>) -> Result<Vec<RemoteImage>, CloudError> {
        let mut out = Vec::new();
        for id in self.list_names("images", ".json")? {
            if let Some(img) = self.image(&id)?
                && (viewer.is_none_or(|v| v == img.owner) || img.is_public)
            {
                out.push(img);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Remove an image record (the object stays).
    pub fn unregister(&self, id: &str) -> Result<bool, CloudError> {
        self.backend().delete(&self.image_path(id)?)
    }
}

fn or(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_round_trip() {
        let l = location("u-1", "images", "dir/a b.diskdump");
        assert_eq!(l, "pithos://u-1/images/dir/a%20b.diskdump");
        assert_eq!(
            parse_location(&l).unwrap(),
            ("u-1".into(), "images".into(), "dir/a b.diskdump".into())
        );
        assert!(parse_location("pithos://a/b").is_err());
        assert!(parse_location("http://a/b/c").is_err());
    }

    #[test]
    fn register_checks_and_publishes() {
        let (_dir, s, mut req) = store_with_object();
        let me = s.owner().to_owned();
        let img = s.register(&me, &req).unwrap();
        assert_eq!((img.size, img.disk_format.as_str()), (4, "diskdump"));
        let obj = s.object(&me, "images", "d.img").unwrap().unwrap();
        assert!(obj.is_world_readable());
        assert_eq!(s.images(Some("someone-else")).unwrap().len(), 1);
        req.is_public = false;
        req.name = "Debian 2".into();
        let again = s.register(&me, &req).unwrap();
        assert_eq!(again.id, img.id);
        assert!(s.images(Some("someone-else")).unwrap().is_empty());
        req.location = location(&me, "images", "missing");
        assert!(matches!(
            s.register(&me, &req),
            Err(CloudError::NotFound(_))
        ));
        req.location = location("other", "images", "d.img");
        assert!(s.register(&me, &req).is_err());
        req.location = location(&me, "images", "d.img");
        req.size = Some(5);
        assert!(s.register(&me, &req).is_err());
    }

    /// A store holding `images/d.img` (4 bytes), and a public request for it.
    fn store_with_object() -> (tempfile::TempDir, Store, ImageRequest) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let me = s.owner().to_owned();
        s.create_container(&me, "images").unwrap();
        let data = &mut &b"data"[..];
        s.put_data(&me, "images", "d.img", data, "application/octet-stream")
            .unwrap();
        let req = ImageRequest {
            name: "Debian".into(),
            location: location(&me, "images", "d.img"),
            is_public: true,
            ..Default::default()
        };
        (dir, s, req)
    }
}
