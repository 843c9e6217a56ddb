//! The source disk's BIOS boot loader, copied into the new disk: the
//! MBR's boot code (its first 440 bytes) and, on an MBR disk, the gap
//! between the table and the first partition (GRUB's core.img), or on a
//! GPT disk the BIOS boot partition that holds core.img. A source with
//! boot code but neither (a loader in a partition's boot sector, which
//! the new filesystems do not keep) counts as having none.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::disk::TableType;
use super::layout::{Content, Layout};

/// The MBR's boot code, before the disk signature.
const CODE: usize = 440;

/// Copy the boot loader of `layout.boot_from` into `image` when the source
/// has one; whether it did.
pub fn copy(image: &Path, layout: &Layout, places: &[(u64, u64)]) -> Result<bool> {
    let Some(disk) = &layout.boot_from else {
        return Ok(false);
    };
    let source = Path::new("/dev").join(disk);
    let mut src = File::open(&source).with_context(|| format!("opening {}", source.display()))?;
    let mut head = vec![0u8; layout.first.min(1 << 24) as usize];
    src.read_exact(&mut head)
        .with_context(|| format!("reading the boot sectors of {}", source.display()))?;
    let raws: Vec<(&str, u64, u64)> = (layout.slots.iter().zip(places))
        .filter_map(|(s, (start, _))| match &s.content {
            Content::Raw { device, size, .. } => Some((device.as_str(), *start, *size)),
            Content::Fs(_) | Content::Extended => None,
        })
        .collect();
    let gap = head.get(512..).unwrap_or_default();
    let has_core = match layout.table {
        TableType::Msdos => gap.iter().any(|b| *b != 0),
        TableType::Gpt => !raws.is_empty(),
    };
    if !has_core || head[..CODE].iter().all(|b| *b == 0) {
        return Ok(false);
    }
    let mut out = OpenOptions::new()
        .write(true)
        .open(image)
        .with_context(|| format!("opening {}", image.display()))?;
    let write = |out: &mut File, at: u64, bytes: &[u8]| -> Result<()> {
        out.seek(SeekFrom::Start(at))?;
        out.write_all(bytes)
            .with_context(|| format!("writing the boot loader into {}", image.display()))
    };
    write(&mut out, 0, &head[..CODE])?;
    if layout.table == TableType::Msdos {
        write(&mut out, 512, gap)?;
    }
    for (device, start, size) in raws {
        let path = Path::new("/dev").join(device);
        let mut part = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        out.seek(SeekFrom::Start(start))?;
        let n = std::io::copy(&mut (&mut part).take(size), &mut out)
            .with_context(|| format!("copying {} into {}", path.display(), image.display()))?;
        anyhow::ensure!(n == size, "{} ended after {n} bytes", path.display());
    }
    Ok(true)
}
