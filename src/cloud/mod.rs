//! Clouds: where a finished image goes. One [`CloudBackend`] interface
//! (authenticate, exists, upload with progress, register, share, list) and
//! its implementations: the built-in local store (the default), and the
//! clients of the clouds people register images on. The `serve` module
//! exposes the local store over the Synnefo APIs.
//!
//! Credentials live in [`Secret`]s, which never print; errors name URLs
//! and status codes, never tokens.

pub mod clients;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod local;
pub mod parallel;
pub mod pithos;
pub mod request;
pub mod stream;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use clients::{glance, s3, swift, synnefo};
use config::clouds_yaml;
pub use error::{CloudError, ErrorKind};
use pithos::onepass;
use pithos::transfer::Transfer;

use crate::progress::Reporter;

/// The container images go to unless told otherwise.
pub const DEFAULT_CONTAINER: &str = "images";

/// A credential. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where to upload to and register with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The built-in store in this directory.
    Local(PathBuf),
    /// A Synnefo cloud: its name (for messages), Astakos URL and token.
    Synnefo {
        label: String,
        url: String,
        token: Secret,
    },
    /// An OpenStack cloud from clouds.yaml (Glance v2).
    OpenStack(clouds_yaml::OsCloud),
    /// An S3 bucket.
    S3(s3::S3Target),
    /// The Swift object store of an OpenStack cloud from clouds.yaml.
    Swift(clouds_yaml::OsCloud),
}

/// An image as a cloud describes it (Plankton's fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteImage {
    pub id: String,
    pub name: String,
    pub location: String,
    pub owner: String,
    pub disk_format: String,
    pub container_format: String,
    pub size: u64,
    pub checksum: String,
    pub is_public: bool,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub properties: BTreeMap<String, String>,
}

/// An object that was uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The object's name in its container.
    pub name: String,
    /// Where registration points at (`pithos://…`, a URL…).
    pub location: String,
    pub transfer: Transfer,
}

/// What an upload answers.
pub type UploadResult = Result<Uploaded, CloudError>;
/// What an upload that computes the file's MD5 answers: the object and
/// the MD5 in hex.
pub type Md5Upload = Result<(Uploaded, String), CloudError>;

/// What to register an uploaded image as.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub name: String,
    pub public: bool,
    /// The image metadata (OSFAMILY, DESCRIPTION…).
    pub properties: BTreeMap<String, String>,
    /// What the local store keeps with the version (other targets ignore it).
    pub history: local::history::VersionExtras,
}

/// One cloud account: the operations a run needs.
pub trait CloudBackend: Send + Sync {
    /// For messages: "the local image store at …", "cloud `x'".
    fn describe(&self) -> String;
    /// Check the credentials (and learn the endpoints). Called before the
    /// media is touched, so a bad token fails in seconds.
    fn authenticate(&mut self) -> Result<(), CloudError>;
    /// Whether an object of that name is in the container.
    fn exists(&self, name: &str) -> Result<bool, CloudError>;
    /// Upload a file, sending only what the cloud does not have.
    fn upload(&self, file: &Path, name: &str, r: &dyn Reporter) -> UploadResult;
    /// Upload a file as [`CloudBackend::upload`] does, and compute its MD5
    /// (for the `.md5sum` side file). This default reads the file for the
    /// MD5 on another thread while the upload runs; the block-store
    /// backends compute it in their single pass over the file.
    fn upload_md5(&self, file: &Path, name: &str, r: &dyn Reporter) -> Md5Upload {
        std::thread::scope(|s| {
            let md5 = s.spawn(|| onepass::md5_file(file));
            let uploaded = self.upload(file, name, r);
            let md5 = md5
                .join()
                .unwrap_or_else(|_| Err(CloudError::Protocol("the MD5 thread failed".into())));
            Ok((uploaded?, md5?))
        })
    }
    /// Upload a small file held in memory.
    fn upload_bytes(&self, name: &str, data: &[u8], ctype: &str, r: &dyn Reporter) -> UploadResult;
    /// Register an uploaded image.
    fn register(&self, object: &Uploaded, reg: &Registration) -> Result<RemoteImage, CloudError>;
    /// Make an object readable by everyone.
    fn share(&self, name: &str) -> Result<(), CloudError>;
    /// The images this account can see.
    fn images(&self) -> Result<Vec<RemoteImage>, CloudError>;
    /// Notes about retried requests not yet shown to the user.
    fn take_notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether the `.md5sum` and `.meta` objects go next to the image
    /// (not on clouds that keep only images, such as Glance).
    fn keeps_side_files(&self) -> bool {
        true
    }
}

/// Open the backend for a target (without authenticating yet).
pub fn connect(target: &Target, container: &str) -> Result<Box<dyn CloudBackend>, CloudError> {
    match target {
        Target::Local(dir) => Ok(Box::new(local::LocalBackend::new(dir, container))),
        Target::Synnefo { label, url, token } => Ok(Box::new(synnefo::SynnefoBackend::new(
            label,
            url,
            token.clone(),
            container,
        )?)),
        Target::OpenStack(c) => Ok(Box::new(glance::GlanceBackend::new(c.clone())?)),
        Target::S3(t) => Ok(Box::new(s3::S3Backend::new(t.clone())?)),
        Target::Swift(c) => Ok(Box::new(swift::SwiftBackend::new(c.clone(), container)?)),
    }
}

/// The image a name or id designates among `images`: an exact id, else
/// the one image of that name.
pub fn find_image<'a>(images: &'a [RemoteImage], key: &str) -> Result<&'a RemoteImage, CloudError> {
    if let Some(img) = images.iter().find(|i| i.id == key) {
        return Ok(img);
    }
    let named: Vec<&RemoteImage> = images.iter().filter(|i| i.name == key).collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(CloudError::NotFound(format!(
            "no image named or numbered `{key}' (see `snf-image-creator images list')"
        ))),
        many => Err(CloudError::Exists(format!(
            "{} images are named `{key}': give the id instead ({})",
            many.len(),
            many.iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
