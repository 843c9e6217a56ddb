//! Progress reporting: the one channel through which everything below the
//! front ends tells the user what is happening.
//!
//! The pipeline and the modules it drives never print. They emit [`Event`]s
//! to a [`Reporter`]; the CLI draws them as the original's `title ... result`
//! lines (with a progress bar on a terminal), the TUI forwards them to its
//! event loop, and tests record them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one step while it runs, so that progress and its end can be
/// matched to its beginning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepId(pub u64);

/// What a progress total counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes; front ends show them in MiB.
    Bytes,
    /// Plain items (files, tasks, blocks).
    Items,
}

/// One thing worth telling the user.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new section of the run begins ("Running OS inspection:").
    Section(String),
    /// A step begins: `title ...`. `total` is set when progress will follow.
    Begin {
        id: StepId,
        title: String,
        total: Option<(u64, Unit)>,
    },
    /// A step with a total has reached `done`.
    Advance { id: StepId, done: u64 },
    /// A step ended, with the short result shown after the dots.
    End { id: StepId, result: String },
    /// A line of information.
    Info(String),
    /// Something the user should know about but that does not stop the run.
    Warning(String),
    /// The image metadata, for front ends that show it (`--print-metadata`).
    Metadata(Vec<(String, String)>),
    /// A listing the user asked for (`--print-syspreps`, `--dry-run`…):
    /// front ends print its text, or its data with `--json`, on standard
    /// output.
    Listing(Listing),
    /// The guest is mounted on this host directory until the run is
    /// released (the UI's Mount).
    Mounted(std::path::PathBuf),
    /// The secret scan found these (`path: kind` lines, never values);
    /// each was also a warning.
    Secrets(Vec<String>),
}

/// A listing in both of its forms: the text people read, and the JSON
/// document scripts read (one object whose single key names the listing:
/// `syspreps`, `sysprep_params`, `dry_run`…).
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub text: String,
    pub json: serde_json::Value,
}

/// Something that long-running work reports to.
pub trait Reporter: Send + Sync {
    /// Receive one event.
    fn emit(&self, event: Event);

    /// Begin a step; end it with [`Step::done`].
    fn begin(&self, title: &str) -> Step<'_>
    where
        Self: Sized,
    {
        begin_step(self, title, None)
    }

    /// Tell the user something.
    fn info(&self, msg: &str) {
        self.emit(Event::Info(msg.to_owned()))
    }

    /// Warn the user.
    fn warn(&self, msg: &str) {
        self.emit(Event::Warning(msg.to_owned()))
    }

    /// Start a new section.
    fn section(&self, title: &str) {
        self.emit(Event::Section(title.to_owned()))
    }
}

static NEXT_STEP: AtomicU64 = AtomicU64::new(1);

/// Begin a step on any reporter, trait object or not.
pub fn begin_step<'a>(
    reporter: &'a dyn Reporter,
    title: &str,
    total: Option<(u64, Unit)>,
) -> Step<'a> {
    let id = StepId(NEXT_STEP.fetch_add(1, Ordering::Relaxed));
    reporter.emit(Event::Begin {
        id,
        title: title.to_owned(),
        total,
    });
    Step {
        reporter,
        id,
        ended: false,
    }
}

/// A running step. Dropping it without [`Step::done`] ends it as `failed`,
/// so a front end never keeps a half-drawn line after an error.
pub struct Step<'a> {
    reporter: &'a dyn Reporter,
    id: StepId,
    ended: bool,
}

impl Step<'_> {
    /// Report how far the step has come (in the unit of its total).
    pub fn advance(&self, done: u64) {
        self.reporter.emit(Event::Advance { id: self.id, done });
    }

    /// End the step with its result text (`done`, `debian`, a checksum…).
    pub fn done(mut self, result: impl Into<String>) {
        self.ended = true;
        self.reporter.emit(Event::End {
            id: self.id,
            result: result.into(),
        });
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.reporter.emit(Event::End {
                id: self.id,
                result: "failed".into(),
            });
        }
    }
}

/// A reporter that drops everything.
pub struct NullReporter;

impl Reporter for NullReporter {
    fn emit(&self, _event: Event) {}
}

/// A reporter that keeps every event, for tests and for the run log.
#[derive(Default)]
pub struct RecordingReporter {
    events: Mutex<Vec<Event>>,
}

impl RecordingReporter {
    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The warnings so far.
    pub fn warnings(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Warning(w) => Some(w),
                _ => None,
            })
            .collect()
    }
}

impl Reporter for RecordingReporter {
    fn emit(&self, event: Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_step_ends_as_failed() {
        let r = RecordingReporter::default();
        {
            let _s = r.begin("Doing a thing");
        }
        let ev = r.events();
        assert_eq!(ev.len(), 2);
        assert!(matches!(&ev[1], Event::End { result, .. } if result == "failed"));
    }

    #[test]
    fn finished_step_ends_once() {
        let r = RecordingReporter::default();
        let s = r.begin("Doing a thing");
        s.advance(3);
        s.done("done");
        let ev = r.events();
        assert_eq!(ev.len(), 3);
        assert!(matches!(&ev[2], Event::End { result, .. } if result == "done"));
    }
}
