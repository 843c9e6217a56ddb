//! Pieces the cloud tests share: generated image files, a real `serve`
//! process on a free port (stopped by PID), and counting what its request
//! log shows.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

pub const BLOCK: usize = 4 * 1024 * 1024;

/// What a generated block holds.
#[derive(Clone, Copy)]
pub enum Fill {
    /// Pseudo-random bytes from this seed.
    Random(u64),
    /// All zeros.
    Zero,
}

/// Write a file of whole blocks plus a short `tail` of random bytes.
pub fn make_file(path: &Path, blocks: &[Fill], tail: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for b in blocks {
        f.write_all(&block(*b, BLOCK)).unwrap();
    }
    f.write_all(&block(Fill::Random(0xdead_beef), tail))
        .unwrap();
}

fn block(fill: Fill, len: usize) -> Vec<u8> {
    match fill {
        Fill::Zero => vec![0; len],
        Fill::Random(seed) => {
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut out = Vec::with_capacity(len + 8);
            while out.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.truncate(len);
            out
        }
    }
}

/// A `serve` process on 127.0.0.1, killed by PID when dropped.
pub struct Serve {
    child: Child,
    pub url: String,
    pub token: String,
    pub account: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Start serving the store at `store` with one known token.
    pub fn start(store: &Path, token_dir: &Path) -> Serve {
        let token = format!("tok-{}-{}", std::process::id(), rand_suffix());
        let account = "0b0e2f1a-1111-4222-8333-944445555666".to_owned();
        let tokens = token_dir.join("tokens");
        std::fs::write(&tokens, format!("{token} {account} tester\n")).unwrap();
        let mut child = creator()
            .args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(store)
            .arg("--token-file")
            .arg(&tokens)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting snf-image-creator serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Identity URL (kamaki url, snf-mkimage -a): ")
                {
                    let _ = tx.send(url.to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("serve did not say where it listens");
        Serve {
            child,
            url,
            token,
            account,
            log,
        }
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// How many block uploads (`POST …?update` on a container) succeeded.
    pub fn blocks_received(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| {
                l.starts_with("POST /object-store/v1/")
                    && l.ends_with(" 202")
                    && l.matches('/').count() == 4
            })
            .count()
    }

    /// The object store URL of an object of the test account.
    pub fn object_url(&self, container: &str, name: &str) -> String {
        let base = self.url.trim_end_matches("/identity/v2.0");
        format!("{base}/object-store/v1/{}/{container}/{name}", self.account)
    }

    /// GET an object with the token.
    pub fn get(&self, container: &str, name: &str) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new()
            .get(self.object_url(container, name))
            .header("X-Auth-Token", &self.token)
            .send()
            .unwrap()
    }

    /// Wait until the log stops growing (requests in flight are done).
    pub fn settle(&self) {
        let mut last = usize::MAX;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let n = self.log().len();
            if n == last {
                return;
            }
            last = n;
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// `snf-image-creator upload` with arguments.
pub fn upload(args: &[&str]) -> Run {
    run(creator().arg("upload").args(args))
}

/// Path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Parse a JSON document printed on stdout.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The "(2/2)  Uploading missing blocks ... N of M sent" figures.
pub fn blocks_sent(stderr: &str) -> (usize, usize) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("Uploading missing blocks ..."))
        .unwrap_or_else(|| panic!("no block upload line in:\n{stderr}"));
    let tail = line.rsplit("... ").next().unwrap();
    let nums: Vec<usize> = tail
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

/// A scratch store directory.
pub fn store_dir(parent: &Path) -> PathBuf {
    parent.join("store")
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server started by one of `scripts/cloudlab/start-*.sh`, killed by its
/// PID when dropped.
pub struct LabServer {
    pid: i32,
}

impl LabServer {
    /// Run `scripts/cloudlab/SCRIPT DIR ARGS…`, which prints the PID.
    pub fn start(script: &str, dir: &Path, args: &[&str]) -> LabServer {
        install_cloudlab();
        std::fs::create_dir_all(dir).unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts/cloudlab")
            .join(script);
        let out = Command::new(&path).arg(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{script} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a PID");
        LabServer { pid }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(self.pid);
        let _ = kill(pid, Signal::SIGTERM);
        let start = Instant::now();
        // `weed mini` does not end on SIGTERM: it gets SIGKILL after 3 s.
        while kill(pid, None).is_ok() && start.elapsed() < Duration::from_secs(3) {
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = kill(pid, Signal::SIGKILL);
    }
}

/// Install the cloud lab once per test run (a no-op when installed);
/// fails loudly when it cannot.
pub fn install_cloudlab() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cloudlab/install.sh");
        let out = Command::new(&script)
            .output()
            .expect("running scripts/cloudlab/install.sh");
        assert!(
            out.status.success(),
            "scripts/cloudlab/install.sh failed: the cloud tests need its servers\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
