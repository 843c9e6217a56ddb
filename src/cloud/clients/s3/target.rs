//! Where an S3 bucket is and the keys to it, read as the AWS tools read
//! them: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
//! else `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`) for
//! `$AWS_PROFILE`; the region from `AWS_REGION`, `AWS_DEFAULT_REGION` or
//! `~/.aws/config` (`AWS_CONFIG_FILE`); the endpoint from
//! `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`.

use crate::cloud::Secret;
use crate::cloud::clients::s3::sigv4::Credentials;
use crate::process::UsageError;

/// One bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    pub endpoint: String,
    pub region: String,
    pub creds: Credentials,
}

/// A non-empty environment variable.
fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// Read the target for `bucket` from the environment and AWS files.
pub fn target(bucket: &str) -> Result<S3Target, UsageError> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(UsageError(format!(
            "--cloud s3:{bucket}: give a bucket name"
        )));
    }
    let home = env("HOME").unwrap_or_default();
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let region = region(&home, &profile);
    let endpoint = env("AWS_ENDPOINT_URL_S3")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    Ok(S3Target {
        bucket: bucket.to_owned(),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        region,
        creds: credentials(bucket, &home, &profile)?,
    })
}

/// The keys, from the environment or the credentials file.
fn credentials(bucket: &str, home: &str, profile: &str) -> Result<Credentials, UsageError> {
    let file =
        env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials"));
    let from_file = |key: &str| ini_value(&file, profile, key);
    let access = env("AWS_ACCESS_KEY_ID").or_else(|| from_file("aws_access_key_id"));
    let secret = env("AWS_SECRET_ACCESS_KEY").or_else(|| from_file("aws_secret_access_key"));
    let (Some(access_key), Some(secret)) = (access, secret) else {
        return Err(UsageError(format!(
            "--cloud s3:{bucket}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to {file}"
        )));
    };
    Ok(Credentials {
        access_key,
        secret_key: Secret::new(secret),
        session_token: env("AWS_SESSION_TOKEN")
            .or_else(|| from_file("aws_session_token"))
            .map(Secret::new),
    })
}

/// The region: the environment, else the profile's in the config file,
/// else `us-east-1`.
fn region(home: &str, profile: &str) -> String {
    let file = env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
    let section = if profile == "default" {
        profile.to_owned()
    } else {
        format!("profile {profile}")
    };
    env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| ini_value(&file, &section, "region"))
        .unwrap_or_else(|| "us-east-1".into())
}

/// `key` of `[section]` in an INI file.
fn ini_value(path: &str, section: &str, key: &str) -> Option<String> {
    let text =
        crate::untrusted::read_text(std::path::Path::new(path), crate::untrusted::CONFIG_LIMIT)
            .ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_and_keys() {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"[default]\naws_access_key_id = A\n[profile x]\nregion = eu-west-1\n")
            .unwrap();
        let p = f.path().to_str().unwrap();
        assert_eq!(ini_value(p, "default", "aws_access_key_id").unwrap(), "A");
        assert_eq!(ini_value(p, "profile x", "region").unwrap(), "eu-west-1");
        assert_eq!(ini_value(p, "default", "region"), None);
        assert_eq!(ini_value("/nonexistent", "default", "region"), None);
    }
}
