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
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::browser::Browser;
use super::component::{Action, Component, refused};
pub use super::facts::{Edits, Facts, Session};
use super::job::{CloudWork, Job, JobKind, JobResult, RunView, job_error};
pub use super::screen::{Entry, Screen, Tag};
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
        match app.facts.opts.media.clone() {
            Some(media) => app.open_media(&media),
            None => app.apply(vec![Action::BackToMedia]),
        }
        app
    }

    pub fn push(&mut self, screen: Screen) {
        self.stack.push(screen);
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
                let owner = self
                    .stack
                    .iter()
                    .rposition(|s| matches!(s, Screen::Running(_)));
                if let Some(Screen::Component(c)) =
                    owner.and_then(|i| self.stack.get_mut(i.checked_sub(1)?))
                {
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
            if self.job.is_some() && self.stack.iter().any(|s| matches!(s, Screen::Running(_))) {
                while !matches!(self.stack.last(), Some(Screen::Running(_))) {
                    self.stack.pop();
                }
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

    /// Start initialization on `media`: snapshot, helper VM, inspection.
    pub fn open_media(&mut self, media: &Path) {
        // A new start: the session's overlay goes.
        self.facts.mount = Default::default();
        let request = Request {
            source: media.to_owned(),
            print_metadata: true,
            allow_unsupported: true,
            ..self.facts.base_request(media)
        };
        self.start_job(JobKind::Initialize, "Initialization", request);
    }

    /// Validate a request and run it as a job, or say what is wrong.
    pub fn start_job(&mut self, kind: JobKind, title: &str, request: Request) {
        self.start_job_releasing(kind, title, request, Release::default());
    }

    /// [`App::start_job`], for a run that serves a mount until `release`.
    fn start_job_releasing(
        &mut self,
        kind: JobKind,
        title: &str,
        request: Request,
        release: Release,
    ) {
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
        self.push(Screen::Running(RunView::new(title)));
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
                Ok(page) => return self.push(Screen::Component(page)),
                Err(e) => Err(e),
            },
            ok => ok,
        };
        self.dispatch_job(kind, result, listing);
    }

    /// Apply a component's actions, in order.
    pub(super) fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Push(c) => self.push(Screen::Component(c)),
                Action::Pop => {
                    self.stack.pop();
                }
                Action::Notice { title, text } => self.push_component(init::notice(&title, &text)),
                Action::StartJob {
                    kind,
                    title,
                    request,
                    release,
                } => self.start_job_releasing(kind, &title, *request, release),
                Action::StartCloud { title, work } => self.start_cloud(&title, work),
                Action::Clear => self.stack.clear(),
                Action::OpenMedia(media) => self.open_media(&media),
                Action::BackToMedia if self.stack.is_empty() => {
                    self.push_component(Box::new(Browser::open(Path::new("."))));
                }
                Action::BackToMedia => {}
                Action::Wizard => {
                    let wizard = Wizard::start(&mut self.facts);
                    self.push_component(Box::new(wizard));
                }
                Action::Expert => {
                    let actions = super::expert::open(&mut self.facts);
                    self.apply(actions);
                }
                Action::JobEnded(kind, result) => self.dispatch_job(kind, result, String::new()),
                Action::Exit(code) => self.exit = Some(code),
            }
        }
    }

    fn push_component(&mut self, component: Box<dyn Component>) {
        self.push(Screen::Component(component));
    }

    /// What a finished job leads to: the component that started it takes
    /// its end (initialization's ends here).
    pub(super) fn dispatch_job(&mut self, kind: JobKind, result: JobResult, listing: String) {
        if let (Ok(o), Some(s)) = (&result, self.facts.session.as_mut())
            && o.shrink.is_some()
        {
            s.size = o.size;
            s.shrunk = true;
        }
        if kind == JobKind::Initialize {
            let actions = init::initialized(result, &mut self.facts);
            return self.apply(actions);
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
        if let Some(at) = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Screen::Running(_)))
        {
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
        let [title, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let heading = format!(
            "snf-image-creator {}: cloud images from disk images",
            env!("CARGO_PKG_VERSION")
        );
        frame.render_widget(
            Line::from(heading).style(Style::new().add_modifier(Modifier::REVERSED)),
            title,
        );
        // A dialog is drawn over the screen it answers for.
        let under = usize::from(self.stack.last().is_some_and(Screen::is_dialog));
        let from = self.stack.len().saturating_sub(1 + under);
        for screen in &self.stack[from..] {
            screen.render(body, frame.buffer_mut());
        }
        frame.render_widget(
            Line::from(self.facts.status_line())
                .style(Style::new().add_modifier(Modifier::REVERSED)),
            status,
        );
    }
}
