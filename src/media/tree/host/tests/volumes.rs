//! Layouts of roots on md arrays, LVM volumes and MBR logical partitions:
//! one partition per filesystem, keeping its type, UUID and label.

use super::*;
use crate::media::tree::layout;

/// (number, sfdisk type, bootable, mount points) of each partition.
type Row = (u32, String, bool, Vec<String>);

fn rows(l: &Layout) -> Vec<Row> {
    let row = |s: &layout::Slot| {
        let points = match &s.content {
            Content::Fs(f) => (f.mounts.iter())
                .map(|(p, _)| p.display().to_string())
                .collect(),
            _ => Vec::new(),
        };
        (s.number, s.ty.clone(), s.bootable, points)
    };
    l.slots.iter().map(row).collect()
}

fn row(n: u32, ty: &str, boot: bool, points: &[&str]) -> Row {
    let points = points.iter().map(|p| p.to_string()).collect();
    (n, ty.to_owned(), boot, points)
}

fn fs_of(l: &Layout, n: u32) -> &layout::NewFs {
    l.filesystems().find(|(m, _)| *m == n).unwrap().1
}

#[test]
fn md_arrays_on_two_disks_become_partitions_of_a_gpt() {
    let rec = Rec::new(
        "1 0 9:0 / / rw - ext4 /dev/md0 rw
         2 1 9:1 / /boot rw - ext2 /dev/md1 rw",
    )
    .disk("sda", "8:0", "PTTYPE=dos PTUUID=aaaa0001")
    .part("sda", 1, "8:1", "TYPE=linux_raid_member")
    .part("sda", 2, "8:2", "TYPE=linux_raid_member")
    .disk("sdb", "8:16", "PTTYPE=dos")
    .part("sdb", 1, "8:17", "TYPE=linux_raid_member")
    .part("sdb", 2, "8:18", "TYPE=linux_raid_member")
    .virt("md0", "9:0", "md/level", "raid1", &["sda2", "sdb2"])
    .virt("md1", "9:1", "md/level", "raid1", &["sda1", "sdb1"])
    .id("md0", "TYPE=ext4 UUID=md-root LABEL=root")
    .id("md1", "TYPE=ext2 UUID=md-boot");
    let l = rec.plan().unwrap();
    assert_eq!(points(&l), ["/", "/boot"]);
    let new = Layout::of_host(&l, TableType::Gpt, FsType::Ext4);
    assert_eq!(new.table, TableType::Gpt, "two disks: the option's table");
    assert_eq!(new.label_id, None);
    let linux = layout::LINUX_GPT;
    assert_eq!(
        rows(&new),
        [
            row(1, linux, false, &["/"]),
            row(2, linux, false, &["/boot"])
        ]
    );
    let root = fs_of(&new, 1);
    assert_eq!(
        (root.fs, root.uuid.as_deref(), root.label.as_deref()),
        (FsType::Ext4, Some("md-root"), Some("root"))
    );
    assert!(root.fstab_uuid);
    assert_eq!(fs_of(&new, 2).fs, FsType::Ext2);
    assert_eq!((new.boot_from.as_deref(), new.first), (None, 1 << 20));
    let notes = new.notes.join("\n");
    assert!(notes.contains("/ (md0) becomes partition 1 of the image, and fstab lines that name it by a /dev path become UUID="), "{notes}");
    assert!(notes.contains("boot loader is not copied"), "{notes}");
    assert!(!notes.contains("not part of the root tree"), "{notes}");
    let mbr = Layout::of_host(&l, TableType::Msdos, FsType::Ext4);
    assert_eq!(rows(&mbr)[1], row(2, "83", false, &["/boot"]));
}

