//! `--snapshot-root`: bundle a snapshot of the host's root instead of the live
//! root, where the root is an LVM logical volume (`lvcreate -s`, sized
//! from the volume group's free space, mounted read-only in the work
//! directory) or a btrfs subvolume (`btrfs subvolume snapshot -r` into a
//! directory at the top of the same subvolume). The root tree's other
//! filesystems (`/boot`, `/home`…) are not snapshotted: they are bind
//! mounted live onto their mount points in the snapshot, and the run says
//! so. A [`Snapshot`] guard unmounts and removes everything it made, on
//! success, error or interruption alike.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::{HostFs, HostLayout, Storage};
use crate::process::CommandExt;

/// How the root is snapshotted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// A snapshot LV of `vg/lv`, `size` bytes of copy-on-write space
    /// (`None`: a thin snapshot, which takes its space from the pool).
    Lvm {
        vg: String,
        lv: String,
        size: Option<u64>,
    },
    /// A read-only snapshot of the subvolume mounted at the root.
    Btrfs,
}

/// What `lvs` says of a logical volume (and its volume group).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LvFacts {
    pub vg_name: String,
    pub lv_name: String,
    pub lv_size: String,
    pub vg_free: String,
    pub segtype: String,
}

#[derive(Deserialize)]
struct LvsReport {
    report: Vec<LvsLvs>,
}

#[derive(Deserialize)]
struct LvsLvs {
    lv: Vec<LvFacts>,
}

/// The `lvs` command that [`parse_lvs`] reads, for the device `node`.
pub fn lvs_command(node: &str) -> Command {
    let mut cmd = Command::new("lvs");
    cmd.args(["--reportformat", "json", "--units", "b", "--nosuffix", "-o"])
        .arg("vg_name,lv_name,lv_size,vg_free,segtype")
        .arg(node);
    cmd
}

/// The one logical volume of `lvs --reportformat json` output.
pub fn parse_lvs(text: &str) -> Result<LvFacts> {
    let report: LvsReport = serde_json::from_str(text).context("parsing lvs's JSON report")?;
    let mut lvs = report.report.into_iter().flat_map(|r| r.lv);
    match (lvs.next(), lvs.next()) {
        (Some(lv), None) => Ok(lv),
        _ => bail!("lvs reported no single logical volume"),
    }
}

fn bytes(field: &str, value: &str) -> Result<u64> {
    let v = value.trim().trim_end_matches(['B', 'b']);
    v.parse()
        .with_context(|| format!("lvs's {field} {value:?} is not a number of bytes"))
}

/// How to snapshot the layout's root: from its filesystem type and, for
/// a logical volume, what `lvs` said of it. `None` for an LVM root means
/// `lvs` has not been asked yet; see [`plan`].
pub fn method(layout: &HostLayout, lv: Option<&LvFacts>) -> Result<Method> {
    let root = layout.root_fs();
    if root.fs_type == "btrfs" {
        return Ok(Method::Btrfs);
    }
    let Storage::Mapper { name, .. } = &root.storage else {
        bail!("{}", not_snapshottable(root));
    };
    let Some(lv) = lv else {
        bail!(
            "the root's device {name} is not an LVM logical volume: bundle without --snapshot-root"
        );
    };
    let (vg, lvname) = (lv.vg_name.clone(), lv.lv_name.clone());
    if lv.segtype == "thin" {
        return Ok(Method::Lvm {
            vg,
            lv: lvname,
            size: None,
        });
    }
    let free = bytes("vg_free", &lv.vg_free)?;
    if free == 0 {
        bail!(
            "the volume group {vg} has no free space for a snapshot of {vg}/{lvname}: free some \
             (vgextend, or lvreduce another volume), or bundle without --snapshot-root"
        );
    }
    let size = free.min(bytes("lv_size", &lv.lv_size)?);
    Ok(Method::Lvm {
        vg,
        lv: lvname,
        size: Some(size),
    })
}

fn not_snapshottable(root: &HostFs) -> String {
    format!(
        "--snapshot-root needs a root on LVM or btrfs, and the root is {}: bundle without it \
         (the live system is copied)",
        root
    )
}

/// Plan the snapshot of the live host's root (asks `lvs` for an LVM root).
pub fn plan(layout: &HostLayout) -> Result<Method> {
    let root = layout.root_fs();
    let lv = match (&root.storage, root.fs_type.as_str()) {
        (_, "btrfs") => None,
        (Storage::Mapper { name, .. }, _) => lvs_command(&format!("/dev/mapper/{name}"))
            .run_capture()
            .ok()
            .map(|text| parse_lvs(&text))
            .transpose()?,
        _ => None,
    };
    method(layout, lv.as_ref())
}

/// The snapshot's name (an LV name, or a directory at the root's top).
fn name() -> String {
    format!("snf-image-creator-snapshot-{}", std::process::id())
}

