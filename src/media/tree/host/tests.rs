//! The planner on recorded mount tables and `/sys` samples.

mod volumes;

use std::collections::BTreeMap;

use super::*;
use crate::media::tree::layout::Content;
use crate::media::tree::{FsType, Layout};

/// A recorded host: mountinfo, `/sys` files and links, blkid answers.
#[derive(Default)]
struct Rec {
    mountinfo: String,
    files: BTreeMap<String, String>,
    links: BTreeMap<String, String>,
    ids: BTreeMap<String, BTreeMap<String, String>>,
    nodes: BTreeMap<String, String>,
}

impl Rec {
    fn new(mountinfo: &str) -> Rec {
        let lines: Vec<&str> = mountinfo.lines().map(str::trim).collect();
        Rec {
            mountinfo: lines.join("\n"),
            ..Rec::default()
        }
    }

    fn id(mut self, name: &str, id: &str) -> Rec {
        let kv = id.split(' ').filter_map(|p| p.split_once('='));
        let map = kv.map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        self.ids.insert(name.to_owned(), map);
        self
    }

    fn dev(mut self, name: &str, devno: &str, path: &str) -> Rec {
        let link = format!("../../devices/{path}");
        self.links
            .insert(format!("dev/block/{devno}"), link.clone());
        self.links.insert(format!("class/block/{name}"), link);
        self.files
            .insert(format!("class/block/{name}/dev"), devno.to_owned());
        self
    }

    fn disk(self, name: &str, devno: &str, id: &str) -> Rec {
        self.dev(name, devno, &format!("pci0000:00/block/{name}"))
            .id(name, id)
    }

    fn part(mut self, disk: &str, n: u32, devno: &str, id: &str) -> Rec {
        let p = if disk.ends_with(|c: char| c.is_ascii_digit()) {
            "p"
        } else {
            ""
        };
        let name = format!("{disk}{p}{n}");
        self.files
            .insert(format!("class/block/{name}/partition"), n.to_string());
        self.files
            .insert(format!("class/block/{name}/size"), "1048576".into());
        let start = 2048 + (u64::from(n) - 1) * 1048576;
        self.files
            .insert(format!("class/block/{name}/start"), start.to_string());
        self.files
            .insert(format!("block/{disk}/{name}/dev"), devno.into());
        self.dev(&name, devno, &format!("pci0000:00/block/{disk}/{name}"))
            .id(&name, id)
    }

    fn virt(mut self, name: &str, devno: &str, key: &str, val: &str, over: &[&str]) -> Rec {
        self.files
            .insert(format!("class/block/{name}/{key}"), val.into());
        for s in over {
            self.links
                .insert(format!("class/block/{name}/slaves/{s}"), String::new());
        }
        self.dev(name, devno, &format!("virtual/block/{name}"))
    }

    fn node(mut self, node: &str, name: &str) -> Rec {
        self.nodes.insert(node.into(), name.into());
        self
    }

    fn plan(&self) -> Result<HostLayout> {
        plan(self, Path::new("/"))
    }
}

impl HostView for Rec {
    fn mountinfo(&self) -> std::io::Result<String> {
        Ok(self.mountinfo.clone())
    }
    fn sys(&self, path: &str) -> Option<String> {
        self.files.get(path).cloned()
    }
    fn sys_dir(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        let keys = self.files.keys().chain(self.links.keys());
        let mut out: Vec<String> = keys
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
    fn sys_link(&self, path: &str) -> Option<String> {
        self.links.get(path).cloned()
    }
    fn dev_name(&self, node: &str) -> Option<String> {
        self.nodes.get(node).cloned()
    }
    fn blkid(&self, name: &str) -> BTreeMap<String, String> {
        self.ids.get(name).cloned().unwrap_or_default()
    }
}

fn points(l: &HostLayout) -> Vec<&str> {
    l.filesystems
        .iter()
        .map(|f| f.mount_point.to_str().unwrap())
        .collect()
}

fn skip_of<'a>(l: &'a HostLayout, p: &str) -> &'a Skip {
    &l.skipped.iter().find(|(q, _)| q == Path::new(p)).unwrap().1
}

const PSEUDO: &str = "
    22 1 0:21 / /proc rw,nosuid - proc proc rw
    23 1 0:22 / /sys rw,nosuid - sysfs sysfs rw
    24 1 0:5 / /dev rw,nosuid - devtmpfs udev rw
    25 24 0:23 / /dev/pts rw - devpts devpts rw
    26 1 0:24 / /run rw - tmpfs tmpfs rw
    27 23 0:25 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw";

