//! The terminal UI (`snf-image-creator` with no subcommand): media
//! selection, initialization, wizard and expert modes, all on the same
//! pipeline `snf-mkimage` runs.
//!
//! Threads: an input thread reads the terminal, a signal thread turns
//! SIGINT, SIGTERM and SIGHUP into events, a job thread runs the pipeline
//! (at most one at a time), and the main thread owns the [`App`], takes
//! [`AppEvent`]s from one channel and redraws. Rendering reads the state
//! only. A signal or a lost terminal (hang-up, read or draw error) ends
//! the UI as Ctrl-C does, with 128 + the signal as exit code (a lost
//! terminal counts as SIGHUP).

pub mod accounts;
pub mod app;
pub mod browser;
pub mod buttons;
pub mod chain;
pub mod cloud_forms;
pub mod cloud_list;
#[cfg(test)]
mod cloud_tests;
pub mod component;
pub mod customize;
#[cfg(test)]
mod customize_tests;
pub mod expert;
pub mod extract;
pub mod facts;
pub mod form;
pub mod host;
pub mod image_views;
pub mod images;
#[cfg(test)]
mod images_tests;
pub mod init;
mod input;
pub mod job;
pub mod log;
pub mod mount;
pub mod properties;
pub mod register;
#[cfg(test)]
mod register_tests;
pub mod requests;
pub mod screen;
pub mod secrets;
pub mod sysprep;
pub mod sysprep_tasks;
#[cfg(test)]
mod tests;
pub mod upload;
pub mod virtio;
pub mod widgets;
pub mod wizard;
#[cfg(test)]
mod wizard_tests;

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use anyhow::{Context, Result};
use ratatui::DefaultTerminal;
use ratatui::crossterm::event;

use crate::process::StopReason;
use crate::progress::Event;
pub use app::App;
use job::{JobKind, JobResult};

/// How often the screen is redrawn while nothing happens (progress gauges,
/// signal checks).
const TICK: Duration = Duration::from_millis(100);

/// The UI's command-line options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiOptions {
    /// The media to open; the browser is shown without it.
    pub media: Option<PathBuf>,
    pub tmpdir: Option<PathBuf>,
    pub no_snapshot: bool,
    /// Where the log goes (also libguestfs's own messages).
    pub logfile: Option<PathBuf>,
}

/// Everything the main loop reacts to.
#[derive(Debug)]
pub enum AppEvent {
    Key(event::KeyEvent),
    Progress(Event),
    JobDone(JobKind, JobResult),
    /// A cloud task (account check, registration) ended.
    CloudDone(job::CloudResult),
    /// SIGINT, SIGTERM, SIGHUP, or the terminal was lost (as SIGHUP).
    Interrupt(StopReason),
}

/// Run the UI until the user leaves; the exit code says how.
pub fn run(opts: UiOptions) -> ExitCode {
    match run_inner(opts) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(crate::process::exit_code(&e))
        }
    }
}

fn run_inner(opts: UiOptions) -> Result<u8> {
    let quiet = StderrRedirect::to(opts.logfile.as_deref())?;
    let logfile = opts.logfile.clone();
    let (tx, rx) = channel();
    let signals = tx.clone();
    crate::process::watch_signals(move |reason| {
        let _ = signals.send(AppEvent::Interrupt(reason));
    })?;
    let input = input::Input::spawn(tx.clone());
    let mut terminal = ratatui::init();
    let mut app = App::new(opts, tx);
    let code = event_loop(&mut app, &mut terminal, &rx);
    if let Some(job) = app.job.take() {
        job.cancel_and_wait();
    }
    ratatui::restore();
    // Its drop shows the cursor, and says so on stderr when that fails (a
    // lost terminal): stderr still points away from the terminal here.
    drop(terminal);
    input.stop();
    drop(quiet);
    if let Some(path) = logfile {
        write_log(&path, &app.facts.log)?;
    }
    if code == 0 {
        println!("Thank you for using snf-image-creator. Bye");
    }
    Ok(code)
}

/// Draw, then take the next event, until the UI ends; its exit code.
fn event_loop(app: &mut App, terminal: &mut DefaultTerminal, rx: &Receiver<AppEvent>) -> u8 {
    loop {
        if let Err(e) = terminal.draw(|f| app.render(f))
            && app.exit.is_none()
        {
            app.facts
                .log
                .push(format!("Error: drawing the screen: {e}"));
            app.interrupt(StopReason::Hangup);
        }
        if let Some(code) = app.exit {
            return code;
        }
        if let Ok(ev) = rx.recv_timeout(TICK) {
            app.on_event(ev);
        }
    }
}

fn write_log(path: &std::path::Path, lines: &[String]) -> Result<()> {
    use std::io::Write;
    let mut f = File::options()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("opening the log file {}", path.display()))?;
    for line in lines {
        writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// While the UI owns the terminal, file descriptor 2 points at the log
/// file (or /dev/null): libguestfs prints the errors it returns there, and
/// they would tear the screen. Dropping it puts stderr back.
struct StderrRedirect {
    saved: std::os::fd::OwnedFd,
}

impl StderrRedirect {
    fn to(log: Option<&std::path::Path>) -> Result<StderrRedirect> {
        let target = match log {
            Some(p) => File::options()
                .append(true)
                .create(true)
                .open(p)
                .with_context(|| format!("opening the log file {}", p.display()))?,
            None => File::options()
                .write(true)
                .open("/dev/null")
                .context("opening /dev/null")?,
        };
        let saved = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("saving stderr")?;
        nix::unistd::dup2(target.as_raw_fd(), 2).context("redirecting stderr")?;
        Ok(StderrRedirect { saved })
    }
}

impl Drop for StderrRedirect {
    fn drop(&mut self) {
        let _ = nix::unistd::dup2(self.saved.as_raw_fd(), 2);
    }
}
