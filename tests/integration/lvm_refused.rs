//! The LVM layouts the shrink refuses (`tests/fixtures/mk-lvm-refused.sh`:
//! a thin pool, a snapshot, a RAID1 LV, LUKS over and under LVM), each
//! exported with only the shrink task: its one warning naming what is
//! refused, nothing shrunk (the output is the source up to the end of its
//! last partition, byte for byte but for the RAID's own superblocks, which
//! activating it updates), the source unchanged; then every output read
//! back in one guestfish session: `vgck`/`pvck` clean, `e2fsck -fn` clean
//! on every root LV, a few files of each root as in the fixture tree, the
//! LUKS container under LVM still opening to its volume group.

use std::io::Read;
use std::path::Path;

use crate::lvm::{between, lvm_fixture, sessions};
use crate::support::*;

const MIB: u64 = 1 << 20;
/// mk-lvm.sh's extent size.
const EXTENT: u64 = 4 * MIB;

/// Fixture, its volume group, and the warning's reason.
const CASES: &[(&str, &str, &str)] = &[
    (
        "lvm-thin",
        "vg_thin",
        "vg_thin/pool is a thin pool or thin volume",
    ),
    (
        "lvm-snapshot",
        "vg_snapshot",
        "vg_snapshot/home is a snapshot origin",
    ),
    ("lvm-raid1", "vg_raid1", "vg_raid1/data is a RAID volume"),
    (
        "lvm-luks-over",
        "vg_luks_over",
        "/dev/vg_luks_over/secret holds a LUKS encrypted volume",
    ),
    (
        "lvm-luks-under",
        "vg_luks_under",
        "/dev/sda3 holds a LUKS encrypted volume",
    ),
];

/// Files of the root LVs compared with the fixture tree.
const FILES: &[&str] = &["/etc/passwd", "/etc/shadow", "/etc/hostname"];

#[test]
fn lvm_refused_layouts_are_exported_unshrunk() {
    let dir = scratch();
    let mut outputs = Vec::new();
    for (name, _, why) in CASES {
        let src = lvm_fixture(name);
        let out = dir.path().join(format!("{name}.diskdump"));
        export_unshrunk(&src, &out, why);
        outputs.push((src, out));
    }
    let paths: Vec<&Path> = outputs.iter().map(|(_, o)| o.as_path()).collect();
    let text = sessions(&paths, &checks());
    assert!(text.contains("CHECKS-DONE"), "{text}");
    for bad in ["VGCK-FAILED", "PVCK-FAILED", "FSCK-FAILED", "CRYPT-FAILED"] {
        assert!(!text.contains(bad), "{bad}:\n{text}");
    }
    assert_eq!(text.matches("PVCK-OK").count(), CASES.len(), "{text}");
    assert!(text.contains("CRYPT-OK"), "{text}");
    let tree = fixture_dir().join("cache/rootfs");
    for (_, vg, _) in CASES {
        let got = between(&text, &format!("ROOT {vg}\n"), "END");
        let want: Vec<String> = FILES.iter().map(|f| host_sha256(&tree, f)).collect();
        assert_eq!(got.split_whitespace().collect::<Vec<_>>(), want, "{vg}");
    }
    let rmeta = rmeta_extents(between(&text, "RMETA\n", "END"));
    assert_eq!(rmeta.len(), 2, "{text}");
    for ((src, out), (name, _, _)) in outputs.iter().zip(CASES) {
        let allowed = if *name == "lvm-raid1" {
            &rmeta[..]
        } else {
            &[]
        };
        same_bytes(src, out, allowed);
    }
}

/// Export `src` with the shrink alone; its one warning names `why`, the
/// image is only cut after its last partition, the source is unchanged.
fn export_unshrunk(src: &Path, out: &Path, why: &str) {
    let before = md5_file(src);
    let run = run(mkimage()
        .args(["--no-sysprep", "--enable-sysprep", "shrink", "-o"])
        .arg(out)
        .arg(src));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warnings: Vec<&str> = (run.stderr.lines())
        .filter(|l| l.contains("shrink") && l.starts_with("Warning"))
        .collect();
    let want = format!(
        "Warning: not shrinking the image: {why}, which is not shrunk safely; it is exported unshrunk"
    );
    assert_eq!(warnings, [want.as_str()], "{}", run.stderr);
    assert!(
        !run.stderr.contains("LVM: "),
        "something shrunk: {}",
        run.stderr
    );
    // mk-lvm.sh leaves 1 MiB after the last partition: all that goes.
    let len = std::fs::metadata(out).unwrap().len();
    let old = std::fs::metadata(src).unwrap().len();
    assert_eq!(len + MIB, old, "{} is not the unshrunk size", out.display());
    assert_eq!(md5_file(src), before, "{} changed", src.display());
}

