//! The guest's installed packages, read from its package manager's own
//! database as untrusted text: dpkg's `/var/lib/dpkg/status`, apk's
//! `/lib/apk/db/installed`, pacman's `/var/lib/pacman/local/*/desc`,
//! and rpm's `rpmdb.sqlite` (see [`super::rpmdb`]).
//! Each file is read with a size limit, a package's name, version and
//! architecture are bounded in length, the number of packages is bounded,
//! and a stanza that lacks a name or a version is left out, never an error.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{CONFIG_LIMIT, DATABASE_LIMIT, EntryKind, Guest, is_file, rpmdb};
use crate::progress::Reporter;

/// The most packages kept from one database.
pub const MAX_PACKAGES: usize = 100_000;
/// The longest name, version or architecture kept; a longer one drops
/// its package.
pub const MAX_FIELD: usize = 256;

/// Which package manager's database the list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbFormat {
    Dpkg,
    Apk,
    Pacman,
    Rpm,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

/// The installed packages by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packages {
    pub format: DbFormat,
    pub packages: BTreeMap<String, Package>,
}

/// Where each database lives: a file, or (pacman) a directory of
/// `NAME-VERSION/desc` files; rpm's is found by [`rpmdb::read`] (here or
/// under `/usr/lib/sysimage/rpm`).
const DATABASES: &[(DbFormat, &str)] = &[
    (DbFormat::Dpkg, "/var/lib/dpkg/status"),
    (DbFormat::Apk, "/lib/apk/db/installed"),
    (DbFormat::Pacman, "/var/lib/pacman/local"),
    (DbFormat::Rpm, "/var/lib/rpm"),
];

/// The packages of the mounted guest, from the first database found;
/// `None` when it has none of them. An rpm header that does not parse
/// is skipped and `reporter` told.
pub fn read(g: &mut dyn Guest, reporter: &dyn Reporter) -> Result<Option<Packages>> {
    for (format, path) in DATABASES {
        let list = match format {
            DbFormat::Dpkg if is_file(g, path)? => {
                parse_dpkg(&text(g.read_limited(path, DATABASE_LIMIT)?))
            }
            DbFormat::Apk if is_file(g, path)? => {
                parse_apk(&text(g.read_limited(path, DATABASE_LIMIT)?))
            }
            DbFormat::Pacman if g.exists(path)? && g.is_dir(path)? => read_pacman(g, path)?,
            DbFormat::Rpm => match rpmdb::read(g, reporter)? {
                Some(list) => list,
                None => continue,
            },
            _ => continue,
        };
        return Ok(Some(Packages {
            format: *format,
            packages: keep(list),
        }));
    }
    Ok(None)
}

fn text(data: Vec<u8>) -> String {
    String::from_utf8_lossy(&data).into_owned()
}

/// The well-formed entries, at most [`MAX_PACKAGES`] of them.
fn keep(list: Vec<(String, Package)>) -> BTreeMap<String, Package> {
    let ok = |s: &str| !s.is_empty() && s.len() <= MAX_FIELD && !s.contains(char::is_control);
    list.into_iter()
        .filter(|(n, p)| ok(n) && ok(&p.version) && p.arch.as_deref().is_none_or(ok))
        .take(MAX_PACKAGES)
        .collect()
}

/// dpkg's status file: RFC 822-like stanzas; only those whose `Status`
/// says `installed` count. A multi-arch package installed for two
/// architectures is named `NAME:ARCH` for the second.
pub fn parse_dpkg(text: &str) -> Vec<(String, Package)> {
    let mut out: Vec<(String, Package)> = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
        let (Some(name), Some(version), true) = (field("Package"), field("Version"), installed)
        else {
            continue;
        };
        let arch = field("Architecture");
        let name = match out.iter().any(|(n, _)| *n == name) {
            true => format!("{name}:{}", arch.as_deref().unwrap_or("")),
            false => name,
        };
        out.push((name, Package { version, arch }));
    }
    out
}

