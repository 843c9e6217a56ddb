//! Examining the source media: a disk image file of any format qemu reads,
//! or a block device. Each refusal names the path and says what to give
//! instead.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::chain::{self, Chain};
use super::{ImageFormat, qemu_img};

/// What kind of thing the source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A disk image file.
    File,
    /// A block device.
    BlockDevice,
    /// A directory tree, copied into a new disk.
    Tree,
    /// A tarball of a tree, copied into a new disk.
    Tarball,
    /// The running host's root tree, copied into a new disk.
    Host,
}

impl SourceKind {
    /// The original's wording after `Examining source media ... `.
    pub fn describe(self) -> &'static str {
        match self {
            SourceKind::File => "looks like an image file",
            SourceKind::BlockDevice => "looks like a block device",
            SourceKind::Tree => "looks like a directory tree",
            SourceKind::Tarball => "looks like a tarball of a tree",
            SourceKind::Host => "looks like the running host",
        }
    }
}

/// The examined source media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub kind: SourceKind,
    /// The format, passed explicitly from here on.
    pub format: ImageFormat,
    /// The virtual disk size in bytes.
    pub size: u64,
    /// The user's media and its backing files (for the UI's own overlay:
    /// those of the original it was made of).
    pub chain: Chain,
}

impl Source {
    /// The result of the "Examining source media" step.
    pub fn describe(&self) -> String {
        let kind = self.kind.describe();
        if self.chain.has_backing() {
            format!("{kind}, with backing chain {}", self.chain)
        } else {
            kind.to_owned()
        }
    }

    /// Every file the run reads: the source and its chain.
    pub fn inputs(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        files.extend(self.chain.files().map(Path::to_owned));
        files.dedup();
        files
    }
}

/// Look at `path` and decide whether it is media we can work on. A backing
/// chain is examined first and used only when `allow_backing` is given
/// (see [`chain`]).
pub fn examine(path: &Path, allow_backing: bool) -> Result<Source> {
    let kind = kind_of(path)?;
    File::open(path).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot read {}: permission denied (run as a user who can read it)",
            path.display()
        ),
        _ => anyhow::Error::new(e).context(format!("opening {}", path.display())),
    })?;
    if kind == SourceKind::File && fs::metadata(path)?.len() == 0 {
        bail!("{} is empty: it holds no disk image", path.display());
    }
    let (info, chain) = chain::examine(path, allow_backing)?;
    if info.virtual_size == 0 {
        bail!("{} is empty: its disk has a size of 0", path.display());
    }
    qemu_img::check(path, &info.format)?;
    Ok(Source {
        path: path.to_owned(),
        kind,
        format: info.format,
        size: info.virtual_size,
        chain,
    })
}

/// The product's own qcow2 overlay of an examined original (the UI's
/// session overlay): its one link, to the original, is ours and needs no
/// examination; the original's chain stands for it.
pub fn own_overlay(overlay: &Path, original: Source) -> Result<Source> {
    let info = qemu_img::info_as(overlay, &ImageFormat::Qcow2)?;
    Ok(Source {
        path: overlay.to_owned(),
        kind: SourceKind::File,
        format: info.format,
        size: info.virtual_size,
        chain: original.chain,
    })
}

fn kind_of(path: &Path) -> Result<SourceKind> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => anyhow::anyhow!(
            "{} does not exist: give the path of a disk image or a block device",
            path.display()
        ),
        _ => anyhow::Error::new(e).context(format!("examining {}", path.display())),
    })?;
    let ft = meta.file_type();
    if ft.is_dir() {
        bail!(
            "{} is a directory: give a disk image file or a block device",
            path.display()
        );
    }
    if ft.is_file() {
        Ok(SourceKind::File)
    } else if ft.is_block_device() {
        Ok(SourceKind::BlockDevice)
    } else {
        bail!(
            "{} is neither a regular file nor a block device: give a disk image or a block device",
            path.display()
        )
    }
}

/// Check, without opening it, that a source path names something that could
/// be media; used by the command line before anything starts.
pub fn exists(path: &Path) -> bool {
    fs::metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(path: &Path) -> String {
        format!("{:#}", examine(path, false).unwrap_err())
    }

    #[test]
    fn refuses_non_media() {
        let dir = tempfile::tempdir().unwrap();
        assert!(err(&dir.path().join("nope")).contains("does not exist"));
        assert!(err(dir.path()).contains("is a directory"));
        let empty = dir.path().join("empty.img");
        File::create(&empty).unwrap();
        assert!(err(&empty).contains("is empty"));
        assert!(err(Path::new("/dev/null")).contains("neither a regular file"));
    }

    #[test]
    fn examines_a_raw_file() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        File::create(&img).unwrap().set_len(4 << 20).unwrap();
        let src = examine(&img, false).unwrap();
        assert_eq!(src.kind, SourceKind::File);
        assert_eq!(src.format, ImageFormat::Raw);
        assert_eq!(src.size, 4 << 20);
    }
}
