//! Shrinking the disk in the helper VM: trailing swap and empty extended
//! partitions go, the filesystem of the last partition is shrunk offline to
//! its minimum plus [`HEADROOM`], the partition is cut to fit (through
//! [`crate::media::partition`], which keeps every GPT entry's identity),
//! the filesystem is grown to fill its partition exactly, and an EXTLINUX
//! boot sector on it is reinstalled, since shrinking may have moved
//! `ldlinux.sys`. The caller then exports only [`ShrinkOutcome::new_size`]
//! bytes.
//!
//! A swap partition is one with Linux's swap signature or, since the
//! BSDs' swap has none, a FreeBSD or NetBSD swap partition type on GPT.
//! ext2/3/4, btrfs and NTFS are shrunk; any other filesystem (XFS, UFS…)
//! gets a warning and the image is only trimmed after its last partition.
//! So is a last partition whose type is kept as it is
//! ([`crate::media::partition_type::KEPT`]: a Windows recovery partition),
//! which is neither shrunk nor moved.

use anyhow::{Context, Result};
use guestfs::Handle;

use super::appliance::{Appliance, describe, gerr};
use super::disk_io::Device;
use super::lvm;
use crate::media::blockio::PageCache;
use crate::media::partition::{MIB, Part, PartKind, PartitionTable, TableError, align_up};
use crate::media::partition_type;
use crate::progress::Reporter;

/// Free space left in a shrunk filesystem. The original's 8 MiB: enough
/// for an EXTLINUX reinstall and a first boot's logs; the deploying side
/// grows the last partition to the disk anyway.
pub const HEADROOM: u64 = 8 * MIB;

/// The disk as the helper VM shows it.
const DISK: &str = "/dev/sda";

/// A trailing swap partition that was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapRemoved {
    /// Its partition number.
    pub number: u32,
    /// Its size in MiB, rounded up.
    pub mib: u64,
}

impl SwapRemoved {
    /// The `SWAP` image property: `<number>:<MiB>`.
    pub fn property(&self) -> String {
        format!("{}:{}", self.number, self.mib)
    }
}

/// What shrinking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShrinkOutcome {
    /// The disk's size before, in bytes.
    pub old_size: u64,
    /// The bytes to export: the end of the last partition (plus the GPT
    /// backup area), aligned to 1 MiB.
    pub new_size: u64,
    /// The trailing swap partition that was removed.
    pub swap: Option<SwapRemoved>,
    /// The filesystem of the last partition, when one was found.
    pub filesystem: Option<String>,
}

impl ShrinkOutcome {
    /// Carry what the shrink did into the image: its exported size, and
    /// the removed swap as the `SWAP` property.
    pub fn apply(&self, meta: &mut super::metadata::Metadata, size: &mut u64) {
        *size = self.new_size;
        if let Some(swap) = self.swap {
            meta.insert("SWAP".into(), swap.property());
        }
    }

    /// Bytes the image lost.
    pub fn saved(&self) -> u64 {
        self.old_size - self.new_size
    }

    /// The original's `Image size is N MB` line, with the size before and
    /// the bytes saved.
    pub fn size_line(&self) -> String {
        format!(
            "Image size is {} MB (was {} MB; {} bytes saved)",
            self.new_size.div_ceil(crate::media::partition::MIB),
            self.old_size.div_ceil(crate::media::partition::MIB),
            self.saved()
        )
    }
}