/// apk's installed database: stanzas of `K:value` lines (`P` name, `V`
/// version, `A` architecture).
pub fn parse_apk(text: &str) -> Vec<(String, Package)> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            (stanza.lines())
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        if let (Some(name), Some(version)) = (field("P"), field("V")) {
            let arch = field("A");
            out.push((name, Package { version, arch }));
        }
    }
    out
}

/// pacman's `desc` file: `%NAME%`, `%VERSION%`, `%ARCH%` sections, each
/// followed by its value on the next line.
pub fn parse_pacman_desc(text: &str) -> Option<(String, Package)> {
    let mut lines = text.lines();
    let (mut name, mut version, mut arch) = (None, None, None);
    while let Some(l) = lines.next() {
        let slot = match l.trim() {
            "%NAME%" => &mut name,
            "%VERSION%" => &mut version,
            "%ARCH%" => &mut arch,
            _ => continue,
        };
        *slot = lines.next().map(|v| v.trim().to_owned());
    }
    Some((
        name?,
        Package {
            version: version?,
            arch,
        },
    ))
}

fn read_pacman(g: &mut dyn Guest, dir: &str) -> Result<Vec<(String, Package)>> {
    let mut out = Vec::new();
    let entries = g.read_dir(dir)?;
    for (entry, kind) in entries.iter().take(MAX_PACKAGES) {
        let desc = format!("{dir}/{entry}/desc");
        if *kind != EntryKind::Dir || !is_file(g, &desc)? {
            continue;
        }
        let data = g.read_limited(&desc, CONFIG_LIMIT)?;
        out.extend(parse_pacman_desc(&text(data)));
    }
    Ok(out)
}

/// What changed in the packages from one list to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageDiff {
    /// Name and version.
    pub added: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
    /// Name, old version, new version (an upgrade or a downgrade, or a
    /// change of architecture).
    pub changed: Vec<(String, String, String)>,
}

impl PackageDiff {
    /// `+1 -0 ~2`, as the reports show it.
    pub fn summary(&self) -> String {
        format!(
            "+{} -{} ~{}",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        )
    }

    /// One line per package: `+ package NAME VERSION` added, `- package
    /// …` removed, `~ package NAME OLD -> NEW` changed.
    pub fn lines(&self) -> Vec<String> {
        let added = (self.added.iter()).map(|(n, v)| format!("+ package {n} {v}"));
        let removed = (self.removed.iter()).map(|(n, v)| format!("- package {n} {v}"));
        let changed = (self.changed.iter()).map(|(n, a, b)| format!("~ package {n} {a} -> {b}"));
        added.chain(removed).chain(changed).collect()
    }

    /// `{"added": [{name, version}], "removed": [...], "changed": [{name, from, to}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let one = |v: &[(String, String)]| -> Vec<serde_json::Value> {
            (v.iter())
                .map(|(n, v)| serde_json::json!({"name": n, "version": v}))
                .collect()
        };
        let changed: Vec<_> = (self.changed.iter())
            .map(|(n, a, b)| serde_json::json!({"name": n, "from": a, "to": b}))
            .collect();
        serde_json::json!({"added": one(&self.added), "removed": one(&self.removed), "changed": changed})
    }
}

