//! Plain object operations on the bucket for the image store on S3
//! ([`crate::cloud::local::backend::s3`]): GET with the ETag, PUT (plain
//! or conditional on `If-Match`/`If-None-Match`), DELETE and a listing by
//! prefix and delimiter (ListObjectsV2, every page).

use reqwest::Method;

use super::{S3Backend, S3Req, etag};
use crate::cloud::error::CloudError;

/// What a conditional PUT requires of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing: a plain PUT.
    None,
    /// The key does not exist (`If-None-Match: *`).
    Absent,
    /// The key still has this ETag (`If-Match`).
    Matches(String),
}

/// One page's worth of a listing: keys with sizes, and common prefixes.
#[derive(Debug, Default)]
pub struct Listing {
    pub keys: Vec<(String, u64)>,
    pub prefixes: Vec<String>,
}

impl S3Backend {
    /// A key's bytes and ETag, if it exists.
    pub fn get_object(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, CloudError> {
        let r = self.call(
            &format!("reading {key}"),
            &[200, 404],
            S3Req::new(&Method::GET, key),
        )?;
        Ok((r.status == 200).then(|| (r.body.clone(), etag(&r))))
    }

    /// Whether a key exists.
    pub fn has_object(&self, key: &str) -> Result<bool, CloudError> {
        let head = S3Req::new(&Method::HEAD, key);
        self.http
            .exists(&format!("checking {key}"), &|c| self.build(c, head))
    }

    /// PUT `data` at `key` if `pre` holds: `false` when it did not (412).
    pub fn put_object(
        &self,
        key: &str,
        data: &[u8],
        pre: &Precondition,
    ) -> Result<bool, CloudError> {
        let quoted;
        let headers: &[(&str, &str)] = match pre {
            Precondition::None => &[],
            Precondition::Absent => &[("if-none-match", "*")],
            Precondition::Matches(e) => {
                quoted = format!("\"{e}\"");
                &[("if-match", quoted.as_str())]
            }
        };
        let req = S3Req {
            headers,
            body: data,
            ..S3Req::new(&Method::PUT, key)
        };
        Ok(self
            .call(&format!("writing {key}"), &[200, 412], req)?
            .status
            == 200)
    }

    /// DELETE a key (S3 does not say whether it was there).
    pub fn delete_object(&self, key: &str) -> Result<(), CloudError> {
        let req = S3Req::new(&Method::DELETE, key);
        self.call(&format!("removing {key}"), &[200, 204, 404], req)?;
        Ok(())
    }

    /// Every key under `prefix`, and with a `delimiter` the common
    /// prefixes instead of the keys below them.
    pub fn list_objects(&self, prefix: &str, delimiter: &str) -> Result<Listing, CloudError> {
        let mut out = Listing::default();
        let mut token = String::new();
        loop {
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if !delimiter.is_empty() {
                query.push(("delimiter", delimiter));
            }
            if !token.is_empty() {
                query.push(("continuation-token", token.as_str()));
            }
            let req = S3Req {
                query: &query,
                ..S3Req::new(&Method::GET, "")
            };
            let what = format!("listing {prefix} in bucket {}", self.t.bucket);
            let text = self.call(&what, &[200], req)?.text();
            for c in elements(&text, "Contents") {
                let key = element(c, "Key").map(unescape).unwrap_or_default();
                let size = element(c, "Size").and_then(|s| s.parse().ok());
                out.keys.push((key, size.unwrap_or(0)));
            }
            for p in elements(&text, "CommonPrefixes") {
                out.prefixes.extend(element(p, "Prefix").map(unescape));
            }
            match element(&text, "NextContinuationToken") {
                Some(t) if element(&text, "IsTruncated") == Some("true") => token = unescape(t),
                _ => return Ok(out),
            }
        }
    }
}

/// The bodies of every `<tag>…</tag>` in `xml`.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|s| s.split(close.as_str()).next())
        .collect()
}

/// The body of the first `<tag>…</tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    elements(xml, tag).into_iter().next()
}

/// XML text with its five entities replaced.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_elements() {
        let xml = "<R><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key><Size>3</Size></Contents>\
                   <CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes><NextContinuationToken>t</NextContinuationToken></R>";
        let c = elements(xml, "Contents");
        assert_eq!(element(c[0], "Key").map(unescape).as_deref(), Some("a&b"));
        assert_eq!(element(xml, "NextContinuationToken"), Some("t"));
        assert_eq!(elements(xml, "CommonPrefixes").len(), 1);
    }
}
