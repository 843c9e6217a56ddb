use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::guest::memfs::MemGuest;
use crate::guest::packages::{self, DbFormat};
use crate::progress::{NullReporter, RecordingReporter};

/// A header blob as rpm stores it, from (tag, type, value bytes).
fn blob(entries: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let (mut index, mut data): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    for (tag, kind, value) in entries {
        for v in [*tag, *kind, data.len() as u32, 1] {
            index.extend(v.to_be_bytes());
        }
        data.extend(*value);
    }
    let mut out = (entries.len() as u32).to_be_bytes().to_vec();
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(index);
    out.extend(data);
    out
}

fn header(name: &str, epoch: Option<u32>, arch: Option<&str>) -> Vec<u8> {
    let z = |s: &str| format!("{s}\0").into_bytes();
    let (n, v, r) = (z(name), z("1.0"), z("2.el9"));
    let mut e: Vec<(u32, u32, &[u8])> = vec![
        (TAG_NAME, TYPE_STRING, &n),
        (TAG_VERSION, TYPE_STRING, &v),
        (TAG_RELEASE, TYPE_STRING, &r),
    ];
    let ep = epoch.map(u32::to_be_bytes);
    if let Some(ep) = &ep {
        e.push((TAG_EPOCH, TYPE_INT32, ep));
    }
    let a = arch.map(z);
    if let Some(a) = &a {
        e.push((TAG_ARCH, TYPE_STRING, a));
    }
    blob(&e)
}

#[test]
fn hand_made_headers_parse() {
    let (name, p) = package(&header("bash", Some(1), Some("x86_64"))).unwrap();
    assert_eq!(name, "bash");
    assert_eq!(p.version, "1:1.0-2.el9");
    assert_eq!(p.arch.as_deref(), Some("x86_64"));
    let (_, p) = package(&header("gpg-pubkey", Some(0), None)).unwrap();
    assert_eq!((p.version.as_str(), p.arch), ("1.0-2.el9", None));
}

#[test]
fn truncated_and_corrupt_headers_are_errors_not_panics() {
    let good = header("bash", Some(1), Some("x86_64"));
    for cut in 0..good.len() {
        assert!(package(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Every byte changed in turn, to each of a few values: never a panic.
    for at in 0..good.len() {
        for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] = v;
            let _ = package(&bad);
        }
    }
    let huge = [0xff; 8];
    assert!(matches!(
        package(&huge),
        Err(HeaderError::TooManyEntries(_))
    ));
    let no_nul = blob(&[(TAG_NAME, TYPE_STRING, b"bash")]);
    assert_eq!(package(&no_nul), Err(HeaderError::BadValue("name")));
    let int_name = blob(&[(TAG_NAME, TYPE_INT32, &[0, 0, 0, 1])]);
    assert_eq!(package(&int_name), Err(HeaderError::BadValue("name")));
    let nameless = blob(&[(TAG_VERSION, TYPE_STRING, b"1\0")]);
    assert_eq!(package(&nameless), Err(HeaderError::Missing("name")));
    let short_epoch = [
        (TAG_NAME, TYPE_STRING, &b"a\0"[..]),
        (TAG_EPOCH, TYPE_INT32, &[1]),
    ];
    assert!(package(&blob(&short_epoch)).is_err());
}

#[test]
fn packages_of_one_name_get_distinct_keys() {
    let p = |v: &str, a: &str| Package {
        version: v.into(),
        arch: Some(a.into()),
    };
    let list = vec![
        ("kernel".into(), p("6.1-1", "x86_64")),
        ("kernel".into(), p("6.2-1", "x86_64")),
        ("kernel".into(), p("6.3-1", "x86_64")),
        ("glibc".into(), p("2.34-1", "x86_64")),
        ("glibc".into(), p("2.34-1", "i686")),
    ];
    let keys: Vec<String> = unique_names(list).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "kernel",
            "kernel.x86_64",
            "kernel-6.3-1.x86_64",
            "glibc",
            "glibc.i686"
        ]
    );
}

