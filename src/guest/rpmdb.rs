//! rpm's package database, read as untrusted data. rpm 4.16 and later
//! (Fedora 33+, RHEL 9, openSUSE since 2021 uses ndb) keep
//! `rpmdb.sqlite`, whose `Packages` table holds one rpm header per
//! installed package in its `blob` column. The file is copied to the host
//! (size-limited) and opened there read-only by SQLite with its defences
//! for untrusted databases on; each header is parsed here with bounds
//! checks, and a header that does not parse is skipped with a warning.
//! Berkeley DB (`Packages`, rpm before 4.16: RHEL 8, CentOS 7) and ndb
//! (`Packages.db`) databases are not read: finding one is an error that
//! names it, which the run reports as a warning.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::config::DbConfig;
use rusqlite::limits::Limit;
use rusqlite::{Connection, OpenFlags};

use super::packages::Package;
use super::{Guest, is_file};
use crate::progress::Reporter;

/// Where rpm keeps its sqlite database: Fedora 36+ moved it under
/// `/usr` (`/var/lib/rpm` is then a link to it).
pub const SQLITE_PATHS: &[&str] = &[
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/var/lib/rpm/rpmdb.sqlite",
];
/// The databases of other backends, which are not read, and what they are.
const OTHER_BACKENDS: &[(&str, &str)] = &[
    ("/usr/lib/sysimage/rpm/Packages.db", "ndb"),
    ("/var/lib/rpm/Packages.db", "ndb"),
    ("/usr/lib/sysimage/rpm/Packages", "Berkeley DB"),
    ("/var/lib/rpm/Packages", "Berkeley DB"),
];
/// The biggest rpmdb.sqlite copied (a desktop install's is ~100 MiB).
pub const RPMDB_LIMIT: u64 = 1 << 30;
/// The biggest header read (rpm's own limit on a header's data).
const MAX_HEADER: usize = 256 << 20;
/// The most index entries a header may have (rpm's `HEADER_TAGS_MAX`).
const MAX_ENTRIES: usize = 0xffff;
/// How long SQLite may work on one database.
const QUERY_TIME: Duration = Duration::from_secs(60);

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Why a header blob was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("shorter than its {0}")]
    Truncated(&'static str),
    #[error("{0} index entries, more than rpm allows")]
    TooManyEntries(usize),
    #[error("{0} bytes of data, more than rpm allows")]
    TooBig(usize),
    #[error("no {0}")]
    Missing(&'static str),
    #[error("its {0} is not a well-formed value")]
    BadValue(&'static str),
}

/// One parsed header: its index entries and its data store, both
/// within the blob.
pub struct Header<'a> {
    index: &'a [u8],
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

impl<'a> Header<'a> {
    /// A header as rpm stores it in its database: index count and data
    /// length (big-endian u32 each, no magic), the index entries (tag,
    /// type, offset, count: 16 bytes), then the data.
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, HeaderError> {
        let entries = be32(blob, 0).ok_or(HeaderError::Truncated("index count"))? as usize;
        let len = be32(blob, 4).ok_or(HeaderError::Truncated("data length"))? as usize;
        if entries > MAX_ENTRIES {
            return Err(HeaderError::TooManyEntries(entries));
        }
        if len > MAX_HEADER {
            return Err(HeaderError::TooBig(len));
        }
        let index_end = 8 + entries * 16;
        let index = blob
            .get(8..index_end)
            .ok_or(HeaderError::Truncated("index"))?;
        let data = (blob.get(index_end..index_end + len)).ok_or(HeaderError::Truncated("data"))?;
        Ok(Header { index, data })
    }

    /// The type, offset and count of the first entry for `tag`.
    fn entry(&self, tag: u32) -> Option<(u32, usize, u32)> {
        let e = self
            .index
            .chunks_exact(16)
            .find(|e| be32(e, 0) == Some(tag))?;
        Some((be32(e, 4)?, be32(e, 8)? as usize, be32(e, 12)?))
    }

    /// A string tag's value (the first of an array); `Ok(None)` when the
    /// header has no such tag.
    pub fn string(&self, tag: u32, what: &'static str) -> Result<Option<&'a str>, HeaderError> {
        let Some((kind, offset, count)) = self.entry(tag) else {
            return Ok(None);
        };
        let bad = HeaderError::BadValue(what);
        let string_kind = matches!(kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING);
        if !string_kind || count == 0 {
            return Err(bad);
        }
        let rest = self.data.get(offset..).ok_or(bad.clone())?;
        let end = rest.iter().position(|b| *b == 0).ok_or(bad.clone())?;
        std::str::from_utf8(&rest[..end]).map(Some).map_err(|_| bad)
    }

    /// An INT32 tag's first value; `Ok(None)` when the header has no such tag.
    pub fn int32(&self, tag: u32, what: &'static str) -> Result<Option<u32>, HeaderError> {
        let Some((kind, offset, count)) = self.entry(tag) else {
            return Ok(None);
        };
        match (kind, count, be32(self.data, offset)) {
            (TYPE_INT32, 1.., Some(v)) => Ok(Some(v)),
            _ => Err(HeaderError::BadValue(what)),
        }
    }
}

/// The name and package of one installed package's header; the version
/// is `EPOCH:VERSION-RELEASE`, the epoch left out when absent or 0 (as
/// rpm compares them).
pub fn package(blob: &[u8]) -> Result<(String, Package), HeaderError> {
    let h = Header::parse(blob)?;
    let need = |tag, what| h.string(tag, what)?.ok_or(HeaderError::Missing(what));
    let name = need(TAG_NAME, "name")?;
    let version = need(TAG_VERSION, "version")?;
    let release = need(TAG_RELEASE, "release")?;
    let epoch = match h.int32(TAG_EPOCH, "epoch")? {
        None | Some(0) => String::new(),
        Some(e) => format!("{e}:"),
    };
    let arch = h.string(TAG_ARCH, "arch")?.map(str::to_owned);
    let version = format!("{epoch}{version}-{release}");
    Ok((name.to_owned(), Package { version, arch }))
}

/// Key each package by its name; a second package of the same name
/// (multilib, several kernels, gpg-pubkey) is `NAME.ARCH`, or
/// `NAME-VERSION.ARCH` when that is taken too.
fn unique_names(list: Vec<(String, Package)>) -> Vec<(String, Package)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (name, p) in list {
        let arch = p.arch.as_deref().unwrap_or("noarch");
        let candidates = [
            name.clone(),
            format!("{name}.{arch}"),
            format!("{name}-{}.{arch}", p.version),
        ];
        if let Some(key) = candidates.into_iter().find(|k| !seen.contains(k)) {
            seen.insert(key.clone());
            out.push((key, p));
        }
    }
    out
}

/// The packages of the mounted guest's rpm database, `None` when it has
/// none. A database of another backend is an error naming it.
pub fn read(g: &mut dyn Guest, reporter: &dyn Reporter) -> Result<Option<Vec<(String, Package)>>> {
    if let Some(path) = first_file(g, SQLITE_PATHS.iter().copied())? {
        let dir = tempfile::Builder::new().prefix("rpmdb").tempdir()?;
        let copy = dir.path().join("rpmdb.sqlite");
        g.download(path, &copy, RPMDB_LIMIT)?;
        let wal = format!("{path}-wal");
        if is_file(g, &wal)? {
            g.download(&wal, &dir.path().join("rpmdb.sqlite-wal"), RPMDB_LIMIT)?;
        }
        let list = read_sqlite(&copy, reporter).with_context(|| format!("reading {path}"))?;
        return Ok(Some(list));
    }
    let other = OTHER_BACKENDS.iter().map(|(p, _)| *p);
    if let Some(path) = first_file(g, other)? {
        let kind = OTHER_BACKENDS
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, k)| *k);
        bail!(
            "{path} is an rpm {} database, which is not read (only rpm 4.16's rpmdb.sqlite is)",
            kind.unwrap_or_default()
        );
    }
    Ok(None)
}

