//! Just enough of NTFS's on-disk format to read the volume's dirty flag:
//! the boot sector locates the MFT, MFT record 3 is `$Volume`, and its
//! `$VOLUME_INFORMATION` attribute holds the flags.

use anyhow::{Context, Result, bail, ensure};

/// The OEM id of an NTFS boot sector (offset 3).
pub const NTFS_OEM_ID: &[u8; 8] = b"NTFS    ";
/// The OEM id BitLocker writes over an encrypted volume's boot sector.
pub const BITLOCKER_OEM_ID: &[u8; 8] = b"-FVE-FS-";

/// `$VOLUME_INFORMATION` flag: the volume needs a check (chkdsk).
const VOLUME_IS_DIRTY: u16 = 0x0001;
/// The attribute type of `$VOLUME_INFORMATION`.
const VOLUME_INFORMATION: u32 = 0x70;
/// The end marker of an MFT record's attribute list.
const END: u32 = 0xFFFF_FFFF;

/// The OEM id at offset 3 of a boot sector.
pub fn oem_id(boot: &[u8]) -> Option<&[u8]> {
    boot.get(3..11)
}

/// Where `$Volume`'s MFT record is, from the boot sector: (byte offset in
/// the volume, record size, sector size).
pub fn volume_record(boot: &[u8]) -> Result<(u64, usize, usize)> {
    ensure!(
        boot.len() >= 512 && oem_id(boot) == Some(NTFS_OEM_ID),
        "not an NTFS boot sector"
    );
    let u16_at = |o: usize| u16::from_le_bytes([boot[o], boot[o + 1]]);
    let sector = usize::from(u16_at(11));
    let cluster = sector * usize::from(boot[13]);
    let mft_lcn = u64::from_le_bytes(boot[0x30..0x38].try_into()?);
    let per_record = boot[0x40] as i8;
    let record = if per_record > 0 {
        usize::try_from(per_record)? * cluster
    } else {
        1usize << per_record.unsigned_abs()
    };
    ensure!(
        sector >= 256 && cluster > 0 && record >= sector && record <= 65536,
        "an NTFS boot sector with impossible geometry"
    );
    let offset = mft_lcn
        .checked_mul(cluster as u64)
        .and_then(|o| o.checked_add(3 * record as u64))
        .context("an NTFS boot sector with an MFT out of range")?;
    Ok((offset, record, sector))
}

/// Whether `$Volume`'s MFT record says the volume is dirty.
pub fn is_dirty(record: &[u8], sector: usize) -> Result<bool> {
    let mut rec = record.to_vec();
    ensure!(rec.get(..4) == Some(b"FILE"), "no MFT record for $Volume");
    undo_fixups(&mut rec, sector)?;
    let u16_at = |r: &[u8], o: usize| -> Result<u16> {
        let b = r.get(o..o + 2).context("a truncated MFT record")?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |r: &[u8], o: usize| -> Result<u32> {
        let b = r.get(o..o + 4).context("a truncated MFT record")?;
        Ok(u32::from_le_bytes(b.try_into()?))
    };
    let mut off = usize::from(u16_at(&rec, 0x14)?);
    loop {
        let kind = u32_at(&rec, off)?;
        if kind == END {
            bail!("$Volume has no volume information");
        }
        let len = usize::try_from(u32_at(&rec, off + 4)?)?;
        ensure!(len >= 24, "a malformed attribute in $Volume");
        if kind == VOLUME_INFORMATION {
            let value = off + usize::from(u16_at(&rec, off + 0x14)?);
            return Ok(u16_at(&rec, value + 10)? & VOLUME_IS_DIRTY != 0);
        }
        off += len;
    }
}

/// Put back the bytes the update sequence array replaced at the end of
/// each sector of a record.
fn undo_fixups(rec: &mut [u8], sector: usize) -> Result<()> {
    let usa = usize::from(u16::from_le_bytes([rec[4], rec[5]]));
    let count = usize::from(u16::from_le_bytes([rec[6], rec[7]]));
    ensure!(
        count >= 1 && usa + 2 * count <= rec.len() && (count - 1) * sector <= rec.len(),
        "a malformed MFT record"
    );
    let usn = [rec[usa], rec[usa + 1]];
    for i in 1..count {
        let end = i * sector - 2;
        ensure!(rec[end..end + 2] == usn, "a torn MFT record");
        rec[end] = rec[usa + 2 * i];
        rec[end + 1] = rec[usa + 2 * i + 1];
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A boot sector: 512-byte sectors, 8 per cluster, MFT at cluster 4,
    /// 1 KiB records.
    pub fn boot_sector(oem: &[u8; 8]) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[3..11].copy_from_slice(oem);
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 8;
        b[0x30..0x38].copy_from_slice(&4u64.to_le_bytes());
        b[0x40] = (-10i8) as u8;
        b
    }

    /// `$Volume`'s record with the given volume flags, fixups applied.
    pub fn volume(flags: u16) -> Vec<u8> {
        let mut r = vec![0u8; 1024];
        r[..4].copy_from_slice(b"FILE");
        r[4..6].copy_from_slice(&0x30u16.to_le_bytes());
        r[6..8].copy_from_slice(&3u16.to_le_bytes());
        r[0x14..0x16].copy_from_slice(&0x38u16.to_le_bytes());
        // a $STANDARD_INFORMATION-like attribute, then $VOLUME_INFORMATION
        r[0x38..0x3c].copy_from_slice(&0x10u32.to_le_bytes());
        r[0x3c..0x40].copy_from_slice(&0x60u32.to_le_bytes());
        let vi = 0x38 + 0x60;
        r[vi..vi + 4].copy_from_slice(&VOLUME_INFORMATION.to_le_bytes());
        r[vi + 4..vi + 8].copy_from_slice(&0x28u32.to_le_bytes());
        r[vi + 0x14..vi + 0x16].copy_from_slice(&0x18u16.to_le_bytes());
        r[vi + 0x18 + 10..vi + 0x18 + 12].copy_from_slice(&flags.to_le_bytes());
        r[vi + 0x28..vi + 0x2c].copy_from_slice(&END.to_le_bytes());
        for i in 1..3 {
            let end = i * 512 - 2;
            r[0x30 + 2 * i] = r[end];
            r[0x31 + 2 * i] = r[end + 1];
            r[end..end + 2].copy_from_slice(&[0x07, 0x00]);
        }
        r[0x30..0x32].copy_from_slice(&[0x07, 0x00]);
        r
    }

    #[test]
    fn the_volume_record_is_found_from_the_boot_sector() {
        let (offset, size, sector) = volume_record(&boot_sector(NTFS_OEM_ID)).unwrap();
        assert_eq!((offset, size, sector), (4 * 4096 + 3 * 1024, 1024, 512));
        assert!(volume_record(&boot_sector(BITLOCKER_OEM_ID)).is_err());
        let mut odd = boot_sector(NTFS_OEM_ID);
        odd[13] = 0;
        assert!(volume_record(&odd).is_err());
    }

    #[test]
    fn dirty_flag() {
        assert!(!is_dirty(&volume(0), 512).unwrap());
        assert!(is_dirty(&volume(0x0001), 512).unwrap());
        assert!(!is_dirty(&volume(0x0080), 512).unwrap());
        let mut torn = volume(1);
        torn[510] = 0x55;
        assert!(is_dirty(&torn, 512).is_err());
        assert!(is_dirty(&[0u8; 1024], 512).is_err());
    }
}
