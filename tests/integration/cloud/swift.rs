//! OpenStack Swift: the real Swift (PyPI `swift`: proxy, account,
//! container and object servers) behind the real Keystone v3, the account
//! read from a clouds.yaml, and the real Glance (multi-tenant Swift
//! store) registering the object where it is. The catalog's object store
//! is a fault-injecting proxy in front of Swift. A small segment size
//! makes the upload a Static Large Object; a segment refused once is
//! retried; one refused every time, refused credentials and a missing
//! container leave nothing behind.

use std::path::Path;

use reqwest::blocking::Client;
use serde_json::Value;
use snf_image_creator::cloud::clients::keystone;
use snf_image_creator::cloud::config::clouds_yaml;
use snf_image_creator::cloud::http::Http;

use super::lab::*;
use super::request_proxy::{Fault, Proxy};
use crate::support::*;

/// The demo account of the lab's Keystone, as clouds.yaml says it (cloud
/// `lab`, with the glance service account as its `service_cloud`, and
/// `plain`, without).
fn clouds_yaml(keystone: &str, password: &str) -> String {
    let account = |user: &str, pw: &str, project: &str| {
        format!(
            "    auth:\n      auth_url: {keystone}/v3\n      username: {user}\n      password: {pw}\n      project_name: {project}\n      user_domain_id: default\n      project_domain_id: default\n    region_name: RegionOne\n"
        )
    };
    format!(
        "clouds:\n  lab:\n    service_cloud: svc\n{}  plain:\n{}  svc:\n{}",
        account("demo", password, "demo"),
        account("demo", password, "demo"),
        account("glance", "service", "service")
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

/// The lab: Keystone, Swift behind a fault-injecting proxy (the
/// catalog's object store), Glance with a Swift store.
struct Lab {
    _servers: [LabServer; 3],
    keystone: String,
    glance: String,
    glance_images: std::path::PathBuf,
    proxy: Proxy,
}

fn start_lab(dir: &Path) -> Lab {
    // The proxy listens first, so that no free port picked next is its.
    let sport = free_port();
    let proxy = Proxy::start(sport);
    let (kport, gport) = (free_port(), free_port());
    let keystone = format!("http://127.0.0.1:{kport}");
    let glance = format!("http://127.0.0.1:{gport}");
    let ks = LabServer::start(
        "start-keystone.sh",
        &dir.join("ks"),
        &[
            &kport.to_string(),
            &glance,
            &format!("http://127.0.0.1:{}", proxy.port),
        ],
    );
    let sw = LabServer::start(
        "start-swift.sh",
        &dir.join("sw"),
        &[&sport.to_string(), &keystone],
    );
    let gl = LabServer::start(
        "start-glance.sh",
        &dir.join("gl"),
        &[&gport.to_string(), &keystone, "swift"],
    );
    Lab {
        _servers: [ks, sw, gl],
        keystone,
        glance,
        glance_images: dir.join("gl/images"),
        proxy,
    }
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

    /// The listing of `container` once `settled` holds for it (Swift may
    /// update a listing a moment after the objects changed), else the
    /// last one after 10 s.
    fn listing(&self, container: &str, settled: impl Fn(&[String]) -> bool) -> Vec<String> {
        let mut names = self.list(container);
        for _ in 0..20 {
            if settled(&names) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            names = self.list(container);
        }
        names
    }

    /// `GET GLANCE/v2/PATH` with the demo token.
    fn glance(&self, glance: &str, path: &str) -> reqwest::blocking::Response {
        self.http
            .get(format!("{glance}/v2/{path}"))
            .header("X-Auth-Token", &self.token)
            .send()
            .unwrap()
    }

    /// Glance's image `id` once it has its hash (computed after it became
    /// active).
    fn hashed_image(&self, glance: &str, id: &str) -> Value {
        for _ in 0..120 {
            let v: Value = self.glance(glance, &format!("images/{id}")).json().unwrap();
            if v["os_hash_value"].is_string() {
                return v;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        panic!("Glance did not hash image {id}");
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

fn sha512_file(path: &Path) -> String {
    use sha2::{Digest, Sha512};
    let data = std::fs::read(path).unwrap();
    Sha512::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn swift_behind_keystone_gets_a_static_large_object_and_its_side_files() {
    let dir = scratch();
    let lab = start_lab(dir.path());
    let good = clouds_yaml(&lab.keystone, "demo");
    let (token, storage) = demo_account(&good);
    let proxy_url = format!("http://127.0.0.1:{}", lab.proxy.port);
    assert!(storage.starts_with(&proxy_url), "catalog: {storage}");
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
    std::fs::write(&bad_cfg, clouds_yaml(&lab.keystone, "not-the-password")).unwrap();
    let r = upload_to(&bad_cfg, "4M", &img, &["-r", "S"]);
    r.assert_error(1, "authentication at");
    assert!(!r.stderr.contains("not-the-password"), "{}", r.stderr);
    let cfg = dir.path().join("clouds.yaml");
    std::fs::write(&cfg, &good).unwrap();
    let r = upload_to(&cfg, "4M", &img, &["-r", "S", "--container", "nope"]);
    r.assert_error(1, "container nope does not exist in cloud lab");
    assert!(acct.list("images").is_empty() && acct.list("images_segments").is_empty());
    assert!(acct.list("nope_segments").is_empty() && acct.list("nope").is_empty());

    // 4 MiB segments: 4 of them, the last one short; the second one is
    // refused once (503) and sent again.
    lab.proxy.take_log();
    lab.proxy.set(Fault::Once("/00000001".into()));
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
    let seg2: Vec<String> = lab
        .proxy
        .take_log()
        .into_iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/00000001 "))
        .collect();
    assert!(
        seg2.len() == 2 && seg2[0].ends_with("-> 503") && seg2[1].ends_with("-> passed"),
        "segment 2: one refusal, one retry: {seg2:?}"
    );
    assert!(
        r.stderr.contains("HTTP 503") && r.stderr.contains("retrying"),
        "{}",
        r.stderr
    );
    let back = acct.get("images/s.diskdump");
    assert_eq!(back.headers()["X-Static-Large-Object"], "True");
    assert!(
        back.bytes().unwrap().as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "Swift gives other bytes back"
    );
    let segments = acct.listing("images_segments", |l| l.len() == 4);
    assert_eq!(segments.len(), 4, "{segments:?}");
    assert!(segments[0].starts_with("s.diskdump/slo/"), "{segments:?}");
    let md5 = acct.get("images/s.diskdump.md5sum").text().unwrap();
    assert_eq!(md5, format!("{}  s.diskdump\n", md5_file(&img)));
    let meta: Value = acct.get("images/s.diskdump.meta").json().unwrap();
    assert_eq!(meta["name"], "Swift image");
    assert_eq!(meta["size"], std::fs::metadata(&img).unwrap().len());
    assert_eq!(meta["properties"]["OSFAMILY"], "linux");
    assert_eq!(json(&r.stdout)["location"], meta["location"]);

    // The registration is a Glance image whose data is the Swift object:
    // active, hashed by Glance, downloadable, and no copy in Glance's own
    // store.
    let id = meta["id"].as_str().unwrap();
    assert_eq!(meta["status"], "active");
    let g = acct.hashed_image(&lab.glance, id);
    assert_eq!(g["name"], "Swift image");
    assert_eq!(g["size"], std::fs::metadata(&img).unwrap().len());
    assert_eq!(g["checksum"], md5_file(&img).as_str());
    assert_eq!(g["os_hash_algo"], "sha512");
    assert_eq!(g["os_hash_value"], sha512_file(&img).as_str());
    assert_eq!(g["OSFAMILY"], "linux");
    let data = acct.glance(&lab.glance, &format!("images/{id}/file"));
    let fetched = dir.path().join("from-glance");
    std::fs::write(&fetched, data.bytes().unwrap()).unwrap();
    assert_eq!(
        sha256_file(&fetched),
        sha256_file(&img),
        "Glance gives other bytes"
    );
    let copies = std::fs::read_dir(&lab.glance_images).unwrap().count();
    assert_eq!(copies, 0, "Glance copied the data into its own store");

    // Without the service role, Glance refuses the location: one line,
    // and no Glance image is left.
    let small = dir.path().join("n.diskdump");
    make_file(&small, &[], 999);
    let r = run(creator()
        .env("OS_CLIENT_CONFIG_FILE", &cfg)
        .args(["upload", "-c", "swift:plain", "-r", "No service"])
        .arg(&small));
    r.assert_error(1, "`service' role");
    let named: Value = acct
        .glance(&lab.glance, "images?name=No%20service")
        .json()
        .unwrap();
    assert_eq!(named["images"], serde_json::json!([]), "{named}");

    // Replaced with -f by one plain object (the image is smaller than a
    // 16 MiB segment): the old segments are deleted.
    let r = upload_to(&cfg, "16M", &img, &["-f", "-r", "Swift image"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Uploading image data ... done"),
        "{}",
        r.stderr
    );
    let segments = acct.listing("images_segments", <[String]>::is_empty);
    assert_eq!(segments, Vec::<String>::new());
    let back = acct.get("images/s.diskdump");
    assert!(!back.headers().contains_key("X-Static-Large-Object"));
    assert!(
        back.bytes().unwrap().as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "Swift gives other bytes back"
    );
    let meta: Value = acct.get("images/s.diskdump.meta").json().unwrap();
    let listed = run(creator().env("OS_CLIENT_CONFIG_FILE", &cfg).args([
        "images",
        "show",
        meta["id"].as_str().unwrap(),
        "-c",
        "swift:lab",
    ]));
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(json(&listed.stdout)["location"], meta["location"]);

    // A segment refused every time: one line naming it and the status,
    // exit 1, no segment or manifest left (each segment sent is gone, and
    // the listings, which Swift may update a moment later, say so).
    lab.proxy.set(Fault::Always("/00000002".into()));
    lab.proxy.take_log();
    let other = dir.path().join("p.diskdump");
    std::fs::copy(&img, &other).unwrap();
    let r = upload_to(&cfg, "4M", &other, &["-r", "Never"]);
    r.assert_error(1, "HTTP 503");
    let line = r.stderr.lines().find(|l| l.starts_with("Error:")).unwrap();
    assert!(
        line.contains("p.diskdump/slo/") && line.contains("/00000002"),
        "{line}"
    );
    let sent: Vec<String> = lab
        .proxy
        .take_log()
        .into_iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/images_segments/p.diskdump/slo/"))
        .filter_map(|l| Some(l.split_whitespace().nth(1)?.to_owned()))
        .collect();
    assert!(sent.len() >= 5, "4 segments and the retries: {sent:?}");
    for path in &sent {
        let head = acct
            .http
            .head(format!("{proxy_url}{path}"))
            .header("X-Auth-Token", &acct.token)
            .send()
            .unwrap();
        assert_eq!(head.status().as_u16(), 404, "{path} is left");
    }
    let head = acct.get("images/p.diskdump");
    assert_eq!(head.status().as_u16(), 404, "a manifest is left");
    let gone = |l: &[String]| l.iter().all(|n| !n.starts_with("p.diskdump"));
    let left = (
        acct.listing("images_segments", gone),
        acct.listing("images", gone),
    );
    let mine = |l: Vec<String>| -> Vec<String> {
        l.into_iter()
            .filter(|n| n.starts_with("p.diskdump"))
            .collect()
    };
    let left = (mine(left.0), mine(left.1));
    assert_eq!(left, (vec![], vec![]), "Swift's listings");
    lab.proxy.set(Fault::None);
}
