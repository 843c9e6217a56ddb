//! The raw disk a tree is copied into: its size, partition table and
//! filesystems (as the [`Layout`] says), the mounts that own the
//! filesystems while the tree is copied (each on a loop device of its
//! partition, detached after unmounting), the source's boot code, and
//! EXTLINUX.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::Totals;
use super::layout::{Content, Layout, Slot};
use super::{bootcode, mkfs};
use crate::media::workdir::free_space;
use crate::process::CommandExt;

const MIB: u64 = 1 << 20;

/// The partition table of a tree's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TableType {
    #[default]
    Gpt,
    Msdos,
}

/// A filesystem of a tree's disk: for `--fs-type`, those the shrink step
/// handles; a host's XFS, btrfs and vfat are kept too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FsType {
    Ext2,
    Ext3,
    #[default]
    Ext4,
    #[value(skip)]
    Xfs,
    #[value(skip)]
    Btrfs,
    #[value(skip)]
    Vfat,
}

const ALL: [FsType; 6] = [
    FsType::Ext2,
    FsType::Ext3,
    FsType::Ext4,
    FsType::Xfs,
    FsType::Btrfs,
    FsType::Vfat,
];

impl FsType {
    /// The type of this name, if the tree code can make it.
    pub fn named(name: &str) -> Option<FsType> {
        ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
            FsType::Btrfs => "btrfs",
            FsType::Vfat => "vfat",
        }
    }

    /// Room its mkfs and its journal take besides the data.
    fn overhead(self) -> u64 {
        match self {
            FsType::Ext2 | FsType::Vfat => 0,
            _ => 64 * MIB,
        }
    }

    /// The smallest filesystem its mkfs makes.
    fn min_size(self) -> u64 {
        match self {
            FsType::Xfs => 300 * MIB,
            FsType::Btrfs => 256 * MIB,
            _ => 0,
        }
    }
}

/// The sizes of one filesystem of a tree's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The filesystem's size in bytes.
    pub fs: u64,
    pub inodes: u64,
    /// What the copy writes, about.
    pub needed: u64,
}

impl Geometry {
    /// Room for the tree's data and inodes, plus 15% and the journal: the
    /// shrink step takes the slack back.
    pub fn for_totals(t: &Totals, fs: FsType) -> Geometry {
        let needed = t.bytes + t.entries * 4096;
        let size = (needed + needed / 100 * 15 + fs.overhead() + 64 * MIB).div_ceil(MIB) * MIB;
        let size = size.max(fs.min_size());
        let inodes = (size / 16384).max(t.entries + t.entries / 4 + 4096);
        Geometry {
            fs: size,
            inodes,
            needed,
        }
    }

    /// A partition copied as it is.
    pub fn raw(size: u64) -> Geometry {
        Geometry {
            fs: size,
            inodes: 0,
            needed: size,
        }
    }
}

/// Refuse to start when the work directory cannot hold the copy.
pub fn check_space(workdir: &Path, geometries: &[Geometry]) -> Result<()> {
    let needed: u64 = geometries.iter().map(|g| g.needed).sum();
    let free = free_space(workdir)?;
    let need = needed + needed / 10 + 64 * MIB;
    if free < need {
        bail!(
            "not enough free space in {} for the image of the tree: {} MiB needed, {} MiB free; free some, or give --tmpdir on a larger filesystem",
            workdir.display(),
            need.div_ceil(MIB),
            free / MIB
        );
    }
    Ok(())
}

/// The disk being built.
pub struct Image {
    path: PathBuf,
    layout: Layout,
    /// Each slot's offset and length.
    places: Vec<(u64, u64)>,
    /// Each slot's filesystem UUID.
    uuids: Vec<Option<String>>,
}

/// A built disk.
#[derive(Debug, Clone)]
pub struct Built {
    pub path: PathBuf,
    pub size: u64,
    /// Whether the image boots with EXTLINUX.
    pub bootable: bool,
    /// Whether the source's own boot loader was copied.
    pub source_loader: bool,
}

impl Image {
    /// Create the sparse disk, its table and its filesystems (one
    /// geometry per slot of the layout).
    pub fn create(path: &Path, layout: &Layout, geometries: &[Geometry]) -> Result<Image> {
        let sizes: Vec<u64> = geometries.iter().map(|g| g.fs).collect();
        let (places, size) = layout.place(&sizes);
        File::create(path)
            .and_then(|f| f.set_len(size))
            .with_context(|| format!("creating {}", path.display()))?;
        run_with_input(
            Command::new("sfdisk").arg("-q").arg(path),
            sfdisk_script(path, layout, &places).as_bytes(),
        )?;
        let mut uuids = Vec::new();
        for ((slot, place), g) in layout.slots.iter().zip(&places).zip(geometries) {
            let Content::Fs(nf) = &slot.content else {
                uuids.push(None);
                continue;
            };
            let uuid = mkfs::uuid_for(nf)?;
            let lo = Loop::attach(path, *place)?;
            mkfs::make(&lo.dev, nf, uuid.as_deref(), g)?;
            lo.detach()?;
            uuids.push(uuid);
        }
        Ok(Image {
            path: path.to_owned(),
            layout: layout.clone(),
            places,
            uuids,
        })
    }

