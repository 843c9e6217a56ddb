//! An in-memory [`Guest`] for unit tests.
//!
//! [`MemGuest`] holds a small file tree built with a builder-style API:
//!
//! ```ignore
//! let g = MemGuest::new()
//!     .file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
//!     .symlink("/lib", "usr/lib")          // /lib -> usr/lib
//!     .dir("/var/empty");
//! ```
//!
//! Parent directories are created as needed. Lookups behave like a Linux
//! filesystem seen through libguestfs: symlinks are followed in every path
//! component (absolute targets from the guest's root, relative ones from the
//! link's directory), `..` goes up from where a link led, and a chain of more
//! than [`MAX_SYMLINK_HOPS`] links fails as a loop instead of hanging.
//! Like the appliance, [`Guest::exists`] answers `false` for broken links and
//! loops, while [`Guest::is_file`] and [`Guest::is_dir`] report a loop as an
//! error.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::{EntryKind, FoundEntry, Guest};

/// How many symlinks one lookup may follow, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_HOPS: usize = 40;

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File { data: Vec<u8>, mode: u32 },
    Dir,
    Symlink(String),
    Other,
}

/// Why a lookup found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// A component is missing (or is not a directory): `ENOENT`/`ENOTDIR`.
    Absent,
    /// Too many symlinks: `ELOOP`.
    Loop,
}

/// An in-memory guest filesystem. See the module documentation.
#[derive(Debug, Clone)]
pub struct MemGuest {
    /// Every entry by its normalized absolute path; `/` is always a directory.
    nodes: BTreeMap<String, Node>,
    /// Filesystem UUIDs by appliance device.
    uuids: BTreeMap<String, String>,
    /// The Windows registry, for guests given one.
    registry: Option<super::registry::mem::MemRegistry>,
}

impl Default for MemGuest {
    fn default() -> Self {
        Self::new()
    }
}