/// A snapshot of the root, its tree ready to copy; unmounted and removed
/// when dropped.
pub struct Snapshot {
    tree: PathBuf,
    /// Mount points made, the last first to unmount.
    mounts: Vec<PathBuf>,
    /// The command that removes the snapshot.
    remove: Option<Command>,
    /// The directory made for the snapshot's mount.
    dir: Option<PathBuf>,
    /// Left out of the copy: the btrfs snapshot's own directory, from the
    /// root (it lies inside the live root).
    pub own_path: Option<PathBuf>,
}

impl Snapshot {
    /// The tree to copy: the snapshot, the other filesystems bound in.
    pub fn tree(&self) -> &Path {
        &self.tree
    }

    /// Take the snapshot of `layout`'s root by `method`, in `workdir`.
    pub fn take(layout: &HostLayout, method: &Method, workdir: &Path) -> Result<Snapshot> {
        let mut snap = Snapshot {
            tree: PathBuf::new(),
            mounts: Vec::new(),
            remove: None,
            dir: None,
            own_path: None,
        };
        match method {
            Method::Lvm { vg, lv, size } => snap.take_lvm(layout, vg, lv, *size, workdir)?,
            Method::Btrfs => snap.take_btrfs(layout)?,
        }
        snap.bind_others(layout)?;
        Ok(snap)
    }

    fn take_lvm(
        &mut self,
        layout: &HostLayout,
        vg: &str,
        lv: &str,
        size: Option<u64>,
        workdir: &Path,
    ) -> Result<()> {
        let snap = name();
        let mut create = Command::new("lvcreate");
        create.args(["-q", "-s", "-n", &snap]);
        match size {
            Some(bytes) => create.arg("-L").arg(format!("{bytes}b")),
            None => create.arg("-kn"),
        };
        create.arg(format!("{vg}/{lv}")).run_checked()?;
        let mut remove = Command::new("lvremove");
        remove.args(["-q", "-f", &format!("{vg}/{snap}")]);
        self.remove = Some(remove);
        let dir = workdir.join("snapshot");
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        self.dir = Some(dir.clone());
        let opts = match layout.root_fs().fs_type.as_str() {
            "xfs" => "ro,nouuid",
            _ => "ro",
        };
        Command::new("mount")
            .args(["-o", opts])
            .arg(format!("/dev/{vg}/{snap}"))
            .arg(&dir)
            .run_checked()
            .with_context(|| format!("mounting the snapshot {vg}/{snap} of {vg}/{lv}"))?;
        self.mounts.push(dir.clone());
        self.tree = dir;
        Ok(())
    }

    fn take_btrfs(&mut self, layout: &HostLayout) -> Result<()> {
        let rel = PathBuf::from("/").join(name());
        let path = layout.root.join(rel.strip_prefix("/").unwrap_or(&rel));
        Command::new("btrfs")
            .args(["-q", "subvolume", "snapshot", "-r"])
            .arg(&layout.root)
            .arg(&path)
            .run_checked()?;
        let mut remove = Command::new("btrfs");
        remove.args(["-q", "subvolume", "delete"]).arg(&path);
        self.remove = Some(remove);
        self.tree = path;
        self.own_path = Some(rel);
        Ok(())
    }

