//! A per-run cache of what the helper VM answered about the mounted guest,
//! so that the metadata collector and the system preparation tasks, which
//! ask about the same paths again and again (`exists`, then `is_file`, then
//! the parent's listing…), make one round trip per directory instead of
//! several per path.
//!
//! A directory is listed once (one call gives every entry and its kind);
//! `exists`, `is_file` and `is_dir` of its entries are answered from that
//! listing, except for symlinks, which are asked about (and remembered).
//! Sizes and modes come from one `lstat` of the whole directory, link
//! targets from one `readlink` of all its symlinks, and small files are
//! read once. Every change forgets what it may have made stale (see
//! [`Cache::wrote`] and [`Cache::removed`]); a change the cache is not
//! told about must [`Cache::clear`] it.

use std::collections::HashMap;

use anyhow::{Result, anyhow};

use super::{CONFIG_LIMIT, EntryKind};

/// Size (`st_size`) and permission bits of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mode: u32,
}

/// The round trips the cache stands in front of.
pub trait Raw {
    /// The entries of a directory (no `.`/`..`), symlinks as symlinks.
    fn list(&mut self, dir: &str) -> Result<Vec<(String, EntryKind)>>;
    /// `lstat` of each of `names` in `dir`, in order.
    fn lstats(&mut self, dir: &str, names: &[&str]) -> Result<Vec<Stat>>;
    /// The targets of the symlinks `names` in `dir`, in order.
    fn read_links(&mut self, dir: &str, names: &[&str]) -> Result<Vec<String>>;
    /// `stat` of `path` (symlinks followed).
    fn stat(&mut self, path: &str) -> Result<Stat>;
    fn read_link(&mut self, path: &str) -> Result<String>;
    /// The content of `path`, whose `stat` gave `size` bytes.
    fn read_file(&mut self, path: &str, size: u64) -> Result<Vec<u8>>;
    fn exists(&mut self, path: &str) -> Result<bool>;
    fn is_file(&mut self, path: &str) -> Result<bool>;
    fn is_dir(&mut self, path: &str) -> Result<bool>;
}

/// The questions answered from a listing, or asked and remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Probe {
    Exists,
    IsFile,
    IsDir,
}

/// The most a directory may hold for its entries to be examined in one
/// call; a bigger one is examined entry by entry.
const BATCH_LIMIT: usize = 4096;
/// The most file content kept at once.
const CONTENT_BUDGET: usize = 8 << 20;

/// What the cache knows (see the module documentation).
#[derive(Debug, Default)]
pub struct Cache {
    /// Directory listings, sorted by name, or the error listing gave.
    dirs: HashMap<String, Result<Vec<(String, EntryKind)>, String>>,
    probes: HashMap<(Probe, String), bool>,
    lstats: HashMap<String, Stat>,
    links: HashMap<String, String>,
    files: HashMap<String, Vec<u8>>,
    content_bytes: usize,
}

/// `(parent, name)` of a plain absolute path (no `.`, `..` or empty
/// component, no trailing `/`, not `/`), which the listings can answer
/// for.
fn split(path: &str) -> Option<(&str, &str)> {
    if !path.starts_with('/')
        || path
            .split('/')
            .skip(1)
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    let (parent, name) = path.rsplit_once('/')?;
    Some((if parent.is_empty() { "/" } else { parent }, name))
}

/// What a listing says of a path.
enum Found {
    /// Its parent holds no such entry (or is not a directory).
    Absent,
    Entry(EntryKind),
    /// A path the listings do not answer for.
    Unknown,
}

impl Cache {
    /// Forget everything (the guest changed in a way not tracked, or its
    /// mounts did).
    pub fn clear(&mut self) {
        *self = Cache::default();
    }

