//! A Synnefo cloud as a [`CloudBackend`]: Astakos authentication (token →
//! user UUID and service catalog), the Pithos hashmap upload (through
//! [`transfer`]), Pithos sharing, and Plankton registration, as kamaki
//! speaks them (see the protocol notes in the reference: the 409 list of
//! missing blocks, one block per `POST ?update`, the quoted
//! `X-Image-Meta-Name` and `X-Image-Meta-Property-*` values).

use std::path::Path;
use std::sync::OnceLock;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use crate::cloud::error::CloudError;
use crate::cloud::http::{self, Http};
use crate::cloud::pithos::hashmap::{self, Hashmap};
use crate::cloud::pithos::plankton::{image_from_headers, quote};
use crate::cloud::pithos::transfer::{self, BlockStore, Offer};
use crate::cloud::{
    CloudBackend, Md5Upload, Registration, RemoteImage, Secret, UploadResult, Uploaded,
};
use crate::progress::Reporter;

/// What authentication taught.
#[derive(Debug, Clone)]
struct Endpoints {
    /// The user's UUID: the Pithos account.
    account: String,
    /// Pithos' public URL (…/object-store/v1).
    pithos: String,
    /// Plankton's public URL (…/image/v1.0).
    plankton: String,
}

/// One Synnefo account and container.
pub struct SynnefoBackend {
    label: String,
    auth_url: String,
    token: Secret,
    container: String,
    http: Http,
    session: OnceLock<Endpoints>,
}

impl SynnefoBackend {
    /// An account at `auth_url` (the Astakos identity URL).
    pub fn new(
        label: &str,
        auth_url: &str,
        token: Secret,
        container: &str,
    ) -> Result<SynnefoBackend, CloudError> {
        Ok(SynnefoBackend {
            label: label.to_owned(),
            auth_url: auth_url.trim_end_matches('/').to_owned(),
            token,
            container: container.to_owned(),
            http: Http::new()?,
            session: OnceLock::new(),
        })
    }

    fn session(&self) -> Result<&Endpoints, CloudError> {
        http::session(&self.session)
    }

    /// An authenticated request.
    fn req(&self, c: &Client, method: Method, url: &str) -> RequestBuilder {
        http::with_token(c.request(method, url), Some(&self.token))
    }

    fn container_url(&self) -> Result<String, CloudError> {
        let s = self.session()?;
        Ok(format!(
            "{}/{}/{}",
            s.pithos,
            quote(&s.account),
            quote(&self.container)
        ))
    }

    fn object_url(&self, name: &str) -> Result<String, CloudError> {
        let path: Vec<String> = name.split('/').map(quote).collect();
        Ok(format!("{}/{}", self.container_url()?, path.join("/")))
    }

    fn uploaded(&self, name: &str, t: transfer::Transfer) -> Result<Uploaded, CloudError> {
        Ok(Uploaded {
            name: name.to_owned(),
            location: crate::cloud::pithos::plankton::location(
                &self.session()?.account,
                &self.container,
                name,
            ),
            transfer: t,
        })
    }

    fn report_notes(&self, r: &dyn Reporter) {
        for n in self.http.take_notes() {
            r.warn(&n);
        }
    }
}

/// What an Astakos `access` answer from `url` says about the account.
fn session_of(access: &Value, url: &str) -> Result<Endpoints, CloudError> {
    let missing =
        |what: &str| CloudError::Protocol(format!("the identity service at {url} gave no {what}"));
    Ok(Endpoints {
        account: access["user"]["id"]
            .as_str()
            .ok_or_else(|| missing("user id"))?
            .to_owned(),
        pithos: endpoint(access, "object-store").ok_or_else(|| missing("object-store endpoint"))?,
        plankton: endpoint(access, "image").ok_or_else(|| missing("image endpoint"))?,
    })
}

/// The public URL of the first endpoint of a service type in the catalog.
fn endpoint(access: &Value, service_type: &str) -> Option<String> {
    access["serviceCatalog"]
        .as_array()?
        .iter()
        .find(|s| s["type"].as_str() == Some(service_type))?["endpoints"][0]["publicURL"]
        .as_str()
        .map(|u| u.trim_end_matches('/').to_owned())
}