fn first_file<'p>(
    g: &mut dyn Guest,
    paths: impl Iterator<Item = &'p str>,
) -> Result<Option<&'p str>> {
    for p in paths {
        if is_file(g, p)? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Every package of a host copy of `rpmdb.sqlite`, opened read-only
/// with SQLite's defences for untrusted files; a header that does not
/// parse is skipped and `reporter` told.
pub fn read_sqlite(file: &Path, reporter: &dyn Reporter) -> Result<Vec<(String, Package)>> {
    let db = open_untrusted(file)?;
    let mut query = db.prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")?;
    let mut rows = query.query([])?;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    while let Some(row) = rows.next()? {
        if out.len() >= super::packages::MAX_PACKAGES {
            break;
        }
        let hnum: i64 = row.get(0)?;
        let blob = row.get_ref(1)?.as_blob().unwrap_or_default();
        match package(blob) {
            Ok(p) => out.push(p),
            Err(e) => skipped.push(format!("header {hnum}: {e}")),
        }
    }
    if !skipped.is_empty() {
        let first = skipped.iter().take(3).cloned().collect::<Vec<_>>();
        reporter.warn(&format!(
            "rpm database: {} package headers skipped ({})",
            skipped.len(),
            first.join("; ")
        ));
    }
    Ok(unique_names(out))
}

/// A read-only connection with SQLite's advice for untrusted databases:
/// defensive mode, no trusted schema, cell size checks, no memory map,
/// bounded value length, and a time limit.
fn open_untrusted(file: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut db = Connection::open_with_flags(file, flags)?;
    db.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    db.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    db.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
    db.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)?;
    db.pragma_update(None, "cell_size_check", true)?;
    db.pragma_update(None, "mmap_size", 0)?;
    db.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_HEADER as i32 + 8)?;
    let deadline = Instant::now() + QUERY_TIME;
    db.progress_handler(10_000, Some(move || Instant::now() > deadline))?;
    Ok(db)
}

#[cfg(test)]
#[path = "rpmdb_tests.rs"]
mod tests;
