use std::collections::BTreeMap;

use super::*;
use crate::guest::Guest;
use crate::guest::memfs::MemGuest;

/// The in-memory guest behind the cache, counting the round trips.
struct Counted {
    g: MemGuest,
    calls: BTreeMap<&'static str, usize>,
}

impl Counted {
    fn new(g: MemGuest) -> Self {
        Self {
            g,
            calls: BTreeMap::new(),
        }
    }

    fn note(&mut self, name: &'static str) {
        *self.calls.entry(name).or_default() += 1;
    }

    fn total(&self) -> usize {
        self.calls.values().sum()
    }
}

impl Raw for Counted {
    fn list(&mut self, dir: &str) -> Result<Vec<(String, EntryKind)>> {
        self.note("list");
        self.g.read_dir(dir)
    }

    fn lstats(&mut self, dir: &str, names: &[&str]) -> Result<Vec<Stat>> {
        self.note("lstats");
        let dir = dir.trim_end_matches('/');
        names
            .iter()
            .map(|n| {
                let size = self.g.size(&format!("{dir}/{n}"))?;
                Ok(Stat { size, mode: 0o644 })
            })
            .collect()
    }

    fn read_links(&mut self, dir: &str, names: &[&str]) -> Result<Vec<String>> {
        self.note("read_links");
        let dir = dir.trim_end_matches('/');
        names
            .iter()
            .map(|n| self.g.read_link(&format!("{dir}/{n}")))
            .collect()
    }

    fn stat(&mut self, path: &str) -> Result<Stat> {
        self.note("stat");
        let size = self.g.file_size(path)?;
        Ok(Stat { size, mode: 0o644 })
    }

    fn read_link(&mut self, path: &str) -> Result<String> {
        self.note("read_link");
        self.g.read_link(path)
    }

    fn read_file(&mut self, path: &str, size: u64) -> Result<Vec<u8>> {
        self.note("read_file");
        let data = self.g.read_file(path)?;
        assert_eq!(data.len() as u64, size, "the size given for {path}");
        Ok(data)
    }

    fn exists(&mut self, path: &str) -> Result<bool> {
        self.note("exists");
        self.g.exists(path)
    }

    fn is_file(&mut self, path: &str) -> Result<bool> {
        self.note("is_file");
        self.g.is_file(path)
    }

    fn is_dir(&mut self, path: &str) -> Result<bool> {
        self.note("is_dir");
        self.g.is_dir(path)
    }
}

fn guest() -> MemGuest {
    let mut g = MemGuest::new()
        .file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        .file("/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n")
        .file("/etc/hostname", "box\n")
        .dir("/etc/ssh")
        .symlink("/etc/mtab", "../proc/self/mounts")
        .symlink("/etc/localtime", "/usr/share/zoneinfo/UTC")
        .file("/usr/share/zoneinfo/UTC", "TZif")
        .symlink("/var/run", "/run")
        .file("/run/x.pid", "1")
        .other("/dev/null");
    for (i, svc) in ["ssh", "cron", "cloud-init"].iter().enumerate() {
        g = g.symlink(
            &format!("/etc/rc2.d/S0{i}{svc}"),
            &format!("../init.d/{svc}"),
        );
    }
    g
}

const PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/passwd/",
    "/etc/ssh",
    "/etc/mtab",
    "/etc/localtime",
    "/etc/missing",
    "/missing/file",
    "/var/run",
    "/var/run/x.pid",
    "/var/run/none",
    "/dev/null",
    "/",
    "/etc/../etc/fstab",
    "/etc/passwd/x",
];

#[test]
fn answers_are_the_guest_s_own() {
    let mut direct = guest();
    let mut raw = Counted::new(guest());
    let mut cache = Cache::default();
    for p in PATHS {
        let want = (
            direct.exists(p).unwrap(),
            direct.is_file(p).unwrap(),
            direct.is_dir(p).unwrap(),
        );
        let got = (
            cache.exists(&mut raw, p).unwrap(),
            cache.is_file(&mut raw, p).unwrap(),
            cache.is_dir(&mut raw, p).unwrap(),
        );
        assert_eq!(got, want, "{p}");
    }
    assert_eq!(
        cache.read_dir(&mut raw, "/etc/rc2.d").unwrap(),
        direct.read_dir("/etc/rc2.d").unwrap()
    );
    assert!(cache.read_dir(&mut raw, "/etc/passwd").is_err());
}

#[test]
fn one_listing_answers_for_a_directory() {
    let mut raw = Counted::new(guest());
    let mut cache = Cache::default();
    for _ in 0..3 {
        for p in [
            "/etc/passwd",
            "/etc/fstab",
            "/etc/hostname",
            "/etc/ssh",
            "/etc/none",
        ] {
            cache.exists(&mut raw, p).unwrap();
            cache.is_file(&mut raw, p).unwrap();
            cache.is_dir(&mut raw, p).unwrap();
        }
        cache.read_dir(&mut raw, "/etc").unwrap();
    }
    assert_eq!(raw.calls, BTreeMap::from([("list", 1)]));
    // A symlink is asked about, once per question.
    for _ in 0..3 {
        assert!(!cache.exists(&mut raw, "/etc/mtab").unwrap());
        assert!(cache.is_file(&mut raw, "/etc/localtime").unwrap());
    }
    assert_eq!(raw.total(), 3, "{:?}", raw.calls);
}

