//! A BSD disklabel inside an MBR slice, and the BSD `/etc/fstab` that
//! names its partitions: which helper-VM device each partition letter is,
//! so that a slice's `/var`, `/usr` or `/home` is mounted where its fstab
//! says.
//!
//! The helper VM's kernel shows a label's partitions as `/dev/sda5`… in
//! its own order (`parse_bsd` of Linux's `block/partitions/msdos.c`):
//! used entries only, in label order, leaving out the one that is the
//! whole slice and any that lies outside it. [`linux_parts`] follows that
//! order; the caller checks each device's size against it.

/// `d_magic` and `d_magic2` of `struct disklabel`.
const MAGIC: u32 = 0x8256_4557;
/// Where `d_npartitions` and the partition table are in the label.
const NPARTITIONS_AT: usize = 138;
const TABLE_AT: usize = 148;
const ENTRY_SIZE: usize = 16;
/// Linux reads at most this many entries (`BSD_MAXPARTITIONS`).
const MAX_PARTITIONS: usize = 16;
/// FreeBSD's MBR slice type: its offsets may be relative to the slice.
const FREEBSD_SLICE: i32 = 0xa5;

/// One partition of a disklabel, as the helper VM's kernel shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub letter: char,
    /// First sector, from the start of the disk.
    pub start: u64,
    /// Sectors.
    pub size: u64,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The partitions of the disklabel in `label` (the second sector of a
/// slice of MBR type `slice_type` starting at sector `slice_start`, of
/// `slice_size` sectors) that the kernel shows as devices, in the order
/// it numbers them; none when `label` holds no disklabel.
pub fn linux_parts(label: &[u8], slice_type: i32, slice_start: u64, slice_size: u64) -> Vec<Part> {
    if u32_at(label, 0) != Some(MAGIC) {
        return Vec::new();
    }
    let count = label
        .get(NPARTITIONS_AT..NPARTITIONS_AT + 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize)
        .min(MAX_PARTITIONS);
    let entry = |i: usize| {
        let at = TABLE_AT + ENTRY_SIZE * i;
        let (size, offset) = (u32_at(label, at)?, u32_at(label, at + 4)?);
        Some((u64::from(size), u64::from(offset), *label.get(at + 12)?))
    };
    // FreeBSD's offsets are relative to the slice when its `c` starts at 0.
    let relative = slice_type == FREEBSD_SLICE && entry(2).is_some_and(|(_, off, _)| off == 0);
    let slice_end = slice_start + slice_size;
    (0..count)
        .filter_map(|i| {
            let (size, offset, fstype) = entry(i)?;
            let start = if relative {
                offset + slice_start
            } else {
                offset
            };
            let whole = start == slice_start && size == slice_size;
            let inside = start >= slice_start && start + size <= slice_end;
            (fstype != 0 && !whole && inside).then(|| Part {
                letter: char::from(b'a' + i as u8),
                start,
                size,
            })
        })
        .collect()
}

/// A filesystem a BSD fstab mounts from a disklabel partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mountpoint: String,
    /// The MBR slice FreeBSD names (`ada0s2d`: 2); `None`: the root's.
    pub slice: Option<i32>,
    pub letter: char,
}

/// The UFS filesystems other than `/` that `fstab` mounts at boot from
/// disklabel partitions: FreeBSD's `/dev/ada0s1d`, NetBSD's `/dev/wd0e`,
/// OpenBSD's `/dev/sd0d` or `3eb7f9da28a6c1e9.d` (its disklabel UID).
/// Other devices (GPT names, labels, NFS) are not in a disklabel.
pub fn fstab_mounts(fstab: &str) -> Vec<Mount> {
    fstab
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, mp, fstype) = (f.first()?, f.get(1)?, f.get(2)?);
            let options = f.get(3).copied().unwrap_or_default();
            let wanted = matches!(*fstype, "ufs" | "ffs")
                && mp.starts_with('/')
                && *mp != "/"
                && !options.split(',').any(|o| o == "noauto");
            let (slice, letter) = wanted.then(|| device_letter(dev))??;
            Some(Mount {
                mountpoint: mp.trim_end_matches('/').to_owned(),
                slice,
                letter,
            })
        })
        .collect()
}

/// Why `m` cannot be mounted when the root `root` is not in an MBR slice:
/// Linux reads a disklabel only inside an MBR slice, so the partitions of
/// one inside a GPT partition (OpenBSD's layout on GPT) have no device.
pub fn unreachable(m: &Mount, root: &str) -> String {
    format!(
        "{}: partition {} of the disklabel inside {root} cannot be mounted (Linux reads disklabels only in MBR slices): its files are not prepared, scanned or listed",
        m.mountpoint, m.letter
    )
}

