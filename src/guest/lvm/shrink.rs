//! Shrinking a disk whose last partition is an LVM physical volume: a
//! trailing swap LV goes (recorded like a swap partition), the filesystem
//! of the LV that ends last is shrunk (ext2/3/4, btrfs) with its LV, the
//! PV is cut after its last allocated extent (which gives back the volume
//! group's free space at its end even when no filesystem could shrink),
//! and the caller cuts the partition. A layout [`Layout::refusal`] names
//! is left whole, with one warning: never half shrunk.

use anyhow::Result;
use guestfs::Handle;

use super::{Layout, Lv};
use crate::guest::appliance::gerr;
use crate::guest::shrink::{HEADROOM, grow_fs, shrink_btrfs, shrink_ext};
use crate::media::partition::{MIB, Part, PartitionTable, align_up};
use crate::progress::Reporter;

/// What shrinking the PV did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PvShrunk {
    /// The size of the swap LV removed, in MiB.
    pub swap_mib: Option<u64>,
    /// The filesystem of the LV that was shrunk.
    pub filesystem: Option<String>,
    /// One line saying what was done.
    pub summary: String,
}

/// Deactivate every volume group once udev is done with the disk: writing
/// the partition table makes udev probe the PV again, and LVM's rules then
/// activate its VG, which keeps the kernel from re-reading the table.
pub fn quiesce(g: &Handle) -> Result<()> {
    g.debug("sh", &["udevadm settle"])
        .map_err(gerr("waiting for udev"))?;
    activate(g, false)
}

/// Make every volume group's LVs visible to the helper VM.
pub fn activate(g: &Handle, on: bool) -> Result<()> {
    g.vg_activate_all(on)
        .map_err(gerr("activating the LVM volume groups"))
}

/// Shrink the PV `pv` (the device of the last partition, `last`) and cut
/// the partition in `table`; `None` when it was left as it was.
pub fn shrink_pv(
    g: &Handle,
    pv: &str,
    table: &mut PartitionTable,
    last: &Part,
    reporter: &dyn Reporter,
) -> Result<Option<PvShrunk>> {
    activate(g, true)?;
    let layout = Layout::read(g)?;
    if let Some(why) = layout.refusal(pv) {
        reporter.warn(&super::refusal_warning(&why));
        return Ok(None);
    }
    let mut done = PvShrunk::default();
    let mut what = Vec::new();
    if let Some(swap) = trailing_swap(&layout, pv) {
        g.lvremove(&swap.device())
            .map_err(gerr(format!("removing the swap volume {}", swap.path())))?;
        done.swap_mib = Some(swap.size.div_ceil(MIB));
        what.push(format!("removed the swap volume {}", swap.path()));
    }
    let layout = layout.reread(g)?;
    if let Some(lv) = layout.by_end_on(pv).first() {
        if let Some(size) = shrink_lv(g, lv, reporter)? {
            what.push(format!("shrank {} to {} MiB", lv.path(), size / MIB));
        }
        done.filesystem = Some(lv.fs.clone()).filter(|f| !f.is_empty());
    }
    let layout = layout.reread(g)?;
    let Some(info) = layout.pvs.iter().find(|p| p.name == pv) else {
        return Ok(None);
    };
    let size = info.pe_start + layout.used_end(pv) * info.extent;
    g.pvresize_size(pv, size as i64)
        .map_err(gerr(format!("shrinking the physical volume {pv}")))?;
    what.push(format!(
        "cut the physical volume {pv} to {} MiB",
        size.div_ceil(MIB)
    ));
    let end = align_up(last.start + size, MIB).min(last.end);
    table
        .resize(last.number, end)
        .map_err(|e| anyhow::anyhow!("resizing partition {}: {e}", last.number))?;
    done.summary = what.join(", ");
    Ok(Some(done))
}

/// The swap LV that ends last on `pv`, if the LV ending last is swap.
pub fn trailing_swap<'a>(layout: &'a Layout, pv: &str) -> Option<&'a Lv> {
    layout
        .by_end_on(pv)
        .into_iter()
        .next()
        .filter(|l| l.fs == "swap")
}

