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

/// How a filesystem type's mkfs is called: the program, its fixed
/// options, the options that set the UUID and the label, and whether it
/// takes an inode count (`-N`).
struct Mkfs {
    program: &'static str,
    fixed: &'static [&'static str],
    uuid: fn(&str) -> Vec<String>,
    label: &'static str,
    inodes: bool,
}

/// ext2/3/4: mke2fs with the type and 4 KiB blocks.
const fn ext(fixed: &'static [&'static str]) -> Mkfs {
    Mkfs {
        program: "mke2fs",
        fixed,
        uuid: |u| vec!["-U".into(), u.into()],
        label: "-L",
        inodes: true,
    }
}

/// The mkfs of each filesystem type.
fn mkfs_of(fs: FsType) -> Mkfs {
    match fs {
        FsType::Ext2 => ext(&["-q", "-F", "-t", "ext2", "-b", "4096"]),
        FsType::Ext3 => ext(&["-q", "-F", "-t", "ext3", "-b", "4096"]),
        FsType::Ext4 => ext(&["-q", "-F", "-t", "ext4", "-b", "4096"]),
        FsType::Xfs => Mkfs {
            program: "mkfs.xfs",
            fixed: &["-q", "-f"],
            uuid: |u| vec!["-m".into(), format!("uuid={u}")],
            label: "-L",
            inodes: false,
        },
        FsType::Btrfs => Mkfs {
            program: "mkfs.btrfs",
            fixed: &["-q", "-f"],
            uuid: |u| vec!["-U".into(), u.into()],
            label: "-L",
            inodes: false,
        },
        FsType::Vfat => Mkfs {
            program: "mkfs.vfat",
            fixed: &["-F", "32"],
            uuid: |u| vec!["-i".into(), u.replace('-', "")],
            label: "-n",
            inodes: false,
        },
    }
}

/// The mkfs command that makes `nf` on `dev`.
fn mkfs_command(dev: &str, nf: &NewFs, uuid: Option<&str>, g: &Geometry) -> Command {
    let m = mkfs_of(nf.fs);
    let mut cmd = Command::new(m.program);
    cmd.args(m.fixed);
    if m.inodes {
        cmd.arg("-N").arg(g.inodes.to_string());
    }
    cmd.args(uuid.map(m.uuid).unwrap_or_default());
    if let Some(l) = &nf.label {
        cmd.arg(m.label).arg(l);
    }
    cmd.arg(dev);
    cmd
}

/// Make `nf` on `dev`.
pub fn make(dev: &str, nf: &NewFs, uuid: Option<&str>, g: &Geometry) -> Result<()> {
    mkfs_command(dev, nf, uuid, g).run_checked()?;
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn args(fs: FsType, uuid: Option<&str>, label: Option<&str>) -> Vec<String> {
        let nf = NewFs {
            fs,
            uuid: None,
            label: label.map(str::to_owned),
            mounts: vec![(PathBuf::from("/"), None)],
            fstab_uuid: false,
        };
        let g = Geometry {
            fs: 1 << 30,
            inodes: 7000,
            needed: 0,
        };
        let cmd = mkfs_command("/dev/loop9", &nf, uuid, &g);
        let prog = cmd.get_program().to_string_lossy().into_owned();
        let rest = cmd.get_args().map(|a| a.to_string_lossy().into_owned());
        std::iter::once(prog).chain(rest).collect()
    }

    #[test]
    fn one_row_per_filesystem_type() {
        let u = "6c0bb2c6-8d0a-4a8e-9a3a-2f1d5e7c9b10";
        assert_eq!(
            args(FsType::Ext3, Some(u), Some("root")).join(" "),
            format!("mke2fs -q -F -t ext3 -b 4096 -N 7000 -U {u} -L root /dev/loop9")
        );
        assert_eq!(
            args(FsType::Xfs, Some(u), None).join(" "),
            format!("mkfs.xfs -q -f -m uuid={u} /dev/loop9")
        );
        assert_eq!(
            args(FsType::Btrfs, Some(u), Some("b")).join(" "),
            format!("mkfs.btrfs -q -f -U {u} -L b /dev/loop9")
        );
        assert_eq!(
            args(FsType::Vfat, Some("ABCD-1234"), Some("EFI")).join(" "),
            "mkfs.vfat -F 32 -i ABCD1234 -n EFI /dev/loop9"
        );
        assert_eq!(
            args(FsType::Vfat, None, None).join(" "),
            "mkfs.vfat -F 32 /dev/loop9"
        );
    }
}
