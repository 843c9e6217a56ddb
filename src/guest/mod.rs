//! The guest: what the helper VM shows of the disk's operating system.
//!
//! [`Guest`] is the file-level facade the metadata collector and the system
//! preparation tasks use; [`appliance::Appliance`] implements it over a real
//! libguestfs appliance and [`memfs::MemGuest`] over an in-memory tree for
//! unit tests. Inspection results travel as plain data ([`OsInfo`],
//! [`DiskInfo`]) so that code deciding things from them stays pure.

pub mod appliance;
pub mod bootloader;
pub mod bsd;
pub mod calls;
pub mod cancel;
mod disk_io;
pub mod firstboot;
pub mod kvm;
pub mod lookup;
pub mod lvm;
#[cfg(any(test, feature = "test-util"))]
pub mod memfs;
pub mod metadata;
pub mod os;
pub mod packages;
pub mod profile;
mod raw;
pub mod registry;
pub mod rpmdb;
pub mod secrets;
pub mod shrink;
pub mod tar_stream;
mod tree_out;
pub mod ufs;
pub mod windows;

use anyhow::Result;

pub use os::{Distro, OsFamily};

use crate::progress::Reporter;

/// Kind of a directory entry, as far as the tasks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Sockets, FIFOs, device nodes.
    Other,
}

/// One entry found by [`Guest::find`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEntry {
    /// Absolute guest path.
    pub path: String,
    pub kind: EntryKind,
    /// Size in bytes (of the link itself for a symlink).
    pub size: u64,
}

/// File-level access to the mounted guest. Paths are absolute guest paths.
/// The reading half serves metadata collection; the writing half serves the
/// system preparation tasks, which run on a read-write mount.
pub trait Guest {
    /// The whole content of a regular file (symlinks are followed).
    fn read_file(&mut self, path: &str) -> Result<Vec<u8>>;
    /// Whether anything exists at `path` (symlinks are followed).
    fn exists(&mut self, path: &str) -> Result<bool>;
    /// Whether `path` is a regular file (symlinks are followed).
    fn is_file(&mut self, path: &str) -> Result<bool>;
    /// Whether `path` is a directory (symlinks are followed).
    fn is_dir(&mut self, path: &str) -> Result<bool>;
    /// The names in a directory (no `.`/`..`), with the kind of each entry
    /// itself (a symlink is reported as a symlink).
    fn read_dir(&mut self, path: &str) -> Result<Vec<(String, EntryKind)>>;
    /// The target of a symlink, as stored.
    fn read_link(&mut self, path: &str) -> Result<String>;

    /// The permission bits of `path` (`st_mode & 0o7777`, symlinks
    /// followed), or `None` when the implementation cannot tell. Slackware
    /// enables a boot service by making its script executable, so metadata
    /// collection needs this there.
    fn mode(&mut self, path: &str) -> Result<Option<u32>> {
        let _ = path;
        Ok(None)
    }

    /// The guest's Windows registry, when this facade can reach it (the
    /// helper VM can; a dry run's staged view lends its guest's).
    fn registry(&mut self) -> Option<&mut dyn registry::Registry> {
        None
    }

    /// The size in bytes of `path` itself (symlinks not followed).
    fn size(&mut self, path: &str) -> Result<u64>;
    /// Everything below the directory `dir`, recursively: absolute path,
    /// kind (symlinks not followed) and size of each entry.
    fn find(&mut self, dir: &str) -> Result<Vec<FoundEntry>>;
    /// The UUID of the filesystem on an appliance device (`/dev/sda1`), or
    /// an empty string when it has none.
    fn fs_uuid(&mut self, device: &str) -> Result<String>;

    /// Replace the content of `path` (created when missing; an existing
    /// file keeps its owner and mode).
    fn write(&mut self, path: &str, content: &[u8]) -> Result<()>;
    /// Empty a regular file.
    fn truncate(&mut self, path: &str) -> Result<()>;
    /// Remove `path` and, for a directory, everything below it.
    fn remove_all(&mut self, path: &str) -> Result<()>;
    /// Create a directory and its missing parents.
    fn mkdir_p(&mut self, path: &str) -> Result<()>;

    /// Call `each` with the path and content of every regular file below
    /// `dir` of at most `cap` bytes, except below the children of `dir`
    /// named in `prune`; no symlink is followed. Returns the directories
    /// left out unread because they are too big. The default finds the
    /// files and reads them one by one; the helper VM sends whole trees.
    fn each_small_file(
        &mut self,
        dir: &str,
        cap: u64,
        prune: &[&str],
        each: &mut dyn FnMut(&str, &[u8]) -> Result<()>,
    ) -> Result<Vec<String>> {
        let base = dir.trim_end_matches('/');
        let pruned: Vec<String> = prune.iter().map(|n| format!("{base}/{n}/")).collect();
        for e in self.find(dir)? {
            let in_pruned = pruned.iter().any(|p| e.path.starts_with(p));
            if e.kind == EntryKind::File && e.size <= cap && !in_pruned {
                let data = self.read_file(&e.path)?;
                each(&e.path, &data)?;
            }
        }
        Ok(Vec::new())
    }

