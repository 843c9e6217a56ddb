//! Partition tables of a disk being shrunk: the pure part of shrinking.
//!
//! [`PartitionTable`] reads an MBR (with its chain of extended boot records,
//! through `mbrman`) or a GPT (through `gptman`) from any `Read + Seek`
//! device, finds the partition that ends last, removes or resizes it, and
//! writes the table back for a disk of a new, smaller length: on a GPT the
//! backup header and array move to the new last sectors, the protective
//! MBR's size follows, both CRCs are recomputed, and every entry keeps its
//! type GUID, unique GUID, name and attribute bits (the entries are edited
//! in place, never recreated). On an MBR an extended partition is fitted to
//! the logical partitions it still holds, and CHS addresses of the entries
//! that changed are recomputed.
//!
//! Nothing here knows about filesystems or the helper VM: the caller says
//! what to remove and where the last partition must end.

use std::io::{Read, Seek, SeekFrom, Write};

use gptman::GPT;
use mbrman::{CHS, MBR, MBRHeader, MBRPartitionEntry};

pub use super::partition_type::PartType;

/// One mebibyte: partition ends and image sizes are aligned to it.
pub const MIB: u64 = 1 << 20;

/// The MBR type of a GPT's protective partition.
const PROTECTIVE: u8 = 0xee;

/// Why a table cannot be worked on.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The disk holds something this module does not handle (no table, a
    /// hybrid MBR…); shrinking is skipped with a warning.
    #[error("{0}")]
    Unsupported(String),
    /// The requested change does not fit the table.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing the table failed.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn io_err<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> TableError {
    move |e| TableError::Io {
        what,
        source: Box::new(e),
    }
}

/// The partitioning scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Mbr,
    Gpt,
}

impl Scheme {
    /// libguestfs's name for it (`PARTITION_TABLE` metadata).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Mbr => "msdos",
            Scheme::Gpt => "gpt",
        }
    }
}

/// What a partition is in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A primary MBR partition or any GPT partition.
    Primary,
    /// An MBR extended partition (a container of logical partitions).
    Extended,
    /// An MBR logical partition (number 5 and up).
    Logical,
}

/// One used partition, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The partition number (`/dev/sdaN`).
    pub number: u32,
    /// Offset of the first byte.
    pub start: u64,
    /// Offset one past the last byte.
    pub end: u64,
    pub kind: PartKind,
    /// Its type in the table.
    pub ty: PartType,
}

impl Part {
    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.end - self.start
    }
}

/// A parsed partition table.
#[derive(Debug, Clone)]
pub enum PartitionTable {
    Mbr(MBR),
    /// The GPT and the protective MBR in front of it.
    Gpt(GPT, MBRHeader),
}

/// `x` rounded up to a multiple of `to`.
pub fn align_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

