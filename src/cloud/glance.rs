//! OpenStack as a [`CloudBackend`]: Keystone v3 (password or token,
//! project-scoped; the image endpoint from the catalog) or no auth, and
//! Glance v2: create the image (`raw`, `bare`, private), stream the file
//! to `PUT /v2/images/ID/file` with progress, then set name, visibility
//! and the image properties with a JSON patch. A failed upload deletes the
//! image it created, so no half-registered image is left. Glance keeps
//! no side files: the MD5 is Glance's own `checksum`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use reqwest::blocking::{Body, Client, RequestBuilder};
use serde_json::{Value, json};

use super::clouds_yaml::{OsAuth, OsCloud};
use super::error::CloudError;
use super::http::Http;
use super::plankton::quote;
use super::transfer::Transfer;
use super::{CloudBackend, Registration, RemoteImage, Secret, Uploaded};
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

struct Session {
    token: Option<Secret>,
    glance: String,
}

/// One OpenStack cloud's image service.
pub struct GlanceBackend {
    cloud: OsCloud,
    http: Http,
    session: OnceLock<Session>,
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

    fn session(&self) -> Result<&Session, CloudError> {
        self.session
            .get()
            .ok_or_else(|| CloudError::Protocol("not authenticated yet".into()))
    }

    fn req(&self, c: &Client, method: reqwest::Method, path: &str) -> RequestBuilder {
        let s = self.session.get();
        let url = format!("{}{path}", s.map_or("", |s| s.glance.as_str()));
        let b = c.request(method, url);
        match s.and_then(|s| s.token.as_ref()) {
            Some(t) => b.header("X-Auth-Token", t.expose()),
            None => b,
        }
    }

    fn image(&self, id: &str) -> Result<RemoteImage, CloudError> {
        let path = format!("/v2/images/{id}");
        let r = self
            .http
            .send("reading the image", &|c| {
                self.req(c, reqwest::Method::GET, &path)
            })?
            .expect(&[200], "reading the image")?;
        Ok(to_image(
            &r.json("reading the image")?,
            &self.session()?.glance,
        ))
    }

    fn delete(&self, id: &str) {
        let path = format!("/v2/images/{id}");
        let _ = self.http.send("deleting the image", &|c| {
            self.req(c, reqwest::Method::DELETE, &path)
        });
    }

    fn put_file(&self, id: &str, file: &Path, r: &dyn Reporter) -> Result<(), CloudError> {
        let f = Arc::new(File::open(file).map_err(|e| CloudError::io("opening", file, e))?);
        let size = f
            .metadata()
            .map_err(|e| CloudError::io("reading the size of", file, e))?
            .len();
        let step = begin_step(r, "Uploading image data", Some((size, Unit::Bytes)));
        let path = format!("/v2/images/{id}/file");
        let sent = Arc::new(AtomicU64::new(0));
        let finished = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            // The body is read on reqwest's own thread: show its progress
            // from here, a few times a second.
            s.spawn(|| {
                while !finished.load(Ordering::SeqCst) {
                    step.advance(sent.load(Ordering::SeqCst));
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            });
            let r = self.http.send("uploading the image data", &|c| {
                sent.store(0, Ordering::SeqCst);
                let reader = AtReader {
                    file: f.clone(),
                    pos: 0,
                    len: size,
                    sent: sent.clone(),
                };
                self.req(c, reqwest::Method::PUT, &path)
                    .header("Content-Type", "application/octet-stream")
                    .body(Body::sized(reader, size))
            });
            finished.store(true, Ordering::SeqCst);
            r
        });
        result?.expect(&[204, 201, 200], "uploading the image data")?;
        step.done("done");
        Ok(())
    }
}

/// A file read from offset 0 with `read_at`, so every retry can start over
/// on a clone of the same handle.
struct AtReader {
    file: Arc<File>,
    pos: u64,
    len: u64,
    sent: Arc<AtomicU64>,
}