/// A real rpm 4.16+ sqlite database holding two packages, made by
/// Debian's rpmbuild and rpm.
fn real_rpmdb(dir: &Path) -> PathBuf {
    let specs = [
        ("snf-test-a", "Epoch: 2\nVersion: 1.2\nRelease: 3\n"),
        ("snf-test-b", "Version: 0.9\nRelease: 1.fc40\n"),
    ];
    let top = dir.join("top");
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let mut rpms = Vec::new();
    for (name, fields) in specs {
        let spec = dir.join(format!("{name}.spec"));
        let text = format!(
            "Name: {name}\n{fields}Summary: t\nLicense: MIT\nBuildArch: noarch\n%description\nt\n%files\n"
        );
        std::fs::write(&spec, text).unwrap();
        let topdir = format!("_topdir {}", top.display());
        run(Command::new("rpmbuild")
            .args(["--define", &topdir, "-bb"])
            .arg(&spec));
        rpms.push(top.join(format!("RPMS/noarch/{name}-{}.noarch.rpm", version(fields))));
    }
    let dbpath = || {
        let mut c = Command::new("rpm");
        c.arg("--dbpath").arg(&db);
        c.args(["--define", "_db_backend sqlite"]);
        c
    };
    run(dbpath().arg("--initdb"));
    run(dbpath().args(["-i", "--justdb", "--nodeps"]).args(&rpms));
    db.join("rpmdb.sqlite")
}

fn version(fields: &str) -> String {
    let get = |k: &str| {
        let line = fields.lines().find(|l| l.starts_with(k)).unwrap();
        line.split_once(": ").unwrap().1.to_owned()
    };
    format!("{}-{}", get("Version"), get("Release"))
}

fn run(c: &mut Command) {
    let out = (c.output()).unwrap_or_else(|e| {
        panic!("{c:?}: {e}: install Debian's rpm package (scripts/setup.sh does)")
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{c:?} failed: {err}");
}

#[test]
fn a_real_rpmdb_sqlite_is_read_from_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_rpmdb(dir.path());
    let list = read_sqlite(&file, &NullReporter).unwrap();
    let want = [("snf-test-a", "2:1.2-3"), ("snf-test-b", "0.9-1.fc40")];
    let mut got: Vec<(&str, &str)> = (list.iter())
        .map(|(n, p)| (n.as_str(), p.version.as_str()))
        .collect();
    got.sort();
    assert_eq!(got, want, "in rpm's install order");
    assert!(
        list.iter()
            .all(|(_, p)| p.arch.as_deref() == Some("noarch"))
    );
    // The same bytes in a guest: copied to the host and read from there.
    let bytes = std::fs::read(&file).unwrap();
    let g = MemGuest::new().file("/var/lib/rpm/rpmdb.sqlite", bytes);
    let p = packages::read(&mut g.clone(), &NullReporter)
        .unwrap()
        .unwrap();
    assert_eq!(p.format, DbFormat::Rpm);
    assert_eq!(p.packages["snf-test-a"].version, "2:1.2-3");
    assert_eq!(p.packages.len(), 2);
}

#[test]
fn bad_headers_in_a_database_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rpmdb.sqlite");
    let db = Connection::open(&file).unwrap();
    db.execute_batch(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
    )
    .unwrap();
    let good = header("bash", None, Some("x86_64"));
    let rows: [&[u8]; 4] = [
        &good,
        &good[..good.len() - 3],
        b"",
        b"\xff\xff\xff\xff junk",
    ];
    for b in rows {
        db.execute("INSERT INTO Packages (blob) VALUES (?1)", [b])
            .unwrap();
    }
    db.execute(
        "INSERT INTO Packages (blob) VALUES ('text, not a blob')",
        [],
    )
    .unwrap();
    drop(db);
    let r = RecordingReporter::default();
    let list = read_sqlite(&file, &r).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].0, "bash");
    let w = r.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(
            "rpm database: 4 package headers skipped (header 2: shorter than its data"
        ),
        "{}",
        w[0]
    );
}

#[test]
fn broken_or_foreign_databases_are_one_error() {
    let mut bytes = vec![0u8; 4096];
    bytes[..16].copy_from_slice(b"SQLite format 3\0");
    for data in [b"not a database".to_vec(), bytes] {
        let g = MemGuest::new().file("/var/lib/rpm/rpmdb.sqlite", data);
        let e = packages::read(&mut g.clone(), &NullReporter).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("reading /var/lib/rpm/rpmdb.sqlite"),
            "{e:#}"
        );
    }
    let g = MemGuest::new().file("/var/lib/rpm/Packages", vec![0u8; 64]);
    let e = packages::read(&mut g.clone(), &NullReporter).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/var/lib/rpm/Packages is an rpm Berkeley DB database, which is not read (only rpm 4.16's rpmdb.sqlite is)"
    );
    let big = vec![0u8; 16];
    let mut g = MemGuest::new().file("/usr/lib/sysimage/rpm/rpmdb.sqlite", big);
    let to = tempfile::tempdir().unwrap();
    let e = g.download(
        "/usr/lib/sysimage/rpm/rpmdb.sqlite",
        &to.path().join("x"),
        8,
    );
    assert!(
        e.unwrap_err()
            .downcast_ref::<crate::guest::TooLarge>()
            .is_some()
    );
}
