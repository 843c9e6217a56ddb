//! S3 multipart upload: create the upload, send the parts (at least
//! [`MIN_PART`] each but the last, a few at once, each request retried by
//! the HTTP layer), and complete it; on failure the upload is aborted so
//! the bucket keeps no orphan parts.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;

use super::{S3Backend, S3Req, etag};
use crate::cloud::error::{CloudError, short_message};
use crate::cloud::parallel;
use crate::progress::{Reporter, Unit, begin_step};

/// The smallest part we send (S3's minimum is 5 MiB).
pub const MIN_PART: u64 = 8 * 1024 * 1024;
/// S3's limit on parts per upload.
const MAX_PARTS: u64 = 10_000;
/// Parts sent at once.
const PARALLEL: usize = 4;

impl S3Backend {
    /// Upload `file` (of `size` bytes) as `key` in parts; the part count.
    pub(super) fn multipart(
        &self,
        file: &Path,
        key: &str,
        size: u64,
        r: &dyn Reporter,
    ) -> Result<usize, CloudError> {
        let what = format!("uploading {key}");
        let create = S3Req {
            query: &[("uploads", "")],
            ..S3Req::new(&Method::POST, key)
        };
        let created = self.call(&what, &[200], create)?;
        let id = xml_value(&created.text(), "UploadId")
            .ok_or_else(|| CloudError::Protocol(format!("{what}: no UploadId in the answer")))?;
        self.send_parts(file, key, &id, size, r).inspect_err(|_| {
            let abort = S3Req {
                query: &[("uploadId", &id)],
                ..S3Req::new(&Method::DELETE, key)
            };
            let _ = self.call("aborting the upload", &[204, 200], abort);
        })
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
        let etags = Mutex::new(vec![String::new(); count]);
        let done = AtomicU64::new(0);
        parallel::for_each(count, PARALLEL, &|i| {
            let off = i as u64 * part;
            let mut buf = vec![0u8; (size - off).min(part) as usize];
            f.read_exact_at(&mut buf, off)
                .map_err(|e| CloudError::io("reading", file, e))?;
            let tag = self.put_part(key, id, i + 1, &buf)?;
            if let Ok(mut t) = etags.lock() {
                t[i] = tag;
            }
            step.advance(done.fetch_add(buf.len() as u64, Ordering::SeqCst) + buf.len() as u64);
            Ok(())
        })?;
        self.complete(key, id, &etags.into_inner().unwrap_or_default())?;
        step.done(format!("{count} parts"));
        Ok(count)
    }

    fn put_part(&self, key: &str, id: &str, n: usize, data: &[u8]) -> Result<String, CloudError> {
        let num = n.to_string();
        let req = S3Req {
            query: &[("partNumber", &num), ("uploadId", id)],
            body: data,
            ..S3Req::new(&Method::PUT, key)
        };
        let r = self.call(&format!("uploading part {n} of {key}"), &[200], req)?;
        Ok(etag(&r))
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
        let req = S3Req {
            query: &[("uploadId", id)],
            body: body.as_bytes(),
            ..S3Req::new(&Method::POST, key)
        };
        let done = self.call(&what, &[200], req)?.text();
        if done.contains("<Error>") {
            return Err(CloudError::Protocol(format!(
                "{what}: {}",
                short_message(&done)
            )));
        }
        Ok(())
    }
}

/// The text of the first `<tag>` element.
pub(super) fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xml_values() {
        let xml = "<R><UploadId>abc</UploadId><Code>x</Code></R>";
        assert_eq!(xml_value(xml, "UploadId").unwrap(), "abc");
        assert_eq!(xml_value(xml, "Missing"), None);
    }
}