impl BlockStore for SynnefoBackend {
    fn prepare(&self) -> Result<(u64, String), CloudError> {
        let url = self.container_url()?;
        let what = format!("creating container {}", self.container);
        self.http.call(&what, &[201, 202], &|c| {
            self.req(c, Method::PUT, &url).header("Content-Length", "0")
        })?;
        let what = format!("reading container {}", self.container);
        let r = self.http.call(&what, &[200, 204, 404], &|c| {
            self.req(c, Method::HEAD, &url)
        })?;
        if r.status == 404 {
            return Err(CloudError::NotFound(format!(
                "container {} does not exist on {}",
                self.container, self.label
            )));
        }
        let size = r
            .header("X-Container-Block-Size")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                CloudError::Protocol(format!(
                    "{} gave no X-Container-Block-Size: is it a Pithos server?",
                    r.url
                ))
            })?;
        let algo = r
            .header("X-Container-Block-Hash")
            .unwrap_or(hashmap::BLOCK_HASH);
        Ok((size, algo.to_owned()))
    }

    fn offer(&self, name: &str, map: &Hashmap, content_type: &str) -> Result<Offer, CloudError> {
        let url = format!("{}?hashmap&format=json", self.object_url(name)?);
        let body = serde_json::to_vec(&json!({"bytes": map.bytes, "hashes": map.hashes}))
            .map_err(|e| CloudError::Protocol(e.to_string()))?;
        let what = format!("uploading {name}");
        let r = self.http.call(&what, &[201, 409], &|c| {
            self.req(c, Method::PUT, &url)
                .header("Content-Type", content_type)
                .body(body.clone())
        })?;
        if r.status == 409 {
            return Ok(Offer::Missing(r.json(&what)?));
        }
        Ok(Offer::Created(
            r.header("X-Object-Hash")
                .or(r.header("ETag"))
                .map(|h| h.trim_matches('"').to_owned())
                .unwrap_or_else(|| hashmap::merkle(&map.hashes)),
        ))
    }

    fn put_block(&self, data: &[u8]) -> Result<String, CloudError> {
        let url = format!("{}?update&format=json", self.container_url()?);
        let what = "uploading a block";
        let r = self.http.call(what, &[202, 201], &|c| {
            self.req(c, Method::POST, &url)
                .header("Content-Type", "application/octet-stream")
                .body(data.to_vec())
        })?;
        let hashes: Vec<String> = r.json(what)?;
        hashes
            .into_iter()
            .next()
            .ok_or_else(|| CloudError::Protocol("the server stored no block".into()))
    }
}

impl CloudBackend for SynnefoBackend {
    fn describe(&self) -> String {
        format!("cloud `{}'", self.label)
    }

    fn authenticate(&mut self) -> Result<(), CloudError> {
        let url = format!("{}/tokens", self.auth_url);
        let body = json!({"auth": {"token": {"id": self.token.expose()}}}).to_string();
        let hint = "the token was refused: check it (-t, or the cloud's token in ~/.kamakirc)";
        let r = self
            .http
            .authenticate("authenticating", &[200], hint, &|c| {
                c.post(&url)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
            })?;
        let v: Value = r.json("authenticating")?;
        self.session = OnceLock::from(session_of(&v["access"], &url)?);
        Ok(())
    }

    fn exists(&self, name: &str) -> Result<bool, CloudError> {
        let url = self.object_url(name)?;
        self.http.exists(&format!("checking {name}"), &|c| {
            self.req(c, Method::HEAD, &url)
        })
    }

    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> UploadResult {
        let t = transfer::upload_file(self, file, name, "application/octet-stream", r);
        self.report_notes(r);
        self.uploaded(name, t?)
    }

    fn upload_md5(&self, file: &Path, name: &str, r: &dyn Reporter) -> Md5Upload {
        let t = transfer::upload_file_md5(self, file, name, "application/octet-stream", r, true);
        self.report_notes(r);
        let (t, md5) = t?;
        Ok((self.uploaded(name, t)?, md5.unwrap_or_default()))
    }

    fn upload_bytes(&self, name: &str, data: &[u8], ctype: &str, r: &dyn Reporter) -> UploadResult {
        let t = transfer::upload_bytes(self, name, data, ctype, r);
        self.report_notes(r);
        self.uploaded(name, t?)
    }

    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError> {
        let url = format!("{}/images/", self.session()?.plankton);
        let r = self.http.call("registering the image", &[200, 201], &|c| {
            let mut b = self
                .req(c, Method::POST, &url)
                .header("X-Image-Meta-Name", quote(&reg.name))
                .header("X-Image-Meta-Location", &object.location)
                .header("X-Image-Meta-Disk-Format", "diskdump")
                .header("X-Image-Meta-Container-Format", "bare")
                .header("X-Image-Meta-Is-Public", reg.public.to_string())
                .header("Content-Length", "0");
            for (k, v) in &reg.properties {
                b = b.header(format!("X-Image-Meta-Property-{k}"), quote(v));
            }
            b
        })?;
        image_from_headers(&r.headers)
    }

    fn share(&self, name: &str) -> Result<(), CloudError> {
        let url = format!("{}?update", self.object_url(name)?);
        self.http
            .call(&format!("sharing {name}"), &[202, 204], &|c| {
                self.req(c, Method::POST, &url)
                    .header("X-Object-Sharing", "read=*")
                    .header("Content-Length", "0")
            })?;
        Ok(())
    }

    fn take_notes(&self) -> Vec<String> {
        self.http.take_notes()
    }

    fn images(&self) -> Result<Vec<RemoteImage>, CloudError> {
        let url = format!("{}/images/detail", self.session()?.plankton);
        let r = self.http.call("listing images", &[200], &|c| {
            self.req(c, Method::GET, &url)
        })?;
        let list: Vec<Value> = r.json("listing images")?;
        Ok(list
            .iter()
            .filter_map(crate::cloud::pithos::plankton::image_from_json)
            .collect())
    }
}