    /// `path` was written or truncated: a regular file already listed
    /// keeps its place; a new one in a directory reached without symlinks
    /// is added to its listing (and the listings reached through symlinks
    /// are forgotten); anything else forgets everything.
    pub fn wrote(&mut self, raw: &mut dyn Raw, path: &str) {
        let (parent, name) = match split(path) {
            Some(pair) if self.plain(raw, pair.0) => pair,
            _ => return self.clear(),
        };
        self.forget_contents();
        let Some(Ok(list)) = self.dirs.get_mut(parent) else {
            return;
        };
        match list.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if list[i].1 == EntryKind::File => {}
            Ok(_) => self.clear(),
            Err(i) => {
                list.insert(i, (name.to_owned(), EntryKind::File));
                self.keep_listings(raw, |_| true);
            }
        }
    }

    /// `path` and everything below it were removed. Unless it was reached
    /// without symlinks, everything is forgotten; else its entry, the
    /// listings below it and those reached through symlinks (which may
    /// show it under another name).
    pub fn removed(&mut self, raw: &mut dyn Raw, path: &str) {
        let (parent, name) = match split(path) {
            Some(pair) if self.plain(raw, pair.0) => pair,
            _ => return self.clear(),
        };
        self.forget_contents();
        let below = format!("{path}/");
        self.keep_listings(raw, |k| k != path && !k.starts_with(&below));
        if let Some(Ok(list)) = self.dirs.get_mut(parent) {
            list.retain(|(n, _)| n != name);
        }
    }

    /// Keep the listings `wanted` accepts of those reached without
    /// symlinks (the others may show a changed directory under another
    /// name).
    fn keep_listings(&mut self, raw: &mut dyn Raw, wanted: impl Fn(&str) -> bool) {
        let keys: Vec<String> = self.dirs.keys().filter(|k| wanted(k)).cloned().collect();
        let keep: Vec<String> = keys.into_iter().filter(|k| self.plain(raw, k)).collect();
        self.dirs.retain(|k, _| keep.contains(k));
    }

    /// Forget what a change of files may have made stale besides listings.
    fn forget_contents(&mut self) {
        self.probes.clear();
        self.lstats.clear();
        self.links.clear();
        self.files.clear();
        self.content_bytes = 0;
    }

    /// Whether `dir` is reached from `/` through directories only (no
    /// symlink on the way), so that no other listing shows its entries.
    /// Lists its ancestors.
    fn plain(&mut self, raw: &mut dyn Raw, dir: &str) -> bool {
        if dir == "/" {
            return true;
        }
        let Some((parent, name)) = split(dir) else {
            return false;
        };
        self.plain(raw, parent)
            && matches!(self.listing(raw, parent), Ok(list) if kind_in(list, name) == Some(EntryKind::Dir))
    }

    fn listing<'c>(
        &'c mut self,
        raw: &mut dyn Raw,
        dir: &str,
    ) -> &'c Result<Vec<(String, EntryKind)>, String> {
        let key = dir
            .strip_suffix('/')
            .filter(|d| !d.is_empty())
            .unwrap_or(dir);
        self.dirs.entry(key.to_owned()).or_insert_with(|| {
            raw.list(key)
                .map(|mut list| {
                    list.sort_by(|a, b| a.0.cmp(&b.0));
                    list
                })
                .map_err(|e| format!("{e:#}"))
        })
    }

    fn find(&mut self, raw: &mut dyn Raw, path: &str) -> Found {
        let Some((parent, name)) = split(path) else {
            return Found::Unknown;
        };
        match self.listing(raw, parent) {
            Ok(list) => kind_in(list, name).map_or(Found::Absent, Found::Entry),
            Err(_) => Found::Absent,
        }
    }

    fn probe(&mut self, raw: &mut dyn Raw, probe: Probe, path: &str) -> Result<bool> {
        let kind = match self.find(raw, path) {
            Found::Absent => return Ok(false),
            Found::Entry(EntryKind::Symlink) | Found::Unknown => None,
            Found::Entry(kind) => Some(kind),
        };
        if let Some(kind) = kind {
            return Ok(match probe {
                Probe::Exists => true,
                Probe::IsFile => kind == EntryKind::File,
                Probe::IsDir => kind == EntryKind::Dir,
            });
        }
        let key = (probe, path.to_owned());
        if let Some(&answer) = self.probes.get(&key) {
            return Ok(answer);
        }
        let answer = match probe {
            Probe::Exists => raw.exists(path)?,
            Probe::IsFile => raw.is_file(path)?,
            Probe::IsDir => raw.is_dir(path)?,
        };
        self.probes.insert(key, answer);
        Ok(answer)
    }

    pub fn exists(&mut self, raw: &mut dyn Raw, path: &str) -> Result<bool> {
        self.probe(raw, Probe::Exists, path)
    }

    /// What `path` itself is (a symlink as a symlink), when its parent's
    /// listing holds it.
    pub fn kind(&mut self, raw: &mut dyn Raw, path: &str) -> Option<EntryKind> {
        match self.find(raw, path) {
            Found::Entry(kind) => Some(kind),
            Found::Absent | Found::Unknown => None,
        }
    }

    pub fn is_file(&mut self, raw: &mut dyn Raw, path: &str) -> Result<bool> {
        self.probe(raw, Probe::IsFile, path)
    }

    pub fn is_dir(&mut self, raw: &mut dyn Raw, path: &str) -> Result<bool> {
        self.probe(raw, Probe::IsDir, path)
    }

    /// The entries of `dir`, sorted by name.
    pub fn read_dir(&mut self, raw: &mut dyn Raw, dir: &str) -> Result<Vec<(String, EntryKind)>> {
        self.listing(raw, dir).clone().map_err(|e| anyhow!(e))
    }

    /// `lstat` of `path`, with every entry of its directory examined in
    /// the same call when the directory is listed and not too big.
    pub fn lstat(&mut self, raw: &mut dyn Raw, path: &str) -> Result<Stat> {
        if let Some(st) = self.lstats.get(path) {
            return Ok(*st);
        }
        let Some((parent, name)) = split(path) else {
            return one_lstat(raw, path);
        };
        let names: Vec<String> = match self.listing(raw, parent) {
            Ok(list) if list.len() <= BATCH_LIMIT && kind_in(list, name).is_some() => {
                list.iter().map(|(n, _)| n.clone()).collect()
            }
            _ => vec![name.to_owned()],
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let stats = raw.lstats(parent, &refs)?;
        for (n, st) in names.iter().zip(stats) {
            self.lstats
                .insert(format!("{}/{n}", parent.trim_end_matches('/')), st);
        }
        self.lstats
            .get(path)
            .copied()
            .ok_or_else(|| anyhow!("examining {path}: no answer"))
    }

    /// `stat` of `path`: its `lstat` when it is a regular file.
    pub fn stat(&mut self, raw: &mut dyn Raw, path: &str) -> Result<Stat> {
        match self.find(raw, path) {
            Found::Entry(EntryKind::File) => self.lstat(raw, path),
            _ => raw.stat(path),
        }
    }

    /// The target of the symlink `path`, with every symlink of its
    /// directory read in the same call.
    pub fn read_link(&mut self, raw: &mut dyn Raw, path: &str) -> Result<String> {
        if let Some(target) = self.links.get(path) {
            return Ok(target.clone());
        }
        let (Found::Entry(EntryKind::Symlink), Some((parent, _))) =
            (self.find(raw, path), split(path))
        else {
            return raw.read_link(path);
        };
        let names: Vec<String> = match self.listing(raw, parent) {
            Ok(list) => list
                .iter()
                .filter(|(_, k)| *k == EntryKind::Symlink)
                .take(BATCH_LIMIT)
                .map(|(n, _)| n.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let targets = raw.read_links(parent, &refs)?;
        for (n, t) in names.iter().zip(targets) {
            self.links
                .insert(format!("{}/{n}", parent.trim_end_matches('/')), t);
        }
        match self.links.get(path) {
            Some(target) => Ok(target.clone()),
            None => raw.read_link(path),
        }
    }

    /// The content of `path`, kept when it is small.
    pub fn read_file(&mut self, raw: &mut dyn Raw, path: &str) -> Result<Vec<u8>> {
        if let Some(data) = self.files.get(path) {
            return Ok(data.clone());
        }
        let size = self.stat(raw, path)?.size;
        let data = raw.read_file(path, size)?;
        let fits =
            data.len() as u64 <= CONFIG_LIMIT && self.content_bytes + data.len() <= CONTENT_BUDGET;
        if fits {
            self.content_bytes += data.len();
            self.files.insert(path.to_owned(), data.clone());
        }
        Ok(data)
    }
}

fn kind_in(list: &[(String, EntryKind)], name: &str) -> Option<EntryKind> {
    list.binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| list[i].1)
}

/// `lstat` of a path the listings do not answer for (`/`, or one with
/// `.` or `..` in it).
fn one_lstat(raw: &mut dyn Raw, path: &str) -> Result<Stat> {
    let (parent, name) = match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some(pair) => pair,
        None => return raw.stat(path),
    };
    if matches!(name, "" | "." | "..") {
        return raw.stat(path);
    }
    raw.lstats(parent, &[name])?
        .pop()
        .ok_or_else(|| anyhow!("examining {path}: no answer"))
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
