//! The new disk's partitions: one root filesystem for a tree; for a host
//! whose root tree lies on partitions of one disk, one partition per
//! source filesystem, numbered and typed as on the source, each keeping
//! its filesystem's type, UUID and label, plus the BIOS boot partition
//! copied as it is. Planning is pure: [`Layout::place`] turns sizes into
//! offsets, and the disk builder ([`super::disk`]) makes what it says.

use std::path::{Path, PathBuf};

use super::disk::{FsType, TableType};
use super::host::{HostFs, HostLayout, HostPart, Storage};

mod mixed;

const MIB: u64 = 1 << 20;
/// Linux's partition types, for a partition the source does not give one.
pub(super) const LINUX_GPT: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
pub(super) const LINUX_MBR: &str = "83";

/// A filesystem the builder makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFs {
    pub fs: FsType,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// Where its tree goes, shallowest first, with the btrfs subvolume
    /// mounted there (`None`: the filesystem's top).
    pub mounts: Vec<(PathBuf, Option<String>)>,
    /// Its source is an md array or a device-mapper volume the image does
    /// not have: fstab lines that name it by a device path
    /// (`/dev/mapper/…`, `/dev/VG/LV`, `/dev/mdN`) are rewritten to
    /// `UUID=` of the new filesystem.
    pub fstab_uuid: bool,
}

/// What a partition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Fs(NewFs),
    /// A copy of the source partition `/dev/DEVICE`, at its own offset
    /// where it fits (GRUB's boot sector points at it).
    Raw {
        device: String,
        start: u64,
        size: u64,
    },
    /// An MBR extended partition: the logical partitions (5 and up) that
    /// follow it in the layout lie inside it.
    Extended,
}

/// One partition of the new disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub number: u32,
    /// The type as sfdisk spells it.
    pub ty: String,
    pub part_uuid: Option<String>,
    pub name: Option<String>,
    pub bootable: bool,
    pub content: Content,
}

/// The new disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub table: TableType,
    /// The table's identifier (MBR signature or GPT disk GUID) to keep.
    pub label_id: Option<String>,
    /// Where the first partition may start (the end of the boot gap).
    pub first: u64,
    /// In disk order.
    pub slots: Vec<Slot>,
    /// The source disk whose boot code, boot gap (MBR) and BIOS boot
    /// partition (GPT) are copied.
    pub boot_from: Option<String>,
    /// Whether every partition keeps the source's number.
    pub numbers_kept: bool,
    /// What the image cannot keep of the source's layout.
    pub notes: Vec<String>,
}

impl Layout {
    /// One partition holding one filesystem (a tree, or a host whose
    /// layout cannot be kept partition for partition).
    pub fn single(table: TableType, fs: NewFs, part_uuid: Option<String>) -> Layout {
        let ty = match table {
            TableType::Gpt => LINUX_GPT,
            TableType::Msdos => LINUX_MBR,
        };
        Layout {
            table,
            label_id: None,
            first: MIB,
            slots: vec![Slot {
                number: 1,
                ty: ty.to_owned(),
                part_uuid,
                name: None,
                bootable: false,
                content: Content::Fs(fs),
            }],
            boot_from: None,
            numbers_kept: false,
            notes: Vec::new(),
        }
    }

    /// The layout of a host's image; `table` and `fs` are the choices for
    /// what the source does not say.
    pub fn of_host(h: &HostLayout, table: TableType, fs: FsType) -> Layout {
        match per_partition(h).or_else(|| mixed::per_filesystem(h, table)) {
            Some(l) => l,
            None => single_of_host(h, table, fs),
        }
    }

    /// The number a trailing swap `source` gets in the `SWAP` property:
    /// its own when the partitions keep theirs and it is free, else the
    /// one after the last.
    pub fn swap_number(&self, source: u32) -> u32 {
        let used = |n: u32| self.slots.iter().any(|s| s.number == n);
        let last = self.slots.iter().map(|s| s.number).max().unwrap_or(0);
        match self.numbers_kept && !used(source) {
            true => source,
            false => last + 1,
        }
    }

    /// The filesystems made, with their partition numbers.
    pub fn filesystems(&self) -> impl Iterator<Item = (u32, &NewFs)> {
        self.slots.iter().filter_map(|s| match &s.content {
            Content::Fs(f) => Some((s.number, f)),
            Content::Raw { .. } | Content::Extended => None,
        })
    }

