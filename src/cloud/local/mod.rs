//! The built-in image store: blocks and hashmaps on a local directory
//! ([`store`]), its registry of images ([`registry`]), the store as a
//! [`CloudBackend`] (the same hashmap upload, dedupe and registration as a
//! Synnefo cloud), and `serve`, which exposes it over the Synnefo APIs.

pub mod backend;
pub mod history;
pub mod reader;
pub mod registry;
pub mod serve;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::cloud::error::CloudError;
use crate::cloud::local::registry::ImageRequest;
use crate::cloud::local::store::Store;
use crate::cloud::pithos::hashmap::{BLOCK_HASH, DEFAULT_BLOCK_SIZE, Hashmap};
use crate::cloud::pithos::plankton::location;
use crate::cloud::pithos::transfer::{self, BlockStore, Offer};
use crate::cloud::{CloudBackend, Md5Upload, Registration, RemoteImage, UploadResult, Uploaded};
use crate::progress::Reporter;

/// The local store, one container of it.
pub struct LocalBackend {
    root: PathBuf,
    container: String,
    store: OnceLock<Store>,
    /// The store's `gc.lock`, held shared from the first block on, so that
    /// `images gc` does not take blocks an upload has sent but not yet
    /// made an object of.
    uploading: OnceLock<backend::Held>,
}

impl LocalBackend {
    /// The store at `root` (opened by [`CloudBackend::authenticate`]).
    pub fn new(root: &Path, container: &str) -> LocalBackend {
        LocalBackend {
            root: root.to_owned(),
            container: container.to_owned(),
            store: OnceLock::new(),
            uploading: OnceLock::new(),
        }
    }

    fn store(&self) -> Result<&Store, CloudError> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let s = Store::open(&self.root)?;
        Ok(self.store.get_or_init(|| s))
    }

    fn uploaded(&self, name: &str, transfer: transfer::Transfer) -> Result<Uploaded, CloudError> {
        Ok(Uploaded {
            name: name.to_owned(),
            location: location(self.store()?.owner(), &self.container, name),
            transfer,
        })
    }
}

impl BlockStore for LocalBackend {
    fn prepare(&self) -> Result<(u64, String), CloudError> {
        let s = self.store()?;
        if self.uploading.get().is_none() {
            let held = s.backend().lock("gc.lock", false)?;
            let _ = self.uploading.set(held);
        }
        s.create_container(s.owner(), &self.container)?;
        Ok((DEFAULT_BLOCK_SIZE, BLOCK_HASH.into()))
    }

    fn offer(&self, name: &str, map: &Hashmap, content_type: &str) -> Result<Offer, CloudError> {
        let s = self.store()?;
        Ok(
            s.offer(s.owner(), &self.container, name, map, content_type)?
                .0,
        )
    }

    fn put_block(&self, data: &[u8]) -> Result<String, CloudError> {
        self.store()?.put_block(data)
    }

    fn missing(
        &self,
        _name: &str,
        hashes: &[String],
        _block_size: u64,
        _content_type: &str,
    ) -> Result<Vec<String>, CloudError> {
        let s = self.store()?;
        Ok(hashes.iter().filter(|h| !s.has_block(h)).cloned().collect())
    }
}

impl CloudBackend for LocalBackend {
    fn describe(&self) -> String {
        format!("the local image store at {}", self.root.display())
    }

    fn authenticate(&mut self) -> Result<(), CloudError> {
        self.store().map(|_| ())
    }

    fn exists(&self, name: &str) -> Result<bool, CloudError> {
        let s = self.store()?;
        Ok(s.object(s.owner(), &self.container, name)?.is_some())
    }

    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> UploadResult {
        let t = transfer::upload_file(self, file, name, "application/octet-stream", r)?;
        self.uploaded(name, t)
    }

    fn upload_md5(&self, file: &Path, name: &str, r: &dyn Reporter) -> Md5Upload {
        let (t, md5) =
            transfer::upload_file_md5(self, file, name, "application/octet-stream", r, true)?;
        Ok((self.uploaded(name, t)?, md5.unwrap_or_default()))
    }

    fn upload_bytes(&self, name: &str, data: &[u8], ctype: &str, r: &dyn Reporter) -> UploadResult {
        let t = transfer::upload_bytes(self, name, data, ctype, r)?;
        self.uploaded(name, t)
    }

    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError> {
        let s = self.store()?;
        s.register_version(
            s.owner(),
            &ImageRequest {
                name: reg.name.clone(),
                location: object.location.clone(),
                disk_format: "diskdump".into(),
                container_format: "bare".into(),
                is_public: reg.public,
                properties: reg.properties.clone(),
                size: Some(object.transfer.bytes),
                checksum: Some(object.transfer.hash.clone()),
            },
            &reg.history,
        )
    }

    fn share(&self, name: &str) -> Result<(), CloudError> {
        let s = self.store()?;
        let mut obj = s.object(s.owner(), &self.container, name)?.ok_or_else(|| {
            CloudError::NotFound(format!("no object {name} in {}", self.container))
        })?;
        obj.sharing = Some("read=*".into());
        s.save_object(s.owner(), &self.container, &obj)
    }

    /// Every image in the store: reading the directory itself is the
    /// store owner's view, whichever `serve` user registered them.
    fn images(&self) -> Result<Vec<RemoteImage>, CloudError> {
        self.store()?.images(None)
    }
}
