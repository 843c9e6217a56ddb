//! A host whose root tree is not all on primary (or GPT) partitions of
//! one disk: md arrays, LVM logical volumes, MBR logical partitions, or a
//! mix of these with plain partitions. Each filesystem still gets its own
//! partition with its type, UUID and label. Plain partitions of the
//! root's one disk keep their numbers, types and flags; the others get
//! the next numbers (GPT), free primary numbers (MBR), or logical numbers
//! in an extended partition (MBR, when the source's were logical or the
//! primaries run out).

use super::{
    Content, LINUX_GPT, LINUX_MBR, Layout, NewFs, Slot, kept_type, rest_of_disk, slot_of, subvolume,
};
use crate::media::tree::disk::{FsType, TableType};
use crate::media::tree::host::{HostFs, HostLayout, HostPart, Storage};

const MIB: u64 = 1 << 20;

/// A filesystem's partition while planning.
struct Planned {
    device: String,
    /// Where the source's plain partition starts (kept partitions).
    start: Option<u64>,
    /// The source's logical partition number (MBR, 5 and up).
    logical: Option<u32>,
    slot: Slot,
}

/// The layout with one partition per filesystem; `None` when a filesystem
/// is a whole disk, or an MBR has no primary left for the extended one.
/// `option` is the table when the tree spans several disks.
pub(super) fn per_filesystem(h: &HostLayout, option: TableType) -> Option<Layout> {
    if (h.filesystems.iter()).any(|f| f.storage == Storage::WholeDisk) {
        return None;
    }
    let one_disk = match h.disks.as_slice() {
        [d] => h.table.map(|t| (d.clone(), t)),
        _ => None,
    };
    let table = one_disk.as_ref().map_or(option, |(_, t)| *t);
    let mut notes = Vec::new();
    let planned = plan_each(h, table, one_disk.is_some(), &mut notes);
    let (kept, new): (Vec<Planned>, Vec<Planned>) =
        planned.into_iter().partition(|p| p.start.is_some());
    let mut slots: Vec<(u64, Slot)> = (kept.into_iter())
        .map(|p| (p.start.unwrap_or(0), p.slot))
        .collect();
    let whole_partitions = (h.filesystems.iter())
        .all(|f| matches!(f.storage, Storage::Partition { .. }))
        && one_disk.is_some();
    let numbers: Vec<u32> = slots.iter().map(|(_, s)| s.number).collect();
    slots.extend(rest_of_disk(
        h,
        table,
        &numbers,
        whole_partitions,
        &mut notes,
    ));
    slots.sort_by_key(|(start, _)| *start);
    let mut slots: Vec<Slot> = slots.into_iter().map(|(_, s)| s).collect();
    let renumbered = number(h, table, &mut slots, new, &mut notes)?;
    let boot_from = one_disk.filter(|_| whole_partitions).map(|(d, _)| d);
    let first = loader_gap(h, boot_from.is_some(), &mut notes)?;
    Some(Layout {
        table,
        label_id: one_disk_label(h, table),
        first,
        slots,
        numbers_kept: boot_from.is_some() && !renumbered,
        boot_from,
        notes,
    })
}

/// A partition for each filesystem (a second mount of one, a btrfs
/// subvolume, joins its partition): kept as on the source where it can
/// be (`keep`: the tree is on one partitioned disk), else new.
fn plan_each(
    h: &HostLayout,
    table: TableType,
    keep: bool,
    notes: &mut Vec<String>,
) -> Vec<Planned> {
    let mut planned: Vec<Planned> = Vec::new();
    for f in &h.filesystems {
        let point = (f.mount_point.clone(), subvolume(f));
        if let Some(Content::Fs(nf)) = (planned.iter_mut())
            .find(|p| p.device == f.device)
            .map(|p| &mut p.slot.content)
        {
            nf.mounts.push(point);
            continue;
        }
        let part = keep.then(|| keepable(h, table, f)).flatten();
        planned.push(match part {
            Some(part) => Planned {
                device: f.device.clone(),
                start: Some(part.start),
                logical: None,
                slot: slot_of(part, f, point, notes),
            },
            None => new_partition(table, f, point, notes),
        });
    }
    planned
}

/// Where the first partition may start: after the boot gap when the
/// source's loader is copied, else at 1 MiB (saying why it is not).
fn loader_gap(h: &HostLayout, copied: bool, notes: &mut Vec<String>) -> Option<u64> {
    if copied {
        return Some(h.partitions.iter().map(|p| p.start).min()?.max(512));
    }
    notes.push(
        "the source's boot loader is not copied (the root tree is on md or LVM, which the \
         image does not have): the image boots with EXTLINUX when /boot holds a kernel and \
         its initramfs"
            .to_owned(),
    );
    Some(MIB)
}

