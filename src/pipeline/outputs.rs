//! The files a run writes next to the diskdump, and writing them so that
//! nothing half-written is ever left under its final name.
//!
//! Formats follow the original (§6.1 of the reference), except that the
//! checksum files use the two-space form `md5sum -c` and `sha256sum -c`
//! accept, and a `.sha256sum` is written as well.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

use super::{Outcome, WorkDisk};
use crate::guest::metadata::Metadata;
use crate::media::WorkDir;
use crate::media::export::{Digests, export as export_image};
use crate::media::nbd::NbdServer;
use crate::plan::{Output, with_suffix};
use crate::process::Cancel;
use crate::progress::{Reporter, Step, Unit, begin_step};

/// JSON of the properties in Python's `json.dumps` layout (`", "` and
/// `": "`), which is what the original wrote and what people diff against.
pub fn properties_json(meta: &Metadata) -> String {
    let items: Vec<String> = meta
        .iter()
        .map(|(k, v)| format!("{}: {}", json_str(k), json_str(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The `.meta` file: one line of JSON.
pub fn meta_file(meta: &Metadata) -> String {
    format!(
        "{{\"properties\": {}, \"disk-format\": \"diskdump\"}}\n",
        properties_json(meta)
    )
}

/// A checksum file line, in the form `md5sum -c` reads.
pub fn checksum_file(hex: &str, image: &Path) -> String {
    let name = image.file_name().unwrap_or(image.as_os_str());
    format!("{hex}  {}\n", name.to_string_lossy())
}

/// The `.variant` file: shell-sourceable, for snf-image's Ganeti OS variant.
pub fn variant_file(meta: &Metadata, image: &Path) -> String {
    let q = |s: &str| shell_escape::unix::escape(s.into()).into_owned();
    format!(
        "IMG_FORMAT=diskdump\nIMG_ID={}\nIMG_PROPERTIES={}\n",
        q(&image.to_string_lossy()),
        q(&properties_json(meta))
    )
}

/// A file being written under a temporary name in its final directory.
pub struct PendingFile {
    tmp: NamedTempFile,
    dest: PathBuf,
}

impl PendingFile {
    /// Start writing what will become `dest`.
    pub fn create(dest: &Path) -> Result<PendingFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file for {}", dest.display()))?;
        Ok(PendingFile {
            tmp,
            dest: dest.to_owned(),
        })
    }

    /// The open file.
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// Give the file its final name (replacing what is there).
    pub fn commit(self) -> Result<PathBuf> {
        let dest = self.dest;
        self.tmp
            .as_file()
            .set_permissions(Permissions::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", dest.display()))?;
        self.tmp
            .persist(&dest)
            .with_context(|| format!("renaming the finished file to {}", dest.display()))?;
        Ok(dest)
    }
}

/// Write the side files of `image` to temporary names; commit them with the
/// image.
pub fn side_files(
    image: &Path,
    meta: &Metadata,
    md5: &str,
    sha256: &str,
) -> Result<Vec<(String, PendingFile)>> {
    let files = [
        ("metadata", ".meta", meta_file(meta)),
        ("md5sum", ".md5sum", checksum_file(md5, image)),
        ("sha256sum", ".sha256sum", checksum_file(sha256, image)),
        ("variant", ".variant", variant_file(meta, image)),
    ];
    files
        .into_iter()
        .map(|(what, suffix, text)| {
            let dest = with_suffix(image, suffix);
            let pending = PendingFile::create(&dest)?;
            pending
                .file()
                .write_all(text.as_bytes())
                .with_context(|| format!("writing {}", dest.display()))?;
            Ok((what.to_owned(), pending))
        })
        .collect()
}

/// The export step: read the work disk through NBD once, writing the
/// diskdump (unless the output is `/dev/null`) and computing its
/// checksums, then commit it and its side files.
pub(super) fn export(
    output: &Output,
    disk: &WorkDisk,
    workdir: &WorkDir,
    outcome: &mut Outcome,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<()> {
    let image = match output {
        Output::File(path) => Some((path.clone(), PendingFile::create(path)?)),
        Output::Discard => {
            reporter.warn("not writing the image to /dev/null: only its checksums are computed");
            None
        }
    };
    let step = begin_step(
        reporter,
        "Dumping image file",
        Some((outcome.size, Unit::Bytes)),
    );
    let file = image.as_ref().map(|(_, p)| p.file());
    let digests = dump(disk, workdir, outcome.size, file, cancel, &step)?;
    match &image {
        None => step.done("done"),
        Some((path, _)) => step.done(format!(
            "image file {} was successfully created",
            path.display()
        )),
    }
    report_digests(&digests, reporter);
    if let Some((path, pending)) = image {
        commit(&path, pending, &digests, outcome, reporter, cancel)?;
    }
    outcome.digests = Some(digests);
    Ok(())
}

/// Copy `size` bytes of the disk into `file` (if any) through an NBD
/// server that lives as long as the copy.
fn dump(
    disk: &WorkDisk,
    workdir: &WorkDir,
    size: u64,
    file: Option<&File>,
    cancel: &Cancel,
    step: &Step<'_>,
) -> Result<Digests> {
    let server = NbdServer::start(&disk.path, &disk.format, &workdir.join("nbd.sock"))?;
    let mut client = server.connect()?;
    export_image(&mut client, size, file, cancel, &|done| step.advance(done))
}

/// Write the side files, then give the image and each side file its name.
fn commit(
    path: &Path,
    pending: PendingFile,
    digests: &Digests,
    outcome: &mut Outcome,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<()> {
    let sides = side_files(path, &outcome.metadata, &digests.md5, &digests.sha256)?;
    cancel.check()?;
    outcome.written.push(pending.commit()?);
    for (what, file) in sides {
        let step = begin_step(reporter, &format!("Dumping {what} file"), None);
        outcome.written.push(file.commit()?);
        step.done("done");
    }
    Ok(())
}

fn report_digests(d: &Digests, reporter: &dyn Reporter) {
    begin_step(reporter, "Calculating md5sum", None).done(d.md5.clone());
    begin_step(reporter, "Calculating sha256sum", None).done(d.sha256.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        let mut m = Metadata::new();
        m.insert("OSFAMILY".into(), "linux".into());
        m.insert("DESCRIPTION".into(), "Debian \"12\" ü".into());
        m
    }

    #[test]
    fn formats() {
        assert_eq!(
            meta_file(&meta()),
            "{\"properties\": {\"DESCRIPTION\": \"Debian \\\"12\\\" ü\", \"OSFAMILY\": \"linux\"}, \"disk-format\": \"diskdump\"}\n"
        );
        assert_eq!(
            checksum_file("abc", Path::new("/x/y/debian.diskdump")),
            "abc  debian.diskdump\n"
        );
        let v = variant_file(&meta(), Path::new("out/debian.diskdump"));
        assert!(
            v.starts_with("IMG_FORMAT=diskdump\nIMG_ID=out/debian.diskdump\nIMG_PROPERTIES='{")
        );
    }

    #[test]
    fn variant_is_sourceable_by_sh() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v");
        std::fs::write(&f, variant_file(&meta(), Path::new("a b's.img"))).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                ". '{}'; printf '%s|%s' \"$IMG_ID\" \"$IMG_PROPERTIES\"",
                f.display()
            ))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text, format!("a b's.img|{}", properties_json(&meta())));
    }

    #[test]
    fn pending_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.img");
        let p = PendingFile::create(&dest).unwrap();
        p.file().write_all(b"data").unwrap();
        assert!(!dest.exists());
        p.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let dropped = PendingFile::create(&dir.path().join("gone.img")).unwrap();
        drop(dropped);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
