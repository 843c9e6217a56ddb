//! OpenStack Swift as a [`CloudBackend`]: a clouds.yaml account
//! authenticated with Keystone v3, the object store's URL from the
//! catalog (the cloud's region and interface), and a container that must
//! exist. Images up to the segment size go in one streamed `PUT`; larger
//! ones as a Static Large Object ([`slo`], [`transfer`]). Registering
//! makes a Glance image pointing at the object when the catalog has an
//! image service (Glance's location API: no second copy of the data),
//! and writes the registration as the `.meta` object next to the image,
//! as on S3.

mod slo;
mod transfer;

use std::path::Path;
use std::sync::OnceLock;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

pub use slo::SEGMENT_ENV;

use crate::cloud::clients::glance::GlanceBackend;
use crate::cloud::clients::keystone::{self, GlanceAccess};
use crate::cloud::config::clouds_yaml::{OsAuth, OsCloud};
use crate::cloud::error::CloudError;
use crate::cloud::http::{self, Http, Reply};
use crate::cloud::ids::{rfc3339, unix_now};
use crate::cloud::pithos::plankton::quote;
use crate::cloud::pithos::transfer::Transfer;
use crate::cloud::{CloudBackend, Registration, RemoteImage, Secret, UploadResult, Uploaded};
use crate::progress::Reporter;

/// What authentication taught.
struct Session {
    token: Secret,
    /// The account's storage URL (`…/v1/AUTH_project`).
    storage: String,
    /// The cloud's Glance, when the catalog has an image service (or
    /// `image_endpoint_override` names one): registration goes there.
    glance: Option<GlanceBackend>,
    /// The `service_cloud`'s token, sent as `X-Service-Token` to Glance.
    service: Option<Secret>,
}

/// One Swift account and container.
pub struct SwiftBackend {
    cloud: OsCloud,
    container: String,
    /// Images larger than this go as a Static Large Object of segments
    /// this large.
    segment: u64,
    http: Http,
    session: OnceLock<Session>,
}

impl SwiftBackend {
    /// The account and container (checked by `authenticate`).
    pub fn new(cloud: OsCloud, container: &str) -> Result<SwiftBackend, CloudError> {
        if cloud.auth == OsAuth::None {
            return Err(CloudError::Config(format!(
                "cloud {}: Swift needs Keystone authentication (auth_type password or token)",
                cloud.name
            )));
        }
        Ok(SwiftBackend {
            cloud,
            container: container.to_owned(),
            segment: slo::segment_size()?,
            http: Http::new()?,
            session: OnceLock::new(),
        })
    }

    fn session(&self) -> Result<&Session, CloudError> {
        http::session(&self.session)
    }

    /// The URL of an object (or, with an empty name, of the container).
    fn url(&self, container: &str, name: &str) -> String {
        let storage = self.session.get().map_or("", |s| s.storage.as_str());
        match name {
            "" => format!("{storage}/{}", quote(container)),
            _ => format!("{storage}/{}/{}", quote(container), quote(name)),
        }
    }

    /// A request with the token.
    fn req(&self, c: &Client, method: Method, url: &str) -> RequestBuilder {
        let token = self.session.get().map(|s| &s.token);
        http::with_token(c.request(method, url), token)
    }

    /// `method` on an object (or container) of `container`, requiring
    /// one of the `ok` statuses.
    fn call(
        &self,
        what: &str,
        ok: &[u16],
        method: Method,
        container: &str,
        name: &str,
    ) -> Result<Reply, CloudError> {
        let url = self.url(container, name);
        self.http
            .call(what, ok, &|c| self.req(c, method.clone(), &url))
    }

    /// Where an object of the container is, for registration.
    fn location(&self, name: &str) -> String {
        self.url(&self.container, name)
    }

    /// A token of the `service_cloud` account, if the cloud names one.
    fn service_token(&self) -> Result<Option<Secret>, CloudError> {
        let Some(auth) = &self.cloud.service_auth else {
            return Ok(None);
        };
        let session = keystone::token_for(&self.http, auth).map_err(|e| match e {
            CloudError::Auth { url, status, .. } => CloudError::Auth {
                url,
                status,
                message: format!(
                    "the credentials of cloud {}'s service_cloud were refused: check its auth in clouds.yaml",
                    self.cloud.name
                ),
            },
            other => other,
        })?;
        Ok(session.map(|s| s.token))
    }

    /// The images: the `.meta` objects of the container.
    fn meta_objects(&self) -> Result<Vec<RemoteImage>, CloudError> {
        let what = format!("listing container {}", self.container);
        let url = format!("{}?format=json", self.url(&self.container, ""));
        let r = self
            .http
            .call(&what, &[200, 204], &|c| self.req(c, Method::GET, &url))?;
        let list: Value = r.json(&what)?;
        let mut out = Vec::new();
        let names = list.as_array().into_iter().flatten();
        for name in names.filter_map(|o| o["name"].as_str()) {
            if !name.ends_with(".meta") {
                continue;
            }
            let what = format!("reading {name}");
            let r = self.call(&what, &[200], Method::GET, &self.container, name)?;
            if let Ok(img) = serde_json::from_slice::<RemoteImage>(&r.body) {
                out.push(img);
            }
        }
        Ok(out)
    }
}

