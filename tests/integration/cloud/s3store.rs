//! The image store on S3 (`--store s3://images/team`) on the real
//! SeaweedFS: one `snf-mkimage -r` of the Debian fixture registers version
//! 1 (manifest, packages, report), then export, import as versions 2…,
//! two imports at once (each its own version: conditional writes), tags,
//! channels, files, diff, report, an export→import round trip into another
//! prefix, rm and gc; bad store URLs, a missing bucket and wrong or missing
//! credentials are one line with their exit code and the store unchanged.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::lab::{json, s};
use super::s3::{ACCESS, SECRET, one_weed, seaweedfs};
use crate::support::{Run, creator, fixture, mkimage, run, scratch};
use snf_image_creator::cloud::Secret;
use snf_image_creator::cloud::clients::s3::{S3Backend, S3Target, sigv4::Credentials};

const STORE: &str = "s3://images/team";

/// The S3 environment the upload target reads, on `cmd`.
fn s3_env(mut cmd: Command, endpoint: &str, home: &Path) -> Command {
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("HOME", home);
    cmd
}

struct Lab<'a> {
    endpoint: &'a str,
    home: &'a Path,
}

impl Lab<'_> {
    fn images(&self, store: &str, args: &[&str]) -> Command {
        let mut c = s3_env(creator(), self.endpoint, self.home);
        c.arg("images").args(args).args(["--store", store]);
        c
    }

    fn ok(&self, store: &str, args: &[&str]) -> String {
        let r = run(&mut self.images(store, args));
        assert_eq!(r.code, 0, "images {args:?}: {}", r.stderr);
        r.stdout
    }

    /// Every key under `prefix` with the content of each that is not a block.
    fn snapshot(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let s3 = S3Backend::new(S3Target {
            bucket: "images".into(),
            endpoint: self.endpoint.into(),
            region: "us-east-1".into(),
            creds: Credentials {
                access_key: ACCESS.into(),
                secret_key: Secret::new(SECRET),
                session_token: None,
            },
        })
        .unwrap();
        let keys = s3.list_objects(prefix, "").unwrap().keys;
        (keys.into_iter())
            .map(|(k, _)| {
                let data = match k.contains("/blocks/") {
                    true => Vec::new(),
                    false => s3.get_object(&k).unwrap().unwrap().0,
                };
                (k, data)
            })
            .collect()
    }
}

