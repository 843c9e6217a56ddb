//! BSD guests where libguestfs 1.48's inspection falls short:
//! * it reports OpenBSD on GPT as FreeBSD (hard-coded in its inspection):
//!   every FreeBSD root is mounted read-only and its files looked at
//!   ([`classify`]);
//! * it fails on a BSD disklabel inside an MBR slice (type 0xa5, 0xa6 or
//!   0xa9: it asks sfdisk for partition 5), although the helper VM's kernel
//!   shows the label's partitions as `/dev/sda5`… : those are listed, the
//!   UFS ones mounted read-only and classified by the same files; the
//!   root's `/etc/fstab` then says where the label's other partitions
//!   (`/var`, `/usr`, `/home`) are mounted ([`disklabel`]).

pub mod classify;
pub mod disklabel;

use anyhow::Result;
use guestfs::Handle;

use super::appliance::{Appliance, gerr};
use super::{Distro, OsInfo, ufs};
use crate::progress::Reporter;
pub use classify::{Classified, classify};

/// MBR partition types of the three BSDs' slices.
pub const SLICE_TYPES: &[i32] = &[0xa5, 0xa6, 0xa9];

/// The operating systems on the disk: libguestfs's inspection, with its
/// BSD mistakes corrected and the systems in BSD slices it cannot see.
pub fn inspect(vm: &mut Appliance, reporter: &dyn Reporter) -> Result<Vec<OsInfo>> {
    let roots = match vm.roots() {
        Ok(roots) => roots,
        Err(e) if bsd_slices(vm.handle()).is_empty() => return Err(e),
        // The disklabel is what libguestfs chokes on.
        Err(_) => Vec::new(),
    };
    if roots.is_empty() && !bsd_slices(vm.handle()).is_empty() {
        return in_slices(vm, reporter);
    }
    let mut found = Vec::with_capacity(roots.len());
    for root in roots {
        let mut os = vm.os_info(&root)?;
        if os.family == super::OsFamily::FreeBsd
            && let Some(c) = classify_device(vm, &root, reporter)?
        {
            apply(&mut os, c);
        }
        found.push(os);
    }
    Ok(found)
}

/// The BSD slices of an MBR disk (partition numbers).
pub fn bsd_slices(g: &Handle) -> Vec<i32> {
    if g.part_get_parttype("/dev/sda").ok().as_deref() != Some("msdos") {
        return Vec::new();
    }
    let parts = g.part_list("/dev/sda").unwrap_or_default();
    parts
        .iter()
        .map(|p| p.part_num)
        .filter(|&n| {
            g.part_get_mbr_id("/dev/sda", n)
                .is_ok_and(|id| SLICE_TYPES.contains(&id))
        })
        .collect()
}

