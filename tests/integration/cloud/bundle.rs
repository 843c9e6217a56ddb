//! Bundles of the history test's store: `images export` of the second
//! version with an extra, `images import` into an empty store (the same
//! image bytes, `show` and `files`), and bad bundles (a damaged header, a
//! cut file, a member with a wrong checksum, a member named `../x`), each
//! refused in one line with the store unchanged.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::history::{images, ok, snapshot};
use super::lab::{json, s};

/// What must differ between a version and its imported copy: the
/// object's id and location and the owner are the new store's, the times
/// are the import's, and tags and channels are the old store's pointers.
const LOCAL: [&str; 5] = ["id", "owner", "location", "created_at", "updated_at"];

fn shown(store: &Path, image: &str) -> Value {
    let mut v = json(ok(&images(store, &["show", image])));
    let obj = v.as_object_mut().unwrap();
    for k in LOCAL {
        obj.remove(k);
    }
    let props = obj["properties"].as_object_mut().unwrap();
    props.remove("TAGS");
    props.remove("CHANNELS");
    v
}

/// Export Debian@2, import it elsewhere, compare, then refuse bad copies.
pub(super) fn round_trip(store: &Path, image: &Path, dir: &Path) {
    let t = std::time::Instant::now();
    let bundle = dir.join("debian.tar");
    let extra = format!("{}:scripts/plant.sh", s(&dir.join("plant.sh")));
    let out = ["-o", s(&bundle), "-e", &extra];
    ok(&images(
        store,
        &[&["export", "Debian:candidate"][..], &out].concat(),
    ));
    let list = tar(&["-tf", s(&bundle)]);
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(
        names,
        [
            "manifest.json",
            "debian.diskdump",
            "debian.diskdump.meta",
            "debian.diskdump.sha256sum",
            "extras/scripts/plant.sh"
        ]
    );
    let disk = Command::new("tar")
        .args(["-xOf", s(&bundle), "debian.diskdump"])
        .output()
        .unwrap();
    assert!(
        disk.stdout == std::fs::read(image).unwrap(),
        "the bundled diskdump differs from the exported image"
    );
    let other = dir.join("other-store");
    let got = dir.join("extras");
    let imported = images(&other, &["import", s(&bundle), "--extras-to", s(&got)]);
    assert_eq!(json(ok(&imported))["properties"]["VERSION"], "2");
    assert_eq!(shown(&other, "Debian@2"), shown(store, "Debian@2"));
    let files = |st: &Path| ok(&images(st, &["files", "Debian@2"])).to_owned();
    assert!(files(&other) == files(store), "`images files' differs");
    assert!(got.join("scripts/plant.sh").is_file());
    refusals(&other, &bundle, dir);
    concurrent_imports(&other, &bundle);
    eprintln!("cost: bundles {:.1} s", t.elapsed().as_secs_f64());
}

/// Two processes registering the same name at once both get a version,
/// with different numbers.
fn concurrent_imports(store: &Path, bundle: &Path) {
    let spawn = || {
        crate::support::creator()
            .args(["images", "import", s(bundle), "--store", s(store)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut got = Vec::new();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        got.push(
            json(&text)["properties"]["VERSION"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    got.sort();
    assert_eq!(got, ["3", "4"]);
    let listed = ok(&images(store, &["list"])).to_owned();
    let row = listed.lines().find(|l| l.starts_with("Debian ")).unwrap();
    assert_eq!(row.split_whitespace().nth(2), Some("3"), "{listed}");
}

fn tar(args: &[&str]) -> String {
    let out = Command::new("tar").args(args).output().unwrap();
    assert!(out.status.success(), "tar {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The offset of the second member's header (the diskdump's).
fn disk_header(data: &[u8]) -> usize {
    let size = std::str::from_utf8(&data[124..135]).unwrap();
    let size = usize::from_str_radix(size.trim_matches(['\0', ' ']), 8).unwrap();
    512 + size.div_ceil(512) * 512
}

/// Rename the member whose header is at `at`, fixing the header checksum.
fn rename(data: &mut [u8], at: usize, name: &[u8]) {
    let h = &mut data[at..at + 512];
    h[..100].fill(0);
    h[..name.len()].copy_from_slice(name);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn refusals(store: &Path, bundle: &Path, dir: &Path) {
    let good = std::fs::read(bundle).unwrap();
    let disk = disk_header(&good);
    let mut header = good.clone();
    header[disk + 10] ^= 0x55;
    let mut sum = good.clone();
    sum[disk + 512 + 4096] ^= 1;
    let mut dots = good.clone();
    rename(&mut dots, disk, b"../x");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("damaged.tar", header, "not a readable tar"),
        (
            "cut.tar",
            good[..disk + 512 + (1 << 20)].to_vec(),
            "member `debian.diskdump' is truncated",
        ),
        (
            "sum.tar",
            sum,
            "member `debian.diskdump' does not match its SHA-256 in manifest.json",
        ),
        (
            "dots.tar",
            dots,
            "member `../x' has a name that is absolute",
        ),
    ];
    let before = snapshot(store);
    for (name, data, text) in cases {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        let r = images(store, &["import", s(&path), "--as", "Other"]);
        r.assert_error(1, &format!("{} does not verify: {text}", path.display()));
        assert!(snapshot(store) == before, "{name} changed the store");
        let tmp = std::fs::read_dir(store.join("tmp")).unwrap().count();
        assert_eq!(tmp, 0, "{name} left files in the store's tmp");
    }
}