/// The source's table identifier, kept when the image has its table.
fn one_disk_label(h: &HostLayout, table: TableType) -> Option<String> {
    (h.disks.len() == 1 && h.table == Some(table))
        .then(|| h.label_id.clone())
        .flatten()
}

/// The source partition `f` is on, when the image keeps it as it is: a
/// GPT partition, or an MBR primary one.
fn keepable<'a>(h: &'a HostLayout, table: TableType, f: &HostFs) -> Option<&'a HostPart> {
    let Storage::Partition { number, .. } = f.storage else {
        return None;
    };
    if table == TableType::Msdos && number > 4 {
        return None;
    }
    h.partitions.iter().find(|p| p.number == number)
}

/// A partition for a filesystem on md, LVM or an MBR logical partition,
/// numbered later.
fn new_partition(
    table: TableType,
    f: &HostFs,
    point: (std::path::PathBuf, Option<String>),
    notes: &mut Vec<String>,
) -> Planned {
    let volume = matches!(f.storage, Storage::Md { .. } | Storage::Mapper { .. });
    let ty = match table {
        TableType::Gpt => LINUX_GPT,
        TableType::Msdos => LINUX_MBR,
    };
    let logical = match f.storage {
        Storage::Partition { number, .. } if number > 4 => Some(number),
        _ => None,
    };
    let nf = NewFs {
        fs: kept_type(f, FsType::Ext4, notes),
        uuid: f.uuid.clone(),
        label: f.label.clone(),
        mounts: vec![point],
        fstab_uuid: volume,
    };
    Planned {
        device: f.device.clone(),
        start: None,
        logical,
        slot: Slot {
            number: 0,
            ty: ty.to_owned(),
            part_uuid: None,
            name: None,
            bootable: false,
            content: Content::Fs(nf),
        },
    }
}

/// Number the new partitions and append them to `slots`: GPT after the
/// highest kept number; MBR in free primaries, or as logical partitions
/// in an extended one. Whether a logical partition changed its number;
/// `None` when an MBR has no primary left for the extended partition.
fn number(
    h: &HostLayout,
    table: TableType,
    slots: &mut Vec<Slot>,
    mut new: Vec<Planned>,
    notes: &mut Vec<String>,
) -> Option<bool> {
    new.sort_by_key(|p| p.logical.unwrap_or(u32::MAX));
    let used: Vec<u32> = slots.iter().map(|s| s.number).collect();
    let free: Vec<u32> = (1..=4).filter(|n| !used.contains(n)).collect();
    let logical = table == TableType::Msdos
        && (new.len() > free.len() || new.iter().any(|p| p.logical.is_some()));
    let mut numbers: Box<dyn Iterator<Item = u32>> = match (table, logical) {
        (TableType::Gpt, _) => Box::new(used.iter().max().map_or(1, |n| n + 1)..),
        (TableType::Msdos, false) => Box::new(free.into_iter()),
        (TableType::Msdos, true) => {
            slots.push(extended(h, &free)?);
            Box::new(5..)
        }
    };
    let mut renumbered = false;
    for mut p in new {
        p.slot.number = numbers.next()?;
        renumbered |= p.logical.is_some_and(|n| n != p.slot.number);
        notes.push(moved_note(h, &p));
        slots.push(p.slot);
    }
    Some(renumbered)
}

/// The extended partition: the source's number when it is free, else the
/// first free primary.
fn extended(h: &HostLayout, free: &[u32]) -> Option<Slot> {
    let source = h.partitions.iter().find(|p| p.is_extended());
    let number = source
        .map(|p| p.number)
        .filter(|n| free.contains(n))
        .or_else(|| free.first().copied())?;
    Some(Slot {
        number,
        ty: "5".to_owned(),
        part_uuid: None,
        name: None,
        bootable: false,
        content: Content::Extended,
    })
}

/// Where a filesystem that was not a plain partition went.
fn moved_note(h: &HostLayout, p: &Planned) -> String {
    let f = h.filesystems.iter().find(|f| f.device == p.device);
    let what = f.map_or_else(String::new, |f| f.mount_point.display().to_string());
    let rewrite = match &p.slot.content {
        Content::Fs(nf) if nf.fstab_uuid => {
            ", and fstab lines that name it by a /dev path become UUID= of the image's filesystem"
        }
        _ => "",
    };
    format!(
        "{what} ({}) becomes partition {} of the image{rewrite}",
        p.device, p.slot.number
    )
}