impl PartitionTable {
    /// Read the table of a disk: a GPT when the MBR protects one, else the
    /// MBR and its logical partitions.
    pub fn read<D: Read + Seek>(disk: &mut D) -> Result<PartitionTable, TableError> {
        let header = MBRHeader::read_from(disk).map_err(|e| {
            TableError::Unsupported(format!("the disk has no MBR or GPT partition table ({e})"))
        })?;
        let entries: Vec<&MBRPartitionEntry> = header
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.is_used())
            .collect();
        if !entries.iter().any(|p| p.sys == PROTECTIVE) {
            check::mbr(&header, disk)?;
            let mbr = MBR::read_from(disk, 512).map_err(io_err("reading the MBR"))?;
            return Ok(PartitionTable::Mbr(mbr));
        }
        if entries.len() > 1 {
            return Err(TableError::Unsupported(
                "the disk has a hybrid MBR (a GPT and MBR partitions side by side)".into(),
            ));
        }
        check::gpt_headers(disk)?;
        let gpt = GPT::find_from(disk).map_err(io_err("reading the GPT"))?;
        check::gpt_entries(&gpt, disk)?;
        Ok(PartitionTable::Gpt(gpt, header))
    }

    /// Which scheme the table uses.
    pub fn scheme(&self) -> Scheme {
        match self {
            PartitionTable::Mbr(_) => Scheme::Mbr,
            PartitionTable::Gpt(..) => Scheme::Gpt,
        }
    }

    /// The logical sector size.
    pub fn sector_size(&self) -> u64 {
        match self {
            PartitionTable::Mbr(m) => u64::from(m.sector_size),
            PartitionTable::Gpt(g, _) => g.sector_size,
        }
    }

    /// The used partitions, by number.
    pub fn partitions(&self) -> Vec<Part> {
        let ss = self.sector_size();
        match self {
            PartitionTable::Gpt(g, _) => g
                .iter()
                .filter(|(_, p)| p.is_used())
                .map(|(n, p)| Part {
                    number: n,
                    start: p.starting_lba * ss,
                    end: (p.ending_lba + 1) * ss,
                    kind: PartKind::Primary,
                    ty: PartType::Gpt(p.partition_type_guid),
                })
                .collect(),
            PartitionTable::Mbr(m) => m
                .iter()
                .filter(|(_, p)| p.is_used())
                .map(|(n, p)| Part {
                    number: n as u32,
                    start: u64::from(p.starting_lba) * ss,
                    end: (u64::from(p.starting_lba) + u64::from(p.sectors)) * ss,
                    kind: match (n, p.is_extended()) {
                        (5.., _) => PartKind::Logical,
                        (_, true) => PartKind::Extended,
                        _ => PartKind::Primary,
                    },
                    ty: PartType::Mbr(p.sys),
                })
                .collect(),
        }
    }

    /// Whether the table has logical partitions.
    fn has_logicals(&self) -> bool {
        matches!(self, PartitionTable::Mbr(m) if !m.logical_partitions.is_empty())
    }

    /// The partition that ends last on the disk. An extended partition is
    /// only a candidate when it holds no logical partition (the shrink then
    /// removes it); otherwise its last logical partition is.
    pub fn last(&self) -> Option<Part> {
        let logicals = self.has_logicals();
        self.partitions()
            .into_iter()
            .filter(|p| p.kind != PartKind::Extended || !logicals)
            .max_by_key(|p| (p.end, p.kind == PartKind::Extended))
    }

    /// Remove partition `number`. A logical partition must be the last one,
    /// an extended partition must be empty.
    pub fn remove(&mut self, number: u32) -> Result<(), TableError> {
        let logicals = self.has_logicals();
        match self {
            PartitionTable::Gpt(g, _) => g
                .remove(number)
                .map_err(|e| TableError::Invalid(format!("removing partition {number}: {e}"))),
            PartitionTable::Mbr(m) => {
                let n = number as usize;
                if n >= 5 {
                    if n != m.len() {
                        return Err(TableError::Invalid(format!(
                            "partition {number} is not the last logical partition"
                        )));
                    }
                    m.remove(n);
                    return Ok(());
                }
                let entry = m.get_mut(n).filter(|p| p.is_used()).ok_or_else(|| {
                    TableError::Invalid(format!("there is no partition {number}"))
                })?;
                if entry.is_extended() && logicals {
                    return Err(TableError::Invalid(format!(
                        "the extended partition {number} still holds logical partitions"
                    )));
                }
                *entry = MBRPartitionEntry::empty();
                Ok(())
            }
        }
    }

    /// Make partition `number` end at byte `end` (exclusive; a multiple of
    /// the sector size). Its start, type and every other field stay.
    pub fn resize(&mut self, number: u32, end: u64) -> Result<(), TableError> {
        let ss = self.sector_size();
        let part = self
            .partitions()
            .into_iter()
            .find(|p| p.number == number)
            .ok_or_else(|| TableError::Invalid(format!("there is no partition {number}")))?;
        if !end.is_multiple_of(ss) || end <= part.start || part.kind == PartKind::Extended {
            return Err(TableError::Invalid(format!(
                "partition {number} cannot end at byte {end}"
            )));
        }
        let sectors = (end - part.start) / ss;
        match self {
            PartitionTable::Gpt(g, _) => g[number].ending_lba = end / ss - 1,
            PartitionTable::Mbr(m) => {
                let sectors = u32::try_from(sectors)
                    .map_err(|_| TableError::Invalid("partition too large for an MBR".into()))?;
                let entry = &mut m[number as usize];
                let last = entry
                    .starting_lba
                    .checked_add(sectors - 1)
                    .ok_or_else(|| TableError::Invalid("partition too large for an MBR".into()))?;
                entry.sectors = sectors;
                entry.last_chs = chs(last);
            }
        }
        Ok(())
    }

    /// Bytes the table needs after the last partition: the GPT backup
    /// header and array.
    pub fn trailer(&self) -> u64 {
        match self {
            PartitionTable::Mbr(_) => 0,
            PartitionTable::Gpt(g, _) => (array_sectors(g) + 1) * g.sector_size,
        }
    }

    /// The smallest disk length that holds every partition and the table:
    /// the end of the last partition plus the GPT backup area, aligned to
    /// 1 MiB, and never more than `current`.
    pub fn fitted_len(&self, current: u64) -> u64 {
        // An extended partition holding logical ones is fitted to them
        // when written; an empty one counts.
        let logicals = self.has_logicals();
        let end = self
            .partitions()
            .iter()
            .filter(|p| p.kind != PartKind::Extended || !logicals)
            .map(|p| p.end)
            .max()
            .unwrap_or(0);
        let end = end.max(self.first_usable());
        align_up(end + self.trailer(), MIB).min(current)
    }

    fn first_usable(&self) -> u64 {
        match self {
            PartitionTable::Mbr(m) => u64::from(m.sector_size),
            PartitionTable::Gpt(g, _) => (g.header.first_usable_lba + 1) * g.sector_size,
        }
    }

    /// Write the table for a disk of `len` bytes (the device may still be
    /// longer: nothing past `len` is written or needed).
    pub fn write<D: Read + Write + Seek>(
        &mut self,
        disk: &mut D,
        len: u64,
    ) -> Result<(), TableError> {
        match self {
            PartitionTable::Mbr(m) => {
                fit_extended(m)?;
                m.write_into(disk).map_err(io_err("writing the MBR"))
            }
            PartitionTable::Gpt(g, pmbr) => write_gpt(g, pmbr, disk, len),
        }
    }
}

