//! `images diff A B`: the files added, removed and changed, the packages
//! added, removed and changed, and the size delta between two versions,
//! or between a version and an exported image file (either side), whose
//! files and packages are read with one helper-VM launch.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::cloud::local::history::{
    DiffText, FileDiff, HistoryError, Manifest, Triggers, manifest,
};
use crate::cloud::local::store::Store;
use crate::guest::packages::{self, PackageDiff, Packages};
use crate::progress::Reporter;

/// One side of a diff.
struct Side {
    label: String,
    files: Manifest,
    packages: Option<Packages>,
    image_size: u64,
    triggers: Option<Triggers>,
}

/// A store reference (`NAME`, `NAME@N`, `NAME:TAG`); failing that, an
/// existing image file.
fn side(store: &Store, reference: &str, reporter: &dyn Reporter) -> Result<Side> {
    let err = match store.resolve(reference) {
        Ok((ix, v)) => {
            let packages = match store.packages(&ix.name, v.version) {
                Ok(p) => Some(p),
                Err(HistoryError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            return Ok(Side {
                label: format!("{}@{}", ix.name, v.version),
                files: store.manifest(&ix.name, v.version)?,
                packages,
                image_size: v.image.size,
                triggers: v.triggers.clone(),
            });
        }
        Err(e) => e,
    };
    let path = Path::new(reference);
    if !path.is_file() {
        return Err(err.into());
    }
    eprintln!("Reading the files and packages of {reference} with a helper VM (may take a while)");
    let surveyed = crate::pipeline::survey(path, reporter)?;
    Ok(Side {
        label: reference.to_owned(),
        files: surveyed.manifest,
        packages: surveyed.packages,
        image_size: std::fs::metadata(path)?.len(),
        triggers: None,
    })
}

/// Run `images diff`.
pub(super) fn run(
    store: &Store,
    (from, to): (&str, &str),
    triggers: bool,
    json: bool,
    reporter: &dyn Reporter,
) -> Result<()> {
    let a = side(store, from, reporter)?;
    let b = side(store, to, reporter)?;
    let d = manifest::diff(&a.files, &b.files);
    let p = match (&a.packages, &b.packages) {
        (Some(x), Some(y)) => Some(packages::diff(x, y)),
        _ => None,
    };
    let image_delta = b.image_size as i64 - a.image_size as i64;
    let services = triggers.then(|| b.triggers.as_ref().map_or(vec![], |t| t.for_diff(&d)));
    if json {
        let mut out = diff_json((&a.label, &b.label), &d, image_delta);
        out["diff"]["packages"] = p.as_ref().map_or(json!(null), PackageDiff::to_json);
        if let Some(s) = &services {
            out["diff"]["triggers"] = json!(s);
        }
        super::super::json::print(&out);
        return Ok(());
    }
    let text = DiffText {
        names: (&a.label, &b.label),
        files: &d,
        packages: p.as_ref(),
        image_delta,
        services: services.as_deref(),
    };
    for line in text.lines() {
        println!("{line}");
    }
    Ok(())
}

fn diff_json(names: (&str, &str), d: &FileDiff, image_delta: i64) -> serde_json::Value {
    let changed: Vec<_> = (d.changed.iter())
        .map(|(p, c)| json!({ "path": p, "changes": c }))
        .collect();
    json!({ "diff": {
        "from": names.0, "to": names.1,
        "added": d.added, "removed": d.removed, "changed": changed,
        "size_delta": d.size_delta, "image_size_delta": image_delta,
    }})
}
