//! The histories in the store: `history/NAME.json` (one [`Index`] per
//! image name, NAME percent-encoded) and `history/NAME/N.KIND.json`
//! (version N's file manifest, package list and run report: [`Side`]).
//! Every change of a name is one [`Backend::update`] of its index (a
//! `flock` on `history/NAME.lock` in a directory, conditional writes on
//! S3), so two processes registering the same name never lose a version.
//! An index whose versions were all removed stays (empty), so that version
//! numbers are never reused.
//!
//! [`Backend::update`]: crate::cloud::local::backend::Backend::update

use std::collections::HashSet;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::index::{Blocks, Channel, HistoryError, Index, Version, parse_ref};
use super::manifest::Manifest;
use super::triggers::Triggers;
use crate::cloud::RemoteImage;
use crate::cloud::error::CloudError;
use crate::cloud::local::backend::Change;
use crate::cloud::local::store::{ObjectRecord, Store};
use crate::guest::packages::Packages;

/// What a registration adds to its version besides the image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionExtras {
    /// The channel the new version enters (test).
    pub channel: Option<Channel>,
    pub manifest: Option<Manifest>,
    /// The number the version should get when it is free (an imported
    /// bundle keeps its version's number); else the next one.
    pub number: Option<u64>,
    /// Dominator's triggers, kept with the version.
    pub triggers: Option<Triggers>,
    /// The guest's installed packages, read during the run.
    pub packages: Option<Packages>,
    /// The run's per-step report (its `report.json`).
    pub report: Option<serde_json::Value>,
}

/// What a version keeps beside its index entry, one file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Files,
    Packages,
    Report,
}

impl Side {
    const ALL: [Side; 3] = [Side::Files, Side::Packages, Side::Report];

    fn file(self, n: u64) -> String {
        let kind = match self {
            Side::Files => "files",
            Side::Packages => "packages",
            Side::Report => "report",
        };
        format!("{n}.{kind}.json")
    }

    fn missing(self, name: &str, n: u64) -> HistoryError {
        let what = match self {
            Side::Files => "file manifest",
            Side::Packages => "package list",
            Side::Report => "report",
        };
        HistoryError::NotFound(format!(
            "{name}@{n} has no {what} (it was registered without one)"
        ))
    }
}

/// What `images gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    pub blocks: usize,
    pub bytes: u64,
    pub manifests: usize,
}

type Res<T> = Result<T, HistoryError>;

fn encode(name: &str) -> String {
    utf8_percent_encode(name, NON_ALPHANUMERIC).to_string()
}

impl Store {
    fn index_path(&self, name: &str) -> Result<String, CloudError> {
        if name.trim().is_empty() || encode(name).len() > 200 {
            return Err(CloudError::Config(format!("bad image name `{name}'")));
        }
        Ok(format!("history/{}.json", encode(name)))
    }

    fn side_path(&self, name: &str, n: u64, side: Side) -> Result<String, CloudError> {
        self.index_path(name)?;
        Ok(format!("history/{}/{}", encode(name), side.file(n)))
    }

    /// The history of `name`, if it has a version.
    pub fn history(&self, name: &str) -> Res<Option<Index>> {
        let ix: Option<Index> = self.read_json(&self.index_path(name)?)?;
        Ok(ix.filter(|ix| !ix.versions.is_empty()))
    }

