//! Where the store's files live: a directory ([`dir::DirBackend`]) or an
//! S3 bucket under a prefix ([`s3::S3Store`]). Keys are relative paths
//! (`blocks/ab/abcd…`, `history/NAME.json`); a "directory" is a key
//! prefix ending in `/`. The one read-modify-write, [`Backend::update`],
//! holds a `flock` on a directory and uses conditional writes on S3, so
//! two processes changing one key never lose a change.

pub mod dir;
pub mod s3;

use std::path::{Path, PathBuf};

use crate::cloud::clients::s3::{S3Target, target as s3_target};
use crate::cloud::error::CloudError;
use crate::process::UsageError;

/// One child of a directory: its name and, for a file, its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub is_dir: bool,
}

/// What [`Backend::update`]'s function decides.
#[derive(Debug)]
pub enum Change {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Leave the key as it is.
    Keep,
}

/// A lock a backend holds until dropped (none on S3).
pub type Held = Option<nix::fcntl::Flock<std::fs::File>>;

/// The store's storage.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// For messages: the directory or `s3://BUCKET/PREFIX`.
    fn describe(&self) -> String;
    /// A key's bytes, if it exists.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CloudError>;
    /// Write a key whole (readers see the old or the new bytes).
    fn put(&self, key: &str, data: &[u8]) -> Result<(), CloudError>;
    /// Write a key only if it does not exist yet (no lock: a link on a
    /// directory, `If-None-Match: *` on S3); `false` when it existed.
    fn create(&self, key: &str, data: &[u8]) -> Result<bool, CloudError>;
    /// Whether a key exists.
    fn exists(&self, key: &str) -> Result<bool, CloudError>;
    /// Remove a key; `false` when it was not there.
    fn delete(&self, key: &str) -> Result<bool, CloudError>;
    /// The children of directory `dir`, by name.
    fn list(&self, dir: &str) -> Result<Vec<Entry>, CloudError>;
    /// Make directory `dir`; `true` when it was not there.
    fn make_dir(&self, dir: &str) -> Result<bool, CloudError>;
    /// Whether directory `dir` exists.
    fn is_dir(&self, dir: &str) -> Result<bool, CloudError>;
    /// Change `key` atomically: `f` gets its bytes and says what to do.
    /// On S3, `f` runs again when another process changed the key first,
    /// so it must not have other effects.
    fn update(
        &self,
        key: &str,
        f: &mut dyn FnMut(Option<&[u8]>) -> Change,
    ) -> Result<(), CloudError>;
    /// Hold `key` as a lock, shared or exclusive (a `flock`; nothing on S3).
    fn lock(&self, key: &str, exclusive: bool) -> Result<Held, CloudError>;
    /// The directory, for what only a local store has (`serve`'s tokens).
    fn local_dir(&self) -> Option<&Path>;
}

/// Where a store is: `--store DIR` or `--store s3://BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    S3 { target: S3Target, prefix: String },
}

impl Location {
    /// Read `--store`'s value; for a bucket, its endpoint and credentials
    /// as the S3 upload target reads them.
    pub fn parse(arg: &Path) -> Result<Location, UsageError> {
        match split_s3_url(arg)? {
            None => Ok(Location::Dir(arg.to_owned())),
            Some((bucket, prefix)) => Ok(Location::S3 {
                target: s3_target(&bucket).map_err(|e| {
                    UsageError(format!(
                        "--store {}: {}",
                        arg.display(),
                        e.0.replace(&format!("--cloud s3:{bucket}: "), "")
                    ))
                })?,
                prefix,
            }),
        }
    }

    /// The backend for this location (a directory is created when missing).
    pub fn open(&self) -> Result<Box<dyn Backend>, CloudError> {
        match self {
            Location::Dir(root) => Ok(Box::new(dir::DirBackend::open(root)?)),
            Location::S3 { target, prefix } => Ok(Box::new(s3::S3Store::open(target, prefix)?)),
        }
    }
}

/// `s3://BUCKET[/PREFIX]` as the bucket and the prefix (no slashes at its
/// ends); `None` for a directory.
fn split_s3_url(arg: &Path) -> Result<Option<(String, String)>, UsageError> {
    let Some(rest) = arg.to_str().and_then(|s| s.strip_prefix("s3://")) else {
        return Ok(None);
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    let bad_bucket = bucket.len() < 3
        || bucket.len() > 63
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
    if bad_bucket || prefix.split('/').any(|s| s == "." || s == "..") {
        return Err(UsageError(format!(
            "--store {}: give s3://BUCKET[/PREFIX] with a valid bucket name (3 to 63 lower-case letters, digits, `-' or `.')",
            arg.display()
        )));
    }
    Ok(Some((bucket.to_owned(), prefix.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_locations() {
        let s3 = |b: &str, p: &str| Some((b.to_owned(), p.to_owned()));
        let parse = |s: &str| split_s3_url(Path::new(s));
        assert_eq!(parse("/var/store").unwrap(), None);
        assert_eq!(parse("s3://images").unwrap(), s3("images", ""));
        assert_eq!(parse("s3://images/a/b/").unwrap(), s3("images", "a/b"));
        for bad in ["s3://", "s3://UP", "s3://a", "s3://ok-bucket/../x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