    /// The size in bytes of what `path` leads to (symlinks followed).
    fn file_size(&mut self, path: &str) -> Result<u64>;

    /// The content of a regular file of at most `limit` bytes; a bigger
    /// one is a [`TooLarge`] error and is not read.
    fn read_limited(&mut self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let size = self.file_size(path)?;
        if size > limit {
            return Err(TooLarge::new(path, size, limit).into());
        }
        let data = self.read_file(path)?;
        if data.len() as u64 > limit {
            return Err(TooLarge::new(path, data.len() as u64, limit).into());
        }
        Ok(data)
    }

    /// A file of at most `limit` bytes as text (lossy UTF-8: guest files
    /// are not always UTF-8).
    /// Copy a regular file of at most `limit` bytes to `dest` on the
    /// host; a bigger one is a [`TooLarge`] error and is not copied.
    fn download(&mut self, path: &str, dest: &std::path::Path, limit: u64) -> Result<()> {
        let data = self.read_limited(path, limit)?;
        std::fs::write(dest, data).map_err(|e| anyhow::anyhow!("writing {}: {e}", dest.display()))
    }

    fn read_to_string(&mut self, path: &str, limit: u64) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.read_limited(path, limit)?).into_owned())
    }
}

/// The most the product reads of a guest configuration file (os-release,
/// passwd, fstab, sshd_config, cloud.cfg, boot loader configurations…).
pub const CONFIG_LIMIT: u64 = 1 << 20;
/// The most it reads of a guest database that grows with the system
/// (dpkg's status file).
pub const DATABASE_LIMIT: u64 = 64 << 20;

/// A guest file too big to read: skipped with a warning, never loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} is {size} bytes, more than the {limit} bytes read of such a file")]
pub struct TooLarge {
    pub path: String,
    pub size: u64,
    pub limit: u64,
}

impl TooLarge {
    fn new(path: &str, size: u64, limit: u64) -> Self {
        Self {
            path: path.to_owned(),
            size,
            limit,
        }
    }
}

/// Whether `path` leads to a regular file (absent for dangling links and
/// loops: `exists` answers `false` for those where `is_file` may fail).
pub fn is_file(g: &mut dyn Guest, path: &str) -> Result<bool> {
    Ok(g.exists(path)? && g.is_file(path)?)
}

/// The text of a regular file of at most `limit` bytes, or `None` when
/// there is no regular file at `path` or it is bigger (which `reporter`
/// is told, naming the file).
pub fn read_text(
    g: &mut dyn Guest,
    path: &str,
    limit: u64,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    if !is_file(g, path)? {
        return Ok(None);
    }
    match g.read_to_string(path, limit) {
        Ok(text) => Ok(Some(text)),
        Err(e) => match e.downcast_ref::<TooLarge>() {
            Some(big) => {
                reporter.warn(&format!(
                    "Ignoring {}: {} bytes, over the {} byte limit",
                    big.path, big.size, big.limit
                ));
                Ok(None)
            }
            None => Err(e),
        },
    }
}

/// What inspection found about the one operating system on the disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsInfo {
    /// The root filesystem's device in the appliance (`/dev/sda1`).
    pub root: String,
    /// libguestfs's type: Linux, Windows, the BSDs, GNU/Hurd…
    pub family: OsFamily,
    /// libguestfs's distribution: Debian, Ubuntu, Fedora…, or unknown.
    pub distro: Distro,
    /// The product name (`12.15` for Debian, `Ubuntu 22.04.3 LTS`…).
    pub product_name: String,
    pub major: i32,
    pub minor: i32,
    pub arch: String,
    /// Mount points and their devices, shortest mount point first.
    pub mountpoints: Vec<(String, String)>,
}

impl OsInfo {
    /// The system's name: the distribution's, else the family's (`debian`,
    /// `freebsd`).
    pub fn display_name(&self) -> &str {
        match self.distro {
            Distro::Unknown => self.family.as_str(),
            ref distro => distro.as_str(),
        }
    }
}

/// What the appliance found about the disk itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskInfo {
    /// `msdos`, `gpt`, or `None` for a disk without a partition table.
    pub partition_table: Option<String>,
    /// The first 512 bytes of the disk.
    pub boot_sector: Vec<u8>,
    /// The partition number of the root filesystem, when it is a
    /// partition; for a root on LVM, of the partition holding the root
    /// LV's physical volume.
    pub root_partition: Option<i32>,
    /// The root LV (`vg0/root`), when the root filesystem is on LVM.
    pub root_lv: Option<String>,
    /// The disk's LVM layout (empty without LVM).
    pub lvm: lvm::Layout,
    /// The disk's size in bytes.
    pub size: u64,
}
