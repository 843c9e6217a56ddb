//! Bundling a running host's `/` without bundling this machine: in a
//! private mount namespace, a partitioned loop disk (MBR: p1 ext4 `/boot`,
//! p2 ext4 `/` holding the Debian fixture's tree, p3 XFS `/home`, p4 an
//! extended partition holding p5, a logical ext4 `/var`, and p6 a trailing
//! swap; a byte pattern as boot code and in the boot gap) is
//! mounted with `/proc`, `/sys`, `/dev`, a tmpfs `/run` and a bind mount,
//! and `snf-mkimage /` plans and copies it as the host's root
//! (`SNF_HOST_ROOT`). The image must keep the partitions, their numbers,
//! types, filesystems, UUIDs and labels, the boot code and gap, and
//! fstab. The namespace takes every mount with it when it ends; its script
//! and a guard detach the loop device.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const UUID: &str = "6c0bb2c6-8d0a-4a8e-9a3a-2f1d5e7c9b10";
const LABEL: &str = "hostroot";
const BOOT_UUID: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
const HOME_UUID: &str = "9d8c7b6a-5f4e-4d3c-8b2a-19f0e1d2c3b4";
const VAR_UUID: &str = "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7";
const MIB: u64 = 1 << 20;
/// Partition starts and sizes in MiB: /boot, /, /home, the extended
/// partition, /var (logical), swap (logical).
const PARTS: [(u64, u64); 6] = [
    (1, 128),
    (129, 600),
    (729, 320),
    (1049, 76),
    (1050, 56),
    (1107, 16),
];

/// Loop devices on a file, detached when dropped (the namespace's end
/// already detaches them; this is for a run that went wrong).
pub struct Loops(pub PathBuf);

impl Drop for Loops {
    fn drop(&mut self) {
        let out = Command::new("losetup").arg("-j").arg(&self.0).output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        for dev in text
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(':').next())
        {
            let _ = Command::new("partx").arg("-d").arg(dev).status();
            let _ = Command::new("losetup").arg("-d").arg(dev).status();
        }
    }
}

/// A read-only loop mount of an image's partition at `offset`, unmounted
/// when dropped.
pub struct RoMount(pub tempfile::TempDir);

