//! S3: the real SeaweedFS (`weed mini`, which checks SigV4 and the 5 MiB
//! part minimum): a multipart upload, the metadata object next to the
//! image, and refused credentials.

use super::lab::*;
use crate::support::*;
use snf_image_creator::cloud::Secret;
use snf_image_creator::cloud::sigv4::{self, Credentials};

const ACCESS: &str = "AKIDSNFTEST";
const SECRET: &str = "SECRETSNFTEST";

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

#[test]
fn multipart_upload_to_seaweedfs() {
    let dir = scratch();
    let port = loop {
        let p = free_port();
        if p < 50_000 {
            break p;
        }
    };
    let _weed = LabServer::start(
        "start-seaweedfs.sh",
        &dir.path().join("weed"),
        &[&port.to_string(), ACCESS, SECRET],
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let made = s3("PUT", &endpoint, "/images");
    assert!(
        made.status().is_success(),
        "creating the bucket: {}",
        made.status()
    );

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
    let aws = |c: &mut std::process::Command| {
        c.env("AWS_ACCESS_KEY_ID", ACCESS)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("HOME", dir.path());
    };
    let mut cmd = creator();
    aws(&mut cmd);
    let r = run(cmd
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

    let mut cmd = creator();
    aws(&mut cmd);
    run(cmd.args(["upload", "-c", "s3:images"]).arg(&img)).assert_error(2, "already exists");
    let mut cmd = creator();
    aws(&mut cmd);
    let r = run(cmd
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        .args(["upload", "-c", "s3:images", "-f"])
        .arg(&img));
    r.assert_error(1, "refused");
    assert!(!r.stderr.contains("wrong-secret"), "{}", r.stderr);

    // A missing bucket: one line, before anything is sent.
    let mut cmd = creator();
    aws(&mut cmd);
    let r = run(cmd
        .args(["upload", "-c", "s3:nobucket", "-r", "X"])
        .arg(&img));
    r.assert_error(1, "bucket nobucket does not exist");
    assert!(!r.stderr.contains("Uploading"), "{}", r.stderr);
}
