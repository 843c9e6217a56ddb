//! Mounting the guest on the host until the front end releases it (the
//! terminal UI's Customize → Mount): the guest's filesystems are mounted
//! read-write in the helper VM and exported on a local directory through
//! FUSE (the same serving `--host-run` uses), so that any host tool can
//! change them. The run then waits for its control's [`Release`] (or
//! cancellation),
//! unmounts, and ends; the helper VM's shutdown puts every change into the
//! disk the run works on.
//!
//! The disk is usually the UI's [`SessionOverlay`]: a qcow2 overlay of the
//! original media that lives as long as the UI session, so that what was
//! changed here reaches every later export while the original stays as
//! it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;

use super::{Control, host_run};
use crate::guest::OsInfo;
use crate::guest::appliance::Appliance;
use crate::media::{ImageFormat, WorkDir, qemu_img};
use crate::plan::{Plan, Work};
use crate::process::Cancel;
use crate::progress::{Event, Reporter, begin_step};

/// A flag the front end raises when the user is done with the mounted
/// guest. The run lowers it when it takes it, so it can be raised again
/// after an unmount that failed.
#[derive(Debug, Clone, Default)]
pub struct Release(Arc<AtomicBool>);

impl Release {
    /// Ask the run to unmount the guest and end.
    pub fn release(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether release was asked for; lowers the flag.
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// How often the waiting run looks at its release and cancel flags.
const POLL: Duration = Duration::from_millis(100);

/// When the plan's work is [`Work::Mount`], mount the guest on the host
/// until released. Emits [`Event::Mounted`] each time the guest is ready
/// for the user (again after an unmount that failed because the directory
/// was busy).
pub(super) fn serve(
    vm: &Appliance,
    os: &OsInfo,
    plan: &Plan,
    reporter: &dyn Reporter,
    control: &Control,
) -> Result<()> {
    let Work::Mount { on } = &plan.work else {
        return Ok(());
    };
    let step = begin_step(reporter, "Mounting the media read-write", None);
    vm.mount(os, false, reporter)?;
    step.done("done");
    let served = host_run::serve_local(vm, on, |mp| {
        wait_and_unmount(mp, &control.release, reporter, &control.cancel)
    });
    let step = begin_step(reporter, "Umounting the media", None);
    vm.umount_all()?;
    step.done("done");
    served
}

/// Tell the front end, wait for release, unmount; a busy directory is
/// reported and the wait starts again (unless the run is cancelled).
fn wait_and_unmount(
    mp: &Path,
    release: &Release,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<()> {
    loop {
        reporter.emit(Event::Mounted(mp.to_owned()));
        while !release.take() && !cancel.is_cancelled() {
            std::thread::sleep(POLL);
        }
        let step = begin_step(reporter, &format!("Unmounting {}", mp.display()), None);
        match host_run::unmount(mp) {
            Ok(()) => {
                step.done("done");
                return Ok(());
            }
            Err(e) if cancel.is_cancelled() => return Err(e),
            Err(e) => {
                step.done("failed");
                reporter.warn(&format!(
                    "{} is still in use (a shell's working directory or an open file?): {e:#}",
                    mp.display()
                ));
            }
        }
    }
}

/// The UI session's own overlay of the original media, and a directory to
/// mount the guest on; both removed when it is dropped.
#[derive(Debug)]
pub struct SessionOverlay {
    dir: WorkDir,
    overlay: Option<PathBuf>,
}

impl SessionOverlay {
    /// A private directory under `tmpdir` (or the usual choice) holding a
    /// qcow2 overlay of `source` (of format `format`), unless `snapshot` is
    /// false: then only the mount point is made and runs use the original.
    pub fn create(
        source: &Path,
        format: &ImageFormat,
        tmpdir: Option<&Path>,
        snapshot: bool,
    ) -> Result<SessionOverlay> {
        let dir = WorkDir::create(tmpdir)?;
        std::fs::create_dir(dir.join("guest")).map_err(|e| {
            anyhow::anyhow!("creating a mount point in {}: {e}", dir.path().display())
        })?;
        let overlay = if snapshot {
            let path = dir.join("session.qcow2");
            qemu_img::create_overlay(source, format, &path)?;
            Some(path)
        } else {
            None
        };
        Ok(SessionOverlay { dir, overlay })
    }

    /// The overlay, when there is one.
    pub fn overlay(&self) -> Option<&Path> {
        self.overlay.as_deref()
    }

    /// The directory the guest is mounted on.
    pub fn mountpoint(&self) -> PathBuf {
        self.dir.join("guest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_is_taken_once() {
        let r = Release::default();
        assert!(!r.take());
        r.clone().release();
        assert!(r.take());
        assert!(!r.take(), "taking lowers the flag");
    }

    #[test]
    fn session_overlay_on_a_real_image() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.raw");
        std::fs::write(&base, vec![0u8; 1 << 20]).unwrap();
        let s = SessionOverlay::create(&base, &ImageFormat::Raw, Some(dir.path()), true).unwrap();
        let overlay = s.overlay().unwrap().to_owned();
        let info = qemu_img::info(&overlay).unwrap();
        assert_eq!(
            (info.format.as_str(), info.virtual_size),
            ("qcow2", 1 << 20)
        );
        assert!(s.mountpoint().is_dir());
        drop(s);
        assert!(!overlay.exists());
        let s = SessionOverlay::create(&base, &ImageFormat::Raw, Some(dir.path()), false).unwrap();
        assert!(s.overlay().is_none());
        drop(s);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