impl RoMount {
    pub fn new(image: &Path, offset: u64) -> RoMount {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .arg("-o")
            .arg(format!("ro,loop,offset={offset}"))
            .arg(image)
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mounting {}", image.display());
        RoMount(dir)
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn check(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the host's boot code and boot gap hold: a recognisable pattern.
fn boot_pattern() -> (Vec<u8>, Vec<u8>) {
    let code = (0..440u32).map(|i| (i * 7 + 3) as u8).collect();
    let gap = b"GRUB-CORE-".repeat(6000);
    (code, gap)
}

/// The host's root disk: an MBR table (with a signature), `/boot` and the
/// fixture's tree in labelled ext4s (the root's own /boot holds files the
/// mount of p1 hides), the boot pattern. p3 and p4 are made inside the
/// namespace, through the loop device's partitions.
fn host_disk(dir: &Path) -> PathBuf {
    use std::io::{Seek, SeekFrom, Write};
    let rootfs = fixture_dir().join("cache/rootfs");
    let disk = dir.join("host-root.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(1126 * MIB)
        .unwrap();
    let mut script = "label: dos\nlabel-id: 0x5eed1234\n".to_owned();
    for (n, (start, size)) in PARTS.iter().enumerate() {
        let (ty, flag) = match n {
            0 => ("83", ", bootable"),
            3 => ("5", ""),
            5 => ("82", ""),
            _ => ("83", ""),
        };
        script.push_str(&format!(
            "start={}, size={}, type={ty}{flag}\n",
            start * 2048,
            size * 2048
        ));
    }
    let mut sfdisk = Command::new("sfdisk")
        .arg("-q")
        .arg(&disk)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    sfdisk
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(sfdisk.wait().unwrap().success());
    for (tree, (start, size), uuid, label) in [
        (rootfs.join("boot"), PARTS[0], BOOT_UUID, "hostboot"),
        (rootfs.clone(), PARTS[1], UUID, LABEL),
        (rootfs.join("var"), PARTS[4], VAR_UUID, "hostvar"),
    ] {
        check(
            Command::new("mke2fs")
                .args(["-q", "-F", "-t", "ext4", "-L", label, "-U", uuid, "-d"])
                .arg(&tree)
                .arg("-E")
                .arg(format!("offset={}", start * MIB))
                .arg(&disk)
                .arg(format!("{size}M")),
        );
    }
    let (code, gap) = boot_pattern();
    let mut f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    f.write_all(&code).unwrap();
    f.seek(SeekFrom::Start(512)).unwrap();
    f.write_all(&gap).unwrap();
    disk
}

/// Mount the host in a private namespace and run `snf-mkimage /` there.
const IN_NAMESPACE: &str = r#"
    disk=$1 root=$2 mk=$3 tmp=$4 out=$5 filter=$6 rootfs=$7 home_uuid=$8
    lo=$(losetup --find --show "$disk")
    cleanup() {
        umount -R "$root" 2>/dev/null || umount -Rl "$root"
        partx -d "$lo"
        losetup -d "$lo"
    }
    trap cleanup EXIT
    partx -d "$lo" 2>/dev/null || true
    partx -a "$lo"
    mkswap "${lo}p6" >/dev/null
    mkfs.xfs -q -f -L hosthome -m uuid="$home_uuid" "${lo}p3"
    mount "${lo}p2" "$root"
    mount "${lo}p1" "$root/boot"
    mount "${lo}p3" "$root/home"
    mount "${lo}p5" "$root/var"
    cp -a "$rootfs/home/." "$root/home/"
    printf 'LABEL=hostroot / ext4 errors=remount-ro 0 1\nUUID=%s /boot ext4 defaults 0 2\nLABEL=hosthome /home xfs defaults 0 2\nLABEL=hostvar /var ext4 defaults 0 2\n' \
        "$(blkid -s UUID -o value "${lo}p1")" >"$root/etc/fstab"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/run"
    echo gone >"$root/run/host-run"
    echo keep >"$root/srv/host-keep.txt"
    echo secret >"$root/srv/host-secret.txt"
    echo gone >"$root/tmp/host-scratch"
    echo gone >"$root/var/tmp/host-scratch"
    echo gone >"$root/swapfile"
    mkdir -p "$root/mnt/bound"
    mount --bind "$root/srv" "$root/mnt/bound"
    SNF_HOST_ROOT="$root" "$mk" --tmpdir "$tmp" --filter "$filter" --no-sysprep -o "$out" /
"#;

/// The image's partitions: number, start, type, bootable.
fn image_parts(image: &Path) -> (String, Vec<(u32, u64, String, bool)>) {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(image)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["partitiontable"];
    let parts = t["partitions"].as_array().unwrap().iter().map(|p| {
        let node = p["node"].as_str().unwrap();
        let n = node[image.to_str().unwrap().len()..].parse().unwrap();
        let start = p["start"].as_u64().unwrap() * 512;
        let ty = p["type"].as_str().unwrap().to_owned();
        (n, start, ty, p["bootable"].as_bool().unwrap_or(false))
    });
    (t["id"].as_str().unwrap_or("").to_owned(), parts.collect())
}

/// blkid's answers about the filesystem at `offset`.
fn blkid_at(image: &Path, offset: u64) -> String {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export", "-O"])
        .arg(offset.to_string())
        .arg(image)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_running_host_becomes_an_image_with_its_partitions_and_boot_loader() {
    manifest();
    let dir = scratch();
    let disk = host_disk(dir.path());
    let _loops = Loops(disk.clone());
    let (root, tmp) = (dir.path().join("root"), dir.path().join("work"));
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    let filter = dir.path().join("filter");
    std::fs::write(&filter, "# host test\n/srv/host-secret.*\n").unwrap();
    let image = dir.path().join("host.diskdump");
    let r = run(Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-euc",
            IN_NAMESPACE,
            "sh",
        ])
        .args([&disk, &root])
        .arg(mkimage().get_program())
        .args([&tmp, &image, &filter])
        .arg(fixture_dir().join("cache/rootfs"))
        .arg(HOME_UUID));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for said in [
        "looks like the running host",
        "copied while it runs",
        "(partition 2 of loop",
        &format!("UUID={UUID}, LABEL={LABEL}"),
        "left out: /mnt/bound (a bind mount of /)",
        "image partition 1: ext4 /boot",
        "image partition 3: xfs /home",
        "image partition 4: extended",
        "image partition 5: ext4 /var",
        "the source's boot loader (MBR boot code and GRUB's core) is copied",
    ] {
        assert!(r.stderr.contains(said), "{said:?} not in:\n{}", r.stderr);
    }
    for unsaid in ["copied into it", "EXTLINUX"] {
        assert!(!r.stderr.contains(unsaid), "{unsaid:?} in:\n{}", r.stderr);
    }
    assert_empty_dir(&tmp);
    assert_empty_dir(&root);
    let text = std::fs::read_to_string(format!("{}.meta", image.display())).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(meta["properties"]["OS"], "debian", "{text}");
    assert_eq!(meta["properties"]["SWAP"], "6:16", "{text}");

    let (id, parts) = image_parts(&image);
    assert_eq!(id, "0x5eed1234");
    let numbers: Vec<(u32, &str, bool)> = (parts.iter())
        .map(|(n, _, t, b)| (*n, t.as_str(), *b))
        .collect();
    assert_eq!(
        numbers,
        [
            (1, "83", true),
            (2, "83", false),
            (3, "83", false),
            (4, "5", false),
            (5, "83", false)
        ]
    );
    let expect = [
        ("ext4", BOOT_UUID, "hostboot"),
        ("ext4", UUID, LABEL),
        ("xfs", HOME_UUID, "hosthome"),
        ("ext4", VAR_UUID, "hostvar"),
    ];
    let filesystems = parts.iter().filter(|p| p.2 != "5");
    for ((_, start, _, _), (ty, uuid, label)) in filesystems.zip(expect) {
        let id = blkid_at(&image, *start);
        for kv in [
            format!("TYPE={ty}\n"),
            format!("UUID={uuid}\n"),
            format!("LABEL={label}\n"),
        ] {
            assert!(id.contains(&kv), "{kv:?} not in {id}");
        }
    }
    let (code, gap) = boot_pattern();
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(&bytes[..440], &code[..], "the MBR boot code");
    assert_eq!(&bytes[512..512 + gap.len()], &gap[..], "the boot gap");

    {
        let boot = RoMount::new(&image, parts[0].1);
        let b = boot.0.path();
        assert!(
            !b.join("boot").exists(),
            "/boot's partition holds its files at its top"
        );
        assert!(has_kernel(b), "no kernel in the image's /boot partition");
    }
    {
        let home = RoMount::new(&image, parts[2].1);
        assert!(home.0.path().join("alice").is_dir());
    }
    {
        let var = RoMount::new(&image, parts[4].1);
        let v = var.0.path();
        assert!(v.join("lib/dpkg/status").is_file(), "the logical /var");
        assert_empty_dir(&v.join("tmp"));
    }
    let mnt = RoMount::new(&image, parts[1].1);
    let m = mnt.0.path();
    assert_empty_dir(&m.join("boot"));
    assert_empty_dir(&m.join("home"));
    assert_empty_dir(&m.join("var"));
    let fstab = std::fs::read_to_string(m.join("etc/fstab")).unwrap();
    assert_eq!(
        fstab,
        format!(
            "LABEL=hostroot / ext4 errors=remount-ro 0 1\nUUID={BOOT_UUID} /boot ext4 defaults 0 2\nLABEL=hosthome /home xfs defaults 0 2\nLABEL=hostvar /var ext4 defaults 0 2\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(m.join("srv/host-keep.txt")).unwrap(),
        "keep\n"
    );
    for absent in [
        "srv/host-secret.txt",
        "tmp/host-scratch",
        "var/tmp/host-scratch",
        "swapfile",
        "run/host-run",
    ] {
        assert!(!m.join(absent).exists(), "{absent} was copied");
    }
    for empty in ["proc", "sys", "dev", "run", "mnt/bound"] {
        assert_empty_dir(&m.join(empty));
    }
    assert!(m.join("usr/lib/os-release").is_file());
}

/// Whether a /boot holds a kernel.
fn has_kernel(boot: &Path) -> bool {
    std::fs::read_dir(boot).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("vmlinuz-")
    })
}
