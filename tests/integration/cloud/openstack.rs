//! OpenStack: the real Glance v2 (PyPI `glance`, gunicorn, sqlite, file
//! store) without auth, and once behind the real Keystone v3, with the
//! account read from a clouds.yaml.

use std::path::Path;

use super::lab::*;
use crate::support::*;

fn clouds_yaml(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("clouds.yaml");
    std::fs::write(&p, format!("clouds:\n  lab:\n{body}")).unwrap();
    p
}

fn upload_to(cfg: &Path, img: &Path, extra: &[&str]) -> Run {
    run(creator()
        .env("OS_CLIENT_CONFIG_FILE", cfg)
        .args(["upload", "-c", "openstack:lab"])
        .args(extra)
        .arg(img))
}

#[test]
fn glance_without_auth_gets_a_raw_image_with_properties() {
    let dir = scratch();
    let port = free_port();
    let _glance = LabServer::start(
        "start-glance.sh",
        &dir.path().join("glance"),
        &[&port.to_string(), "noauth"],
    );
    let url = format!("http://127.0.0.1:{port}");
    let cfg = clouds_yaml(
        dir.path(),
        &format!("    auth_type: none\n    image_endpoint_override: {url}\n"),
    );
    let img = dir.path().join("g.diskdump");
    make_file(&img, &[Fill::Random(41), Fill::Zero, Fill::Random(42)], 512);

    let r = upload_to(&cfg, &img, &["-r", "Glance image", "-m", "OSFAMILY=linux"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reg = json(&r.stdout);
    assert_eq!(reg["status"], "active");
    assert_eq!(reg["disk_format"], "raw");
    assert_eq!(reg["name"], "Glance image");
    assert_eq!(
        reg["checksum"],
        md5_file(&img).as_str(),
        "Glance's MD5 is the file's"
    );
    assert_eq!(reg["properties"]["OSFAMILY"], "linux");
    assert_eq!(reg["properties"]["snf_disk_format"], "diskdump");

    let data = reqwest::blocking::get(format!(
        "{url}/v2/images/{}/file",
        reg["id"].as_str().unwrap()
    ))
    .unwrap()
    .bytes()
    .unwrap();
    assert!(
        data.as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "Glance holds other bytes"
    );
    let show = run(creator().env("OS_CLIENT_CONFIG_FILE", &cfg).args([
        "images",
        "show",
        "Glance image",
        "-c",
        "openstack:lab",
    ]));
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(json(&show.stdout)["id"], reg["id"]);
}

#[test]
fn glance_behind_keystone() {
    let dir = scratch();
    let (kport, gport) = (free_port(), free_port());
    let glance_url = format!("http://127.0.0.1:{gport}");
    let keystone_url = format!("http://127.0.0.1:{kport}");
    let _ks = LabServer::start(
        "start-keystone.sh",
        &dir.path().join("ks"),
        &[&kport.to_string(), &glance_url],
    );
    let _gl = LabServer::start(
        "start-glance.sh",
        &dir.path().join("gl"),
        &[&gport.to_string(), &keystone_url],
    );
    let auth = |pw: &str| {
        format!(
            "    auth:\n      auth_url: {keystone_url}/v3\n      username: demo\n      password: {pw}\n      project_name: demo\n      user_domain_id: default\n      project_domain_id: default\n    region_name: RegionOne\n"
        )
    };
    let img = dir.path().join("k.diskdump");
    make_file(&img, &[Fill::Random(51)], 99);

    let bad = clouds_yaml(dir.path(), &auth("not-the-password"));
    let r = upload_to(&bad, &img, &["-r", "K"]);
    r.assert_error(1, "authentication at");
    assert!(!r.stderr.contains("not-the-password"), "{}", r.stderr);

    let good = clouds_yaml(dir.path(), &auth("demo"));
    let r = upload_to(&good, &img, &["-r", "Keystone image"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reg = json(&r.stdout);
    assert_eq!(reg["status"], "active");
    assert_eq!(reg["size"], std::fs::metadata(&img).unwrap().len());
    assert!(
        reg["location"].as_str().unwrap().starts_with(&glance_url),
        "the catalog's endpoint is used"
    );
}
