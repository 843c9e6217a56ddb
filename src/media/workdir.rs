//! The private work directory that holds the overlay and sockets of one run,
//! and the heuristic that picks where it goes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where the work directory goes when `--tmpdir` is not given: the
/// writable candidate with the most free space. `/tmp` is left out on
/// purpose: it is often in RAM, and the overlay can grow to the disk's size.
pub fn default_parent() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/var/tmp")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home));
    }
    candidates.push(PathBuf::from("/mnt"));
    candidates
        .into_iter()
        .filter(|c| writable_dir(c))
        .max_by_key(|c| free_space(c).unwrap_or(0))
}

fn writable_dir(path: &Path) -> bool {
    path.is_dir() && nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Bytes available to an unprivileged user on the filesystem of `path`.
pub fn free_space(path: &Path) -> Result<u64> {
    let st = nix::sys::statvfs::statvfs(path)
        .with_context(|| format!("reading the free space of {}", path.display()))?;
    Ok(st.blocks_available() * st.fragment_size())
}

/// A private directory for one run, removed with everything in it when the
/// guard goes (success, failure or interruption).
#[derive(Debug)]
pub struct WorkDir {
    dir: tempfile::TempDir,
}

impl WorkDir {
    /// Create the directory under `parent`, or under the heuristic's choice.
    pub fn create(parent: Option<&Path>) -> Result<WorkDir> {
        let parent = match parent {
            Some(p) => p.to_owned(),
            None => default_parent().context(
                "no writable directory for temporary files among /var/tmp, $HOME and /mnt: give one with --tmpdir",
            )?,
        };
        let dir = tempfile::Builder::new()
            .prefix(".snf_image_creator.")
            .tempdir_in(&parent)
            .with_context(|| format!("creating a work directory in {}", parent.display()))?;
        Ok(WorkDir { dir })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Remove the directory now, reporting failure.
    pub fn close(self) -> Result<()> {
        let path = self.dir.path().to_owned();
        self.dir
            .close()
            .with_context(|| format!("removing the work directory {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_is_private_and_removed() {
        let parent = tempfile::tempdir().unwrap();
        let wd = WorkDir::create(Some(parent.path())).unwrap();
        let p = wd.path().to_owned();
        assert!(p.starts_with(parent.path()));
        std::fs::write(wd.join("overlay.qcow2"), b"x").unwrap();
        drop(wd);
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }

    #[test]
    fn default_parent_is_writable() {
        if let Some(p) = default_parent() {
            assert!(writable_dir(&p));
            assert!(free_space(&p).unwrap() > 0);
        }
    }
}