/// Shrink the disk of a helper VM whose guest is not mounted.
pub fn shrink(vm: &Appliance, reporter: &dyn Reporter) -> Result<ShrinkOutcome> {
    let g = vm.handle();
    let old_size = device_size(g, DISK)?;
    let mut outcome = ShrinkOutcome {
        old_size,
        new_size: old_size,
        swap: None,
        filesystem: None,
    };
    let mut disk = PageCache::new(Device::new(g, DISK), old_size);
    let Some(mut table) = read_table(&mut disk, reporter)? else {
        return Ok(outcome);
    };
    outcome.swap = drop_trailing(g, &mut table)?;
    let Some(last) = table.last() else {
        reporter.warn("not shrinking the image: it has no partition left to shrink");
        return Ok(outcome);
    };
    let mut fs = vfs_type(g, last.number);
    let kept = partition_type::kept(last.ty);
    let resized = match kept {
        Some(_) => None,
        // What a LUKS container holds (LVM or a filesystem) is not seen.
        None if fs == lvm::LUKS => {
            let why = lvm::Refusal::Luks(part_dev(last.number));
            reporter.warn(&lvm::refusal_warning(&why));
            None
        }
        None if fs == LVM_PV => {
            let pv =
                lvm::shrink::shrink_pv(g, &part_dev(last.number), &mut table, &last, reporter)?;
            fs = lvm_outcome(pv, last.number, &mut outcome, reporter);
            None
        }
        None => shrink_last(g, &mut table, &last, &fs, reporter)?,
    };
    outcome.new_size = table.fitted_len(old_size);
    if let Some(kept) = kept {
        reporter.warn(&kept.warning(outcome.saved()));
    }
    let lvm = !g.lvs().unwrap_or_default().is_empty();
    write_table(g, &mut disk, &mut table, outcome.new_size, lvm)?;
    if lvm {
        lvm::shrink::activate(g, true)?;
    }
    if resized.is_some() {
        grow_fs(g, &part_dev(last.number), &fs)?;
        reinstall_extlinux(g, last.number, reporter)?;
    }
    outcome.filesystem = Some(fs).filter(|f| !f.is_empty());
    Ok(outcome)
}

/// What libguestfs calls an LVM physical volume.
const LVM_PV: &str = "LVM2_member";

/// Carry what shrinking the PV of partition `number` did into `outcome`
/// (its swap LV as a swap partition after it); returns the LV's filesystem.
fn lvm_outcome(
    pv: Option<lvm::shrink::PvShrunk>,
    number: u32,
    outcome: &mut ShrinkOutcome,
    reporter: &dyn Reporter,
) -> String {
    let Some(pv) = pv else {
        return String::new();
    };
    reporter.info(&format!("LVM: {}", pv.summary));
    if let Some(mib) = pv.swap_mib {
        outcome.swap = Some(SwapRemoved {
            number: number + 1,
            mib,
        });
    }
    pv.filesystem.unwrap_or_default()
}

/// The disk's partition table, or `None` (with a warning) when it has
/// none this module can shrink.
fn read_table(
    disk: &mut PageCache<Device<'_>>,
    reporter: &dyn Reporter,
) -> Result<Option<PartitionTable>> {
    match PartitionTable::read(disk) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::Unsupported(why)) => {
            reporter.warn(&format!("not shrinking the image: {why}"));
            Ok(None)
        }
        Err(e) => Err(e).context("reading the partition table"),
    }
}

/// Write the table for a disk of `len` bytes and make the kernel of the
/// helper VM see the new partitions (deactivating LVM first when the
/// disk has any).
fn write_table(
    g: &Handle,
    disk: &mut PageCache<Device<'_>>,
    table: &mut PartitionTable,
    len: u64,
    lvm: bool,
) -> Result<()> {
    table
        .write(disk, len)
        .context("writing the partition table")?;
    disk.flush_pages().context("writing the partition table")?;
    if lvm {
        // The kernel cannot re-read a table whose partitions hold active LVs.
        lvm::shrink::quiesce(g)?;
    }
    g.blockdev_rereadpt(DISK)
        .map_err(gerr("re-reading the partition table"))
}

fn device_size(g: &Handle, dev: &str) -> Result<u64> {
    let size = g
        .blockdev_getsize64(dev)
        .map_err(gerr(format!("reading the size of {dev}")))?;
    Ok(u64::try_from(size).unwrap_or(0))
}

fn part_dev(number: u32) -> String {
    format!("{DISK}{number}")
}

/// The filesystem on a partition, or `""` when none is recognised.
fn vfs_type(g: &Handle, number: u32) -> String {
    g.vfs_type(&part_dev(number)).unwrap_or_default()
}