#[test]
fn sd_partitions_with_bind_nfs_and_other_disk() {
    let mi = format!(
        "1 0 8:2 / / rw - ext4 /dev/sda2 rw
         {PSEUDO}
         30 1 8:1 / /boot/efi rw - vfat /dev/sda1 rw
         31 1 8:17 / /home rw - ext4 /dev/sdb1 rw
         32 1 0:40 / /mnt/nfs rw - nfs4 srv:/export rw
         33 1 8:2 /var/www /srv/www rw - ext4 /dev/sda2 rw
         34 32 0:41 / /mnt/nfs/inner rw - nfs4 srv:/inner rw"
    );
    let rec = Rec::new(&mi)
        .disk("sda", "8:0", "PTTYPE=gpt")
        .part("sda", 1, "8:1", "TYPE=vfat UUID=ABCD-1234 LABEL=EFI")
        .part(
            "sda",
            2,
            "8:2",
            "TYPE=ext4 UUID=1111 LABEL=root PART_ENTRY_SCHEME=gpt PART_ENTRY_UUID=aaaa-bb",
        )
        .part("sda", 3, "8:3", "TYPE=swap UUID=2222")
        .disk("sdb", "8:16", "PTTYPE=dos")
        .part("sdb", 1, "8:17", "TYPE=ext4 UUID=3333");
    let l = rec.plan().unwrap();
    assert_eq!(points(&l), ["/", "/boot/efi"]);
    assert_eq!(l.disks, ["sda"]);
    assert_eq!(l.table, Some(TableType::Gpt));
    let root = l.root_fs();
    assert_eq!(
        (root.uuid.as_deref(), root.label.as_deref()),
        (Some("1111"), Some("root"))
    );
    assert_eq!(
        root.storage,
        Storage::Partition {
            disk: "sda".into(),
            number: 2
        }
    );
    assert_eq!(root.part_uuid.as_deref(), Some("aaaa-bb"));
    assert_eq!(l.filesystems[1].part_uuid, None);
    assert_eq!(l.filesystems[1].fs_type, "vfat");
    assert_eq!(
        l.swap,
        Some(Swap {
            device: "sda3".into(),
            number: 3,
            bytes: 512 << 20
        })
    );
    assert_eq!(skip_of(&l, "/home"), &Skip::OtherDisk("sdb1".into()));
    assert_eq!(skip_of(&l, "/mnt/nfs"), &Skip::Network("nfs4".into()));
    assert_eq!(
        skip_of(&l, "/mnt/nfs/inner"),
        &Skip::Inside("/mnt/nfs".into())
    );
    assert_eq!(skip_of(&l, "/srv/www"), &Skip::Bind("/".into()));
    assert_eq!(skip_of(&l, "/proc"), &Skip::Pseudo("proc".into()));
    assert_eq!(skip_of(&l, "/run"), &Skip::Pseudo("tmpfs".into()));
    let text = l.lines().join("\n");
    assert!(
        text.contains("/ ext4 on sda2 (partition 2 of sda), UUID=1111, LABEL=root"),
        "{text}"
    );
    assert!(
        text.contains("left out: /home (on sdb1, not the root's disk)"),
        "{text}"
    );
    assert!(!text.contains("/proc"), "{text}");
}

#[test]
fn nvme_and_mmcblk_partitions() {
    let rec = Rec::new(
        "1 0 259:2 / / rw - xfs /dev/nvme0n1p2 rw\n2 1 259:1 / /boot rw - ext4 /dev/nvme0n1p1 rw",
    )
    .disk("nvme0n1", "259:0", "PTTYPE=gpt")
    .part("nvme0n1", 1, "259:1", "TYPE=ext4 UUID=b")
    .part("nvme0n1", 2, "259:2", "TYPE=xfs UUID=r");
    let l = rec.plan().unwrap();
    assert_eq!(points(&l), ["/", "/boot"]);
    assert_eq!(l.root_fs().device, "nvme0n1p2");
    assert_eq!(l.swap, None, "the last partition is no swap");
    let new = Layout::of_host(&l, TableType::Gpt, FsType::Ext4);
    assert_eq!(new.notes, Vec::<String>::new());
    let fs: Vec<(u32, FsType)> = new.filesystems().map(|(n, f)| (n, f.fs)).collect();
    assert_eq!(fs, [(1, FsType::Ext4), (2, FsType::Xfs)]);
    let rec = Rec::new("1 0 179:2 / / rw - ext4 /dev/mmcblk0p2 rw\n2 1 179:1 / /boot/firmware rw - vfat /dev/mmcblk0p1 rw")
        .disk("mmcblk0", "179:0", "PTTYPE=dos")
        .part("mmcblk0", 1, "179:1", "TYPE=vfat")
        .part("mmcblk0", 2, "179:2", "TYPE=ext4 UUID=m LABEL=rootfs");
    let l = rec.plan().unwrap();
    assert_eq!(points(&l), ["/", "/boot/firmware"]);
    assert_eq!(l.table, Some(TableType::Msdos));
    assert_eq!(l.disks, ["mmcblk0"]);
}

