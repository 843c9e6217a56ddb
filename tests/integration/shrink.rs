//! Shrinking, checked on the exports of real Debian disks against their
//! sources with the real tools: `sfdisk --verify` and `sgdisk -v`, every
//! partition entry compared (GPT type, unique GUID, name, attributes; MBR
//! type and boot flag), every partition but the resized one byte-identical,
//! the resized filesystem checked by its own tool (`e2fsck -fn`,
//! `btrfs check --readonly`, `ntfsfix -n`) and every regular file in it
//! hashed and compared (but `ldlinux.sys`, which reinstalling EXTLINUX
//! rewrites), the size line, the size bound, and `SWAP`.
//!
//! The size bound: the exported image ends at most
//! `max(used × 1.1, floor) + SLACK` bytes after the start of its last
//! partition, where `used` is the bytes of the regular files in the last
//! filesystem (sparse files counted by their allocated blocks), `floor` is
//! the smallest size the filesystem can have (256 MiB for btrfs, which the
//! kernel will not shrink below; 0 otherwise), and [`SLACK`] covers the
//! filesystem's own metadata, the 8 MiB headroom and the 1 MiB alignment
//! plus the GPT backup area.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const MIB: u64 = 1 << 20;

/// Allowance over the used data (see the module docs): ext4's journal and
/// inode tables, btrfs's metadata chunks and NTFS's MFT, plus the headroom.
pub const SLACK: u64 = 96 * MIB;

/// The partition table as `sfdisk --json` shows it, nodes reduced to numbers.
fn table(image: &Path) -> (String, Vec<Value>) {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "sfdisk --json {}", image.display());
    let pt = serde_json::from_slice::<Value>(&out.stdout).unwrap()["partitiontable"].clone();
    let parts = pt["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut p = p.clone();
            let node = p["node"].as_str().unwrap().to_owned();
            let digits = node.len() - node.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            p["node"] = node[node.len() - digits..].parse::<u64>().unwrap().into();
            p
        })
        .collect();
    (pt["label"].as_str().unwrap().to_owned(), parts)
}

fn check_tool(cmd: &mut Command, ok: impl Fn(&str) -> bool) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && ok(&text), "{cmd:?}:\n{text}");
}

/// Copy `size` bytes at `start` of `image` into a sparse file.
fn extract(image: &Path, start: u64, size: u64, out: &Path) {
    let status = Command::new("dd")
        .arg(format!("if={}", image.display()))
        .arg(format!("of={}", out.display()))
        .args([
            "bs=1M",
            "iflag=skip_bytes,count_bytes",
            "conv=sparse",
            "status=none",
        ])
        .arg(format!("skip={start}"))
        .arg(format!("count={size}"))
        .status()
        .unwrap();
    assert!(status.success(), "dd from {}", image.display());
}

/// The source's raw sibling: every layout has a raw fixture.
fn raw_source(facts: &Value) -> PathBuf {
    fixture_dir().join(format!("debian-{}.raw", facts["layout"].as_str().unwrap()))
}

fn sectors(p: &Value, key: &str) -> u64 {
    p[key].as_u64().unwrap() * 512
}

/// What the table checks found: the source, its partitions, the image's
/// partitions, the image's last partition and the image's size.
struct Tables {
    src: PathBuf,
    before: Vec<Value>,
    after: Vec<Value>,
    last: Value,
    len: u64,
}

