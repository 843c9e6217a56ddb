//! Running external programs, the cancellation flag every long step polls,
//! and the signals (SIGINT, SIGTERM, SIGHUP) that raise it.
//!
//! Nothing calls `Command::status()` raw: [`CommandExt`] sets stdin to null,
//! captures stderr and puts the command line and the tail of stderr into the
//! error, so a failing `qemu-img` says why.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;

/// Why a run stops before its end: the signal, or what stands for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT: Ctrl-C, or the TUI's cancel.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP, or the terminal went away (end of file, read error).
    Hangup,
}

impl StopReason {
    /// The reasons with their signals, in one table.
    const SIGNALS: [(StopReason, i32, &'static str); 3] = [
        (StopReason::Interrupt, libc::SIGINT, "SIGINT"),
        (StopReason::Terminate, libc::SIGTERM, "SIGTERM"),
        (StopReason::Hangup, libc::SIGHUP, "SIGHUP"),
    ];

    fn entry(self) -> (StopReason, i32, &'static str) {
        Self::SIGNALS
            .into_iter()
            .find(|(r, _, _)| *r == self)
            .unwrap_or(Self::SIGNALS[0])
    }

    /// The reason a signal stands for, if it is one the product handles.
    pub fn from_signal(signal: i32) -> Option<StopReason> {
        Self::SIGNALS
            .into_iter()
            .find(|(_, s, _)| *s == signal)
            .map(|(r, _, _)| r)
    }

    /// The signal's number.
    pub fn signal(self) -> i32 {
        self.entry().1
    }

    /// The signal's name, for messages.
    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// The exit code of a run stopped for this reason: 128 + the signal,
    /// as shells report it (130, 143, 129).
    pub fn exit_code(self) -> u8 {
        128 + self.signal() as u8
    }
}

/// The run was interrupted (a signal, or the TUI's cancel button).
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}; the work directory and helper processes were cleaned up", .0.name())]
pub struct Interrupted(pub StopReason);

/// A request that cannot be carried out as given (exit code 2).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error saying `msg`.
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

/// The exit code for an error, the same in every front end: a usage error
/// is 2, an interrupted run 128 + the signal, anything else 1. Context added
/// around the error does not change its kind.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else if let Some(Interrupted(reason)) = err.downcast_ref::<Interrupted>() {
        reason.exit_code()
    } else {
        1
    }
}

/// A flag that a signal handler or a front end raises and long steps poll.
/// It remembers the first reason it was raised for.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicI32>);

impl Cancel {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raise the flag as Ctrl-C does.
    pub fn cancel(&self) {
        self.raise(StopReason::Interrupt);
    }

    /// Raise the flag for `reason`; a flag already raised keeps its first
    /// reason.
    pub fn raise(&self, reason: StopReason) {
        let _ = self
            .0
            .compare_exchange(0, reason.signal(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Why the flag was raised, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        StopReason::from_signal(self.0.load(Ordering::SeqCst))
    }

    /// Whether the flag is raised.
    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }

    /// The error a run stopped by this flag ends with.
    pub fn interrupted(&self) -> Interrupted {
        Interrupted(self.reason().unwrap_or(StopReason::Interrupt))
    }

    /// `Err(Interrupted)` once the flag is raised.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.reason() {
            Some(reason) => Err(Interrupted(reason)),
            None => Ok(()),
        }
    }
}

/// Call `on_signal`, on a thread of its own, for every SIGINT, SIGTERM
/// and SIGHUP the process receives from now on (their default action, to
/// end the process at once, no longer applies).
pub fn watch_signals<F>(mut on_signal: F) -> Result<()>
where
    F: FnMut(StopReason) + Send + 'static,
{
    let signals: Vec<i32> = StopReason::SIGNALS.iter().map(|(_, s, _)| *s).collect();
    let mut incoming = signal_hook::iterator::Signals::new(&signals).context("watching signals")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in incoming.forever() {
                if let Some(reason) = StopReason::from_signal(signal) {
                    on_signal(reason);
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(())
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
    find_program(program).is_some()
}

/// Where a program is: a name with a `/` as it is, else the first file of
/// that name in a `PATH` directory.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Some(program.into());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
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

    #[test]
    fn cancel_keeps_the_first_reason() {
        let c = Cancel::new();
        c.raise(StopReason::Hangup);
        c.raise(StopReason::Terminate);
        assert_eq!(c.reason(), Some(StopReason::Hangup));
        let msg = c.check().unwrap_err().to_string();
        assert!(msg.starts_with("interrupted by SIGHUP;"), "{msg}");
    }

    #[test]
    fn exit_code_maps_each_kind_even_under_context() {
        use anyhow::Context;
        let usage = || anyhow::Error::new(UsageError("bad flag".into()));
        assert_eq!(exit_code(&usage()), 2);
        assert_eq!(
            exit_code(&Err::<(), _>(usage()).context("plan").unwrap_err()),
            2
        );
        for (reason, code) in [
            (StopReason::Interrupt, 130),
            (StopReason::Terminate, 143),
            (StopReason::Hangup, 129),
        ] {
            let err = || anyhow::Error::new(Interrupted(reason));
            assert_eq!(exit_code(&err()), code);
            let wrapped = Err::<(), _>(err())
                .context("copying the image")
                .unwrap_err();
            assert_eq!(exit_code(&wrapped), code);
        }
        let runtime = anyhow::anyhow!("qemu-img failed");
        assert_eq!(exit_code(&runtime), 1);
        assert_eq!(
            exit_code(&Err::<(), _>(runtime).context("converting").unwrap_err()),
            1
        );
    }

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(StopReason::Interrupt.exit_code(), 130);
        assert_eq!(StopReason::Terminate.exit_code(), 143);
        assert_eq!(StopReason::Hangup.exit_code(), 129);
        assert_eq!(StopReason::from_signal(libc::SIGUSR1), None);
    }
}
