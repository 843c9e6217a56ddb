//! A version's file manifest (every file's path, type, mode, owner, size,
//! link target and a regular file's SHA-512), its `imagetool show`-like
//! listing, and the difference between two manifests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

impl FileKind {
    /// The kind of a `st_mode`.
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & 0o170000 {
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            0o020000 => FileKind::Char,
            0o060000 => FileKind::Block,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            _ => FileKind::File,
        }
    }

    /// The letter `ls -l` shows.
    pub fn letter(self) -> char {
        match self {
            FileKind::File => '-',
            FileKind::Dir => 'd',
            FileKind::Symlink => 'l',
            FileKind::Char => 'c',
            FileKind::Block => 'b',
            FileKind::Fifo => 'p',
            FileKind::Socket => 's',
        }
    }
}

/// One file of the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// From the guest's root, starting with `/`.
    pub path: String,
    pub kind: FileKind,
    /// Permission bits with set-id and sticky bits (`st_mode & 07777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
}

impl FileEntry {
    /// `-rwxr-xr-x`, with set-id and sticky bits as `ls` shows them.
    pub fn mode_string(&self) -> String {
        let mut s = String::with_capacity(10);
        s.push(self.kind.letter());
        let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
        for (i, (bit, set, unset)) in special.iter().enumerate() {
            let shift = 6 - 3 * i;
            let p = (self.mode >> shift) & 7;
            s.push(if p & 4 != 0 { 'r' } else { '-' });
            s.push(if p & 2 != 0 { 'w' } else { '-' });
            s.push(match (self.mode & bit != 0, p & 1 != 0) {
                (true, true) => *set,
                (true, false) => *unset,
                (false, true) => 'x',
                (false, false) => '-',
            });
        }
        s
    }

    /// One line as Dominator's `imagetool show` prints a file: mode,
    /// owner, size, hash (or link target), path.
    pub fn line(&self) -> String {
        let what = match (&self.sha512, &self.link) {
            (Some(h), _) => h.clone(),
            (None, Some(l)) => format!("-> {l}"),
            _ => String::new(),
        };
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(" {what}")
        };
        format!(
            "{} {:>5} {:>5} {:>10} {}{what}",
            self.mode_string(),
            self.uid,
            self.gid,
            self.size,
            self.path
        )
    }
}

/// Every file of a guest, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Sorted by path.
    pub fn new(mut files: Vec<FileEntry>) -> Manifest {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest { files }
    }

    /// The total size of the regular files.
    pub fn bytes(&self) -> u64 {
        let regular = self.files.iter().filter(|f| f.kind == FileKind::File);
        regular.map(|f| f.size).sum()
    }
}

/// What changed in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Kind,
    Content,
    Mode,
    Owner,
    Link,
}

/// The files two manifests differ in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Each changed path with what changed in it.
    pub changed: Vec<(String, Vec<Change>)>,
    /// The regular files' total size, new minus old.
    pub size_delta: i64,
}

impl FileDiff {
    /// One line per file: `+` added, `-` removed, `M` changed (with what
    /// changed).
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.added.iter().map(|p| format!("+ {p}")).collect();
        lines.extend(self.removed.iter().map(|p| format!("- {p}")));
        for (p, what) in &self.changed {
            let what: Vec<String> = (what.iter())
                .map(|c| format!("{c:?}").to_lowercase())
                .collect();
            lines.push(format!("M {p} ({})", what.join(", ")));
        }
        lines
    }

    /// The counts and the size deltas, the image's being `image_delta`.
    pub fn summary(&self, image_delta: i64) -> String {
        format!(
            "{} added, {} removed, {} changed; files {:+} bytes, image {:+} bytes",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            self.size_delta,
            image_delta
        )
    }
}

/// What changed from `old` to `new`.
pub fn diff(old: &Manifest, new: &Manifest) -> FileDiff {
    let by_path = |m: &Manifest| -> BTreeMap<String, FileEntry> {
        m.files
            .iter()
            .map(|f| (f.path.clone(), f.clone()))
            .collect()
    };
    let (a, b) = (by_path(old), by_path(new));
    let mut d = FileDiff {
        size_delta: new.bytes() as i64 - old.bytes() as i64,
        ..FileDiff::default()
    };
    d.removed = a.keys().filter(|p| !b.contains_key(*p)).cloned().collect();
    for (path, n) in &b {
        match a.get(path) {
            None => d.added.push(path.clone()),
            Some(o) => {
                let c = changes(o, n);
                if !c.is_empty() {
                    d.changed.push((path.clone(), c));
                }
            }
        }
    }
    d
}

fn changes(o: &FileEntry, n: &FileEntry) -> Vec<Change> {
    let checks = [
        (o.kind != n.kind, Change::Kind),
        (
            o.sha512 != n.sha512 || (o.kind == FileKind::File && o.size != n.size),
            Change::Content,
        ),
        (o.mode != n.mode, Change::Mode),
        ((o.uid, o.gid) != (n.uid, n.gid), Change::Owner),
        (o.link != n.link, Change::Link),
    ];
    checks
        .into_iter()
        .filter(|(c, _)| *c)
        .map(|(_, k)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, mode: u32, hash: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            kind: FileKind::File,
            mode,
            uid: 0,
            gid: 0,
            size: hash.len() as u64,
            link: None,
            sha512: Some(hash.into()),
        }
    }

    #[test]
    fn lines_look_like_ls() {
        let mut f = file("/usr/bin/passwd", 0o4755, "ab");
        assert_eq!(
            f.line(),
            "-rwsr-xr-x     0     0          2 /usr/bin/passwd ab"
        );
        f.kind = FileKind::Symlink;
        f.sha512 = None;
        f.link = Some("x".into());
        f.mode = 0o1777;
        assert_eq!(f.mode_string(), "lrwxrwxrwt");
        assert!(f.line().ends_with("/usr/bin/passwd -> x"));
    }

    #[test]
    fn diff_finds_each_change() {
        let old = Manifest::new(vec![
            file("/a", 0o644, "1"),
            file("/b", 0o644, "2"),
            file("/c", 0o644, "3"),
        ]);
        let mut c = file("/c", 0o600, "33");
        c.uid = 1000;
        let new = Manifest::new(vec![file("/d", 0o644, "4444"), file("/b", 0o644, "2"), c]);
        let d = diff(&old, &new);
        assert_eq!(d.added, vec!["/d"]);
        assert_eq!(d.removed, vec!["/a"]);
        assert_eq!(
            d.changed,
            vec![(
                "/c".to_owned(),
                vec![Change::Content, Change::Mode, Change::Owner]
            )]
        );
        assert_eq!(d.size_delta, 7 - 3);
    }
}