    /// The root filesystem's UUID.
    pub fn root_uuid(&self) -> Option<&str> {
        let i = self.slot_index(|s| fs_at(s, "/"))?;
        self.uuids[i].as_deref()
    }

    /// The mount points whose fstab lines are rewritten to the UUID of
    /// their new filesystem (those made from md or LVM), with it.
    pub fn fstab_targets(&self) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        for (slot, uuid) in self.layout.slots.iter().zip(&self.uuids) {
            if let (Content::Fs(nf), Some(u)) = (&slot.content, uuid)
                && nf.fstab_uuid
            {
                out.extend(nf.mounts.iter().map(|(p, _)| (p.clone(), u.clone())));
            }
        }
        out
    }

    fn slot_index(&self, f: impl Fn(&Slot) -> bool) -> Option<usize> {
        self.layout.slots.iter().position(f)
    }

    /// Copy the source disk's boot loader, when it has one; whether it did.
    pub fn copy_boot_loader(&self) -> Result<bool> {
        bootcode::copy(&self.path, &self.layout, &self.places)
    }

    /// Mount the filesystems on `dir` (created) as the tree nests them,
    /// each through a loop device that goes with the mounts.
    pub fn mount(&mut self, dir: &Path) -> Result<Mounted> {
        std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut m = Mounted {
            dir: dir.to_owned(),
            points: Vec::new(),
            loops: Vec::new(),
        };
        let mut mounts = Vec::new();
        for (slot, place) in self.layout.slots.iter().zip(&self.places) {
            if let Content::Fs(nf) = &slot.content {
                m.loops.push(Loop::attach(&self.path, *place)?);
                let dev = &m.loops.last().expect("pushed").dev;
                let opts = |v: &Option<String>| {
                    let sub = v.as_ref().map(|v| format!("subvol={v}"));
                    let all: Vec<String> = (sub.into_iter())
                        .chain(mkfs::mount_options(nf.fs).map(str::to_owned))
                        .collect();
                    all.join(",")
                };
                mounts.extend((nf.mounts.iter()).map(|(p, v)| (p.clone(), opts(v), dev.clone())));
            }
        }
        mounts.sort_by_key(|(p, _, _)| p.components().count());
        for (point, opts, dev) in mounts {
            let at = dir.join(point.strip_prefix("/").unwrap_or(&point));
            std::fs::create_dir_all(&at).with_context(|| format!("creating {}", at.display()))?;
            let mut cmd = Command::new("mount");
            if !opts.is_empty() {
                cmd.arg("-o").arg(opts);
            }
            cmd.arg(&dev).arg(&at).run_checked()?;
            m.points.push(at);
        }
        Ok(m)
    }

    /// Write EXTLINUX's boot code and mark partition `boot` bootable
    /// (`None`: leave the boot sector as it is).
    pub fn finish(self, boot: Option<u32>, source_loader: bool) -> Result<Built> {
        if let Some(n) = boot {
            let mbr = match self.layout.table {
                TableType::Gpt => {
                    Command::new("sfdisk")
                        .args(["-q", "--part-attrs"])
                        .arg(&self.path)
                        .args([&n.to_string(), "LegacyBIOSBootable"])
                        .run_checked()?;
                    "/usr/lib/EXTLINUX/gptmbr.bin"
                }
                TableType::Msdos => {
                    Command::new("sfdisk")
                        .args(["-q", "--activate"])
                        .arg(&self.path)
                        .arg(n.to_string())
                        .run_checked()?;
                    "/usr/lib/EXTLINUX/mbr.bin"
                }
            };
            let code = std::fs::read(mbr).with_context(|| format!("reading {mbr}"))?;
            let mut f = std::fs::OpenOptions::new().write(true).open(&self.path)?;
            f.write_all(&code[..code.len().min(440)])
                .with_context(|| format!("writing the boot code into {}", self.path.display()))?;
        }
        let size = std::fs::metadata(&self.path)?.len();
        Ok(Built {
            path: self.path,
            size,
            bootable: boot.is_some(),
            source_loader,
        })
    }
}

