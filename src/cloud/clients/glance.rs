//! OpenStack as a [`CloudBackend`]: Keystone v3 (password or token,
//! project-scoped; the image endpoint from the catalog) or no auth, and
//! Glance v2: create the image (`raw`, `bare`, private), stream the file
//! to `PUT /v2/images/ID/file` with progress, then set name, visibility
//! and the image properties with a JSON patch. A failed upload deletes the
//! image it created, so no half-registered image is left. Glance keeps
//! no side files: the MD5 is Glance's own `checksum`.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use reqwest::Method;
use reqwest::blocking::{Body, Client, RequestBuilder};
use serde_json::{Value, json};

mod location;

use crate::cloud::clients::keystone::{self, GlanceAccess};
use crate::cloud::config::clouds_yaml::OsCloud;
use crate::cloud::error::CloudError;
use crate::cloud::http::{self, Http};
use crate::cloud::pithos::plankton::quote;
use crate::cloud::pithos::transfer::Transfer;
use crate::cloud::stream::{RangeReader, Tally, with_progress};
use crate::cloud::{CloudBackend, Registration, RemoteImage, UploadResult, Uploaded};
use crate::progress::{Reporter, Unit, begin_step};

/// Glance's own fields of an image; everything else is a property.
const STANDARD: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "checksum",
    "owner",
    "size",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "virtual_size",
    "os_hash_algo",
    "os_hash_value",
    "os_hidden",
    "direct_url",
    "locations",
    "stores",
];

/// One OpenStack cloud's image service.
pub struct GlanceBackend {
    cloud: OsCloud,
    http: Http,
    session: OnceLock<GlanceAccess>,
}

impl GlanceBackend {
    /// The cloud (authenticated later).
    pub fn new(cloud: OsCloud) -> Result<GlanceBackend, CloudError> {
        Ok(GlanceBackend {
            cloud,
            http: Http::new()?,
            session: OnceLock::new(),
        })
    }

    fn session(&self) -> Result<&GlanceAccess, CloudError> {
        http::session(&self.session)
    }

    /// A request to `path` under the Glance URL, with the token if any.
    fn req(&self, c: &Client, method: Method, path: &str) -> RequestBuilder {
        let s = self.session.get();
        let url = format!("{}{path}", s.map_or("", |s| s.glance.as_str()));
        http::with_token(c.request(method, url), s.and_then(|s| s.token.as_ref()))
    }

    fn image(&self, id: &str) -> Result<RemoteImage, CloudError> {
        let path = format!("/v2/images/{id}");
        let what = format!("reading image {id}");
        let r = self
            .http
            .call(&what, &[200], &|c| self.req(c, Method::GET, &path))?;
        Ok(to_image(&r.json(&what)?, &self.session()?.glance))
    }

    /// Remove an image left half-made by a failed upload (a failure
    /// here leaves the upload's own error to be reported).
    fn delete(&self, id: &str) {
        let path = format!("/v2/images/{id}");
        let what = format!("deleting image {id}");
        let _ = self.http.call(&what, &[204, 200, 404], &|c| {
            self.req(c, Method::DELETE, &path)
        });
    }

    /// Create a private, raw image named `name`; its id.
    fn create(&self, name: &str) -> Result<String, CloudError> {
        let body = json!({"name": name, "disk_format": "raw", "container_format": "bare",
                          "visibility": "private"})
        .to_string();
        let what = format!("creating image {name}");
        let r = self.http.call(&what, &[201], &|c| {
            self.req(c, Method::POST, "/v2/images")
                .header("Content-Type", "application/json")
                .body(body.clone())
        })?;
        let v: Value = r.json(&what)?;
        match v["id"].as_str() {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            _ => Err(CloudError::Protocol(format!(
                "{what}: no image id in the answer"
            ))),
        }
    }

    /// Name image `id`, set its visibility and add the image's properties.
    fn set_properties(&self, id: &str, reg: &Registration) -> Result<(), CloudError> {
        let body = Value::Array(patch(reg)).to_string();
        let path = format!("/v2/images/{id}");
        let what = format!("setting the properties of image {id}");
        self.http.call(&what, &[200], &|c| {
            self.req(c, Method::PATCH, &path)
                .header(
                    "Content-Type",
                    "application/openstack-images-v2.1-json-patch",
                )
                .body(body.clone())
        })?;
        Ok(())
    }