/// What changed from `old` to `new`.
pub fn diff(old: &Packages, new: &Packages) -> PackageDiff {
    let (a, b) = (&old.packages, &new.packages);
    let mut d = PackageDiff::default();
    for (name, p) in a {
        if !b.contains_key(name) {
            d.removed.push((name.clone(), p.version.clone()));
        }
    }
    for (name, p) in b {
        match a.get(name) {
            None => d.added.push((name.clone(), p.version.clone())),
            Some(o) if o != p => {
                d.changed
                    .push((name.clone(), o.version.clone(), p.version.clone()))
            }
            Some(_) => {}
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::NullReporter;

    const DPKG: &str = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nArchitecture: amd64\nDescription: x\n more text\n\n\
        Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
        Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n\n\
        Package: libc6\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.36-9\n\n\
        Package: noversion\nStatus: install ok installed\n\n\
        garbage without colons\n\n\
        Package: \u{1}evil\nStatus: install ok installed\nVersion: 1\n";

    #[test]
    fn dpkg_keeps_installed_well_formed_stanzas() {
        let g = MemGuest::new().file("/var/lib/dpkg/status", DPKG);
        let p = read(&mut g.clone(), &NullReporter).unwrap().unwrap();
        assert_eq!(p.format, DbFormat::Dpkg);
        let names: Vec<&str> = p.packages.keys().map(String::as_str).collect();
        assert_eq!(names, ["bash", "libc6", "libc6:i386"]);
        assert_eq!(p.packages["bash"].version, "5.2.15-2+b2");
        assert_eq!(p.packages["libc6:i386"].arch.as_deref(), Some("i386"));
    }

    #[test]
    fn apk_and_pacman_databases_read() {
        let apk = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nP:busybox\nV:1.36.1-r5\n\nP:nover\n\n";
        let g = MemGuest::new().file("/lib/apk/db/installed", apk);
        let p = read(&mut g.clone(), &NullReporter).unwrap().unwrap();
        assert_eq!(p.format, DbFormat::Apk);
        assert_eq!(p.packages.len(), 2);
        assert_eq!(p.packages["musl"].arch.as_deref(), Some("x86_64"));
        let desc = "%NAME%\nlinux\n\n%VERSION%\n6.6.1.arch1-1\n\n%ARCH%\nx86_64\n";
        let g = MemGuest::new()
            .file("/var/lib/pacman/local/linux-6.6.1.arch1-1/desc", desc)
            .file("/var/lib/pacman/local/broken-1/desc", "%NAME%\nbroken\n")
            .file("/var/lib/pacman/local/ALPM_DB_VERSION", "9\n");
        let p = read(&mut g.clone(), &NullReporter).unwrap().unwrap();
        assert_eq!(p.format, DbFormat::Pacman);
        assert_eq!(p.packages.keys().collect::<Vec<_>>(), ["linux"]);
        assert_eq!(p.packages["linux"].version, "6.6.1.arch1-1");
    }

    #[test]
    fn malformed_or_missing_databases_are_not_errors() {
        assert!(read(&mut MemGuest::new(), &NullReporter).unwrap().is_none());
        let g = MemGuest::new().file("/var/lib/dpkg/status", b"\xff\xfe\0\0Package\n\n:::\n");
        assert!(
            read(&mut g.clone(), &NullReporter)
                .unwrap()
                .unwrap()
                .packages
                .is_empty()
        );
        let long = format!("P:{}\nV:1\n", "x".repeat(MAX_FIELD + 1));
        let g = MemGuest::new().file("/lib/apk/db/installed", long);
        assert!(
            read(&mut g.clone(), &NullReporter)
                .unwrap()
                .unwrap()
                .packages
                .is_empty()
        );
        let huge = vec![b'a'; DATABASE_LIMIT as usize + 1];
        let g = MemGuest::new().file("/var/lib/dpkg/status", huge);
        assert!(
            read(&mut g.clone(), &NullReporter).is_err(),
            "over the limit is refused"
        );
    }

    #[test]
    fn diffs_name_added_removed_and_changed() {
        let list = |v: &[(&str, &str)]| Packages {
            format: DbFormat::Dpkg,
            packages: (v.iter())
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        Package {
                            version: v.to_string(),
                            arch: None,
                        },
                    )
                })
                .collect(),
        };
        let d = diff(
            &list(&[("a", "1"), ("b", "2")]),
            &list(&[("b", "3"), ("c", "1")]),
        );
        assert_eq!(d.added, [("c".into(), "1".into())]);
        assert_eq!(d.removed, [("a".into(), "1".into())]);
        assert_eq!(d.changed, [("b".into(), "2".into(), "3".into())]);
        assert_eq!(d.summary(), "+1 -1 ~1");
        let lines = ["+ package c 1", "- package a 1", "~ package b 2 -> 3"];
        assert_eq!(d.lines(), lines);
        assert_eq!(d.to_json()["changed"][0]["to"], "3");
    }
}
