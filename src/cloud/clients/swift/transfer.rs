//! Sending image data to Swift: one streamed `PUT` for an image up to the
//! segment size, else a Static Large Object: the segments streamed a few
//! at once into `CONTAINER_segments` (each request retried by the HTTP
//! layer, each ETag checked against the MD5 of what was sent), then the
//! manifest. A failed upload deletes the segments it stored; an object
//! replaced with `-f` loses the segments of its old manifest.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use reqwest::blocking::Body;

use super::SwiftBackend;
use super::slo::{self, Segment};
use crate::cloud::error::CloudError;
use crate::cloud::ids::unix_now;
use crate::cloud::parallel;
use crate::cloud::pithos::transfer::Transfer;
use crate::cloud::stream::{RangeReader, Tally, with_progress};
use crate::progress::{Reporter, Unit, begin_step};

/// Segments sent at once.
const PARALLEL: usize = 4;

impl SwiftBackend {
    /// Stream `len` bytes of `file` from `offset` to `container/name`;
    /// the ETag, checked against the MD5 of the bytes sent.
    fn put_range(
        &self,
        file: &Arc<File>,
        range: (u64, u64),
        container: &str,
        name: &str,
        tally: &Tally,
    ) -> Result<String, CloudError> {
        let url = self.url(container, name);
        let what = format!("uploading {name}");
        let r = self.http.call(&what, &[201], &|c| {
            let reader = RangeReader::new(file.clone(), range.0, range.1, tally);
            self.req(c, Method::PUT, &url)
                .header("Content-Type", "application/octet-stream")
                .body(Body::sized(reader, range.1))
        })?;
        let etag = r.header("ETag").unwrap_or_default().trim_matches('"');
        match tally.md5() {
            Some(md5) if md5 == etag => Ok(md5),
            sent => Err(CloudError::Protocol(format!(
                "{what}: Swift stored other bytes than were sent (ETag {etag}, MD5 sent {})",
                sent.unwrap_or_else(|| "unknown".into())
            ))),
        }
    }

    /// Upload a whole file in one request, with progress; its MD5.
    pub(super) fn put_file(
        &self,
        file: &Path,
        name: &str,
        size: u64,
        r: &dyn Reporter,
    ) -> Result<String, CloudError> {
        let f = Arc::new(File::open(file).map_err(|e| CloudError::io("opening", file, e))?);
        let step = begin_step(r, "Uploading image data", Some((size, Unit::Bytes)));
        let tally = Tally::default();
        let md5 = with_progress(&step, &|| tally.sent(), || {
            self.put_range(&f, (0, size), &self.container, name, &tally)
        })?;
        step.done("done");
        Ok(md5)
    }

    /// Upload a file larger than a segment as a Static Large Object.
    pub(super) fn put_large(
        &self,
        file: &Path,
        name: &str,
        size: u64,
        r: &dyn Reporter,
    ) -> Result<Transfer, CloudError> {
        let segments = slo::plan(size, self.segment)?;
        let seg_container = slo::segments_container(&self.container);
        let created = self.make_container(&seg_container)?;
        let prefix = slo::segment_prefix(name, unix_now(), size, &segments);
        let names: Vec<String> = segments
            .iter()
            .map(|s| slo::segment_name(&prefix, s))
            .collect();
        let sent = self
            .put_segments(file, &seg_container, &names, &segments, r)
            .and_then(|etags| {
                let manifest = slo::manifest(&seg_container, &names, &etags, &segments);
                self.put_manifest(name, &manifest)
            });
        if let Err(e) = sent {
            self.remove_segments(&seg_container, &names, created);
            return Err(e);
        }
        Ok(Transfer {
            bytes: size,
            hash: String::new(),
            blocks: segments.len(),
            blocks_sent: segments.len(),
        })
    }

    /// Create a container; whether it is new.
    fn make_container(&self, container: &str) -> Result<bool, CloudError> {
        let what = format!("creating container {container}");
        let r = self.call(&what, &[201, 202], Method::PUT, container, "")?;
        Ok(r.status == 201)
    }

    /// The segment paths (`CONTAINER/NAME`) of `name` if it is a Static
    /// Large Object already (to delete once it is replaced).
    pub(super) fn old_segments(&self, name: &str) -> Result<Vec<String>, CloudError> {
        let what = format!("checking {name}");
        let head = self.call(&what, &[200, 204, 404], Method::HEAD, &self.container, name)?;
        let slo = head
            .header("X-Static-Large-Object")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !slo {
            return Ok(Vec::new());
        }
        let url = format!(
            "{}?multipart-manifest=get&format=raw",
            self.url(&self.container, name)
        );
        let what = format!("reading the manifest of {name}");
        let r = self
            .http
            .call(&what, &[200], &|c| self.req(c, Method::GET, &url))?;
        Ok(slo::manifest_paths(&r.json(&what)?))
    }

    /// Delete the segments of a replaced Static Large Object (failures
    /// are ignored: the new image is in place).
    pub(super) fn delete_old(&self, paths: &[String]) {
        for path in paths {
            let Some((container, name)) = path.split_once('/') else {
                continue;
            };
            let what = format!("deleting the old segment {name}");
            let _ = self.call(&what, &[204, 404], Method::DELETE, container, name);
        }
    }

    /// Send every segment, a few at once; their ETags.
    fn put_segments(
        &self,
        file: &Path,
        container: &str,
        names: &[String],
        segments: &[Segment],
        r: &dyn Reporter,
    ) -> Result<Vec<String>, CloudError> {
        let f = Arc::new(File::open(file).map_err(|e| CloudError::io("opening", file, e))?);
        let total: u64 = segments.iter().map(|s| s.len).sum();
        let step = begin_step(r, "Uploading segments", Some((total, Unit::Bytes)));
        let etags = Mutex::new(vec![String::new(); segments.len()]);
        let done = AtomicU64::new(0);
        parallel::for_each(segments.len(), PARALLEL, &|i| {
            let s = segments[i];
            let tally = Tally::default();
            let etag = self.put_range(&f, (s.offset, s.len), container, &names[i], &tally)?;
            if let Ok(mut t) = etags.lock() {
                t[i] = etag;
            }
            step.advance(done.fetch_add(s.len, Ordering::SeqCst) + s.len);
            Ok(())
        })?;
        step.done(format!("{} segments", segments.len()));
        etags
            .into_inner()
            .map_err(|_| CloudError::Protocol("an upload thread failed".into()))
    }

    /// `PUT ?multipart-manifest=put`: join the segments as `name`.
    fn put_manifest(&self, name: &str, manifest: &serde_json::Value) -> Result<(), CloudError> {
        let url = format!("{}?multipart-manifest=put", self.url(&self.container, name));
        let body = manifest.to_string();
        let what = format!("uploading the manifest of {name}");
        self.http.call(&what, &[201], &|c| {
            self.req(c, Method::PUT, &url)
                .header("Content-Type", "application/octet-stream")
                .body(body.clone())
        })?;
        Ok(())
    }

    /// Delete the segments of a failed upload (any of them may have been
    /// stored, even one whose check failed), and the segments container
    /// if this upload created it (failures are ignored: the
    /// upload's own error is the one to report).
    fn remove_segments(&self, container: &str, names: &[String], created: bool) {
        for n in names {
            let _ = self.call(
                "deleting a segment",
                &[204, 404],
                Method::DELETE,
                container,
                n,
            );
        }
        if created {
            let what = "deleting the segments container";
            let _ = self.call(what, &[204, 404, 409], Method::DELETE, container, "");
        }
    }
}