/// Remove trailing swap and empty extended partitions; the last swap
/// removed (the first on the disk) is the one to recreate on deployment.
fn drop_trailing(g: &Handle, table: &mut PartitionTable) -> Result<Option<SwapRemoved>> {
    let mut swap = None;
    while let Some(last) = table.last() {
        match last.kind {
            PartKind::Extended => {}
            _ if vfs_type(g, last.number) == "swap" || partition_type::is_bsd_swap(last.ty) => {
                swap = Some(SwapRemoved {
                    number: last.number,
                    mib: last.size().div_ceil(MIB),
                })
            }
            _ => break,
        }
        table
            .remove(last.number)
            .with_context(|| format!("removing partition {}", last.number))?;
    }
    Ok(swap)
}

/// Shrink the filesystem of the last partition and cut the partition to
/// fit; returns the filesystem's new size, or `None` when it was left as it
/// was.
fn shrink_last(
    g: &Handle,
    table: &mut PartitionTable,
    last: &Part,
    fs: &str,
    reporter: &dyn Reporter,
) -> Result<Option<u64>> {
    let resized = shrink_fs(g, last, fs, reporter)?;
    if let Some(size) = resized {
        let end = align_up(last.start + size, MIB).min(last.end);
        table
            .resize(last.number, end)
            .context("resizing the last partition")?;
    }
    Ok(resized)
}

/// Shrink the filesystem of `part`; returns the size its partition needs
/// (filesystem plus headroom), or `None` when it was left as it was.
fn shrink_fs(g: &Handle, part: &Part, fs: &str, reporter: &dyn Reporter) -> Result<Option<u64>> {
    let dev = part_dev(part.number);
    match fs {
        "ext2" | "ext3" | "ext4" => shrink_ext(g, &dev).map(Some),
        "btrfs" => shrink_btrfs(g, &dev, part.size()),
        "ntfs" => shrink_ntfs(g, &dev, part.size()),
        _ => {
            let why = if fs.is_empty() {
                "could not detect its file system".to_owned()
            } else {
                format!("don't know how to shrink {fs} file systems")
            };
            reporter.warn(&format!(
                "Unable to shrink partition {}: {why}; the image is only trimmed after it",
                part.number
            ));
            Ok(None)
        }
    }
}

/// Forced check, `resize2fs -M`; returns the new size plus headroom.
pub(crate) fn shrink_ext(g: &Handle, dev: &str) -> Result<u64> {
    let opts = guestfs::E2fsckOptArgs {
        correct: Some(true),
        forceall: None,
    };
    if let Err(e) = g.e2fsck(dev, opts) {
        // e2fsck exits 1 when it fixed something; libguestfs reports that
        // as an error although the filesystem is now clean.
        let why = describe(&e);
        if !why.contains("MODIFIED") {
            anyhow::bail!("checking {dev} failed: {why}");
        }
    }
    g.resize2fs_M(dev)
        .map_err(gerr(format!("shrinking {dev} to its minimum size")))?;
    let info = g
        .tune2fs_l(dev)
        .map_err(gerr(format!("reading the superblock of {dev}")))?;
    let field = |k: &str| -> Result<u64> {
        info.get(k)
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("{dev}: no {k} in its superblock"))
    };
    Ok(field("Block count")? * field("Block size")? + HEADROOM)
}

/// The smallest a btrfs filesystem can be resized to (the kernel refuses
/// less with EINVAL).
const BTRFS_MIN_SIZE: u64 = 256 * MIB;

/// The minimum size libguestfs computes, in whole MiB.
fn minimum_size(g: &Handle, dev: &str) -> Result<u64> {
    let min = g
        .vfs_minimum_size(dev)
        .map_err(gerr(format!("computing the minimum size of {dev}")))?;
    Ok(align_up(u64::try_from(min).unwrap_or(0), MIB))
}

/// btrfs is measured and resized mounted (libguestfs's minimum size for
/// it asks the mounted filesystem).
pub(crate) fn shrink_btrfs(g: &Handle, dev: &str, current: u64) -> Result<Option<u64>> {
    with_mounted(g, dev, || {
        let size = minimum_size(g, dev)?.max(BTRFS_MIN_SIZE);
        if size + HEADROOM >= current {
            return Ok(None);
        }
        btrfs_resize(g, dev, Some(size))?;
        Ok(Some(size + HEADROOM))
    })
}

