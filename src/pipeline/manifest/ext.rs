//! The file manifest read on the host, from the exported raw image, when
//! every filesystem of the guest's tree is ext2/3/4 on a partition of its
//! disk (or on the whole disk). Under TCG the helper VM hashes at a small
//! fraction of the host's speed and each directory costs a round trip;
//! here the same listing is one pass over the file with `ext4-view`, a
//! reader written for untrusted filesystems (no panics, no endless loops),
//! which never asks the host kernel to mount the guest's data.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use ext4_view::{DirEntry, Ext4, Ext4Read, Metadata};
use guestfs::Handle;
use sha2::{Digest, Sha512};

use crate::cloud::local::history::{FileEntry, FileKind, Manifest};
use crate::cloud::pithos::hashmap::hex;
use crate::guest::OsInfo;
use crate::media::partition::PartitionTable;

/// More entries than this is taken for a directory loop in a damaged or
/// hostile filesystem, and refused.
const MAX_ENTRIES: usize = 5_000_000;

/// Where each filesystem of the guest's tree is: its mount point and its
/// partition number (`None`: the whole disk), shortest mount point first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtMounts(Vec<(String, Option<u32>)>);

/// The guest's mounts, when they can all be read on the host.
pub(super) fn ext_mounts(g: &Handle, os: &OsInfo) -> Option<ExtMounts> {
    let mut mounts = Vec::with_capacity(os.mountpoints.len());
    for (mountpoint, device) in &os.mountpoints {
        let part = partition_of(device)?;
        let fs = g.vfs_type(device).ok()?;
        if !matches!(fs.as_str(), "ext2" | "ext3" | "ext4") {
            return None;
        }
        let incompat = g.pread_device(device, 4, INCOMPAT_AT).ok()?;
        if !host_readable(u32::from_le_bytes(incompat.try_into().ok()?)) {
            return None;
        }
        mounts.push((mountpoint.clone(), part));
    }
    mounts.sort_by_key(|(m, _)| m.len());
    (mounts.first().is_some_and(|(m, _)| m == "/")).then_some(ExtMounts(mounts))
}

/// Where the superblock keeps `s_feature_incompat`.
const INCOMPAT_AT: i64 = 1024 + 0x60;

/// Whether `ext4-view` reads a filesystem with these incompatible
/// features: it needs the file type in directory entries, and refuses
/// compression, an external journal, meta block groups, multiple-mount
/// protection, inodes for extended attributes, data in directory entries
/// or in inodes, large directories, and anything it does not know.
/// Encryption and case folding are left to the helper VM too.
fn host_readable(incompat: u32) -> bool {
    const FILETYPE: u32 = 0x2;
    const READABLE: u32 = FILETYPE | 0x4 | 0x40 | 0x80 | 0x200 | 0x2000;
    incompat & FILETYPE != 0 && incompat & !READABLE == 0
}

/// The partition number of an appliance device on the one disk:
/// `/dev/sda3` → `Some(Some(3))`, `/dev/sda` → `Some(None)`; `None` for
/// anything else (LVM, md, another disk).
fn partition_of(device: &str) -> Option<Option<u32>> {
    let rest = device.strip_prefix("/dev/sda")?;
    if rest.is_empty() {
        return Some(None);
    }
    let n: u32 = rest.parse().ok()?;
    (n > 0).then_some(Some(n))
}

/// Every file of the image at `image`; and how many names were left out
/// (not UTF-8).
pub(super) fn read(image: &Path, mounts: &ExtMounts) -> Result<(Manifest, usize)> {
    let what = || format!("reading the file manifest from {}", image.display());
    let mut file = File::open(image).with_context(what)?;
    let len = file.metadata().with_context(what)?.len();
    let mut tree = Tree::default();
    for (mountpoint, part) in &mounts.0 {
        let (start, end) = match part {
            None => (0, len),
            Some(n) => partition_range(&mut file, *n).with_context(what)?,
        };
        let slice = Slice {
            file: file.try_clone().with_context(what)?,
            start,
            len: end - start,
        };
        let fs = Ext4::load(Box::new(slice))
            .map_err(|e| anyhow!("{}: the filesystem of {mountpoint}: {e}", what()))?;
        tree.mount(&fs, mountpoint)
            .map_err(|e| anyhow!("{}: in {mountpoint}: {e}", what()))?;
    }
    Ok((
        Manifest::new(tree.entries.into_values().collect()),
        tree.skipped,
    ))
}

/// Partition `n`'s byte range.
fn partition_range(file: &mut File, n: u32) -> Result<(u64, u64)> {
    let table = PartitionTable::read(file).map_err(|e| anyhow!("the partition table: {e}"))?;
    let part = table.partitions().into_iter().find(|p| p.number == n);
    let part = part.ok_or_else(|| anyhow!("no partition {n} in the partition table"))?;
    Ok((part.start, part.end))
}

