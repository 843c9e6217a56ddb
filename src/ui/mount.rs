//! Customize → Mount: the guest's filesystems mounted read-write on a host
//! directory until the user returns. The UI keeps its own overlay of the
//! original media for the whole session ([`SessionOverlay`], made on the
//! first Mount): Mount works on it directly, and every later run takes it
//! as its source (snapshotted as usual), so what was changed reaches every
//! Extract or upload while the original stays as it was. Reset and leaving
//! the UI delete it. With `--no-snapshot` there is no overlay: Mount
//! changes the original itself, after a warning.

use std::path::PathBuf;

use super::app::{App, Facts, Screen, Tag as AppTag};
use super::expert::Tag as ExpertTag;
use super::job::job_error;
use super::job::{JobKind, JobResult};
use super::widgets::{Btn, Dialog, Reply};
use crate::pipeline::mount::{MountRequest, Release, SessionOverlay};
use crate::plan::Request;

/// What Mount keeps between runs.
#[derive(Debug, Default)]
pub struct MountState {
    /// The session's overlay and mount point, from the first Mount on.
    pub scratch: Option<SessionOverlay>,
    /// The running Mount's release flag.
    release: Option<Release>,
    /// How often the running Mount said the guest was ready (more than
    /// once: an unmount failed).
    offers: u32,
}

impl App {
    /// Customize → Mount: check, warn for `--no-snapshot`, then mount.
    pub(super) fn open_mount(&mut self) {
        if self.facts.session.as_ref().is_none_or(|s| s.os.is_none()) {
            return self.notice(
                "Mount",
                "No operating system was found on the media: there are no filesystems to mount.",
            );
        }
        if !self.facts.opts.no_snapshot {
            return self.start_mount();
        }
        self.push(Screen::Dialog(
            AppTag::Expert(ExpertTag::ConfirmMountOriginal),
            Dialog::new(
                "Mount",
                "snf-image-creator was started with --no-snapshot: what you change in the mounted guest changes the ORIGINAL media. Mount it anyway?",
                &[Btn::Yes, Btn::No],
            )
            .defaulting_to(Btn::No),
        ));
    }

    /// Mount the guest: one run of the pipeline on the session's disk.
    pub(super) fn start_mount(&mut self) {
        let Some(session) = self.facts.session.as_ref() else {
            return;
        };
        if self.facts.mount.scratch.is_none() {
            match SessionOverlay::create(
                &session.source,
                &session.format,
                self.facts.opts.tmpdir.as_deref(),
                !self.facts.opts.no_snapshot,
            ) {
                Ok(s) => self.facts.mount.scratch = Some(s),
                Err(e) => return self.notice("Mount failed", &format!("{e:#}")),
            }
        }
        let (Some(source), Some(scratch)) = (self.facts.work_source(), &self.facts.mount.scratch)
        else {
            return;
        };
        let release = Release::default();
        let request = Request {
            no_snapshot: true,
            allow_unsupported: true,
            mount: Some(MountRequest {
                dir: scratch.mountpoint(),
                release: release.clone(),
            }),
            ..self.facts.base_request(&source)
        };
        self.facts.mount.release = Some(release);
        self.facts.mount.offers = 0;
        self.start_job(JobKind::Mount, "Mount", request);
    }

    /// The running Mount says the guest is ready on `dir`.
    pub fn on_mounted(&mut self, dir: PathBuf) {
        self.facts.mount.offers += 1;
        let busy = if self.facts.mount.offers > 1 {
            "The guest could not be unmounted: something still uses the directory (a shell's working directory, an open file). Leave it, then try again.\n\n"
        } else {
            ""
        };
        let what = if self.facts.opts.no_snapshot {
            "the original media (--no-snapshot)"
        } else {
            "a copy of the media kept for this session: the changes go into every later Extract or upload, the original stays as it is"
        };
        let text = format!(
            "{busy}The guest is mounted on\n{}\n\nChange its files there with any tool. This is {what}. Press Enter to unmount.",
            dir.display()
        );
        self.push(Screen::Dialog(
            AppTag::Expert(ExpertTag::Mounted),
            Dialog::new("Mount", &text, &[Btn::Unmount]),
        ));
    }

    /// The user is done with the mounted guest.
    pub(super) fn unmount(&mut self) {
        if let Some(release) = &self.facts.mount.release {
            release.release();
        }
    }

    /// The Mount run ended.
    pub(super) fn on_mount_done(&mut self, result: JobResult) {
        self.facts.mount.release = None;
        self.stack.retain(|s| {
            !matches!(
                s,
                Screen::Running(_) | Screen::Dialog(AppTag::Expert(ExpertTag::Mounted), _)
            )
        });
        match result {
            Ok(_) if self.facts.mount.offers > 0 => self.notice(
                "Mount",
                "The guest was unmounted. Its changes go into every later Extract or upload.",
            ),
            Ok(_) => self.notice("Mount", "There was nothing to mount."),
            Err(e) => self.notice("Mount failed", &job_error(&e)),
        }
    }

    /// A reply on the screens of Mount.
    pub(super) fn on_mount_reply(&mut self, tag: ExpertTag, reply: Reply) {
        match (tag, reply) {
            (ExpertTag::ConfirmMountOriginal, Reply::Button(Btn::Yes)) => self.start_mount(),
            (ExpertTag::Mounted, _) => self.unmount(),
            _ => {}
        }
    }
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