/// The slice (FreeBSD names only) and partition letter of a disklabel
/// device name.
fn device_letter(dev: &str) -> Option<(Option<i32>, char)> {
    let is_letter = |c: char| ('a'..='p').contains(&c);
    if let Some((duid, letter)) = dev.split_once('.') {
        let mut l = letter.chars();
        let (Some(c), None) = (l.next(), l.next()) else {
            return None;
        };
        let hex = duid.len() == 16 && duid.chars().all(|c| c.is_ascii_hexdigit());
        return (hex && is_letter(c)).then_some((None, c));
    }
    let name = dev.strip_prefix("/dev/")?;
    let letter = name.chars().last().filter(|&c| is_letter(c))?;
    let unit = &name[..name.len() - 1];
    let digits = unit.len() - unit.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let (before, number) = unit.split_at(unit.len() - digits);
    // `ada0s1`: slice 1 of disk ada0; `wd0`, `sd0`: a disk.
    let slice = before
        .strip_suffix('s')
        .filter(|d| d.ends_with(|c: char| c.is_ascii_digit()))
        .and_then(|_| number.parse().ok());
    Some((slice, letter))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label sector with `parts` as (letter index, size, offset, fstype).
    fn label(parts: &[(usize, u32, u32, u8)], count: u16) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[NPARTITIONS_AT..NPARTITIONS_AT + 2].copy_from_slice(&count.to_le_bytes());
        for &(i, size, offset, fstype) in parts {
            let at = TABLE_AT + ENTRY_SIZE * i;
            b[at..at + 4].copy_from_slice(&size.to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&offset.to_le_bytes());
            b[at + 12] = fstype;
        }
        b
    }

    #[test]
    fn a_partition_inside_a_gpt_partition_is_named_as_unreachable() {
        let fstab = "3eb7f9da28a6c1e9.a / ffs rw 1 1\n3eb7f9da28a6c1e9.e /var ffs rw,nodev 1 2\n";
        let mounts = fstab_mounts(fstab);
        assert_eq!(mounts.len(), 1);
        let line = unreachable(&mounts[0], "/dev/sda1");
        assert!(
            line.starts_with(
                "/var: partition e of the disklabel inside /dev/sda1 cannot be mounted"
            ),
            "{line}"
        );
        assert!(line.contains("not prepared"), "{line}");
    }

    #[test]
    fn freebsd_offsets_are_relative_and_unused_entries_have_no_device() {
        // a = /, b = swap, c = the slice (unused), d = /var.
        let l = label(
            &[
                (0, 100, 0, 7),
                (1, 20, 100, 1),
                (2, 150, 0, 0),
                (3, 30, 120, 7),
            ],
            8,
        );
        let parts = linux_parts(&l, 0xa5, 2048, 150);
        let got: Vec<(char, u64, u64)> =
            parts.iter().map(|p| (p.letter, p.start, p.size)).collect();
        assert_eq!(got, [('a', 2048, 100), ('b', 2148, 20), ('d', 2168, 30)]);
    }

    #[test]
    fn netbsd_offsets_are_absolute_and_strays_are_left_out() {
        // a, b; c = the slice as 4.2BSD (the whole parent: no device of
        // its own); d = the whole disk; e outside the slice.
        let l = label(
            &[
                (0, 100, 2048, 7),
                (1, 50, 2148, 1),
                (2, 150, 2048, 7),
                (3, 9000, 0, 7),
                (4, 10, 9000, 7),
            ],
            5,
        );
        let letters: Vec<char> = linux_parts(&l, 0xa9, 2048, 150)
            .iter()
            .map(|p| p.letter)
            .collect();
        assert_eq!(letters, ['a', 'b']);
        // d_npartitions limits the entries read; no magic, no label.
        let one = label(&[(0, 100, 2048, 7), (1, 50, 2148, 1)], 1);
        assert_eq!(linux_parts(&one, 0xa9, 2048, 150).len(), 1);
        assert!(linux_parts(&label(&[(0, 100, 2048, 7)], 0), 0xa9, 2048, 150).is_empty());
        assert!(linux_parts(&[0u8; 512], 0xa9, 2048, 150).is_empty());
        assert!(linux_parts(&[], 0xa9, 2048, 150).is_empty());
    }

    #[test]
    fn fstab_names_of_each_bsd() {
        let fstab = "\
# Device\tMountpoint\tFStype\tOptions\tDump\tPass#
/dev/ada0s1a\t/\tufs\trw\t1\t1
/dev/ada0s1b\tnone\tswap\tsw\t0\t0
/dev/ada0s1d\t/var\tufs\trw\t2\t2
/dev/ada0s2e\t/home/\tufs\trw\t2\t2
/dev/ada0s1f\t/mnt\tufs\trw,noauto\t0\t0
/dev/gpt/data\t/data\tufs\trw\t2\t2
/dev/ada0p3\t/usr\tufs\trw\t2\t2
proc\t/proc\tprocfs\trw\t0\t0
/dev/wd0e /usr ffs rw,log 1 2 # NetBSD
3eb7f9da28a6c1e9.d /tmp ffs rw,nodev,nosuid 1 2
/dev/sd0h /srv ffs rw 1 2
xyz.d /bad ffs rw 1 2
";
        let got: Vec<(String, Option<i32>, char)> = fstab_mounts(fstab)
            .into_iter()
            .map(|m| (m.mountpoint, m.slice, m.letter))
            .collect();
        let want = [
            ("/var", Some(1), 'd'),
            ("/home", Some(2), 'e'),
            ("/usr", None, 'e'),
            ("/tmp", None, 'd'),
            ("/srv", None, 'h'),
        ];
        let want: Vec<(String, Option<i32>, char)> = want
            .iter()
            .map(|(m, s, l)| (m.to_string(), *s, *l))
            .collect();
        assert_eq!(got, want);
    }
}
