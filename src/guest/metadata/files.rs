//! Reading guest files where "not there" is an answer, not an error.
//!
//! A missing file, a dangling symlink, a symlink loop or a directory where a
//! file was expected all read as absent. Anything else that fails (the
//! appliance losing a disk, a read error) propagates; the [`Guest`]
//! implementations already name the path in their errors.

use std::collections::BTreeSet;

use anyhow::Result;

use crate::guest::{CONFIG_LIMIT, EntryKind, Guest};
use crate::progress::Reporter;

/// Whether `path` leads to a regular file.
pub(super) use crate::guest::is_file;

/// Whether `path` leads to a directory.
pub(super) fn is_dir(guest: &mut dyn Guest, path: &str) -> Result<bool> {
    Ok(guest.exists(path)? && guest.is_dir(path)?)
}

/// The text of a configuration file of at most [`CONFIG_LIMIT`] bytes, or
/// `None` when there is none at `path` (or it is too big: a warning).
pub(super) fn read_text(
    guest: &mut dyn Guest,
    path: &str,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    crate::guest::read_text(guest, path, CONFIG_LIMIT, reporter)
}

/// The entries of a directory, or nothing when there is no directory.
pub(super) fn list_dir(guest: &mut dyn Guest, dir: &str) -> Result<Vec<(String, EntryKind)>> {
    if is_dir(guest, dir)? {
        guest.read_dir(dir)
    } else {
        Ok(Vec::new())
    }
}

/// The first line of a file, trimmed, when the file exists and the line is
/// not empty.
pub(super) fn first_line(
    guest: &mut dyn Guest,
    path: &str,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    Ok(read_text(guest, path, reporter)?
        .and_then(|text| text.lines().next().map(|l| l.trim().to_owned()))
        .filter(|line| !line.is_empty()))
}

/// Directories where executables that matter to the metadata live.
pub(super) const BIN_DIRS: &[&str] = &["/bin", "/usr/bin", "/usr/local/bin"];

/// The names of the files and symlinks in [`BIN_DIRS`]: three listings
/// instead of one lookup per executable the tables know of.
pub(super) fn executables(guest: &mut dyn Guest) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for dir in BIN_DIRS {
        for (name, kind) in list_dir(guest, dir)? {
            if matches!(kind, EntryKind::File | EntryKind::Symlink) {
                names.insert(name);
            }
        }
    }
    Ok(names)
}

/// Path of `name` inside `dir`.
pub(super) fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// The part of a configuration line before a `#` comment, trimmed.
pub(super) fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::NullReporter;

    #[test]
    fn absent_things_are_none() {
        let mut g = MemGuest::new()
            .file("/etc/hostname", "box\n")
            .symlink("/etc/dangling", "/nowhere")
            .symlink("/etc/loop", "/etc/loop")
            .dir("/etc/dir");
        assert_eq!(
            read_text(&mut g, "/etc/hostname", &NullReporter)
                .unwrap()
                .as_deref(),
            Some("box\n")
        );
        for path in ["/etc/missing", "/etc/dangling", "/etc/loop", "/etc/dir"] {
            assert_eq!(
                read_text(&mut g, path, &NullReporter).unwrap(),
                None,
                "{path}"
            );
        }
        assert!(list_dir(&mut g, "/nope").unwrap().is_empty());
        assert_eq!(
            first_line(&mut g, "/etc/hostname", &NullReporter)
                .unwrap()
                .as_deref(),
            Some("box")
        );
    }

    #[test]
    fn oversized_files_are_a_warning_and_absent() {
        let big = vec![b'x'; (CONFIG_LIMIT + 1) as usize];
        let mut g = MemGuest::new()
            .file("/usr/lib/os-release", &big)
            .symlink("/etc/os-release", "../usr/lib/os-release")
            .file("/etc/hostname", vec![b'y'; CONFIG_LIMIT as usize]);
        let r = crate::progress::RecordingReporter::default();
        assert_eq!(read_text(&mut g, "/etc/os-release", &r).unwrap(), None);
        assert_eq!(
            r.warnings(),
            [format!(
                "Ignoring /etc/os-release: {} bytes, over the {CONFIG_LIMIT} byte limit",
                CONFIG_LIMIT + 1
            )]
        );
        // At the limit is still read.
        assert!(read_text(&mut g, "/etc/hostname", &r).unwrap().is_some());
        assert_eq!(r.warnings().len(), 1);
    }

    #[test]
    fn executables_through_a_merged_usr() {
        let mut g = MemGuest::new()
            .symlink("/bin", "usr/bin")
            .file("/usr/bin/startx", "")
            .symlink("/usr/bin/x-session-manager", "/etc/alternatives/x")
            .dir("/usr/bin/subdir")
            .file("/usr/local/bin/xmonad", "");
        let names: Vec<String> = executables(&mut g).unwrap().into_iter().collect();
        assert_eq!(names, ["startx", "x-session-manager", "xmonad"]);
    }

    #[test]
    fn comments() {
        assert_eq!(strip_comment("  Port 2222 # custom "), "Port 2222");
        assert_eq!(strip_comment("# all comment"), "");
        assert_eq!(join("/etc/", "x"), "/etc/x");
    }
}
