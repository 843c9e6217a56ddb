//! The built-in image store: a directory that keeps blocks by hash,
//! objects as hashmaps of those blocks, and registered images with their
//! properties. It is the default upload target, and what `serve` exposes
//! over the Synnefo APIs.
//!
//! Layout under the root: `blocks/ab/abcd…` (a block without its trailing
//! NULs), `accounts/ACCOUNT/CONTAINER/NAME.json` (one object: its hashmap
//! and metadata; NAME percent-encoded), `images/ID.json`, `owner` (the
//! account of the local user) and `tokens` (for `serve`). Every file is
//! written under a temporary name and renamed, so a killed upload leaves
//! only whole blocks behind, which the next upload reuses.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::cloud::error::CloudError;
use crate::cloud::ids;
use crate::cloud::pithos::hashmap::{self, BLOCK_HASH, DEFAULT_BLOCK_SIZE, Hashmap};
use crate::cloud::pithos::transfer::Offer;

/// Environment variable naming the store directory.
pub const STORE_ENV: &str = "SNF_IMAGE_STORE";

/// One stored object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub name: String,
    pub bytes: u64,
    pub block_size: u64,
    pub hashes: Vec<String>,
    /// The Merkle hash (`X-Object-Hash`).
    pub hash: String,
    pub content_type: String,
    pub uuid: String,
    pub version: u64,
    /// Unix time of the last change.
    pub modified: u64,
    /// `X-Object-Meta-*` values, keys as sent.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// `X-Object-Sharing`, e.g. `read=*`.
    #[serde(default)]
    pub sharing: Option<String>,
}

impl ObjectRecord {
    /// Whether anyone may read the object.
    pub fn is_world_readable(&self) -> bool {
        self.sharing.as_deref().is_some_and(|s| {
            s.split(';')
                .filter_map(|p| p.trim().strip_prefix("read="))
                .any(|who| who.split(',').any(|w| w.trim() == "*"))
        })
    }
}

/// The store on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    owner: String,
}

