//! Bundling a running host's `/` without bundling this machine: in a
//! private mount namespace, the Debian fixture's root tree on its own
//! labelled ext4 (a loop device: a whole disk with no partition table,
//! like this machine's own root) is mounted with `/proc`, `/sys`, `/dev`,
//! a tmpfs `/run` and a bind mount, and `snf-mkimage /` plans and copies
//! it as the host's root (`SNF_HOST_ROOT`). The namespace takes every
//! mount with it when it ends, even when the run fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const UUID: &str = "6c0bb2c6-8d0a-4a8e-9a3a-2f1d5e7c9b10";
const LABEL: &str = "hostroot";

/// Loop devices on a file, detached when dropped (the namespace's end
/// already detaches them; this is for a run that went wrong).
pub struct Loops(pub PathBuf);

impl Drop for Loops {
    fn drop(&mut self) {
        let out = Command::new("losetup").arg("-j").arg(&self.0).output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        for dev in text
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(':').next())
        {
            let _ = Command::new("losetup").arg("-d").arg(dev).status();
        }
    }
}

/// A read-only loop mount of an image's first partition, unmounted when
/// dropped.
pub struct RoMount(pub tempfile::TempDir);

impl RoMount {
    pub fn new(image: &Path) -> RoMount {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-o", "ro,loop,offset=1048576"])
            .arg(image)
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mounting {}", image.display());
        RoMount(dir)
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// The host's root disk: the fixture's tree in a labelled ext4.
fn host_disk(dir: &Path) -> PathBuf {
    let rootfs = fixture_dir().join("cache/rootfs");
    let disk = dir.join("host-root.img");
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-L", LABEL, "-U", UUID, "-d"])
        .arg(&rootfs)
        .arg(&disk)
        .arg("768M")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mke2fs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    disk
}

/// Mount the host in a private namespace and run `snf-mkimage /` there.
const IN_NAMESPACE: &str = r#"
    disk=$1 root=$2 mk=$3 tmp=$4 out=$5 filter=$6
    mount -o loop "$disk" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/run"
    echo gone >"$root/run/host-run"
    echo keep >"$root/srv/host-keep.txt"
    echo secret >"$root/srv/host-secret.txt"
    echo gone >"$root/tmp/host-scratch"
    echo gone >"$root/var/tmp/host-scratch"
    echo gone >"$root/swapfile"
    mkdir -p "$root/mnt/bound"
    mount --bind "$root/srv" "$root/mnt/bound"
    SNF_HOST_ROOT="$root" "$mk" --tmpdir "$tmp" --filter "$filter" --no-sysprep -o "$out" /
"#;

#[test]
fn the_running_host_becomes_an_image_with_its_uuid_and_label() {
    manifest();
    let dir = scratch();
    let disk = host_disk(dir.path());
    let _loops = Loops(disk.clone());
    let (root, tmp) = (dir.path().join("root"), dir.path().join("work"));
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    let filter = dir.path().join("filter");
    std::fs::write(&filter, "# host test\n/srv/host-secret.*\n").unwrap();
    let image = dir.path().join("host.diskdump");
    let r = run(Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-euc",
            IN_NAMESPACE,
            "sh",
        ])
        .args([&disk, &root])
        .arg(mkimage().get_program())
        .args([&tmp, &image, &filter]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for said in [
        "looks like the running host",
        "copied while it runs",
        &format!("(a whole disk), UUID={UUID}, LABEL={LABEL}"),
        "left out: /mnt/bound (a bind mount of /)",
        "has no partition table: the image gets a GPT one",
    ] {
        assert!(r.stderr.contains(said), "{said:?} not in:\n{}", r.stderr);
    }
    assert_empty_dir(&tmp);
    assert_empty_dir(&root);
    let text = std::fs::read_to_string(format!("{}.meta", image.display())).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(meta["properties"]["OS"], "debian", "{text}");
    let id = Command::new("blkid")
        .args(["-p", "-O", "1048576", "-o", "export"])
        .arg(&image)
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout);
    assert!(id.contains(&format!("UUID={UUID}\n")), "{id}");
    assert!(id.contains(&format!("LABEL={LABEL}\n")), "{id}");
    let mnt = RoMount::new(&image);
    let m = mnt.0.path();
    assert_eq!(
        std::fs::read_to_string(m.join("srv/host-keep.txt")).unwrap(),
        "keep\n"
    );
    for absent in [
        "srv/host-secret.txt",
        "tmp/host-scratch",
        "var/tmp/host-scratch",
        "swapfile",
        "run/host-run",
    ] {
        assert!(!m.join(absent).exists(), "{absent} was copied");
    }
    for empty in ["proc", "sys", "dev", "run", "mnt/bound"] {
        assert_empty_dir(&m.join(empty));
    }
    assert!(m.join("usr/lib/os-release").is_file());
}
