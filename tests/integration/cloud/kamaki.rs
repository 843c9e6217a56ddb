//! Interoperability with the real Synnefo client, kamaki 0.16 (Python 2),
//! against our `serve`: kamaki uploads and registers, and our `images`
//! sees the image; we upload, and kamaki downloads identical bytes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::lab::*;
use crate::support::*;
use snf_image_creator::cloud::Secret;
use snf_image_creator::cloud::config::kamakirc::{CloudAccount, KamakiConfig};

/// The cloud-lab cache directory the install scripts fill.
pub fn cloudlab() -> PathBuf {
    std::env::var_os("SNF_CLOUDLAB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/snf-cloudlab"))
}

/// Install kamaki (a no-op when it is there); fail loudly otherwise.
fn kamaki_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cloudlab/install-kamaki.sh");
        let out = Command::new(&script)
            .output()
            .expect("running install-kamaki.sh");
        assert!(
            out.status.success(),
            "scripts/cloudlab/install-kamaki.sh failed: the kamaki tests need kamaki 0.16\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cloudlab().join("kamaki-0.16")
    })
}

/// kamaki with a configuration file (written by our writer) for `srv`.
pub(super) fn kamaki(cfg: &Path, args: &[&str]) -> Run {
    let dir = kamaki_dir();
    let python = std::env::var("PYTHON2")
        .unwrap_or_else(|_| "/root/.pyenv/versions/2.7.18/bin/python".into());
    run(Command::new(python)
        .arg(dir.join("bin/kamaki"))
        .args(args)
        .env("PYTHONPATH", dir)
        .env("KAMAKI_CONFIG", cfg)
        .env("HOME", cfg.parent().unwrap()))
}

fn config_for(srv: &Serve, dir: &Path) -> PathBuf {
    let path = dir.join("kamakirc");
    let mut cfg = KamakiConfig::default();
    cfg.add_cloud(&CloudAccount {
        name: "lab".into(),
        url: srv.url.clone(),
        token: Secret::new(srv.token.clone()),
        description: Some("test server".into()),
    })
    .unwrap();
    cfg.save(&path).unwrap();
    path
}

#[test]
fn kamaki_uploads_and_we_see_the_image() {
    let dir = scratch();
    let store = store_dir(dir.path());
    let srv = Serve::start(&store, dir.path());
    let cfg = config_for(&srv, dir.path());
    let img = dir.path().join("k.diskdump");
    make_file(&img, &[Fill::Random(21), Fill::Zero, Fill::Random(22)], 77);

    let mk = kamaki(&cfg, &["container", "create", "images"]);
    assert_eq!(
        mk.code, 0,
        "kamaki container create:\n{}\n{}",
        mk.stdout, mk.stderr
    );
    let up = kamaki(&cfg, &["file", "upload", s(&img), "/images/k.diskdump"]);
    assert_eq!(
        up.code, 0,
        "kamaki file upload:\n{}\n{}",
        up.stdout, up.stderr
    );
    let reg = kamaki(
        &cfg,
        &[
            "image",
            "register",
            "--name",
            "From kamaki",
            "--location",
            "/images/k.diskdump",
            "-p",
            "OSFAMILY=linux",
            "-p",
            "DESCRIPTION=Made by kamaki",
        ],
    );
    assert_eq!(
        reg.code, 0,
        "kamaki image register:\n{}\n{}",
        reg.stdout, reg.stderr
    );

    let show = run(creator().args(["images", "show", "From kamaki", "--store", s(&store)]));
    assert_eq!(show.code, 0, "{}", show.stderr);
    let v = json(&show.stdout);
    assert_eq!(v["properties"]["OSFAMILY"], "linux");
    assert_eq!(v["properties"]["DESCRIPTION"], "Made by kamaki");
    assert_eq!(v["size"], std::fs::metadata(&img).unwrap().len());
    let body = srv.get("images", "k.diskdump").bytes().unwrap();
    assert!(
        body.as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "kamaki's upload differs"
    );
    // And our client, through the same saved account, lists it.
    let ours = run(creator().env("KAMAKI_CONFIG", &cfg).args([
        "images",
        "show",
        "From kamaki",
        "-c",
        "lab",
    ]));
    let dbg = run(creator()
        .env("KAMAKI_CONFIG", &cfg)
        .args(["images", "list", "-c", "lab"]));
    assert_eq!(
        ours.code,
        0,
        "{}\n{}\n{}\n{}",
        ours.stderr,
        dbg.stdout,
        dbg.stderr,
        std::fs::read_to_string(&cfg).unwrap()
    );
    assert_eq!(json(&ours.stdout)["id"], v["id"]);
}

#[test]
fn we_upload_and_kamaki_downloads_identical_bytes() {
    let dir = scratch();
    let srv = Serve::start(&store_dir(dir.path()), dir.path());
    let cfg = config_for(&srv, dir.path());
    let img = dir.path().join("ours.diskdump");
    make_file(
        &img,
        &[Fill::Random(31), Fill::Random(32), Fill::Zero],
        4321,
    );
    let r = run(creator()
        .env("KAMAKI_CONFIG", &cfg)
        .args(["upload", "-c", "lab", "-r", "Ours"])
        .arg(&img));
    assert_eq!(r.code, 0, "{}", r.stderr);

    let out = dir.path().join("downloaded");
    let dl = kamaki(
        &cfg,
        &["file", "download", "/images/ours.diskdump", s(&out)],
    );
    assert_eq!(
        dl.code, 0,
        "kamaki file download:\n{}\n{}",
        dl.stdout, dl.stderr
    );
    assert_eq!(
        sha256_file(&out),
        sha256_file(&img),
        "kamaki downloaded different bytes"
    );
    let info = kamaki(&cfg, &["image", "list"]);
    assert_eq!(
        info.code, 0,
        "kamaki image list:\n{}\n{}",
        info.stdout, info.stderr
    );
    assert!(info.stdout.contains("Ours"), "{}", info.stdout);
}