/// Shrink the filesystem on `lv` and the LV to fit, then grow the
/// filesystem to fill it; returns the LV's new size, or `None` when it was
/// left as it was (with a warning for a filesystem it cannot shrink).
fn shrink_lv(g: &Handle, lv: &Lv, reporter: &dyn Reporter) -> Result<Option<u64>> {
    let dev = lv.device();
    let need = match lv.fs.as_str() {
        "ext2" | "ext3" | "ext4" => Some(shrink_ext(g, &dev)?),
        "btrfs" => shrink_btrfs(g, &dev, lv.size)?,
        fs => {
            let why = match fs {
                "" => "could not detect its file system".to_owned(),
                fs => format!("don't know how to shrink {fs} file systems"),
            };
            reporter.warn(&format!(
                "Unable to shrink the logical volume {}: {why}; only the free space after it is given back",
                lv.path()
            ));
            None
        }
    };
    let Some(need) = need.filter(|n| n + HEADROOM / 2 < lv.size) else {
        grow_fs(g, &dev, &lv.fs)?;
        return Ok(None);
    };
    let mib = i32::try_from(need.div_ceil(MIB)).unwrap_or(i32::MAX);
    g.lvresize(&dev, mib)
        .map_err(gerr(format!("reducing the logical volume {}", lv.path())))?;
    grow_fs(g, &dev, &lv.fs)?;
    let size = g
        .blockdev_getsize64(&dev)
        .map_err(gerr(format!("reading the size of {dev}")))?;
    Ok(Some(u64::try_from(size).unwrap_or(0)))
}

/// [`plan_lines`] for the helper VM's disk, whose last partition may be a
/// PV.
pub fn dry_run_lines(g: &Handle) -> Result<Vec<String>> {
    let layout = Layout::read(g)?;
    if layout.is_empty() {
        return Ok(Vec::new());
    }
    let parts = g.part_list("/dev/sda").unwrap_or_default();
    let last = parts.iter().map(|p| p.part_num).max();
    let pv = last
        .map(|n| format!("/dev/sda{n}"))
        .filter(|d| layout.pvs.iter().any(|p| &p.name == d));
    Ok(plan_lines(&layout, pv.as_deref()))
}

/// What a real run would do with the LVM layout, for a dry run: the
/// layout of each volume group and what shrinking does to the PV `pv`.
pub fn plan_lines(layout: &Layout, pv: Option<&str>) -> Vec<String> {
    let mut lines: Vec<String> = (layout.summary().into_iter())
        .map(|l| format!("LVM: {l}"))
        .collect();
    let Some(pv) = pv else {
        return lines;
    };
    lines.push(match layout.refusal(pv) {
        Some(why) => format!("a real run leaves LVM unshrunk: {why}"),
        None => {
            let mut order = layout.by_end_on(pv).into_iter();
            let mut parts = Vec::new();
            if let Some(swap) = trailing_swap(layout, pv) {
                order.next();
                parts.push(format!("removes the swap volume {}", swap.path()));
            }
            if let Some(lv) = order.next() {
                parts.push(format!("shrinks {} ({})", lv.path(), lv.fs));
            }
            parts.push(format!(
                "cuts the physical volume {pv} after its last extent"
            ));
            format!("a real run {}", parts.join(", "))
        }
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dry_run_says_what_a_real_run_does() {
        let pvs = r#"{"report": [{"pv": [{"pv_name":"/dev/sda2", "vg_name":"vg0", "pv_uuid":"x", "pe_start":"1048576", "vg_extent_size":"4194304", "pv_pe_count":"20"}]}]}"#;
        let segs = r#"{"report": [{"seg": [
            {"vg_name":"vg0", "lv_name":"root", "lv_attr":"-wi-a-----", "segtype":"linear", "lv_size":"41943040", "seg_pe_ranges":"/dev/sda2:0-9"},
            {"vg_name":"vg0", "lv_name":"swap", "lv_attr":"-wi-a-----", "segtype":"linear", "lv_size":"8388608", "seg_pe_ranges":"/dev/sda2:10-11"}]}]}"#;
        let mut layout = Layout::parse(pvs, segs).unwrap();
        layout.lvs[0].fs = "ext4".into();
        layout.lvs[1].fs = "swap".into();
        assert_eq!(
            plan_lines(&layout, Some("/dev/sda2")),
            [
                "LVM: vg0 on /dev/sda2: root 40 MiB (ext4), swap 8 MiB (swap); 32 MiB free",
                "a real run removes the swap volume vg0/swap, shrinks vg0/root (ext4), \
                 cuts the physical volume /dev/sda2 after its last extent"
            ]
        );
        layout.lvs[1].attr = "swi-a-s---".into();
        assert_eq!(
            plan_lines(&layout, Some("/dev/sda2"))[1],
            "a real run leaves LVM unshrunk: vg0/swap is a snapshot"
        );
    }
}