/// One session on every output: LVM and filesystem checks, root files,
/// the RAID's metadata extents, the LUKS container opened with its key.
fn checks() -> String {
    let vgs: Vec<&str> = CASES.iter().map(|c| c.1).collect();
    let mut s = format!(
        "debug sh \"for v in {vgs}; do lvm vgck $v >/dev/null 2>&1 || echo VGCK-FAILED $v; \
         e2fsck -fn /dev/$v/root >/dev/null 2>&1 || echo FSCK-FAILED $v; done; \
         for p in $(lvm pvs --noheadings -o pv_name); do lvm pvck $p >/dev/null 2>&1 \
         && echo PVCK-OK || echo PVCK-FAILED $p; done\"\n",
        vgs = vgs.join(" ")
    );
    s += "debug sh \"set -- /dev/sd?3; printf snf-fixture | cryptsetup open --key-file=- $1 crypt \
          && lvm vgscan >/dev/null 2>&1 && lvm vgchange -ay vg_crypt >/dev/null 2>&1 \
          && lvm vgck vg_crypt && e2fsck -fn /dev/vg_crypt/data >/dev/null 2>&1 \
          && echo CRYPT-OK || echo CRYPT-FAILED\"\n";
    s += "debug sh \"echo RMETA; lvm lvs -a --noheadings -o lv_name,seg_pe_ranges vg_raid1; echo END\"\n";
    for vg in vgs {
        s += &format!("mount-ro /dev/{vg}/root /\necho ROOT {vg}\n");
        for f in FILES {
            s += &format!("checksum sha256 {f}\n");
        }
        s += "echo END\numount /\n";
    }
    s + "echo CHECKS-DONE\n"
}

fn host_sha256(tree: &Path, file: &str) -> String {
    sha256_file(&tree.join(file.trim_start_matches('/')))
}

/// The extents of the RAID's metadata sub-LVs, from `lv_name
/// seg_pe_ranges` lines (`[data_rmeta_0] /dev/sdc2:136-136`).
fn rmeta_extents(text: &str) -> Vec<(u64, u64)> {
    (text.lines())
        .filter(|l| l.contains("_rmeta_"))
        .filter_map(|l| l.rsplit_once(':'))
        .filter_map(|(_, r)| r.trim().split_once('-'))
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .collect()
}

/// `out` is the first bytes of `src`, but for bytes inside the PV
/// extents `allowed` (the PV is partition 2, its extents from 1 MiB in).
fn same_bytes(src: &Path, out: &Path, allowed: &[(u64, u64)]) {
    let pv = partition_start(src, 2) + MIB;
    let inside = |off: u64| {
        (allowed.iter()).any(|&(a, b)| off >= pv + a * EXTENT && off < pv + (b + 1) * EXTENT)
    };
    let (mut a, mut b) = (open(src), open(out));
    let (mut x, mut y) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    let mut off = 0u64;
    loop {
        let n = b.read(&mut y).unwrap();
        if n == 0 {
            break;
        }
        a.read_exact(&mut x[..n]).unwrap();
        if x[..n] != y[..n] {
            let at = (0..n).filter(|&i| x[i] != y[i]).map(|i| off + i as u64);
            for d in at {
                assert!(
                    inside(d),
                    "{} differs from its source at byte {d}",
                    out.display()
                );
            }
        }
        off += n as u64;
    }
}

fn open(path: &Path) -> std::io::BufReader<std::fs::File> {
    std::io::BufReader::new(std::fs::File::open(path).unwrap())
}

/// The byte offset of MBR partition `n` (1-4).
fn partition_start(disk: &Path, n: usize) -> u64 {
    let mut mbr = [0u8; 512];
    std::fs::File::open(disk)
        .unwrap()
        .read_exact(&mut mbr)
        .unwrap();
    let at = 446 + 16 * (n - 1) + 8;
    u64::from(u32::from_le_bytes(mbr[at..at + 4].try_into().unwrap())) * 512
}
