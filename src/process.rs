//! Running external programs, and the cancellation flag every long step
//! polls.
//!
//! Nothing calls `Command::status()` raw: [`CommandExt`] sets stdin to null,
//! captures stderr and puts the command line and the tail of stderr into the
//! error, so a failing `qemu-img` says why.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;

/// The run was interrupted (Ctrl-C, SIGTERM, or the TUI's cancel button).
#[derive(Debug, thiserror::Error)]
#[error("interrupted; the work directory and helper processes were cleaned up")]
pub struct Interrupted;

/// A flag that a signal handler or a front end raises and long steps poll.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared flag itself, for signal handlers.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    /// Raise the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the flag is raised.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Interrupted)` once the flag is raised.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.is_cancelled() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }
}

/// How much of stderr an error message keeps.
const STDERR_TAIL: usize = 1024;

/// The command line, shell-quoted, for messages.
pub fn command_line(cmd: &Command) -> String {
    let mut parts = vec![quote(cmd.get_program())];
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

fn quote(s: &OsStr) -> String {
    shell_escape::escape(s.to_string_lossy()).into_owned()
}

fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let start = text.len().saturating_sub(STDERR_TAIL);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].replace('\n', " / ")
}

/// Running a command with its failure explained.
pub trait CommandExt {
    /// Run to completion; an error names the command and its stderr.
    fn run_checked(&mut self) -> Result<()>;
    /// Run to completion and return stdout as text.
    fn run_capture(&mut self) -> Result<String>;
    /// Run to completion and parse stdout as JSON.
    fn run_json<T: DeserializeOwned>(&mut self) -> Result<T>;
}

impl CommandExt for Command {
    fn run_checked(&mut self) -> Result<()> {
        run_output(self).map(|_| ())
    }

    fn run_capture(&mut self) -> Result<String> {
        let out = run_output(self)?;
        String::from_utf8(out.stdout)
            .with_context(|| format!("reading the output of `{}`", command_line(self)))
    }

    fn run_json<T: DeserializeOwned>(&mut self) -> Result<T> {
        let out = run_output(self)?;
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("parsing the JSON output of `{}`", command_line(self)))
    }
}

fn run_output(cmd: &mut Command) -> Result<Output> {
    let line = command_line(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running `{line}`"))?;
    if !out.status.success() {
        let why = match out.status.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_owned(),
        };
        bail!("`{line}` failed ({why}): {}", stderr_tail(&out.stderr));
    }
    Ok(out)
}

/// Whether a program can be found on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_command_and_stderr() {
        let err = Command::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run_checked()
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("exit code 3"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn capture_returns_stdout() {
        let out = Command::new("echo").arg("hi").run_capture().unwrap();
        assert_eq!(out, "hi\n");
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let long = "x".repeat(5000) + "END";
        let tail = stderr_tail(long.as_bytes());
        assert!(tail.ends_with("END"));
        assert!(tail.len() <= STDERR_TAIL);
    }

    #[test]
    fn cancel_flag() {
        let c = Cancel::new();
        assert!(c.check().is_ok());
        c.clone().cancel();
        assert!(c.check().is_err());
    }
}