impl MemGuest {
    /// An empty tree: only the root directory.
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_owned(), Node::Dir);
        Self {
            nodes,
            uuids: BTreeMap::new(),
            registry: None,
        }
    }

    /// Add a regular file (mode 0644) at `path`, replacing what was there.
    pub fn file(self, path: &str, content: impl AsRef<[u8]>) -> Self {
        self.file_with_mode(path, content, 0o644)
    }

    /// Add a regular file with the given permission bits (`0o755`…).
    pub fn file_with_mode(mut self, path: &str, content: impl AsRef<[u8]>, mode: u32) -> Self {
        let data = content.as_ref().to_vec();
        self.insert(path, Node::File { data, mode });
        self
    }

    /// Add a symlink at `path` whose stored target is `target` (the order
    /// of [`Self::file`]: where, then what; the reverse of `ln -s`).
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.insert(path, Node::Symlink(target.to_owned()));
        self
    }

    /// Add a directory (and its parents).
    pub fn dir(mut self, path: &str) -> Self {
        let _ = self.ensure_dir(&normalize(path));
        self
    }

    /// Add a socket/FIFO/device node, reported as [`EntryKind::Other`].
    pub fn other(mut self, path: &str) -> Self {
        self.insert(path, Node::Other);
        self
    }

    /// Give the guest a Windows registry.
    pub fn with_registry(mut self, registry: super::registry::mem::MemRegistry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The registry given with [`Self::with_registry`].
    pub fn mem_registry(&self) -> Option<&super::registry::mem::MemRegistry> {
        self.registry.as_ref()
    }

    /// Give the filesystem on `device` a UUID (for [`Guest::fs_uuid`]).
    pub fn fs_uuid_of(mut self, device: &str, uuid: &str) -> Self {
        self.uuids.insert(device.to_owned(), uuid.to_owned());
        self
    }

    /// Every path in the tree (for before/after comparisons in tests).
    pub fn paths(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// The real path a write to `path` lands on: the file a symlink leads
    /// to, or a new entry in the (resolved) parent directory.
    fn write_target(&self, path: &str) -> Result<String> {
        if let Ok(real) = self.resolve(path, true)
            && self.nodes.contains_key(&real)
        {
            return Ok(real);
        }
        let clean = normalize(path);
        let (parent, name) = split_parent(&clean);
        match self.lookup(parent, true) {
            Ok((real, Node::Dir)) => Ok(join(&real, name)),
            _ => bail!("{path}: No such file or directory"),
        }
    }

    /// The content of the regular file at `path` (symlinks followed), if any.
    pub fn contents(&self, path: &str) -> Option<&[u8]> {
        match self.lookup(path, true) {
            Ok((_, Node::File { data, .. })) => Some(data),
            _ => None,
        }
    }

    fn insert(&mut self, path: &str, node: Node) {
        let path = normalize(path);
        assert!(path != "/", "MemGuest: cannot replace the root directory");
        let (parent, name) = split_parent(&path);
        let parent = self.ensure_dir(parent);
        self.nodes.insert(join(&parent, name), node);
    }

    /// Create the directory `path` and its missing ancestors, going through
    /// symlinks that already exist; returns the real path of the directory.
    fn ensure_dir(&mut self, path: &str) -> String {
        let mut cur = "/".to_owned();
        for comp in components(path) {
            let next = join(&cur, comp);
            cur = match self.nodes.get(&next) {
                None => {
                    self.nodes.insert(next.clone(), Node::Dir);
                    next
                }
                Some(Node::Dir) => next,
                Some(Node::Symlink(_)) => match self.resolve(&next, true) {
                    Ok(real) if self.nodes.get(&real) == Some(&Node::Dir) => real,
                    _ => panic!("MemGuest: {next} is a symlink that does not lead to a directory"),
                },
                Some(_) => panic!("MemGuest: {next} is not a directory"),
            };
        }
        cur
    }

    /// The real path that `path` names, following symlinks in every
    /// component (and in the last one when `follow_last`).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, Miss> {
        if !path.starts_with('/') {
            return Err(Miss::Absent);
        }
        let mut todo: Vec<String> = components(path).rev().map(str::to_owned).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(comp) = todo.pop() {
            match comp.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            let candidate = format!(
                "/{}",
                [cur.as_slice(), std::slice::from_ref(&comp)]
                    .concat()
                    .join("/")
            );
            match self.nodes.get(&candidate) {
                None => return Err(Miss::Absent),
                Some(Node::Symlink(target)) if follow_last || !todo.is_empty() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(Miss::Loop);
                    }
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    todo.extend(components(target).rev().map(str::to_owned));
                }
                Some(Node::Dir) => cur.push(comp),
                Some(_) if todo.is_empty() => cur.push(comp),
                Some(_) => return Err(Miss::Absent),
            }
        }
        Ok(format!("/{}", cur.join("/")))
    }

    fn lookup(&self, path: &str, follow_last: bool) -> Result<(String, &Node), Miss> {
        let real = self.resolve(path, follow_last)?;
        self.nodes.get(&real).map(|n| (real, n)).ok_or(Miss::Absent)
    }

    /// Look up `path` for an operation that fails on a missing entry.
    fn require(&self, path: &str, follow_last: bool) -> Result<(String, &Node)> {
        match self.lookup(path, follow_last) {
            Ok(found) => Ok(found),
            Err(Miss::Absent) => bail!("{path}: No such file or directory"),
            Err(Miss::Loop) => bail!("{path}: Too many levels of symbolic links"),
        }
    }

    /// The kind of what `path` leads to; `None` when absent, error on a loop.
    fn kind_followed(&self, path: &str) -> Result<Option<EntryKind>> {
        match self.lookup(path, true) {
            Ok((_, node)) => Ok(Some(kind_of(node))),
            Err(Miss::Absent) => Ok(None),
            Err(Miss::Loop) => bail!("{path}: Too many levels of symbolic links"),
        }
    }
}

impl Guest for MemGuest {
    fn registry(&mut self) -> Option<&mut dyn super::registry::Registry> {
        self.registry
            .as_mut()
            .map(|r| r as &mut dyn super::registry::Registry)
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        match self.require(path, true)? {
            (_, Node::File { data, .. }) => Ok(data.clone()),
            (_, Node::Dir) => bail!("{path}: Is a directory"),
            _ => bail!("{path}: not a regular file"),
        }
    }

    fn exists(&mut self, path: &str) -> Result<bool> {
        Ok(self.lookup(path, true).is_ok())
    }

    fn is_file(&mut self, path: &str) -> Result<bool> {
        Ok(self.kind_followed(path)? == Some(EntryKind::File))
    }

    fn is_dir(&mut self, path: &str) -> Result<bool> {
        Ok(self.kind_followed(path)? == Some(EntryKind::Dir))
    }

