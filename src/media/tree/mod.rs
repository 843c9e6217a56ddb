//! Images made from a file tree: a directory, or a tarball streamed
//! through the filter. The builder writes a raw disk into the work
//! directory (partition table, one filesystem — for a host, one per source
//! filesystem — the tree copied in by GNU tar with owners, modes, links,
//! holes, devices, xattrs, ACLs and SELinux labels, the host's boot loader
//! or EXTLINUX when the tree has a kernel); the normal pipeline then runs
//! on that disk.

mod bootcode;
mod copy;
mod disk;
pub mod filter;
mod fstab;
pub mod host;
pub mod layout;
mod mkfs;
pub mod tarstream;
mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use disk::{FsType, TableType};
pub use filter::Filter;
pub use host::HostLayout;
pub use layout::Layout;
pub use tarstream::Compression;

use crate::process::Cancel;
use crate::progress::Reporter;

/// What kind of tree a source path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    Directory,
    Tarball(Compression),
    /// The running host's root tree, laid out by [`host::plan`].
    Host,
}

/// The kind of tree at `path`, from what it is: a directory, or a file
/// that starts like a tarball or a compressed stream. `None`: something
/// else (a disk image).
pub fn kind_of(path: &Path) -> Option<TreeKind> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        return Some(TreeKind::Directory);
    }
    if !meta.is_file() {
        return None;
    }
    let mut head = [0u8; 512];
    let mut file = std::fs::File::open(path).ok()?;
    let n = read_full(&mut file, &mut head).ok()?;
    Compression::sniff(&head[..n]).map(TreeKind::Tarball)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// How to make a disk of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSpec {
    pub kind: TreeKind,
    pub filter: Filter,
    pub table: TableType,
    pub fs: FsType,
    /// The host's layout, planned when the run starts (`TreeKind::Host`).
    pub host: Option<HostLayout>,
    /// Bundle a snapshot of the host's root (`--snapshot-root`).
    pub snapshot_root: bool,
}

impl TreeSpec {
    /// The new disk's partitions and filesystems: the host's where the
    /// tree code can make them, else the options'.
    pub fn layout(&self) -> Layout {
        match &self.host {
            Some(h) => Layout::of_host(h, self.table, self.fs),
            None => {
                let fs = layout::NewFs {
                    fs: self.fs,
                    uuid: None,
                    label: None,
                    mounts: vec![(PathBuf::from("/"), None)],
                    fstab_uuid: false,
                };
                Layout::single(self.table, fs, None)
            }
        }
    }

    /// Where a walk of the tree stops: the host's own filesystems only.
    fn bounds(&self, root: &Path) -> Result<Option<walk::Bounds>> {
        let Some(h) = &self.host else { return Ok(None) };
        let mut b = walk::Bounds::default();
        for fs in &h.filesystems {
            let p = root.join(fs.mount_point.strip_prefix("/").unwrap_or(&fs.mount_point));
            let meta = std::fs::metadata(&p).with_context(|| format!("reading {}", p.display()))?;
            b.devs.insert(meta.dev());
        }
        b.stops = (h.stops().iter())
            .map(|p| p.as_os_str().as_encoded_bytes().to_vec())
            .collect();
        Ok(Some(b))
    }
}

/// What a tree holds, once filtered: the cost of copying it.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    /// Files, directories, links… kept.
    pub entries: u64,
    /// Bytes of file data kept.
    pub bytes: u64,
    kernels: BTreeSet<OsString>,
    initrds: BTreeSet<OsString>,
    /// Entries and bytes by the device they are on.
    by_dev: BTreeMap<u64, (u64, u64)>,
}

impl Totals {
    fn add(&mut self, path: &[u8], size: u64) {
        self.entries += 1;
        self.bytes += size;
        match walk::boot_file(path) {
            Some((true, v)) => self.kernels.insert(v.to_owned()),
            Some((false, v)) => self.initrds.insert(v.to_owned()),
            None => false,
        };
    }

    fn add_entry(&mut self, path: &[u8], meta: &Metadata) {
        let size = match meta.is_file() {
            true => meta.size().min(meta.blocks() * 512),
            false => 0,
        };
        self.add(path, size);
        let d = self.by_dev.entry(meta.dev()).or_default();
        d.0 += 1;
        d.1 += size;
    }

    /// What of the tree lies on these devices.
    fn on(&self, devs: &[u64]) -> Totals {
        let mut t = Totals::default();
        for (entries, bytes) in devs.iter().filter_map(|d| self.by_dev.get(d)) {
            t.entries += entries;
            t.bytes += bytes;
        }
        t
    }

    /// The newest kernel version with an initramfs of the same version.
    pub fn kernel(&self) -> Option<OsString> {
        let mut both: Vec<&OsStr> = (self.kernels.intersection(&self.initrds))
            .map(OsString::as_os_str)
            .collect();
        both.sort_by(|a, b| version_cmp(a.as_encoded_bytes(), b.as_encoded_bytes()));
        both.last().map(|v| (*v).to_owned())
    }
}

