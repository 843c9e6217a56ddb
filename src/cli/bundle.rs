//! `images export` and `images import`: one version as a portable bundle
//! (see [`crate::cloud::local::history::bundle`]).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cloud::local::history::HistoryError;
use crate::cloud::local::history::bundle;
pub use crate::cloud::local::history::bundle::Extra;
use crate::cloud::local::store::Store;
use crate::pipeline::outputs::PendingFile;
use crate::process::UsageError;

/// `-e SRC[:DST]`: a host file, and its name under `extras/` (default:
/// the file's own name).
pub fn parse_extra(s: &str) -> Result<Extra, String> {
    let (src, dst) = match s.split_once(':') {
        Some((src, dst)) => (src, dst.to_owned()),
        None => {
            let name = Path::new(s).file_name().map(|n| n.to_string_lossy());
            (s, name.unwrap_or_default().into_owned())
        }
    };
    if src.is_empty() || !bundle::safe_member(&dst) {
        return Err(format!(
            "expected SRC[:DST], DST a relative path without `..' (got `{s}')"
        ));
    }
    Ok(Extra {
        src: PathBuf::from(src),
        dst,
    })
}

/// Write `image` as a bundle to `out` (through a temporary file).
pub fn export(store: &Store, image: &str, out: &Path, extras: &[Extra]) -> Result<()> {
    for e in extras {
        if !e.src.is_file() {
            return Err(UsageError(format!("-e {}: no such file", e.src.display())).into());
        }
    }
    let pending = PendingFile::create(out)?;
    let m = bundle::export(store, image, extras, BufWriter::new(pending.file()))?;
    pending.commit()?;
    eprintln!(
        "Exported {}@{} ({} members, {} bytes of image) to {}",
        m.name,
        m.version,
        m.members.len() + 1,
        m.size,
        out.display()
    );
    Ok(())
}

/// Verify the bundle at `file` and register its image.
pub fn import(
    store: &Store,
    file: &Path,
    rename: Option<&str>,
    extras_to: Option<&Path>,
) -> Result<()> {
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let done = bundle::import(store, BufReader::new(f), rename, extras_to).map_err(|e| {
        let e = match e {
            HistoryError::BadBundle(m) => {
                HistoryError::BadBundle(format!("{} does not verify: {m}", file.display()))
            }
            other => other,
        };
        anyhow::Error::from(e)
    })?;
    for x in &done.extras {
        eprintln!("Wrote {}", x.display());
    }
    let img = &done.image;
    eprintln!(
        "Imported {} as {}@{}",
        file.display(),
        img.name,
        img.properties.get("VERSION").map_or("?", |v| v.as_str())
    );
    println!("{}", serde_json::to_string_pretty(img)?);
    Ok(())
}
