//! Portable bundles of one version (xCAT's `imgexport`/`imgimport`): a
//! tar whose first member is `manifest.json` (the name, version,
//! properties, every other member's size and SHA-256, the file manifest,
//! the packages, the run report, the triggers and the extras), then the diskdump, its side files (`.meta`, the image
//! as `images show` prints it, and `.sha256sum`) and the extras under
//! `extras/`. [`import`] verifies every member before the store changes.

mod import;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::index::{HistoryError, Index, Version};
use super::manifest::Manifest;
use super::triggers::Triggers;
use crate::cloud::error::CloudError;
use crate::cloud::local::reader::ObjectReader;
use crate::cloud::local::registry::parse_location;
use crate::cloud::local::store::Store;
use crate::cloud::pithos::hashmap::hex;
use crate::guest::packages::Packages;

pub use import::{Imported, import};

/// The first member's name.
pub const MANIFEST: &str = "manifest.json";
/// The largest `manifest.json` an import reads (a file manifest of a big
/// guest is tens of MiB).
pub const MAX_MANIFEST: u64 = 256 << 20;
/// The bundle format this program writes and reads.
pub const FORMAT: u32 = 1;

type Res<T> = Result<T, HistoryError>;

/// One member after `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: u32,
    pub name: String,
    pub version: u64,
    pub properties: BTreeMap<String, String>,
    pub disk_format: String,
    pub container_format: String,
    pub is_public: bool,
    /// The image's size and its store hash (the Merkle hash of its blocks).
    pub size: u64,
    pub checksum: String,
    /// The member that is the diskdump.
    pub disk: String,
    /// Every other member, in the order they follow.
    pub members: Vec<Member>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Manifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Triggers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Packages>,
    /// The run's per-step report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// The members that are extras (`extras/DST`).
    #[serde(default)]
    pub extras: Vec<String>,
}

/// A host file to add to the bundle as `extras/DST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    pub src: PathBuf,
    pub dst: String,
}