/// An MBR disk: `/boot` on sda1, an LVM PV on sda2 with `/`, `/home`,
/// `/var` and `/srv`, a trailing swap on sda3.
fn lvm() -> Rec {
    let mut rec = Rec::new(
        "1 0 253:0 / / rw - ext4 /dev/mapper/vg0-root rw
         2 1 8:1 / /boot rw - ext2 /dev/sda1 rw
         3 1 253:1 / /home rw - xfs /dev/mapper/vg0-home rw
         4 1 253:2 / /var rw - ext4 /dev/mapper/vg0-var rw
         5 1 253:3 / /srv rw - ext4 /dev/mapper/vg0-srv rw",
    )
    .disk("sda", "8:0", "PTTYPE=dos PTUUID=5eed0001")
    .part(
        "sda",
        1,
        "8:1",
        "TYPE=ext2 UUID=boot PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83 PART_ENTRY_FLAGS=0x80",
    )
    .part(
        "sda",
        2,
        "8:2",
        "TYPE=LVM2_member PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x8e",
    )
    .part(
        "sda",
        3,
        "8:3",
        "TYPE=swap PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x82",
    );
    for (i, lv) in ["root", "home", "var", "srv"].iter().enumerate() {
        let dm = format!("dm-{i}");
        rec = rec
            .virt(
                &dm,
                &format!("253:{i}"),
                "dm/name",
                &format!("vg0-{lv}"),
                &["sda2"],
            )
            .id(&dm, &format!("UUID=lv-{lv} LABEL={lv}"));
    }
    rec
}

#[test]
fn lvm_volumes_become_logical_partitions_when_primaries_run_out() {
    let l = lvm().plan().unwrap();
    assert_eq!(l.swap.as_ref().map(|s| s.number), Some(3));
    let new = Layout::of_host(&l, TableType::Gpt, FsType::Ext4);
    assert_eq!(new.table, TableType::Msdos, "one disk: its table");
    assert_eq!(new.label_id.as_deref(), Some("5eed0001"));
    assert_eq!(
        rows(&new),
        [
            row(1, "83", true, &["/boot"]),
            row(2, "5", false, &[]),
            row(5, "83", false, &["/"]),
            row(6, "83", false, &["/home"]),
            row(7, "83", false, &["/srv"]),
            row(8, "83", false, &["/var"]),
        ]
    );
    assert_eq!(new.slots[1].content, Content::Extended);
    let home = fs_of(&new, 6);
    assert_eq!(
        (home.fs, home.uuid.as_deref(), home.label.as_deref()),
        (FsType::Xfs, Some("lv-home"), Some("home"))
    );
    assert!(home.fstab_uuid && !fs_of(&new, 1).fstab_uuid);
    assert_eq!(new.swap_number(3), 9, "after the last partition");
    assert_eq!(new.boot_slot(), Some((1, "")));
    let notes = new.notes.join("\n");
    assert!(notes.contains("/srv (dm-3) becomes partition 7"), "{notes}");
    assert!(!notes.contains("partition 2 of sda"), "{notes}");
    const M: u64 = 1 << 20;
    let (places, size) = new.place(&[10 * M, 0, 20 * M, 30 * M, 40 * M, 50 * M]);
    assert_eq!(
        places[1],
        (11 * M, 4 * M + 140 * M),
        "the extended spans them"
    );
    assert_eq!(places[2], (12 * M, 20 * M), "a MiB on, for its EBR");
    assert_eq!(places[3], (33 * M, 30 * M));
    assert_eq!(places[5], (105 * M, 50 * M));
    assert_eq!(size, 156 * M);
    let text = new.lines().join("\n");
    assert!(text.contains("image partition 2: extended"), "{text}");
}

#[test]
fn lvm_volumes_fill_free_primaries() {
    let mut rec = lvm();
    rec.mountinfo = rec.mountinfo.lines().take(3).collect::<Vec<_>>().join("\n");
    let new = Layout::of_host(&rec.plan().unwrap(), TableType::Gpt, FsType::Ext4);
    let numbers: Vec<(u32, Vec<String>)> = rows(&new).into_iter().map(|r| (r.0, r.3)).collect();
    assert_eq!(
        numbers,
        [
            (1, vec!["/boot".to_owned()]),
            (2, vec!["/".to_owned()]),
            (3, vec!["/home".to_owned()])
        ]
    );
    assert_eq!(new.swap_number(3), 4, "its own number is taken");
}

