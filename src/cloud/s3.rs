//! S3 as a [`CloudBackend`]: credentials and region as the AWS tools read
//! them (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
//! else `~/.aws/credentials` for `$AWS_PROFILE`; `AWS_REGION`; endpoint
//! `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, path-style), SigV4 signing,
//! and multipart upload (parts of at least 8 MiB, four at a time, each
//! retried; the upload is aborted on failure). "Registering" writes the
//! image's metadata as the `.meta` object next to it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use reqwest::blocking::{Client, RequestBuilder};

use super::error::CloudError;
use super::http::{Http, Reply};
use super::ids::unix_now;
use super::sigv4::{self, Credentials, sha256_hex};
use super::transfer::Transfer;
use super::{CloudBackend, Registration, RemoteImage, Secret, Uploaded};
use crate::progress::{Reporter, Unit, begin_step};

/// The smallest part we send (S3's minimum is 5 MiB).
const MIN_PART: u64 = 8 * 1024 * 1024;
/// S3's limit on parts per upload.
const MAX_PARTS: u64 = 10_000;
const PARALLEL: usize = 4;

/// One bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    pub endpoint: String,
    pub region: String,
    pub creds: Credentials,
}

/// Read the target for `bucket` from the environment and AWS files.
pub fn target(bucket: &str) -> Result<S3Target, String> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(format!("--cloud s3:{bucket}: give a bucket name"));
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let home = env("HOME").unwrap_or_default();
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let creds_file =
        env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials"));
    let from_file = |key: &str| ini_value(&creds_file, &profile, key);
    let access = env("AWS_ACCESS_KEY_ID").or_else(|| from_file("aws_access_key_id"));
    let secret = env("AWS_SECRET_ACCESS_KEY").or_else(|| from_file("aws_secret_access_key"));
    let (Some(access_key), Some(secret)) = (access, secret) else {
        return Err(format!(
            "--cloud s3:{bucket}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to {creds_file}"
        ));
    };
    let config_file = env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| ini_value(&config_file, &config_section, "region"))
        .unwrap_or_else(|| "us-east-1".into());
    let endpoint = env("AWS_ENDPOINT_URL_S3")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    Ok(S3Target {
        bucket: bucket.to_owned(),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        region,
        creds: Credentials {
            access_key,
            secret_key: Secret::new(secret),
            session_token: env("AWS_SESSION_TOKEN")
                .or_else(|| from_file("aws_session_token"))
                .map(Secret::new),
        },
    })
}