/// Whether `name` is a safe relative member name: no empty, `.` or `..`
/// component, not absolute, no NUL or backslash, not too long.
pub fn safe_member(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('/')
        && !name.contains(['\0', '\\'])
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

fn json_error(e: serde_json::Error) -> CloudError {
    CloudError::Protocol(e.to_string())
}

fn bad(msg: String) -> HistoryError {
    HistoryError::BadBundle(msg)
}

/// The bytes of a stored version's image.
fn image_of(store: &Store, v: &Version) -> ObjectReader {
    ObjectReader::whole(store.clone(), v.blocks.clone())
}

/// The size and SHA-256 of a stream.
fn digest(r: impl Read) -> io::Result<(u64, String)> {
    let mut h = Hashing::new(r);
    io::copy(&mut h, &mut io::sink())?;
    Ok((h.bytes, h.finish()))
}

/// The diskdump's member name: the stored object's own name when it is
/// a plain file name.
fn disk_member(v: &Version) -> String {
    let name = parse_location(&v.image.location).map(|(_, _, n)| n);
    match name {
        Ok(n) if safe_member(&n) && !n.contains('/') && n != MANIFEST => n,
        _ => "image.diskdump".into(),
    }
}

/// What goes in the bundle besides the manifest: (name, size, content).
enum Source<'a> {
    Bytes(Vec<u8>),
    Disk(&'a Version),
    File(PathBuf),
}

fn open<'a>(store: &'a Store, src: &Source<'a>) -> Res<Box<dyn Read + 'a>> {
    Ok(match src {
        Source::Bytes(b) => Box::new(io::Cursor::new(b.clone())),
        Source::Disk(v) => Box::new(image_of(store, v)),
        Source::File(p) => {
            Box::new(File::open(p).map_err(|e| CloudError::io("opening the extra", p, e))?)
        }
    })
}

/// The members of a bundle of version `v` of `ix`, and its manifest.
fn plan<'a>(
    store: &Store,
    ix: &Index,
    v: &'a Version,
    extras: &[Extra],
) -> Res<(BundleManifest, Vec<(String, Source<'a>)>)> {
    let disk = disk_member(v);
    let (size, sha) = digest(image_of(store, v))
        .map_err(|e| CloudError::Protocol(format!("reading {}@{}: {e}", ix.name, v.version)))?;
    let shown = serde_json::to_vec_pretty(&ix.image_of(v)).map_err(json_error)?;
    let mut sources = vec![
        (disk.clone(), Source::Disk(v)),
        (format!("{disk}.meta"), Source::Bytes(shown)),
        (
            format!("{disk}.sha256sum"),
            Source::Bytes(format!("{sha}  {disk}\n").into_bytes()),
        ),
    ];
    for e in extras {
        let name = format!("extras/{}", e.dst);
        if !safe_member(&name) || sources.iter().any(|(n, _)| *n == name) {
            return Err(HistoryError::Refused(format!(
                "bad or repeated extra name `{}' (-e SRC[:DST], DST a relative path)",
                e.dst
            )));
        }
        sources.push((name, Source::File(e.src.clone())));
    }
    let mut members = vec![Member {
        name: disk.clone(),
        size,
        sha256: sha,
    }];
    for (name, src) in &sources[1..] {
        let (size, sha256) = digest(open(store, src)?)
            .map_err(|e| CloudError::Protocol(format!("reading {name}: {e}")))?;
        members.push(Member {
            name: name.clone(),
            size,
            sha256,
        });
    }
    let files = optional(store.manifest(&ix.name, v.version))?;
    let packages = optional(store.packages(&ix.name, v.version))?;
    let report = optional(store.report(&ix.name, v.version))?;
    let img = &v.image;
    let mut properties = img.properties.clone();
    for k in ["VERSION", "TAGS", "CHANNELS"] {
        properties.remove(k);
    }
    let manifest = BundleManifest {
        format: FORMAT,
        name: ix.name.clone(),
        version: v.version,
        properties,
        disk_format: img.disk_format.clone(),
        container_format: img.container_format.clone(),
        is_public: img.is_public,
        size: img.size,
        checksum: img.checksum.clone(),
        disk,
        extras: members
            .iter()
            .filter(|m| m.name.starts_with("extras/"))
            .map(|m| m.name.clone())
            .collect(),
        members,
        files,
        triggers: v.triggers.clone(),
        packages,
        report,
    };
    Ok((manifest, sources))
}

/// A side file a version may lack.
fn optional<T>(r: Res<T>) -> Res<Option<T>> {
    match r {
        Ok(x) => Ok(Some(x)),
        Err(HistoryError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn append(out: &mut tar::Builder<impl Write>, name: &str, size: u64, data: impl Read) -> Res<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(0);
    out.append_data(&mut h, name, data)
        .map_err(|e| CloudError::Protocol(format!("writing {name} into the bundle: {e}")).into())
}

/// Write version `reference` as a bundle to `out`; its manifest.
pub fn export(
    store: &Store,
    reference: &str,
    extras: &[Extra],
    out: impl Write,
) -> Res<BundleManifest> {
    let (ix, v) = store.resolve(reference)?;
    let (manifest, sources) = plan(store, &ix, &v, extras)?;
    let json = serde_json::to_vec(&manifest).map_err(json_error)?;
    let mut tar = tar::Builder::new(out);
    append(&mut tar, MANIFEST, json.len() as u64, &json[..])?;
    for ((name, src), m) in sources.iter().zip(&manifest.members) {
        // A source that changed since it was hashed would make a bundle
        // that does not verify: refuse it now rather than at import.
        let mut hashed = Hashing::new(open(store, src)?);
        append(&mut tar, name, m.size, &mut hashed)?;
        if hashed.finish() != m.sha256 {
            return Err(bad(format!("{name} changed while it was written")));
        }
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| CloudError::Protocol(format!("finishing the bundle: {e}")))?;
    Ok(manifest)
}

/// A reader that hashes what passes through it.
pub(crate) struct Hashing<R> {
    inner: R,
    sha: Sha256,
    pub bytes: u64,
}

impl<R: Read> Hashing<R> {
    pub(crate) fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    /// The SHA-256 of what was read, as hex.
    pub(crate) fn finish(self) -> String {
        hex(&self.sha.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
