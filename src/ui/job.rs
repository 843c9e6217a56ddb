//! Running the pipeline off the UI thread. A job runs [`pipeline::run`] on
//! its own thread with a reporter that forwards every progress event to the
//! UI's event queue; [`RunView`] turns those events into the same
//! `title ... result` lines the command line prints, with a gauge for the
//! step that reports progress.

use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Gauge, Paragraph, Widget};

use super::AppEvent;
use crate::media::chain::ChainError;
use crate::pipeline::mount::Release;
use crate::pipeline::secrets::SecretsFound;
use crate::pipeline::{self, Outcome};
use crate::plan::Plan;
use crate::process::Cancel;
use crate::progress::{Event, Reporter, StepId, Unit};

/// What a job is for, so its end can be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Snapshot, helper VM, inspection, metadata: what the menus need.
    Initialize,
    /// The wizard's run to its end.
    Wizard,
    /// The expert menu's Extract.
    Extract,
    /// The expert Register menu's Upload.
    Upload,
    /// A cloud task with no pipeline run (see [`Job::spawn_cloud`]).
    Cloud,
    /// Sysprep's dry-run preview.
    Preview,
    /// Customize → Mount.
    Mount,
}

/// What a cloud task answers.
#[derive(Debug)]
pub enum CloudReply {
    /// The account's credentials work.
    Checked,
    /// These of the objects an upload would write exist already.
    Existing(Vec<String>),
    /// The uploaded image was registered.
    Registered(Box<crate::cloud::RemoteImage>),
}

/// A cloud task's work, run on its own thread.
pub type CloudWork = Box<dyn FnOnce(&dyn Reporter) -> anyhow::Result<CloudReply> + Send>;

/// The result of a cloud task as the UI receives it: the error as it
/// was, so its kind can be told by type.
pub type CloudResult = anyhow::Result<CloudReply>;

/// A reporter that sends events to the UI thread.
pub struct ChannelReporter {
    tx: Sender<AppEvent>,
}

impl Reporter for ChannelReporter {
    fn emit(&self, event: Event) {
        // The UI is gone only when the program is ending.
        let _ = self.tx.send(AppEvent::Progress(event));
    }
}

/// A pipeline run in the background.
pub struct Job {
    pub kind: JobKind,
    pub cancel: Cancel,
    thread: Option<JoinHandle<()>>,
}

/// A failed job's message in the UI's words: the refusals the command
/// line words with its flags are told with what to do in the UI.
pub fn job_error(e: &anyhow::Error) -> String {
    if let Some(found) = e.downcast_ref::<SecretsFound>() {
        return format!(
            "the image holds {} secret(s) that must not be published: remove them (Customize → Mount), then upload again.",
            found.count
        );
    }
    match e.downcast_ref::<ChainError>() {
        Some(ChainError::NotAllowed { top, .. }) => format!(
            "{top} has a backing file, which was not accepted: open the media again and choose Continue to use the whole chain, or flatten it first."
        ),
        Some(ChainError::Refused {
            image,
            what,
            name,
            why,
        }) => format!(
            "{image}: its {what} {name} is refused: {why}. This image cannot be used as it is: flatten it on a machine you trust."
        ),
        _ => format!("{e:#}"),
    }
}

impl Job {
    /// Start `plan` on a thread; its end arrives as [`AppEvent::JobDone`].
    pub fn start(kind: JobKind, plan: Plan, release: Release, tx: Sender<AppEvent>) -> Job {
        let control = pipeline::Control {
            cancel: Cancel::new(),
            release,
        };
        let cancel = control.cancel.clone();
        let thread = std::thread::spawn(move || {
            let reporter = ChannelReporter { tx: tx.clone() };
            let result = pipeline::run(&plan, &reporter, &control);
            let _ = tx.send(AppEvent::JobDone(kind, result.map(Box::new)));
        });
        Job {
            kind,
            cancel,
            thread: Some(thread),
        }
    }

    /// Run a short cloud task (authentication, registration: no helper VM)
    /// on a thread; its end arrives as [`AppEvent::CloudDone`].
    pub fn spawn_cloud<F>(work: F, tx: Sender<AppEvent>) -> Job
    where
        F: FnOnce(&dyn Reporter) -> anyhow::Result<CloudReply> + Send + 'static,
    {
        let thread = std::thread::spawn(move || {
            let reporter = ChannelReporter { tx: tx.clone() };
            let _ = tx.send(AppEvent::CloudDone(work(&reporter)));
        });
        Job {
            kind: JobKind::Cloud,
            cancel: Cancel::new(),
            thread: Some(thread),
        }
    }

    /// Ask the job to stop, and wait until its guards have cleaned up.
    pub fn cancel_and_wait(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Wait for a finished job's thread.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The result of a job as the UI receives it: the error as it was, so
/// its kind (a refused chain, found secrets) can be told by type.
pub type JobResult = anyhow::Result<Box<Outcome>>;

/// The progress of a job as lines on screen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunView {
    pub title: String,
    /// Finished lines, and the open step's title last.
    pub lines: Vec<String>,
    open: Vec<(StepId, usize)>,
    /// The open step's progress: done, total, unit.
    pub gauge: Option<(u64, u64, Unit)>,
    pub cancelling: bool,
    /// Every listing the run printed (a dry run's), as it came.
    pub listing: String,
    /// What the secret scan found, if it did.
    pub secrets: Vec<String>,
}

impl RunView {
    pub fn new(title: &str) -> RunView {
        RunView {
            title: title.into(),
            ..RunView::default()
        }
    }

