//! The guest as it would be after some changes, without making them: the
//! view a dry run plans each task on, so that a task sees what the tasks
//! before it would have done (as in a real run) and the list it prints is
//! the list a real run carries out.
//!
//! Deletions hide paths (and everything below them); writes and truncations
//! keep the new content in memory. Everything else reads through to the
//! real, unmodified guest.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::guest::{EntryKind, FoundEntry, Guest};

/// A copy-on-write view of a guest. See the module documentation.
pub struct Staged<'a> {
    inner: &'a mut dyn Guest,
    deleted: Vec<String>,
    written: BTreeMap<String, Vec<u8>>,
}

impl<'a> Staged<'a> {
    /// A view of `inner` with no changes yet.
    pub fn new(inner: &'a mut dyn Guest) -> Self {
        Staged {
            inner,
            deleted: Vec::new(),
            written: BTreeMap::new(),
        }
    }

    fn hidden(&self, path: &str) -> bool {
        !self.written.contains_key(path)
            && self.deleted.iter().any(|d| {
                path == d
                    || path
                        .strip_prefix(d.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
    }
}

fn parent_of(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((parent, _)) => parent,
    }
}

impl Guest for Staged<'_> {
    fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        if let Some(data) = self.written.get(path) {
            return Ok(data.clone());
        }
        if self.hidden(path) {
            bail!("{path}: No such file or directory");
        }
        self.inner.read_file(path)
    }

    fn exists(&mut self, path: &str) -> Result<bool> {
        if self.written.contains_key(path) {
            return Ok(true);
        }
        Ok(!self.hidden(path) && self.inner.exists(path)?)
    }

    fn is_file(&mut self, path: &str) -> Result<bool> {
        if self.written.contains_key(path) {
            return Ok(true);
        }
        Ok(!self.hidden(path) && self.inner.is_file(path)?)
    }

    fn is_dir(&mut self, path: &str) -> Result<bool> {
        Ok(!self.hidden(path) && self.inner.is_dir(path)?)
    }

    fn read_dir(&mut self, path: &str) -> Result<Vec<(String, EntryKind)>> {
        if self.hidden(path) {
            bail!("{path}: No such file or directory");
        }
        let base = path.trim_end_matches('/');
        let mut entries: Vec<(String, EntryKind)> = if self.inner.is_dir(path)? {
            self.inner.read_dir(path)?
        } else {
            Vec::new()
        };
        entries.retain(|(name, _)| !self.hidden(&format!("{base}/{name}")));
        let dir = if base.is_empty() { "/" } else { base };
        for p in self.written.keys() {
            if parent_of(p) == dir {
                let name = p.rsplit('/').next().unwrap_or(p).to_owned();
                if !entries.iter().any(|(n, _)| *n == name) {
                    entries.push((name, EntryKind::File));
                }
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    fn read_link(&mut self, path: &str) -> Result<String> {
        self.inner.read_link(path)
    }

    fn size(&mut self, path: &str) -> Result<u64> {
        if let Some(data) = self.written.get(path) {
            return Ok(data.len() as u64);
        }
        if self.hidden(path) {
            bail!("{path}: No such file or directory");
        }
        self.inner.size(path)
    }

    fn file_size(&mut self, path: &str) -> Result<u64> {
        if let Some(data) = self.written.get(path) {
            return Ok(data.len() as u64);
        }
        if self.hidden(path) {
            bail!("{path}: No such file or directory");
        }
        self.inner.file_size(path)
    }

    fn find(&mut self, dir: &str) -> Result<Vec<FoundEntry>> {
        if self.hidden(dir) {
            bail!("{dir}: No such file or directory");
        }
        let mut found = self.inner.find(dir)?;
        found.retain(|e| !self.hidden(&e.path));
        for e in &mut found {
            if let Some(data) = self.written.get(&e.path) {
                e.size = data.len() as u64;
            }
        }
        Ok(found)
    }

    fn fs_uuid(&mut self, device: &str) -> Result<String> {
        self.inner.fs_uuid(device)
    }

    fn write(&mut self, path: &str, content: &[u8]) -> Result<()> {
        self.written.insert(path.to_owned(), content.to_vec());
        Ok(())
    }

    fn truncate(&mut self, path: &str) -> Result<()> {
        self.written.insert(path.to_owned(), Vec::new());
        Ok(())
    }

    fn remove_all(&mut self, path: &str) -> Result<()> {
        let prefix = format!("{path}/");
        self.written
            .retain(|p, _| p != path && !p.starts_with(&prefix));
        self.deleted.push(path.to_owned());
        Ok(())
    }

    fn mkdir_p(&mut self, _path: &str) -> Result<()> {
        Ok(())
    }

    fn mode(&mut self, path: &str) -> Result<Option<u32>> {
        self.inner.mode(path)
    }

    /// The guest's own registry: a dry run reads it, and the runner
    /// writes nothing to it.
    fn registry(&mut self) -> Option<&mut dyn crate::guest::registry::Registry> {
        self.inner.registry()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;

    #[test]
    fn changes_are_seen_but_not_made() {
        let mut real = MemGuest::new()
            .file("/etc/a", "1")
            .file("/var/log/x", "12345")
            .file("/tmp/d/f", "x");
        let before = real.clone();
        {
            let mut s = Staged::new(&mut real);
            s.remove_all("/tmp/d").unwrap();
            s.truncate("/var/log/x").unwrap();
            s.write("/etc/new", b"n").unwrap();
            assert!(!s.exists("/tmp/d/f").unwrap());
            assert!(s.read_dir("/tmp").unwrap().is_empty());
            assert_eq!(s.size("/var/log/x").unwrap(), 0);
            assert_eq!(s.read_file("/etc/new").unwrap(), b"n");
            let names: Vec<String> = s
                .read_dir("/etc")
                .unwrap()
                .into_iter()
                .map(|e| e.0)
                .collect();
            assert_eq!(names, ["a", "new"]);
            assert!(s.find("/tmp").unwrap().is_empty());
            assert!(s.exists("/tmp").unwrap());
        }
        assert_eq!(real.paths(), before.paths());
        assert_eq!(real.contents("/var/log/x"), Some(&b"12345"[..]));
    }
}