/// Sectors of one copy of the GPT partition array.
fn array_sectors(g: &GPT) -> u64 {
    let bytes = u64::from(g.header.number_of_partition_entries)
        * u64::from(g.header.size_of_partition_entry);
    bytes.div_ceil(g.sector_size)
}

/// A CHS address for `lba` in the 255-head, 63-sector geometry that fdisk
/// and parted use, or the "too far" marker (1023/254/63) past 8 GiB.
fn chs(lba: u32) -> CHS {
    CHS::from_lba_exact(lba, 1023, 255, 63).unwrap_or(CHS::new(1023, 254, 63))
}

/// Make the extended partition end where its last logical partition ends,
/// and every EBR link describe its logical partition's new extent.
fn fit_extended(m: &mut MBR) -> Result<(), TableError> {
    let Some(last_end) = m
        .logical_partitions
        .iter()
        .map(|l| l.partition.starting_lba + l.partition.sectors)
        .max()
    else {
        return Ok(());
    };
    // The link to the last logical partition (in the EBR before it) gives
    // that partition's extent; the other links have not changed.
    if let Some(l) = m.logical_partitions.iter_mut().skip(1).next_back() {
        l.ebr_sectors = Some(last_end - l.absolute_ebr_lba);
        l.ebr_last_chs = Some(chs(last_end - 1));
    }
    let (_, ext) = m
        .iter_mut()
        .find(|(n, p)| *n <= 4 && p.is_extended())
        .ok_or_else(|| TableError::Invalid("logical partitions without an extended one".into()))?;
    ext.sectors = last_end - ext.starting_lba;
    ext.last_chs = chs(last_end - 1);
    Ok(())
}

fn write_gpt<D: Read + Write + Seek>(
    g: &mut GPT,
    pmbr: &mut MBRHeader,
    disk: &mut D,
    len: u64,
) -> Result<(), TableError> {
    let ss = g.sector_size;
    let lbas = len / ss;
    let array = array_sectors(g);
    if !g.header.is_primary() {
        return Err(TableError::Unsupported(
            "the primary GPT header is damaged (only the backup is readable)".into(),
        ));
    }
    g.header.backup_lba = lbas - 1;
    g.header.last_usable_lba = lbas - 1 - array - 1;
    g.write_into(disk).map_err(io_err("writing the GPT"))?;
    // Only the protective entry's size changes: the boot code, the disk
    // signature and the boot flag (some BIOSes need it) stay as they were.
    let (_, entry) = pmbr
        .iter_mut()
        .find(|(_, p)| p.sys == PROTECTIVE)
        .ok_or_else(|| TableError::Invalid("the protective MBR entry is gone".into()))?;
    let sectors = u32::try_from(lbas - 1).unwrap_or(u32::MAX);
    entry.sectors = sectors;
    entry.last_chs = chs(sectors.saturating_add(entry.starting_lba - 1));
    pmbr.write_into(disk)
        .map_err(io_err("writing the protective MBR"))?;
    disk.seek(SeekFrom::Start(0))
        .map_err(io_err("seeking on the disk"))?;
    Ok(())
}

#[path = "partition_check.rs"]
mod check;

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
