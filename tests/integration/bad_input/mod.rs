//! Bad input, as one table. Every row prepares its inputs in a fresh
//! directory, runs the real binary, and gets the same checks:
//! - the exit code, and one `Error:` line with the expected text (or, for
//!   input the run survives, a `Warning:` line naming each finding);
//! - no panic;
//! - an empty work area (`--tmpdir`) and no process that mentions it;
//! - nothing new in the row's directory (no output, no half-written file,
//!   no store), and every source byte-identical;
//! - rows that must be refused before the helper VM never launch it.
//!
//! Two runners walk the table: the rows refused before any helper VM, and
//! the rows that get into the guest. `SNF_BAD_INPUT=NAME` runs one row.

mod chain;
mod guest;
mod media;
mod options;
mod tree;
mod windows;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::*;

/// What rows plant in host files that must never reach an output or a
/// message.
pub const LEAK: &[u8] = b"root:$6$host-secret-LEAK:19000:0:99999:7:::\n";

/// One bad input.
pub struct Case {
    pub name: &'static str,
    /// Whether the row gets as far as a helper VM.
    pub vm: bool,
    pub expect: Expect,
    pub prepare: fn(&Ctx) -> Input,
}

/// What the run must end with.
pub enum Expect {
    /// This exit code and one `Error:` line containing the text.
    Error(i32, &'static str),
    /// Exit code 0 and, for each text, a `Warning:` line containing it.
    Warnings(&'static [&'static str]),
}

/// Where a row puts its inputs.
pub struct Ctx {
    /// The row's own directory: inputs, outputs, `$HOME`.
    pub dir: PathBuf,
    /// The work area, empty again when the run ends.
    pub tmp: PathBuf,
}

impl Ctx {
    /// A path in the row's directory, as a string.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// `mkimage --tmpdir TMP` followed by `args`.
    pub fn mkimage(&self, args: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> =
            vec!["mkimage".into(), "--tmpdir".into(), self.tmp.clone().into()];
        v.extend(args.iter().map(OsString::from));
        v
    }
}

/// A prepared row: the command and what must come out unchanged.
pub struct Input {
    /// Arguments of `snf-image-creator`.
    pub args: Vec<OsString>,
    /// Files that must come out byte-identical.
    pub sources: Vec<PathBuf>,
    pub how: How,
    pub env: Vec<(&'static str, OsString)>,
}

impl Input {
    pub fn new(args: Vec<OsString>, sources: &[&dyn AsRef<Path>]) -> Input {
        Input {
            args,
            sources: sources.iter().map(|p| p.as_ref().to_owned()).collect(),
            how: How::ToEnd,
            env: Vec::new(),
        }
    }

    pub fn how(mut self, how: How) -> Input {
        self.how = how;
        self
    }

