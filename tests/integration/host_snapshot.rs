//! `snf-mkimage / --snapshot-root` on a btrfs root: in a private mount
//! namespace, the Debian fixture's root tree is the top subvolume of a
//! btrfs loop filesystem, with `/home` another subvolume mounted over it.
//! The root is bundled from a read-only snapshot, `/home` live; the
//! snapshot is gone afterwards, and no mount or loop device is left.
//! (LVM snapshots are planned in unit tests: these machines have no
//! device-mapper.)

use std::process::Command;

use crate::host::{Loops, RoMount};
use crate::support::*;

/// Mount the btrfs host in a private namespace, run `snf-mkimage /`
/// there, then list the filesystem's subvolumes.
const IN_NAMESPACE: &str = r#"
    disk=$1 root=$2 mk=$3 tmp=$4 out=$5
    L=$(losetup -f --show "$disk")
    mount "$L" "$root"
    losetup -d "$L"   # detached when its last mount goes
    btrfs -q subvolume create "$root/@home"
    mkdir -p "$root/@home/user"
    echo live >"$root/@home/user/live.txt"
    mount -o subvol=/@home "$L" "$root/home"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/run"
    SNF_HOST_ROOT="$root" "$mk" --tmpdir "$tmp" --no-sysprep --snapshot-root -o "$out" /
    btrfs subvolume list "$root"
    ls -a "$root"
    umount -R "$root"
"#;

#[test]
fn a_btrfs_root_is_bundled_from_a_snapshot_that_goes_away() {
    manifest();
    let dir = scratch();
    let disk = dir.path().join("btrfs-root.img");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(768 << 20))
        .unwrap();
    let out = Command::new("mkfs.btrfs")
        .args(["-q", "-f", "-r"])
        .arg(fixture_dir().join("cache/rootfs"))
        .arg(&disk)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mkfs.btrfs: {err}");
    let _loops = Loops(disk.clone());
    let (root, tmp) = (dir.path().join("root"), dir.path().join("work"));
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    let image = dir.path().join("host.diskdump");
    let r = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-euc"])
        .args([IN_NAMESPACE, "sh"])
        .args([&disk, &root])
        .arg(mkimage().get_program())
        .args([&tmp, &image]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for said in [
        "Taking a read-only btrfs snapshot of the subvolume at",
        "only the root is snapshotted: /home copied live",
        "/ is btrfs, which cannot have the UUID of a filesystem attached to this machine",
    ] {
        assert!(r.stderr.contains(said), "{said:?} not in:\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("copied while it runs"), "{}", r.stderr);
    // Only the test's own subvolume is left, and no snapshot directory.
    let subvolumes: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("ID ")).collect();
    assert_eq!(subvolumes.len(), 1, "{}", r.stdout);
    assert!(subvolumes[0].ends_with(" path @home"), "{}", r.stdout);
    assert!(!r.stdout.contains("snapshot"), "{}", r.stdout);
    assert_empty_dir(&tmp);
    assert_empty_dir(&root);
    assert_no_loop_device(&disk);
    let mnt = RoMount::new(&image, 1 << 20);
    let m = mnt.0.path();
    assert!(m.join("usr/lib/os-release").is_file());
    let live = std::fs::read_to_string(m.join("home/user/live.txt")).unwrap();
    assert_eq!(live, "live\n");
    let names: Vec<String> = std::fs::read_dir(m)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("snapshot")), "{names:?}");
    for empty in ["proc", "sys", "dev", "run"] {
        assert_empty_dir(&m.join(empty));
    }
}

/// No loop device is left on `file` (its detach may lag its unmount).
fn assert_no_loop_device(file: &std::path::Path) {
    let mut left = String::new();
    for _ in 0..50 {
        let out = Command::new("losetup")
            .arg("-j")
            .arg(file)
            .output()
            .unwrap();
        left = String::from_utf8_lossy(&out.stdout).into_owned();
        if left.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("loop devices left: {left}");
}