#[test]
fn sizes_and_links_come_a_directory_at_a_time() {
    let mut direct = guest();
    let mut raw = Counted::new(guest());
    let mut cache = Cache::default();
    for p in ["/etc/passwd", "/etc/fstab", "/etc/hostname", "/etc/mtab"] {
        assert_eq!(
            cache.lstat(&mut raw, p).unwrap().size,
            direct.size(p).unwrap(),
            "{p}"
        );
    }
    assert_eq!(
        cache.stat(&mut raw, "/etc/passwd").unwrap().size,
        direct.file_size("/etc/passwd").unwrap()
    );
    assert_eq!(raw.calls, BTreeMap::from([("list", 1), ("lstats", 1)]));
    for name in ["S00ssh", "S01cron", "S02cloud-init"] {
        let p = format!("/etc/rc2.d/{name}");
        assert_eq!(
            cache.read_link(&mut raw, &p).unwrap(),
            direct.read_link(&p).unwrap()
        );
    }
    assert_eq!(raw.calls.get("read_links"), Some(&1), "{:?}", raw.calls);
    assert_eq!(raw.calls.get("list"), Some(&2), "{:?}", raw.calls);
    assert!(cache.read_link(&mut raw, "/etc/passwd").is_err());
}

#[test]
fn writes_forget_what_they_change() {
    let mut raw = Counted::new(guest());
    let mut cache = Cache::default();
    assert_eq!(
        cache.read_file(&mut raw, "/etc/hostname").unwrap(),
        b"box\n"
    );
    assert_eq!(cache.lstat(&mut raw, "/etc/hostname").unwrap().size, 4);
    assert!(!cache.exists(&mut raw, "/etc/new").unwrap());
    // A known regular file rewritten: its content and size are read again,
    // the listing is kept (and `/` listed, to know /etc is no symlink).
    raw.g.write("/etc/hostname", b"other\n").unwrap();
    cache.wrote(&mut raw, "/etc/hostname");
    assert_eq!(
        cache.read_file(&mut raw, "/etc/hostname").unwrap(),
        b"other\n"
    );
    assert_eq!(cache.lstat(&mut raw, "/etc/hostname").unwrap().size, 6);
    assert_eq!(raw.calls.get("list"), Some(&2));
    // A new file joins its directory's listing.
    raw.g.write("/etc/new", b"n").unwrap();
    cache.wrote(&mut raw, "/etc/new");
    assert!(cache.is_file(&mut raw, "/etc/new").unwrap());
    raw.g.remove_all("/etc/ssh").unwrap();
    cache.clear();
    assert!(!cache.exists(&mut raw, "/etc/ssh").unwrap());
    assert_eq!(raw.calls.get("list"), Some(&3));
    assert_eq!(
        cache.read_file(&mut raw, "/etc/hostname").unwrap(),
        b"other\n"
    );
}

#[test]
fn removals_keep_listings_that_cannot_show_them() {
    let mut raw = Counted::new(guest());
    let mut cache = Cache::default();
    for p in [
        "/etc/passwd",
        "/var/run/x.pid",
        "/run/x.pid",
        "/usr/share/zoneinfo/UTC",
    ] {
        assert!(cache.is_file(&mut raw, p).unwrap(), "{p}");
    }
    raw.g.remove_all("/run/x.pid").unwrap();
    cache.removed(&mut raw, "/run/x.pid");
    let listed = raw.calls["list"];
    assert!(!cache.exists(&mut raw, "/run/x.pid").unwrap());
    assert!(cache.is_file(&mut raw, "/etc/passwd").unwrap());
    assert_eq!(raw.calls["list"], listed, "{:?}", raw.calls);
    // /var/run is /run under another name: listed again.
    assert!(!cache.exists(&mut raw, "/var/run/x.pid").unwrap());
    assert_eq!(raw.calls["list"], listed + 1, "{:?}", raw.calls);
    raw.g.remove_all("/usr/share").unwrap();
    cache.removed(&mut raw, "/usr/share");
    assert!(!cache.exists(&mut raw, "/usr/share/zoneinfo/UTC").unwrap());
    assert!(!cache.is_dir(&mut raw, "/usr/share").unwrap());
    // Through a symlink: everything is forgotten.
    raw.g.write("/var/run/new", b"1").unwrap();
    cache.wrote(&mut raw, "/var/run/new");
    assert!(cache.is_file(&mut raw, "/run/new").unwrap());
    assert!(cache.is_file(&mut raw, "/etc/passwd").unwrap());
    raw.g.write("/etc/new", b"1").unwrap();
    cache.wrote(&mut raw, "/etc/new");
    let before = raw.total();
    assert!(cache.is_file(&mut raw, "/etc/new").unwrap());
    assert_eq!(raw.total(), before, "{:?}", raw.calls);
}
