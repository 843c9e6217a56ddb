//! The secret scan: what a published image must not carry (private keys,
//! cloud and service credentials, well-known tokens, shared TLS keys,
//! accounts with a usable password), looked for in the prepared guest
//! before anything leaves the machine.
//!
//! The rules are a static table ([`rules::RULES`]); [`scan`] reads every
//! regular file of at most [`FILE_CAP`] bytes under [`ROOTS`] (no symlink
//! followed, binary files skipped) and applies the table to each. A
//! finding names the path and the kind, never the value.

pub mod rules;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{EntryKind, Guest};
pub use rules::Kind;

/// The directories scanned, with the children of each left out
/// (package databases and container or VM storage: distribution data or
/// bulk that holds no configuration). `/usr` (bar `/usr/local`), `/var/log`,
/// `/var/cache` and `/tmp` are not scanned: the first is packaged, the
/// others are emptied by system preparation.
pub const ROOTS: &[(&str, &[&str])] = &[
    ("/root", &[]),
    ("/home", &[]),
    ("/etc", &[]),
    ("/srv", &[]),
    ("/opt", &[]),
    ("/usr/local", &[]),
    (
        "/var/lib",
        &[
            "dpkg",
            "apt",
            "rpm",
            "dnf",
            "yum",
            "pacman",
            "docker",
            "containers",
            "snapd",
            "flatpak",
            "lxc",
            "lxd",
            "libvirt",
            "mysql",
            "systemd",
        ],
    ),
    ("/var/www", &[]),
];

/// Files larger than this are not read (keys and configuration files are
/// far smaller).
pub const FILE_CAP: u64 = 1024 * 1024;

/// A file whose first bytes hold a NUL is binary, and not scanned.
const BINARY_PROBE: usize = 8192;

/// One secret found: where, and what kind; never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: String,
    pub kind: Kind,
    /// What the finding is about where that is not secret itself (the
    /// accounts of usable passwords).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", printable(&self.path), self.kind.describe())?;
        if !self.labels.is_empty() {
            let labels: Vec<String> = self.labels.iter().map(|l| printable(l)).collect();
            write!(f, " ({})", labels.join(", "))?;
        }
        Ok(())
    }
}

/// Guest names as they can be shown: control characters (a terminal's
/// escape sequences) escaped.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// What a scan found and covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub findings: Vec<Finding>,
    /// Directories left out because they are too big to read.
    pub skipped: Vec<String>,
    /// Files read, and their bytes.
    pub files: usize,
    pub bytes: u64,
}

/// Scan the mounted guest.
pub fn scan(guest: &mut dyn Guest) -> Result<Scan> {
    let mut out = Scan::default();
    let mut parents: BTreeMap<&str, Vec<(String, EntryKind)>> = BTreeMap::new();
    for (root, prune) in ROOTS {
        let (parent, name) = root.rsplit_once('/').unwrap_or(("", root));
        let parent = if parent.is_empty() { "/" } else { parent };
        if !parents.contains_key(parent) {
            let entries = if guest.is_dir(parent)? {
                guest.read_dir(parent)?
            } else {
                Vec::new()
            };
            parents.insert(parent, entries);
        }
        // A root that is a symlink is not followed (nor scanned twice).
        let real_dir = parents[parent]
            .iter()
            .any(|(n, k)| n == name && *k == EntryKind::Dir);
        if !real_dir {
            continue;
        }
        let skipped = guest
            .each_small_file(root, FILE_CAP, prune, &mut |path, data| {
                out.files += 1;
                out.bytes += data.len() as u64;
                out.findings.extend(check(path, data));
                Ok(())
            })
            .with_context(|| format!("scanning {root} for secrets"))?;
        out.skipped.extend(skipped);
    }
    Ok(out)
}

/// The findings in one file.
pub fn check(path: &str, data: &[u8]) -> Vec<Finding> {
    if data[..data.len().min(BINARY_PROBE)].contains(&0) {
        return Vec::new();
    }
    rules::compiled()
        .iter()
        .filter(|r| r.wants(path))
        .filter_map(|r| {
            r.fires(data).map(|labels| Finding {
                path: path.to_owned(),
                kind: r.rule.kind,
                labels,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
