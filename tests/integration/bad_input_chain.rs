//! Images nobody vouches for: backing chains that would read host data, and
//! outputs that would overwrite an input. Every row is refused before a
//! helper VM starts, with one `Error:` line and the right exit code, no file
//! or process left behind, and every input byte-identical.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bad_input::expect_error;
use crate::support::*;

fn qemu_img(args: &[&str]) {
    let status = Command::new("qemu-img").args(args).status().unwrap();
    assert!(status.success(), "qemu-img {args:?}");
}

/// A 1 MiB qcow2 at `top` whose backing file is `backing` (format recorded
/// unless `format` is empty), made without opening the backing file.
fn overlay(top: &Path, backing: &str, format: &str) {
    let top = top.to_str().unwrap();
    let mut args = vec!["create", "-q", "-f", "qcow2", "-u", "-b", backing];
    if !format.is_empty() {
        args.extend(["-F", format]);
    }
    args.extend([top, "1M"]);
    qemu_img(&args);
}

/// Erase the backing-format header extension of a qcow2, as images made by
/// old qemu versions (or by hand) lack it.
fn forget_backing_format(img: &Path) {
    let mut data = std::fs::read(img).unwrap();
    let at = data
        .windows(4)
        .position(|w| w == [0xE2, 0x79, 0x2A, 0xCA])
        .expect("a backing format extension");
    data[at..at + 4].fill(0);
    std::fs::write(img, data).unwrap();
}

/// A vmdk descriptor whose one flat extent is `extent`.
fn vmdk(path: &Path, extent: &str) {
    let text = format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"{extent}\" 0\nddb.adapterType = \"ide\"\n"
    );
    std::fs::write(path, text).unwrap();
}

/// The files of a directory, by name.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Digests of the regular files among `paths`.
fn digests(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| p.is_file())
        .map(|p| sha256_file(p))
        .collect()
}

#[test]
fn backing_chains_refused() {
    let dir = scratch();
    let d = dir.path();
    let p = |n: &str| d.join(n);
    // A host file holding what must not leak (as /etc/shadow would).
    std::fs::write(p("shadow"), b"root:$6$secret:19000:0:99999:7:::\n").unwrap();
    let fifo = p("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(p("socket")).unwrap();
    std::fs::write(p("base.raw"), vec![0u8; 1 << 20]).unwrap();
    let s = |n: &str| p(n).to_str().unwrap().to_owned();

    overlay(&p("evil.qcow2"), &s("shadow"), "raw");
    overlay(&p("zero.qcow2"), "/dev/zero", "raw");
    overlay(&p("fifo.qcow2"), &s("fifo"), "raw");
    overlay(&p("socket.qcow2"), &s("socket"), "raw");
    overlay(&p("proc.qcow2"), "/proc/self/environ", "raw");
    overlay(&p("sys.qcow2"), "/sys/kernel/notes", "raw");
    overlay(&p("nbd.qcow2"), "nbd:127.0.0.1:10809", "raw");
    overlay(&p("http.qcow2"), "http://127.0.0.1:1/disk.img", "raw");
    overlay(&p("ssh.qcow2"), "ssh://127.0.0.1/disk.img", "raw");
    let json = format!(
        r#"json:{{"file":{{"driver":"file","filename":"{}"}}}}"#,
        s("shadow")
    );
    overlay(&p("json.qcow2"), &json, "raw");
    overlay(&p("nofmt.qcow2"), &s("base.raw"), "raw");
    forget_backing_format(&p("nofmt.qcow2"));
    let data_file = format!("data_file={}", s("shadow"));
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &data_file,
        &s("data.qcow2"),
        "1M",
    ]);
    overlay(&p("loop-a.qcow2"), &s("base.raw"), "raw");
    overlay(&p("loop-b.qcow2"), &s("loop-a.qcow2"), "qcow2");
    qemu_img(&[
        "rebase",
        "-q",
        "-u",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        &s("loop-b.qcow2"),
        &s("loop-a.qcow2"),
    ]);
    vmdk(&p("evil.vmdk"), &s("shadow"));
    vmdk(&p("zero.vmdk"), "/dev/zero");
    vmdk(&p("fifo.vmdk"), &s("fifo"));
    let before = listing(d);
    let inputs: Vec<PathBuf> = before.iter().map(|n| p(n)).collect();
    let sums = digests(&inputs);

    let flag = "--allow-backing-file";
    let out = s("out.diskdump");
    #[rustfmt::skip]
    let rows: &[(&str, &[&str], &str)] = &[
        // The issue's example: refused without the flag, naming the chain,
        // the flag and the alternative.
        ("evil.qcow2", &["--allow-unsupported"], "has a backing file"),
        ("evil.qcow2", &[], "(qcow2) -> "),
        ("evil.qcow2", &[], "give --allow-backing-file to use the chain"),
        ("evil.qcow2", &[], "qemu-img convert -O qcow2 "),
        // Refused even with the flag.
        ("zero.qcow2", &[flag], "/dev/zero is refused: it is a character device"),
        ("zero.qcow2", &[], "it is a character device"),
        ("fifo.qcow2", &[flag], "it is a FIFO"),
        ("socket.qcow2", &[flag], "it is a socket"),
        ("proc.qcow2", &[flag], "it is under /proc"),
        ("sys.qcow2", &[flag], "it is under /sys"),
        ("nbd.qcow2", &[flag], "it is a `nbd:` address"),
        ("http.qcow2", &[flag], "it is a `http:` address"),
        ("ssh.qcow2", &[flag], "it is a `ssh:` address"),
        ("json.qcow2", &[flag], "it is a `json:` address"),
        ("nofmt.qcow2", &[flag], "its format is not recorded"),
        ("data.qcow2", &[flag], "its data file (declared in its header) is refused: an external data file"),
        ("data.qcow2", &[], "an external data file"),
        ("loop-b.qcow2", &[flag], "the chain loops back"),
        // A vmdk descriptor reads its data from the files it names.
        ("evil.vmdk", &[], "(vmdk extent)): the data it does not hold"),
        ("zero.vmdk", &[flag], "its extent /dev/zero is refused: it is a character device"),
        ("fifo.vmdk", &[flag], "it is a FIFO"),
    ];
    for (image, extra, text) in rows {
        let mut args: Vec<&str> = extra.to_vec();
        let img = s(image);
        args.extend(["-o", &out, &img]);
        let r = expect_error(&args, 1, text);
        assert!(
            !r.stderr.contains("Launching helper VM"),
            "{image}: refused only after the helper VM started"
        );
        assert!(
            !r.stderr.contains("root:$6$"),
            "{image}: the host file leaked"
        );
    }
    assert_eq!(listing(d), before, "no output may be left");
    assert_eq!(digests(&inputs), sums, "an input changed");
}

