//! The running host's layout, planned from its mount table and
//! `/sys/class/block` (not from fstab patterns): the filesystems that make
//! up the root tree (`/`, `/boot`, `/boot/efi`, `/home`… when they are on
//! the root's own disks), what is left out and why (pseudo, memory,
//! network, container and other disks' filesystems, bind mounts), the
//! source disk's partition table, each filesystem's type, UUID and label,
//! and a trailing swap partition. Pure functions over a [`HostView`].

mod classify;
pub mod mountinfo;
mod parts;
pub mod snapshot;
mod view;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::TableType;
use classify::{Class, class_of};
use mountinfo::Mount;
pub use parts::{BIOS_BOOT, HostPart};
pub use view::{HostView, LiveHost, parse_export};

/// What a filesystem lies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Partition `number` of `disk`.
    Partition { disk: String, number: u32 },
    /// A whole disk, with no partition table.
    WholeDisk,
    /// An md RAID array of these members.
    Md { level: String, members: Vec<String> },
    /// A device-mapper device (an LVM logical volume) over these.
    Mapper { name: String, over: Vec<String> },
}

/// One filesystem of the root tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFs {
    pub mount_point: PathBuf,
    /// The kernel's name of its device (`sda1`, `dm-0`, `md0`).
    pub device: String,
    pub storage: Storage,
    pub fs_type: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// Its GPT partition's unique GUID (`root=PARTUUID=` names it).
    pub part_uuid: Option<String>,
    /// The btrfs subvolume mounted (`/@home`).
    pub subvol: Option<String>,
}

/// Why a mount is not copied (its mount point stays, empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// A pseudo or in-memory filesystem (`proc`, `tmpfs`…).
    Pseudo(String),
    /// A network filesystem.
    Network(String),
    /// A container's or FUSE filesystem.
    Container(String),
    /// A filesystem on another disk than the root's.
    OtherDisk(String),
    /// The same filesystem again (a bind mount).
    Bind(PathBuf),
    /// Under a mount point left out.
    Inside(PathBuf),
}

/// A trailing swap partition of the root's disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub device: String,
    pub number: u32,
    pub bytes: u64,
}

/// The host's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLayout {
    /// The root of the tree (`/`).
    pub root: PathBuf,
    /// The disks under the root filesystem.
    pub disks: Vec<String>,
    /// The root disk's partition table (`None`: a whole-disk filesystem,
    /// or a table this tool does not write).
    pub table: Option<TableType>,
    /// The table's identifier (`PTUUID`: the MBR signature or GPT GUID).
    pub label_id: Option<String>,
    /// The partitions of the root's disk, when it is one partitioned disk.
    pub partitions: Vec<HostPart>,
    /// The root first, then by mount point.
    pub filesystems: Vec<HostFs>,
    pub skipped: Vec<(PathBuf, Skip)>,
    pub swap: Option<Swap>,
}

impl HostLayout {
    /// The root filesystem.
    pub fn root_fs(&self) -> &HostFs {
        &self.filesystems[0]
    }

    /// Mount points the copy keeps as empty directories.
    pub fn stops(&self) -> BTreeSet<PathBuf> {
        self.skipped.iter().map(|(p, _)| p.clone()).collect()
    }
}

