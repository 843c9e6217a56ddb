//! S3: the real SeaweedFS (`weed mini`, which checks SigV4 and the 5 MiB
//! part minimum): a multipart upload, the metadata object next to the
//! image, refused credentials, and `--public` (anonymous reads).

use super::lab::*;
use crate::support::*;
use snf_image_creator::cloud::Secret;
use snf_image_creator::cloud::clients::s3::sigv4::{self, Credentials};

pub(super) const ACCESS: &str = "AKIDSNFTEST";

/// `weed mini` binds ports of its own besides the ones it is given, so two
/// cannot run at once: the S3 tests take turns.
static ONE_WEED: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(super) fn one_weed() -> std::sync::MutexGuard<'static, ()> {
    ONE_WEED.lock().unwrap_or_else(|e| e.into_inner())
}
pub(super) const SECRET: &str = "SECRETSNFTEST";

/// A signed request to the S3 endpoint (to make the bucket, read back).
fn s3(method: &str, endpoint: &str, path: &str) -> reqwest::blocking::Response {
    let creds = Credentials {
        access_key: ACCESS.into(),
        secret_key: Secret::new(SECRET),
        session_token: None,
    };
    let host = endpoint.trim_start_matches("http://");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let empty = sigv4::sha256_hex(b"");
    let headers = sigv4::sign(
        &creds,
        "us-east-1",
        method,
        host,
        path,
        &[],
        &empty,
        &[],
        now,
    );
    let mut b = reqwest::blocking::Client::new()
        .request(method.parse().unwrap(), format!("{endpoint}{path}"));
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.send().unwrap()
}

/// A base port for `weed mini`, which binds it, the next three and their
/// gRPC ports 10000 higher: all eight below the kernel's ephemeral range
/// (32768 and up), from which every other test's `free_port()` comes, so
/// a lab server another test starts meanwhile cannot take one of them.
fn weed_base_port() -> u16 {
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let start = 20_000 + (std::process::id() % 600) as u16 * 4;
    (start..22_700)
        .chain(20_000..start)
        .step_by(4)
        .find(|&b| (0..4).all(|i| free(b + i) && free(b + 10_000 + i)))
        .expect("no free ports for SeaweedFS between 20000 and 32703")
}