/// The MBR slice a disklabel partition (`/dev/sda5`…) lies in, for
/// `ROOT_PARTITION`: the one BSD slice of the disk, when `partnum` is not
/// an entry of the MBR itself.
pub fn containing_slice(g: &Handle, partnum: i32) -> Option<i32> {
    let listed = g.part_list("/dev/sda").ok()?;
    if listed.iter().any(|p| p.part_num == partnum) {
        return None;
    }
    match bsd_slices(g).as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The systems on the UFS partitions of the disk's BSD disklabels.
fn in_slices(vm: &mut Appliance, reporter: &dyn Reporter) -> Result<Vec<OsInfo>> {
    let devices = vm
        .handle()
        .list_partitions()
        .map_err(gerr("listing the partitions"))?;
    // A slice whose label's `a` partition starts at its first sector shows
    // the same filesystem as that partition: only the label's are looked at.
    let slices = bsd_slices(vm.handle());
    let mut found = Vec::new();
    for dev in devices {
        let number = vm.handle().part_to_partnum(&dev).unwrap_or(0);
        if slices.contains(&number) {
            continue;
        }
        if let Some(c) = classify_device(vm, &dev, reporter)? {
            let mut mountpoints = vec![("/".to_owned(), dev.clone())];
            mountpoints.extend(label_mounts(vm, &dev, reporter)?);
            mountpoints.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
            let mut os = OsInfo {
                root: dev,
                mountpoints,
                ..OsInfo::default()
            };
            apply(&mut os, c);
            found.push(os);
        }
    }
    Ok(found)
}

/// The label partitions of the disk's BSD slices, as (slice, partition,
/// helper-VM device), in the kernel's order; empty, with a warning, when
/// the devices the kernel shows do not match that order.
fn label_devices(g: &Handle, reporter: &dyn Reporter) -> Vec<(i32, disklabel::Part, String)> {
    let mbr = g.part_list("/dev/sda").unwrap_or_default();
    let mut devices: Vec<(i32, String)> = (g.list_partitions().unwrap_or_default().into_iter())
        .filter_map(|d| Some((g.part_to_partnum(&d).ok()?, d)))
        .filter(|(n, _)| !mbr.iter().any(|p| p.part_num == *n))
        .collect();
    devices.sort();
    let slices = bsd_slices(g);
    let parts = mbr
        .iter()
        .filter(|p| slices.contains(&p.part_num))
        .flat_map(|p| {
            let label = g.pread_device("/dev/sda", 512, p.part_start as i64 + 512);
            let (start, size) = (p.part_start / 512, p.part_size / 512);
            let kind = g.part_get_mbr_id("/dev/sda", p.part_num).unwrap_or(0);
            let parts = disklabel::linux_parts(&label.unwrap_or_default(), kind, start, size);
            parts.into_iter().map(move |part| (p.part_num, part))
        });
    let found: Vec<_> = parts
        .zip(devices)
        .map(|((slice, part), (_, dev))| (slice, part, dev))
        .collect();
    let sizes_match = found.iter().all(|(_, part, dev)| {
        g.blockdev_getsize64(dev).ok() == i64::try_from(part.size * 512).ok()
    });
    if !sizes_match {
        reporter.warn("the disklabel's partitions do not match the devices the helper VM shows: only / is mounted");
        return Vec::new();
    }
    found
}

/// The filesystems the root's `/etc/fstab` mounts from other partitions
/// of its disklabel (`/var` on `/dev/ada0s1d`), as (mount point, device).
/// A root outside an MBR slice (OpenBSD on GPT keeps its disklabel inside
/// the GPT partition) has no such devices: each of those filesystems is
/// named in a warning.
fn label_mounts(
    vm: &mut Appliance,
    root: &str,
    reporter: &dyn Reporter,
) -> Result<Vec<(String, String)>> {
    let Some(flavor) = ufs::flavor(vm.handle(), root) else {
        return Ok(Vec::new());
    };
    let devices = label_devices(vm.handle(), reporter);
    let root_slice = devices.iter().find(|(.., dev)| dev == root).map(|d| d.0);
    ufs::mount(vm.handle(), flavor, root, "/", true)?;
    let fstab = crate::guest::read_text(vm, "/etc/fstab", crate::guest::CONFIG_LIMIT, reporter);
    vm.umount_all()?;
    let mounts = disklabel::fstab_mounts(&fstab?.unwrap_or_default());
    let Some(root_slice) = root_slice else {
        for m in &mounts {
            reporter.warn(&disklabel::unreachable(m, root));
        }
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for m in mounts {
        let slice = m.slice.unwrap_or(root_slice);
        let dev = devices
            .iter()
            .find(|(s, part, _)| *s == slice && part.letter == m.letter)
            .map(|(.., dev)| dev.clone());
        match dev {
            Some(dev) if ufs::flavor(vm.handle(), &dev).is_some() => {
                found.push((m.mountpoint, dev));
            }
            _ => reporter.warn(&format!(
                "{}: partition {} of slice {slice} in /etc/fstab is not a UFS partition of the disklabel; not mounted",
                m.mountpoint, m.letter
            )),
        }
    }
    Ok(found)
}

/// What the files of a UFS device say, mounted read-only for a moment;
/// `None` for a device that is not UFS or holds no BSD root.
fn classify_device(
    vm: &mut Appliance,
    dev: &str,
    reporter: &dyn Reporter,
) -> Result<Option<Classified>> {
    let Some(flavor) = ufs::flavor(vm.handle(), dev) else {
        return Ok(None);
    };
    if ufs::mount(vm.handle(), flavor, dev, "/", true).is_err() {
        reporter.warn(&format!("{dev} looks like UFS but does not mount; skipped"));
        return Ok(None);
    }
    let found = classify(vm, reporter);
    vm.umount_all()?;
    found
}

fn apply(os: &mut OsInfo, c: Classified) {
    os.family = c.flavor.family();
    os.distro = Distro::parse(c.flavor.family().as_str());
    os.product_name = c.product_name;
    os.major = c.major;
    os.minor = c.minor;
    if os.arch.is_empty() || os.arch == "unknown" {
        os.arch = c.arch;
    }
}
