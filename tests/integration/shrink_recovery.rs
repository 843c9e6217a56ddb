//! Shrinking a Windows disk whose last partition is a Windows recovery
//! partition (`windows-2019-recovery.raw`: EFI, MSR, C:, recovery, free
//! space; `windows-2019-recovery-mbr.raw`: System Reserved, C:, recovery
//! of type 0x27, free space): the recovery partition is kept as it is, C:
//! is not shrunk, and the image is only trimmed after the recovery
//! partition.

use std::path::{Path, PathBuf};
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

/// A disk layout with a recovery partition last.
struct Layout {
    fixture: &'static str,
    /// The recovery partition's type as sfdisk shows it.
    recovery_type: &'static str,
    /// Its index among the partitions (C: is just before it).
    index: usize,
    /// What follows the last partition: the GPT backup area (32 sectors
    /// of entries and the header), nothing on MBR.
    backup: u64,
}

const LAYOUTS: [Layout; 2] = [
    Layout {
        fixture: "windows-2019-recovery.raw",
        recovery_type: RECOVERY,
        index: 3,
        backup: 33 * 512,
    },
    Layout {
        fixture: "windows-2019-recovery-mbr.raw",
        recovery_type: "27",
        index: 2,
        backup: 0,
    },
];

/// One real run per layout (GPT, then MBR with type 0x27),
/// `snf-mkimage --no-boot -o OUT`: exit 0, the warning, the recovery
/// partition and C: as they were (start, size, type, GUID, name,
/// attributes, bootable flag), the image ending at the recovery
/// partition's end plus the GPT backup area (aligned to 1 MiB), and
/// winre.wim still readable.
#[test]
fn shrink_keeps_a_windows_recovery_partition() {
    let dir = scratch();
    let outs: Vec<PathBuf> = (LAYOUTS.iter().enumerate())
        .map(|(n, layout)| keeps_recovery(layout, &dir.path().join(format!("out{n}.raw"))))
        .collect();
    // One helper VM for every output: each inspects as Windows again, and
    // its recovery partition still holds winre.wim.
    let disks: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
    let mut script = String::from("inspect-os\n");
    for (n, (layout, out)) in LAYOUTS.iter().zip(&outs).enumerate() {
        let disk = char::from(b'a' + n as u8);
        script += &format!(
            "mount-ro /dev/sd{disk}{} /\ndownload /Recovery/WindowsRE/winre.wim {}\numount /\n",
            layout.index + 1,
            wim(out).display()
        );
    }
    let roots = crate::lvm::sessions(&disks, &script);
    assert_eq!(
        roots.lines().count(),
        LAYOUTS.len(),
        "roots found:\n{roots}"
    );
    let mut want = b"MSWIM\0\0\0".to_vec();
    want.resize(1 << 20, 0);
    for (layout, out) in LAYOUTS.iter().zip(&outs) {
        let name = layout.fixture;
        assert!(
            std::fs::read(wim(out)).unwrap() == want,
            "{name}: winre.wim differs"
        );
    }
}

/// Where winre.wim of the output `out` is put.
fn wim(out: &Path) -> PathBuf {
    out.with_extension("winre.wim")
}

/// Export the layout's fixture to `out` and check it; `out`.
fn keeps_recovery(layout: &Layout, out: &Path) -> PathBuf {
    let (src, facts) = windows_fixture(layout.fixture);
    let out = out.to_path_buf();
    let r = run(mkimage().arg("--no-boot").arg("-o").arg(&out).arg(&src));
    let name = layout.fixture;
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    assert_eq!(
        r.stderr
            .matches("the last partition is a Windows recovery partition: it is kept as it is and the image is only trimmed after it (")
            .count(),
        1,
        "{name}: {}",
        r.stderr
    );

    let (before, after, i) = (partitions(&src), partitions(&out), layout.index);
    assert_eq!(after.len(), i + 1, "{name}: {after:#?}");
    assert_eq!(entry(&after, i), entry(&before, i), "{name}: recovery");
    assert_eq!(after[i]["type"], layout.recovery_type, "{name}");
    assert_eq!(entry(&after, i - 1), entry(&before, i - 1), "{name}: C:");
    let rec = &facts["partitions"][i];
    assert_eq!(rec["type"], layout.recovery_type, "{name}");
    assert_eq!(facts["system_partition"], i, "{name}: C: is p{i}");
    let rec_end = rec["start"].as_u64().unwrap() + rec["size"].as_u64().unwrap();
    let limit = (rec_end + layout.backup).next_multiple_of(1 << 20);
    let len = std::fs::metadata(&out).unwrap().len();
    assert!(
        len >= rec_end && len <= limit,
        "{name}: {len} bytes, limit {limit}"
    );
    assert!(len < facts["virtual_size"].as_u64().unwrap(), "{name}");
    let saved = facts["virtual_size"].as_u64().unwrap() - len;
    assert!(
        r.stderr.contains(&format!("({saved} bytes saved)")),
        "{name}: {}",
        r.stderr
    );

    out
}