    /// Bind the root tree's other filesystems, live, onto their mount
    /// points in the snapshot (read-only).
    fn bind_others(&mut self, layout: &HostLayout) -> Result<()> {
        for fs in &layout.filesystems[1..] {
            let rel = fs.mount_point.strip_prefix("/").unwrap_or(&fs.mount_point);
            let target = self.tree.join(rel);
            Command::new("mount")
                .args(["--bind", "-o", "ro"])
                .arg(layout.root.join(rel))
                .arg(&target)
                .run_checked()
                .with_context(|| {
                    format!("binding {} into the snapshot", fs.mount_point.display())
                })?;
            self.mounts.push(target);
        }
        Ok(())
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        for m in self.mounts.drain(..).rev() {
            if Command::new("umount").arg(&m).run_checked().is_err() {
                let _ = Command::new("umount").arg("-l").arg(&m).run_checked();
            }
        }
        if let Some(mut remove) = self.remove.take() {
            let _ = remove.run_checked();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Whether `--snapshot-root` is offered: the root is on LVM (or another
/// device-mapper device, which `lvs` then tells apart) or btrfs.
pub fn offered(layout: &HostLayout) -> bool {
    let root = layout.root_fs();
    root.fs_type == "btrfs" || matches!(root.storage, Storage::Mapper { .. })
}

/// What the run says of a snapshot it takes, and the warning naming the
/// other filesystems, copied live.
pub fn describe(layout: &HostLayout, method: &Method) -> (String, Option<String>) {
    let what = match method {
        Method::Lvm {
            vg,
            lv,
            size: Some(s),
        } => format!(
            "an LVM snapshot of {vg}/{lv} ({} MiB of copy-on-write space)",
            s >> 20
        ),
        Method::Lvm { vg, lv, size: None } => format!("a thin LVM snapshot of {vg}/{lv}"),
        Method::Btrfs => format!(
            "a read-only btrfs snapshot of the subvolume at {}",
            layout.root.display()
        ),
    };
    (what, copied_live(layout))
}

/// The warning naming the filesystems a snapshot of the root leaves
/// live (`/boot`, `/home`…), when there are any.
pub fn copied_live(layout: &HostLayout) -> Option<String> {
    let others: Vec<String> = (layout.filesystems[1..].iter())
        .map(|f| f.mount_point.display().to_string())
        .collect();
    (!others.is_empty()).then(|| {
        format!(
            "only the root is snapshotted: {} copied live, while it changes",
            others.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lvs --reportformat json --units b --nosuffix -o
    /// vg_name,lv_name,lv_size,vg_free,segtype /dev/mapper/vg0-root`, as
    /// lvm2 2.03 prints it.
    fn lvs(size: &str, free: &str, segtype: &str) -> LvFacts {
        let text = format!(
            "  {{\n      \"report\": [\n          {{\n              \"lv\": [\n                  \
             {{\"vg_name\":\"vg0\", \"lv_name\":\"root\", \"lv_size\":\"{size}\", \
             \"vg_free\":\"{free}\", \"segtype\":\"{segtype}\"}}\n              ]\n          }}\n      ]\n  }}\n"
        );
        parse_lvs(&text).unwrap()
    }

    fn fs(point: &str, fs_type: &str, storage: Storage) -> HostFs {
        HostFs {
            mount_point: PathBuf::from(point),
            device: "dm-0".into(),
            storage,
            fs_type: fs_type.into(),
            uuid: None,
            label: None,
            part_uuid: None,
            subvol: None,
        }
    }

    fn layout(filesystems: Vec<HostFs>) -> HostLayout {
        HostLayout {
            root: PathBuf::from("/"),
            disks: vec!["sda".into()],
            table: None,
            label_id: None,
            partitions: Vec::new(),
            filesystems,
            skipped: Vec::new(),
            swap: None,
        }
    }

    fn lv_root() -> Storage {
        Storage::Mapper {
            name: "vg0-root".into(),
            over: vec!["sda2".into()],
        }
    }

    fn partition() -> Storage {
        Storage::Partition {
            disk: "sda".into(),
            number: 1,
        }
    }

    #[test]
    fn an_lvm_root_is_snapshotted_from_the_free_space() {
        let l = layout(vec![fs("/", "ext4", lv_root())]);
        let lvm = |size: Option<u64>| Method::Lvm {
            vg: "vg0".into(),
            lv: "root".into(),
            size,
        };
        let small = lvs("8589934592", "1073741824", "linear");
        assert_eq!(method(&l, Some(&small)).unwrap(), lvm(Some(1 << 30)));
        let big = lvs("1073741824", "8589934592", "linear");
        assert_eq!(method(&l, Some(&big)).unwrap(), lvm(Some(1 << 30)));
        let thin = lvs("1073741824", "0", "thin");
        assert_eq!(method(&l, Some(&thin)).unwrap(), lvm(None));
        assert!(offered(&l));
    }

    #[test]
    fn refusals_are_one_line_naming_the_way_out() {
        let l = layout(vec![fs("/", "ext4", lv_root())]);
        let full = lvs("1073741824", "0", "linear");
        let e = method(&l, Some(&full)).unwrap_err().to_string();
        assert!(
            e.contains("vg0 has no free space for a snapshot of vg0/root"),
            "{e}"
        );
        let e = method(&l, None).unwrap_err().to_string();
        assert!(e.contains("vg0-root is not an LVM logical volume"), "{e}");
        let plain = layout(vec![fs("/", "ext4", partition())]);
        let e = method(&plain, None).unwrap_err().to_string();
        assert!(e.contains("needs a root on LVM or btrfs"), "{e}");
        assert!(!offered(&plain));
        assert!(!e.contains('\n'), "{e}");
        assert!(parse_lvs("{\"report\":[{\"lv\":[]}]}").is_err());
    }

    #[test]
    fn a_btrfs_root_is_snapshotted_and_the_others_copied_live() {
        let l = layout(vec![
            fs("/", "btrfs", partition()),
            fs("/boot", "ext4", partition()),
            fs("/home", "btrfs", partition()),
        ]);
        assert_eq!(method(&l, None).unwrap(), Method::Btrfs);
        let (what, live) = describe(&l, &Method::Btrfs);
        assert_eq!(what, "a read-only btrfs snapshot of the subvolume at /");
        assert_eq!(
            live.as_deref(),
            Some("only the root is snapshotted: /boot, /home copied live, while it changes")
        );
        assert_eq!(
            describe(&layout(vec![l.filesystems[0].clone()]), &Method::Btrfs).1,
            None
        );
    }
}
