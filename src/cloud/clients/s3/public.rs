//! Public S3 objects. S3 servers differ: AWS buckets with ACLs honour the
//! `public-read` canned ACL, while buckets that own their objects (AWS's
//! default since 2023), MinIO and SeaweedFS grant anonymous reads only
//! through the bucket policy. So an object is made public with its ACL,
//! and, if an unsigned read is still refused, with a statement of the
//! bucket policy that lists the public objects (the rest of the policy is
//! kept). Either way an unsigned read is tried last, so `--public` never
//! reports success for an object nobody can read.

use reqwest::Method;
use serde_json::{Value, json};

use super::{S3Backend, S3Req};
use crate::cloud::error::CloudError;

/// The `Sid` of the policy statement that lists the public objects.
const SID: &str = "SnfImageCreatorPublicRead";

/// How long a new bucket policy may take to apply.
const POLICY_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl S3Backend {
    /// Make `key` readable by anyone.
    pub(super) fn make_public(&self, key: &str) -> Result<(), CloudError> {
        let acl = S3Req {
            query: &[("acl", "")],
            headers: &[("x-amz-acl", "public-read")],
            ..S3Req::new(&Method::PUT, key)
        };
        // A bucket without ACLs refuses this (400, 403, 501): the policy
        // below is for those.
        self.call(&format!("sharing {key}"), &[200, 400, 403, 501], acl)?;
        if self.anyone_reads(key)? {
            return Ok(());
        }
        self.add_to_policy(key)?;
        // Servers apply a new policy asynchronously (SeaweedFS's gateway
        // learns it from its filer; AWS is eventually consistent).
        let start = std::time::Instant::now();
        while start.elapsed() < POLICY_WAIT {
            if self.anyone_reads(key)? {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        Err(CloudError::Protocol(format!(
            "sharing {key}: bucket {} still refuses anonymous reads of it: check its public access settings",
            self.t.bucket
        )))
    }

    /// Whether an unsigned HEAD of `key` succeeds.
    pub(super) fn anyone_reads(&self, key: &str) -> Result<bool, CloudError> {
        let url = self.url(key);
        let what = format!("reading {key} anonymously");
        let r = self.http.call(&what, &[200, 401, 403], &|c| c.head(&url))?;
        Ok(r.status == 200)
    }

    /// Add `key` to the bucket policy's statement of public objects.
    fn add_to_policy(&self, key: &str) -> Result<(), CloudError> {
        let what = format!("reading the policy of bucket {}", self.t.bucket);
        let get = S3Req {
            query: &[("policy", "")],
            ..S3Req::new(&Method::GET, "")
        };
        let r = self.call(&what, &[200, 404], get)?;
        let old = match r.status {
            200 => Some(r.json::<Value>(&what)?),
            _ => None,
        };
        let policy = with_public_object(old, &self.t.bucket, key);
        let body = policy.to_string();
        let put = S3Req {
            query: &[("policy", "")],
            body: body.as_bytes(),
            ..S3Req::new(&Method::PUT, "")
        };
        let what = format!(
            "sharing {key} through the policy of bucket {}",
            self.t.bucket
        );
        self.call(&what, &[200, 204], put)?;
        Ok(())
    }
}

/// `policy` (or a new one) whose public-read statement also lists `key`.
fn with_public_object(policy: Option<Value>, bucket: &str, key: &str) -> Value {
    let mut policy = policy
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2012-10-17"}));
    let arn = format!("arn:aws:s3:::{bucket}/{key}");
    if !policy["Statement"].is_array() {
        policy["Statement"] = json!([]);
    }
    let statements = policy["Statement"].as_array_mut().expect("made an array");
    let found = statements.iter().position(|s| s["Sid"] == SID);
    let index = found.unwrap_or_else(|| {
        statements.push(json!({"Sid": SID, "Effect": "Allow", "Principal": "*",
                               "Action": ["s3:GetObject"], "Resource": []}));
        statements.len() - 1
    });
    let resources = &mut statements[index]["Resource"];
    if let Value::String(one) = resources {
        *resources = json!([one.clone()]);
    }
    if let Some(list) = resources.as_array_mut()
        && !list.iter().any(|r| r == &arn)
    {
        list.push(Value::String(arn));
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_statements_grow_and_keep_the_rest() {
        let p = with_public_object(None, "b", "x.img");
        assert_eq!(p["Statement"][0]["Resource"][0], "arn:aws:s3:::b/x.img");
        let p = with_public_object(Some(p), "b", "x.img.meta");
        let p = with_public_object(Some(p), "b", "x.img");
        assert_eq!(p["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(p["Statement"][0]["Resource"].as_array().unwrap().len(), 2);
        let other = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Other"}]});
        let p = with_public_object(Some(other), "b", "k");
        assert_eq!(p["Statement"][0]["Sid"], "Other");
        assert_eq!(p["Statement"][1]["Principal"], "*");
    }
}