    /// Take one progress event; returns the line for the log, if any.
    pub fn on_event(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Section(s) | Event::Info(s) => self.push(s.clone()),
            Event::Warning(w) => self.push(format!("Warning: {w}")),
            Event::Begin { id, title, total } => {
                self.lines.push(format!("{title} ..."));
                self.open.push((*id, self.lines.len() - 1));
                self.gauge = total.map(|(t, u)| (0, t, u));
                None
            }
            Event::Advance { done, .. } => {
                if let Some(g) = &mut self.gauge {
                    g.0 = *done;
                }
                None
            }
            Event::End { id, result } => {
                self.gauge = None;
                let at = self.open.iter().position(|(i, _)| i == id)?;
                let (_, line) = self.open.remove(at);
                self.lines[line] = format!("{} {result}", self.lines[line]);
                Some(self.lines[line].clone())
            }
            Event::Listing(listing) => {
                let text = &listing.text;
                self.listing.push_str(text);
                self.lines.extend(text.lines().map(str::to_owned));
                Some(text.clone())
            }
            Event::Mounted(dir) => self.push(format!("The guest is mounted on {}", dir.display())),
            Event::Secrets(found) => {
                self.secrets.clone_from(found);
                None
            }
            Event::Metadata(_) => None,
        }
    }

    fn push(&mut self, line: String) -> Option<String> {
        self.lines.push(line.clone());
        Some(line)
    }
}

impl Widget for &RunView {
    fn render(self, area: Rect, buf: &mut Buffer) {
        Clear.render(area, buf);
        let block =
            Block::bordered().title(Line::from(format!(" {} ", self.title)).bold().centered());
        let inner = block.inner(area);
        block.render(area, buf);
        let [text, gauge, help] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(u16::from(self.gauge.is_some())),
            Constraint::Length(1),
        ])
        .areas(inner);
        let skip = self.lines.len().saturating_sub(text.height as usize);
        let shown: Vec<Line> = self.lines[skip..]
            .iter()
            .map(|l| Line::from(l.as_str()))
            .collect();
        Paragraph::new(shown).render(text, buf);
        if let Some((done, total, unit)) = self.gauge {
            let ratio = if total == 0 {
                0.0
            } else {
                (done as f64 / total as f64).clamp(0.0, 1.0)
            };
            let label = match unit {
                Unit::Bytes => format!("{} / {} MiB", done >> 20, total >> 20),
                Unit::Items => format!("{done} / {total}"),
            };
            Gauge::default()
                .ratio(ratio)
                .label(label)
                .render(gauge, buf);
        }
        let hint = if self.cancelling {
            "Cancelling: cleaning up…"
        } else {
            "Ctrl-C: stop and exit"
        };
        Line::from(hint).italic().centered().render(help, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_chain_is_told_without_the_flag() {
        let e = anyhow::Error::new(ChainError::Refused {
            image: "/img/top.qcow2".into(),
            what: "backing file",
            name: "/dev/zero".into(),
            why: "it is a character device, not a regular file".into(),
        });
        let cli = format!("{e:#}");
        assert!(cli.contains("--allow-backing-file"), "{cli}");
        let ui = job_error(&e);
        assert!(!ui.contains("--"), "{ui}");
        assert!(
            ui.starts_with(
                "/img/top.qcow2: its backing file /dev/zero is refused: it is a character device"
            ),
            "{ui}"
        );
        assert!(ui.ends_with("flatten it on a machine you trust."), "{ui}");
        let other = anyhow::anyhow!("plain").context("outer");
        assert_eq!(job_error(&other), "outer: plain");
    }

    #[test]
    fn found_secrets_and_an_unaccepted_chain_are_told_without_flags() {
        let e = anyhow::Error::new(SecretsFound { count: 2 });
        assert!(format!("{e:#}").contains("--allow-secrets"));
        let ui = job_error(&e);
        assert!(!ui.contains("--"), "{ui}");
        assert!(ui.contains("2 secret(s)"), "{ui}");
        let e = anyhow::Error::new(ChainError::NotAllowed {
            top: "/img/top.qcow2".into(),
            chain: crate::media::chain::Chain { layers: Vec::new() },
        });
        let ui = job_error(&e);
        assert!(
            !ui.contains("--") && ui.starts_with("/img/top.qcow2"),
            "{ui}"
        );
    }

    #[test]
    fn steps_become_lines() {
        let mut v = RunView::new("Initialization");
        let id = StepId(7);
        v.on_event(&Event::Begin {
            id,
            title: "Launching helper VM".into(),
            total: None,
        });
        assert_eq!(v.lines, vec!["Launching helper VM ..."]);
        let logged = v.on_event(&Event::End {
            id,
            result: "done".into(),
        });
        assert_eq!(logged.as_deref(), Some("Launching helper VM ... done"));
        v.on_event(&Event::Warning("careful".into()));
        assert_eq!(v.lines[1], "Warning: careful");
    }

    #[test]
    fn gauge_follows_progress() {
        let mut v = RunView::new("Extract");
        let id = StepId(1);
        v.on_event(&Event::Begin {
            id,
            title: "Dumping image file".into(),
            total: Some((100, Unit::Items)),
        });
        v.on_event(&Event::Advance { id, done: 40 });
        assert_eq!(v.gauge, Some((40, 100, Unit::Items)));
        v.on_event(&Event::End {
            id,
            result: "done".into(),
        });
        assert_eq!(v.gauge, None);
    }
}