    fn put_file(&self, id: &str, file: &Path, r: &dyn Reporter) -> Result<(), CloudError> {
        let f = Arc::new(File::open(file).map_err(|e| CloudError::io("opening", file, e))?);
        let size = f
            .metadata()
            .map_err(|e| CloudError::io("reading the size of", file, e))?
            .len();
        let step = begin_step(r, "Uploading image data", Some((size, Unit::Bytes)));
        let path = format!("/v2/images/{id}/file");
        let what = format!("uploading the data of image {id}");
        let tally = Tally::default();
        with_progress(&step, &|| tally.sent(), || {
            self.http.call(&what, &[204, 201, 200], &|c| {
                let reader = RangeReader::new(f.clone(), 0, size, &tally);
                self.req(c, Method::PUT, &path)
                    .header("Content-Type", "application/octet-stream")
                    .body(Body::sized(reader, size))
            })
        })?;
        step.done("done");
        Ok(())
    }
}

/// An image from Glance's JSON.
fn to_image(v: &Value, glance: &str) -> RemoteImage {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let properties = v
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !STANDARD.contains(&k.as_str()))
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    RemoteImage {
        id: s("id"),
        name: s("name"),
        location: format!("{glance}/v2/images/{}", s("id")),
        owner: s("owner"),
        disk_format: s("disk_format"),
        container_format: s("container_format"),
        size: v["size"].as_u64().unwrap_or(0),
        checksum: s("checksum"),
        is_public: v["visibility"] == "public",
        status: s("status"),
        created_at: s("created_at"),
        updated_at: s("updated_at"),
        properties,
    }
}

impl CloudBackend for GlanceBackend {
    fn describe(&self) -> String {
        format!("OpenStack cloud `{}'", self.cloud.name)
    }

    fn authenticate(&mut self) -> Result<(), CloudError> {
        let session = keystone::authenticate(&self.http, &self.cloud)?;
        let no_auth = session.token.is_none();
        self.session = OnceLock::from(session);
        if no_auth {
            // Nothing checked the endpoint yet: list what it holds.
            self.images()?;
        }
        Ok(())
    }

    fn exists(&self, name: &str) -> Result<bool, CloudError> {
        let path = format!("/v2/images?name={}", quote(name));
        let what = format!("looking image {name} up");
        let r = self
            .http
            .call(&what, &[200], &|c| self.req(c, Method::GET, &path))?;
        let v: Value = r.json(&what)?;
        Ok(v["images"].as_array().is_some_and(|a| !a.is_empty()))
    }

    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> UploadResult {
        let id = self.create(name)?;
        if let Err(e) = self.put_file(&id, file, r) {
            self.delete(&id);
            return Err(e);
        }
        let img = self.image(&id)?;
        Ok(Uploaded {
            name: name.to_owned(),
            location: id,
            transfer: Transfer::whole(img.size, img.checksum),
        })
    }

    fn upload_bytes(&self, name: &str, _: &[u8], _: &str, _: &dyn Reporter) -> UploadResult {
        Err(CloudError::Config(format!(
            "{}: Glance keeps images only, not side files such as {name}",
            self.cloud.name
        )))
    }

    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError> {
        self.set_properties(&object.location, reg)?;
        self.image(&object.location)
    }

    fn share(&self, _name: &str) -> Result<(), CloudError> {
        Ok(())
    }

    fn images(&self) -> Result<Vec<RemoteImage>, CloudError> {
        let what = "listing images";
        let r = self
            .http
            .call(what, &[200], &|c| self.req(c, Method::GET, "/v2/images"))?;
        let v: Value = r.json(what)?;
        let glance = &self.session()?.glance;
        Ok(v["images"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| to_image(i, glance))
            .collect())
    }

    fn take_notes(&self) -> Vec<String> {
        self.http.take_notes()
    }

    fn keeps_side_files(&self) -> bool {
        false
    }
}

/// The JSON patch that names a created image, sets its visibility and
/// adds the image's properties.
fn patch(reg: &Registration) -> Vec<Value> {
    let visibility = if reg.public { "public" } else { "private" };
    let mut ops = vec![
        json!({"op": "replace", "path": "/name", "value": reg.name}),
        json!({"op": "replace", "path": "/visibility", "value": visibility}),
        json!({"op": "add", "path": "/snf_disk_format", "value": "diskdump"}),
    ];
    for (k, v) in &reg.properties {
        ops.push(json!({"op": "add", "path": format!("/{k}"), "value": v}));
    }
    ops
}
