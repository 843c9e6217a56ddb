//! Reading a bundle: every member is staged in the store's `tmp/` under a
//! number (never under its own name) and checked against the manifest;
//! only when every member verifies does the store change.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{
    BundleManifest, FORMAT, Hashing, MANIFEST, MAX_MANIFEST, Member, Res, bad, safe_member,
};
use crate::cloud::error::CloudError;
use crate::cloud::local::history::{HistoryError, VersionExtras};
use crate::cloud::local::registry::ImageRequest;
use crate::cloud::local::store::Store;
use crate::cloud::pithos::hashmap::{DEFAULT_BLOCK_SIZE, block_hash, merkle};
use crate::cloud::pithos::plankton::location;
use crate::cloud::{DEFAULT_CONTAINER, RemoteImage};

/// What an import registered, and the extras it wrote.
#[derive(Debug, Clone)]
pub struct Imported {
    pub image: RemoteImage,
    pub extras: Vec<PathBuf>,
}

fn damaged(e: io::Error) -> HistoryError {
    bad(format!("not a readable tar (damaged or truncated): {e}"))
}

/// Import the bundle read from `input` as `rename` (or its own name),
/// writing its extras under `extras_to` when given.
pub fn import(
    store: &Store,
    input: impl Read,
    rename: Option<&str>,
    extras_to: Option<&Path>,
) -> Res<Imported> {
    // A store on S3 stages in the system's temporary directory.
    let tmp = (store.local_dir()).map_or_else(std::env::temp_dir, |d| d.join("tmp"));
    let staging = tempfile::tempdir_in(&tmp).map_err(|e| CloudError::io("creating", &tmp, e))?;
    let (m, staged) = read_bundle(input, staging.path())?;
    let name = rename.unwrap_or(&m.name);
    store.history(name)?;
    let extras = match extras_to {
        Some(dir) => write_extras(&m, &staged, dir)?,
        None => Vec::new(),
    };
    let image = register(store, &m, name, &staged[&m.disk])?;
    Ok(Imported { image, extras })
}

/// The verified manifest, and where each member is staged.
fn read_bundle(input: impl Read, dir: &Path) -> Res<(BundleManifest, HashMap<String, PathBuf>)> {
    let mut ar = tar::Archive::new(input);
    let mut entries = ar.entries().map_err(damaged)?;
    let first = entries
        .next()
        .ok_or_else(|| bad("the bundle is empty".into()))?;
    let m = read_manifest(first.map_err(damaged)?)?;
    let expected: HashMap<&str, &Member> = m.members.iter().map(|x| (x.name.as_str(), x)).collect();
    let mut staged = HashMap::new();
    for (i, e) in entries.enumerate() {
        let e = e.map_err(damaged)?;
        let name = member_name(&e)?;
        let Some(want) = expected.get(name.as_str()) else {
            return Err(bad(format!("member `{name}' is not in {MANIFEST}")));
        };
        if staged.contains_key(&name) {
            return Err(bad(format!("member `{name}' appears twice")));
        }
        let path = dir.join(i.to_string());
        stage(e, want, &path)?;
        staged.insert(name, path);
    }
    if let Some(x) = m.members.iter().find(|x| !staged.contains_key(&x.name)) {
        return Err(bad(format!(
            "member `{}' is missing (the bundle is truncated?)",
            x.name
        )));
    }
    check_store_hash(&m, &staged[&m.disk])?;
    Ok((m, staged))
}

/// A member's name, if it is a regular file with a safe name.
fn member_name(e: &tar::Entry<impl Read>) -> Res<String> {
    let raw = e.path_bytes();
    let name = String::from_utf8_lossy(&raw).into_owned();
    let kind = e.header().entry_type();
    if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
        return Err(bad(format!(
            "member `{name}' is not a regular file (links and directories are refused)"
        )));
    }
    if !safe_member(&name) || name == MANIFEST {
        return Err(bad(format!(
            "member `{name}' has a name that is absolute, has `..' or repeats {MANIFEST}"
        )));
    }
    Ok(name)
}

/// The first member, which must be a `manifest.json` no larger than
/// [`MAX_MANIFEST`] and consistent with itself.
fn read_manifest(mut e: tar::Entry<impl Read>) -> Res<BundleManifest> {
    let raw = e.path_bytes();
    if &*raw != MANIFEST.as_bytes() || e.header().entry_type() != tar::EntryType::Regular {
        return Err(bad(format!(
            "the first member is `{}', not {MANIFEST}: not a bundle",
            String::from_utf8_lossy(&raw)
        )));
    }
    if e.size() > MAX_MANIFEST {
        return Err(bad(format!(
            "{MANIFEST} is {} bytes (at most {MAX_MANIFEST})",
            e.size()
        )));
    }
    let mut data = Vec::new();
    (&mut e)
        .take(MAX_MANIFEST)
        .read_to_end(&mut data)
        .map_err(damaged)?;
    if data.len() as u64 != e.size() {
        return Err(bad(format!("member `{MANIFEST}' is truncated")));
    }
    let m: BundleManifest = serde_json::from_slice(&data)
        .map_err(|err| bad(format!("{MANIFEST} is not a bundle manifest: {err}")))?;
    check_manifest(&m)?;
    Ok(m)
}

