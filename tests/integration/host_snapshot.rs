//! `snf-mkimage / --snapshot-root` on a btrfs root: in a private mount
//! namespace, the Debian fixture's root tree is the top subvolume of a
//! btrfs loop filesystem, with `/home` another subvolume mounted over it.
//! The root is bundled from a read-only snapshot, `/home` live; the
//! snapshot is gone afterwards, and no mount or loop device is left.
//! (LVM snapshots are planned in unit tests: these machines have no
//! device-mapper.) The terminal UI's Bundle Host offers the snapshot on
//! the same kind of root, and takes it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::host::{Loops, RoMount};
use crate::support::*;
use crate::tmux::{LAUNCH, SCREEN, Tmux};

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

/// A btrfs disk in `dir` holding the Debian fixture's root tree, and the
/// empty directories its root and the work directory go on.
fn btrfs_root(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    manifest();
    let disk = dir.join("btrfs-root.img");
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
    let (root, tmp) = (dir.join("root"), dir.join("work"));
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    (disk, root, tmp)
}

#[test]
fn a_btrfs_root_is_bundled_from_a_snapshot_that_goes_away() {
    let dir = scratch();
    let (disk, root, tmp) = btrfs_root(dir.path());
    let _loops = Loops(disk.clone());
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

/// The btrfs host mounted as above in a private namespace, held until
/// standard input closes; then its subvolumes are listed and it goes.
const HOLD_NAMESPACE: &str = r#"
    disk=$1 root=$2
    L=$(losetup -f --show "$disk")
    mount "$L" "$root"
    losetup -d "$L"
    btrfs -q subvolume create "$root/@home"
    mount -o subvol=/@home "$L" "$root/home"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/run"
    echo ready
    cat >/dev/null
    btrfs subvolume list "$root"
    umount -R "$root"
"#;

/// The namespace of [`HOLD_NAMESPACE`]; dropping it lets it go.
struct Held(Child);

impl Held {
    fn start(disk: &Path, root: &Path) -> Held {
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-euc"])
            .args([HOLD_NAMESPACE, "sh"])
            .args([disk, root])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let out = child.stdout.as_mut().unwrap();
        BufReader::new(out).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "the namespace was not set up");
        Held(child)
    }

    /// Let the namespace go; what it printed (the subvolume list).
    fn end(mut self) -> String {
        drop(self.0.stdin.take());
        let mut out = String::new();
        let mut stdout = self.0.stdout.take().unwrap();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        assert!(self.0.wait().unwrap().success(), "{out}");
        out
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Bundle Host in the UI on the btrfs root: the layout, the filter and the
/// snapshot offer are shown, the snapshot is the default and is taken;
/// Ctrl-C during the copy leaves no snapshot, work file or mount behind.
#[test]
fn tui_bundle_host_offers_and_takes_a_btrfs_snapshot() {
    let dir = scratch();
    let (disk, root, tmp) = btrfs_root(dir.path());
    let _loops = Loops(disk.clone());
    let held = Held::start(&disk, &root);
    let ui = Tmux::start(
        &format!(
            "nsenter --target {} --mount env SNF_HOST_ROOT={} {} --tmpdir {}",
            held.0.id(),
            root.display(),
            env!("CARGO_BIN_EXE_snf-image-creator"),
            tmp.display()
        ),
        dir.path(),
    );
    ui.wait_for("Please select an input media", SCREEN);
    ui.select("Tab", "< Bundle Host >");
    ui.press("Enter", "The root is on btrfs: copy a snapshot");
    let shown = ui.screen();
    for said in [
        "/home copied live",
        "/ btrfs on loop",
        "PgDn: more",
        "Snapshot  copy a snapshot",
        "Live      copy the running system",
    ] {
        assert!(shown.contains(said), "{said:?} not in\n{shown}");
    }
    // The rest of the layout, and the filter, further down.
    for _ in 0..4 {
        ui.send("PageDown");
    }
    ui.wait_for("Left out: ", SCREEN);
    // The selection stays on the first item, the snapshot.
    ui.select("Left", "< Continue >");
    ui.send("Enter");
    ui.wait_for("Taking a read-only btrfs snapshot", LAUNCH);
    ui.wait_for("Copying the tree into the image", LAUNCH);
    assert!(
        !ui.screen().contains("copied while it runs"),
        "{}",
        ui.screen()
    );
    ui.send("C-c");
    assert_eq!(ui.exit_code(LAUNCH), 130, "{}", ui.screen());
    let listed = held.end();
    let subvolumes: Vec<&str> = listed.lines().filter(|l| l.starts_with("ID ")).collect();
    assert_eq!(subvolumes.len(), 1, "{listed}");
    assert!(subvolumes[0].ends_with(" path @home"), "{listed}");
    assert_empty_dir(&tmp);
    assert_empty_dir(&root);
    assert_no_loop_device(&disk);
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
