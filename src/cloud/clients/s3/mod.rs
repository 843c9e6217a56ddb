//! S3 as a [`CloudBackend`]: credentials, region and endpoint as the AWS
//! tools read them ([`target`]), path-style requests signed with SigV4,
//! multipart upload of images ([`multipart`]), and public objects
//! ([`public`]). "Registering" writes the image's metadata as the `.meta`
//! object next to it; a public image is readable by anyone, and so are
//! its side files.

mod multipart;
pub mod objects;
mod public;
pub mod sigv4;
mod target;

use std::path::Path;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};

pub use target::{S3Target, target, target_in};

use crate::cloud::error::CloudError;
use crate::cloud::http::{Http, Reply};
use crate::cloud::ids::unix_now;
use crate::cloud::pithos::transfer::Transfer;
use crate::cloud::{CloudBackend, Registration, RemoteImage, UploadResult, Uploaded};
use crate::progress::Reporter;
use sigv4::sha256_hex;

/// One request to the bucket, signed anew for every attempt.
#[derive(Clone, Copy)]
struct S3Req<'a> {
    method: &'a Method,
    /// The object's key; empty for the bucket itself.
    key: &'a str,
    query: &'a [(&'a str, &'a str)],
    /// Headers that are signed with the request (`x-amz-acl`…).
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
}

impl<'a> S3Req<'a> {
    /// A request without query, headers or body.
    fn new(method: &'a Method, key: &'a str) -> S3Req<'a> {
        S3Req {
            method,
            key,
            query: &[],
            headers: &[],
            body: &[],
        }
    }
}

/// An S3 bucket.
pub struct S3Backend {
    t: S3Target,
    http: Http,
}

impl S3Backend {
    /// The bucket (checked by `authenticate`).
    pub fn new(t: S3Target) -> Result<S3Backend, CloudError> {
        Ok(S3Backend {
            t,
            http: Http::new()?,
        })
    }

    /// Send a request, requiring one of the `ok` statuses.
    fn call(&self, what: &str, ok: &[u16], req: S3Req<'_>) -> Result<Reply, CloudError> {
        self.http.call(what, ok, &|c| self.build(c, req))
    }

    /// `/BUCKET[/KEY]`, each segment encoded.
    fn path(&self, key: &str) -> String {
        let mut path = format!("/{}", sigv4::encode(&self.t.bucket));
        for seg in key.split('/').filter(|_| !key.is_empty()) {
            path.push('/');
            path.push_str(&sigv4::encode(seg));
        }
        path
    }

    /// The URL of a key, without query.
    fn url(&self, key: &str) -> String {
        format!("{}{}", self.t.endpoint, self.path(key))
    }

    /// The signed request.
    fn build(&self, c: &Client, req: S3Req<'_>) -> RequestBuilder {
        let endpoint = reqwest::Url::parse(&self.t.endpoint).expect("endpoint checked");
        let host = match endpoint.port() {
            Some(p) => format!("{}:{p}", endpoint.host_str().unwrap_or_default()),
            None => endpoint.host_str().unwrap_or_default().to_owned(),
        };
        let path = self.path(req.key);
        let query: Vec<(String, String)> = req
            .query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let signed = sigv4::sign(
            &self.t.creds,
            &self.t.region,
            req.method.as_str(),
            &host,
            &path,
            &query,
            &sha256_hex(req.body),
            req.headers,
            unix_now(),
        );
        // The signed headers include `req.headers`.
        let mut b = c
            .request(
                req.method.clone(),
                with_query(&self.url(req.key), req.query),
            )
            .body(req.body.to_vec());
        for (k, v) in signed {
            b = b.header(k, v);
        }
        b
    }

    /// Store a small object in one PUT; its ETag.
    fn put_small(&self, key: &str, data: &[u8]) -> Result<String, CloudError> {
        let req = S3Req {
            body: data,
            ..S3Req::new(&Method::PUT, key)
        };
        let r = self.call(&format!("uploading {key}"), &[200], req)?;
        Ok(etag(&r))
    }

    fn uploaded(&self, name: &str, transfer: Transfer) -> Uploaded {
        Uploaded {
            name: name.to_owned(),
            location: format!("s3://{}/{name}", self.t.bucket),
            transfer,
        }
    }