#[test]
fn whole_disk_root() {
    let rec = Rec::new(&format!("1 0 254:0 / / rw - ext4 /dev/vda rw\n{PSEUDO}")).disk(
        "vda",
        "254:0",
        "TYPE=ext4 UUID=w LABEL=cloudimg",
    );
    let l = rec.plan().unwrap();
    assert_eq!(l.root_fs().storage, Storage::WholeDisk);
    assert_eq!(l.table, None);
    assert_eq!(l.root_fs().label.as_deref(), Some("cloudimg"));
    assert!(l.lines()[0].contains("vda: no partition table"));
    let new = Layout::of_host(&l, TableType::Msdos, FsType::Ext4);
    assert_eq!(new.table, TableType::Msdos);
    assert_eq!(new.swap_number(3), 2);
    let notes = new.notes.join("\n");
    assert!(
        notes.contains("no partition table: the image gets an MBR one"),
        "{notes}"
    );
    assert!(!notes.contains("one ext4 filesystem"), "{notes}");
}

#[test]
fn md_raid_root() {
    let rec = Rec::new("1 0 9:0 / / rw - ext4 /dev/md0 rw\n2 1 8:1 / /boot rw - ext4 /dev/sda1 rw\n3 1 8:33 / /data rw - ext4 /dev/sdc1 rw")
        .disk("sda", "8:0", "PTTYPE=dos")
        .part("sda", 1, "8:1", "TYPE=ext4")
        .part("sda", 2, "8:2", "TYPE=linux_raid_member")
        .disk("sdb", "8:16", "PTTYPE=dos")
        .part("sdb", 2, "8:18", "TYPE=linux_raid_member")
        .disk("sdc", "8:32", "PTTYPE=gpt")
        .part("sdc", 1, "8:33", "TYPE=ext4")
        .virt("md0", "9:0", "md/level", "raid1", &["sda2", "sdb2"])
        .id("md0", "TYPE=ext4 UUID=md");
    let l = rec.plan().unwrap();
    assert_eq!(l.disks, ["sda", "sdb"]);
    assert_eq!(points(&l), ["/", "/boot"]);
    let md = Storage::Md {
        level: "raid1".into(),
        members: vec!["sda2".into(), "sdb2".into()],
    };
    assert_eq!(l.root_fs().storage, md);
    assert_eq!(l.swap, None, "two disks: no one trailing swap");
    assert_eq!(skip_of(&l, "/data"), &Skip::OtherDisk("sdc1".into()));
}

#[test]
fn lvm_root() {
    let rec = Rec::new("1 0 253:0 / / rw - ext4 /dev/mapper/vg0-root rw\n2 1 8:1 / /boot rw - ext2 /dev/sda1 rw\n3 1 253:1 / /home rw - ext4 /dev/mapper/vg0-home rw")
        .disk("sda", "8:0", "PTTYPE=dos")
        .part("sda", 1, "8:1", "TYPE=ext2 UUID=boot")
        .part("sda", 2, "8:2", "TYPE=LVM2_member")
        .virt("dm-0", "253:0", "dm/name", "vg0-root", &["sda2"])
        .virt("dm-1", "253:1", "dm/name", "vg0-home", &["sda2"])
        .id("dm-0", "TYPE=ext4 UUID=lvroot");
    let l = rec.plan().unwrap();
    assert_eq!(points(&l), ["/", "/boot", "/home"]);
    let lv = Storage::Mapper {
        name: "vg0-root".into(),
        over: vec!["sda2".into()],
    };
    assert_eq!(l.root_fs().storage, lv);
    assert_eq!(l.root_fs().uuid.as_deref(), Some("lvroot"));
    assert_eq!(l.table, Some(TableType::Msdos));
}

