//! LVM inside the image: the layout of its physical volumes, volume groups
//! and logical volumes, read in the helper VM with `lvm pvs` and
//! `lvm lvs --segments` (JSON reports), and what of it can be shrunk.
//!
//! The layout is plain data ([`Layout`]) so that every decision taken from
//! it (the root LV's partition, which layouts are refused, which LV a
//! shrink works on) is a pure function with unit tests; [`Layout::read`]
//! is the one place that asks the helper VM. [`shrink`] does the work on
//! the disk.

pub mod shrink;

use std::collections::HashMap;

use anyhow::{Context, Result};
use guestfs::Handle;
use serde::Deserialize;

use super::appliance::gerr;
use crate::media::partition::MIB;

/// One logical volume, its segments gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lv {
    pub vg: String,
    pub name: String,
    /// `lv_attr` (`-wi-a-----`): its first letter is the volume type.
    pub attr: String,
    /// The segment types (`linear`, `striped`, `thin-pool`, `raid1`…).
    pub segtypes: Vec<String>,
    pub size: u64,
    /// The physical extents it uses.
    pub ranges: Vec<Range>,
    /// The filesystem on it, as libguestfs names it (`ext4`, `swap`), or
    /// empty when none is recognised.
    pub fs: String,
    /// An LV LVM keeps for itself (`[pool_tdata]`, `[data_rimage_0]`):
    /// its extents count, it is not shown.
    pub hidden: bool,
}

impl Lv {
    /// `vg0/root`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.vg, self.name)
    }

    /// The helper VM's device: `/dev/vg0/root`.
    pub fn device(&self) -> String {
        format!("/dev/{}/{}", self.vg, self.name)
    }

    /// The end of its last extent on `pv` (one past), if it has any there.
    pub fn end_on(&self, pv: &str) -> Option<u64> {
        (self.ranges.iter())
            .filter(|r| r.pv == pv)
            .map(|r| r.last + 1)
            .max()
    }
}

/// Physical extents `first..=last` of a PV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub pv: String,
    pub first: u64,
    pub last: u64,
}

/// One physical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pv {
    /// The helper VM's device (`/dev/sda2`).
    pub name: String,
    pub vg: String,
    pub uuid: String,
    /// Where the first extent starts, in bytes from the PV's start.
    pub pe_start: u64,
    /// The VG's extent size in bytes.
    pub extent: u64,
    pub pe_count: u64,
}

/// The LVM layout of the disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    pub pvs: Vec<Pv>,
    pub lvs: Vec<Lv>,
    /// Devices holding a LUKS container (partitions or LVs).
    pub luks: Vec<String>,
}

/// Why a volume group is not shrunk: one line for the warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("volume group {vg} spans {count} physical volumes")]
    ManyPvs { vg: String, count: usize },
    #[error("{lv} is a {kind}")]
    Kind { lv: String, kind: &'static str },
    #[error("{0} holds a LUKS encrypted volume")]
    Luks(String),
}

impl Layout {
    /// Read the layout in the helper VM (every VG activated).
    pub fn read(g: &Handle) -> Result<Layout> {
        let lvs = g.lvs().map_err(gerr("listing logical volumes"))?;
        if lvs.is_empty() && g.pvs().map(|p| p.is_empty()).unwrap_or(true) {
            return Ok(Layout::default());
        }
        let mut layout = Layout::extents(g)?;
        let types = device_types(g, &layout.lvs);
        for lv in &mut layout.lvs {
            // A LUKS volume has no filesystem of its own (`luks` names it).
            let fs = types.get(&lv.device()).filter(|t| *t != LUKS);
            lv.fs = fs.cloned().unwrap_or_default();
        }
        layout.luks = luks_devices(&types);
        Ok(layout)
    }

    /// Read the layout again after LVs were removed or resized: extents
    /// and sizes anew, what each device holds kept from `self` (removing
    /// or resizing an LV does not change what another holds), which
    /// saves probing every device again.
    pub fn reread(&self, g: &Handle) -> Result<Layout> {
        let mut layout = Layout::extents(g)?;
        for lv in &mut layout.lvs {
            let before = self.lvs.iter().find(|b| b.vg == lv.vg && b.name == lv.name);
            lv.fs = before.map(|b| b.fs.clone()).unwrap_or_default();
        }
        layout.luks.clone_from(&self.luks);
        Ok(layout)
    }

