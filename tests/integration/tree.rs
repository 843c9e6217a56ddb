//! Images made from a tree: the Debian fixture's root tree, with a
//! directory of every special case added, bundled as a directory and as a
//! `.tar.zst` with a filter file. Each output is loop-mounted read-only
//! and compared, entry by entry, with the tree: filtered paths absent,
//! everything else present with the same type, owner, mode, size, times,
//! link target, device number, hard links, content and xattrs (ACLs and
//! SELinux labels included).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

use crate::boot::{LIMIT, MARKER, boot_to_marker};
use crate::support::*;

/// A tree's entries and xattrs, by path.
type Listing = (BTreeMap<Vec<u8>, String>, BTreeMap<Vec<u8>, Vec<u8>>);

/// What the filter file leaves out, on top of the built-in filter.
const FILTER: &str = "# test filter\n/srv/special/secret.*\n/var/cache/apt\n";

/// The entries of a tree as the test compares them, by path from its root.
fn entries(root: &Path, skip: &dyn Fn(&[u8]) -> bool) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let child = rel.join(e.file_name());
            let key = [b"/", child.as_os_str().as_bytes()].concat();
            if skip(&key) {
                continue;
            }
            let m = e.metadata().unwrap();
            out.insert(key, (describe(&root.join(&child), &m), m.ino()));
            if m.is_dir() {
                stack.push(child);
            }
        }
    }
    with_links_in_tree(out)
}

/// A file's link count as seen within the tree: how many of its paths
/// share its inode. (The test's tree is a hard-linked copy of the
/// fixture's, so the file system's own count counts the fixture too.)
fn with_links_in_tree(entries: BTreeMap<Vec<u8>, (String, u64)>) -> BTreeMap<Vec<u8>, String> {
    let mut paths = BTreeMap::<u64, usize>::new();
    for (_, ino) in entries.values() {
        *paths.entry(*ino).or_default() += 1;
    }
    (entries.into_iter())
        .map(|(k, (text, ino))| (k, text.replace("{links}", &paths[&ino].to_string())))
        .collect()
}

fn describe(p: &Path, m: &std::fs::Metadata) -> String {
    let ft = m.file_type();
    let what = if ft.is_symlink() {
        format!("-> {}", std::fs::read_link(p).unwrap().display())
    } else if ft.is_file() {
        let data = std::fs::read(p).unwrap();
        format!(
            "size {} sha {:x} links {{links}}",
            m.size(),
            sha2::Sha256::digest(&data),
        )
    } else if ft.is_block_device() || ft.is_char_device() {
        format!("rdev {}", m.rdev())
    } else {
        String::new()
    };
    let mtime = match ft.is_dir() {
        true => String::new(), // a directory's time moves as its entries are made
        false => format!("{}.{:09}", m.mtime(), m.mtime_nsec()),
    };
    format!("mode {:o} {}:{} {mtime} {what}", m.mode(), m.uid(), m.gid())
}

