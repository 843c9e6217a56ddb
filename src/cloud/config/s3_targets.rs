//! S3 targets: the files `--cloud s3:BUCKET` reads, and the buckets saved
//! for it. The keys stay where the AWS tools keep them (the credentials
//! file, `AWS_SHARED_CREDENTIALS_FILE`, profile `$AWS_PROFILE` or
//! `default`; the region in `AWS_CONFIG_FILE`). The AWS files have no
//! place for a bucket, so the saved buckets are sections of
//! `$XDG_CONFIG_HOME/snf-image-creator/s3.ini` (`~/.config/…`), each
//! with its own `endpoint_url`, `region` and `profile`, all optional:
//!
//! ```ini
//! [images]
//! endpoint_url = https://s3.example.org
//! region = eu-west-1
//! profile = default
//! ```
//!
//! Both files are edited line by line ([`super::ini`]): other sections,
//! keys and comments are kept; they are written with mode 0600.

use std::path::PathBuf;

use super::ini::Ini;
use crate::cloud::Secret;
use crate::cloud::error::CloudError;

/// The files an S3 target is read from, and the profile used when a
/// bucket names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Files {
    /// The saved buckets.
    pub targets: PathBuf,
    /// The AWS credentials file.
    pub credentials: PathBuf,
    /// The AWS config file (regions).
    pub config: PathBuf,
    pub profile: String,
}

/// A non-empty environment variable.
pub(crate) fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

impl S3Files {
    /// As the environment says, as the AWS tools read it.
    pub fn from_env() -> S3Files {
        let home = PathBuf::from(env("HOME").unwrap_or_default());
        let xdg = env("XDG_CONFIG_HOME").map_or_else(|| home.join(".config"), PathBuf::from);
        let aws = |var: &str, name: &str| {
            env(var).map_or_else(|| home.join(".aws").join(name), PathBuf::from)
        };
        S3Files {
            targets: xdg.join("snf-image-creator/s3.ini"),
            credentials: aws("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            config: aws("AWS_CONFIG_FILE", "config"),
            profile: env("AWS_PROFILE").unwrap_or_else(|| "default".into()),
        }
    }

    /// The credentials file (empty when it cannot be read).
    pub fn credentials_ini(&self) -> Ini {
        Ini::load(&self.credentials).unwrap_or_default()
    }

    /// The credentials file's section of `profile`.
    pub fn key(&self, profile: &str, key: &str) -> Option<String> {
        self.credentials_ini().get(profile, key)
    }

    /// The config file's region for `profile`.
    pub fn profile_region(&self, profile: &str) -> Option<String> {
        let section = match profile {
            "default" => profile.to_owned(),
            p => format!("profile {p}"),
        };
        Ini::load(&self.config).ok()?.get(&section, "region")
    }
}

/// A saved bucket, as its section says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedBucket {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
}

/// The saved buckets, in file order (none when the file is unreadable).
pub fn buckets(files: &S3Files) -> Vec<SavedBucket> {
    let Ok(ini) = Ini::load(&files.targets) else {
        return Vec::new();
    };
    let get = |b: &str, k: &str| ini.get(b, k).filter(|v| !v.is_empty());
    (ini.sections().into_iter())
        .map(|b| SavedBucket {
            endpoint: get(&b, "endpoint_url"),
            region: get(&b, "region"),
            profile: get(&b, "profile"),
            bucket: b,
        })
        .collect()
}

/// One saved bucket.
pub fn bucket(files: &S3Files, name: &str) -> Option<SavedBucket> {
    buckets(files).into_iter().find(|b| b.bucket == name)
}

/// A bucket and its keys, as the UI's form adds or edits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Account {
    pub bucket: String,
    /// Empty: AWS's own endpoint for the region.
    pub endpoint: String,
    /// Empty: the profile's, else us-east-1.
    pub region: String,
    pub profile: String,
    pub access_key: String,
    pub secret_key: Secret,
}

/// A bucket name S3 accepts: 3 to 63 lowercase letters, digits, dots and
/// hyphens, starting and ending with a letter or digit.
pub fn check_bucket(name: &str) -> Result<(), CloudError> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=63).contains(&name.len()) && chars_ok && ends_ok {
        return Ok(());
    }
    Err(CloudError::Config(format!(
        "bad bucket name `{name}': use 3 to 63 lowercase letters, digits, dots and hyphens"
    )))
}

/// Save a bucket's section and its profile's keys.
pub fn save(files: &S3Files, a: &S3Account) -> Result<(), CloudError> {
    check_bucket(&a.bucket)?;
    let mut targets = Ini::load(&files.targets)?;
    for (key, value) in [("endpoint_url", &a.endpoint), ("region", &a.region)] {
        match value.as_str() {
            "" => targets.unset(&a.bucket, key),
            v => targets.set(&a.bucket, key, v),
        }
    }
    targets.set(&a.bucket, "profile", &a.profile);
    let mut creds = Ini::load(&files.credentials)?;
    creds.set(&a.profile, "aws_access_key_id", &a.access_key);
    creds.set(&a.profile, "aws_secret_access_key", a.secret_key.expose());
    super::write_private(&files.credentials, &creds.render())?;
    super::write_private(&files.targets, &targets.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_buckets_and_keys_keep_the_rest() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = S3Files {
            targets: dir.path().join("snf/s3.ini"),
            credentials: dir.path().join("credentials"),
            config: dir.path().join("config"),
            profile: "default".into(),
        };
        std::fs::write(
            &files.credentials,
            "# mine\n[other]\naws_access_key_id = O\n",
        )
        .unwrap();
        let mut a = S3Account {
            bucket: "images".into(),
            endpoint: "http://127.0.0.1:8333".into(),
            region: String::new(),
            profile: "lab".into(),
            access_key: "AK".into(),
            secret_key: Secret::new("SK"),
        };
        save(&files, &a).unwrap();
        let saved = bucket(&files, "images").unwrap();
        assert_eq!(saved.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(
            (saved.region, saved.profile.as_deref()),
            (None, Some("lab"))
        );
        assert_eq!(
            files.key("lab", "aws_secret_access_key").as_deref(),
            Some("SK")
        );
        assert_eq!(
            files.key("other", "aws_access_key_id").as_deref(),
            Some("O")
        );
        let text = std::fs::read_to_string(&files.credentials).unwrap();
        assert!(text.starts_with("# mine\n"), "{text}");
        for f in [&files.credentials, &files.targets] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        a.bucket = "Bad_Bucket".into();
        assert!(
            save(&files, &a)
                .unwrap_err()
                .to_string()
                .contains("bucket name")
        );
        assert_eq!(buckets(&files).len(), 1, "nothing written");
    }
}