impl Read for AtReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (self.len - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        self.sent.store(self.pos, Ordering::SeqCst);
        Ok(n)
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

/// The image endpoint from a Keystone v3 catalog.
fn image_endpoint(token: &Value, region: Option<&str>) -> Option<String> {
    token["catalog"]
        .as_array()?
        .iter()
        .filter(|s| s["type"] == "image")
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .find(|e| {
            e["interface"] == "public"
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

/// The Keystone v3 request body for an account.
fn keystone_body(auth: &OsAuth) -> Option<(String, Value)> {
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
    let base = url.trim_end_matches('/');
    let base = if base.ends_with("/v3") {
        base.to_owned()
    } else {
        format!("{base}/v3")
    };
    let body = json!({"auth": {"identity": identity,
        "scope": {"project": {"name": project, "domain": domain(pdomain)}}}});
    Some((format!("{base}/auth/tokens"), body))
}

impl CloudBackend for GlanceBackend {
    fn describe(&self) -> String {
        format!("OpenStack cloud `{}'", self.cloud.name)
    }

    fn authenticate(&mut self) -> Result<(), CloudError> {
        let Some((url, body)) = keystone_body(&self.cloud.auth) else {
            let glance = self.cloud.image_endpoint.clone().unwrap_or_default();
            self.session = OnceLock::from(Session {
                token: None,
                glance: glance.trim_end_matches('/').into(),
            });
            return self.images().map(|_| ());
        };
        let text = body.to_string();
        let r = self.http.send("authenticating", &|c| {
            c.post(&url)
                .header("Content-Type", "application/json")
                .body(text.clone())
        })?;
        if matches!(r.status, 401 | 403) {
            return Err(CloudError::Auth {
                url: r.url.clone(),
                status: r.status,
                message: "the credentials were refused: check the cloud's auth in clouds.yaml"
                    .into(),
            });
        }
        let r = r.expect(&[201, 200], "authenticating")?;
        let token = r
            .header("X-Subject-Token")
            .ok_or_else(|| CloudError::Protocol(format!("{url} gave no X-Subject-Token")))?
            .to_owned();
        let v: Value = r.json("authenticating")?;
        let glance = match &self.cloud.image_endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => image_endpoint(&v["token"], self.cloud.region.as_deref()).ok_or_else(|| {
                CloudError::NotFound(format!(
                    "no image service in the catalog of {}",
                    self.cloud.name
                ))
            })?,
        };
        self.session = OnceLock::from(Session {
            token: Some(Secret::new(token)),
            glance,
        });
        Ok(())
    }

    fn exists(&self, name: &str) -> Result<bool, CloudError> {
        let path = format!("/v2/images?name={}", quote(name));
        let r = self
            .http
            .send("looking the image up", &|c| {
                self.req(c, reqwest::Method::GET, &path)
            })?
            .expect(&[200], "looking the image up")?;
        let v: Value = r.json("looking the image up")?;
        Ok(v["images"].as_array().is_some_and(|a| !a.is_empty()))
    }

    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> Result<Uploaded, CloudError> {
        let body = json!({"name": name, "disk_format": "raw", "container_format": "bare",
                          "visibility": "private"})
        .to_string();
        let created = self
            .http
            .send("creating the image", &|c| {
                self.req(c, reqwest::Method::POST, "/v2/images")
                    .header("Content-Type", "application/json")
                    .body(body.clone())
            })?
            .expect(&[201], "creating the image")?;
        let v: Value = created.json("creating the image")?;
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        if let Err(e) = self.put_file(&id, file, r) {
            self.delete(&id);
            return Err(e);
        }
        let img = self.image(&id)?;
        Ok(Uploaded {
            name: name.to_owned(),
            location: id,
            transfer: Transfer {
                bytes: img.size,
                hash: img.checksum,
                blocks: 1,
                blocks_sent: 1,
            },
        })
    }

    fn upload_bytes(
        &self,
        name: &str,
        data: &[u8],
        _ct: &str,
        _r: &dyn Reporter,
    ) -> Result<Uploaded, CloudError> {
        Ok(Uploaded {
            name: name.to_owned(),
            location: String::new(),
            transfer: Transfer {
                bytes: data.len() as u64,
                hash: String::new(),
                blocks: 0,
                blocks_sent: 0,
            },
        })
    }

    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError> {
        let mut ops = vec![
            json!({"op": "replace", "path": "/name", "value": reg.name}),
            json!({"op": "replace", "path": "/visibility",
                   "value": if reg.public { "public" } else { "private" }}),
            json!({"op": "add", "path": "/snf_disk_format", "value": "diskdump"}),
        ];
        for (k, v) in &reg.properties {
            ops.push(json!({"op": "add", "path": format!("/{k}"), "value": v}));
        }
        let body = Value::Array(ops).to_string();
        let path = format!("/v2/images/{}", object.location);
        self.http
            .send("setting the image properties", &|c| {
                self.req(c, reqwest::Method::PATCH, &path)
                    .header(
                        "Content-Type",
                        "application/openstack-images-v2.1-json-patch",
                    )
                    .body(body.clone())
            })?
            .expect(&[200], "setting the image properties")?;
        self.image(&object.location)
    }

    fn share(&self, _name: &str) -> Result<(), CloudError> {
        Ok(())
    }

    fn images(&self) -> Result<Vec<RemoteImage>, CloudError> {
        let r = self
            .http
            .send("listing images", &|c| {
                self.req(c, reqwest::Method::GET, "/v2/images")
            })?
            .expect(&[200], "listing images")?;
        let v: Value = r.json("listing images")?;
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