/// One line on stderr, the exit code `code`.
fn refused(r: &Run, code: i32, says: &str) {
    assert_eq!(r.code, code, "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(says), "wanted `{says}': {}", r.stderr);
}

#[test]
fn store_on_seaweedfs_versions_bundles_and_concurrent_registrations() {
    let _turn = one_weed();
    let (src, _) = fixture("debian-mbr.qcow2");
    let dir = scratch();
    let (_weed, endpoint) = seaweedfs(dir.path());
    let lab = Lab {
        endpoint: &endpoint,
        home: dir.path(),
    };
    let t = std::time::Instant::now();
    let v1 = dir.path().join("v1.diskdump");
    let r = run(s3_env(mkimage(), &endpoint, dir.path())
        .args(["--store", STORE, "-u", "debian.diskdump", "-r", "Debian"])
        .args(["--channel", "test", "-o", s(&v1)])
        .arg(&src));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r.stdout)["properties"]["VERSION"], "1");
    eprintln!("cost: mkimage into S3 {:.1} s", t.elapsed().as_secs_f64());

    let files = lab.ok(STORE, &["files", "Debian@1", "^/etc/motd$"]);
    assert_eq!(files.lines().count(), 1, "{files}");
    let report = json(&lab.ok(STORE, &["report", "Debian@1", "--json"]));
    assert_eq!(report["version"], 1);

    let bundle = dir.path().join("debian.tar");
    lab.ok(STORE, &["export", "Debian@1", "-o", s(&bundle)]);
    let v2 = json(&lab.ok(STORE, &["import", s(&bundle)]));
    assert_eq!(v2["properties"]["VERSION"], "2");
    concurrent_imports(&lab, &bundle);

    let diff = json(&lab.ok(STORE, &["diff", "Debian@1", "Debian@2", "--json"]));
    for k in ["added", "removed", "changed"] {
        assert_eq!(diff["diff"][k], serde_json::json!([]), "{diff:#}");
    }
    channels_and_tags(&lab);
    round_trip(&lab, &bundle, &v1, dir.path());
    lab.ok(STORE, &["rm", "Debian@4"]);
    lab.ok(STORE, &["gc"]);
    let shown = json(&lab.ok(STORE, &["show", "Debian"]));
    assert_eq!(shown["properties"]["VERSION"], "3");
    bad_stores(&lab);
}

/// Two processes importing into the same name at once: versions 3 and 4.
fn concurrent_imports(lab: &Lab, bundle: &Path) {
    let spawn = || {
        (lab.images(STORE, &["import", s(bundle)]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut got: Vec<String> = [a, b]
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{err}");
            let v = json(&String::from_utf8_lossy(&out.stdout));
            v["properties"]["VERSION"].as_str().unwrap().to_owned()
        })
        .collect();
    got.sort();
    assert_eq!(got, ["3", "4"]);
    let listed = json(&lab.ok(STORE, &["list", "--json"]));
    let names = listed["names"].as_array().unwrap();
    assert_eq!(names[0]["versions"], 4, "{listed:#}");
}

fn channels_and_tags(lab: &Lab) {
    lab.ok(STORE, &["tag", "Debian@2", "candidate"]);
    lab.ok(STORE, &["promote", "Debian@1", "--channel", "production"]);
    let prod = json(&lab.ok(STORE, &["show", "Debian:production"]));
    assert_eq!(prod["properties"]["VERSION"], "1");
    let cand = json(&lab.ok(STORE, &["show", "Debian:candidate"]));
    assert_eq!(cand["properties"]["VERSION"], "2");
    let before = lab.snapshot("team/");
    let r = run(&mut lab.images(STORE, &["promote", "Debian@3", "--channel", "production"]));
    refused(&r, 2, "test");
    let r = run(&mut lab.images(STORE, &["tag", "Debian@9", "x"]));
    refused(&r, 1, "has no version 9");
    assert!(
        lab.snapshot("team/") == before,
        "a refusal changed the store"
    );
}

/// Import the bundle into another prefix: the same `show` and `files`,
/// and its export holds the same image bytes.
fn round_trip(lab: &Lab, bundle: &Path, image: &Path, dir: &Path) {
    const COPY: &str = "s3://images/copy";
    lab.ok(COPY, &["import", s(bundle)]);
    let shown = |store: &str| {
        let mut v: Value = json(&lab.ok(store, &["show", "Debian@1"]));
        let obj = v.as_object_mut().unwrap();
        for k in ["id", "owner", "location", "created_at", "updated_at"] {
            obj.remove(k);
        }
        let props = obj["properties"].as_object_mut().unwrap();
        props.remove("TAGS");
        props.remove("CHANNELS");
        v
    };
    assert_eq!(shown(COPY), shown(STORE));
    let files = |store: &str| lab.ok(store, &["files", "Debian@1"]);
    assert!(files(COPY) == files(STORE), "`images files' differs");
    let again = dir.join("again.tar");
    lab.ok(COPY, &["export", "Debian@1", "-o", s(&again)]);
    let disk = Command::new("tar")
        .args(["-xOf", s(&again), "debian.diskdump"])
        .output()
        .unwrap();
    assert!(
        disk.stdout == std::fs::read(image).unwrap(),
        "the image read back from S3 differs from the exported one"
    );
}

/// A bad URL and missing credentials are usage errors; a missing bucket
/// and refused credentials runtime errors; none changes the store.
fn bad_stores(lab: &Lab) {
    let before = lab.snapshot("team/");
    let r = run(&mut lab.images("s3://No_Such", &["list"]));
    refused(&r, 2, "s3://BUCKET");
    let r = run(&mut lab.images("s3://missing-bucket/x", &["list"]));
    refused(&r, 1, "missing-bucket");
    let r = run(lab
        .images(STORE, &["tag", "Debian@1", "x"])
        .env("AWS_SECRET_ACCESS_KEY", "wrong"));
    refused(&r, 1, "credentials");
    let r = run(lab
        .images(STORE, &["tag", "Debian@1", "x"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY"));
    refused(&r, 2, "no S3 credentials");
    assert!(
        lab.snapshot("team/") == before,
        "a refusal changed the store"
    );
}