/// A byte range of the image, as `ext4-view` reads a filesystem.
struct Slice {
    file: File,
    start: u64,
    len: u64,
}

impl Ext4Read for Slice {
    fn read(
        &mut self,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        let end = offset.checked_add(dst.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err("read past the end of the filesystem's partition".into());
        }
        self.file.seek(SeekFrom::Start(self.start + offset))?;
        self.file.read_exact(dst)?;
        Ok(())
    }
}

/// The listing being built, by path, mount by mount.
#[derive(Default)]
struct Tree {
    entries: BTreeMap<String, FileEntry>,
    skipped: usize,
    seen: usize,
}

impl Tree {
    /// Add `fs` mounted at `mountpoint`: it hides what the filesystems
    /// mounted before held under it, and its root stands for the mount
    /// point's directory (as a listing of the mounted tree shows it).
    fn mount(&mut self, fs: &Ext4, mountpoint: &str) -> Result<(), String> {
        let under = format!("{}/", mountpoint.trim_end_matches('/'));
        self.entries.retain(|p, _| !p.starts_with(&under));
        if mountpoint != "/" {
            let root = fs.metadata("/").map_err(|e| e.to_string())?;
            let entry = entry(fs, mountpoint.to_owned(), &root, None)?;
            self.entries.insert(mountpoint.to_owned(), entry);
        }
        let mut dirs = vec![(ext4_view::PathBuf::new("/"), Some(under))];
        while let Some((dir, prefix)) = dirs.pop() {
            for e in fs.read_dir(&dir).map_err(|e| e.to_string())? {
                let e = e.map_err(|e| e.to_string())?;
                if let Some(sub) = self.add(fs, &e, prefix.as_deref())? {
                    dirs.push(sub);
                }
            }
        }
        Ok(())
    }

    /// Add one directory entry under `prefix` (`None`: under a name that
    /// is not UTF-8, so left out too); a directory comes back to be walked.
    fn add(
        &mut self,
        fs: &Ext4,
        e: &DirEntry,
        prefix: Option<&str>,
    ) -> Result<Option<(ext4_view::PathBuf, Option<String>)>, String> {
        let name = e.file_name();
        if name == "." || name == ".." {
            return Ok(None);
        }
        self.seen += 1;
        if self.seen > MAX_ENTRIES {
            return Err(format!(
                "more than {MAX_ENTRIES} entries: a directory loop in a damaged filesystem?"
            ));
        }
        let meta = e.metadata().map_err(|err| err.to_string())?;
        let sub = meta.is_dir().then(|| e.path());
        let (Some(prefix), Ok(name)) = (prefix, name.as_str()) else {
            self.skipped += 1;
            return Ok(sub.map(|p| (p, None)));
        };
        let path = format!("{prefix}{name}");
        let entry = entry(fs, path.clone(), &meta, Some(e))?;
        self.entries.insert(path.clone(), entry);
        Ok(sub.map(|p| (p, Some(format!("{path}/")))))
    }
}

/// The manifest's line for one file.
fn entry(
    fs: &Ext4,
    path: String,
    meta: &Metadata,
    e: Option<&DirEntry>,
) -> Result<FileEntry, String> {
    let kind = kind_of(meta);
    let at = e.map(DirEntry::path);
    let link = match (&at, kind) {
        (Some(p), FileKind::Symlink) => Some(fs.read_link(p).map_err(|e| e.to_string())?),
        _ => None,
    };
    let sha512 = match (&at, kind) {
        (Some(p), FileKind::File) => Some(sha512(fs, p)?),
        _ => None,
    };
    Ok(FileEntry {
        path,
        kind,
        mode: u32::from(meta.mode()),
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.len(),
        link: link.map(|l| String::from_utf8_lossy(l.as_ref()).into_owned()),
        sha512,
    })
}

fn kind_of(meta: &Metadata) -> FileKind {
    let t = meta.file_type();
    match () {
        _ if t.is_dir() => FileKind::Dir,
        _ if t.is_symlink() => FileKind::Symlink,
        _ if t.is_char_dev() => FileKind::Char,
        _ if t.is_block_dev() => FileKind::Block,
        _ if t.is_fifo() => FileKind::Fifo,
        _ if t.is_socket() => FileKind::Socket,
        _ => FileKind::File,
    }
}

fn sha512(fs: &Ext4, path: &ext4_view::PathBuf) -> Result<String, String> {
    let mut file = fs.open(path).map_err(|e| e.to_string())?;
    let mut hasher = Sha512::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests;