/// The root of the host to bundle: `/`, or `$SNF_HOST_ROOT` (a system
/// mounted elsewhere, as a rescue system sees the installed one).
pub fn host_root() -> PathBuf {
    std::env::var_os("SNF_HOST_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Plan the layout of the tree mounted at `root` (`/` for the host).
pub fn plan(view: &dyn HostView, root: &Path) -> Result<HostLayout> {
    let text = view
        .mountinfo()
        .context("reading /proc/self/mountinfo (is /proc mounted?)")?;
    let mounts = visible(mountinfo::parse(&text), root);
    let Some(top) = mounts.iter().find(|m| m.point == root) else {
        bail!(
            "{} is not a mount point in /proc/self/mountinfo",
            root.display()
        );
    };
    let root_fs = match class_of(top) {
        Class::Block => resolve(view, top).with_context(|| {
            format!(
                "the root filesystem {} ({}): its block device is not in /sys",
                top.source, top.fstype
            )
        })?,
        other => bail!(
            "the root {} is {}: bundle a host whose root is a local disk's filesystem, or give its tree or an image instead",
            root.display(),
            other.describe(&top.fstype)
        ),
    };
    let disks = base_disks(view, &root_fs.device);
    let partitions = match disks.as_slice() {
        [disk] => parts::partitions_of(view, disk),
        _ => Vec::new(),
    };
    let mut layout = HostLayout {
        root: root.to_owned(),
        table: table_of(view, &disks),
        label_id: (disks.first().map(|d| view.blkid(d))).and_then(|id| id.get("PTUUID").cloned()),
        swap: trailing_swap(&partitions),
        partitions,
        disks,
        filesystems: vec![root_fs],
        skipped: Vec::new(),
    };
    for m in mounts.iter().filter(|m| m.point != root) {
        match admit(view, &layout, m) {
            Ok(fs) => layout.filesystems.push(fs),
            Err(why) => layout.skipped.push((m.point.clone(), why)),
        }
    }
    for fs in &mut layout.filesystems {
        fs.mount_point = rebase(&fs.mount_point, root);
    }
    for (p, _) in &mut layout.skipped {
        *p = rebase(p, root);
    }
    Ok(layout)
}

/// `path` as seen from the tree's root.
fn rebase(path: &Path, root: &Path) -> PathBuf {
    Path::new("/").join(path.strip_prefix(root).unwrap_or(path))
}

/// The mounts at or under `root` still visible: of several on one mount
/// point, the last; sorted by mount point.
fn visible(mounts: Vec<Mount>, root: &Path) -> Vec<Mount> {
    let mut last = std::collections::BTreeMap::new();
    for m in mounts.into_iter().filter(|m| m.point.starts_with(root)) {
        last.insert(m.point.clone(), m);
    }
    last.into_values().collect()
}

/// Whether the mount `m` is part of the root tree, or why not.
fn admit(view: &dyn HostView, layout: &HostLayout, m: &Mount) -> Result<HostFs, Skip> {
    let outer = layout.skipped.iter().find(|(p, _)| m.point.starts_with(p));
    if let Some((p, _)) = outer {
        return Err(Skip::Inside(rebase(p, &layout.root)));
    }
    match class_of(m) {
        Class::Block => {}
        Class::Pseudo => return Err(Skip::Pseudo(m.fstype.clone())),
        Class::Network => return Err(Skip::Network(m.fstype.clone())),
        Class::Container => return Err(Skip::Container(m.fstype.clone())),
    }
    let Some(fs) = resolve(view, m) else {
        return Err(Skip::OtherDisk(m.source.clone()));
    };
    let same = layout
        .filesystems
        .iter()
        .find(|f| f.device == fs.device && (f.fs_type != "btrfs" || f.subvol == fs.subvol));
    if let Some(f) = same {
        return Err(Skip::Bind(rebase(&f.mount_point, &layout.root)));
    }
    if fs.fs_type != "btrfs" && m.root != Path::new("/") {
        return Err(Skip::Bind(m.root.clone()));
    }
    let disks = base_disks(view, &fs.device);
    if !disks.iter().all(|d| layout.disks.contains(d)) {
        return Err(Skip::OtherDisk(fs.device));
    }
    Ok(fs)
}

/// The filesystem of a block-device mount, with blkid's facts.
fn resolve(view: &dyn HostView, m: &Mount) -> Option<HostFs> {
    let device = match m.dev {
        (0, _) => view.dev_name(&m.source)?,
        (maj, min) => last(&view.sys_link(&format!("dev/block/{maj}:{min}"))?),
    };
    let storage = storage_of(view, &device)?;
    let id = view.blkid(&device);
    let subvol = (m.fstype == "btrfs").then(|| m.root.to_string_lossy().into_owned());
    Some(HostFs {
        mount_point: m.point.clone(),
        storage,
        fs_type: m.fstype.clone(),
        uuid: id.get("UUID").cloned(),
        label: id.get("LABEL").cloned(),
        part_uuid: (id.get("PART_ENTRY_SCHEME").map(String::as_str) == Some("gpt"))
            .then(|| id.get("PART_ENTRY_UUID").cloned())
            .flatten(),
        subvol,
        device,
    })
}

fn last(link: &str) -> String {
    link.rsplit('/').next().unwrap_or(link).to_owned()
}

/// What the device `name` is, from `/sys/class/block/NAME`.
fn storage_of(view: &dyn HostView, name: &str) -> Option<Storage> {
    let base = format!("class/block/{name}");
    if let Some(n) = view.sys(&format!("{base}/partition")) {
        let link = view.sys_link(&base)?;
        let mut parts = link.rsplit('/');
        parts.next();
        return Some(Storage::Partition {
            disk: parts.next()?.to_owned(),
            number: n.parse().ok()?,
        });
    }
    let slaves = view.sys_dir(&format!("{base}/slaves"));
    if let Some(level) = view.sys(&format!("{base}/md/level")) {
        return Some(Storage::Md {
            level,
            members: slaves,
        });
    }
    if let Some(dm) = view.sys(&format!("{base}/dm/name")) {
        return Some(Storage::Mapper {
            name: dm,
            over: slaves,
        });
    }
    view.sys(&format!("{base}/dev")).map(|_| Storage::WholeDisk)
}

/// The disks under a device: itself, a partition's disk, or the disks
/// under an array's or mapping's members.
fn base_disks(view: &dyn HostView, name: &str) -> Vec<String> {
    let mut out = match storage_of(view, name) {
        Some(Storage::Partition { disk, .. }) => vec![disk],
        Some(Storage::Md { members, .. }) | Some(Storage::Mapper { over: members, .. }) => {
            members.iter().flat_map(|m| base_disks(view, m)).collect()
        }
        _ => vec![name.to_owned()],
    };
    out.sort();
    out.dedup();
    out
}

/// The partition table of the root's (first) disk.
fn table_of(view: &dyn HostView, disks: &[String]) -> Option<TableType> {
    let id = view.blkid(disks.first()?);
    match id.get("PTTYPE").map(String::as_str) {
        Some("gpt") => Some(TableType::Gpt),
        Some("dos") => Some(TableType::Msdos),
        _ => None,
    }
}

/// The last partition of the root's one disk, when it is a swap.
fn trailing_swap(partitions: &[HostPart]) -> Option<Swap> {
    let last = partitions.last()?;
    (last.content.as_deref() == Some("swap")).then(|| Swap {
        device: last.device.clone(),
        number: last.number,
        bytes: last.size,
    })
}

impl fmt::Display for HostFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {}",
            self.mount_point.display(),
            self.fs_type,
            self.device
        )?;
        match &self.storage {
            Storage::Partition { disk, number } => write!(f, " (partition {number} of {disk})")?,
            Storage::WholeDisk => write!(f, " (a whole disk)")?,
            Storage::Md { level, members } => write!(f, " ({level} of {})", members.join(", "))?,
            Storage::Mapper { name, over } => write!(f, " ({name} over {})", over.join(", "))?,
        }
        if let Some(s) = &self.subvol {
            write!(f, ", subvolume {s}")?;
        }
        if let Some(u) = &self.uuid {
            write!(f, ", UUID={u}")?;
        }
        if let Some(l) = &self.label {
            write!(f, ", LABEL={l}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Pseudo(t) => write!(f, "{t}: not on a disk"),
            Skip::Network(t) => write!(f, "{t}: a network filesystem"),
            Skip::Container(t) => write!(f, "{t}: a container's or FUSE filesystem"),
            Skip::OtherDisk(d) => write!(f, "on {d}, not the root's disk"),
            Skip::Bind(p) => write!(f, "a bind mount of {}", p.display()),
            Skip::Inside(p) => write!(f, "inside {}, left out", p.display()),
        }
    }
}

impl HostLayout {
    /// The layout, one line each: disks and table, filesystems, swap,
    /// mounts left out (the log and the UI show it).
    pub fn lines(&self) -> Vec<String> {
        let table = match self.table {
            Some(TableType::Gpt) => "a GPT partition table",
            Some(TableType::Msdos) => "an MBR partition table",
            None => "no partition table",
        };
        let mut out = vec![format!("disk {}: {table}", self.disks.join(", "))];
        out.extend(self.filesystems.iter().map(|f| f.to_string()));
        if let Some(s) = &self.swap {
            out.push(format!(
                "swap {} (partition {}, {} MiB)",
                s.device,
                s.number,
                s.bytes >> 20
            ));
        }
        let skipped = self
            .skipped
            .iter()
            .filter(|(_, w)| !matches!(w, Skip::Pseudo(_) | Skip::Inside(_)));
        out.extend(skipped.map(|(p, w)| format!("left out: {} ({w})", p.display())));
        out
    }
}
