//! Partition-table tests on sparse temporary disks: the tables are made by
//! the real `sfdisk`, edited by [`PartitionTable`], and checked by the real
//! `sfdisk --verify` and `sgdisk -v` (packages fdisk and gdisk, installed
//! by scripts/setup.sh).

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::*;

const SS: u64 = 512;

/// A sparse disk of `mib` MiB partitioned by sfdisk from `script`.
fn disk(mib: u64, script: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    file.as_file().set_len(mib * MIB).unwrap();
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(file.path())
        .stdin(Stdio::piped())
        .spawn()
        .expect("running sfdisk (package fdisk)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed on {script}");
    file
}

fn table(path: &Path) -> Value {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "sfdisk --json failed");
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["partitiontable"].clone()
}

/// The partitions as sfdisk shows them, without the node names.
fn entries(path: &Path) -> Vec<Value> {
    table(path)["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.as_object_mut().unwrap().remove("node");
            p
        })
        .collect()
}

fn verify(path: &Path) {
    let out = Command::new("sfdisk")
        .arg("--verify")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("No errors detected"),
        "sfdisk --verify: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sgdisk_verify(path: &Path) {
    let out = Command::new("sgdisk")
        .arg("-v")
        .arg(path)
        .output()
        .expect("running sgdisk (package gdisk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("No problems found"),
        "sgdisk -v: {text}"
    );
}

/// Read, apply `edit`, write for the fitted length and cut the file there.
fn shrink_with(path: &Path, edit: impl FnOnce(&mut PartitionTable)) -> u64 {
    let mut f = File::options().read(true).write(true).open(path).unwrap();
    let old = f.metadata().unwrap().len();
    let mut t = PartitionTable::read(&mut f).unwrap();
    edit(&mut t);
    let len = t.fitted_len(old);
    let mut cache = crate::media::blockio::PageCache::new(f, old);
    t.write(&mut cache, len).unwrap();
    cache.into_inner().unwrap().set_len(len).unwrap();
    len
}

const GPT_SCRIPT: &str = "label: gpt
first-lba: 2048
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=\"bios\"
start=4096, size=20480, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555555, name=\"root fs\", attrs=\"LegacyBIOSBootable GUID:60\"
start=24576, size=8192, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name=\"swap\"
";

#[test]
fn gpt_shrink_keeps_entries_and_moves_the_backup() {
    let d = disk(64, GPT_SCRIPT);
    let before = entries(d.path());
    let mut t = PartitionTable::read(&mut File::open(d.path()).unwrap()).unwrap();
    assert_eq!(t.scheme(), Scheme::Gpt);
    let last = t.last().unwrap();
    assert_eq!(
        (last.number, last.start, last.end),
        (3, 24576 * SS, 32768 * SS)
    );
    t.remove(3).unwrap();
    assert_eq!(t.last().unwrap().number, 2);

    let len = shrink_with(d.path(), |t| {
        t.remove(3).unwrap();
        t.resize(2, 16384 * SS).unwrap();
    });
    // The root now ends at 8 MiB; the backup needs 33 sectors past it.
    assert_eq!(len, 9 * MIB);
    verify(d.path());
    sgdisk_verify(d.path());
    let after = entries(d.path());
    assert_eq!(after.len(), 2);
    assert_eq!(after[0], before[0]);
    let mut expected = before[1].clone();
    expected["size"] = (16384 - 4096).into();
    assert_eq!(after[1], expected, "type, uuid, name and attributes stay");
    assert_eq!(after[1]["attrs"], "LegacyBIOSBootable GUID:60");

    let pt = table(d.path());
    assert_eq!(pt["lastlba"], len / SS - 34);
    // The protective MBR covers the new disk exactly.
    let mbr = std::fs::read(d.path()).unwrap();
    let pmbr_size = u32::from_le_bytes(mbr[458..462].try_into().unwrap());
    assert_eq!(u64::from(pmbr_size), len / SS - 1);
    assert_eq!(&mbr[len as usize - 512..len as usize - 504], b"EFI PART");
}

#[test]
fn gpt_boot_code_and_boot_flag_survive() {
    let d = disk(64, GPT_SCRIPT);
    {
        let mut f = File::options().write(true).open(d.path()).unwrap();
        f.write_all(&[0xfa; 440]).unwrap();
        std::io::Seek::seek(&mut f, SeekFrom::Start(446)).unwrap();
        f.write_all(&[0x80]).unwrap();
    }
    shrink_with(d.path(), |_| {});
    sgdisk_verify(d.path());
    let mbr = std::fs::read(d.path()).unwrap();
    assert_eq!(&mbr[..440], &[0xfa; 440][..]);
    assert_eq!(mbr[446], 0x80);
    assert_eq!(mbr[450], 0xee);
}

const MBR_SCRIPT: &str = "label: dos
label-id: 0x5eed1234
start=2048, size=20480, type=83, bootable
start=22528, size=20480, type=82
";