    /// The partition that holds `/boot`'s files, and the path of `/boot`
    /// inside its filesystem (`/boot`, or empty when it is its own).
    pub fn boot_slot(&self) -> Option<(u32, &'static str)> {
        let holding = |p: &str| {
            self.filesystems()
                .find(|(_, f)| f.mounts.iter().any(|(m, _)| m == Path::new(p)))
        };
        match holding("/boot") {
            Some((n, _)) => Some((n, "")),
            None => holding("/").map(|(n, _)| (n, "/boot")),
        }
    }

    /// Each partition's offset and length for these sizes (one per slot,
    /// raw slots' own; an extended partition spans the logical ones after
    /// it, each of which starts a MiB on, past its EBR), and the disk's
    /// length (room for a GPT backup).
    pub fn place(&self, sizes: &[u64]) -> (Vec<(u64, u64)>, u64) {
        let mut cursor = self.first;
        let mut out = Vec::new();
        let mut extended = None;
        for (slot, &size) in self.slots.iter().zip(sizes) {
            let start = match slot.content {
                Content::Raw { start, .. } if start >= cursor => start,
                _ if extended.is_some() => (cursor + 512).div_ceil(MIB) * MIB,
                _ => cursor.div_ceil(MIB) * MIB,
            };
            if slot.content == Content::Extended {
                extended = Some(out.len());
                out.push((start, 0));
                cursor = start;
                continue;
            }
            out.push((start, size));
            cursor = start + size;
        }
        if let Some(i) = extended {
            out[i].1 = cursor - out[i].0;
        }
        (out, cursor.div_ceil(MIB) * MIB + MIB)
    }

    /// One line per partition, for the log.
    pub fn lines(&self) -> Vec<String> {
        let line = |s: &Slot| match &s.content {
            Content::Fs(f) => {
                let points: Vec<String> = (f.mounts.iter())
                    .map(|(m, v)| match v {
                        Some(v) => format!("{} (subvolume {v})", m.display()),
                        None => m.display().to_string(),
                    })
                    .collect();
                format!(
                    "image partition {}: {} {}",
                    s.number,
                    f.fs.name(),
                    points.join(", ")
                )
            }
            Content::Raw { device, .. } => {
                format!("image partition {}: a copy of {device}", s.number)
            }
            Content::Extended => format!(
                "image partition {}: extended, holding the logical partitions",
                s.number
            ),
        };
        self.slots.iter().map(line).collect()
    }
}

/// The host's root tree lies on partitions of one disk: one partition per
/// filesystem, as on the source. `None` otherwise (whole disk, md, LVM,
/// MBR logical partitions).
fn per_partition(h: &HostLayout) -> Option<Layout> {
    let table = h.table?;
    let [disk] = h.disks.as_slice() else {
        return None;
    };
    let mut notes = Vec::new();
    let mut slots: Vec<(u64, Slot)> = Vec::new();
    for f in &h.filesystems {
        let Storage::Partition { number, .. } = f.storage else {
            return None;
        };
        if table == TableType::Msdos && number > 4 {
            return None;
        }
        let part = h.partitions.iter().find(|p| p.number == number)?;
        let point = (f.mount_point.clone(), subvolume(f));
        match slots.iter_mut().find(|(_, s)| s.number == number) {
            Some((
                _,
                Slot {
                    content: Content::Fs(nf),
                    ..
                },
            )) => nf.mounts.push(point),
            _ => slots.push((part.start, slot_of(part, f, point, &mut notes))),
        }
    }
    let kept: Vec<u32> = slots.iter().map(|(_, s)| s.number).collect();
    slots.extend(rest_of_disk(h, table, &kept, true, &mut notes));
    slots.sort_by_key(|(start, _)| *start);
    Some(Layout {
        table,
        label_id: h.label_id.clone(),
        first: h.partitions.iter().map(|p| p.start).min()?.max(512),
        slots: slots.into_iter().map(|(_, s)| s).collect(),
        boot_from: Some(disk.clone()),
        numbers_kept: true,
        notes,
    })
}

