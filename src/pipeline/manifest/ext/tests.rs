//! The host reader against filesystems made by `mkfs.ext4 -d` from real
//! trees, compared with what the host's own kernel sees in those trees.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use super::*;

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("starting a test tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tree with every kind of file, a set-id file, a hard link and a name
/// that is not UTF-8.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("etc/ssh")).unwrap();
    std::fs::write(root.join("etc/hostname"), "guest\n").unwrap();
    std::fs::write(root.join("etc/ssh/big"), vec![7u8; 3 << 20]).unwrap();
    std::fs::write(root.join("empty"), "").unwrap();
    std::fs::hard_link(root.join("etc/hostname"), root.join("etc/hostname.link")).unwrap();
    symlink("../etc/hostname", root.join("etc/ssh/name")).unwrap();
    std::fs::create_dir(root.join("tmp")).unwrap();
    std::fs::set_permissions(root.join("tmp"), PermissionsExt::from_mode(0o1777)).unwrap();
    std::fs::write(root.join("suid"), "x").unwrap();
    std::fs::set_permissions(root.join("suid"), PermissionsExt::from_mode(0o4755)).unwrap();
    run(Command::new("mkfifo").arg(root.join("fifo")));
    let odd = root.join(OsStr::from_bytes(b"odd\xff"));
    std::fs::create_dir(&odd).unwrap();
    std::fs::write(odd.join("inside"), "hidden").unwrap();
}

/// The filesystem of `tree` in a new file of 64 MiB at `offset`.
fn ext4_of(tree: &Path, image: &Path, offset: u64) {
    let fs = image.with_extension("fs");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(tree)
        .arg(&fs)
        .arg("64M"));
    let data = std::fs::read(&fs).unwrap();
    let mut out = vec![0; offset as usize];
    out.extend(data);
    std::fs::write(image, out).unwrap();
    std::fs::remove_file(fs).unwrap();
}

fn sha512_of(p: &Path) -> String {
    hex(&Sha512::digest(std::fs::read(p).unwrap()))
}

fn by_path(m: &Manifest) -> BTreeMap<&str, &FileEntry> {
    m.files.iter().map(|f| (f.path.as_str(), f)).collect()
}

#[test]
fn a_whole_disk_filesystem_lists_like_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let image = dir.path().join("disk.raw");
    ext4_of(&tree, &image, 0);
    let mounts = ExtMounts(vec![("/".into(), None)]);
    let (m, skipped) = read(&image, &mounts).unwrap();
    assert_eq!(skipped, 2, "the odd name and the file inside it");
    let files = by_path(&m);
    for rel in [
        "etc/hostname",
        "etc/hostname.link",
        "etc/ssh/big",
        "empty",
        "suid",
    ] {
        let f = files[format!("/{rel}").as_str()];
        let meta = std::fs::symlink_metadata(tree.join(rel)).unwrap();
        assert_eq!(f.kind, FileKind::File, "{rel}");
        assert_eq!(
            (f.size, f.mode),
            (meta.len(), meta.mode() & 0o7777),
            "{rel}"
        );
        assert_eq!((f.uid, f.gid), (meta.uid(), meta.gid()), "{rel}");
        assert_eq!(
            f.sha512.as_deref(),
            Some(sha512_of(&tree.join(rel)).as_str()),
            "{rel}"
        );
    }
    assert_eq!(files["/suid"].mode, 0o4755);
    assert_eq!(files["/tmp"].mode, 0o1777);
    assert_eq!(files["/tmp"].kind, FileKind::Dir);
    assert_eq!(files["/fifo"].kind, FileKind::Fifo);
    assert_eq!(
        files["/etc/ssh/name"].link.as_deref(),
        Some("../etc/hostname")
    );
    assert_eq!(files["/etc/ssh/name"].sha512, None);
    assert!(
        files
            .keys()
            .all(|p| !p.contains("odd") && !p.contains("inside"))
    );
    assert!(files.contains_key("/lost+found"));
    assert_eq!(m.files.len(), 11, "{:?}", files.keys());
}

