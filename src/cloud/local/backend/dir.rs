//! The store in a directory: a key is a file under the root, written
//! through a temporary file in `tmp/` and renamed; [`DirBackend::update`]
//! holds an exclusive `flock` on the key's `.lock` file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{Backend, Change, Entry, Held};
use crate::cloud::error::CloudError;

/// A store directory.
#[derive(Debug, Clone)]
pub struct DirBackend {
    root: PathBuf,
}

impl DirBackend {
    /// The store at `root`, creating its directories when missing.
    pub fn open(root: &Path) -> Result<DirBackend, CloudError> {
        for sub in ["blocks", "accounts", "images", "tmp"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(|e| CloudError::io("creating", &d, e))?;
        }
        Ok(DirBackend {
            root: root.to_owned(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key.trim_end_matches('/'))
    }
}

impl Backend for DirBackend {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CloudError> {
        let path = self.path(key);
        match fs::read(&path) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CloudError::io("reading", path, e)),
        }
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), CloudError> {
        write_atomic(&self.root, &self.path(key), data)
    }

    fn create(&self, key: &str, data: &[u8]) -> Result<bool, CloudError> {
        let path = self.path(key);
        let tmp = written_temp(&self.root, &path, data)?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(CloudError::io("creating", &path, e.error)),
        }
    }

    fn exists(&self, key: &str) -> Result<bool, CloudError> {
        Ok(self.path(key).is_file())
    }

    fn delete(&self, key: &str) -> Result<bool, CloudError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CloudError::io("removing", path, e)),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, CloudError> {
        let path = self.path(dir);
        let entries = match fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CloudError::io("listing", path, e)),
        };
        let mut out: Vec<Entry> = (entries.flatten())
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some(Entry {
                    name: e.file_name().to_str()?.to_owned(),
                    size: meta.len(),
                    is_dir: meta.is_dir(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn make_dir(&self, dir: &str) -> Result<bool, CloudError> {
        let path = self.path(dir);
        if path.is_dir() {
            return Ok(false);
        }
        fs::create_dir_all(&path).map_err(|e| CloudError::io("creating", &path, e))?;
        Ok(true)
    }

    fn is_dir(&self, dir: &str) -> Result<bool, CloudError> {
        Ok(self.path(dir).is_dir())
    }

    fn update(
        &self,
        key: &str,
        f: &mut dyn FnMut(Option<&[u8]>) -> Change,
    ) -> Result<(), CloudError> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| CloudError::io("creating", dir, e))?;
        }
        let _held = lock(&path.with_extension("lock"), true)?;
        match f(self.get(key)?.as_deref()) {
            Change::Write(data) => write_atomic(&self.root, &path, &data),
            Change::Keep => Ok(()),
        }
    }

    fn lock(&self, key: &str, exclusive: bool) -> Result<Held, CloudError> {
        lock(&self.path(key), exclusive).map(Some)
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.root)
    }
}

/// Hold an exclusive (or shared) `flock` on `path` until dropped.
pub(crate) fn lock(path: &Path, exclusive: bool) -> Result<Flock<File>, CloudError> {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| CloudError::io("opening the lock file", path, e))?;
    let how = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    Flock::lock(f, how).map_err(|(_, e)| CloudError::io("locking", path, e.into()))
}

/// Write through a temporary file in the store's `tmp` and rename.
fn write_atomic(root: &Path, dest: &Path, data: &[u8]) -> Result<(), CloudError> {
    written_temp(root, dest, data)?
        .persist(dest)
        .map_err(|e| CloudError::io("renaming a file to", dest, e.error))?;
    Ok(())
}

/// `data` in a synced temporary file in the store's `tmp`, to become `dest`
/// (whose directory is made).
fn written_temp(
    root: &Path,
    dest: &Path,
    data: &[u8],
) -> Result<tempfile::NamedTempFile, CloudError> {
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|e| CloudError::io("creating", dir, e))?;
    }
    let tmpdir = root.join("tmp");
    fs::create_dir_all(&tmpdir).map_err(|e| CloudError::io("creating", &tmpdir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&tmpdir)
        .map_err(|e| CloudError::io("creating a file in", &tmpdir, e))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_data())
        .map_err(|e| CloudError::io("writing", dest, e))?;
    Ok(tmp)
}