    /// The images: the `.meta` objects of the bucket.
    fn meta_objects(&self) -> Result<Vec<RemoteImage>, CloudError> {
        let what = format!("listing bucket {}", self.t.bucket);
        let list = S3Req {
            query: &[("list-type", "2")],
            ..S3Req::new(&Method::GET, "")
        };
        let text = self.call(&what, &[200], list)?.text();
        let keys = text
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .filter(|k| k.ends_with(".meta"));
        let mut out = Vec::new();
        for key in keys {
            let what = format!("reading {key}");
            let r = self.call(&what, &[200], S3Req::new(&Method::GET, key))?;
            if let Ok(img) = serde_json::from_slice::<RemoteImage>(&r.body) {
                out.push(img);
            }
        }
        Ok(out)
    }
}

/// A URL with a query: keys without values are sent bare (`?uploads`).
fn with_query(url: &str, query: &[(&str, &str)]) -> String {
    let parts: Vec<String> = query
        .iter()
        .map(|(k, v)| match v.is_empty() {
            true => sigv4::encode(k),
            false => format!("{}={}", sigv4::encode(k), sigv4::encode(v)),
        })
        .collect();
    match parts.is_empty() {
        true => url.to_owned(),
        false => format!("{url}?{}", parts.join("&")),
    }
}

/// A reply's ETag without its quotes.
fn etag(r: &Reply) -> String {
    r.header("ETag")
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

impl CloudBackend for S3Backend {
    fn describe(&self) -> String {
        format!("S3 bucket `{}' at {}", self.t.bucket, self.t.endpoint)
    }

    fn authenticate(&mut self) -> Result<(), CloudError> {
        reqwest::Url::parse(&self.t.endpoint)
            .map_err(|e| CloudError::Config(format!("bad S3 endpoint {}: {e}", self.t.endpoint)))?;
        let hint = "the S3 credentials were refused";
        let head = S3Req::new(&Method::HEAD, "");
        let r = self
            .http
            .authenticate("checking the bucket", &[200, 404], hint, &|c| {
                self.build(c, head)
            })?;
        if r.status == 404 {
            return Err(CloudError::NotFound(format!(
                "bucket {} does not exist at {}",
                self.t.bucket, self.t.endpoint
            )));
        }
        Ok(())
    }

    fn exists(&self, name: &str) -> Result<bool, CloudError> {
        let head = S3Req::new(&Method::HEAD, name);
        self.http
            .exists(&format!("checking {name}"), &|c| self.build(c, head))
    }

    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> UploadResult {
        let size = std::fs::metadata(file)
            .map_err(|e| CloudError::io("reading the size of", file, e))?
            .len();
        let transfer = if size < multipart::MIN_PART {
            let data = std::fs::read(file).map_err(|e| CloudError::io("reading", file, e))?;
            Transfer::whole(size, self.put_small(name, &data)?)
        } else {
            let parts = self.multipart(file, name, size, r)?;
            Transfer {
                bytes: size,
                hash: String::new(),
                blocks: parts,
                blocks_sent: parts,
            }
        };
        for n in self.http.take_notes() {
            r.warn(&n);
        }
        Ok(self.uploaded(name, transfer))
    }

    fn upload_bytes(&self, name: &str, data: &[u8], _: &str, _: &dyn Reporter) -> UploadResult {
        let etag = self.put_small(name, data)?;
        Ok(self.uploaded(name, Transfer::whole(data.len() as u64, etag)))
    }

    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError> {
        if reg.public {
            self.share(&object.name)?;
        }
        let now = crate::cloud::ids::rfc3339(unix_now());
        Ok(RemoteImage {
            id: object.location.clone(),
            name: reg.name.clone(),
            location: object.location.clone(),
            owner: self.t.creds.access_key.clone(),
            disk_format: "diskdump".into(),
            container_format: "bare".into(),
            size: object.transfer.bytes,
            checksum: object.transfer.hash.clone(),
            is_public: reg.public,
            status: "available".into(),
            created_at: now.clone(),
            updated_at: now,
            properties: reg.properties.clone(),
        })
    }

    fn share(&self, name: &str) -> Result<(), CloudError> {
        self.make_public(name)
    }

    fn images(&self) -> Result<Vec<RemoteImage>, CloudError> {
        self.meta_objects()
    }

    fn take_notes(&self) -> Vec<String> {
        self.http.take_notes()
    }
}