/// The checks that hold whatever the system preparation tasks changed
/// inside the filesystems: the size line, the alignment, both partition
/// tables, SWAP, and every entry but the resized one unchanged.
fn check_tables(image: &Path, facts: &Value, stderr: &str) -> Tables {
    let src = raw_source(facts);
    let (label, before) = table(&src);
    let (label_after, after) = table(image);
    assert_eq!(label, label_after);
    let len = std::fs::metadata(image).unwrap().len();
    let old = facts["virtual_size"].as_u64().unwrap();
    check_size_line(stderr, old, len);
    assert_eq!(len % MIB, 0, "the image size is aligned to 1 MiB");
    check_tool(Command::new("sfdisk").arg("--verify").arg(image), |t| {
        t.contains("No errors detected")
    });
    if label == "gpt" {
        check_tool(Command::new("sgdisk").arg("-v").arg(image), |t| {
            t.contains("No problems found")
        });
    }
    let last_src = last_partition(&before);
    let swap_last = facts["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["number"] == last_src["node"] && p["fs"] == "swap");
    check_swap(image, swap_last.then_some(last_src));
    let last = check_entries(&before, &after, swap_last);
    let end = sectors(&last, "start") + sectors(&last, "size");
    assert!(end <= len, "the last partition fits in the image");
    Tables {
        src,
        before,
        after,
        last,
        len,
    }
}

/// Check an export made with the default tasks (shrink last): the tables,
/// and that it shrank.
pub fn check_shrunk_table(image: &Path, facts: &Value, stderr: &str) {
    check_tables(image, facts, stderr);
}

/// Check one export that only shrank against its source: the tables, every
/// other partition byte for byte, the last filesystem clean with every
/// file's content unchanged, and the size bound.
pub fn check_shrunk(image: &Path, facts: &Value, stderr: &str) {
    let Tables {
        src,
        before,
        after,
        last,
        len,
    } = check_tables(image, facts, stderr);
    let start = sectors(&last, "start");
    for p in after
        .iter()
        .filter(|p| p["node"] != last["node"] && p["type"] != "5")
    {
        assert_same_bytes(&src, image, p);
    }
    let fs = facts["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["number"] == last["node"])
        .and_then(|p| p["fs"].as_str())
        .unwrap()
        .to_owned();
    let used = check_last_fs(&src, image, &last, &before, &fs);
    let floor = if fs == "btrfs" { 256 * MIB } else { 0 };
    assert!(
        len - start <= (used + used / 10).max(floor) + SLACK,
        "{}: image ends {} MiB after its last partition's start, for {} MiB of data",
        image.display(),
        (len - start) / MIB,
        used / MIB
    );
}

fn check_size_line(stderr: &str, old: u64, len: u64) {
    let expected = format!(
        "Image size is {} MB (was {} MB; {} bytes saved)",
        len.div_ceil(MIB),
        old.div_ceil(MIB),
        old - len
    );
    assert!(stderr.contains(&expected), "{expected:?} in:\n{stderr}");
    assert!(len < old, "the image did not shrink: {len} of {old} bytes");
}

/// The partition that ends last (an extended one only if it is empty).
fn last_partition(parts: &[Value]) -> Value {
    let has_logicals = parts.iter().any(|p| p["node"].as_u64().unwrap() >= 5);
    parts
        .iter()
        .filter(|p| !(has_logicals && p["type"] == "5"))
        .max_by_key(|p| p["start"].as_u64().unwrap() + p["size"].as_u64().unwrap())
        .unwrap()
        .clone()
}

fn check_swap(image: &Path, swap: Option<Value>) {
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.meta", image.display())).unwrap(),
    )
    .unwrap();
    let got = &meta["properties"]["SWAP"];
    match swap {
        Some(p) => {
            let mib = sectors(&p, "size").div_ceil(MIB);
            assert_eq!(*got, format!("{}:{mib}", p["node"]), "SWAP");
        }
        None => assert!(got.is_null(), "SWAP set without a trailing swap: {got}"),
    }
}

/// Every entry is unchanged but the last one's (and its extended
/// partition's) size; a trailing swap is gone. Returns the last entry.
fn check_entries(before: &[Value], after: &[Value], swap_last: bool) -> Value {
    let mut expected: Vec<Value> = before.to_vec();
    if swap_last {
        let gone = last_partition(&expected)["node"].clone();
        expected.retain(|p| p["node"] != gone);
    }
    assert_eq!(after.len(), expected.len(), "partitions: {after:?}");
    let last = last_partition(after);
    for (a, b) in after.iter().zip(&expected) {
        let mut b = b.clone();
        if a["node"] == last["node"] || a["type"] == "5" {
            assert!(a["size"].as_u64() <= b["size"].as_u64(), "{a} grew");
            b["size"] = a["size"].clone();
        }
        assert_eq!(*a, b, "partition entry changed");
    }
    last
}

fn assert_same_bytes(src: &Path, image: &Path, p: &Value) {
    let dir = scratch();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (start, size) = (sectors(p, "start"), sectors(p, "size"));
    extract(src, start, size, &a);
    extract(image, start, size, &b);
    assert_eq!(
        md5_file(&a),
        md5_file(&b),
        "partition {} changed",
        p["node"]
    );
}

/// Check the resized filesystem and compare its files with the source's;
/// returns the bytes of data in it.
fn check_last_fs(src: &Path, image: &Path, last: &Value, before: &[Value], fs: &str) -> u64 {
    let dir = scratch();
    let orig = before.iter().find(|p| p["node"] == last["node"]).unwrap();
    let (a, b) = (dir.path().join("src.fs"), dir.path().join("out.fs"));
    extract(src, sectors(orig, "start"), sectors(orig, "size"), &a);
    extract(image, sectors(last, "start"), sectors(last, "size"), &b);
    match fs {
        "ext2" | "ext3" | "ext4" => check_tool(Command::new("e2fsck").arg("-fn").arg(&b), |_| true),
        "btrfs" => check_tool(
            Command::new("btrfs").args(["check", "--readonly"]).arg(&b),
            |t| t.contains("no error found"),
        ),
        "ntfs" => check_tool(Command::new("ntfsfix").arg("-n").arg(&b), |_| true),
        other => panic!("no check for {other} filesystems"),
    }
    let files_a = files(&a, fs, &dir.path().join("src"));
    let files_b = files(&b, fs, &dir.path().join("out"));
    assert!(files_a.len() > 3, "too few files read: {files_a:?}");
    assert_eq!(files_a.len(), files_b.len(), "file lists differ");
    for (name, hash) in &files_a {
        // Reinstalling EXTLINUX after the shrink patches the block map of
        // ldlinux.sys into the file itself: that one file is meant to change.
        if name.rsplit('/').next() == Some("ldlinux.sys") {
            assert!(files_b.contains_key(name), "{name} is gone");
            continue;
        }
        // The space a copy takes on this machine's filesystem may differ
        // (its allocator, not the image): compare the contents only.
        let after = files_b.get(name).map(|(h, _)| h);
        assert_eq!(after, Some(&hash.0), "{name} changed");
    }
    files_a.values().map(|(_, used)| used).sum()
}

/// Every regular file of a filesystem image: path → (SHA-256, bytes used).
fn files(fs_image: &Path, fs: &str, out: &Path) -> BTreeMap<String, (String, u64)> {
    std::fs::create_dir_all(out).unwrap();
    let mut cmd = match fs {
        "btrfs" => {
            let mut c = Command::new("btrfs");
            c.arg("restore").arg(fs_image).arg(out);
            c
        }
        "ntfs" => return ntfs_files(fs_image, out),
        _ => {
            let mut c = Command::new("debugfs");
            c.arg("-R")
                .arg(format!("rdump / {}", out.display()))
                .arg(fs_image);
            c
        }
    };
    check_tool(&mut cmd, |_| true);
    let mut map = BTreeMap::new();
    walk(out, out, &mut map);
    map
}

fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<String, (String, u64)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            walk(root, &e.path(), map);
        } else if ty.is_file() {
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            let used = e.metadata().unwrap().blocks() * 512;
            map.insert(rel, (sha256_file(&e.path()), used));
        }
    }
}