/// Every xattr of every entry (`getfattr`'s dump, by path).
fn xattrs(root: &Path, skip: &dyn Fn(&[u8]) -> bool) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let out = Command::new("getfattr")
        .current_dir(root)
        .args(["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "."])
        .output()
        .unwrap();
    let mut map = BTreeMap::new();
    for block in out
        .stdout
        .split(|b| *b == b'#')
        .filter(|b| b.starts_with(b" file: "))
    {
        let end = block.iter().position(|b| *b == b'\n').unwrap();
        let name = &block[b" file: .".len()..end];
        if !skip(name) {
            map.insert(name.to_vec(), block[end..].to_vec());
        }
    }
    map
}

/// Add a directory with each special case to a hard-linked copy of the
/// fixture's tree.
fn make_tree(dir: &Path) -> PathBuf {
    manifest();
    let rootfs = fixture_dir().join("cache/rootfs");
    let tree = dir.join("tree");
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-euc")
            .arg(script)
            .arg("sh")
            .arg(&rootfs)
            .arg(&tree)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(r#"cp -al "$1" "$2"; S="$2/srv/special"; mkdir "$S"; cd "$S"
        printf data >plain; chown 1234:5678 plain; chmod 4755 plain
        mkdir sgid; chmod 2775 sgid; printf one >sgid/a; ln sgid/a hardlink
        ln -s /nowhere dangling; ln -s plain rel
        truncate -s 10M sparse; printf tail >>sparse
        mknod chr c 1 3; mknod blk b 7 200; mkfifo fifo
        python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock
        setfattr -n user.note -v hello plain
        setfattr -n security.selinux -v system_u:object_r:etc_t:s0 plain
        setfacl -m u:1234:rwx,g:5678:r sgid; setfacl -d -m u:1234:rx sgid
        printf secret >secret.key; mkdir secrets.d; printf x >secrets.d/f
        touch -h -d '2001-02-03 04:05:06.123456789' plain dangling fifo
        printf latin1 >"$(printf 'caf\351')"
        printf gone >"$2/tmp/scratch"
    "#);
    make_bootable(&tree);
    tree
}

/// Make the tree boot to the boot test's marker as a debootstrap tree
/// would: no EXTLINUX configuration of its own (the builder writes one;
/// the fixture's names no kernel) and the bootable fixture's marker unit.
/// (New links only: the tree's files are the fixture's.)
fn make_bootable(tree: &Path) {
    std::fs::remove_file(tree.join("boot/extlinux/extlinux.conf")).unwrap();
    let units = tree.join("etc/systemd/system");
    let unit = "snf-boot-marker.service";
    let text = format!(
        "[Unit]\nDescription=Tell the boot test that the system is up\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo {MARKER} >/dev/ttyS0'\n\n[Install]\nWantedBy=multi-user.target\n"
    );
    std::fs::write(units.join(unit), text).unwrap();
    let wants = units.join("multi-user.target.wants").join(unit);
    std::os::unix::fs::symlink(Path::new("/etc/systemd/system").join(unit), wants).unwrap();
}

/// What must reach the image: all but the filtered paths (and, from a
/// tarball, the socket, which tar does not keep).
fn expected(tree: &Path, with_socket: bool) -> Listing {
    let mut lines: Vec<String> = snf_image_creator::media::tree::filter::DEFAULTS
        .iter()
        .map(|s| s.to_string())
        .collect();
    lines.extend(
        FILTER
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned),
    );
    let f = regex::bytes::RegexSet::new(lines.iter().map(|l| format!("^(?:{l})(/.*)?$"))).unwrap();
    let skip = move |p: &[u8]| f.is_match(p) || (!with_socket && p.ends_with(b"/sock"));
    (entries(tree, &skip), xattrs(tree, &skip))
}

/// Loop-mount the image's root filesystem read-only and compare.
fn compare(image: &Path, tree: &Path, with_socket: bool, prepared: bool) {
    let mnt = tempfile::tempdir().unwrap();
    let out = Command::new("mount")
        .args(["-o", "ro,loop,offset=1048576"])
        .arg(image)
        .arg(mnt.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the export adds: the file system's own directory and the boot
    // loader it installs.
    let lf = |p: &[u8]| {
        [
            &b"/lost+found"[..],
            b"/boot/extlinux/extlinux.conf",
            b"/boot/extlinux/ldlinux.c32",
            b"/boot/extlinux/ldlinux.sys",
        ]
        .contains(&p)
    };
    let got = (entries(mnt.path(), &lf), xattrs(mnt.path(), &lf));
    unmount(mnt.path(), image);
    let want = expected(tree, with_socket);
    let special = |m: &BTreeMap<Vec<u8>, String>| -> Vec<(Vec<u8>, String)> {
        m.iter()
            .filter(|(k, _)| k.starts_with(b"/srv/special"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        special(&got.0),
        special(&want.0),
        "the special cases differ"
    );
    for absent in [
        &b"/srv/special/secret.key"[..],
        b"/srv/special/secrets.d",
        b"/tmp/scratch",
        b"/var/cache/apt",
    ] {
        assert!(
            !got.0.contains_key(absent),
            "{} was not filtered",
            String::from_utf8_lossy(absent)
        );
    }
    assert!(got.0.contains_key(&b"/srv/special/caf\xe9"[..]));
    assert!(
        got.0["/tmp".as_bytes()].starts_with("mode 41777"),
        "{}",
        got.0["/tmp".as_bytes()]
    );
    if prepared {
        return; // system preparation changed the rest on purpose
    }
    let diff: Vec<String> = (want.0.keys().chain(got.0.keys()))
        .filter(|k| want.0.get(*k) != got.0.get(*k))
        .map(|k| {
            format!(
                "{}: {:?} != {:?}",
                String::from_utf8_lossy(k),
                want.0.get(k),
                got.0.get(k)
            )
        })
        .take(10)
        .collect();
    assert!(diff.is_empty(), "entries differ:\n{}", diff.join("\n"));
    let xdiff: Vec<String> = (want.1.keys().chain(got.1.keys()))
        .filter(|k| want.1.get(*k) != got.1.get(*k))
        .map(|k| {
            let text = |v: Option<&Vec<u8>>| v.map(|v| String::from_utf8_lossy(v).into_owned());
            format!(
                "{}: {:?} != {:?}",
                String::from_utf8_lossy(k),
                text(want.1.get(k)),
                text(got.1.get(k))
            )
        })
        .take(10)
        .collect();
    assert!(xdiff.is_empty(), "xattrs differ:\n{}", xdiff.join("\n"));
}

/// Unmount the read-back. This test holds nothing in it by then (every
/// file and directory it read is closed, `getfattr` has exited); a child
/// another test thread forks meanwhile inherits those descriptors until it
/// executes its program, which a loaded machine may delay. Such a holder is
/// named, then the mount detached: the file system and its loop device go
/// when the last holder closes, which is waited for.
fn unmount(mnt: &Path, image: &Path) {
    let out = Command::new("umount").arg(mnt).output().unwrap();
    if !out.status.success() {
        let who = Command::new("fuser").arg("-vm").arg(mnt).output().unwrap();
        eprintln!(
            "umount {}: {}holders:\n{}",
            mnt.display(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&who.stderr)
        );
        let lazy = Command::new("umount").arg("-l").arg(mnt).status().unwrap();
        assert!(lazy.success(), "{} stays mounted", mnt.display());
    }
    let image = image.canonicalize().unwrap();
    poll(
        "the read-back's loop device going",
        std::time::Duration::from_secs(120),
        || {
            let out = Command::new("losetup")
                .args(["-j"])
                .arg(&image)
                .output()
                .unwrap();
            match out.stdout.is_empty() {
                true => Ok(()),
                false => Err(String::from_utf8_lossy(&out.stdout).into_owned()),
            }
        },
    );
}

fn meta(image: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}.meta", image.display())).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Both become Debian images; the tarball's, prepared and shrunk by
/// default, boots to the fixture's marker.
#[test]
fn a_tree_and_its_tarball_become_debian_images() {
    let dir = scratch();
    let tree = make_tree(dir.path());
    let filter = dir.path().join("filter");
    std::fs::write(&filter, FILTER).unwrap();
    let tmp = scratch();
    let image = dir.path().join("tree.diskdump");
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .arg("--filter")
        .arg(&filter)
        .args(["--no-sysprep", "-o"])
        .arg(&image)
        .arg(&tree));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("looks like a directory tree"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("boots with EXTLINUX"), "{}", r.stderr);
    assert_eq!(meta(&image)["properties"]["OSFAMILY"], "linux");
    assert_eq!(meta(&image)["properties"]["OS"], "debian");
    compare(&image, &tree, true, false);
    assert_empty_dir(tmp.path());

    let tarball = dir.path().join("tree.tar.zst");
    let out = Command::new("sh")
        .arg("-euc")
        .arg(r#"tar -C "$1" --format=posix --xattrs --xattrs-include='*' --acls --selinux --numeric-owner --sparse -cf - . 2>/dev/null | zstd -q -o "$2""#)
        .arg("sh").arg(&tree).arg(&tarball)
        .status()
        .unwrap();
    assert!(out.success());
    let before = sha256_file(&tarball);
    let image2 = dir.path().join("tar.diskdump");
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .arg("--filter")
        .arg(&filter)
        .arg("--partition-table")
        .arg("msdos")
        .arg("-o")
        .arg(&image2)
        .arg(&tarball));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("looks like a tarball"), "{}", r.stderr);
    assert_eq!(meta(&image2)["properties"]["OS"], "debian");
    compare(&image2, &tree, false, true);
    assert_eq!(sha256_file(&tarball), before, "the tarball changed");
    assert_empty_dir(tmp.path());
    assert_no_loop_device_on(tmp.path());
    // Prepared and shrunk by default, the tree with a kernel boots.
    match boot_to_marker(&image2, MARKER, LIMIT) {
        Ok(took) => eprintln!("booted to the marker in {}s", took.as_secs()),
        Err(why) => panic!("{} did not boot: {why}", image2.display()),
    }
}

/// No loop device is left on a file under `dir`.
pub fn assert_no_loop_device_on(dir: &Path) {
    let out = Command::new("losetup")
        .args(["-l", "-n", "-O", "BACK-FILE"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains(dir.to_str().unwrap()),
        "loop devices left: {text}"
    );
}

#[test]
fn print_filter_lists_the_defaults_and_the_file() {
    let dir = scratch();
    let filter = dir.path().join("filter");
    std::fs::write(&filter, FILTER).unwrap();
    let r = run(mkimage()
        .arg("--print-filter")
        .arg("--filter")
        .arg(&filter)
        .arg(dir.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines.contains(&"/proc/.+") && lines.contains(&"/var/cache/apt"),
        "{lines:?}"
    );
    let r = run(mkimage()
        .args(["--print-filter", "--no-default-filter"])
        .arg(dir.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let _ = OsStr::new("");
}

/// A small filesystem mounted for one test, unmounted when dropped.
struct SmallFs(tempfile::TempDir);

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn too_little_space_for_the_tree_is_refused_before_copying() {
    manifest();
    let rootfs = fixture_dir().join("cache/rootfs");
    let small = SmallFs(scratch());
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(small.0.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let dir = scratch();
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(small.0.path())
        .arg("-o")
        .arg(dir.path().join("o.diskdump"))
        .arg(&rootfs));
    r.assert_error(1, "not enough free space in");
    assert!(!r.stderr.contains("Copying the tree"), "{}", r.stderr);
    assert_empty_dir(small.0.path());
    assert_empty_dir(dir.path());
}