fn check_manifest(m: &BundleManifest) -> Res<()> {
    if m.format != FORMAT {
        return Err(bad(format!(
            "bundle format {} (this program reads {FORMAT})",
            m.format
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for x in &m.members {
        let extra_ok = !x.name.starts_with("extras/") || m.extras.contains(&x.name);
        if !safe_member(&x.name) || x.name == MANIFEST || !seen.insert(&x.name) || !extra_ok {
            return Err(bad(format!(
                "{MANIFEST} lists member `{}', a bad or repeated name",
                x.name
            )));
        }
    }
    let disk = m.members.iter().find(|x| x.name == m.disk);
    if disk.is_none_or(|d| d.size != m.size) || m.extras.iter().any(|x| !seen.contains(x)) {
        return Err(bad(format!(
            "{MANIFEST} does not describe its diskdump `{}' and extras",
            m.disk
        )));
    }
    Ok(())
}

/// Copy a member to `path`, checking its size and SHA-256.
fn stage(e: tar::Entry<impl Read>, want: &Member, path: &Path) -> Res<()> {
    let name = &want.name;
    if e.size() != want.size {
        return Err(bad(format!(
            "member `{name}' is {} bytes, {MANIFEST} says {}",
            e.size(),
            want.size
        )));
    }
    let mut out = File::create(path).map_err(|err| CloudError::io("creating", path, err))?;
    let mut h = Hashing::new(e);
    io::copy(&mut h, &mut out).map_err(|err| bad(format!("reading member `{name}': {err}")))?;
    if h.bytes != want.size {
        return Err(bad(format!("member `{name}' is truncated")));
    }
    if h.finish() != want.sha256 {
        return Err(bad(format!(
            "member `{name}' does not match its SHA-256 in {MANIFEST}"
        )));
    }
    Ok(())
}

/// The diskdump's store hash (the Merkle hash of its blocks) must be the
/// checksum the manifest gives the image.
fn check_store_hash(m: &BundleManifest, disk: &Path) -> Res<()> {
    let mut f = File::open(disk).map_err(|e| CloudError::io("opening", disk, e))?;
    let mut hashes = Vec::new();
    let mut block = Vec::with_capacity(DEFAULT_BLOCK_SIZE as usize);
    loop {
        block.clear();
        (&mut f)
            .take(DEFAULT_BLOCK_SIZE)
            .read_to_end(&mut block)
            .map_err(|e| CloudError::io("reading", disk, e))?;
        if block.is_empty() {
            break;
        }
        hashes.push(block_hash(&block));
    }
    if merkle(&hashes) != m.checksum {
        return Err(bad(format!(
            "member `{}' does not match the image checksum in {MANIFEST}",
            m.disk
        )));
    }
    Ok(())
}

fn write_extras(
    m: &BundleManifest,
    staged: &HashMap<String, PathBuf>,
    dir: &Path,
) -> Res<Vec<PathBuf>> {
    let mut out = Vec::new();
    for x in &m.extras {
        let dest = dir.join(x.trim_start_matches("extras/"));
        let parent = dest.parent().unwrap_or(dir);
        fs::create_dir_all(parent).map_err(|e| CloudError::io("creating", parent, e))?;
        fs::copy(&staged[x], &dest).map_err(|e| CloudError::io("writing", &dest, e))?;
        out.push(dest);
    }
    Ok(out)
}

/// Store the staged diskdump as a new object and register it as the next
/// version of `name` (the bundle's own number when that is free).
fn register(store: &Store, m: &BundleManifest, name: &str, disk: &Path) -> Res<RemoteImage> {
    let owner = store.owner().to_owned();
    store.create_container(&owner, DEFAULT_CONTAINER)?;
    let mut object = m.disk.clone();
    for i in 1.. {
        if store.object(&owner, DEFAULT_CONTAINER, &object)?.is_none() {
            break;
        }
        object = format!("{}.{i}", m.disk);
    }
    let mut f = File::open(disk).map_err(|e| CloudError::io("opening", disk, e))?;
    let ctype = "application/octet-stream";
    store.put_data(&owner, DEFAULT_CONTAINER, &object, &mut f, ctype)?;
    let req = ImageRequest {
        name: name.to_owned(),
        location: location(&owner, DEFAULT_CONTAINER, &object),
        disk_format: m.disk_format.clone(),
        container_format: m.container_format.clone(),
        is_public: m.is_public,
        properties: m.properties.clone(),
        size: Some(m.size),
        checksum: Some(m.checksum.clone()),
    };
    let extras = VersionExtras {
        channel: None,
        manifest: m.files.clone(),
        number: Some(m.version),
        triggers: m.triggers.clone(),
        packages: m.packages.clone(),
        report: m.report.clone(),
    };
    Ok(store.register_version(&owner, &req, &extras)?)
}