/// NTFS without mounting: `ntfsls` lists the root, `ntfscat` reads each
/// file. Both need `-f` after a resize: ntfsresize marks the volume for a
/// check by Windows (chkdsk) at its next boot, as it must.
fn ntfs_files(fs_image: &Path, out: &Path) -> BTreeMap<String, (String, u64)> {
    let list = Command::new("ntfsls")
        .arg("-f")
        .arg(fs_image)
        .output()
        .unwrap();
    assert!(list.status.success(), "ntfsls {}", fs_image.display());
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        let cat = Command::new("ntfscat")
            .arg("-f")
            .arg(fs_image)
            .arg(name)
            .output()
            .unwrap();
        assert!(cat.status.success(), "ntfscat {name}");
        std::fs::write(out.join(name), &cat.stdout).unwrap();
    }
    let mut map = BTreeMap::new();
    walk(out, out, &mut map);
    map
}

use crate::export::{Prep, export};

/// A btrfs data filesystem at the end of a disk is shrunk too.
#[test]
fn btrfs_data() {
    export("debian-gpt-btrfs.raw", Prep::ShrinkOnly);
}

/// An NTFS data filesystem at the end of a disk is shrunk too.
#[test]
fn ntfs_data() {
    export("debian-mbr-ntfs.raw", Prep::ShrinkOnly);
}