#[test]
fn mbr_primary_resize_and_swap_removal() {
    let d = disk(64, MBR_SCRIPT);
    let len = shrink_with(d.path(), |t| {
        assert_eq!(t.scheme(), Scheme::Mbr);
        let last = t.last().unwrap();
        assert_eq!((last.number, last.kind), (2, PartKind::Primary));
        t.remove(2).unwrap();
        t.resize(1, 6 * MIB + 512).unwrap();
    });
    assert_eq!(len, 7 * MIB);
    verify(d.path());
    let pt = table(d.path());
    assert_eq!(pt["id"], "0x5eed1234");
    let after = entries(d.path());
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["size"], 6 * 2048 + 1 - 2048);
    assert_eq!(after[0]["bootable"], true);
    assert_eq!(after[0]["type"], "83");
}

const LOGICAL_SCRIPT: &str = "label: dos
start=2048, size=20480, type=83, bootable
start=22528, type=5
start=24576, size=20480, type=83
start=47104, size=40960, type=83
";

#[test]
fn mbr_logical_last_resizes_the_extended_partition() {
    let d = disk(96, LOGICAL_SCRIPT);
    let len = shrink_with(d.path(), |t| {
        let last = t.last().unwrap();
        assert_eq!((last.number, last.kind), (6, PartKind::Logical));
        t.resize(6, 40 * MIB).unwrap();
    });
    assert_eq!(len, 40 * MIB);
    verify(d.path());
    let after = entries(d.path());
    assert_eq!(after.len(), 4);
    assert_eq!(after[1]["start"], 22528);
    assert_eq!(after[1]["size"], 40 * 2048 - 22528, "extended ends with l6");
    assert_eq!(after[3]["start"], 47104);
    assert_eq!(after[3]["size"], 40 * 2048 - 47104);
    assert_eq!(after[2]["size"], 20480);
}

#[test]
fn mbr_trailing_logical_swap_and_empty_extended_go() {
    let script = LOGICAL_SCRIPT.replace("size=40960, type=83", "size=40960, type=82");
    let d = disk(96, &script);
    shrink_with(d.path(), |t| {
        t.remove(6).unwrap();
        let last = t.last().unwrap();
        assert_eq!((last.number, last.kind), (5, PartKind::Logical));
        t.remove(5).unwrap();
        let last = t.last().unwrap();
        assert_eq!((last.number, last.kind), (2, PartKind::Extended));
        t.remove(2).unwrap();
        assert_eq!(t.last().unwrap().number, 1);
    });
    verify(d.path());
    assert_eq!(entries(d.path()).len(), 1);
    assert_eq!(std::fs::metadata(d.path()).unwrap().len(), 11 * MIB);
}

/// A 32 KiB disk with MBR entries `(type, start, sectors)` and, for each
/// `(lba, start, sectors, next)`, an EBR.
fn raw_mbr(entries: &[(u8, u32, u32)], ebrs: &[(usize, u32, u32, u32)]) -> Vec<u8> {
    let mut d = vec![0u8; 64 * 512];
    let mut put = |sector: usize, i: usize, (sys, start, sectors): (u8, u32, u32)| {
        let e = sector * 512 + 446 + 16 * i;
        d[e + 4] = sys;
        d[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
        d[e + 12..e + 16].copy_from_slice(&sectors.to_le_bytes());
        d[sector * 512 + 510..sector * 512 + 512].copy_from_slice(&[0x55, 0xaa]);
    };
    for (i, e) in entries.iter().enumerate() {
        put(0, i, *e);
    }
    for &(lba, start, sectors, next) in ebrs {
        put(lba, 0, (0x83, start, sectors));
        if next > 0 {
            put(lba, 1, (0x05, next, 1));
        }
    }
    d
}

/// Fuzzing (partition_table) found `mbrman` panicking (an unwrap in its
/// alignment guess) on an MBR whose only used entry starts at sector 0;
/// sums past 2^32 sectors overflowed. Each is now a refusal.
#[test]
fn hostile_mbrs_are_refused() {
    let cases = [
        (
            raw_mbr(&[(0x83, 0, 95)], &[]),
            "partition 1 starts at sector 0",
        ),
        (
            raw_mbr(&[(0x83, 8, 8), (0x83, u32::MAX - 4, 10)], &[]),
            "partition 2 ends past 2^32 sectors",
        ),
        (
            raw_mbr(&[(0x05, 2, 60)], &[(2, u32::MAX - 1, 10, 0)]),
            "a logical partition lies past 2^32 sectors",
        ),
        (
            raw_mbr(&[(0x05, 2, 60)], &[(2, 1, 4, u32::MAX - 1)]),
            "a logical partition lies past 2^32 sectors",
        ),
    ];
    for (disk, why) in cases {
        let err = PartitionTable::read(&mut std::io::Cursor::new(disk)).unwrap_err();
        assert!(err.to_string().contains(why), "{err} (wanted {why})");
    }
    // A sound chain still reads: two logical partitions.
    let good = raw_mbr(&[(0x05, 2, 60)], &[(2, 1, 4, 10), (12, 1, 4, 0)]);
    let t = PartitionTable::read(&mut std::io::Cursor::new(good)).unwrap();
    assert_eq!(t.partitions().len(), 3);
}

/// CRC-32 (IEEE), as GPT checksums are computed.
fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &byte| {
        (0..8).fold(crc ^ u32::from(byte), |c, _| {
            (c >> 1) ^ (0xedb8_8320 & (c & 1).wrapping_neg())
        })
    })
}