    /// Every history, by name.
    pub fn histories(&self) -> Res<Vec<Index>> {
        let mut out = Vec::new();
        for name in self.list_names("history", ".json")? {
            out.extend(self.history(&name)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Change the history of `name` atomically: `f` gets the index (a new
    /// one when `create`), and what it returns is kept when it succeeds.
    /// `f` may run more than once (on S3, when another process changed the
    /// index first), so it must only change the index.
    pub fn change_history<T>(
        &self,
        name: &str,
        create: bool,
        mut f: impl FnMut(&mut Index) -> Res<T>,
    ) -> Res<T> {
        let key = self.index_path(name)?;
        let mut out: Option<Res<T>> = None;
        self.backend().update(&key, &mut |cur| {
            let result = self.parse_index(name, cur, create).and_then(|mut ix| {
                let v = f(&mut ix)?;
                let json = serde_json::to_vec_pretty(&ix)
                    .map_err(|e| CloudError::Protocol(e.to_string()))?;
                Ok((v, json))
            });
            match result {
                Ok((v, json)) => {
                    out = Some(Ok(v));
                    Change::Write(json)
                }
                Err(e) => {
                    out = Some(Err(e));
                    Change::Keep
                }
            }
        })?;
        out.unwrap_or_else(|| Err(no_image(name)))
    }

    /// The index `cur` holds (an empty one is a name without versions).
    fn parse_index(&self, name: &str, cur: Option<&[u8]>, create: bool) -> Res<Index> {
        let parsed: Option<Index> = match cur {
            Some(d) => Some(serde_json::from_slice(d).map_err(|e| {
                let key = self.index_path(name).unwrap_or_default();
                CloudError::Protocol(format!("{}/{key} is damaged: {e}", self.describe()))
            })?),
            None => None,
        };
        match parsed {
            Some(ix) if create || !ix.versions.is_empty() => Ok(ix),
            None if create => Ok(Index::new(name)),
            _ => Err(no_image(name)),
        }
    }

    /// Add `image` (the object `obj` registered) as the next version of
    /// its name, with its manifest; the version's number.
    pub fn record_version(
        &self,
        image: &RemoteImage,
        obj: &ObjectRecord,
        extras: &VersionExtras,
    ) -> Res<u64> {
        let blocks = Blocks::from(obj);
        let files = extras.manifest.as_ref().map(|m| m.files.len());
        let n = self.change_history(&image.name, true, |ix| {
            ix.next = ix.next.max(extras.number.unwrap_or(0));
            let n = ix.add(image.clone(), blocks.clone(), files);
            if let Some(v) = ix.versions.last_mut() {
                v.triggers = extras.triggers.clone();
                v.packages = extras.packages.as_ref().map(|p| p.packages.len());
            }
            if let Some(c) = extras.channel {
                ix.promote(n, c, false)?;
            }
            Ok(n)
        })?;
        if let Err(e) = self.write_sides(&image.name, n, extras) {
            let _ = self.remove_version(&image.name, n, true);
            return Err(e);
        }
        Ok(n)
    }

    /// A registered image with what its name's history says of it
    /// ([`Index::image_of`]), when it is a version of that name.
    pub fn with_history(&self, img: RemoteImage) -> RemoteImage {
        let n = img
            .properties
            .get("VERSION")
            .and_then(|n| n.parse::<u64>().ok());
        let Ok(Some(ix)) = self.history(&img.name) else {
            return img;
        };
        match ix
            .versions
            .iter()
            .find(|v| Some(v.version) == n && v.image.id == img.id)
        {
            Some(v) => RemoteImage {
                properties: ix.image_of(v).properties,
                ..img
            },
            None => img,
        }
    }

    fn write_sides(&self, name: &str, n: u64, extras: &VersionExtras) -> Res<()> {
        let json = |v: Result<Vec<u8>, serde_json::Error>| {
            v.map_err(|e| HistoryError::from(CloudError::Protocol(e.to_string())))
        };
        let sides = [
            (
                Side::Files,
                extras.manifest.as_ref().map(serde_json::to_vec),
            ),
            (
                Side::Packages,
                extras.packages.as_ref().map(serde_json::to_vec),
            ),
            (Side::Report, extras.report.as_ref().map(serde_json::to_vec)),
        ];
        for (side, data) in sides {
            if let Some(data) = data {
                self.write_side(name, n, side, &json(data)?)?;
            }
        }
        Ok(())
    }

    fn write_side(&self, name: &str, n: u64, side: Side, data: &[u8]) -> Res<()> {
        Ok(self.write_file(&self.side_path(name, n, side)?, data)?)
    }

    /// Keep `report` as version `n`'s run report (the run writes its
    /// report after it registered the version).
    pub fn attach_report(&self, name: &str, n: u64, report: &serde_json::Value) -> Res<()> {
        let ix = self.history(name)?.ok_or_else(|| no_image(name))?;
        ix.get(&super::Selector::Number(n))?;
        let data = serde_json::to_vec(report).map_err(|e| CloudError::Protocol(e.to_string()))?;
        self.write_side(name, n, Side::Report, &data)
    }

    /// The name and version a reference (`NAME`, `NAME@N`, `NAME:TAG`,
    /// `NAME:CHANNEL`) points at.
    pub fn resolve(&self, reference: &str) -> Res<(Index, Version)> {
        let exists = |s: &str| self.history(s).is_ok_and(|ix| ix.is_some());
        let (name, sel) = parse_ref(reference, exists)?;
        let index = self.history(&name)?.ok_or_else(|| no_image(&name))?;
        let v = index.get(&sel)?.clone();
        Ok((index, v))
    }

    /// The file manifest of version `n` of `name`.
    pub fn manifest(&self, name: &str, n: u64) -> Res<Manifest> {
        self.side(name, n, Side::Files)
    }

    /// The installed packages of version `n` of `name`.
    pub fn packages(&self, name: &str, n: u64) -> Res<Packages> {
        self.side(name, n, Side::Packages)
    }

    /// The run report of version `n` of `name`.
    pub fn report(&self, name: &str, n: u64) -> Res<serde_json::Value> {
        self.side(name, n, Side::Report)
    }

    /// What version `n` of `name` keeps as `side`.
    pub fn side<T: serde::de::DeserializeOwned>(&self, name: &str, n: u64, side: Side) -> Res<T> {
        let path = self.side_path(name, n, side)?;
        self.read_json(&path)?.ok_or_else(|| side.missing(name, n))
    }

    /// Remove version `n` of `name` (see [`Index::remove`]) and its
    /// side files; its blocks stay until `images gc`.
    pub fn remove_version(&self, name: &str, n: u64, force: bool) -> Res<Version> {
        let v = self.change_history(name, false, |ix| ix.remove(n, force))?;
        for side in Side::ALL {
            self.backend().delete(&self.side_path(name, n, side)?)?;
        }
        Ok(v)
    }

    /// Delete every block no object and no version references, and every
    /// side file of a version that is gone. Holds the store's `gc.lock`
    /// exclusively: uploads through the command line hold it shared.
    pub fn collect_garbage(&self) -> Res<Collected> {
        let _held = self.backend().lock("gc.lock", true)?;
        let mut live: HashSet<String> = HashSet::new();
        for account in self.accounts()? {
            for container in self.containers(&account)? {
                for obj in self.objects(&account, &container)? {
                    live.extend(obj.hashes);
                }
            }
        }
        let mut done = Collected::default();
        for ix in self.histories()? {
            live.extend(ix.versions.iter().flat_map(|v| v.blocks.hashes.clone()));
            done.manifests += self.drop_stale_manifests(&ix)?;
        }
        let (blocks, bytes) = self.drop_blocks(&live)?;
        done.blocks = blocks;
        done.bytes = bytes;
        Ok(done)
    }

    fn drop_stale_manifests(&self, ix: &Index) -> Res<usize> {
        let dir = format!("history/{}", encode(&ix.name));
        let keep: HashSet<String> = (ix.versions.iter())
            .flat_map(|v| Side::ALL.map(|s| s.file(v.version)))
            .collect();
        let mut n = 0;
        for e in self.backend().list(&dir)? {
            if !e.is_dir && !keep.contains(&e.name) {
                self.backend().delete(&format!("{dir}/{}", e.name))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Store {
    /// The accounts that have containers.
    fn accounts(&self) -> Res<Vec<String>> {
        Ok(self.list_names("accounts", "")?)
    }

    /// Delete the blocks not in `live`: how many, and their stored bytes.
    fn drop_blocks(&self, live: &HashSet<String>) -> Res<(usize, u64)> {
        let (mut n, mut bytes) = (0, 0);
        for sub in self.backend().list("blocks")? {
            for e in self.backend().list(&format!("blocks/{}", sub.name))? {
                let key = format!("blocks/{}/{}", sub.name, e.name);
                if live.contains(&e.name)
                    || !crate::cloud::pithos::hashmap::is_hash(&e.name)
                    || self.block_path(&e.name) != key
                {
                    continue;
                }
                bytes += e.size;
                self.backend().delete(&key)?;
                n += 1;
            }
        }
        Ok((n, bytes))
    }
}

fn no_image(name: &str) -> HistoryError {
    HistoryError::NotFound(format!(
        "no image named `{name}' in the store (see `snf-image-creator images list')"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::local::registry::ImageRequest;
    use crate::cloud::pithos::plankton::location;

    #[test]
    fn registrations_add_versions_and_gc_keeps_what_is_referenced() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let me = s.owner().to_owned();
        s.create_container(&me, "images").unwrap();
        let req = |data: &[u8]| {
            s.put_data(&me, "images", "d.img", &mut &data[..], "x")
                .unwrap();
            ImageRequest {
                name: "Debian".into(),
                location: location(&me, "images", "d.img"),
                ..Default::default()
            }
        };
        s.register(&me, &req(b"one")).unwrap();
        s.register(&me, &req(b"two")).unwrap();
        let ix = s.history("Debian").unwrap().unwrap();
        assert_eq!(ix.versions.len(), 2);
        assert_eq!(s.resolve("Debian@1").unwrap().1.blocks.bytes, 3);
        assert!(s.resolve("Debian@3").is_err());
        assert_eq!(s.collect_garbage().unwrap().blocks, 0);
        s.remove_version("Debian", 1, false).unwrap();
        assert_eq!(s.collect_garbage().unwrap().blocks, 1);
        assert_eq!(s.resolve("Debian").unwrap().1.version, 2);
        s.remove_version("Debian", 2, false).unwrap();
        assert!(s.history("Debian").unwrap().is_none());
        s.register(&me, &req(b"three")).unwrap();
        assert_eq!(
            s.resolve("Debian").unwrap().1.version,
            3,
            "numbers are not reused"
        );
    }
}