/// Compare versions with runs of digits as numbers (`6.10` > `6.9`).
fn version_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    fn split(s: &[u8]) -> Vec<(u64, Vec<u8>)> {
        s.chunk_by(|x, y| x.is_ascii_digit() == y.is_ascii_digit())
            .map(|c| match c[0].is_ascii_digit() {
                true => (
                    std::str::from_utf8(c)
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                    Vec::new(),
                ),
                false => (0, c.to_vec()),
            })
            .collect()
    }
    split(a).cmp(&split(b))
}

/// Build the raw disk of the tree at `source` as `out`: measure the tree,
/// check the free space, partition, make the filesystem, copy, make it
/// bootable when it has a kernel. A failure leaves no mount and no loop
/// device; `out` is in the work directory, removed with it.
pub fn build(
    source: &Path,
    spec: &TreeSpec,
    out: &Path,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<disk::Built> {
    let input = copy::Input::open(source, spec, reporter, cancel)?;
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "making an image of the tree {} needs root (to mount its new filesystem): run as root",
            source.display()
        );
    }
    let totals = input.totals().clone();
    if totals.entries <= 1 {
        bail!(
            "the filter leaves nothing of {} to copy: check --filter",
            source.display()
        );
    }
    let workdir = out.parent().unwrap_or(Path::new("."));
    let layout = spec.layout();
    let geometries = geometries(source, spec, &layout, &totals)?;
    disk::check_space(workdir, &geometries)?;
    let mut image = disk::Image::create(out, &layout, &geometries)?;
    let source_loader = image.copy_boot_loader()?;
    let mnt = image.mount(&workdir.join("tree-mnt"))?;
    input.copy_into(mnt.path(), reporter, cancel)?;
    for note in fstab::rewrite(mnt.path(), &image.fstab_targets())? {
        reporter.info(&note);
    }
    let kernel = totals.kernel().filter(|_| !source_loader);
    let boot = match (&kernel, layout.boot_slot(), image.root_uuid()) {
        (Some(k), Some((n, dir)), Some(uuid)) => {
            disk::install_extlinux(mnt.path(), k, uuid, dir)?;
            Some(n)
        }
        _ => None,
    };
    mnt.unmount()?;
    image.finish(boot, source_loader)
}

/// The size of each partition: a filesystem's from what of the tree it
/// holds (all of it, unless the host's layout splits it), a raw copy's
/// own.
fn geometries(
    root: &Path,
    spec: &TreeSpec,
    layout: &Layout,
    totals: &Totals,
) -> Result<Vec<disk::Geometry>> {
    let split = spec.host.is_some() && layout.slots.len() > 1;
    let dev_of = |p: &Path| -> Result<u64> {
        let at = root.join(p.strip_prefix("/").unwrap_or(p));
        let meta = std::fs::metadata(&at).with_context(|| format!("reading {}", at.display()))?;
        Ok(meta.dev())
    };
    let mut out = Vec::new();
    for slot in &layout.slots {
        out.push(match &slot.content {
            layout::Content::Raw { size, .. } => disk::Geometry::raw(*size),
            layout::Content::Extended => disk::Geometry::raw(0),
            layout::Content::Fs(nf) if split => {
                let devs: Vec<u64> =
                    (nf.mounts.iter().map(|(p, _)| dev_of(p))).collect::<Result<_>>()?;
                disk::Geometry::for_totals(&totals.on(&devs), nf.fs)
            }
            layout::Content::Fs(nf) => disk::Geometry::for_totals(totals, nf.fs),
        });
    }
    Ok(out)
}

/// The path of a tree's entry from the root, as the filter sees it.
pub fn rooted(rel: &Path) -> PathBuf {
    Path::new("/").join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp(b"6.10.0-1-amd64", b"6.9.0-1-amd64"), Greater);
        assert_eq!(version_cmp(b"6.1.0-9", b"6.1.0-10"), Less);
        let mut t = Totals::default();
        t.add(b"/boot/vmlinuz-6.1.0-9", 1);
        t.add(b"/boot/vmlinuz-6.1.0-10", 1);
        t.add(b"/boot/initrd.img-6.1.0-9", 1);
        assert_eq!(t.kernel().as_deref(), Some(OsStr::new("6.1.0-9")));
        t.add(b"/boot/initrd.img-6.1.0-10", 1);
        assert_eq!(t.kernel().as_deref(), Some(OsStr::new("6.1.0-10")));
    }

    #[test]
    fn kinds_from_what_the_path_is() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(kind_of(dir.path()), Some(TreeKind::Directory));
        let img = dir.path().join("disk.img");
        std::fs::write(&img, vec![0u8; 4096]).unwrap();
        assert_eq!(kind_of(&img), None);
        let zst = dir.path().join("t.tar.zst");
        std::fs::write(&zst, [0x28, 0xb5, 0x2f, 0xfd, 0, 0]).unwrap();
        assert_eq!(kind_of(&zst), Some(TreeKind::Tarball(Compression::Zstd)));
        assert_eq!(kind_of(&dir.path().join("none")), None);
    }
}
