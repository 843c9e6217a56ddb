//! Partition types as their tables name them, and the table of the types
//! shrinking keeps as they are.
//!
//! A kept partition that ends the disk is neither shrunk nor moved: the
//! filesystem before it is left as it is too (shrinking it would only
//! leave a hole, since the kept partition stays where it is), and the image
//! is only trimmed after it. Moving a Windows recovery partition closer to
//! C: is not done: Windows finds WinRE through `ReAgent.xml` and the BCD,
//! which name the partition by its offset on some versions, so a moved one
//! may silently stop booting into recovery.

use std::fmt;

/// A partition's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartType {
    /// An MBR system ID.
    Mbr(u8),
    /// A GPT partition type GUID, in its on-disk (mixed-endian) bytes.
    Gpt([u8; 16]),
}

impl fmt::Display for PartType {
    /// `0x27`, or the GUID as `sfdisk` and `sgdisk` print it
    /// (`DE94BBA4-06D1-4D40-A16A-BFD50179D6AC`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartType::Mbr(id) => write!(f, "0x{id:02x}"),
            PartType::Gpt(b) => {
                // The first three fields are little-endian on disk.
                let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
                for (i, &at) in order.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{:02X}", b[at])?;
                }
                Ok(())
            }
        }
    }
}

/// A kind of partition shrinking keeps as it is when it is the last one.
#[derive(Debug)]
pub struct KeptType {
    /// What it is, for the warning (`a Windows recovery partition`).
    pub what: &'static str,
    /// Its GPT type GUID, as [`PartType`] displays it.
    pub gpt: &'static str,
    /// Its MBR system ID.
    pub mbr: u8,
}

/// The partitions shrinking keeps as they are.
pub const KEPT: &[KeptType] = &[KeptType {
    what: "a Windows recovery partition",
    gpt: "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC",
    mbr: 0x27,
}];

impl KeptType {
    /// Whether a partition of type `ty` is one of these.
    pub fn matches(&self, ty: PartType) -> bool {
        match ty {
            PartType::Mbr(id) => id == self.mbr,
            PartType::Gpt(_) => ty.to_string() == self.gpt,
        }
    }

    /// The warning a shrink that kept it gives.
    pub fn warning(&self, saved: u64) -> String {
        format!(
            "the last partition is {}: it is kept as it is and the image is only trimmed after it ({saved} bytes saved)",
            self.what
        )
    }
}

/// GPT types of swap partitions that carry no signature a filesystem
/// probe finds (the BSDs' swap is raw): FreeBSD's and NetBSD's.
pub const BSD_SWAP: &[&str] = &[
    "516E7CB5-6ECF-11D6-8FF8-00022D09712B",
    "49F48D32-B10E-11DC-B99B-0019D1879648",
];

/// Whether a partition of type `ty` is a BSD swap partition.
pub fn is_bsd_swap(ty: PartType) -> bool {
    matches!(ty, PartType::Gpt(_)) && BSD_SWAP.contains(&ty.to_string().as_str())
}

/// The kept kind a partition of type `ty` is, if any.
pub fn kept(ty: PartType) -> Option<&'static KeptType> {
    KEPT.iter().find(|k| k.matches(ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DE94BBA4-06D1-4D40-A16A-BFD50179D6AC as a GPT entry stores it.
    const RECOVERY_ON_DISK: [u8; 16] = [
        0xa4, 0xbb, 0x94, 0xde, 0xd1, 0x06, 0x40, 0x4d, 0xa1, 0x6a, 0xbf, 0xd5, 0x01, 0x79, 0xd6,
        0xac,
    ];

    #[test]
    fn bsd_swap_types() {
        // 516E7CB5-6ECF-11D6-8FF8-00022D09712B on disk.
        let freebsd = [
            0xb5, 0x7c, 0x6e, 0x51, 0xcf, 0x6e, 0xd6, 0x11, 0x8f, 0xf8, 0x00, 0x02, 0x2d, 0x09,
            0x71, 0x2b,
        ];
        assert!(is_bsd_swap(PartType::Gpt(freebsd)));
        assert!(!is_bsd_swap(PartType::Gpt(RECOVERY_ON_DISK)));
        assert!(!is_bsd_swap(PartType::Mbr(0x82)));
    }

    #[test]
    fn gpt_types_display_as_sfdisk_prints_them() {
        let ty = PartType::Gpt(RECOVERY_ON_DISK);
        assert_eq!(ty.to_string(), "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC");
        assert_eq!(PartType::Mbr(0x27).to_string(), "0x27");
    }

    #[test]
    fn recovery_partitions_are_kept() {
        for ty in [PartType::Gpt(RECOVERY_ON_DISK), PartType::Mbr(0x27)] {
            let k = kept(ty).unwrap_or_else(|| panic!("{ty} is not kept"));
            assert_eq!(k.what, "a Windows recovery partition");
        }
    }

    #[test]
    fn other_partitions_are_shrunk() {
        // Basic data (C:), Linux filesystem, NTFS/exFAT, Linux, hidden NTFS.
        let basic_data = [
            0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26,
            0x99, 0xc7,
        ];
        assert_eq!(
            PartType::Gpt(basic_data).to_string(),
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
        );
        let mut byte_swapped = RECOVERY_ON_DISK;
        byte_swapped.swap(0, 3);
        for ty in [
            PartType::Gpt(basic_data),
            PartType::Gpt(byte_swapped),
            PartType::Mbr(0x07),
            PartType::Mbr(0x83),
            PartType::Mbr(0x17),
        ] {
            assert!(kept(ty).is_none(), "{ty} is kept");
        }
    }

    #[test]
    fn the_warning_names_the_partition_and_the_bytes_saved() {
        assert_eq!(
            KEPT[0].warning(1048576),
            "the last partition is a Windows recovery partition: it is kept as it is and the image is only trimmed after it (1048576 bytes saved)"
        );
    }
}