#[test]
fn a_filesystem_mounted_on_a_partition_hides_what_is_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let (root, boot) = (dir.path().join("root"), dir.path().join("boot"));
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::write(root.join("boot/under"), "hidden by the mount").unwrap();
    std::fs::write(root.join("file"), "root").unwrap();
    std::fs::set_permissions(root.join("boot"), PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::create_dir(&boot).unwrap();
    std::fs::write(boot.join("vmlinuz"), "kernel").unwrap();
    let (root_img, boot_img) = (dir.path().join("r.raw"), dir.path().join("b.raw"));
    ext4_of(&root, &root_img, 0);
    ext4_of(&boot, &boot_img, 0);
    let disk = dir.path().join("disk.raw");
    let mut data = vec![0; 1 << 20];
    data.extend(std::fs::read(&boot_img).unwrap());
    data.extend(std::fs::read(&root_img).unwrap());
    data.extend(vec![0; 1 << 20]);
    std::fs::write(&disk, data).unwrap();
    let table =
        "label: dos\nstart=2048, size=131072, type=83\nstart=133120, size=131072, type=83\n";
    let mut sfdisk = Command::new("sfdisk");
    sfdisk
        .arg("-q")
        .arg(&disk)
        .stdin(std::process::Stdio::piped());
    let mut child = sfdisk.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), table.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let mounts = ExtMounts(vec![("/".into(), Some(2)), ("/boot".into(), Some(1))]);
    let (m, _) = read(&disk, &mounts).unwrap();
    let files = by_path(&m);
    assert_eq!(
        files["/file"].sha512.as_deref(),
        Some(sha512_of(&root.join("file")).as_str())
    );
    assert!(files.contains_key("/boot/vmlinuz"));
    assert!(files.contains_key("/boot/lost+found"));
    assert!(!files.contains_key("/boot/under"));
    // mkfs makes its root 0755: the mounted root stands for /boot, not
    // the 0700 directory under it.
    assert_eq!(files["/boot"].mode, 0o755);
    let missing = ExtMounts(vec![("/".into(), Some(3))]);
    let err = read(&disk, &missing).unwrap_err();
    assert!(format!("{err:#}").contains("no partition 3"), "{err:#}");
}

#[test]
fn damaged_data_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("zeros.raw");
    std::fs::write(&image, vec![0; 4 << 20]).unwrap();
    let err = read(&image, &ExtMounts(vec![("/".into(), None)])).unwrap_err();
    assert!(
        format!("{err:#}").contains("the filesystem of /"),
        "{err:#}"
    );
}

#[test]
fn only_partitions_of_the_one_disk_are_read_on_the_host() {
    assert_eq!(partition_of("/dev/sda"), Some(None));
    assert_eq!(partition_of("/dev/sda12"), Some(Some(12)));
    for other in [
        "/dev/sdb1",
        "/dev/mapper/vg0-root",
        "/dev/md0",
        "/dev/sda0",
        "/dev/sdax",
    ] {
        assert_eq!(partition_of(other), None, "{other}");
    }
}

#[test]
fn filesystems_with_features_the_reader_refuses_stay_in_the_helper_vm() {
    // mkfs.ext4's defaults: filetype, extents, 64bit, flex_bg (+ recover).
    assert!(host_readable(0x2 | 0x40 | 0x80 | 0x200));
    assert!(host_readable(0x2 | 0x4 | 0x40 | 0x2000));
    assert!(!host_readable(0x40), "ext2 without filetype");
    for refused in [
        0x1, 0x8, 0x10, 0x100, 0x400, 0x1000, 0x4000, 0x8000, 0x10000, 0x20000,
    ] {
        assert!(!host_readable(0x2 | refused), "{refused:#x}");
    }
}