    /// The PVs and LVs with their extents, named as the libguestfs API
    /// names them; what each device holds is left unknown.
    fn extents(g: &Handle) -> Result<Layout> {
        let pvs = lvm_report(g, PVS_CMD)?;
        let segs = lvm_report(g, SEGS_CMD)?;
        let mut layout = Layout::parse(&pvs, &segs)?;
        layout.translate(&api_names(g)?);
        Ok(layout)
    }

    /// The layout from the JSON reports of [`PVS_CMD`] and [`SEGS_CMD`].
    pub fn parse(pvs: &str, segs: &str) -> Result<Layout> {
        let pvs: Report<PvRow> = serde_json::from_str(pvs).context("parsing `lvm pvs`")?;
        let segs: Report<SegRow> = serde_json::from_str(segs).context("parsing `lvm lvs`")?;
        let mut layout = Layout::default();
        for row in pvs.report.into_iter().flat_map(|r| r.pv) {
            layout.pvs.push(row.into_pv()?);
        }
        for row in segs.report.into_iter().flat_map(|r| r.seg) {
            row.add_to(&mut layout.lvs)?;
        }
        layout
            .lvs
            .sort_by(|a, b| (&a.vg, &a.name).cmp(&(&b.vg, &b.name)));
        Ok(layout)
    }

