//! Our Synnefo client against our real `serve` on 127.0.0.1: hashmap
//! upload with dedupe, registration, sharing, listing through Plankton,
//! a refused token, and an upload killed midway and resumed.

use std::time::{Duration, Instant};

use super::lab::*;
use crate::support::*;

#[test]
fn upload_register_and_read_back_over_http() {
    let dir = scratch();
    let store = store_dir(dir.path());
    let srv = Serve::start(&store, dir.path());
    let img = dir.path().join("img.diskdump");
    use Fill::*;
    make_file(&img, &[Random(7), Zero, Zero, Random(8), Random(7)], 1000);
    let acct = ["-a", srv.url.as_str(), "-t", srv.token.as_str()];

    let r = upload(
        &[
            &[s(&img), "-r", "Served", "--public", "-m", "OSFAMILY=linux"][..],
            &acct,
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(blocks_sent(&r.stderr), (4, 6), "{}", r.stderr);
    let reg = json(&r.stdout);
    assert_eq!(reg["properties"]["OSFAMILY"], "linux");
    assert_eq!(reg["is_public"], true);
    assert_eq!(reg["owner"], srv.account.as_str());

    // The object reads back identical over HTTP; the side files are shared.
    let body = srv.get("images", "img.diskdump").bytes().unwrap();
    assert!(
        body.as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "downloaded bytes differ"
    );
    let md5 = srv.get("images", "img.diskdump.md5sum");
    assert_eq!(md5.headers()["x-object-sharing"], "read=*");
    assert_eq!(
        md5.text().unwrap(),
        format!("{}  img.diskdump\n", md5_file(&img))
    );

    // Re-upload of the unchanged image: not one block crosses the wire.
    srv.settle();
    let before = srv.blocks_received();
    let again = upload(&[&[s(&img), "-f"][..], &acct].concat());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(blocks_sent(&again.stderr), (0, 6));
    srv.settle();
    assert_eq!(srv.blocks_received(), before, "no block may be sent again");

    // Plankton lists it, and the local store under the server agrees.
    let show = run(creator().args(["images", "show", "Served"]).args(acct));
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(json(&show.stdout)["id"], reg["id"]);
    let local = run(creator().args(["images", "list", "--store", s(&store)]));
    assert!(local.stdout.contains("Served"), "{}", local.stdout);

    // No token in any output or log line.
    let all = [
        r.stderr,
        r.stdout,
        again.stderr,
        show.stderr,
        srv.log().join("\n"),
    ]
    .join("\n");
    assert!(!all.contains(&srv.token), "the token leaked into output");
}

#[test]
fn wrong_token_fails_fast_with_one_line() {
    let dir = scratch();
    let srv = Serve::start(&store_dir(dir.path()), dir.path());
    let img = dir.path().join("x.img");
    make_file(&img, &[Fill::Random(3)], 10);
    let start = Instant::now();
    let r = upload(&[
        s(&img),
        "-r",
        "X",
        "-a",
        &srv.url,
        "-t",
        "wrong-sekrit-token",
    ]);
    r.assert_error(1, "authentication at");
    assert!(r.stderr.contains("HTTP 401"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("wrong-sekrit-token"),
        "the token leaked: {}",
        r.stderr
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "a bad token must fail in seconds"
    );
    srv.settle();
    assert!(
        srv.log().iter().all(|l| !l.contains("/object-store/")),
        "nothing may be uploaded"
    );

    // Nothing listens there: a clear line after bounded retries.
    let r = upload(&[s(&img), "-a", "http://127.0.0.1:9/identity/v2.0", "-t", "t"]);
    r.assert_error(1, "cannot reach http://127.0.0.1:9/identity/v2.0/tokens");
    assert!(
        r.stderr.contains("retrying"),
        "retries are logged: {}",
        r.stderr
    );
}

#[test]
fn killed_upload_resumes_with_only_the_missing_blocks() {
    let dir = scratch();
    let srv = Serve::start(&store_dir(dir.path()), dir.path());
    let img = dir.path().join("big.img");
    let fills: Vec<Fill> = (0..48).map(|i| Fill::Random(100 + i)).collect();
    make_file(&img, &fills, 0);
    let mut child = creator()
        .args(["upload", "-s", "-a", &srv.url, "-t", &srv.token])
        .arg(&img)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while srv.blocks_received() < 6 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the upload never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the upload ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    srv.settle();
    let first = srv.blocks_received();
    assert!(first < 48, "the kill came too late ({first} blocks)");

    let r = upload(&[s(&img), "-a", &srv.url, "-t", &srv.token]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(blocks_sent(&r.stderr), (48 - first, 48), "{}", r.stderr);
    let body = srv.get("images", "big.img").bytes().unwrap();
    assert_eq!(body.len() as u64, std::fs::metadata(&img).unwrap().len());
    assert!(
        body.as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "resumed object differs"
    );
}