impl Store {
    /// Where the store is when nothing says otherwise:
    /// `$SNF_IMAGE_STORE`, else `$XDG_DATA_HOME/snf-image-creator/store`,
    /// else `~/.local/share/snf-image-creator/store`.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os(STORE_ENV).filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("/var/lib"));
        data.join("snf-image-creator/store")
    }

    /// Open the store at `root`, creating it when missing.
    pub fn open(root: &Path) -> Result<Store, CloudError> {
        for sub in ["blocks", "accounts", "images", "tmp"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(|e| CloudError::io("creating", &d, e))?;
        }
        let owner_file = root.join("owner");
        let owner = match fs::read_to_string(&owner_file) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                let id = ids::uuid4().map_err(|e| CloudError::io("reading", "/dev/urandom", e))?;
                write_atomic(root, &owner_file, format!("{id}\n").as_bytes())?;
                id
            }
        };
        Ok(Store {
            root: root.to_owned(),
            owner,
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The account of the store's own user.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn container_dir(&self, account: &str, container: &str) -> Result<PathBuf, CloudError> {
        Ok(self
            .root
            .join("accounts")
            .join(safe_name(account)?)
            .join(safe_name(container)?))
    }

    /// Whether a container exists.
    pub fn container_exists(&self, account: &str, container: &str) -> bool {
        self.container_dir(account, container)
            .is_ok_and(|d| d.is_dir())
    }

    /// Create a container; `true` when it was not there before.
    pub fn create_container(&self, account: &str, container: &str) -> Result<bool, CloudError> {
        let dir = self.container_dir(account, container)?;
        if dir.is_dir() {
            return Ok(false);
        }
        fs::create_dir_all(&dir).map_err(|e| CloudError::io("creating", &dir, e))?;
        Ok(true)
    }

    /// The containers of an account.
    pub fn containers(&self, account: &str) -> Result<Vec<String>, CloudError> {
        let dir = self.root.join("accounts").join(safe_name(account)?);
        list_names(&dir, "")
    }

    /// The objects of a container, by name.
    pub fn objects(&self, account: &str, container: &str) -> Result<Vec<ObjectRecord>, CloudError> {
        let dir = self.container_dir(account, container)?;
        let mut out = Vec::new();
        for name in list_names(&dir, ".json")? {
            if let Some(o) = self.object(account, container, &name)? {
                out.push(o);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn object_path(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> Result<PathBuf, CloudError> {
        if name.is_empty() {
            return Err(CloudError::Config("an object name cannot be empty".into()));
        }
        let encoded = format!("{}.json", utf8_percent_encode(name, NON_ALPHANUMERIC));
        if encoded.len() > 255 {
            return Err(CloudError::Config(format!("object name too long: {name}")));
        }
        Ok(self.container_dir(account, container)?.join(encoded))
    }

    /// One object, if it exists.
    pub fn object(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, CloudError> {
        let path = self.object_path(account, container, name)?;
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|e| CloudError::Protocol(format!("{} is damaged: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CloudError::io("reading", path, e)),
        }
    }

    /// Write an object's record (create or replace).
    pub fn save_object(
        &self,
        account: &str,
        container: &str,
        record: &ObjectRecord,
    ) -> Result<(), CloudError> {
        if !self.container_exists(account, container) {
            return Err(CloudError::NotFound(format!(
                "container {container} does not exist"
            )));
        }
        let path = self.object_path(account, container, &record.name)?;
        let json = serde_json::to_vec(record).map_err(|e| CloudError::Protocol(e.to_string()))?;
        write_atomic(&self.root, &path, &json)
    }

    /// Remove an object (its blocks stay: other objects may share them).
    pub fn delete_object(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> Result<bool, CloudError> {
        let path = self.object_path(account, container, name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CloudError::io("removing", path, e)),
        }
    }

    pub(crate) fn block_path(&self, hash: &str) -> PathBuf {
        self.root.join("blocks").join(&hash[..2]).join(hash)
    }

    /// Whether a block is stored.
    pub fn has_block(&self, hash: &str) -> bool {
        hashmap::is_hash(hash) && self.block_path(hash).is_file()
    }

    /// Store a block; returns its hash.
    pub fn put_block(&self, data: &[u8]) -> Result<String, CloudError> {
        let hash = hashmap::block_hash(data);
        let path = self.block_path(&hash);
        if !path.is_file() {
            let dir = path.parent().unwrap_or(&self.root);
            fs::create_dir_all(dir).map_err(|e| CloudError::io("creating", dir, e))?;
            write_atomic(&self.root, &path, hashmap::strip_zeros(data))?;
        }
        Ok(hash)
    }

    /// A block, padded with NULs to `len` bytes.
    pub fn read_block(&self, hash: &str, len: usize) -> Result<Vec<u8>, CloudError> {
        if !hashmap::is_hash(hash) {
            return Err(CloudError::Protocol(format!("bad block hash {hash}")));
        }
        let path = self.block_path(hash);
        let mut data = fs::read(&path).map_err(|e| CloudError::io("reading block", &path, e))?;
        data.resize(len.max(data.len()), 0);
        data.truncate(len);
        Ok(data)
    }

    /// Offer a hashmap for `name`: the missing blocks, or the new object.
    pub fn offer(
        &self,
        account: &str,
        container: &str,
        name: &str,
        map: &Hashmap,
        content_type: &str,
    ) -> Result<(Offer, Option<ObjectRecord>), CloudError> {
        if map.block_size != DEFAULT_BLOCK_SIZE || !map.block_hash.eq_ignore_ascii_case(BLOCK_HASH)
        {
            return Err(CloudError::Protocol(format!(
                "this store uses {DEFAULT_BLOCK_SIZE}-byte {BLOCK_HASH} blocks"
            )));
        }
        if hashmap::block_count(map.bytes, map.block_size) != map.hashes.len() as u64 {
            return Err(CloudError::Protocol(format!(
                "{} bytes do not make {} blocks",
                map.bytes,
                map.hashes.len()
            )));
        }
        let mut missing: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for h in &map.hashes {
            if seen.insert(h.as_str()) && !self.has_block(h) {
                missing.push(h.clone());
            }
        }
        if !missing.is_empty() {
            return Ok((Offer::Missing(missing), None));
        }
        let record = self.write_object((account, container), name, map, content_type)?;
        Ok((Offer::Created(record.hash.clone()), Some(record)))
    }

    /// Write `map` as the new version of object `name` (or as a new
    /// object), keeping its UUID and sharing.
    fn write_object(
        &self,
        (account, container): (&str, &str),
        name: &str,
        map: &Hashmap,
        content_type: &str,
    ) -> Result<ObjectRecord, CloudError> {
        let old = self.object(account, container, name)?;
        let record = ObjectRecord {
            name: name.to_owned(),
            bytes: map.bytes,
            block_size: map.block_size,
            hashes: map.hashes.clone(),
            hash: hashmap::merkle(&map.hashes),
            content_type: content_type.to_owned(),
            uuid: match &old {
                Some(o) => o.uuid.clone(),
                None => ids::uuid4().map_err(|e| CloudError::io("reading", "/dev/urandom", e))?,
            },
            version: old.as_ref().map_or(1, |o| o.version + 1),
            modified: ids::unix_now(),
            meta: BTreeMap::new(),
            sharing: old.and_then(|o| o.sharing),
        };
        self.save_object(account, container, &record)?;
        Ok(record)
    }

    /// Store a stream as an object (a plain PUT with data).
    pub fn put_data(
        &self,
        account: &str,
        container: &str,
        name: &str,
        data: &mut dyn Read,
        content_type: &str,
    ) -> Result<ObjectRecord, CloudError> {
        let mut hashes = Vec::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; DEFAULT_BLOCK_SIZE as usize];
        loop {
            let n = read_full(data, &mut buf)
                .map_err(|e| CloudError::Protocol(format!("reading the request body: {e}")))?;
            if n == 0 {
                break;
            }
            hashes.push(self.put_block(&buf[..n])?);
            bytes += n as u64;
        }
        let map = Hashmap {
            block_size: DEFAULT_BLOCK_SIZE,
            block_hash: BLOCK_HASH.into(),
            bytes,
            hashes,
        };
        self.write_object((account, container), name, &map, content_type)
    }

    /// Write an object's bytes to `out`.
    pub fn read_object(
        &self,
        record: &ObjectRecord,
        out: &mut dyn Write,
    ) -> Result<(), CloudError> {
        let mut left = record.bytes;
        for h in &record.hashes {
            let len = left.min(record.block_size) as usize;
            let block = self.read_block(h, len)?;
            out.write_all(&block)
                .map_err(|e| CloudError::Protocol(format!("sending object data: {e}")))?;
            left -= len as u64;
        }
        Ok(())
    }

    /// The path of a registered image's record.
    pub(crate) fn image_path(&self, id: &str) -> Result<PathBuf, CloudError> {
        Ok(self
            .root
            .join("images")
            .join(format!("{}.json", safe_name(id)?)))
    }

    /// Write a file of the store atomically.
    pub(crate) fn write_file(&self, path: &Path, data: &[u8]) -> Result<(), CloudError> {
        write_atomic(&self.root, path, data)
    }
}

/// Read until `buf` is full or the stream ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A name that is safe as one path component.
fn safe_name(name: &str) -> Result<String, CloudError> {
    if name.is_empty() || name.len() > 200 {
        return Err(CloudError::Config(format!(
            "bad account or container name `{name}'"
        )));
    }
    Ok(utf8_percent_encode(name, NON_ALPHANUMERIC).to_string())
}

/// The decoded names of the entries of `dir` ending in `suffix`.
pub(crate) fn list_names(dir: &Path, suffix: &str) -> Result<Vec<String>, CloudError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CloudError::io("listing", dir, e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let n = n.strip_suffix(suffix)?.to_owned();
            Some(percent_decode_str(&n).decode_utf8_lossy().into_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Write through a temporary file in the store's `tmp` and rename.
fn write_atomic(root: &Path, dest: &Path, data: &[u8]) -> Result<(), CloudError> {
    let tmpdir = root.join("tmp");
    fs::create_dir_all(&tmpdir).map_err(|e| CloudError::io("creating", &tmpdir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&tmpdir)
        .map_err(|e| CloudError::io("creating a file in", &tmpdir, e))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_data())
        .map_err(|e| CloudError::io("writing", dest, e))?;
    tmp.persist(dest)
        .map_err(|e| CloudError::io("renaming a file to", dest, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn offer_then_create_then_read_back() {
        let (_d, s) = store();
        let owner = s.owner().to_owned();
        s.create_container(&owner, "images").unwrap();
        let mut data = vec![7u8; DEFAULT_BLOCK_SIZE as usize];
        data.extend(vec![0u8; DEFAULT_BLOCK_SIZE as usize]);
        data.extend(b"tail\0\0");
        let map = hashmap::hash_bytes(&data, DEFAULT_BLOCK_SIZE);
        let (offer, _) = s.offer(&owner, "images", "a/b c", &map, "x").unwrap();
        let Offer::Missing(missing) = offer else {
            panic!("blocks should be missing")
        };
        assert_eq!(missing.len(), 3);
        for chunk in data.chunks(DEFAULT_BLOCK_SIZE as usize) {
            s.put_block(chunk).unwrap();
        }
        let (offer, rec) = s.offer(&owner, "images", "a/b c", &map, "x").unwrap();
        assert_eq!(offer, Offer::Created(hashmap::merkle(&map.hashes)));
        let rec = rec.unwrap();
        let mut out = Vec::new();
        s.read_object(&rec, &mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(s.objects(&owner, "images").unwrap()[0].name, "a/b c");
        assert_eq!(s.containers(&owner).unwrap(), vec!["images".to_owned()]);
    }

    #[test]
    fn plain_put_and_sharing() {
        let (_d, s) = store();
        s.create_container("acct", "c").unwrap();
        let mut rec = s
            .put_data("acct", "c", "x.md5sum", &mut &b"abc  x\n"[..], "text/plain")
            .unwrap();
        assert!(!rec.is_world_readable());
        rec.sharing = Some("read=*".into());
        s.save_object("acct", "c", &rec).unwrap();
        assert!(
            s.object("acct", "c", "x.md5sum")
                .unwrap()
                .unwrap()
                .is_world_readable()
        );
        assert!(s.save_object("acct", "nope", &rec).is_err());
    }
}