    /// Name the PVs as the libguestfs API does: `lvm` in the helper VM
    /// may see the disk as `/dev/sdb`. `names` maps each PV's UUID
    /// (without dashes) to its API name.
    pub fn translate(&mut self, names: &HashMap<String, String>) {
        for pv in &mut self.pvs {
            let Some(api) = names.get(&pv.uuid.replace('-', "")) else {
                continue;
            };
            let ranges = self.lvs.iter_mut().flat_map(|l| l.ranges.iter_mut());
            for r in ranges.filter(|r| r.pv == pv.name) {
                r.pv = api.clone();
            }
            pv.name = api.clone();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pvs.is_empty() && self.lvs.is_empty()
    }

    /// The PV of a volume group, when it has exactly one.
    pub fn pvs_of(&self, vg: &str) -> Vec<&Pv> {
        self.pvs.iter().filter(|p| p.vg == vg).collect()
    }

    /// The LV whose helper VM device is `device` (`/dev/vg0/root`).
    pub fn lv_of_device(&self, device: &str) -> Option<&Lv> {
        self.lvs.iter().find(|l| l.device() == device)
    }

    /// The PV holding the first extent of the LV at `device`.
    pub fn pv_of_device(&self, device: &str) -> Option<&str> {
        let lv = self.lv_of_device(device)?;
        lv.ranges.first().map(|r| r.pv.as_str())
    }

    /// Why the volume group on `pv` cannot be shrunk, if it cannot: it
    /// spans several PVs, holds a thin pool, a snapshot, RAID or a mirror,
    /// or LUKS is under or over LVM.
    pub fn refusal(&self, pv: &str) -> Option<Refusal> {
        if let Some(dev) = self.luks.first() {
            return Some(Refusal::Luks(dev.clone()));
        }
        let vg = &self.pvs.iter().find(|p| p.name == pv)?.vg;
        let count = self.pvs_of(vg).len();
        if count > 1 {
            return Some(Refusal::ManyPvs {
                vg: vg.clone(),
                count,
            });
        }
        let lvs = self.lvs.iter().filter(|l| &l.vg == vg);
        lvs.filter_map(|l| kind_refused(l).map(|kind| Refusal::Kind { lv: l.path(), kind }))
            .next()
    }

    /// The LVs of `pv`'s volume group with extents on it, the one that ends
    /// last first.
    pub fn by_end_on(&self, pv: &str) -> Vec<&Lv> {
        let mut lvs: Vec<&Lv> = self.lvs.iter().filter(|l| l.end_on(pv).is_some()).collect();
        lvs.sort_by_key(|l| std::cmp::Reverse(l.end_on(pv)));
        lvs
    }

    /// One past the last allocated extent of `pv`.
    pub fn used_end(&self, pv: &str) -> u64 {
        self.lvs
            .iter()
            .filter_map(|l| l.end_on(pv))
            .max()
            .unwrap_or(0)
    }

    /// A line per volume group: `vg0 on /dev/sda2: root 512 MiB (ext4),
    /// home 64 MiB (ext4), swap 64 MiB (swap); 32 MiB free`.
    pub fn summary(&self) -> Vec<String> {
        let mut vgs: Vec<&str> = self.pvs.iter().map(|p| p.vg.as_str()).collect();
        vgs.dedup();
        vgs.iter().map(|vg| self.vg_line(vg)).collect()
    }

    fn vg_line(&self, vg: &str) -> String {
        let pvs = self.pvs_of(vg);
        let names: Vec<&str> = pvs.iter().map(|p| p.name.as_str()).collect();
        let mut lvs: Vec<&Lv> = (self.lvs.iter())
            .filter(|l| l.vg == vg && !l.hidden)
            .collect();
        let first = |l: &Lv| l.ranges.first().map(|r| (r.pv.clone(), r.first));
        lvs.sort_by_key(|l| first(l));
        let lvs: Vec<String> = (lvs.iter())
            .map(|l| match l.fs.as_str() {
                "" => format!("{} {} MiB", l.name, l.size / MIB),
                fs => format!("{} {} MiB ({fs})", l.name, l.size / MIB),
            })
            .collect();
        let total: u64 = pvs.iter().map(|p| p.pe_count * p.extent).sum();
        let used: u64 = (self.lvs.iter())
            .filter(|l| l.vg == vg)
            .flat_map(|l| &l.ranges)
            .map(|r| (r.last + 1 - r.first) * pvs.first().map_or(0, |p| p.extent))
            .sum();
        format!(
            "{vg} on {}: {}; {} MiB free",
            names.join(", "),
            lvs.join(", "),
            total.saturating_sub(used) / MIB
        )
    }
}

/// The API name of each PV by its UUID (without dashes).
fn api_names(g: &Handle) -> Result<HashMap<String, String>> {
    let pvs = g.pvs().map_err(gerr("listing LVM physical volumes"))?;
    let mut names = HashMap::new();
    for dev in pvs {
        let uuid = g
            .pvuuid(&dev)
            .map_err(gerr(format!("reading the UUID of {dev}")))?;
        names.insert(uuid.replace('-', ""), dev);
    }
    Ok(names)
}

/// What each partition and visible LV holds (`unknown` when blkid finds
/// nothing), probed one by one: `list_filesystems` would run parted for
/// every partition too, 3 s a call under software emulation, and a run
/// reads the layout up to five times.
fn device_types(g: &Handle, lvs: &[Lv]) -> HashMap<String, String> {
    let parts = g.list_partitions().unwrap_or_default();
    let lvs = lvs.iter().filter(|l| !l.hidden).map(Lv::device);
    (parts.into_iter().chain(lvs))
        .map(|d| {
            let t = g.vfs_type(&d).ok().filter(|t| !t.is_empty());
            let t = t.unwrap_or_else(|| "unknown".into());
            (d, t)
        })
        .collect()
}

/// The partitions and LVs holding LUKS, of [`device_types`].
fn luks_devices(types: &HashMap<String, String>) -> Vec<String> {
    let mut found: Vec<String> = (types.iter())
        .filter(|(_, t)| *t == LUKS)
        .map(|(d, _)| d.clone())
        .collect();
    found.sort();
    found
}

/// What libguestfs calls a LUKS container.
pub const LUKS: &str = "crypto_LUKS";

/// The warning for a volume group or partition left unshrunk.
pub fn refusal_warning(why: &Refusal) -> String {
    format!("not shrinking the image: {why}, which is not shrunk safely; it is exported unshrunk")
}

/// What kind of LV the shrink refuses, from its attributes and segments.
fn kind_refused(lv: &Lv) -> Option<&'static str> {
    let seg = |p: &str| lv.segtypes.iter().any(|s| s.starts_with(p));
    match lv.attr.chars().next() {
        _ if seg("thin") => Some("thin pool or thin volume"),
        Some('t' | 'V') => Some("thin pool or thin volume"),
        Some('s' | 'S') => Some("snapshot"),
        Some('o' | 'O') => Some("snapshot origin"),
        _ if seg("raid") => Some("RAID volume"),
        Some('r' | 'R') => Some("RAID volume"),
        _ if seg("mirror") => Some("mirrored volume"),
        Some('m' | 'M') => Some("mirrored volume"),
        _ if seg("cache") || seg("writecache") || seg("vdo") => Some("cached or VDO volume"),
        _ => None,
    }
}

