//! Shrinking a Windows disk whose last partition is a Windows recovery
//! partition (`windows-2019-recovery.raw`: EFI, MSR, C:, recovery, free
//! space): the recovery partition is kept as it is, C: is not shrunk, and
//! the image is only trimmed after the recovery partition.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const RECOVERY: &str = "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC";

/// The partitions of `image` as `sfdisk --json` lists them.
fn partitions(image: &Path) -> Vec<Value> {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(image)
        .output()
        .expect("running sfdisk");
    assert!(out.status.success(), "sfdisk --json {}", image.display());
    let table: Value = serde_json::from_slice(&out.stdout).unwrap();
    table["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .clone()
}

/// One entry, without its device node (which names the file).
fn entry(parts: &[Value], index: usize) -> Value {
    let mut p = parts[index].clone();
    p.as_object_mut().unwrap().remove("node");
    p
}

/// One real run, `snf-mkimage --no-boot -o OUT`: exit 0, the warning, the
/// recovery partition and C: as they were (start, size, type, GUID, name,
/// attributes), the image ending at the recovery partition's end plus the
/// GPT backup area (aligned to 1 MiB), and winre.wim still readable.
#[test]
fn shrink_keeps_a_windows_recovery_partition() {
    let (src, facts) = windows_fixture("windows-2019-recovery.raw");
    let dir = scratch();
    let out = dir.path().join("out.raw");
    let r = run(mkimage().arg("--no-boot").arg("-o").arg(&out).arg(&src));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr
            .matches("the last partition is a Windows recovery partition: it is kept as it is and the image is only trimmed after it (")
            .count(),
        1,
        "{}",
        r.stderr
    );

    let (before, after) = (partitions(&src), partitions(&out));
    assert_eq!(after.len(), 4, "{after:#?}");
    assert_eq!(
        entry(&after, 3),
        entry(&before, 3),
        "the recovery partition"
    );
    assert_eq!(after[3]["type"], RECOVERY);
    assert_eq!(entry(&after, 2), entry(&before, 2), "C:");
    let rec = &facts["partitions"][3];
    assert_eq!(rec["type"], RECOVERY);
    let rec_end = rec["start"].as_u64().unwrap() + rec["size"].as_u64().unwrap();
    // The GPT backup area: 32 sectors of entries and the header.
    let limit = (rec_end + 33 * 512).next_multiple_of(1 << 20);
    let len = std::fs::metadata(&out).unwrap().len();
    assert!(len > rec_end && len <= limit, "{len} bytes, limit {limit}");
    assert!(len < facts["virtual_size"].as_u64().unwrap());
    let saved = facts["virtual_size"].as_u64().unwrap() - len;
    assert!(
        r.stderr.contains(&format!("({saved} bytes saved)")),
        "{}",
        r.stderr
    );

    let wim = dir.path().join("winre.wim");
    guestfish(
        &out,
        "--ro",
        &format!(
            "umount-all\nmount-ro /dev/sda4 /\ndownload /Recovery/WindowsRE/winre.wim {}\n",
            wim.display()
        ),
    );
    let mut want = b"MSWIM\0\0\0".to_vec();
    want.resize(1 << 20, 0);
    assert!(std::fs::read(&wim).unwrap() == want, "winre.wim differs");
}