impl CloudBackend for SwiftBackend {
    fn describe(&self) -> String {
        format!(
            "Swift container `{}' of cloud `{}'",
            self.container, self.cloud.name
        )
    }

    fn authenticate(&mut self) -> Result<(), CloudError> {
        let Some(ks) = keystone::token(&self.http, &self.cloud)? else {
            return Err(CloudError::Config(
                "Swift needs Keystone authentication".into(),
            ));
        };
        let storage = ks.endpoint(&self.cloud, "object-store")?;
        let glance = match &self.cloud.image_endpoint {
            Some(e) => Some(e.trim_end_matches('/').to_owned()),
            None => ks.find(&self.cloud, "image"),
        };
        let (glance, service) = match glance {
            Some(url) => {
                let access = GlanceAccess {
                    token: Some(ks.token.clone()),
                    glance: url,
                };
                let g = GlanceBackend::with_access(self.cloud.clone(), access)?;
                (Some(g), self.service_token()?)
            }
            None => (None, None),
        };
        self.session = OnceLock::from(Session {
            token: ks.token,
            storage,
            glance,
            service,
        });
        let hint = "the object store refused the token: check the cloud's project and roles";
        let url = self.url(&self.container, "");
        let r = self
            .http
            .authenticate("checking the container", &[200, 204, 404], hint, &|c| {
                self.req(c, Method::HEAD, &url)
            })?;
        if r.status == 404 {
            return Err(CloudError::NotFound(format!(
                "container {} does not exist in cloud {}: create it (`openstack container create {}') or choose another with --container",
                self.container, self.cloud.name, self.container
            )));
        }
        Ok(())
    }

    fn exists(&self, name: &str) -> Result<bool, CloudError> {
        let url = self.url(&self.container, name);
        self.http.exists(&format!("checking {name}"), &|c| {
            self.req(c, Method::HEAD, &url)
        })
    }

    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> UploadResult {
        let size = std::fs::metadata(file)
            .map_err(|e| CloudError::io("reading the size of", file, e))?
            .len();
        let old = self.old_segments(name)?;
        let transfer = if size <= self.segment {
            Transfer::whole(size, self.put_file(file, name, size, r)?)
        } else {
            self.put_large(file, name, size, r)?
        };
        self.delete_old(&old);
        for n in self.http.take_notes() {
            r.warn(&n);
        }
        Ok(Uploaded {
            name: name.to_owned(),
            location: self.location(name),
            transfer,
        })
    }

    fn upload_bytes(&self, name: &str, data: &[u8], ctype: &str, _: &dyn Reporter) -> UploadResult {
        let url = self.url(&self.container, name);
        let what = format!("uploading {name}");
        let r = self.http.call(&what, &[201], &|c| {
            self.req(c, Method::PUT, &url)
                .header("Content-Type", ctype)
                .body(data.to_vec())
        })?;
        let etag = r.header("ETag").unwrap_or_default().trim_matches('"');
        Ok(Uploaded {
            name: name.to_owned(),
            location: self.location(name),
            transfer: Transfer::whole(data.len() as u64, etag.to_owned()),
        })
    }

    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError> {
        let session = self.session()?;
        if let Some(glance) = &session.glance {
            let url = glance_location(&session.storage, &self.container, &object.name);
            return glance.register_location(&url, reg, session.service.as_ref());
        }
        let now = rfc3339(unix_now());
        let owner = session.storage.rsplit('/').next().unwrap_or_default();
        Ok(RemoteImage {
            id: object.location.clone(),
            name: reg.name.clone(),
            location: object.location.clone(),
            owner: owner.to_owned(),
            disk_format: "diskdump".into(),
            container_format: "bare".into(),
            size: object.transfer.bytes,
            checksum: object.transfer.hash.clone(),
            is_public: false,
            status: "available".into(),
            created_at: now.clone(),
            updated_at: now,
            properties: reg.properties.clone(),
        })
    }

    fn share(&self, name: &str) -> Result<(), CloudError> {
        Err(CloudError::Config(format!(
            "{name}: Swift makes whole containers public, not objects: \
             use a container of its own and `openstack container set --property read-acl=.r:*,.rlistings'"
        )))
    }

    fn images(&self) -> Result<Vec<RemoteImage>, CloudError> {
        self.meta_objects()
    }

    fn take_notes(&self) -> Vec<String> {
        let mut notes = self.http.take_notes();
        if let Some(g) = self.session.get().and_then(|s| s.glance.as_ref()) {
            notes.extend(g.take_notes());
        }
        notes
    }
}

/// Where Glance finds an object of the account at `storage`: the storage
/// URL with `swift+` before its scheme (what Glance's multi-tenant Swift
/// store reads with the caller's token), the container and the name.
fn glance_location(storage: &str, container: &str, name: &str) -> String {
    format!("swift+{storage}/{container}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glance_locations_are_swift_urls_of_the_object() {
        assert_eq!(
            glance_location("http://s:8080/v1/AUTH_p", "images", "d.diskdump"),
            "swift+http://s:8080/v1/AUTH_p/images/d.diskdump"
        );
        assert_eq!(
            glance_location("https://s/v1/AUTH_p", "c", "a/b"),
            "swift+https://s/v1/AUTH_p/c/a/b"
        );
    }
}