    pub fn env(mut self, key: &'static str, value: impl AsRef<OsStr>) -> Input {
        self.env.push((key, value.as_ref().to_owned()));
        self
    }
}

/// How the run is driven.
pub enum How {
    /// To its end.
    ToEnd,
    /// As the `nobody` user (root reads everything).
    AsNobody,
    /// A signal once standard error shows the text.
    Signal(&'static str, Signal),
    /// A signal once standard error shows the text and the helper VM runs.
    SignalVm(&'static str, Signal),
}

/// Every row, in groups.
fn table() -> impl Iterator<Item = &'static Case> {
    [
        media::ROWS,
        options::ROWS,
        chain::ROWS,
        guest::ROWS,
        windows::ROWS,
        tree::ROWS,
    ]
    .into_iter()
    .flatten()
}

#[test]
fn table_has_every_row_once() {
    let mut names = std::collections::BTreeSet::new();
    for case in table() {
        assert!(names.insert(case.name), "row {} twice", case.name);
    }
    assert!(names.len() >= 35, "{} rows", names.len());
}

#[test]
fn bad_input_refused_before_the_helper_vm() {
    run_rows(false);
}

#[test]
fn bad_input_found_with_the_helper_vm() {
    run_rows(true);
}

/// Run the rows of one kind; report every failing row, not just the first.
fn run_rows(vm: bool) {
    let only = std::env::var("SNF_BAD_INPUT").ok();
    let rows: Vec<&Case> = table()
        .filter(|c| c.vm == vm && only.as_deref().is_none_or(|o| o == c.name))
        .collect();
    let failed: Vec<String> = rows
        .iter()
        .filter_map(|case| {
            let start = Instant::now();
            let r = std::panic::catch_unwind(|| check(case));
            eprintln!(
                "bad input {}: {:.1} s",
                case.name,
                start.elapsed().as_secs_f64()
            );
            r.err()
                .map(|e| format!("{}: {}", case.name, panic_text(&e)))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Prepare one row, run it, and make every check.
fn check(case: &Case) {
    let dir = scratch();
    let tmp = scratch();
    let ctx = Ctx {
        dir: dir.path().to_owned(),
        tmp: tmp.path().to_owned(),
    };
    let input = (case.prepare)(&ctx);
    let before = snapshot(&ctx.dir, &input.sources);
    let r = drive(&ctx, &input);
    assert!(!r.stderr.contains("panicked"), "a panic:\n{}", r.stderr);
    assert!(
        !r.stderr.contains("host-secret-LEAK"),
        "host data leaked:\n{}",
        r.stderr
    );
    match case.expect {
        Expect::Error(code, text) => r.assert_error(code, text),
        Expect::Warnings(texts) => {
            assert_eq!(r.code, 0, "exit code; stderr:\n{}", r.stderr);
            for text in texts {
                assert!(
                    r.stderr
                        .lines()
                        .any(|l| l.starts_with("Warning:") && l.contains(text)),
                    "no warning with {text:?}:\n{}",
                    r.stderr
                );
            }
        }
    }
    if !case.vm {
        assert!(
            !r.stderr.contains("Launching helper VM"),
            "got as far as the helper VM:\n{}",
            r.stderr
        );
    }
    assert_empty_dir(&ctx.tmp);
    assert_no_process_mentions(&ctx.tmp.to_string_lossy());
    assert_eq!(snapshot(&ctx.dir, &input.sources), before, "files changed");
}

/// The files of a directory tree, with the hash of each source.
fn snapshot(dir: &Path, sources: &[PathBuf]) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    list(dir, &mut files);
    for s in sources {
        files.insert(s.clone(), sha256_file(s));
    }
    files
}

fn list(dir: &Path, into: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            list(&path, into);
        }
        into.insert(path, String::new());
    }
}

/// Run the binary as the row says.
fn drive(ctx: &Ctx, input: &Input) -> Run {
    let bin = env!("CARGO_BIN_EXE_snf-image-creator");
    let mut cmd = match input.how {
        How::AsNobody => {
            for p in [&ctx.dir, &ctx.tmp] {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", bin]);
            c
        }
        _ => Command::new(bin),
    };
    cmd.args(&input.args)
        .env("HOME", &ctx.dir)
        .env_remove("SNF_IMAGE_STORE")
        .env_remove("KAMAKI_CONFIG")
        .stdin(Stdio::null());
    for (k, v) in &input.env {
        cmd.env(k, v);
    }
    match input.how {
        How::Signal(after, signal) => signal_after(cmd, after, signal, &|| true),
        How::SignalVm(after, signal) => {
            signal_after(cmd, after, signal, &|| helper_vm_runs(&ctx.tmp))
        }
        _ => run(&mut cmd),
    }
}

/// Start the run, wait for `after` on its standard error and for `ready`,
/// send `signal`, and collect the rest.
fn signal_after(mut cmd: Command, after: &str, signal: Signal, ready: &dyn Fn() -> bool) -> Run {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while !seen.contains(after) {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{after:?} never came:\n{seen}"
        );
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "the run ended before {after:?}:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let ready_within = Duration::from_secs(300).saturating_sub(start.elapsed());
    poll("the run being ready for the signal", ready_within, || {
        if ready() { Ok(()) } else { Err(seen.clone()) }
    });
    // Not a wait for a state: the run works half a second into the step
    // the line announced, so the signal interrupts that step's work.
    std::thread::sleep(Duration::from_millis(500));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let signalled = Instant::now();
    stderr.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    let ended = signalled.elapsed().as_secs_f64();
    eprintln!("{signal} after {after:?}: the run ended {ended:.2} s later");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: seen,
    }
}