/// Resize the btrfs filesystem mounted at `/` (`None`: to fill its device).
fn btrfs_resize(g: &Handle, dev: &str, size: Option<u64>) -> Result<()> {
    let opts = guestfs::BtrfsFilesystemResizeOptArgs {
        size: size.map(|s| s as i64),
    };
    g.btrfs_filesystem_resize("/", opts)
        .map_err(gerr(format!("resizing the btrfs filesystem on {dev}")))
}

/// Run `f` with `dev` mounted on `/`, unmounting it whatever happens.
fn with_mounted<T>(g: &Handle, dev: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    g.mount(dev, "/").map_err(gerr(format!("mounting {dev}")))?;
    let result = f();
    let unmounted = g
        .umount("/", Default::default())
        .map_err(gerr(format!("unmounting {dev}")));
    let value = result?;
    unmounted?;
    Ok(value)
}

fn shrink_ntfs(g: &Handle, dev: &str, current: u64) -> Result<Option<u64>> {
    let size = minimum_size(g, dev)?;
    if size + HEADROOM >= current {
        return Ok(None);
    }
    let opts = guestfs::NtfsresizeOptArgs {
        size: Some(size as i64),
        force: None,
    };
    g.ntfsresize(dev, opts)
        .map_err(gerr(format!("shrinking the NTFS filesystem on {dev}")))?;
    Ok(Some(size + HEADROOM))
}

/// Grow the filesystem to fill its (now smaller) partition exactly.
pub(crate) fn grow_fs(g: &Handle, dev: &str, fs: &str) -> Result<()> {
    let dev = dev.to_owned();
    match fs {
        "ext2" | "ext3" | "ext4" => g
            .resize2fs(&dev)
            .map_err(gerr(format!("growing {dev} to its partition"))),
        "btrfs" => with_mounted(g, &dev, || btrfs_resize(g, &dev, None)),
        // NTFS marks itself for a check after a resize; ntfsresize then
        // refuses a second resize unless forced.
        "ntfs" => g
            .ntfsresize(
                &dev,
                guestfs::NtfsresizeOptArgs {
                    size: None,
                    force: Some(true),
                },
            )
            .map_err(gerr(format!("growing {dev} to its partition"))),
        _ => Ok(()),
    }
}

/// Where `extlinux --install` may have put `ldlinux.sys`.
const SYSLINUX_DIRS: &[&str] = &[
    "/boot/extlinux",
    "/boot/syslinux",
    "/boot",
    "/extlinux",
    "/syslinux",
    "/",
];

/// Whether a volume boot record is SYSLINUX/EXTLINUX's.
pub fn is_syslinux_vbr(vbr: &[u8]) -> bool {
    vbr.windows(8).any(|w| w == b"SYSLINUX" || w == b"EXTLINUX")
}

/// Reinstall EXTLINUX on a resized partition that boots with it: its boot
/// sector holds a map of `ldlinux.sys`'s blocks, which the shrink may have
/// moved.
fn reinstall_extlinux(g: &Handle, number: u32, reporter: &dyn Reporter) -> Result<()> {
    let dev = part_dev(number);
    let vbr = g
        .pread_device(&dev, 512, 0)
        .map_err(gerr(format!("reading the boot sector of {dev}")))?;
    if !is_syslinux_vbr(&vbr) {
        return Ok(());
    }
    with_mounted(g, &dev, || {
        let dir = SYSLINUX_DIRS.iter().find(|d| {
            let path = format!("{}/ldlinux.sys", d.trim_end_matches('/'));
            g.is_file(&path, Default::default()).unwrap_or(false)
        });
        match dir {
            Some(dir) => g
                .extlinux(dir)
                .map_err(gerr(format!("reinstalling EXTLINUX in {dir} on {dev}"))),
            None => {
                reporter.warn(&format!(
                    "{dev} has an EXTLINUX boot sector but no ldlinux.sys: the boot loader was not reinstalled"
                ));
                Ok(())
            }
        }
    })
}

#[cfg(test)]
#[path = "shrink_tests.rs"]
mod tests;