#[test]
fn outputs_that_are_inputs_refused() {
    let dir = scratch();
    let d = dir.path();
    let p = |n: &str| d.join(n);
    let s = |n: &str| p(n).to_str().unwrap().to_owned();
    std::fs::write(p("disk.raw"), vec![7u8; 1 << 20]).unwrap();
    symlink(p("disk.raw"), p("link.diskdump")).unwrap();
    std::fs::hard_link(p("disk.raw"), p("hard.diskdump")).unwrap();
    std::fs::write(p("side.diskdump.meta"), vec![7u8; 1 << 20]).unwrap();
    overlay(&p("top.qcow2"), &s("disk.raw"), "raw");
    std::fs::create_dir(p("store")).unwrap();
    std::fs::write(p("store/stored.raw"), vec![7u8; 1 << 20]).unwrap();
    let before = listing(d);
    let inputs: Vec<PathBuf> = before.iter().map(|n| p(n)).collect();
    let sums = digests(&inputs);

    let same = "is the same file as the input";
    let (src, top, side) = (s("disk.raw"), s("top.qcow2"), s("side.diskdump.meta"));
    let (stored, store) = (s("store/stored.raw"), s("store"));
    let (link, hard, side_out) = (s("link.diskdump"), s("hard.diskdump"), s("side.diskdump"));
    let link_msg = format!("link.diskdump {same} {src}");
    let side_msg = format!("side.diskdump.meta {same} {side}");
    #[rustfmt::skip]
    let rows: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-f", "-o", &src, &src], "(refused even with -f): choose another -o"),
        (vec!["-o", &src, &src], same),
        (vec!["-f", "-o", &link, &src], &link_msg),
        (vec!["-f", "-o", &hard, &src], same),
        (vec!["-f", "-o", &side_out, &side], &side_msg),
        // A backing file of the source, found by examining the chain.
        (vec!["-f", "--allow-backing-file", "-o", &src, &top], same),
        (vec!["-u", "img", "--store", &store, &stored], "is inside the local image store"),
    ];
    for (args, text) in &rows {
        let r = expect_error(args, 2, text);
        assert!(!r.stderr.contains("Launching helper VM"), "{args:?}");
    }
    assert_eq!(listing(d), before, "no output may be left");
    assert_eq!(digests(&inputs), sums, "an input changed");
}