/// Whether a slot's filesystem holds the tree's `point`.
fn fs_at(s: &Slot, point: &str) -> bool {
    matches!(&s.content, Content::Fs(nf) if nf.mounts.iter().any(|(p, _)| p == Path::new(point)))
}

/// The sfdisk script of the layout: numbered partitions, types, GUIDs,
/// names, flags, the table's identifier.
fn sfdisk_script(path: &Path, layout: &Layout, places: &[(u64, u64)]) -> String {
    let mut s = match layout.table {
        TableType::Gpt => "label: gpt\n".to_owned(),
        TableType::Msdos => "label: dos\n".to_owned(),
    };
    if let Some(id) = &layout.label_id {
        match layout.table {
            TableType::Msdos => s.push_str(&format!("label-id: 0x{id}\n")),
            TableType::Gpt => s.push_str(&format!("label-id: {id}\n")),
        }
    }
    for (slot, (start, size)) in layout.slots.iter().zip(places) {
        s.push_str(&format!(
            "{}{} : start={}, size={}, type={}",
            path.display(),
            slot.number,
            start / 512,
            size / 512,
            slot.ty
        ));
        if let Some(u) = &slot.part_uuid {
            s.push_str(&format!(", uuid={u}"));
        }
        if let Some(n) = &slot.name {
            s.push_str(&format!(", name=\"{}\"", n.replace('"', "")));
        }
        match (slot.bootable, layout.table) {
            (true, TableType::Msdos) => s.push_str(", bootable"),
            (true, TableType::Gpt) => s.push_str(", attrs=\"LegacyBIOSBootable\""),
            _ => {}
        }
        s.push('\n');
    }
    s
}

/// A loop device over one partition of the image, detached when dropped.
struct Loop {
    dev: String,
}

impl Loop {
    fn attach(image: &Path, (start, size): (u64, u64)) -> Result<Loop> {
        let out = Command::new("losetup")
            .args(["--find", "--show", "--offset"])
            .arg(start.to_string())
            .arg("--sizelimit")
            .arg(size.to_string())
            .arg(image)
            .run_capture()?;
        Ok(Loop {
            dev: out.trim().to_owned(),
        })
    }

    fn detach(mut self) -> Result<()> {
        let dev = std::mem::take(&mut self.dev);
        Command::new("losetup").arg("-d").arg(dev).run_checked()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if !self.dev.is_empty() {
            let _ = Command::new("losetup")
                .arg("-d")
                .arg(&self.dev)
                .run_checked();
        }
    }
}

/// The new filesystems, mounted; unmounted (and their loop devices
/// detached) when dropped.
pub struct Mounted {
    dir: PathBuf,
    /// Shallowest first.
    points: Vec<PathBuf>,
    loops: Vec<Loop>,
}

impl Mounted {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Unmount, reporting failure.
    pub fn unmount(mut self) -> Result<()> {
        while let Some(p) = self.points.pop() {
            Command::new("umount").arg(&p).run_checked()?;
        }
        for lo in std::mem::take(&mut self.loops) {
            lo.detach()?;
        }
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        while let Some(p) = self.points.pop() {
            if Command::new("umount").arg(&p).run_checked().is_err() {
                let _ = Command::new("umount").arg("-l").arg(&p).run_checked();
            }
        }
    }
}

fn run_with_input(cmd: &mut Command, input: &[u8]) -> Result<()> {
    let line = crate::process::command_line(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running `{line}`"))?;
    child
        .stdin
        .take()
        .map(|mut s| s.write_all(input))
        .transpose()?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`{line}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Make the mounted tree boot with EXTLINUX: a configuration naming the
/// kernel, its initramfs and the root by UUID (unless the tree has its
/// own), and the loader in /boot/extlinux.
/// `boot` is where `/boot`'s files are inside their own filesystem.
pub fn install_extlinux(mnt: &Path, kernel: &OsStr, uuid: &str, boot: &str) -> Result<()> {
    let dir = mnt.join("boot/extlinux");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let conf = dir.join("extlinux.conf");
    if !conf.exists() {
        let k = kernel.to_string_lossy();
        let text = format!(
            "DEFAULT linux\nTIMEOUT 1\nSERIAL 0 115200\nLABEL linux\n  LINUX {boot}/vmlinuz-{k}\n  INITRD {boot}/initrd.img-{k}\n  APPEND root=UUID={uuid} rw console=tty0 console=ttyS0,115200n8\n"
        );
        std::fs::write(&conf, text).with_context(|| format!("writing {}", conf.display()))?;
    }
    Command::new("extlinux")
        .arg("--install")
        .arg(&dir)
        .run_checked()
}

#[cfg(test)]
mod tests;
