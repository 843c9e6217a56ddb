//! A fault-injecting HTTP proxy that sees every request: each one is
//! forwarded on a connection of its own (`Connection: close`), so the
//! proxy reads every request head, and a request whose path ends with a
//! chosen suffix can be answered 503 instead (its body read first) once
//! or every time. It logs each request as `METHOD PATH -> 503` or
//! `METHOD PATH -> passed`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Which requests fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The next `PUT` whose path ends with this, then no more.
    Once(String),
    /// Every `PUT` whose path ends with this.
    Always(String),
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Listen on a free port of 127.0.0.1, forwarding to `upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = Proxy {
            port: listener.local_addr().unwrap().port(),
            fault: Arc::new(Mutex::new(Fault::None)),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        let proxy = p.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { return };
                let proxy = proxy.clone();
                std::thread::spawn(move || proxy.serve(client, upstream));
            }
        });
        p
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// The requests so far, and forget them.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Whether this request is to fail (a `Once` fault is used up).
    fn fails(&self, method: &str, path: &str) -> bool {
        let mut f = self.fault.lock().unwrap();
        let hit = |suffix: &str| method == "PUT" && path.ends_with(suffix);
        match &*f {
            Fault::Once(s) if hit(s) => {
                *f = Fault::None;
                true
            }
            Fault::Always(s) => hit(s),
            _ => false,
        }
    }

    fn serve(&self, mut client: TcpStream, upstream: u16) {
        let head = read_head(&mut client);
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut first = text.split_whitespace();
        let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        let path = path.split('?').next().unwrap_or("").to_owned();
        if self.fails(method, &path) {
            let len = content_length(&text);
            let _ = std::io::copy(&mut (&client).take(len), &mut std::io::sink());
            let _ = client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            self.log
                .lock()
                .unwrap()
                .push(format!("{method} {path} -> 503"));
            return;
        }
        self.log
            .lock()
            .unwrap()
            .push(format!("{method} {path} -> passed"));
        pump(client, upstream, closing(&text).as_bytes());
    }
}

/// The request head with `Connection: close` instead of its own.
fn closing(head: &str) -> String {
    let kept: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n"))
}

fn content_length(head: &str) -> u64 {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// A request head, up to its blank line.
pub fn read_head(c: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    head
}

/// Send `head` to `upstream`, then relay both ways until either side ends.
pub fn pump(client: TcpStream, upstream: u16, head: &[u8]) {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if up.write_all(head).is_err() {
        return;
    }
    let (mut c2, mut u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(Shutdown::Both);
    });
    let mut client = client;
    let _ = std::io::copy(&mut client, &mut up);
    let _ = up.shutdown(Shutdown::Write);
    let _ = t.join();
}