#[test]
fn btrfs_subvolumes() {
    let rec = Rec::new("1 0 0:30 /@ / rw - btrfs /dev/sda2 rw,subvol=/@\n2 1 0:30 /@home /home rw - btrfs /dev/sda2 rw,subvol=/@home\n3 1 0:30 /@ /mnt/again rw - btrfs /dev/sda2 rw")
        .disk("sda", "8:0", "PTTYPE=gpt")
        .part("sda", 1, "8:1", "TYPE=vfat")
        .part("sda", 2, "8:2", "TYPE=btrfs UUID=bt")
        .node("/dev/sda2", "sda2");
    let l = rec.plan().unwrap();
    assert_eq!(points(&l), ["/", "/home"]);
    assert_eq!(l.root_fs().subvol.as_deref(), Some("/@"));
    assert_eq!(l.filesystems[1].subvol.as_deref(), Some("/@home"));
    assert_eq!(skip_of(&l, "/mnt/again"), &Skip::Bind("/".into()));
}

#[test]
fn container_and_network_roots_are_refused() {
    let overlay = Rec::new("1 0 0:50 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u");
    let e = format!("{:#}", overlay.plan().unwrap_err());
    assert!(
        e.contains("overlay filesystem (a container's root?)"),
        "{e}"
    );
    let nfs = Rec::new("1 0 0:51 / / rw - nfs4 srv:/root rw");
    let e = format!("{:#}", nfs.plan().unwrap_err());
    assert!(e.contains("on the network (nfs4)"), "{e}");
    let none = Rec::new("2 1 0:21 / /proc rw - proc proc rw");
    assert!(none.plan().is_err());
}

#[test]
fn a_root_below_slash() {
    let rec = Rec::new("1 0 254:0 / / rw - ext4 /dev/vda rw\n2 1 7:0 / /mnt/sys rw - ext4 /dev/loop0 rw\n3 2 0:21 / /mnt/sys/proc rw - proc proc rw\n4 2 7:0 / /mnt/sys/mnt rw - ext4 /dev/loop0 rw")
        .disk("vda", "254:0", "TYPE=ext4")
        .disk("loop0", "7:0", "TYPE=ext4 UUID=lp LABEL=fx");
    let l = plan(&rec, Path::new("/mnt/sys")).unwrap();
    assert_eq!(points(&l), ["/"]);
    assert_eq!(l.root, Path::new("/mnt/sys"));
    assert_eq!(l.root_fs().uuid.as_deref(), Some("lp"));
    assert_eq!(skip_of(&l, "/proc"), &Skip::Pseudo("proc".into()));
    assert_eq!(skip_of(&l, "/mnt"), &Skip::Bind("/".into()));
}

const MSDOS: &str = "
    1 0 8:2 / / rw - xfs /dev/sda2 rw
    2 1 8:1 / /boot rw - ext4 /dev/sda1 rw
    3 1 8:3 / /home rw - ext4 /dev/sda3 rw";

#[test]
fn msdos_partitions_become_partitions_of_the_image() {
    let rec = Rec::new(MSDOS)
        .disk("sda", "8:0", "PTTYPE=dos PTUUID=abcd1234")
        .part("sda", 1, "8:1", "TYPE=ext4 UUID=b LABEL=boot PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83 PART_ENTRY_FLAGS=0x80")
        .part("sda", 2, "8:2", "TYPE=xfs UUID=r PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83")
        .part("sda", 3, "8:3", "TYPE=ext4 UUID=h PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x83")
        .part("sda", 4, "8:4", "TYPE=swap PART_ENTRY_SCHEME=dos PART_ENTRY_TYPE=0x82");
    let l = rec.plan().unwrap();
    assert_eq!(l.partitions.len(), 4);
    assert_eq!(l.swap.as_ref().map(|s| s.number), Some(4));
    let new = Layout::of_host(&l, TableType::Gpt, FsType::Ext4);
    assert_eq!(new.notes, Vec::<String>::new());
    assert_eq!(new.swap_number(4), 4);
    assert_eq!(new.table, TableType::Msdos);
    assert_eq!(new.label_id.as_deref(), Some("abcd1234"));
    assert_eq!(new.first, 1 << 20);
    assert_eq!(new.boot_from.as_deref(), Some("sda"));
    let slots: Vec<(u32, &str, bool)> = (new.slots.iter())
        .map(|s| (s.number, s.ty.as_str(), s.bootable))
        .collect();
    assert_eq!(slots, [(1, "83", true), (2, "83", false), (3, "83", false)]);
    let fs: Vec<(u32, FsType, Option<&str>, Option<&str>)> = (new.filesystems())
        .map(|(n, f)| (n, f.fs, f.uuid.as_deref(), f.label.as_deref()))
        .collect();
    assert_eq!(
        fs,
        [
            (1, FsType::Ext4, Some("b"), Some("boot")),
            (2, FsType::Xfs, Some("r"), None),
            (3, FsType::Ext4, Some("h"), None)
        ]
    );
    assert_eq!(new.boot_slot(), Some((1, "")));
    const M: u64 = 1 << 20;
    let (places, size) = new.place(&[100 * M + 5, 300 * M, 64 * M]);
    assert_eq!(
        places,
        [(M, 100 * M + 5), (102 * M, 300 * M), (402 * M, 64 * M)]
    );
    assert_eq!(size, 467 * M);
    let text = new.lines().join("\n");
    assert!(text.contains("image partition 2: xfs /"), "{text}");
}

