//! Debian on LVM (`tests/fixtures/mk-lvm.sh`): one export of the MBR
//! disk running every default task and the shrink, checked in one
//! guestfish session on the output (`e2fsck -fn` on every filesystem,
//! `vgck`/`pvck`, the PV and VG UUIDs new, every file of the shrunk LV
//! unchanged, the tasks' effects, fstab and grub naming LVs by path); the
//! GPT disk through a dry run (layout, plan, metadata); a VG spanning two
//! PVs exported unshrunk with its one warning. The MBR disk is bootable
//! and its output must still boot to the fixture's marker.
//!
//! The size bound: the image ends at most `root LV + used + SLACK` bytes
//! after the start of the PV, where `used` is the bytes of the files of
//! the shrunk LV (`/home`) and [`SLACK`] covers ext4's metadata, the
//! 8 MiB headroom, LVM's metadata area and alignment.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const MIB: u64 = 1 << 20;
const SLACK: u64 = 48 * MIB;
/// The root LV of the fixtures (mk-lvm.sh's ROOT_MB for this tree).
const ROOT_LV: u64 = 512 * MIB;

pub(crate) fn lvm_fixture(name: &str) -> std::path::PathBuf {
    fixture_file(&format!("debian-{name}.raw"))
}

/// guestfish on `image` (read-only, nothing mounted), fed `script`.
fn session(image: &Path, script: &str) -> String {
    sessions(&[image], script)
}

/// guestfish on `images` (raw, read-only, nothing mounted), fed `script`.
pub(crate) fn sessions(images: &[&Path], script: &str) -> String {
    let mut cmd = Command::new("guestfish");
    cmd.env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .args(["--ro", "--format=raw"]);
    for image in images {
        cmd.arg("-a").arg(image);
    }
    let run = run_with_input(&mut cmd, &format!("run\n{script}"));
    assert_eq!(run.code, 0, "guestfish failed: {}", run.stderr);
    run.stdout
}

fn meta(image: &Path) -> Value {
    let text = std::fs::read_to_string(format!("{}.meta", image.display())).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["properties"].clone()
}

/// `sha256  ./path` lines of every regular file below a host directory.
fn host_hashes(dir: &Path) -> BTreeMap<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -exec sha256sum {} +")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    parse_hashes(&String::from_utf8_lossy(&out.stdout))
}

fn parse_hashes(text: &str) -> BTreeMap<String, String> {
    (text.lines())
        .filter_map(|l| l.split_once("  "))
        .map(|(h, p)| (p.to_owned(), h.to_owned()))
        .collect()
}

/// The text between two marker lines of a session's output.
pub(crate) fn between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("{from} in {text}"))
        + from.len();
    let end = text[start..]
        .find(to)
        .unwrap_or_else(|| panic!("{to} in {text}"));
    &text[start..start + end]
}

const CHECKS: &str = r#"debug sh "lvm vgck vg0 && lvm pvck /dev/sd?2 && echo LVM-CLEAN"
debug sh "for d in /dev/sd?1 /dev/vg0/root /dev/vg0/home; do e2fsck -fn $d >/dev/null 2>&1 || echo FSCK-FAILED $d; done; echo FSCK-DONE"
debug sh "echo UUIDS; lvm pvs --noheadings -o pv_uuid; lvm vgs --noheadings -o vg_uuid; echo END"
lvs
mount-ro /dev/vg0/home /
debug sh "echo HOME; cd /sysroot && find . -type f -exec sha256sum {} +; echo END"
umount /
mount-ro /dev/vg0/root /
echo FSTAB
cat /etc/fstab
echo SHADOW
cat /etc/shadow
echo MACHINE-ID
cat /etc/machine-id
echo SSH
is-file /etc/ssh/ssh_host_rsa_key
is-file /etc/ssh/ssh_host_ed25519_key
echo GRUB
umount /
mount-ro /dev/sda1 /
cat /grub/grub.cfg
echo END
"#;

#[test]
fn lvm_export_prepares_and_shrinks() {
    let src = lvm_fixture("lvm-mbr");
    let dir = scratch();
    let out = dir.path().join("lvm.diskdump");
    let run = run(mkimage().arg("-o").arg(&out).arg(&src));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = &run.stderr;
    assert!(
        e.contains(
            "Checking if the media contains logical volumes (LVM) ... yes (vg0 on /dev/sda2: \
         root 512 MiB (ext4), home 64 MiB (ext4), swap 64 MiB (swap); 32 MiB free)"
        ),
        "{e}"
    );
    assert!(
        e.contains("new UUIDs for 1 physical volume(s) and the volume group(s) vg0"),
        "{e}"
    );
    assert!(
        e.contains("LVM: removed the swap volume vg0/swap, shrank vg0/home to "),
        "{e}"
    );
    let m = meta(&out);
    assert_eq!(m["ROOT_PARTITION"], "2");
    assert_eq!(m["ROOT_LV"], "vg0/root");
    assert_eq!(m["SWAP"], "3:64");

    let home = fixture_dir().join("cache/rootfs/home");
    let want = host_hashes(&home);
    let used: u64 = walk_size(&home);
    let len = std::fs::metadata(&out).unwrap().len();
    let old = std::fs::metadata(&src).unwrap().len();
    let pv_start = 130 * MIB;
    assert!(len < old, "not shrunk: {len} of {old}");
    assert!(
        len <= pv_start + ROOT_LV + used + SLACK,
        "{} MiB for {} MiB of /home",
        len / MIB,
        used / MIB
    );
    check_output(&out, &src, &want);
    // The fixture boots with EXTLINUX and the host's initramfs, which
    // activates the root LV by name: the new UUIDs and the shrunk PV keep
    // it bootable.
    match crate::boot::boot_to_marker(&out, crate::boot::MARKER, crate::boot::LIMIT) {
        Ok(took) => eprintln!("the LVM image booted to the marker in {}s", took.as_secs()),
        Err(why) => panic!("{} did not boot: {why}", out.display()),
    }
}

