//! Customize → Mount: the guest's filesystems mounted read-write on a host
//! directory until the user returns. The UI keeps its own overlay of the
//! original media for the whole session ([`SessionOverlay`], made on the
//! first Mount): Mount works on it directly, and every later run takes it
//! as its source (snapshotted as usual), so what was changed reaches every
//! Extract or upload while the original stays as it was. Reset and leaving
//! the UI delete it. With `--no-snapshot` there is no overlay: Mount
//! changes the original itself, after a warning.

use std::path::PathBuf;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component, start_or_refuse};
use super::init::Ask;
use super::job::{JobKind, JobResult, job_error};
use super::widgets::{Btn, Dialog, Reply};
use crate::pipeline::mount::{Release, SessionOverlay};
use crate::plan::Request;
use crate::progress::Event;

/// What Mount keeps between runs.
#[derive(Debug, Default)]
pub struct MountState {
    /// The session's overlay and mount point, from the first Mount on.
    pub scratch: Option<SessionOverlay>,
}

/// Customize → Mount: check, warn for `--no-snapshot`, then mount.
pub fn open(facts: &mut Facts) -> Vec<Action> {
    if facts.session.as_ref().is_none_or(|s| s.os.is_none()) {
        return vec![Action::notice(
            "Mount",
            "No operating system was found on the media: there are no filesystems to mount.",
        )];
    }
    if !facts.opts.no_snapshot {
        return start(facts);
    }
    let dialog = Dialog::new(
        "Mount",
        "snf-image-creator was started with --no-snapshot: what you change in the mounted guest changes the ORIGINAL media. Mount it anyway?",
        &[Btn::Yes, Btn::No],
    );
    let tag = ScreenId::ConfirmMountOriginal;
    let ask = Ask::boxed(tag, dialog.defaulting_to(Btn::No), |r, facts| {
        let mut actions = vec![Action::Pop];
        if r == Reply::Button(Btn::Yes) {
            actions.extend(start(facts));
        }
        actions
    });
    vec![Action::Push(ask)]
}

/// Mount the guest: one run of the pipeline on the session's disk.
fn start(facts: &mut Facts) -> Vec<Action> {
    let Some(session) = facts.session.as_ref() else {
        return Vec::new();
    };
    if facts.mount.scratch.is_none() {
        let opts = &facts.opts;
        let tmpdir = opts.tmpdir.as_deref();
        match SessionOverlay::create(&session.source, &session.format, tmpdir, !opts.no_snapshot) {
            Ok(s) => facts.mount.scratch = Some(s),
            Err(e) => return vec![Action::notice("Mount failed", format!("{e:#}"))],
        }
    }
    let (Some(source), Some(scratch)) = (facts.work_source(), &facts.mount.scratch) else {
        return Vec::new();
    };
    let release = Release::default();
    let request = Request {
        no_snapshot: true,
        allow_unsupported: true,
        mount: Some(scratch.mountpoint()),
        ..facts.base_request(&source)
    };
    let mount = Mount::new(release.clone(), facts.opts.no_snapshot);
    let mut actions = vec![Action::Push(Box::new(mount))];
    actions.extend(start_or_refuse(JobKind::Mount, "Mount", request, release));
    actions
}

/// The running Mount, under its job's view: it offers the mounted guest
/// and takes the run's end.
pub struct Mount {
    release: Release,
    /// How often the run said the guest was ready (more than once: an
    /// unmount failed).
    offers: u32,
    no_snapshot: bool,
}

impl Mount {
    pub fn new(release: Release, no_snapshot: bool) -> Mount {
        Mount {
            release,
            offers: 0,
            no_snapshot,
        }
    }

    /// "The guest is mounted on DIR": Unmount releases it.
    fn mounted(&mut self, dir: &std::path::Path) -> Box<dyn Component> {
        self.offers += 1;
        let busy = if self.offers > 1 {
            "The guest could not be unmounted: something still uses the directory (a shell's working directory, an open file). Leave it, then try again.\n\n"
        } else {
            ""
        };
        let what = if self.no_snapshot {
            "the original media (--no-snapshot)"
        } else {
            "a copy of the media kept for this session: the changes go into every later Extract or upload, the original stays as it is"
        };
        let text = format!(
            "{busy}The guest is mounted on\n{}\n\nChange its files there with any tool. This is {what}. Press Enter to unmount.",
            dir.display()
        );
        let release = self.release.clone();
        let dialog = Dialog::new("Mount", &text, &[Btn::Unmount]);
        Ask::boxed(ScreenId::Mounted, dialog, move |_, _| {
            release.release();
            vec![Action::Pop]
        })
    }
}

impl Component for Mount {
    fn id(&self) -> ScreenId {
        ScreenId::Mount
    }

    fn on_key(&mut self, _: KeyEvent, _: &mut Facts) -> Vec<Action> {
        Vec::new()
    }

    fn on_progress(&mut self, event: &Event, _: &mut Facts) -> Vec<Action> {
        match event {
            Event::Mounted(dir) => vec![Action::Push(self.mounted(dir))],
            _ => Vec::new(),
        }
    }

    /// The Mount run ended.
    fn on_job_done(&mut self, result: JobResult, _: &str, _: &mut Facts) -> Vec<Action> {
        let notice = match result {
            Ok(_) if self.offers > 0 => Action::notice(
                "Mount",
                "The guest was unmounted. Its changes go into every later Extract or upload.",
            ),
            Ok(_) => Action::notice("Mount", "There was nothing to mount."),
            Err(e) => Action::notice("Mount failed", job_error(&e)),
        };
        vec![Action::Pop, notice]
    }

    /// Always under its job's view.
    fn render(&self, _: Rect, _: &mut Buffer) {}
}

impl Facts {
    /// The disk runs start from: the session's overlay once there is one,
    /// else the original media.
    pub fn work_source(&self) -> Option<PathBuf> {
        let session = self.session.as_ref()?;
        let overlay = self.mount.scratch.as_ref().and_then(|s| s.overlay());
        Some(overlay.map_or_else(|| session.source.clone(), |o| o.to_owned()))
    }
}