    fn read_dir(&mut self, path: &str) -> Result<Vec<(String, EntryKind)>> {
        let (real, node) = self.require(path, true)?;
        if *node != Node::Dir {
            bail!("{path}: Not a directory");
        }
        let prefix = if real == "/" {
            real
        } else {
            format!("{real}/")
        };
        Ok(self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, n)| (p[prefix.len()..].to_owned(), kind_of(n)))
            .collect())
    }

    fn read_link(&mut self, path: &str) -> Result<String> {
        match self.require(path, false)? {
            (_, Node::Symlink(target)) => Ok(target.clone()),
            _ => bail!("{path}: Invalid argument (not a symbolic link)"),
        }
    }

    fn size(&mut self, path: &str) -> Result<u64> {
        Ok(match self.require(path, false)? {
            (_, Node::File { data, .. }) => data.len() as u64,
            (_, Node::Symlink(target)) => target.len() as u64,
            (_, Node::Dir) => 4096,
            (_, Node::Other) => 0,
        })
    }

    fn file_size(&mut self, path: &str) -> Result<u64> {
        match self.require(path, true)? {
            (_, Node::File { data, .. }) => Ok(data.len() as u64),
            (_, Node::Dir) => Ok(4096),
            _ => Ok(0),
        }
    }

    fn find(&mut self, dir: &str) -> Result<Vec<FoundEntry>> {
        let (real, node) = self.require(dir, true)?;
        if *node != Node::Dir {
            bail!("{dir}: Not a directory");
        }
        let prefix = if real == "/" {
            real
        } else {
            format!("{real}/")
        };
        let shown = dir.trim_end_matches('/');
        let found: Vec<(String, EntryKind)> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len())
            .map(|(p, n)| (format!("{shown}/{}", &p[prefix.len()..]), kind_of(n)))
            .collect();
        found
            .into_iter()
            .map(|(path, kind)| {
                let size = self.size(&path)?;
                Ok(FoundEntry { path, kind, size })
            })
            .collect()
    }

    fn fs_uuid(&mut self, device: &str) -> Result<String> {
        Ok(self.uuids.get(device).cloned().unwrap_or_default())
    }

    fn write(&mut self, path: &str, content: &[u8]) -> Result<()> {
        let target = self.write_target(path)?;
        let mode = match self.nodes.get(&target) {
            Some(Node::File { mode, .. }) => *mode,
            Some(Node::Dir) => bail!("{path}: Is a directory"),
            _ => 0o644,
        };
        let data = content.to_vec();
        self.nodes.insert(target, Node::File { data, mode });
        Ok(())
    }

    fn truncate(&mut self, path: &str) -> Result<()> {
        let (real, node) = self.require(path, true)?;
        let Node::File { mode, .. } = node else {
            bail!("{path}: not a regular file");
        };
        let mode = *mode;
        self.nodes.insert(
            real,
            Node::File {
                data: Vec::new(),
                mode,
            },
        );
        Ok(())
    }

    fn remove_all(&mut self, path: &str) -> Result<()> {
        let Ok(real) = self.resolve(path, false) else {
            return Ok(());
        };
        assert!(
            real != "/",
            "MemGuest: refusing to remove the root directory"
        );
        let prefix = format!("{real}/");
        self.nodes
            .retain(|p, _| *p != real && !p.starts_with(&prefix));
        Ok(())
    }

    fn mkdir_p(&mut self, path: &str) -> Result<()> {
        let _ = self.ensure_dir(&normalize(path));
        Ok(())
    }

    fn mode(&mut self, path: &str) -> Result<Option<u32>> {
        Ok(Some(match self.require(path, true)? {
            (_, Node::File { mode, .. }) => *mode,
            (_, Node::Dir) => 0o755,
            _ => 0o644,
        }))
    }
}

fn kind_of(node: &Node) -> EntryKind {
    match node {
        Node::File { .. } => EntryKind::File,
        Node::Dir => EntryKind::Dir,
        Node::Symlink(_) => EntryKind::Symlink,
        Node::Other => EntryKind::Other,
    }
}

/// The non-empty components of a path.
fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// A builder path made absolute and lexically clean (`.`, `..`, `//`).
fn normalize(path: &str) -> String {
    assert!(path.starts_with('/'), "MemGuest: {path:?} is not absolute");
    let mut out: Vec<&str> = Vec::new();
    for comp in components(path) {
        match comp {
            "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => ("/", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
#[path = "memfs_tests.rs"]
mod tests;
