//! Walking a directory tree with the filter applied: the list of entries
//! `tar` copies, what it cannot copy (sockets), and what the copy costs.
//! The walk stays on the tree's own filesystems ([`Bounds`]): a directory
//! with another filesystem mounted on it is kept as an empty directory, as
//! a filtered directory is.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Totals;
use super::filter::Filter;
use crate::process::Cancel;

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// NUL-separated `./relative` paths, parents before children.
    pub list: Vec<u8>,
    /// Sockets (tar skips them): path from the root, and their metadata.
    pub sockets: Vec<(PathBuf, Metadata)>,
    pub totals: Totals,
}

/// The filesystems a walk enters: a directory on another device, or at
/// one of the stop paths, is kept empty.
#[derive(Debug, Default)]
pub struct Bounds {
    pub devs: BTreeSet<u64>,
    /// Paths from the root (`/srv/www`).
    pub stops: BTreeSet<Vec<u8>>,
}

impl Bounds {
    fn enters(&self, path: &[u8], meta: &Metadata) -> bool {
        meta.is_dir() && self.devs.contains(&meta.dev()) && !self.stops.contains(path)
    }
}

/// Walk `root`, leaving out what `filter` matches and the contents of
/// other filesystems mounted inside it (`None`: those not on the root's
/// own filesystem).
pub fn walk(
    root: &Path,
    filter: &Filter,
    bounds: Option<&Bounds>,
    cancel: &Cancel,
) -> Result<Walk> {
    let top = fs::metadata(root).with_context(|| format!("reading {}", root.display()))?;
    let own = Bounds {
        devs: BTreeSet::from([top.dev()]),
        stops: BTreeSet::new(),
    };
    let bounds = bounds.unwrap_or(&own);
    let mut out = Walk::default();
    out.list.extend_from_slice(b".\0");
    out.totals.add_entry(&[], &top);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        cancel.check()?;
        let dir = root.join(&rel);
        let entries = fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let child = rel.join(entry.file_name());
            let abs = slash_path(&child);
            if filter.excludes(&abs) {
                continue;
            }
            let meta = entry
                .metadata()
                .with_context(|| format!("reading {}", entry.path().display()))?;
            if meta.file_type().is_socket() {
                out.sockets.push((child, meta));
                continue;
            }
            out.list.extend_from_slice(b"./");
            out.list.extend_from_slice(child.as_os_str().as_bytes());
            out.list.push(0);
            out.totals.add_entry(&abs, &meta);
            if bounds.enters(&abs, &meta) {
                stack.push(child);
            }
        }
    }
    Ok(out)
}

/// `rel` as a path from the tree's root: `/etc/fstab`.
pub fn slash_path(rel: &Path) -> Vec<u8> {
    let mut p = b"/".to_vec();
    p.extend_from_slice(rel.as_os_str().as_bytes());
    p
}

/// Whether a path from the root names a kernel or an initramfs in /boot.
pub fn boot_file(path: &[u8]) -> Option<(bool, &OsStr)> {
    let name = path.strip_prefix(b"/boot/")?;
    if name.contains(&b'/') {
        return None;
    }
    if let Some(v) = name.strip_prefix(b"vmlinuz-") {
        return Some((true, OsStr::from_bytes(v)));
    }
    name.strip_prefix(b"initrd.img-")
        .map(|v| (false, OsStr::from_bytes(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn walks_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("etc/skip/deep")).unwrap();
        fs::create_dir_all(r.join("boot")).unwrap();
        fs::write(r.join("etc/a"), vec![1u8; 5000]).unwrap();
        fs::write(r.join("etc/skip/deep/b"), b"b").unwrap();
        fs::write(r.join("boot/vmlinuz-6.1"), b"k").unwrap();
        fs::write(r.join("boot/initrd.img-6.1"), b"i").unwrap();
        symlink("/nowhere", r.join("etc/link")).unwrap();
        std::os::unix::net::UnixListener::bind(r.join("sock")).unwrap();
        let f = Filter::new(vec!["/etc/skip".into()]).unwrap();
        let w = walk(r, &f, None, &Cancel::new()).unwrap();
        let mut names: Vec<&[u8]> = w
            .list
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .collect();
        names.sort();
        let expect: Vec<&[u8]> = vec![
            b".",
            b"./boot",
            b"./boot/initrd.img-6.1",
            b"./boot/vmlinuz-6.1",
            b"./etc",
            b"./etc/a",
            b"./etc/link",
        ];
        assert_eq!(names, expect);
        assert_eq!(w.sockets.len(), 1);
        assert_eq!(w.totals.entries, 7);
        assert!(w.totals.bytes >= 5000);
        assert_eq!(w.totals.kernel().as_deref(), Some(OsStr::new("6.1")));
    }

    #[test]
    fn boot_files() {
        assert_eq!(
            boot_file(b"/boot/vmlinuz-6.1.0-9"),
            Some((true, OsStr::new("6.1.0-9")))
        );
        assert_eq!(
            boot_file(b"/boot/initrd.img-6.1"),
            Some((false, OsStr::new("6.1")))
        );
        assert_eq!(boot_file(b"/boot/grub/vmlinuz-1"), None);
        assert_eq!(boot_file(b"/etc/vmlinuz-1"), None);
    }
}
