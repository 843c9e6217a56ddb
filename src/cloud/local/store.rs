//! The built-in image store: a directory that keeps blocks by hash,
//! objects as hashmaps of those blocks, and registered images with their
//! properties. It is the default upload target, and what `serve` exposes
//! over the Synnefo APIs.
//!
//! Layout under the root (a directory or `s3://BUCKET/PREFIX`, see
//! [`super::backend`]): `blocks/ab/abcd…` (a block without its trailing
//! NULs), `accounts/ACCOUNT/CONTAINER/NAME.json` (one object: its hashmap
//! and metadata; NAME percent-encoded), `images/ID.json`, `owner` (the
//! account of the local user) and `tokens` (for `serve`). Every file is
//! written whole (under a temporary name and renamed, in a directory), so
//! a killed upload leaves only whole blocks behind, which the next upload
//! reuses.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::cloud::error::CloudError;
use crate::cloud::ids;
use crate::cloud::local::backend::{Backend, Location};
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

/// The store, on a directory or a bucket.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
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

    /// Open the store at `root` (a directory, created when missing, or
    /// `s3://BUCKET[/PREFIX]`).
    pub fn open(root: &Path) -> Result<Store, CloudError> {
        let at = Location::parse(root).map_err(|e| CloudError::Config(e.0))?;
        Store::on(at.open()?)
    }

    /// The store on `backend`; its owner is made on first use.
    pub fn on(backend: Box<dyn Backend>) -> Result<Store, CloudError> {
        let backend: Arc<dyn Backend> = Arc::from(backend);
        let read = |b: &dyn Backend| -> Result<Option<String>, CloudError> {
            Ok(b.get("owner")?
                .map(|s| String::from_utf8_lossy(&s).trim().to_owned()))
        };
        let owner = match read(&*backend)? {
            Some(owner) => owner,
            None => {
                let id = ids::uuid4().map_err(|e| CloudError::io("reading", "/dev/urandom", e))?;
                // Another process may create it first: its owner is kept.
                backend.create("owner", format!("{id}\n").as_bytes())?;
                read(&*backend)?.unwrap_or_default()
            }
        };
        if owner.is_empty() {
            return Err(CloudError::Config(format!(
                "the store {} has an empty owner file: remove it (a new owner id is made) and run again",
                backend.describe()
            )));
        }
        Ok(Store { owner, backend })
    }

    /// Where the store keeps its files.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The store's directory, when it is on one.
    pub fn local_dir(&self) -> Option<&Path> {
        self.backend.local_dir()
    }

    /// For messages: the directory or `s3://BUCKET/PREFIX`.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The account of the store's own user.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn container_dir(&self, account: &str, container: &str) -> Result<String, CloudError> {
        Ok(format!(
            "accounts/{}/{}",
            safe_name(account)?,
            safe_name(container)?
        ))
    }

    /// A key's contents as JSON, if it exists.
    pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, CloudError> {
        match self.backend.get(key)? {
            Some(data) => serde_json::from_slice(&data).map(Some).map_err(|e| {
                CloudError::Protocol(format!("{}/{key} is damaged: {e}", self.describe()))
            }),
            None => Ok(None),
        }
    }

    /// Whether a container exists.
    pub fn container_exists(&self, account: &str, container: &str) -> bool {
        self.container_dir(account, container)
            .is_ok_and(|d| self.backend.is_dir(&d).unwrap_or(false))
    }

    /// Create a container; `true` when it was not there before.
    pub fn create_container(&self, account: &str, container: &str) -> Result<bool, CloudError> {
        let dir = self.container_dir(account, container)?;
        self.backend.make_dir(&dir)
    }

    /// The containers of an account.
    pub fn containers(&self, account: &str) -> Result<Vec<String>, CloudError> {
        self.list_names(&format!("accounts/{}", safe_name(account)?), "")
    }

    /// The objects of a container, by name.
    pub fn objects(&self, account: &str, container: &str) -> Result<Vec<ObjectRecord>, CloudError> {
        let dir = self.container_dir(account, container)?;
        let mut out = Vec::new();
        for name in self.list_names(&dir, ".json")? {
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
    ) -> Result<String, CloudError> {
        if name.is_empty() {
            return Err(CloudError::Config("an object name cannot be empty".into()));
        }
        let encoded = format!("{}.json", utf8_percent_encode(name, NON_ALPHANUMERIC));
        if encoded.len() > 255 {
            return Err(CloudError::Config(format!("object name too long: {name}")));
        }
        Ok(format!(
            "{}/{encoded}",
            self.container_dir(account, container)?
        ))
    }

    /// One object, if it exists.
    pub fn object(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, CloudError> {
        self.read_json(&self.object_path(account, container, name)?)
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
        self.backend.put(&path, &json)
    }

    /// Remove an object (its blocks stay: other objects may share them).
    pub fn delete_object(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> Result<bool, CloudError> {
        self.backend
            .delete(&self.object_path(account, container, name)?)
    }

    pub(crate) fn block_path(&self, hash: &str) -> String {
        format!("blocks/{}/{hash}", &hash[..2])
    }

    /// Whether a block is stored (a store that cannot be read has none).
    pub fn has_block(&self, hash: &str) -> bool {
        hashmap::is_hash(hash) && self.backend.exists(&self.block_path(hash)).unwrap_or(false)
    }

    /// Store a block; returns its hash.
    pub fn put_block(&self, data: &[u8]) -> Result<String, CloudError> {
        let hash = hashmap::block_hash(data);
        let path = self.block_path(&hash);
        if !self.backend.exists(&path)? {
            self.backend.put(&path, hashmap::strip_zeros(data))?;
        }
        Ok(hash)
    }

    /// A block, padded with NULs to `len` bytes.
    pub fn read_block(&self, hash: &str, len: usize) -> Result<Vec<u8>, CloudError> {
        if !hashmap::is_hash(hash) {
            return Err(CloudError::Protocol(format!("bad block hash {hash}")));
        }
        let path = self.block_path(hash);
        let mut data = self.backend.get(&path)?.ok_or_else(|| {
            CloudError::NotFound(format!("block {hash} is missing from {}", self.describe()))
        })?;
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
    pub(crate) fn image_path(&self, id: &str) -> Result<String, CloudError> {
        Ok(format!("images/{}.json", safe_name(id)?))
    }

    /// Write a file of the store whole.
    pub(crate) fn write_file(&self, key: &str, data: &[u8]) -> Result<(), CloudError> {
        self.backend.put(key, data)
    }

    /// The decoded names of the entries of `dir` ending in `suffix`.
    pub(crate) fn list_names(&self, dir: &str, suffix: &str) -> Result<Vec<String>, CloudError> {
        let mut names: Vec<String> = (self.backend.list(dir)?.into_iter())
            .filter_map(|e| {
                let n = e.name.strip_suffix(suffix)?.to_owned();
                Some(percent_decode_str(&n).decode_utf8_lossy().into_owned())
            })
            .collect();
        names.sort();
        Ok(names)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn the_owner_is_made_once_without_a_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let owners: Vec<String> = std::thread::scope(|sc| {
            let opens: Vec<_> = (0..8)
                .map(|_| sc.spawn(|| Store::open(dir.path()).unwrap().owner().to_owned()))
                .collect();
            opens.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(owners.iter().all(|o| o == &owners[0] && o.len() == 36));
        let files: Vec<_> = (std::fs::read_dir(dir.path()).unwrap())
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        assert_eq!(files, ["owner"]);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        std::fs::write(dir.path().join("owner"), "\n").unwrap();
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("has an empty owner file: remove it"), "{err}");
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
