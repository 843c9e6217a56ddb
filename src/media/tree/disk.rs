//! The raw disk a tree is copied into: its size, partition table and
//! filesystem, the mount that owns the filesystem while the tree is copied
//! (a loop mount at the partition's offset, detached on unmount), and the
//! boot loader.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::Totals;
use crate::media::workdir::free_space;
use crate::process::CommandExt;

const MIB: u64 = 1 << 20;
/// Where the one partition starts.
const START: u64 = MIB;

/// The partition table of a tree's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TableType {
    #[default]
    Gpt,
    Msdos,
}

/// The root filesystem of a tree's disk (those the shrink step handles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FsType {
    Ext2,
    Ext3,
    #[default]
    Ext4,
}

/// What a tree's disk is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub table: TableType,
    pub fs: FsType,
    /// The root filesystem's UUID and label (new ones when `None`).
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// The GPT partition's unique GUID (a new one when `None`).
    pub part_uuid: Option<String>,
}

impl FsType {
    /// The type of this name, if the tree code can make it.
    pub fn named(name: &str) -> Option<FsType> {
        [FsType::Ext2, FsType::Ext3, FsType::Ext4]
            .into_iter()
            .find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            FsType::Ext4 => "ext4",
        }
    }
}

/// The sizes of a tree's disk.
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
        let journal = if fs == FsType::Ext2 { 0 } else { 64 * MIB };
        let size = (needed + needed / 100 * 15 + journal + 64 * MIB).div_ceil(MIB) * MIB;
        let inodes = (size / 16384).max(t.entries + t.entries / 4 + 4096);
        Geometry {
            fs: size,
            inodes,
            needed,
        }
    }
}

/// Refuse to start when the work directory cannot hold the copy.
pub fn check_space(workdir: &Path, g: &Geometry) -> Result<()> {
    let free = free_space(workdir)?;
    let need = g.needed + g.needed / 10 + 64 * MIB;
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
    table: TableType,
    fs_size: u64,
    uuid: String,
}

/// A built disk.
#[derive(Debug, Clone)]
pub struct Built {
    pub path: PathBuf,
    pub size: u64,
    pub bootable: bool,
}

impl Image {
    /// Create the sparse disk, its table and its filesystem.
    pub fn create(path: &Path, spec: &Format, g: &Geometry) -> Result<Image> {
        let size = START + g.fs + MIB;
        File::create(path)
            .and_then(|f| f.set_len(size))
            .with_context(|| format!("creating {}", path.display()))?;
        let sectors = g.fs / 512;
        let script = match spec.table {
            TableType::Gpt => format!(
                "label: gpt\nstart=2048, size={sectors}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4{}\n",
                spec.part_uuid
                    .as_ref()
                    .map(|u| format!(", uuid={u}"))
                    .unwrap_or_default()
            ),
            TableType::Msdos => {
                format!("label: dos\nstart=2048, size={sectors}, type=83, bootable\n")
            }
        };
        run_with_input(
            Command::new("sfdisk").arg("-q").arg(path),
            script.as_bytes(),
        )?;
        let uuid = match &spec.uuid {
            Some(u) => u.clone(),
            None => std::fs::read_to_string("/proc/sys/kernel/random/uuid")
                .context("reading a new UUID from /proc/sys/kernel/random/uuid")?
                .trim()
                .to_owned(),
        };
        let mut mke2fs = Command::new("mke2fs");
        if let Some(label) = &spec.label {
            mke2fs.arg("-L").arg(label);
        }
        mke2fs
            .args(["-q", "-F", "-t", spec.fs.name(), "-b", "4096", "-U", &uuid])
            .arg("-N")
            .arg(g.inodes.to_string())
            .arg("-E")
            .arg(format!("offset={START}"))
            .arg(path)
            .arg(format!("{}k", g.fs / 1024))
            .run_checked()?;
        Ok(Image {
            path: path.to_owned(),
            table: spec.table,
            fs_size: g.fs,
            uuid,
        })
    }

    /// The filesystem's UUID.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Mount the filesystem on `dir` (created), through a loop device
    /// that goes with the mount.
    pub fn mount(&mut self, dir: &Path) -> Result<Mounted> {
        std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        Command::new("mount")
            .arg("-o")
            .arg(format!("loop,offset={START},sizelimit={}", self.fs_size))
            .arg(&self.path)
            .arg(dir)
            .run_checked()?;
        Ok(Mounted {
            dir: dir.to_owned(),
            mounted: true,
        })
    }

    /// Mark the partition bootable and write EXTLINUX's boot code.
    pub fn finish(self, bootable: bool) -> Result<Built> {
        if bootable {
            let mbr = match self.table {
                TableType::Gpt => {
                    Command::new("sfdisk")
                        .args(["-q", "--part-attrs"])
                        .arg(&self.path)
                        .args(["1", "LegacyBIOSBootable"])
                        .run_checked()?;
                    "/usr/lib/EXTLINUX/gptmbr.bin"
                }
                TableType::Msdos => "/usr/lib/EXTLINUX/mbr.bin",
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
            bootable,
        })
    }
}

/// The new filesystem, mounted; unmounted (and its loop device detached)
/// when dropped.
pub struct Mounted {
    dir: PathBuf,
    mounted: bool,
}

impl Mounted {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Unmount, reporting failure.
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        Command::new("umount").arg(&self.dir).run_checked()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted && Command::new("umount").arg(&self.dir).run_checked().is_err() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .run_checked();
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
pub fn install_extlinux(mnt: &Path, kernel: &OsStr, uuid: &str) -> Result<()> {
    let dir = mnt.join("boot/extlinux");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let conf = dir.join("extlinux.conf");
    if !conf.exists() {
        let k = kernel.to_string_lossy();
        let text = format!(
            "DEFAULT linux\nTIMEOUT 1\nSERIAL 0 115200\nLABEL linux\n  LINUX /boot/vmlinuz-{k}\n  INITRD /boot/initrd.img-{k}\n  APPEND root=UUID={uuid} rw console=tty0 console=ttyS0,115200n8\n"
        );
        std::fs::write(&conf, text).with_context(|| format!("writing {}", conf.display()))?;
    }
    Command::new("extlinux")
        .arg("--install")
        .arg(&dir)
        .run_checked()
}
