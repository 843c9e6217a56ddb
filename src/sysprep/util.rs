//! Small helpers the tasks plan their changes with. "Not there" is an
//! answer here, not an error: a task on a guest without the file it
//! cleans plans nothing.

use anyhow::Result;

use super::Change;
use crate::guest::{CONFIG_LIMIT, EntryKind, FoundEntry, Guest};
use crate::progress::Reporter;

pub use crate::guest::is_file;

/// Whether `path` leads to a directory.
pub fn is_dir(g: &mut dyn Guest, path: &str) -> Result<bool> {
    Ok(g.exists(path)? && g.is_dir(path)?)
}

/// The text of a configuration file of at most [`CONFIG_LIMIT`] bytes, or
/// `None` when it is not a regular file (or is too big: a warning).
pub fn read_text(g: &mut dyn Guest, reporter: &dyn Reporter, path: &str) -> Result<Option<String>> {
    crate::guest::read_text(g, path, CONFIG_LIMIT, reporter)
}

/// `dir/name`.
pub fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// The entries directly in `dir` (absolute paths), none when it is not a
/// directory.
pub fn children(g: &mut dyn Guest, dir: &str) -> Result<Vec<(String, EntryKind)>> {
    if !is_dir(g, dir)? || is_symlink(g, dir)? {
        return Ok(Vec::new());
    }
    Ok(g.read_dir(dir)?
        .into_iter()
        .map(|(name, kind)| (join(dir, &name), kind))
        .collect())
}

/// Every regular file below `dir`, recursively (none when `dir` is not a
/// directory). Symlinked directories are not followed.
pub fn files_under(g: &mut dyn Guest, dir: &str) -> Result<Vec<FoundEntry>> {
    if !is_dir(g, dir)? || is_symlink(g, dir)? {
        return Ok(Vec::new());
    }
    let mut files: Vec<FoundEntry> = g
        .find(dir)?
        .into_iter()
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Whether `path` itself is a symlink.
pub fn is_symlink(g: &mut dyn Guest, path: &str) -> Result<bool> {
    Ok(entry_kind(g, path)? == Some(EntryKind::Symlink))
}

/// The kind of `path` itself (not following a final symlink), if it exists.
pub fn entry_kind(g: &mut dyn Guest, path: &str) -> Result<Option<EntryKind>> {
    let (parent, name) = match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => return Ok(None),
    };
    if name.is_empty() || !is_dir(g, parent)? {
        return Ok(None);
    }
    Ok(g.read_dir(parent)?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, kind)| kind))
}

/// Delete `path` if anything (a dangling symlink included) is there.
pub fn delete_if_present(g: &mut dyn Guest, path: &str) -> Result<Option<Change>> {
    Ok(entry_kind(g, path)?.map(|_| Change::Delete(path.to_owned())))
}

/// Delete each of `paths` that is present.
pub fn delete_present(g: &mut dyn Guest, paths: &[&str]) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for p in paths {
        changes.extend(delete_if_present(g, p)?);
    }
    Ok(changes)
}

/// Delete every entry directly in `dir` that `wanted` accepts (by name
/// and kind).
pub fn delete_children(
    g: &mut dyn Guest,
    dir: &str,
    wanted: impl Fn(&str, EntryKind) -> bool,
) -> Result<Vec<Change>> {
    Ok(children(g, dir)?
        .into_iter()
        .filter(|(p, kind)| wanted(p.rsplit('/').next().unwrap_or(p), *kind))
        .map(|(p, _)| Change::Delete(p))
        .collect())
}

/// A rewrite of `path`, when the new text differs from the old.
pub fn rewrite(path: &str, old: &str, new: String) -> Option<Change> {
    (old != new).then(|| Change::Write(path.to_owned(), new.into_bytes()))
}

/// Rewrite a file line by line; `edit` returns the replacement lines of a
/// line (none to drop it). Nothing when the file is missing or unchanged.
pub fn edit_lines(
    g: &mut dyn Guest,
    reporter: &dyn Reporter,
    path: &str,
    mut edit: impl FnMut(&str) -> Vec<String>,
) -> Result<Option<Change>> {
    let Some(old) = read_text(g, reporter, path)? else {
        return Ok(None);
    };
    let mut new = String::with_capacity(old.len());
    for line in old.lines() {
        for l in edit(line) {
            new.push_str(&l);
            new.push('\n');
        }
    }
    if !old.ends_with('\n') && !old.is_empty() && new.ends_with('\n') {
        new.pop();
    }
    Ok(rewrite(path, &old, new))
}

/// The syslinux/extlinux configuration files present, in the original's
/// search order.
pub fn syslinux_configs(g: &mut dyn Guest) -> Result<Vec<String>> {
    const DIRS: &[&str] = &[
        "/boot/extlinux",
        "/boot/syslinux",
        "/boot",
        "/extlinux",
        "/syslinux",
        "",
    ];
    let mut found = Vec::new();
    for dir in DIRS {
        for name in ["extlinux.conf", "syslinux.cfg"] {
            let p = format!("{dir}/{name}");
            if is_file(g, &p)? && !is_symlink(g, &p)? {
                found.push(p);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::NullReporter;

    #[test]
    fn helpers() {
        let mut g = MemGuest::new()
            .file("/etc/fstab", "a\nb\n")
            .symlink("/var/spool/mail", "../mail")
            .file("/var/mail/user", "x")
            .symlink("/etc/dangling", "/nowhere");
        assert!(is_symlink(&mut g, "/var/spool/mail").unwrap());
        assert!(children(&mut g, "/var/spool/mail").unwrap().is_empty());
        assert_eq!(children(&mut g, "/var/mail").unwrap().len(), 1);
        assert_eq!(
            delete_if_present(&mut g, "/etc/dangling").unwrap(),
            Some(Change::Delete("/etc/dangling".into()))
        );
        assert_eq!(delete_if_present(&mut g, "/etc/none").unwrap(), None);
        let c = edit_lines(&mut g, &NullReporter, "/etc/fstab", |l| {
            if l == "a" { vec![] } else { vec![l.to_owned()] }
        })
        .unwrap();
        assert_eq!(c, Some(Change::Write("/etc/fstab".into(), b"b\n".to_vec())));
        assert_eq!(
            edit_lines(&mut g, &NullReporter, "/etc/fstab", |l| vec![l.into()]).unwrap(),
            None
        );
    }
}
