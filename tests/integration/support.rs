//! Shared pieces of the integration tests: the fixture images (built once
//! by `scripts/fixtures.sh`, cached outside the clone), running the real
//! binary under either of its names, and the checks every run gets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where the fixture builder caches its images.
pub fn fixture_dir() -> PathBuf {
    std::env::var_os("SNF_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/snf-image-creator-fixtures"))
}

/// Build the fixtures (a no-op when they are current) and load their
/// manifest. Fails the test, loudly, when they cannot be built.
pub fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("scripts/fixtures.sh"))
            .arg(fixture_dir())
            .output()
            .expect("running scripts/fixtures.sh");
        assert!(
            out.status.success(),
            "scripts/fixtures.sh failed: the integration tests need its images\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(fixture_dir().join("manifest.json"))
            .expect("reading the fixture manifest");
        serde_json::from_str(&text).expect("parsing the fixture manifest")
    })
}

/// The manifest entry of one fixture file.
pub fn fixture(name: &str) -> (PathBuf, &'static Value) {
    let m = manifest();
    let entry = m["images"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["file"] == name))
        .unwrap_or_else(|| panic!("fixture {name} is not in the manifest"));
    (fixture_dir().join(name), entry)
}

/// The manifest entry of one synthetic Windows disk
/// (`tests/fixtures/mk-windows.sh`).
pub fn windows_fixture(name: &str) -> (PathBuf, &'static Value) {
    let entry = manifest()["windows"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["file"] == name))
        .unwrap_or_else(|| panic!("Windows fixture {name} is not in the manifest"));
    (fixture_dir().join(name), entry)
}

/// A path to a fixture that is not a disk image of the manifest.
pub fn fixture_file(name: &str) -> PathBuf {
    manifest();
    let p = fixture_dir().join(name);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p
}

/// A scratch directory on disk (not in RAM: images are big).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("snf-test.")
        .tempdir_in("/var/tmp")
        .expect("creating a scratch directory in /var/tmp")
}

/// The binary under its `snf-mkimage` name: a symlink made once, as the
/// install step makes it.
pub fn mkimage() -> Command {
    static LINK: OnceLock<PathBuf> = OnceLock::new();
    let link = LINK.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bin");
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("snf-mkimage");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_snf-image-creator"), &link).unwrap();
        link
    });
    Command::new(link)
}

/// The binary under its own name.
pub fn creator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snf-image-creator"))
}

/// What a finished run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Assert a failure: exit code, and one `Error:` line containing `text`.
    pub fn assert_error(&self, code: i32, text: &str) {
        assert_eq!(self.code, code, "exit code; stderr:\n{}", self.stderr);
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("Error:"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected:\n{}", self.stderr);
        assert!(
            errors[0].contains(text),
            "error line {:?} should contain {text:?}",
            errors[0]
        );
    }
}

/// Run a command to its end.
pub fn run(cmd: &mut Command) -> Run {
    Run::from_output(cmd.output().expect("running the binary"))
}

/// Run a command to its end with `input` on its standard input.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = (cmd.stdin(Stdio::piped()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    Run::from_output(child.wait_with_output().unwrap())
}

/// SHA-256 of a file, by the real tool.
pub fn sha256_file(path: &Path) -> String {
    hash_file("sha256sum", path)
}

/// MD5 of a file, by the real tool.
pub fn md5_file(path: &Path) -> String {
    hash_file("md5sum", path)
}

fn hash_file(tool: &str, path: &Path) -> String {
    let out = Command::new(tool)
        .arg(path)
        .output()
        .expect("running a hash tool");
    assert!(out.status.success(), "{tool} {} failed", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Assert a directory is empty (the work directory was removed).
pub fn assert_empty_dir(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "{} should be empty: {left:?}",
        dir.display()
    );
}

/// Assert no running process mentions `needle` on its command line (no
/// qemu-nbd or helper VM left behind).
pub fn assert_no_process_mentions(needle: &str) {
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) || name == me {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(
                !cmdline.contains(needle),
                "process {name} is still running: {cmdline}"
            );
        }
    }
}

/// Bytes allocated on disk for a file.
pub fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// Whether a qemu runs on a disk under `tmp` (the helper VM on the
/// snapshot).
pub fn helper_vm_runs(tmp: &Path) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.contains("qemu-system") && cmdline.contains(tmp.to_str().unwrap())
    })
}

/// Write an executable script (a `--host-run` script, for instance).
pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// How often [`poll`] looks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Look at something with `probe` until it says done (`Ok`), and return
/// what it found. `Err` carries what it sees meanwhile; past `limit` the
/// test fails naming what was awaited and what was seen last.
pub fn poll<T>(awaited: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        let seen = match probe() {
            Ok(found) => return found,
            Err(seen) => seen,
        };
        assert!(
            start.elapsed() < limit,
            "{awaited} did not happen within {limit:?}; last seen:\n{seen}"
        );
        std::thread::sleep(POLL_EVERY);
    }
}

/// Run guestfish on `image` with the guest's filesystems mounted (`--ro`
/// or `--rw`), feeding it `script`; its standard output. Software
/// emulation always: guestfish, unlike the product, does not fall back
/// from a broken KVM by itself.
pub fn guestfish(image: &Path, mode: &str, script: &str) -> String {
    let mut cmd = Command::new("guestfish");
    cmd.env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .args([mode, "-i", "-a"])
        .arg(image);
    let run = run_with_input(&mut cmd, script);
    assert_eq!(run.code, 0, "guestfish failed: {}", run.stderr);
    run.stdout
}

/// The `KEY VALUE` table `--print-metadata` prints.
pub fn printed_metadata(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("Detected image metadata:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let (k, v) = l.trim_start().split_once(' ')?;
            Some((k.to_owned(), v.trim_start().to_owned()))
        })
        .collect()
}

/// A fixture's `users` facts, as `USERS` lists them.
pub fn users(entry: &Value) -> String {
    let names: Vec<&str> = entry["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    names.join(" ")
}
