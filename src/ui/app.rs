//! The dispatcher: the screen stack, the job runner and the shared
//! [`Facts`]. Keys go to the top screen. A [`Component`] answers with
//! [`Action`]s, applied here in order; a job's end (and its progress) goes
//! to the component that started it, the one under the job's view. The
//! flows not yet components (the wizard, the Register menu, its cloud
//! accounts and the upload) are plain widgets whose [`Reply`] comes
//! back here with the screen's [`Tag`] and goes to their `impl App`
//! blocks. Long work runs as a [`Job`]; nothing here blocks.
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
use super::component::Action;
pub use super::facts::{Edits, Facts, Session};
use super::init;
use super::job::{Job, JobKind, JobResult, RunView, job_error};
pub use super::screen::{Entry, Screen, Tag};
use super::widgets::{Btn, Dialog, Reply};
use super::{AppEvent, UiOptions};
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
    pub(super) last_run: Option<super::secrets::Held>,
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
            None => app.push(Screen::Component(Box::new(Browser::open(Path::new("."))))),
        }
        app
    }

    pub fn push(&mut self, screen: Screen) {
        self.stack.push(screen);
    }

    /// Show the expert main menu (on a cleared stack).
    pub fn open_expert(&mut self) {
        let actions = super::expert::open(&mut self.facts);
        self.apply(actions);
    }

    /// Show a message over the current screen.
    pub fn notice(&mut self, title: &str, text: &str) {
        self.push(Screen::Dialog(
            Tag::Notice,
            Dialog::new(title, text, &[Btn::Ok]),
        ));
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
                    self.on_cloud_done(result);
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
        let Some(mut screen) = self.stack.pop() else {
            return;
        };
        let reply = match &mut screen {
            Screen::Component(c) => {
                let actions = c.on_key(key, &mut self.facts);
                self.stack.push(screen);
                return self.apply(actions);
            }
            // Keys do nothing while a job runs, except Ctrl-C above.
            Screen::Running(_) => Reply::None,
            Screen::Menu(_, w) => w.on_key(key),
            Screen::Dialog(_, w) => w.on_key(key),
            Screen::Input(_, w) => w.on_key(key),
            Screen::Checklist(_, w) => w.on_key(key),
            Screen::Text(_, w) => w.on_key(key),
            Screen::Form(_, w) => w.on_key(key),
        };
        if reply == Reply::None {
            self.stack.push(screen);
        } else {
            self.dispatch(screen, reply);
        }
    }

    /// Route a reply by the tag of the screen it came from. The screen is
    /// already off the stack; flows push it back when it stays.
    fn dispatch(&mut self, screen: Screen, reply: Reply) {
        let tag = match &screen {
            Screen::Menu(t, _)
            | Screen::Dialog(t, _)
            | Screen::Input(t, _)
            | Screen::Checklist(t, _)
            | Screen::Text(t, _)
            | Screen::Form(t, _) => t.clone(),
            Screen::Running(_) | Screen::Component(_) => {
                return self.stack.push(screen);
            }
        };
        match tag {
            // Dialogs that are components, and notices, take no reply.
            Tag::Notice
            | Tag::Browser
            | Tag::ConfirmExit
            | Tag::InitFailed
            | Tag::ModeChoice
            | Tag::Unsupported
            | Tag::BackingChain
            | Tag::Secrets => {}
            Tag::Wizard(page) => self.on_wizard(page, screen, reply),
            Tag::Expert(_) => {}
            Tag::Account(tag) => self.on_account(tag, screen, reply),
            Tag::Register(tag) => self.on_register(tag, screen, reply),
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
            Err(e) => return self.notice("Error", &e.0),
        };
        self.last_run = Some(super::secrets::Held {
            kind,
            title: title.to_owned(),
            request,
            error: None,
        });
        self.facts.log.push(format!("== {title}"));
        self.push(Screen::Running(RunView::new(title)));
        self.job = Some(Job::start(kind, plan, release, self.tx.clone()));
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
            Err(e) => match self.hold_for_secrets(&secrets, e) {
                Some(e) => Err(e),
                None => return,
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
                Action::Show(screen) => self.push(*screen),
                Action::Pop => {
                    self.stack.pop();
                }
                Action::Notice { title, text } => self.notice(&title, &text),
                Action::StartJob {
                    kind,
                    title,
                    request,
                    release,
                } => self.start_job_releasing(kind, &title, *request, release),
                Action::Clear => self.stack.clear(),
                Action::OpenMedia(media) => self.open_media(&media),
                Action::BackToMedia if self.stack.is_empty() => {
                    self.push(Screen::Component(Box::new(Browser::open(Path::new(".")))));
                }
                Action::BackToMedia => {}
                Action::Wizard => self.start_wizard(),
                Action::Expert => self.open_expert(),
                Action::JobEnded(kind, result) => self.dispatch_job(kind, result, String::new()),
                Action::Exit(code) => self.exit = Some(code),
            }
        }
    }

    /// What a finished job leads to: the component that started it takes
    /// its end, else the flow of its kind.
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
        if let Some(Screen::Component(c)) = self.stack.last_mut() {
            let actions = c.on_job_done(result, &listing, &mut self.facts);
            return self.apply(actions);
        }
        match kind {
            JobKind::Wizard => self.on_wizard_done(result),
            JobKind::Upload => self.on_uploaded(result),
            // Started by components, which take their ends.
            JobKind::Initialize
            | JobKind::Extract
            | JobKind::Preview
            | JobKind::Mount
            | JobKind::Cloud => {}
        }
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