/// A forged GPT header (its checksum is easy to make valid) declaring
/// 2^32 - 1 entries made `gptman` try to allocate hundreds of GiB; an
/// entry ending past the disk overflowed the byte sums. Both are refused.
#[test]
fn hostile_gpts_are_refused() {
    let d = disk(32, GPT_SCRIPT);
    let bytes = std::fs::read(d.path()).unwrap();
    let forged = |at: usize, value: &[u8]| {
        let mut b = bytes.clone();
        b[512 + at..512 + at + value.len()].copy_from_slice(value);
        PartitionTable::read(&mut std::io::Cursor::new(b))
            .unwrap_err()
            .to_string()
    };
    assert!(forged(80, &u32::MAX.to_le_bytes()).contains("declares 4294967295 partition entries"));
    assert!(forged(84, &7u32.to_le_bytes()).contains("partition entries are 7 bytes"));
    assert!(forged(72, &u64::MAX.to_le_bytes()).contains("partition array lies past the end"));

    // Entry 2 made to end past the disk, both checksums made valid again.
    let mut b = bytes.clone();
    let entry = 2 * 512 + 128;
    b[entry + 40..entry + 48].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
    let array = crc32(&b[1024..1024 + 128 * 128]);
    b[512 + 88..512 + 92].copy_from_slice(&array.to_le_bytes());
    b[512 + 16..512 + 20].fill(0);
    let header = crc32(&b[512..512 + 92]);
    b[512 + 16..512 + 20].copy_from_slice(&header.to_le_bytes());
    let err = PartitionTable::read(&mut std::io::Cursor::new(b))
        .unwrap_err()
        .to_string();
    assert!(err.contains("partition 2 spans sectors 4096..="), "{err}");
}

#[test]
fn refusals() {
    let blank = tempfile::NamedTempFile::new().unwrap();
    blank.as_file().set_len(MIB).unwrap();
    let err = PartitionTable::read(&mut File::open(blank.path()).unwrap()).unwrap_err();
    assert!(matches!(err, TableError::Unsupported(_)), "{err}");

    let d = disk(96, LOGICAL_SCRIPT);
    let mut t = PartitionTable::read(&mut File::open(d.path()).unwrap()).unwrap();
    assert!(matches!(t.remove(5), Err(TableError::Invalid(_))));
    assert!(matches!(t.remove(2), Err(TableError::Invalid(_))));
    assert!(matches!(t.resize(2, 50 * MIB), Err(TableError::Invalid(_))));
    assert!(matches!(t.resize(6, 100), Err(TableError::Invalid(_))));
}

#[test]
fn fitted_len_is_capped_and_aligned() {
    let d = disk(64, MBR_SCRIPT);
    let t = PartitionTable::read(&mut File::open(d.path()).unwrap()).unwrap();
    // p2 ends at 21 MiB.
    assert_eq!(t.fitted_len(64 * MIB), 21 * MIB);
    assert_eq!(t.fitted_len(20 * MIB), 20 * MIB);
    assert_eq!(align_up(1, MIB), MIB);
    assert_eq!(align_up(MIB, MIB), MIB);
}

#[test]
fn recovery_partitions_are_found_by_type() {
    use crate::media::partition_type::kept;
    let gpt = disk(
        64,
        "label: gpt
start=2048, size=16384, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7
start=18432, size=8192, type=DE94BBA4-06D1-4D40-A16A-BFD50179D6AC
",
    );
    let mbr = disk(
        64,
        "label: dos\nstart=2048, size=16384, type=7\nstart=18432, size=8192, type=27\n",
    );
    for (d, data, recovery) in [
        (
            &gpt,
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
            "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC",
        ),
        (&mbr, "0x07", "0x27"),
    ] {
        let t = PartitionTable::read(&mut File::open(d.path()).unwrap()).unwrap();
        let parts = t.partitions();
        assert_eq!(parts[0].ty.to_string(), data);
        assert!(kept(parts[0].ty).is_none(), "{data} is kept");
        let last = t.last().unwrap();
        assert_eq!((last.number, last.ty.to_string()), (2, recovery.to_owned()));
        assert!(kept(last.ty).is_some(), "{recovery} is not kept");
    }
}
