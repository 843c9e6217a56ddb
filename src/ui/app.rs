//! The dispatcher: the screen stack, the job runner and the shared
//! [`Facts`]. Keys go to the top screen. A [`Component`] answers with
//! [`Action`]s, applied here in order; a job's end (and its progress) goes
//! to the component that started it, the one under the job's view, and so
//! does a cloud task's. Long work runs as a [`Job`]; nothing here blocks.
//!
//! [`Component`]: super::component::Component

use std::path::Path;
use std::sync::mpsc::Sender;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::browser::Browser;
use super::component::{Action, Component, refused};
pub use super::facts::{Edits, Facts, Session};
use super::job::{CloudWork, Job, JobKind, JobResult, RunView, job_error};
pub use super::screen::{Entry, Screen, ScreenId};
use super::wizard::Wizard;
use super::{AppEvent, UiOptions, init, secrets};
use crate::pipeline::mount::Release;
use crate::plan::{Plan, Request};
use crate::process::StopReason;

/// The whole UI: the screen stack, the job runner and the shared facts.
pub struct App {
    pub facts: Facts,
    pub stack: Vec<Screen>,
    pub job: Option<Job>,
    /// Set when the UI should end, with the exit code.
    pub exit: Option<u8>,
    /// Ctrl-C was pressed during a job: leave once it has stopped.
    leaving: bool,
    /// The last job started, to run again (the secrets page's Continue).
    pub(super) last_run: Option<secrets::Held>,
    pub(super) tx: Sender<AppEvent>,
}

impl App {
    /// A new UI: straight to initialization when the media was named,
    /// else the browser.
    pub fn new(opts: UiOptions, tx: Sender<AppEvent>) -> App {
        let mut app = App {
            facts: Facts::new(opts),
            stack: Vec::new(),
            job: None,
            last_run: None,
            exit: None,
            leaving: false,
            tx,
        };
        app.apply(vec![match app.facts.opts.media.clone() {
            Some(media) => Action::OpenMedia(media),
            None => Action::BackToMedia,
        }]);
        app
    }

    /// Handle one event from the input thread or a job.
    pub fn on_event(&mut self, event: AppEvent) {
        match event {
            AppEvent::Key(key) => self.on_key(key),
            AppEvent::Progress(ev) => {
                if let Some(Screen::Running(view)) = self.stack.last_mut()
                    && let Some(line) = view.on_event(&ev)
                {
                    self.facts.log.push(line);
                }
                let owner = self.running_at().and_then(|i| i.checked_sub(1));
                if let Some(Screen::Component(c)) = owner.and_then(|i| self.stack.get_mut(i)) {
                    let actions = c.on_progress(&ev, &mut self.facts);
                    self.apply(actions);
                }
            }
            AppEvent::JobDone(kind, result) => self.on_job_done(kind, result),
            AppEvent::CloudDone(result) => {
                if self.finish_job(result.as_ref().err()) {
                    self.answer_top(|c, facts| c.on_cloud_done(result, facts));
                }
            }
            AppEvent::Interrupt(reason) => self.interrupt(reason),
        }
    }

    /// Ctrl-C, a signal or a lost terminal: stop the job (its guards
    /// clean up), then leave with the reason's exit code.
    pub fn interrupt(&mut self, reason: StopReason) {
        if let Some(job) = self.job.take() {
            job.cancel_and_wait();
        }
        self.exit = Some(reason.exit_code());
    }