/// A SeaweedFS on a free port with an `images` bucket, stopped when
/// dropped; its endpoint URL.
pub(super) fn seaweedfs(dir: &std::path::Path) -> (LabServer, String) {
    let port = weed_base_port();
    let weed = LabServer::start(
        "start-seaweedfs.sh",
        &dir.join("weed"),
        &[&port.to_string(), ACCESS, SECRET],
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let made = s3("PUT", &endpoint, "/images");
    assert!(
        made.status().is_success(),
        "creating the bucket: {}",
        made.status()
    );
    (weed, endpoint)
}

/// `snf-image-creator` with the S3 credentials and endpoint.
pub(super) fn creator_s3(endpoint: &str, home: &std::path::Path) -> std::process::Command {
    let mut c = creator();
    c.env("AWS_ACCESS_KEY_ID", ACCESS)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("HOME", home);
    c
}

/// An unsigned GET: its status and body.
fn anonymous_get(endpoint: &str, path: &str) -> (u16, Vec<u8>) {
    let r = reqwest::blocking::get(format!("{endpoint}{path}")).unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

#[test]
fn public_images_are_readable_anonymously_and_private_ones_are_not() {
    let _turn = one_weed();
    let dir = scratch();
    let (_weed, endpoint) = seaweedfs(dir.path());
    let private = dir.path().join("private.diskdump");
    make_file(&private, &[Fill::Random(71)], 100);
    // Over 8 MiB: a multipart upload, shared once complete.
    let public = dir.path().join("public.diskdump");
    make_file(
        &public,
        &[Fill::Random(72), Fill::Random(73), Fill::Zero],
        200,
    );

    let r = run(creator_s3(&endpoint, dir.path())
        .args(["upload", "-c", "s3:images", "-r", "Private"])
        .arg(&private));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r.stdout)["is_public"], false);
    let r = run(creator_s3(&endpoint, dir.path())
        .args(["upload", "-c", "s3:images", "-r", "Public", "--public"])
        .arg(&public));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r.stdout)["is_public"], true);
    assert!(
        r.stderr.contains("Sharing metadata file ... done"),
        "{}",
        r.stderr
    );

    let (status, body) = anonymous_get(&endpoint, "/images/public.diskdump");
    assert_eq!(status, 200, "the public image is not readable anonymously");
    assert!(
        body == std::fs::read(&public).unwrap(),
        "the anonymous read gave other bytes"
    );
    let (status, meta) = anonymous_get(&endpoint, "/images/public.diskdump.meta");
    assert_eq!(status, 200, "the public image's metadata is not readable");
    let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    assert_eq!(meta["name"], "Public");
    assert_eq!(meta["is_public"], true);
    let (status, md5) = anonymous_get(&endpoint, "/images/public.diskdump.md5sum");
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(md5).unwrap(),
        format!("{}  public.diskdump\n", md5_file(&public))
    );

    // Without --public, nothing is readable without the keys, even after
    // another image of the bucket was made public.
    for key in [
        "private.diskdump",
        "private.diskdump.meta",
        "private.diskdump.md5sum",
    ] {
        let (status, _) = anonymous_get(&endpoint, &format!("/images/{key}"));
        assert_eq!(status, 403, "{key} is readable anonymously");
        let signed = s3("GET", &endpoint, &format!("/images/{key}"));
        assert_eq!(signed.status().as_u16(), 200, "{key} with the keys");
    }
}

#[test]
fn multipart_upload_to_seaweedfs() {
    let _turn = one_weed();
    let dir = scratch();
    let (_weed, endpoint) = seaweedfs(dir.path());

    let img = dir.path().join("s.diskdump");
    // 5 × 4 MiB + a tail: three 8 MiB parts.
    make_file(
        &img,
        &[
            Fill::Random(61),
            Fill::Random(62),
            Fill::Zero,
            Fill::Random(63),
            Fill::Random(64),
        ],
        3333,
    );
    let cmd = || creator_s3(&endpoint, dir.path());
    let r = run(cmd()
        .args([
            "upload",
            "-c",
            "s3:images",
            "-r",
            "S3 image",
            "-m",
            "OSFAMILY=linux",
        ])
        .arg(&img));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Uploading parts ... 3 parts"),
        "{}",
        r.stderr
    );
    let back = s3("GET", &endpoint, "/images/s.diskdump").bytes().unwrap();
    assert!(
        back.as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "S3 holds other bytes"
    );
    let meta: serde_json::Value = serde_json::from_slice(
        &s3("GET", &endpoint, "/images/s.diskdump.meta")
            .bytes()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(meta["name"], "S3 image");
    assert_eq!(meta["properties"]["OSFAMILY"], "linux");
    let md5 = s3("GET", &endpoint, "/images/s.diskdump.md5sum")
        .text()
        .unwrap();
    assert_eq!(md5, format!("{}  s.diskdump\n", md5_file(&img)));

    run(cmd().args(["upload", "-c", "s3:images"]).arg(&img)).assert_error(2, "already exists");
    let r = run(cmd()
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        .args(["upload", "-c", "s3:images", "-f"])
        .arg(&img));
    r.assert_error(1, "refused");
    assert!(!r.stderr.contains("wrong-secret"), "{}", r.stderr);

    // A missing bucket: one line, before anything is sent.
    let r = run(cmd()
        .args(["upload", "-c", "s3:nobucket", "-r", "X"])
        .arg(&img));
    r.assert_error(1, "bucket nobucket does not exist");
    assert!(!r.stderr.contains("Uploading"), "{}", r.stderr);
}
