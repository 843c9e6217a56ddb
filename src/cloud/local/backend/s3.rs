//! The store in an S3 bucket under a prefix. A directory is a prefix with
//! a `.dir` marker object (S3 has no empty directories); a read-modify-write
//! ([`S3Store::update`]) reads the key with its ETag and writes it back with
//! `If-Match` (`If-None-Match: *` when it was absent), starting again when
//! another writer got there first. There are no locks: `images gc` on S3
//! must not run while an upload to the same store is under way.

use std::path::Path;
use std::time::Duration;

use super::{Backend, Change, Entry, Held};
use crate::cloud::CloudBackend;
use crate::cloud::clients::s3::objects::Precondition;
use crate::cloud::clients::s3::{S3Backend, S3Target};
use crate::cloud::error::CloudError;

/// How many times an update starts again before giving up.
const ATTEMPTS: u32 = 64;

/// A marker that makes a prefix a directory.
const DIR_MARKER: &str = ".dir";

/// A bucket and the prefix the store lives under.
pub struct S3Store {
    s3: S3Backend,
    bucket: String,
    prefix: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl S3Store {
    /// The store in `t`'s bucket under `prefix`; the bucket must exist and
    /// take the credentials.
    pub fn open(t: &S3Target, prefix: &str) -> Result<S3Store, CloudError> {
        let mut s3 = S3Backend::new(t.clone())?;
        s3.authenticate()?;
        Ok(S3Store {
            s3,
            bucket: t.bucket.clone(),
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        match self.prefix.is_empty() {
            true => key.to_owned(),
            false => format!("{}/{key}", self.prefix),
        }
    }

    fn dir_key(&self, dir: &str) -> String {
        format!("{}/", self.key(dir.trim_end_matches('/')))
    }
}

impl Backend for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CloudError> {
        Ok(self.s3.get_object(&self.key(key))?.map(|(d, _)| d))
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), CloudError> {
        self.s3
            .put_object(&self.key(key), data, &Precondition::None)
            .map(|_| ())
    }

    fn create(&self, key: &str, data: &[u8]) -> Result<bool, CloudError> {
        self.s3
            .put_object(&self.key(key), data, &Precondition::Absent)
    }

    fn exists(&self, key: &str) -> Result<bool, CloudError> {
        self.s3.has_object(&self.key(key))
    }

    fn delete(&self, key: &str) -> Result<bool, CloudError> {
        let there = self.exists(key)?;
        self.s3.delete_object(&self.key(key))?;
        Ok(there)
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, CloudError> {
        let prefix = self.dir_key(dir);
        let found = self.s3.list_objects(&prefix, "/")?;
        let strip = |k: &str| {
            k.strip_prefix(&prefix)
                .map(|n| n.trim_end_matches('/').to_owned())
        };
        let files = (found.keys.iter()).filter_map(|(k, size)| {
            let name = strip(k)?;
            Some(Entry {
                name,
                size: *size,
                is_dir: false,
            })
        });
        let dirs = found.prefixes.iter().filter_map(|p| {
            Some(Entry {
                name: strip(p)?,
                size: 0,
                is_dir: true,
            })
        });
        let mut out: Vec<Entry> = (files.chain(dirs))
            .filter(|e| !e.name.is_empty() && e.name != DIR_MARKER)
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn make_dir(&self, dir: &str) -> Result<bool, CloudError> {
        let marker = format!("{}{DIR_MARKER}", self.dir_key(dir));
        self.s3.put_object(&marker, b"", &Precondition::Absent)
    }

    fn is_dir(&self, dir: &str) -> Result<bool, CloudError> {
        let marker = format!("{}{DIR_MARKER}", self.dir_key(dir));
        self.s3.has_object(&marker)
    }

    fn update(
        &self,
        key: &str,
        f: &mut dyn FnMut(Option<&[u8]>) -> Change,
    ) -> Result<(), CloudError> {
        let full = self.key(key);
        for attempt in 0..ATTEMPTS {
            let current = self.s3.get_object(&full)?;
            let data = match f(current.as_ref().map(|(d, _)| d.as_slice())) {
                Change::Write(data) => data,
                Change::Keep => return Ok(()),
            };
            let pre = match current {
                Some((_, etag)) => Precondition::Matches(etag),
                None => Precondition::Absent,
            };
            if self.s3.put_object(&full, &data, &pre)? {
                return Ok(());
            }
            std::thread::sleep(backoff(attempt));
        }
        Err(CloudError::Exists(format!(
            "{full} in {}: other writers changed it {ATTEMPTS} times while this process tried to: try again",
            self.describe()
        )))
    }

    fn lock(&self, _key: &str, _exclusive: bool) -> Result<Held, CloudError> {
        Ok(None)
    }

    fn local_dir(&self) -> Option<&Path> {
        None
    }
}

/// A short wait that grows with the attempts, with a jitter from the clock
/// so that two losers do not collide again in step.
fn backoff(attempt: u32) -> Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 20);
    Duration::from_millis(u64::from(attempt.min(10)) * 10 + u64::from(jitter))
}
