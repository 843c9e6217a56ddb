//! Faults between our client and `serve`: a small fault-injecting TCP
//! proxy answers the first connections with 503, resets them or lets them
//! hang; the upload retries (and says so), then completes and verifies.
//! A full disk on the server ends the upload with one line.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lab::*;
use super::request_proxy::{pump, read_head};
use crate::support::*;

/// What the proxy does to the Nth new connection.
#[derive(Clone, Copy)]
enum Fault {
    Pass,
    Unavailable,
    Reset,
    /// Read the request, then answer nothing for a long time.
    Stall,
}

/// Start a proxy to `upstream` that applies `plan` to the first
/// connections (after reading their first request head) and passes the
/// rest. Returns its port.
fn proxy(upstream: u16, plan: Vec<Fault>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let faults = Arc::new(AtomicUsize::new(0));
    let counter = faults.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut client) = conn else { return };
            let fault = plan.get(n).copied().unwrap_or(Fault::Pass);
            let counter = counter.clone();
            std::thread::spawn(move || {
                let head = read_head(&mut client);
                match fault {
                    Fault::Pass => pump(client, upstream, &head),
                    Fault::Unavailable => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let _ = client.write_all(
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                    Fault::Reset => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        drop(client);
                    }
                    Fault::Stall => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        // The fault itself: hold the connection, answer nothing.
                        std::thread::sleep(std::time::Duration::from_secs(20));
                    }
                }
            });
        }
    });
    (port, faults)
}

#[test]
fn unavailable_reset_and_stalled_requests_are_retried() {
    let dir = scratch();
    let srv = Serve::start(&store_dir(dir.path()), dir.path());
    let upstream: u16 = srv
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    use Fault::*;
    let (port, injected) = proxy(
        upstream,
        vec![
            Unavailable,
            Reset,
            Stall,
            Pass,
            Unavailable,
            Reset,
            Unavailable,
        ],
    );
    let url = format!("http://127.0.0.1:{port}/identity/v2.0");
    let img = dir.path().join("f.img");
    make_file(
        &img,
        &[Fill::Random(71), Fill::Random(72), Fill::Random(73)],
        10,
    );

    // A stalled request is given up after 2 s and retried.
    let r = run(creator()
        .env("SNF_HTTP_TIMEOUT", "2")
        .args(["upload", "-r", "Faulty", "-a", &url, "-t", &srv.token])
        .arg(&img));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Authentication alone meets the first three faults; how many of the
    // others are met depends on how many connections the client opens.
    let injected = injected.load(Ordering::SeqCst);
    assert!(injected >= 3, "the faults were not hit");
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    let retries = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("Warning:") && l.contains("retrying in"))
        .count();
    assert!(
        retries >= 3,
        "each fault is retried and logged:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("HTTP 503"), "{}", r.stderr);
    let body = srv.get("images", "f.img").bytes().unwrap();
    assert!(
        body.as_ref() == std::fs::read(&img).unwrap().as_slice(),
        "the object differs after retries"
    );
    assert_eq!(json(&r.stdout)["name"], "Faulty");
}

/// A small tmpfs, unmounted when dropped (the tests run as root, as the
/// helper VM's tests do).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(dir.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_server_disk_ends_with_one_line_and_no_image() {
    let dir = scratch();
    let disk = SmallDisk::mount(&dir.path().join("small"), "24m");
    let store = disk.0.join("store");
    let srv = Serve::start(&store, dir.path());
    let img = dir.path().join("big.img");
    let fills: Vec<Fill> = (0..10).map(|i| Fill::Random(200 + i)).collect();
    make_file(&img, &fills, 0);

    let r = upload(&[s(&img), "-r", "Too big", "-a", &srv.url, "-t", &srv.token]);
    r.assert_error(1, "HTTP 507");
    assert!(r.stderr.contains("no space left"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("Registering"),
        "no registration may start:\n{}",
        r.stderr
    );
    let list = run(creator().args(["images", "list", "--store", s(&store)]));
    assert!(
        list.stdout.contains("No images registered"),
        "{}",
        list.stdout
    );
    let head = reqwest::blocking::Client::new()
        .head(srv.object_url("images", "big.img"))
        .header("X-Auth-Token", &srv.token)
        .send()
        .unwrap();
    assert_eq!(head.status().as_u16(), 404, "no partial object may exist");
    drop(srv);
}