/// Debian's MBR recipe with a separate /var and /home: `/` on sda1, an
/// extended sda2 holding `/var` (sda5), a swap (sda6) and `/home` (sda7).
fn logical() -> Rec {
    Rec::new(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw
         2 1 8:5 / /var rw - ext4 /dev/sda5 rw
         3 1 8:7 / /home rw - ext3 /dev/sda7 rw",
    )
    .disk("sda", "8:0", "PTTYPE=dos PTUUID=0dd50001")
    .part("sda", 1, "8:1", "TYPE=ext4 UUID=r LABEL=root PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83 PART_ENTRY_FLAGS=0x80")
    .part("sda", 2, "8:2", "PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x5")
    .part("sda", 5, "8:5", "TYPE=ext4 UUID=v PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83")
    .part("sda", 6, "8:6", "TYPE=swap PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x82")
    .part("sda", 7, "8:7", "TYPE=ext3 UUID=h LABEL=home PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83")
}

#[test]
fn mbr_logical_partitions_stay_logical() {
    let l = logical().plan().unwrap();
    assert_eq!(points(&l), ["/", "/home", "/var"]);
    assert_eq!(l.swap, None, "the swap is not the last partition");
    let new = Layout::of_host(&l, TableType::Gpt, FsType::Ext4);
    assert_eq!(
        rows(&new),
        [
            row(1, "83", true, &["/"]),
            row(2, "5", false, &[]),
            row(5, "83", false, &["/var"]),
            row(6, "83", false, &["/home"]),
        ]
    );
    assert_eq!(new.boot_from.as_deref(), Some("sda"), "GRUB is copied");
    assert_eq!(new.label_id.as_deref(), Some("0dd50001"));
    assert_eq!(new.first, 2048 * 512);
    assert!(!new.numbers_kept);
    let home = fs_of(&new, 6);
    assert_eq!(
        (
            home.fs,
            home.uuid.as_deref(),
            home.label.as_deref(),
            home.fstab_uuid
        ),
        (FsType::Ext3, Some("h"), Some("home"), false)
    );
    let notes = new.notes.join("\n");
    assert!(
        notes.contains("/home (sda7) becomes partition 6 of the image"),
        "{notes}"
    );
    assert!(
        notes.contains("partition 6 of sda (swap) is not part of the root tree"),
        "{notes}"
    );
    assert!(!notes.contains("partition 2 of sda"), "{notes}");
}

#[test]
fn a_logical_root_keeps_its_number_and_the_trailing_swap_its_own() {
    let rec = Rec::new(
        "1 0 8:5 / / rw - ext4 /dev/sda5 rw
         2 1 8:1 / /boot rw - ext4 /dev/sda1 rw",
    )
    .disk("sda", "8:0", "PTTYPE=dos")
    .part(
        "sda",
        1,
        "8:1",
        "TYPE=ext4 UUID=b PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83",
    )
    .part("sda", 3, "8:3", "PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0xf")
    .part(
        "sda",
        5,
        "8:5",
        "TYPE=ext4 UUID=r PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83",
    )
    .part(
        "sda",
        6,
        "8:6",
        "TYPE=swap PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x82",
    );
    let new = Layout::of_host(&rec.plan().unwrap(), TableType::Gpt, FsType::Ext4);
    assert_eq!(
        rows(&new),
        [
            row(1, "83", false, &["/boot"]),
            row(3, "5", false, &[]),
            row(5, "83", false, &["/"]),
        ]
    );
    assert!(new.numbers_kept);
    assert_eq!(new.swap_number(6), 6);
    assert_eq!(new.boot_slot(), Some((1, "")));
}