    fn on_key(&mut self, key: KeyEvent) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            // As in snf-mkimage: stop, clean up, leave. A running step is
            // told to stop and the UI leaves when it has cleaned up, so
            // the screen says what is happening meanwhile (a screen a
            // job put over its view, as Mount's, goes).
            if let (Some(_), Some(at)) = (&self.job, self.running_at()) {
                self.stack.truncate(at + 1);
            }
            if let (Some(job), Some(Screen::Running(view))) = (&self.job, self.stack.last_mut()) {
                job.cancel.cancel();
                view.cancelling = true;
                self.leaving = true;
            } else {
                self.interrupt(StopReason::Interrupt);
            }
            return;
        }
        // Keys do nothing while a job runs, except Ctrl-C above.
        self.answer_top(|c, facts| c.on_key(key, facts));
    }

    /// Give the top screen, when it is a component, something to answer;
    /// apply its actions.
    fn answer_top(&mut self, answer: impl FnOnce(&mut dyn Component, &mut Facts) -> Vec<Action>) {
        if let Some(Screen::Component(c)) = self.stack.last_mut() {
            let actions = answer(c.as_mut(), &mut self.facts);
            self.apply(actions);
        }
    }

    /// Where the view of the running job is on the stack.
    fn running_at(&self) -> Option<usize> {
        (self.stack.iter()).rposition(|s| matches!(s, Screen::Running(_)))
    }

    /// Validate a request and run it as a job (a run that serves a mount
    /// until `release`), or say what is wrong.
    fn start_job(&mut self, kind: JobKind, title: &str, request: Request, release: Release) {
        let plan: Plan = match request.clone().validate() {
            Ok(plan) => plan,
            Err(e) => return self.apply(vec![refused(&e.0)]),
        };
        self.last_run = Some(secrets::Held {
            kind,
            title: title.to_owned(),
            request,
            error: None,
        });
        self.show_running(title);
        self.job = Some(Job::start(kind, plan, release, self.tx.clone()));
    }

    /// Run a cloud task as a job, with its progress on screen.
    fn start_cloud(&mut self, title: &str, work: CloudWork) {
        self.show_running(title);
        self.job = Some(Job::spawn_cloud(work, self.tx.clone()));
    }

    fn show_running(&mut self, title: &str) {
        self.facts.log.push(format!("== {title}"));
        self.stack.push(Screen::Running(RunView::new(title)));
    }

    fn on_job_done(&mut self, kind: JobKind, result: JobResult) {
        let (listing, secrets) = match self.stack.last() {
            Some(Screen::Running(view)) => (view.listing.clone(), view.secrets.clone()),
            _ => Default::default(),
        };
        if !self.finish_job(result.as_ref().err()) {
            return;
        }
        let result = match result {
            Err(e) => match secrets::hold(self.last_run.take(), &secrets, e) {
                Ok(page) => return self.stack.push(Screen::Component(page)),
                Err(e) => Err(e),
            },
            ok => ok,
        };
        self.job_ended(kind, result, listing);
    }

    /// Apply a component's actions, in order.
    pub(super) fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Push(c) => self.stack.push(Screen::Component(c)),
                Action::Pop => {
                    self.stack.pop();
                }
                Action::StartJob {
                    kind,
                    title,
                    request,
                    release,
                } => self.start_job(kind, &title, *request, release),
                Action::StartCloud { title, work } => self.start_cloud(&title, work),
                Action::Clear => self.stack.clear(),
                Action::OpenMedia(media) => self.apply_with(|f| init::open(&media, f)),
                Action::BackToMedia if self.stack.is_empty() => {
                    let browser = Browser::open(Path::new("."));
                    self.stack.push(Screen::Component(Box::new(browser)));
                }
                Action::BackToMedia => {}
                Action::Wizard => {
                    self.apply_with(|f| vec![Action::Push(Box::new(Wizard::start(f)))]);
                }
                Action::Expert => self.apply_with(super::expert::open),
                Action::JobEnded(kind, result) => self.job_ended(kind, result, String::new()),
                Action::Exit(code) => self.exit = Some(code),
            }
        }
    }

    /// Apply what `answer` makes of the facts.
    fn apply_with(&mut self, answer: impl FnOnce(&mut Facts) -> Vec<Action>) {
        let actions = answer(&mut self.facts);
        self.apply(actions);
    }

    /// What a finished job leads to: the component that started it takes
    /// its end (initialization's ends here).
    pub(super) fn job_ended(&mut self, kind: JobKind, result: JobResult, listing: String) {
        if let Ok(outcome) = &result {
            self.facts.note_shrink(outcome);
        }
        if kind == JobKind::Initialize {
            return self.apply_with(|f| init::initialized(result, f));
        }
        self.answer_top(|c, facts| c.on_job_done(result, &listing, facts));
    }

    /// A job ended: join it, take its screen away, log its error. False
    /// when the UI is leaving (Ctrl-C during the job).
    fn finish_job(&mut self, error: Option<&anyhow::Error>) -> bool {
        if let Some(job) = self.job.take() {
            job.join();
        }
        // The view goes, with what the job put over it (Mount's question).
        if let Some(at) = self.running_at() {
            self.stack.truncate(at);
        }
        if let Some(e) = error {
            self.facts.log.push(format!("Error: {}", job_error(e)));
        }
        if self.leaving {
            self.exit = Some(StopReason::Interrupt.exit_code());
        }
        !self.leaving
    }

    /// Draw the title bar, the screens and the status line.
    pub fn render(&self, frame: &mut Frame) {
        super::screen::draw(&self.stack, &self.facts.status_line(), frame);
    }
}