/// `key` of `[section]` in an INI file.
fn ini_value(path: &str, section: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = s.trim().to_owned();
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().to_owned());
        }
    }
    None
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

    /// A signed request for `key` (empty: the bucket) with `query`.
    fn req(
        &self,
        c: &Client,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> RequestBuilder {
        self.req_with(c, method, key, query, &[], body)
    }

    fn req_with(
        &self,
        c: &Client,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> RequestBuilder {
        let url = reqwest::Url::parse(&self.t.endpoint).expect("endpoint checked");
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut path = format!("/{}", sigv4::encode(&self.t.bucket));
        if !key.is_empty() {
            let segs: Vec<String> = key.split('/').map(sigv4::encode).collect();
            path = format!("{path}/{}", segs.join("/"));
        }
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let hash = sha256_hex(&body);
        let headers = sigv4::sign(
            &self.t.creds,
            &self.t.region,
            method,
            &host,
            &path,
            &q,
            &hash,
            extra,
            unix_now(),
        );
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    sigv4::encode(k)
                } else {
                    format!("{}={}", sigv4::encode(k), sigv4::encode(v))
                }
            })
            .collect();
        let full = if qs.is_empty() {
            format!("{}{path}", self.t.endpoint)
        } else {
            format!("{}{path}?{}", self.t.endpoint, qs.join("&"))
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut b = c.request(method, full).body(body);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        b
    }

    fn send(
        &self,
        what: &str,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, CloudError> {
        self.http
            .send(what, &|c| self.req(c, method, key, query, body.to_vec()))
    }

    fn put_small(&self, key: &str, data: &[u8]) -> Result<String, CloudError> {
        let r = self.send(&format!("uploading {key}"), "PUT", key, &[], data)?;
        let r = r.expect(&[200], &format!("uploading {key}"))?;
        Ok(r.header("ETag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned())
    }

    fn multipart(
        &self,
        file: &Path,
        key: &str,
        size: u64,
        r: &dyn Reporter,
    ) -> Result<usize, CloudError> {
        let what = format!("uploading {key}");
        let created = self
            .send(&what, "POST", key, &[("uploads", "")], &[])?
            .expect(&[200], &what)?;
        let id = xml_value(&created.text(), "UploadId")
            .ok_or_else(|| CloudError::Protocol(format!("{what}: no UploadId in the answer")))?;
        let result = self.send_parts(file, key, &id, size, r);
        match result {
            Ok(n) => Ok(n),
            Err(e) => {
                let _ = self.send(
                    "aborting the upload",
                    "DELETE",
                    key,
                    &[("uploadId", &id)],
                    &[],
                );
                Err(e)
            }
        }
    }

    fn send_parts(
        &self,
        file: &Path,
        key: &str,
        id: &str,
        size: u64,
        r: &dyn Reporter,
    ) -> Result<usize, CloudError> {
        let part = MIN_PART.max(size.div_ceil(MAX_PARTS));
        let count = size.div_ceil(part) as usize;
        let f = File::open(file).map_err(|e| CloudError::io("opening", file, e))?;
        let step = begin_step(r, "Uploading parts", Some((size, Unit::Bytes)));
        let read = |i: usize| -> Result<Vec<u8>, CloudError> {
            let off = i as u64 * part;
            let mut buf = vec![0u8; (size - off).min(part) as usize];
            f.read_exact_at(&mut buf, off)
                .map_err(|e| CloudError::io("reading", file, e))?;
            Ok(buf)
        };
        let tags = self.put_parts(key, id, count, &read, &|n| step.advance(n))?;
        self.complete(key, id, &tags)?;
        step.done(format!("{count} parts"));
        Ok(count)
    }

    /// Send parts `1..=count` on a few threads; their ETags in order.
    fn put_parts(
        &self,
        key: &str,
        id: &str,
        count: usize,
        read: &(dyn Fn(usize) -> Result<Vec<u8>, CloudError> + Sync),
        on_progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<String>, CloudError> {
        let etags: Mutex<Vec<String>> = Mutex::new(vec![String::new(); count]);
        let next = AtomicUsize::new(0);
        let done = AtomicU64::new(0);
        let failure: Mutex<Option<CloudError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(count) {
                s.spawn(|| {
                    while let Some(i) =
                        Some(next.fetch_add(1, Ordering::SeqCst)).filter(|&i| i < count)
                    {
                        if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                            return;
                        }
                        let sent = read(i).and_then(|buf| {
                            let tag = self.put_part(key, id, i + 1, &buf)?;
                            Ok((tag, buf.len() as u64))
                        });
                        match sent {
                            Ok((tag, n)) => {
                                if let Ok(mut t) = etags.lock() {
                                    t[i] = tag;
                                }
                                on_progress(done.fetch_add(n, Ordering::SeqCst) + n);
                            }
                            Err(e) => {
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(e);
                                }
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().ok().flatten() {
            return Err(e);
        }
        Ok(etags.into_inner().unwrap_or_default())
    }

    /// `POST ?uploadId`: assemble the parts (errors may come inside a 200).
    fn complete(&self, key: &str, id: &str, tags: &[String]) -> Result<(), CloudError> {
        let parts: String = tags
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>\"{t}\"</ETag></Part>",
                    i + 1
                )
            })
            .collect();
        let body = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
        let what = format!("completing the upload of {key}");
        let done = self
            .send(&what, "POST", key, &[("uploadId", id)], body.as_bytes())?
            .expect(&[200], &what)?;
        if done.text().contains("<Error>") {
            return Err(CloudError::Protocol(format!(
                "{what}: {}",
                super::error::short_message(&done.text())
            )));
        }
        Ok(())
    }

    fn put_part(&self, key: &str, id: &str, n: usize, data: &[u8]) -> Result<String, CloudError> {
        let what = format!("uploading part {n} of {key}");
        let num = n.to_string();
        let r = self.send(
            &what,
            "PUT",
            key,
            &[("partNumber", &num), ("uploadId", id)],
            data,
        )?;
        let r = r.expect(&[200], &what)?;
        Ok(r.header("ETag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned())
    }
}

/// The text of the first `<tag>` element.
fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

impl CloudBackend for S3Backend {
    fn describe(&self) -> String {
        format!("S3 bucket `{}' at {}", self.t.bucket, self.t.endpoint)
    }

    fn authenticate(&mut self) -> Result<(), CloudError> {
        reqwest::Url::parse(&self.t.endpoint)
            .map_err(|e| CloudError::Config(format!("bad S3 endpoint {}: {e}", self.t.endpoint)))?;
        let r = self.send("checking the bucket", "HEAD", "", &[], &[])?;
        match r.status {
            200 => Ok(()),
            401 | 403 => Err(CloudError::Auth {
                url: r.url.clone(),
                status: r.status,
                message: "the S3 credentials were refused".into(),
            }),
            404 => Err(CloudError::NotFound(format!(
                "bucket {} does not exist at {}",
                self.t.bucket, self.t.endpoint
            ))),
            _ => Err(r.error("checking the bucket")),
        }
    }

    fn exists(&self, name: &str) -> Result<bool, CloudError> {
        let r = self.send(&format!("checking {name}"), "HEAD", name, &[], &[])?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(r.error(&format!("checking {name}"))),
        }
    }

    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> Result<Uploaded, CloudError> {
        let size = std::fs::metadata(file)
            .map_err(|e| CloudError::io("reading the size of", file, e))?
            .len();
        let (blocks, etag) = if size < MIN_PART {
            let data = std::fs::read(file).map_err(|e| CloudError::io("reading", file, e))?;
            (1, self.put_small(name, &data)?)
        } else {
            (self.multipart(file, name, size, r)?, String::new())
        };
        for n in self.http.take_notes() {
            r.warn(&n);
        }
        Ok(Uploaded {
            name: name.to_owned(),
            location: format!("s3://{}/{name}", self.t.bucket),
            transfer: Transfer {
                bytes: size,
                hash: etag,
                blocks,
                blocks_sent: blocks,
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
        let etag = self.put_small(name, data)?;
        Ok(Uploaded {
            name: name.to_owned(),
            location: format!("s3://{}/{name}", self.t.bucket),
            transfer: Transfer {
                bytes: data.len() as u64,
                hash: etag,
                blocks: 1,
                blocks_sent: 1,
            },
        })
    }

    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError> {
        let now = super::ids::rfc3339(unix_now());
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
        let what = format!("sharing {name}");
        self.http
            .send(&what, &|c| {
                self.req_with(
                    c,
                    "PUT",
                    name,
                    &[("acl", "")],
                    &[("x-amz-acl", "public-read")],
                    Vec::new(),
                )
            })?
            .expect(&[200], &what)?;
        Ok(())
    }

    fn images(&self) -> Result<Vec<RemoteImage>, CloudError> {
        let r = self
            .send("listing the bucket", "GET", "", &[("list-type", "2")], &[])?
            .expect(&[200], "listing the bucket")?;
        let text = r.text();
        let mut out = Vec::new();
        for key in text
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
        {
            if !key.ends_with(".meta") {
                continue;
            }
            let r = self
                .send(&format!("reading {key}"), "GET", key, &[], &[])?
                .expect(&[200], "reading metadata")?;
            if let Ok(img) = serde_json::from_slice::<RemoteImage>(&r.body) {
                out.push(img);
            }
        }
        Ok(out)
    }

    fn take_notes(&self) -> Vec<String> {
        self.http.take_notes()
    }
}
