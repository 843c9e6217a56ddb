//! The backing chain of an image: every file qemu would read when it opens
//! it. A qcow2 (or vmdk, qed…) image can name a backing file whose content
//! shows through every cluster the image does not hold, and an external
//! data file that holds all of its data; either can be a host file, a
//! device or a network export that the exported image would carry away.
//!
//! The chain is walked one layer at a time with `qemu-img info -f FORMAT`
//! (qemu opens a layer without its backing file), and every reference is
//! checked against [`RULES`] *before* the file it names is opened, so
//! qemu never probes a backing file's format, never opens a FIFO, a device
//! or a network address. Only the top image's format is probed, once.

use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use super::ImageFormat;
use super::qemu_img::{self, ImageInfo};

/// More layers than this is refused (a loop qemu would follow, or a
/// pathological image).
const MAX_LAYERS: usize = 16;

/// One file of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub path: PathBuf,
    pub format: ImageFormat,
}

/// The image and its backing files, top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub layers: Vec<Layer>,
}

impl Chain {
    /// Whether the top image has a backing file.
    pub fn has_backing(&self) -> bool {
        self.layers.len() > 1
    }

    /// Every file of the chain, top first.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.layers.iter().map(|l| l.path.as_path())
    }
}

impl fmt::Display for Chain {
    /// `top.qcow2 (qcow2) -> base.raw (raw)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .layers
            .iter()
            .map(|l| format!("{} ({})", l.path.display(), l.format))
            .collect();
        f.write_str(&parts.join(" -> "))
    }
}

/// Why a chain is not used.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A chain every rule accepts, but nobody said to use it.
    #[error(
        "{top} has a backing file ({chain}): the data it does not hold would be read from it; give --allow-backing-file to use the chain, or flatten it first: qemu-img convert -O qcow2 {top} flat.qcow2"
    )]
    NotAllowed { top: String, chain: Chain },
    /// A reference no flag makes acceptable.
    #[error("{image}: its {what} {name} is refused: {why} (even with --allow-backing-file)")]
    Refused {
        image: String,
        what: &'static str,
        name: String,
        why: String,
    },
}

/// What kind of reference a layer makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    Backing,
    DataFile,
    /// A vmdk extent in a file of its own.
    Extent,
}

/// A file one layer names, before it is opened.
#[derive(Debug)]
struct Link<'a> {
    kind: LinkKind,
    /// As recorded in the image.
    name: &'a str,
    /// The backing format recorded in the image (backing files only).
    format: Option<&'a ImageFormat>,
    /// The name resolved against the directory of the layer.
    path: PathBuf,
}

/// A rule: the reason a link is refused, or `None`.
type Rule = fn(&Link) -> Option<String>;

/// The rules every link of every chain must pass, in order; the first
/// that answers refuses it.
const RULES: &[Rule] = &[
    |l| {
        (l.kind == LinkKind::DataFile)
            .then(|| "an external data file holds all of the image's data outside it".into())
    },
    |l| protocol(l.name).map(|p| format!("it is a `{p}:` address, not a local file")),
    |l| {
        (l.kind == LinkKind::Backing && l.format.is_none())
            .then(|| "its format is not recorded in the image (qemu would have to guess it)".into())
    },
    |l| pseudo_fs(&l.path).map(|fs| format!("it is under {fs}, not a disk image")),
    |l| not_regular(&l.path),
];

/// The protocol prefix of a qemu filename (`nbd`, `http`, `json`…): a
/// colon before any slash, as qemu reads it.
fn protocol(name: &str) -> Option<&str> {
    let (head, _) = name.split_once(':')?;
    (!head.contains('/')).then_some(head)
}

/// `/proc` or `/sys` when the path (symlinks resolved) is under one.
fn pseudo_fs(path: &Path) -> Option<&'static str> {
    let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    ["/proc", "/sys"]
        .into_iter()
        .find(|root| real.starts_with(root))
}

/// Why the file is not a regular file, if it is not.
fn not_regular(path: &Path) -> Option<String> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("it cannot be read ({e})")),
    };
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        return None;
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    Some(format!("it is {kind}, not a regular file"))
}