#[test]
fn gpt_bios_boot_esp_and_btrfs_subvolumes() {
    let rec = Rec::new("1 0 0:30 /@ / rw - btrfs /dev/sda3 rw,subvol=/@
        2 1 0:30 /@home /home rw - btrfs /dev/sda3 rw,subvol=/@home
        3 1 8:2 / /boot/efi rw - vfat /dev/sda2 rw")
        .disk("sda", "8:0", "PTTYPE=gpt PTUUID=D1SK")
        .part("sda", 1, "8:1", "PART_ENTRY_SCHEME=gpt PART_ENTRY_TYPE=21686148-6449-6E6F-744E-656564454649 PART_ENTRY_UUID=p1")
        .part("sda", 2, "8:2", "TYPE=vfat UUID=ABCD-1234 LABEL=EFI PART_ENTRY_SCHEME=gpt PART_ENTRY_TYPE=c12a7328-f81f-11d2-ba4b-00a0c93ec93b PART_ENTRY_UUID=p2 PART_ENTRY_NAME=esp")
        .part("sda", 3, "8:3", "TYPE=btrfs UUID=bt PART_ENTRY_SCHEME=gpt PART_ENTRY_TYPE=0fc63daf-8483-4772-8e79-3d69d8477de4 PART_ENTRY_UUID=p3 PART_ENTRY_FLAGS=0x4")
        .part("sda", 4, "8:4", "TYPE=ntfs PART_ENTRY_SCHEME=gpt PART_ENTRY_TYPE=ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")
        .node("/dev/sda3", "sda3");
    let l = rec.plan().unwrap();
    let new = Layout::of_host(&l, TableType::Msdos, FsType::Ext4);
    assert_eq!(new.table, TableType::Gpt);
    let numbers: Vec<u32> = new.slots.iter().map(|s| s.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(
        new.slots[0].content,
        Content::Raw {
            device: "sda1".into(),
            start: 2048 * 512,
            size: 512 << 20
        }
    );
    assert_eq!(new.slots[1].name.as_deref(), Some("esp"));
    assert_eq!(new.slots[1].part_uuid.as_deref(), Some("p2"));
    assert!(new.slots[2].bootable, "LegacyBIOSBootable is kept");
    let fs: Vec<(u32, FsType)> = new.filesystems().map(|(n, f)| (n, f.fs)).collect();
    assert_eq!(fs, [(2, FsType::Vfat), (3, FsType::Btrfs)]);
    let Content::Fs(root) = &new.slots[2].content else {
        panic!("no filesystem")
    };
    let mounts: Vec<(&str, Option<&str>)> = (root.mounts.iter())
        .map(|(p, v)| (p.to_str().unwrap(), v.as_deref()))
        .collect();
    assert_eq!(mounts, [("/", Some("/@")), ("/home", Some("/@home"))]);
    assert_eq!(new.boot_slot(), Some((3, "/boot")));
    let notes = new.notes.join("\n");
    assert!(
        notes.contains("partition 4 of sda (ntfs) is not part of the root tree"),
        "{notes}"
    );
    const M: u64 = 1 << 20;
    let (places, _) = new.place(&[512 * M, 128 * M, 256 * M]);
    assert_eq!(
        places[0].0, M,
        "the BIOS boot partition stays where GRUB looks"
    );
    assert_eq!(places[1].0, 513 * M);
}
