//! Checks on a partition table from a disk nobody vouches for, before and
//! after `mbrman` and `gptman` read it: what those crates would panic on,
//! allocate without bound for, or hand over with sums that overflow is
//! refused as a damaged table (shrinking is then skipped with a warning).

use std::io::{Read, Seek, SeekFrom};

use gptman::GPT;
use mbrman::MBRHeader;

use super::TableError;

fn damaged(what: &str) -> impl Fn(String) -> TableError + '_ {
    move |why| TableError::Unsupported(format!("the {what} is damaged: {why}"))
}

/// The most partition entries a GPT may declare (the usual is 128).
const MAX_GPT_ENTRIES: u32 = 16384;

/// Check every GPT header `gptman` may read (the primary and the backup,
/// with 512- and 4096-byte sectors), whatever its checksum says: a header
/// with a valid checksum is easy to forge, and `gptman` allocates for as
/// many entries as the header declares.
pub(super) fn gpt_headers<D: Read + Seek>(disk: &mut D) -> Result<(), TableError> {
    let len = disk
        .seek(SeekFrom::End(0))
        .map_err(|e| damaged("GPT")(e.to_string()))?;
    for ss in [512u64, 4096] {
        for lba in [1, (len / ss).saturating_sub(1)] {
            let mut h = [0u8; 92];
            let read = disk
                .seek(SeekFrom::Start(lba * ss))
                .and_then(|_| disk.read_exact(&mut h));
            if read.is_err() || &h[..8] != b"EFI PART" {
                continue;
            }
            let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let u64_at = |i: usize| u64::from(u32_at(i)) | (u64::from(u32_at(i + 4)) << 32);
            let (array_lba, count, size) = (u64_at(72), u32_at(80), u32_at(84));
            let array_end = array_lba
                .checked_mul(ss)
                .and_then(|start| start.checked_add(u64::from(count) * u64::from(size)));
            let why = if count > MAX_GPT_ENTRIES {
                format!("it declares {count} partition entries")
            } else if !(128..=4096).contains(&size) || size % 8 != 0 {
                format!("its partition entries are {size} bytes")
            } else if array_end.is_none_or(|end| end > len) {
                "its partition array lies past the end of the disk".to_owned()
            } else {
                continue;
            };
            return Err(damaged("GPT")(why));
        }
    }
    Ok(())
}

/// Every used entry of a GPT read from a disk of `len` bytes must start
/// before it ends and end on the disk.
pub(super) fn gpt_entries<D: Seek>(gpt: &GPT, disk: &mut D) -> Result<(), TableError> {
    let len = disk
        .seek(SeekFrom::End(0))
        .map_err(|e| damaged("GPT")(e.to_string()))?;
    let sectors = len / gpt.sector_size;
    for (n, p) in gpt.iter().filter(|(_, p)| p.is_used()) {
        if p.starting_lba > p.ending_lba || p.ending_lba >= sectors {
            return Err(damaged("GPT")(format!(
                "partition {n} spans sectors {}..={} of {sectors}",
                p.starting_lba, p.ending_lba
            )));
        }
    }
    Ok(())
}

/// Refuse an MBR that `mbrman` would trip over (a panic, or sums that
/// overflow): a used entry starting at sector 0 (on the MBR itself), an
/// entry or a logical partition ending past 2^32 sectors.
pub(super) fn mbr<D: Read + Seek>(header: &MBRHeader, disk: &mut D) -> Result<(), TableError> {
    let damaged = damaged("MBR");
    for (n, p) in header.iter().filter(|(_, p)| p.is_used()) {
        if p.starting_lba == 0 {
            return Err(damaged(format!("partition {n} starts at sector 0")));
        }
        if p.starting_lba.checked_add(p.sectors).is_none() {
            return Err(damaged(format!("partition {n} ends past 2^32 sectors")));
        }
        if p.is_extended() {
            ebr_chain(p.starting_lba, disk)?;
        }
    }
    Ok(())
}

/// Walk the chain of extended boot records as `mbrman` does (512-byte
/// sectors), checking each sum it and `fit_extended` compute. A chain
/// that ends in something other than an EBR is left for `mbrman` to report.
fn ebr_chain<D: Read + Seek>(ext_start: u32, disk: &mut D) -> Result<(), TableError> {
    let too_far = || damaged("MBR")("a logical partition lies past 2^32 sectors".to_owned());
    let mut relative: u32 = 0;
    loop {
        let ebr = ext_start.checked_add(relative).ok_or_else(too_far)?;
        let mut sector = [0u8; 512];
        let read = disk
            .seek(SeekFrom::Start(u64::from(ebr) * 512))
            .and_then(|_| disk.read_exact(&mut sector));
        if read.is_err() || sector[510..] != [0x55, 0xaa] {
            return Ok(());
        }
        let field = |entry: usize, at: usize| {
            let i = 446 + 16 * entry + at;
            u32::from_le_bytes([sector[i], sector[i + 1], sector[i + 2], sector[i + 3]])
        };
        ebr.checked_add(field(0, 8))
            .and_then(|start| start.checked_add(field(0, 12)))
            .ok_or_else(too_far)?;
        let next = field(1, 8);
        if next == 0 || next <= relative {
            // The end, or a loop `mbrman` refuses.
            return Ok(());
        }
        relative = next;
    }
}