/// The PVs, sizes in bytes.
pub const PVS_CMD: &str = "lvm pvs --reportformat json --nosuffix --units b \
     -o pv_name,vg_name,pv_uuid,pe_start,vg_extent_size,pv_pe_count";
/// Every LV segment (hidden ones too), with its physical extents.
pub const SEGS_CMD: &str = "lvm lvs -a --segments --reportformat json --nosuffix --units b \
     -o vg_name,lv_name,lv_attr,segtype,lv_size,seg_pe_ranges";

/// Run an lvm report command in the helper VM.
fn lvm_report(g: &Handle, cmd: &str) -> Result<String> {
    g.debug("sh", &[cmd])
        .map_err(gerr(format!("reading the LVM layout (`{cmd}`)")))
}

#[derive(Deserialize)]
struct Report<T> {
    report: Vec<Section<T>>,
}

#[derive(Deserialize)]
struct Section<T> {
    #[serde(default = "Vec::new")]
    pv: Vec<T>,
    #[serde(default = "Vec::new")]
    seg: Vec<T>,
}

#[derive(Deserialize)]
struct PvRow {
    pv_name: String,
    vg_name: String,
    pv_uuid: String,
    pe_start: String,
    vg_extent_size: String,
    pv_pe_count: String,
}

fn num(field: &str, value: &str) -> Result<u64> {
    value
        .trim()
        .parse()
        .with_context(|| format!("`lvm` reported {field} {value:?}, not a number"))
}

impl PvRow {
    fn into_pv(self) -> Result<Pv> {
        Ok(Pv {
            pe_start: num("pe_start", &self.pe_start)?,
            extent: num("vg_extent_size", &self.vg_extent_size)?,
            pe_count: num("pv_pe_count", &self.pv_pe_count)?,
            name: self.pv_name,
            vg: self.vg_name,
            uuid: self.pv_uuid,
        })
    }
}

#[derive(Deserialize)]
struct SegRow {
    vg_name: String,
    lv_name: String,
    lv_attr: String,
    segtype: String,
    lv_size: String,
    seg_pe_ranges: String,
}

impl SegRow {
    /// Add this segment to its LV in `lvs` (made when it is the first).
    fn add_to(self, lvs: &mut Vec<Lv>) -> Result<()> {
        let ranges = parse_ranges(&self.seg_pe_ranges)?;
        let hidden = self.lv_name.starts_with('[');
        let name = self.lv_name.trim_matches(['[', ']']).to_owned();
        let found = lvs
            .iter()
            .position(|l| l.vg == self.vg_name && l.name == name);
        let lv = match found {
            Some(i) => &mut lvs[i],
            None => {
                lvs.push(Lv {
                    vg: self.vg_name,
                    name,
                    attr: self.lv_attr,
                    segtypes: Vec::new(),
                    size: num("lv_size", &self.lv_size)?,
                    ranges: Vec::new(),
                    fs: String::new(),
                    hidden,
                });
                lvs.last_mut().expect("just pushed")
            }
        };
        lv.segtypes.push(self.segtype);
        lv.ranges.extend(ranges);
        Ok(())
    }
}

/// `/dev/sda2:0-127 /dev/sda3:0-9`: PV extent ranges (sub-LV names, as
/// thin and RAID segments give, are not physical and are skipped).
fn parse_ranges(text: &str) -> Result<Vec<Range>> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        let Some((pv, span)) = item.rsplit_once(':') else {
            continue;
        };
        if !pv.starts_with("/dev/") {
            continue;
        }
        let (a, b) = span.split_once('-').unwrap_or((span, span));
        out.push(Range {
            pv: pv.to_owned(),
            first: num("a segment's first extent", a)?,
            last: num("a segment's last extent", b)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
