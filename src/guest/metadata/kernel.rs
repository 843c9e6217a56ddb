//! The `KERNEL` key of Linux guests: the newest kernel installed.
//!
//! Most distributions keep a `/boot/config-<version>` per kernel; the
//! newest is found by rpm's version order (`6.1.0-10` after `6.1.0-9`,
//! which a plain string sort gets wrong; see [`compare_versions`]). Arch
//! Linux has no such files: its kernel is the `linux` or `linux-lts` package in the pacman database, reported
//! as `<version>` or `<version> LTS`. The original's pattern for those
//! package names stopped matching when Arch versions became `6.6.7.arch1`;
//! here any version after the package name counts.

use std::cmp::Ordering;

use anyhow::Result;

use super::files;
use crate::guest::Guest;
use crate::progress::Reporter;

/// Compare two version strings the way rpm compares versions: split into
/// runs of digits and runs of letters (anything else separates them), runs
/// of digits compare as numbers, letters as text, a number is newer than
/// letters in the same place (`1160.99.1.el7` after `1160.el7`), and with
/// everything else equal the longer version is newer.
pub(super) fn compare_versions(a: &str, b: &str) -> Ordering {
    let (sa, sb) = (segments(a), segments(b));
    for (x, y) in sa.iter().zip(&sb) {
        let digits = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
        let order = match (digits(x), digits(y)) {
            (true, true) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    sa.len().cmp(&sb.len())
}

/// The runs of ASCII digits and of ASCII letters of a version.
fn segments(version: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = version;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
        rest = &rest[start..];
        let digits = rest.starts_with(|c: char| c.is_ascii_digit());
        let end = rest
            .find(|c: char| {
                !(if digits {
                    c.is_ascii_digit()
                } else {
                    c.is_ascii_alphabetic()
                })
            })
            .unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

/// The newest version in `/boot/config-*`.
pub(super) fn from_boot_configs(guest: &mut dyn Guest) -> Result<Option<String>> {
    Ok(files::list_dir(guest, "/boot")?
        .into_iter()
        .filter_map(|(name, _)| name.strip_prefix("config-").map(str::to_owned))
        .filter(|v| !v.is_empty())
        .max_by(|a, b| compare_versions(a, b)))
}

const PACMAN_LOCAL: &str = "/var/lib/pacman/local";

/// The kernel of an Arch Linux guest, from its pacman database.
pub(super) fn from_pacman(
    guest: &mut dyn Guest,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    if !files::is_dir(guest, PACMAN_LOCAL)? {
        reporter.warn(&format!("Directory {PACMAN_LOCAL} does not exist"));
        return Ok(None);
    }
    Ok(files::list_dir(guest, PACMAN_LOCAL)?
        .iter()
        .filter_map(|(name, _)| pacman_kernel(name))
        .max_by(|a, b| compare_versions(&a.0, &b.0))
        .map(|(version, lts)| {
            if lts {
                format!("{version} LTS")
            } else {
                version
            }
        }))
}

/// The version of a pacman database entry (`<package>-<version>-<release>`)
/// of the `linux` or `linux-lts` package, and whether it is the LTS one.
pub(super) fn pacman_kernel(entry: &str) -> Option<(String, bool)> {
    let (version, lts) = match entry.strip_prefix("linux-lts-") {
        Some(v) => (v, true),
        None => (entry.strip_prefix("linux-")?, false),
    };
    let (pkgver, pkgrel) = version.rsplit_once('-')?;
    let valid = pkgver.starts_with(|c: char| c.is_ascii_digit())
        && !pkgver.contains('-')
        && !pkgrel.is_empty()
        && pkgrel.chars().all(|c| c.is_ascii_digit() || c == '.');
    valid.then(|| (version.to_owned(), lts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::RecordingReporter;

    #[test]
    fn version_order() {
        let less = |a, b| compare_versions(a, b) == Ordering::Less;
        assert!(less("6.1.0-9-amd64", "6.1.0-10-amd64"));
        assert!(less("5.10.0-26-cloud-amd64", "6.1.0-9-amd64"));
        assert!(less("4.19.0", "4.19.0-1"));
        assert!(less(
            "3.10.0-1160.el7.x86_64",
            "3.10.0-1160.99.1.el7.x86_64"
        ));
        assert!(less("5.15.0-91-generic", "5.15.0-101-generic"));
        assert_eq!(compare_versions("6.1.0-10", "6.1.0-10"), Ordering::Equal);
        assert_eq!(compare_versions("6.01", "6.1"), Ordering::Equal);
    }

    #[test]
    fn newest_boot_config() {
        let mut g = MemGuest::new()
            .file("/boot/config-6.1.0-9-amd64", "")
            .file("/boot/config-6.1.0-10-amd64", "")
            .file("/boot/config-5.10.0-26-amd64", "")
            .file("/boot/vmlinuz-7.0.0", "")
            .file("/boot/config-", "");
        assert_eq!(
            from_boot_configs(&mut g).unwrap().as_deref(),
            Some("6.1.0-10-amd64")
        );
        assert_eq!(from_boot_configs(&mut MemGuest::new()).unwrap(), None);
    }

    #[test]
    fn pacman_entries() {
        assert_eq!(
            pacman_kernel("linux-6.6.7.arch1-1"),
            Some(("6.6.7.arch1-1".into(), false))
        );
        assert_eq!(
            pacman_kernel("linux-lts-6.1.66-1"),
            Some(("6.1.66-1".into(), true))
        );
        assert_eq!(
            pacman_kernel("linux-3.18.6-1"),
            Some(("3.18.6-1".into(), false))
        );
        for other in [
            "linux-firmware-20231211.f2e52a1c-1",
            "linux-api-headers-6.4-1",
            "linux-zen-6.6.7.zen1-1",
            "linux",
        ] {
            assert_eq!(pacman_kernel(other), None, "{other}");
        }
    }

    #[test]
    fn arch_kernel() {
        let mut g = MemGuest::new()
            .dir("/var/lib/pacman/local/linux-6.6.7.arch1-1")
            .dir("/var/lib/pacman/local/linux-lts-6.1.66-1")
            .dir("/var/lib/pacman/local/linux-firmware-20231211.f2e52a1c-1");
        let r = RecordingReporter::default();
        assert_eq!(
            from_pacman(&mut g, &r).unwrap().as_deref(),
            Some("6.6.7.arch1-1")
        );
        let mut lts = MemGuest::new().dir("/var/lib/pacman/local/linux-lts-6.1.66-1");
        assert_eq!(
            from_pacman(&mut lts, &r).unwrap().as_deref(),
            Some("6.1.66-1 LTS")
        );
        assert!(r.warnings().is_empty());
        assert_eq!(from_pacman(&mut MemGuest::new(), &r).unwrap(), None);
        assert_eq!(
            r.warnings(),
            ["Directory /var/lib/pacman/local does not exist"]
        );
    }
}
