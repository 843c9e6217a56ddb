//! Where an S3 bucket is and the keys to it, read as the AWS tools read
//! them: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
//! else `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`) for the
//! profile; the region from `AWS_REGION`, `AWS_DEFAULT_REGION`, the
//! bucket's saved section, or `~/.aws/config` (`AWS_CONFIG_FILE`); the
//! endpoint from `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or the bucket's
//! saved section. A saved bucket ([`crate::cloud::config::s3_targets`])
//! may name its own profile; else `$AWS_PROFILE`, else `default`.

use crate::cloud::Secret;
use crate::cloud::clients::s3::sigv4::Credentials;
use crate::cloud::config::s3_targets::{self, S3Files, env};
use crate::process::UsageError;

/// One bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    pub endpoint: String,
    pub region: String,
    pub creds: Credentials,
}

/// Read the target for `bucket` from the environment and the files.
pub fn target(bucket: &str) -> Result<S3Target, UsageError> {
    target_in(bucket, &S3Files::from_env())
}

/// Read the target for `bucket` from the environment and `files`.
pub fn target_in(bucket: &str, files: &S3Files) -> Result<S3Target, UsageError> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(UsageError(format!(
            "--cloud s3:{bucket}: give a bucket name"
        )));
    }
    let saved = s3_targets::bucket(files, bucket).unwrap_or_default();
    let profile = saved.profile.unwrap_or_else(|| files.profile.clone());
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or(saved.region)
        .or_else(|| files.profile_region(&profile))
        .unwrap_or_else(|| "us-east-1".into());
    let endpoint = env("AWS_ENDPOINT_URL_S3")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or(saved.endpoint)
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    Ok(S3Target {
        bucket: bucket.to_owned(),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        region,
        creds: credentials(bucket, files, &profile)?,
    })
}

/// The keys, from the environment or the credentials file.
fn credentials(bucket: &str, files: &S3Files, profile: &str) -> Result<Credentials, UsageError> {
    let file = files.credentials_ini();
    let from_file = |key: &str| file.get(profile, key);
    let access = env("AWS_ACCESS_KEY_ID").or_else(|| from_file("aws_access_key_id"));
    let secret = env("AWS_SECRET_ACCESS_KEY").or_else(|| from_file("aws_secret_access_key"));
    let (Some(access_key), Some(secret)) = (access, secret) else {
        return Err(UsageError(format!(
            "--cloud s3:{bucket}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to {} (profile {profile})",
            files.credentials.display()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_bucket_names_its_endpoint_region_and_profile() {
        let dir = tempfile::tempdir().unwrap();
        let files = S3Files {
            targets: dir.path().join("s3.ini"),
            credentials: dir.path().join("credentials"),
            config: dir.path().join("config"),
            profile: "default".into(),
        };
        std::fs::write(
            &files.credentials,
            "[default]\naws_access_key_id = A\naws_secret_access_key = S\n[lab]\naws_access_key_id = L\naws_secret_access_key = LS\n",
        )
        .unwrap();
        std::fs::write(&files.config, "[profile lab]\nregion = eu-west-1\n").unwrap();
        std::fs::write(
            &files.targets,
            "[images]\nendpoint_url = http://h:8333/\nprofile = lab\n",
        )
        .unwrap();
        // The test environment sets none of the AWS variables.
        let t = target_in("images", &files).unwrap();
        assert_eq!(t.endpoint, "http://h:8333");
        assert_eq!(
            (t.region.as_str(), t.creds.access_key.as_str()),
            ("eu-west-1", "L")
        );
        let t = target_in("other", &files).unwrap();
        assert_eq!(t.endpoint, "https://s3.us-east-1.amazonaws.com");
        assert_eq!(t.creds.access_key, "A");
        assert!(target_in("a/b", &files).is_err());
    }
}
