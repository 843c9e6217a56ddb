//! OpenStack Swift: the real Swift (PyPI `swift`: proxy, account,
//! container and object servers) behind the real Keystone v3, the account
//! read from a clouds.yaml. A small segment size makes the upload a
//! Static Large Object; refused credentials and a missing container leave
//! nothing behind.

use std::path::Path;

use reqwest::blocking::Client;
use serde_json::Value;
use snf_image_creator::cloud::clients::keystone;
use snf_image_creator::cloud::config::clouds_yaml;
use snf_image_creator::cloud::http::Http;

use super::lab::*;
use crate::support::*;

/// The demo account of the lab's Keystone, as clouds.yaml says it.
fn clouds_yaml(keystone: &str, password: &str) -> String {
    format!(
        "clouds:\n  lab:\n    auth:\n      auth_url: {keystone}/v3\n      username: demo\n      password: {password}\n      project_name: demo\n      user_domain_id: default\n      project_domain_id: default\n    region_name: RegionOne\n"
    )
}

/// The demo project's token and storage URL, through our Keystone client.
fn demo_account(yaml: &str) -> (String, String) {
    let cloud = clouds_yaml::parse(yaml, "lab").unwrap().unwrap();
    let session = keystone::token(&Http::new().unwrap(), &cloud)
        .unwrap()
        .expect("a token");
    let storage = session.endpoint(&cloud, "object-store").unwrap();
    (session.token.expose().to_owned(), storage)
}

/// `snf-image-creator upload -c swift:lab ARGS… FILE` with segments of
/// `segment` bytes.
fn upload_to(cfg: &Path, segment: &str, img: &Path, extra: &[&str]) -> Run {
    run(creator()
        .env("OS_CLIENT_CONFIG_FILE", cfg)
        .env("SNF_SWIFT_SEGMENT_SIZE", segment)
        .args(["upload", "-c", "swift:lab"])
        .args(extra)
        .arg(img))
}

struct Account {
    token: String,
    storage: String,
    http: Client,
}

impl Account {
    fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.http
            .get(format!("{}/{path}", self.storage))
            .header("X-Auth-Token", &self.token)
            .send()
            .unwrap()
    }

    /// The object names of a container (empty when it does not exist).
    fn list(&self, container: &str) -> Vec<String> {
        let r = self.get(&format!("{container}?format=json"));
        if r.status() == 404 {
            return Vec::new();
        }
        let v: Value = r.json().unwrap();
        let names = v.as_array().unwrap().iter();
        names
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[test]
fn swift_behind_keystone_gets_a_static_large_object_and_its_side_files() {
    let dir = scratch();
    let (kport, sport) = (free_port(), free_port());
    let keystone_url = format!("http://127.0.0.1:{kport}");
    let swift_url = format!("http://127.0.0.1:{sport}");
    let _ks = LabServer::start(
        "start-keystone.sh",
        &dir.path().join("ks"),
        &[&kport.to_string(), "http://127.0.0.1:9", &swift_url],
    );
    let _sw = LabServer::start(
        "start-swift.sh",
        &dir.path().join("sw"),
        &[&sport.to_string(), &keystone_url],
    );
    let good = clouds_yaml(&keystone_url, "demo");
    let (token, storage) = demo_account(&good);
    assert!(storage.starts_with(&swift_url), "catalog: {storage}");
    let acct = Account {
        token,
        storage,
        http: Client::new(),
    };
    let made = acct
        .http
        .put(format!("{}/images", acct.storage))
        .header("X-Auth-Token", &acct.token)
        .send()
        .unwrap();
    assert!(made.status().is_success(), "creating the container");
    let img = dir.path().join("s.diskdump");
    make_file(
        &img,
        &[Fill::Random(81), Fill::Zero, Fill::Random(82)],
        12345,
    );

    // Refused credentials, a container that is not there: one line, exit
    // 1, nothing stored.
    let bad_cfg = dir.path().join("bad.yaml");
    std::fs::write(&bad_cfg, clouds_yaml(&keystone_url, "not-the-password")).unwrap();
    let r = upload_to(&bad_cfg, "4M", &img, &["-r", "S"]);
    r.assert_error(1, "authentication at");
    assert!(!r.stderr.contains("not-the-password"), "{}", r.stderr);
    let cfg = dir.path().join("clouds.yaml");
    std::fs::write(&cfg, &good).unwrap();
    let r = upload_to(&cfg, "4M", &img, &["-r", "S", "--container", "nope"]);
    r.assert_error(1, "container nope does not exist in cloud lab");
    assert!(acct.list("images").is_empty() && acct.list("images_segments").is_empty());
    assert!(acct.list("nope_segments").is_empty() && acct.list("nope").is_empty());

    // 4 MiB segments: 4 of them, the last one short.
    let r = upload_to(
        &cfg,
        "4M",
        &img,
        &["-r", "Swift image", "-m", "OSFAMILY=linux"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Uploading segments ... 4 segments"),
        "{}",
        r.stderr
    );
    let back = acct.get("images/s.diskdump");
    assert_eq!(back.headers()["X-Static-Large-Object"], "True");
    assert!(
        back.bytes().unwrap().as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "Swift gives other bytes back"
    );
    let segments = acct.list("images_segments");
    assert_eq!(segments.len(), 4, "{segments:?}");
    assert!(segments[0].starts_with("s.diskdump/slo/"), "{segments:?}");
    let md5 = acct.get("images/s.diskdump.md5sum").text().unwrap();
    assert_eq!(md5, format!("{}  s.diskdump\n", md5_file(&img)));
    let meta: Value = acct.get("images/s.diskdump.meta").json().unwrap();
    assert_eq!(meta["name"], "Swift image");
    assert_eq!(meta["size"], std::fs::metadata(&img).unwrap().len());
    assert_eq!(meta["properties"]["OSFAMILY"], "linux");
    assert_eq!(json(&r.stdout)["location"], meta["location"]);

    // Replaced with -f by one plain object (the image is smaller than a
    // 16 MiB segment): the old segments are deleted.
    let r = upload_to(&cfg, "16M", &img, &["-f", "-r", "Swift image"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Uploading image data ... done"),
        "{}",
        r.stderr
    );
    assert_eq!(acct.list("images_segments"), Vec::<String>::new());
    let back = acct.get("images/s.diskdump");
    assert!(!back.headers().contains_key("X-Static-Large-Object"));
    assert!(
        back.bytes().unwrap().as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "Swift gives other bytes back"
    );
    let listed = run(creator().env("OS_CLIENT_CONFIG_FILE", &cfg).args([
        "images",
        "show",
        "Swift image",
        "-c",
        "swift:lab",
    ]));
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(json(&listed.stdout)["location"], meta["location"]);
}