/// The bytes of the regular files below `dir`.
fn walk_size(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            n += walk_size(&e.path());
        } else if t.is_file() {
            n += e.metadata().unwrap().len();
        }
    }
    n
}

fn check_output(out: &Path, src: &Path, want: &BTreeMap<String, String>) {
    let text = session(out, CHECKS);
    assert!(text.contains("LVM-CLEAN"), "vgck/pvck:\n{text}");
    assert!(!text.contains("FSCK-FAILED"), "e2fsck:\n{text}");
    assert!(
        text.contains("/dev/vg0/home\n/dev/vg0/root\n"),
        "LVs:\n{text}"
    );
    assert!(
        !text.contains("/dev/vg0/swap"),
        "the swap LV is gone:\n{text}"
    );
    // New UUIDs: not in the source's LVM metadata area.
    let mut area = vec![0u8; MIB as usize];
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(src).unwrap();
    f.seek(SeekFrom::Start(129 * MIB)).unwrap();
    f.read_exact(&mut area).unwrap();
    let area = String::from_utf8_lossy(&area);
    let uuids: Vec<&str> = between(&text, "UUIDS\n", "END")
        .split_whitespace()
        .collect();
    assert_eq!(uuids.len(), 2, "{text}");
    for u in uuids {
        assert!(!area.contains(u), "{u} is the source's UUID");
    }
    // Every file of the shrunk LV, as it was (tasks only delete there).
    let got = parse_hashes(between(&text, "HOME\n", "END"));
    assert!(!got.is_empty(), "no file in /home:\n{text}");
    for (path, hash) in &got {
        assert_eq!(want.get(path), Some(hash), "{path} changed");
    }
    let fstab = between(&text, "FSTAB\n", "SHADOW");
    assert!(fstab.contains("/dev/mapper/vg0-root\t/\t"), "{fstab}");
    assert!(fstab.contains("/dev/vg0/home\t/home\t"), "{fstab}");
    assert!(!fstab.contains("swap"), "remove-swap-entry: {fstab}");
    let grub = between(&text, "GRUB\n", "END");
    assert!(grub.contains("root=/dev/mapper/vg0-root"), "{grub}");
    let shadow = between(&text, "SHADOW\n", "MACHINE-ID");
    assert!(shadow.lines().all(|l| !l.contains(":$")), "{shadow}");
    assert_eq!(between(&text, "MACHINE-ID\n", "SSH").trim(), "");
    assert_eq!(between(&text, "SSH\n", "GRUB").trim(), "false\nfalse");
}

#[test]
fn lvm_gpt_dry_run_shows_layout_plan_and_metadata() {
    let src = lvm_fixture("lvm-gpt");
    let run = run(mkimage().args(["--dry-run", "--print-metadata"]).arg(&src));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e = &run.stderr;
    for line in [
        "yes (vg0 on /dev/sda3: root 512 MiB (ext4), home 64 MiB (ext4), swap 64 MiB (swap); 32 MiB free)",
        "a real run gives new UUIDs to 1 physical volume(s) and the volume group(s) vg0",
        "a real run removes the swap volume vg0/swap, shrinks vg0/home (ext4), \
         cuts the physical volume /dev/sda3 after its last extent",
    ] {
        assert!(e.contains(line), "{line:?} in:\n{e}");
    }
    let printed: Vec<Vec<&str>> = (run.stdout.lines())
        .map(|l| l.split_whitespace().collect())
        .collect();
    for kv in [["ROOT_PARTITION", "3"], ["ROOT_LV", "vg0/root"]] {
        assert!(printed.contains(&kv.to_vec()), "{kv:?} in:\n{}", run.stdout);
    }
}

#[test]
fn lvm_on_two_pvs_is_exported_unshrunk() {
    let src = lvm_fixture("lvm-multipv");
    let dir = scratch();
    let out = dir.path().join("multi.diskdump");
    let run = run(mkimage()
        .args(["--no-sysprep", "--enable-sysprep", "shrink", "-o"])
        .arg(&out)
        .arg(&src));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warnings: Vec<&str> = (run.stderr.lines())
        .filter(|l| l.contains("spans 2 physical volumes"))
        .collect();
    assert_eq!(
        warnings,
        [
            "Warning: not shrinking the image: volume group vg0 spans 2 physical volumes, \
          which is not shrunk safely; it is exported unshrunk"
        ],
        "{}",
        run.stderr
    );
    // Only the unpartitioned space after the last partition is cut.
    let len = std::fs::metadata(&out).unwrap().len();
    let cut = dir.path().join("src-head");
    let status = Command::new("head")
        .arg(format!("-c{len}"))
        .arg(&src)
        .stdout(std::fs::File::create(&cut).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        len + 2 * MIB > std::fs::metadata(&src).unwrap().len(),
        "{len}: shrunk"
    );
    assert_eq!(
        md5_file(&out),
        md5_file(&cut),
        "the export differs from its source"
    );
}
