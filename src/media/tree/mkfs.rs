//! Making a filesystem of the new disk on its loop device, with the
//! source's UUID and label, and the btrfs subvolumes its mounts name.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::disk::{FsType, Geometry};
use super::layout::NewFs;
use crate::process::CommandExt;

/// A new random UUID.
pub fn new_uuid() -> Result<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .context("reading a new UUID from /proc/sys/kernel/random/uuid")?;
    Ok(text.trim().to_owned())
}

/// The UUID the filesystem gets: the source's when this type can take it,
/// else a new one (`None` for vfat: mkfs.vfat draws its own serial). A
/// btrfs always gets a new one: btrfs refuses a second filesystem with
/// the UUID of one attached to the machine, and the source is attached.
pub fn uuid_for(nf: &NewFs) -> Result<Option<String>> {
    let usable = |u: &&String| match nf.fs {
        FsType::Btrfs => false,
        FsType::Vfat => u.len() == 9 && u.as_bytes()[4] == b'-',
        _ => u.len() == 36 && u.bytes().filter(|b| *b == b'-').count() == 4,
    };
    match nf.uuid.as_ref().filter(usable) {
        Some(u) => Ok(Some(u.clone())),
        None if nf.fs == FsType::Vfat => Ok(None),
        None => new_uuid().map(Some),
    }
}

/// Options to mount the new filesystem while the source's is mounted: an
/// XFS with a mounted one's UUID needs `nouuid`.
pub fn mount_options(fs: FsType) -> Option<&'static str> {
    (fs == FsType::Xfs).then_some("nouuid")
}

/// Make `nf` on `dev`.
pub fn make(dev: &str, nf: &NewFs, uuid: Option<&str>, g: &Geometry) -> Result<()> {
    let mut cmd;
    match nf.fs {
        FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => {
            cmd = Command::new("mke2fs");
            cmd.args(["-q", "-F", "-t", nf.fs.name(), "-b", "4096", "-N"])
                .arg(g.inodes.to_string());
            if let Some(u) = uuid {
                cmd.args(["-U", u]);
            }
            if let Some(l) = &nf.label {
                cmd.arg("-L").arg(l);
            }
        }
        FsType::Xfs => {
            cmd = Command::new("mkfs.xfs");
            cmd.args(["-q", "-f"]);
            if let Some(u) = uuid {
                cmd.arg("-m").arg(format!("uuid={u}"));
            }
            if let Some(l) = &nf.label {
                cmd.arg("-L").arg(l);
            }
        }
        FsType::Btrfs => {
            cmd = Command::new("mkfs.btrfs");
            cmd.args(["-q", "-f"]);
            if let Some(u) = uuid {
                cmd.args(["-U", u]);
            }
            if let Some(l) = &nf.label {
                cmd.arg("-L").arg(l);
            }
        }
        FsType::Vfat => {
            cmd = Command::new("mkfs.vfat");
            cmd.args(["-F", "32"]);
            if let Some(u) = uuid {
                cmd.arg("-i").arg(u.replace('-', ""));
            }
            if let Some(l) = &nf.label {
                cmd.arg("-n").arg(l);
            }
        }
    }
    cmd.arg(dev).run_checked()?;
    if nf.fs == FsType::Btrfs {
        make_subvolumes(dev, nf)?;
    }
    Ok(())
}

/// Create the subvolumes the mounts name (`/@`, `/@home`) in the new
/// btrfs, through a mount of its top in a directory of its own.
fn make_subvolumes(dev: &str, nf: &NewFs) -> Result<()> {
    let mut subvols: Vec<&str> = (nf.mounts.iter())
        .filter_map(|(_, s)| s.as_deref())
        .map(|s| s.trim_start_matches('/'))
        .collect();
    if subvols.is_empty() {
        return Ok(());
    }
    subvols.sort();
    let top = tempfile::tempdir().context("creating a directory for the new btrfs")?;
    Command::new("mount")
        .arg(dev)
        .arg(top.path())
        .run_checked()?;
    let made = subvols
        .iter()
        .try_for_each(|s| create_subvolume(top.path(), s));
    let unmounted = Command::new("umount").arg(top.path()).run_checked();
    made.and(unmounted)
}

fn create_subvolume(top: &Path, subvol: &str) -> Result<()> {
    let path = top.join(subvol);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Command::new("btrfs")
        .args(["-q", "subvolume", "create"])
        .arg(&path)
        .run_checked()
}
