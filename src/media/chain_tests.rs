use std::process::Command;

use super::*;
use crate::media::qemu_img::parse_info;
use crate::process::CommandExt;

/// `qemu-img info --output=json` of an overlay (qemu 10), trimmed.
const OVERLAY: &str = r#"{
    "backing-filename-format": "raw",
    "virtual-size": 1048576,
    "filename": "top.qcow2",
    "format": "qcow2",
    "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": false}},
    "full-backing-filename": "/tmp/chainx/base.raw",
    "backing-filename": "/tmp/chainx/base.raw",
    "dirty-flag": false
}"#;

/// … of a qcow2 image with an external data file.
const DATA_FILE: &str = r#"{
    "virtual-size": 1048576,
    "filename": "dat.qcow2",
    "format": "qcow2",
    "format-specific": {"type": "qcow2", "data": {
        "compat": "1.1", "data-file": "/tmp/chainx/data.raw", "data-file-raw": false}}
}"#;

/// … of an overlay whose backing format is not recorded.
const NO_FORMAT: &str = r#"{
    "virtual-size": 1048576, "filename": "nofmt.qcow2", "format": "qcow2",
    "full-backing-filename": "/tmp/chainx/base.raw",
    "backing-filename": "/tmp/chainx/base.raw"
}"#;

/// … of a vmdk (format-specific data of another shape).
const VMDK: &str = r#"{
    "virtual-size": 1048576, "filename": "d.vmdk", "format": "vmdk",
    "format-specific": {"type": "vmdk", "data": {"cid": 1, "extents": [
        {"filename": "d.vmdk", "format": "FLAT", "virtual-size": 1048576}]}}
}"#;

fn link<'a>(name: &'a str, format: Option<&'a ImageFormat>) -> Link<'a> {
    Link {
        kind: LinkKind::Backing,
        name,
        format,
        path: resolve(Path::new("/img/top.qcow2"), name),
    }
}

fn why(link: &Link) -> Option<String> {
    RULES.iter().find_map(|rule| rule(link))
}

#[test]
fn parses_chain_fields() {
    let top = parse_info(OVERLAY).unwrap();
    assert_eq!(
        top.backing_filename.as_deref(),
        Some("/tmp/chainx/base.raw")
    );
    assert_eq!(top.backing_format, Some(ImageFormat::Raw));
    assert_eq!(top.data_file(), None);
    let dat = parse_info(DATA_FILE).unwrap();
    assert_eq!(dat.data_file(), Some("/tmp/chainx/data.raw"));
    assert_eq!(dat.backing_filename, None);
    let nofmt = parse_info(NO_FORMAT).unwrap();
    assert_eq!(nofmt.backing_format, None);
    let vmdk = parse_info(VMDK).unwrap();
    assert_eq!(vmdk.data_file(), None);
    assert_eq!(vmdk.extents().collect::<Vec<_>>(), ["d.vmdk"]);
}

#[test]
fn rules_refuse_what_no_flag_allows() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, b"x").unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let cases: &[(&str, Option<&ImageFormat>, &str)] = &[
        (
            "nbd:127.0.0.1:10809",
            Some(&ImageFormat::Raw),
            "`nbd:` address",
        ),
        (
            "nbd+unix:///x?socket=/s",
            Some(&ImageFormat::Raw),
            "`nbd+unix:` address",
        ),
        (
            "http://example.com/d.img",
            Some(&ImageFormat::Raw),
            "`http:` address",
        ),
        (
            "https://example.com/d.img",
            Some(&ImageFormat::Raw),
            "`https:` address",
        ),
        ("ssh://h/d.img", Some(&ImageFormat::Raw), "`ssh:` address"),
        (
            r#"json:{"file":{"filename":"/etc/shadow"}}"#,
            Some(&ImageFormat::Raw),
            "`json:`",
        ),
        ("base.raw", None, "format is not recorded"),
        ("/proc/self/environ", Some(&ImageFormat::Raw), "under /proc"),
        ("/sys/kernel/notes", Some(&ImageFormat::Raw), "under /sys"),
        ("/dev/zero", Some(&ImageFormat::Raw), "a character device"),
        ("/dev/null", Some(&ImageFormat::Raw), "a character device"),
        (
            "/nonexistent/base.raw",
            Some(&ImageFormat::Raw),
            "cannot be read",
        ),
    ];
    for (name, format, expected) in cases {
        let got = why(&link(name, *format)).unwrap_or_default();
        assert!(got.contains(expected), "{name}: {got:?}");
    }
    let fifo = fifo.to_str().unwrap();
    assert!(
        why(&link(fifo, Some(&ImageFormat::Raw)))
            .unwrap()
            .contains("a FIFO")
    );
    let dirname = dir.path().to_str().unwrap();
    assert!(
        why(&link(dirname, Some(&ImageFormat::Raw)))
            .unwrap()
            .contains("a directory")
    );
    assert_eq!(
        why(&link(base.to_str().unwrap(), Some(&ImageFormat::Raw))),
        None
    );
    let data = Link {
        kind: LinkKind::DataFile,
        ..link(base.to_str().unwrap(), None)
    };
    assert!(why(&data).unwrap().contains("external data file"));
}

#[test]
fn resolves_like_qemu() {
    let top = Path::new("/img/sub/top.qcow2");
    assert_eq!(resolve(top, "base.raw"), Path::new("/img/sub/base.raw"));
    assert_eq!(
        resolve(top, "./b/base.raw"),
        Path::new("/img/sub/b/base.raw")
    );
    assert_eq!(resolve(top, "/abs.raw"), Path::new("/abs.raw"));
    assert_eq!(resolve(Path::new("top.qcow2"), "b.raw"), Path::new("b.raw"));
    assert_eq!(protocol("C:/x"), Some("C"));
    assert_eq!(protocol("/a:b"), None);
    assert_eq!(protocol("dir/a:b"), None);
}

fn qemu_img(args: &[&str]) {
    Command::new("qemu-img").args(args).run_checked().unwrap();
}

#[test]
fn walks_real_chains() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    std::fs::write(p("base.raw"), vec![0u8; 1 << 20]).unwrap();
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        "base.raw",
        &p("mid.qcow2"),
    ]);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        &p("mid.qcow2"),
        &p("top.qcow2"),
    ]);

    let (info, chain) = examine(Path::new(&p("base.raw")), false).unwrap();
    assert_eq!((info.format.as_str(), chain.layers.len()), ("raw", 1));

    let msg = format!(
        "{:#}",
        examine(Path::new(&p("top.qcow2")), false).unwrap_err()
    );
    let shown = format!(
        "{} (qcow2) -> {} (qcow2) -> {} (raw)",
        p("top.qcow2"),
        p("mid.qcow2"),
        p("base.raw")
    );
    assert!(msg.contains(&shown), "{msg}");
    assert!(msg.contains("--allow-backing-file") && msg.contains("qemu-img convert -O qcow2"));

    let (_, chain) = examine(Path::new(&p("top.qcow2")), true).unwrap();
    assert_eq!(chain.to_string(), shown);

    // An external data file is refused from the header, before qemu opens it.
    let data = format!("data_file={}", p("data.raw"));
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &data,
        &p("dat.qcow2"),
        "1M",
    ]);
    assert!(qcow2_declares_data_file(Path::new(&p("dat.qcow2"))));
    let msg = format!(
        "{:#}",
        examine(Path::new(&p("dat.qcow2")), true).unwrap_err()
    );
    assert!(msg.contains("external data file"), "{msg}");
}