/// The partitions of the root's one disk besides `kept`: a GPT BIOS boot
/// partition copied as it is (when `bios_boot`), with its start; the
/// others are noted as left out, except a trailing swap, an extended
/// partition and the members of the tree's md arrays and volumes.
fn rest_of_disk(
    h: &HostLayout,
    table: TableType,
    kept: &[u32],
    bios_boot: bool,
    notes: &mut Vec<String>,
) -> Vec<(u64, Slot)> {
    let trailing = h.swap.as_ref().map(|s| s.number);
    let members: Vec<&String> = (h.filesystems.iter())
        .flat_map(|f| match &f.storage {
            Storage::Md { members, .. } | Storage::Mapper { over: members, .. } => members.iter(),
            _ => [].iter(),
        })
        .collect();
    let mut out = Vec::new();
    for p in h.partitions.iter().filter(|p| !kept.contains(&p.number)) {
        if table == TableType::Gpt && p.is_bios_boot() && bios_boot {
            let content = Content::Raw {
                device: p.device.clone(),
                start: p.start,
                size: p.size,
            };
            out.push((p.start, part_slot(p, content)));
        } else if Some(p.number) != trailing && !p.is_extended() && !members.contains(&&p.device) {
            notes.push(format!(
                "partition {} of {} ({}) is not part of the root tree: the image leaves it out",
                p.number,
                h.disks.join(", "),
                p.content.as_deref().unwrap_or("no filesystem")
            ));
        }
    }
    out
}

/// The btrfs subvolume a filesystem's mount shows, unless the top.
pub(super) fn subvolume(f: &HostFs) -> Option<String> {
    f.subvol.clone().filter(|s| s != "/")
}

pub(super) fn part_slot(p: &HostPart, content: Content) -> Slot {
    Slot {
        number: p.number,
        ty: p.sfdisk_type(),
        part_uuid: p.uuid.clone(),
        name: p.name.clone(),
        bootable: p.bootable,
        content,
    }
}

pub(super) fn slot_of(
    p: &HostPart,
    f: &HostFs,
    point: (PathBuf, Option<String>),
    notes: &mut Vec<String>,
) -> Slot {
    let fs = kept_type(f, FsType::Ext4, notes);
    let content = Content::Fs(NewFs {
        fs,
        uuid: f.uuid.clone(),
        label: f.label.clone(),
        mounts: vec![point],
        fstab_uuid: false,
    });
    let mut slot = part_slot(p, content);
    if slot.ty.is_empty() {
        slot.ty = LINUX_MBR.to_owned();
    }
    slot
}

/// The type the image gives the filesystem `f`: its own where the builder
/// can make it, else `fallback`, with a note.
pub(super) fn kept_type(f: &HostFs, fallback: FsType, notes: &mut Vec<String>) -> FsType {
    if let (Some(FsType::Btrfs), Some(uuid)) = (FsType::named(&f.fs_type), &f.uuid) {
        notes.push(format!(
            "{} is btrfs, which cannot have the UUID of a filesystem attached to this machine: \
             the image's gets a new one, so change its fstab lines that name UUID={uuid}",
            f.mount_point.display()
        ));
    }
    FsType::named(&f.fs_type).unwrap_or_else(|| {
        notes.push(format!(
            "{} is {}, which the image cannot keep: it gets {} with the same UUID and label",
            f.mount_point.display(),
            f.fs_type,
            fallback.name()
        ));
        fallback
    })
}

/// The whole root tree in one filesystem with the root's identity.
fn single_of_host(h: &HostLayout, table: TableType, fs: FsType) -> Layout {
    let root = h.root_fs();
    let mut notes = Vec::new();
    let new = NewFs {
        fs: kept_type(root, fs, &mut notes),
        uuid: root.uuid.clone(),
        label: root.label.clone(),
        mounts: vec![(PathBuf::from("/"), subvolume(root))],
        fstab_uuid: false,
    };
    let mut l = Layout::single(h.table.unwrap_or(table), new, root.part_uuid.clone());
    if h.filesystems.len() > 1 {
        let others: Vec<String> = (h.filesystems[1..].iter())
            .map(|f| f.mount_point.display().to_string())
            .collect();
        let (are, their) = match others.len() {
            1 => ("is", "its fstab line names a filesystem"),
            _ => ("are", "their fstab lines name filesystems"),
        };
        l.notes.push(format!(
            "the image holds everything in one {} filesystem: {} {are} copied into it, not \
             made a separate filesystem (the root is not on plain partitions of one disk), \
             so {their} the image does not have (remove them, or mark them nofail)",
            l.filesystems().next().map_or("", |(_, f)| f.fs.name()),
            others.join(", ")
        ));
    }
    if h.table.is_none() {
        l.notes.push(format!(
            "the source's root disk has no partition table: the image gets {} one (--partition-table), its filesystem keeping the root's UUID and label",
            match table {
                TableType::Gpt => "a GPT",
                TableType::Msdos => "an MBR",
            }
        ));
    }
    l.notes.extend(notes);
    l.notes.push(
        "the source's boot loader is not copied: the image boots with EXTLINUX when /boot holds a kernel and its initramfs"
            .to_owned(),
    );
    l
}
