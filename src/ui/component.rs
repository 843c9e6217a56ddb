//! Screens as components, in the manner of gitui: a component owns its
//! flow's state, takes a key — or the end of the job it started — with the
//! shared [`Facts`], and answers with [`Action`]s, which the [`App`]
//! applies to the screen stack in order. Components never reach into each
//! other: what they share is in the facts.
//!
//! [`App`]: super::App

use std::any::Any;
use std::path::PathBuf;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::app::{Facts, ScreenId};
use super::job::{CloudReply, CloudResult, CloudWork, JobKind, JobResult};
use crate::pipeline::mount::Release;
use crate::plan::Request;
use crate::progress::{Event, Reporter};

/// What a component asks the application to do.
pub enum Action {
    /// Put this screen on top.
    Push(Box<dyn Component>),
    /// Take the top screen away.
    Pop,
    /// Validate the request and run it; its end comes back to the screen
    /// on top now.
    StartJob {
        kind: JobKind,
        title: String,
        request: Box<Request>,
        /// How the screen that asked releases a mounted guest (Mount).
        release: Release,
    },
    /// Run a cloud task (no pipeline run) as a job; its end comes back to
    /// the screen on top now.
    StartCloud { title: String, work: CloudWork },
    /// Take every screen away.
    Clear,
    /// Initialize this media (a new start).
    OpenMedia(PathBuf),
    /// The media browser, when no screen is left.
    BackToMedia,
    /// The wizard, from its first page.
    Wizard,
    /// The expert menu, on a cleared stack.
    Expert,
    /// End a job of this kind with this result, as if it had just ended
    /// (a held job the user gave up).
    JobEnded(JobKind, JobResult),
    /// Leave the UI with this exit code.
    Exit(u8),
}

impl Action {
    /// Show a message over the top screen.
    pub fn notice(title: &str, text: impl Into<String>) -> Action {
        Action::Push(super::init::notice(title, &text.into()))
    }

    /// Run `work` as a cloud task titled `title`.
    pub fn cloud(
        title: &str,
        work: impl FnOnce(&dyn Reporter) -> anyhow::Result<CloudReply> + Send + 'static,
    ) -> Action {
        Action::StartCloud {
            title: title.into(),
            work: Box::new(work),
        }
    }
}

/// A screen that owns its state and answers with actions.
pub trait Component: Any {
    /// Which screen this is (for tests and for the screens under it).
    fn id(&self) -> ScreenId;

    /// A key pressed while this screen is on top.
    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action>;

    /// The job this screen started ended (`listing` is what it printed).
    fn on_job_done(&mut self, result: JobResult, listing: &str, facts: &mut Facts) -> Vec<Action> {
        let _ = (result, listing, facts);
        Vec::new()
    }

    /// The cloud task this screen started ended.
    fn on_cloud_done(&mut self, result: CloudResult, facts: &mut Facts) -> Vec<Action> {
        let _ = (result, facts);
        Vec::new()
    }

    /// A progress event of the job this screen started.
    fn on_progress(&mut self, event: &Event, facts: &mut Facts) -> Vec<Action> {
        let _ = (event, facts);
        Vec::new()
    }

    /// Draw the screen; a dialog is drawn over the screen under it.
    fn render(&self, area: Rect, buf: &mut Buffer);

    /// Whether the screen is a dialog drawn over the one under it.
    fn is_dialog(&self) -> bool {
        false
    }
}

/// The actions that run `request` as a job, or, when validation refuses it,
/// take the asking screen away and say why.
pub fn start_or_refuse(
    kind: JobKind,
    title: &str,
    request: Request,
    release: Release,
) -> Vec<Action> {
    match request.clone().validate() {
        Ok(_) => vec![Action::StartJob {
            kind,
            title: title.into(),
            request: Box::new(request),
            release,
        }],
        Err(e) => vec![Action::Pop, refused(&e.0)],
    }
}

/// The notice for a request validation refused, in the UI's words.
pub fn refused(message: &str) -> Action {
    Action::notice("Error", super::requests::in_ui_words(message))
}