/// A backing name resolved as qemu does: relative to the layer's directory.
fn resolve(layer: &Path, name: &str) -> PathBuf {
    let name = Path::new(name);
    if name.is_absolute() {
        return name.to_owned();
    }
    let dir = layer.parent().unwrap_or(Path::new(""));
    let joined = dir.join(name);
    // Lexically tidy `./` for messages; `..` is left to the kernel.
    joined
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// Whether a file starts with a qcow2 header that declares an external data
/// file (incompatible feature bit 2). Read before qemu opens the file, so
/// that the data file is never opened.
fn qcow2_declares_data_file(path: &Path) -> bool {
    let mut header = [0u8; 80];
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    if f.read_exact(&mut header).is_err() || &header[..4] != b"QFI\xfb" {
        return false;
    }
    let version = u32::from_be_bytes(header[4..8].try_into().unwrap_or_default());
    let incompatible = u64::from_be_bytes(header[72..80].try_into().unwrap_or_default());
    version >= 3 && incompatible & 4 != 0
}

fn apply_rules(image: &Path, link: &Link) -> Result<(), ChainError> {
    match RULES.iter().find_map(|rule| rule(link)) {
        None => Ok(()),
        Some(why) => Err(ChainError::Refused {
            image: image.display().to_string(),
            what: match link.kind {
                LinkKind::Backing => "backing file",
                LinkKind::DataFile => "data file",
                LinkKind::Extent => "extent",
            },
            name: link.name.to_owned(),
            why,
        }),
    }
}

/// The data file a layer declares, checked before qemu opens the layer
/// (from its header) and after (from qemu's answer).
fn check_data_file(image: &Path, info: Option<&ImageInfo>) -> Result<(), ChainError> {
    let name = match info {
        Some(info) => info.data_file().map(str::to_owned),
        None => qcow2_declares_data_file(image).then(|| "(declared in its header)".to_owned()),
    };
    let Some(name) = name else {
        return Ok(());
    };
    let link = Link {
        kind: LinkKind::DataFile,
        name: &name,
        format: None,
        path: resolve(image, &name),
    };
    apply_rules(image, &link)
}

/// Walk the chain of `top`, probing its format once, and decide whether it
/// may be used: every link must pass [`RULES`], and a chain of more than
/// one file needs `allow_backing`. Answers qemu's information on the top.
pub fn examine(top: &Path, allow_backing: bool) -> Result<(ImageInfo, Chain)> {
    check_before_opening(top)?;
    let info = qemu_img::info(top)?;
    let chain = walk(top, &info)?;
    if chain.has_backing() && !allow_backing {
        return Err(ChainError::NotAllowed {
            top: top.display().to_string(),
            chain,
        }
        .into());
    }
    Ok((info, chain))
}

/// Follow the backing files of `top` (whose information is `info`).
fn walk(top: &Path, info: &ImageInfo) -> Result<Chain> {
    let mut layers = vec![Layer {
        path: top.to_owned(),
        format: info.format.clone(),
    }];
    let mut seen = vec![file_id(top)];
    let mut current = info.clone();
    let mut image = top.to_owned();
    loop {
        check_data_file(&image, Some(&current))?;
        let names: Vec<&str> = current.extents().collect();
        layers.extend(extents(&image, &names)?);
        let Some(name) = current.backing_filename.as_deref() else {
            return Ok(Chain { layers });
        };
        let link = Link {
            kind: LinkKind::Backing,
            name,
            format: current.backing_format.as_ref(),
            path: resolve(&image, name),
        };
        apply_rules(&image, &link)?;
        check_growth(&image, &link, &seen, layers.len())?;
        check_before_opening(&link.path)?;
        let Some(format) = link.format.cloned() else {
            unreachable!("RULES refuse a backing file whose format is not recorded");
        };
        let next = qemu_img::info_as(&link.path, &format)?;
        seen.push(file_id(&link.path));
        image = link.path.clone();
        layers.push(Layer {
            path: link.path,
            format,
        });
        current = next;
    }
}

/// What a layer's header or descriptor says, checked before qemu opens it.
fn check_before_opening(path: &Path) -> Result<(), ChainError> {
    check_data_file(path, None)?;
    extents(path, &vmdk_descriptor_extents(path)).map(drop)
}

/// A backing file may not be a file already in the chain, nor make it
/// longer than [`MAX_LAYERS`].
fn check_growth(
    image: &Path,
    link: &Link,
    seen: &[Option<(u64, u64)>],
    len: usize,
) -> Result<(), ChainError> {
    let why = if seen.contains(&file_id(&link.path)) {
        "the chain loops back to a file already in it".to_owned()
    } else if len >= MAX_LAYERS {
        format!("the chain is longer than {MAX_LAYERS} files")
    } else {
        return Ok(());
    };
    Err(ChainError::Refused {
        image: image.display().to_string(),
        what: "backing file",
        name: link.name.to_owned(),
        why,
    })
}

/// The vmdk extents in files other than `image`, checked against the
/// rules, as layers of the chain (they are read as a backing file is).
fn extents<S: AsRef<str>>(image: &Path, names: &[S]) -> Result<Vec<Layer>, ChainError> {
    let mut layers = Vec::new();
    for name in names.iter().map(AsRef::as_ref) {
        let path = resolve(image, name);
        if super::identity::same_file(&path, image) {
            continue;
        }
        let link = Link {
            kind: LinkKind::Extent,
            name,
            format: None,
            path,
        };
        apply_rules(image, &link)?;
        layers.push(Layer {
            path: link.path,
            format: ImageFormat::VmdkExtent,
        });
    }
    Ok(layers)
}

/// The extent files a vmdk descriptor names, read before qemu opens the
/// image: a text descriptor file, or the one embedded in a sparse vmdk.
fn vmdk_descriptor_extents(path: &Path) -> Vec<String> {
    const LIMIT: u64 = 64 << 10;
    let Ok(mut f) = fs::File::open(path) else {
        return Vec::new();
    };
    let mut head = [0u8; 44];
    let Ok(()) = f.read_exact(&mut head) else {
        return Vec::new();
    };
    let mut text = Vec::new();
    if head.starts_with(b"# Disk DescriptorFile") {
        text.extend_from_slice(&head);
        let _ = f.take(LIMIT).read_to_end(&mut text);
    } else if head.starts_with(b"KDMV") {
        let sector =
            |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or_default());
        let (offset, size) = (sector(28) * 512, (sector(36) * 512).min(LIMIT));
        let _ = std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset));
        let _ = f.take(size).read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| {
            ["RW ", "RDONLY ", "NOACCESS "]
                .iter()
                .any(|a| l.starts_with(a))
        })
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .collect()
}

/// (device, inode) of a file, to find loops.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
