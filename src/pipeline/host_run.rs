//! `--host-run SCRIPT`: scripts the user runs on this machine against the
//! guest, before the system preparation tasks. The guest's filesystems are
//! mounted read-write on a local directory through FUSE (libguestfs
//! `mount_local`), which is each script's working directory; the metadata
//! is in `SNF_IMAGE_CREATOR_METADATA_<KEY>` variables. Scripts are not
//! jailed: they run as the user running this tool, with the host's files
//! and paths (`/etc` is the host's `/etc`, the guest's is `./etc`).
//!
//! libguestfs serves the FUSE mount from the thread that calls
//! `mount_local_run`, until the mount goes away; so the scripts run on a
//! second thread, which unmounts when they are done ([`serve_local`], which
//! the UI's Mount shares).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use crate::guest::appliance::{Appliance, gerr};
use crate::guest::metadata::Metadata;
use crate::process::CommandExt;
use crate::progress::{Reporter, begin_step};

/// Run `scripts` in order on the mounted guest; the first that fails stops
/// the run.
pub(super) fn run_scripts(
    vm: &Appliance,
    scripts: &[PathBuf],
    meta: &Metadata,
    reporter: &dyn Reporter,
) -> Result<()> {
    if scripts.is_empty() {
        return Ok(());
    }
    reporter.warn(
        "--host-run scripts run on this machine as they are, not jailed in the guest: a guest symlink they follow leads to this machine's file",
    );
    let dir = tempfile::Builder::new()
        .prefix("snf-guest.")
        .tempdir()
        .context("creating a mount point for --host-run")?;
    let env: Vec<(String, String)> = meta
        .iter()
        .map(|(k, v)| (format!("SNF_IMAGE_CREATOR_METADATA_{k}"), v.clone()))
        .collect();
    serve_local(vm, dir.path(), |mp| run_all(scripts, mp, &env, reporter))
}

/// Export the guest's mounted filesystems on the local directory `mp`
/// (FUSE), run `work` on a second thread while this one serves the files,
/// then unmount (unless `work` already did).
pub(super) fn serve_local<T: Send>(
    vm: &Appliance,
    mp: &Path,
    work: impl FnOnce(&Path) -> Result<T> + Send,
) -> Result<T> {
    let name = mp.to_str().context("the mount point is not UTF-8")?;
    vm.handle()
        .mount_local(name, Default::default())
        .map_err(gerr(format!("mounting the guest on {name}")))?;
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let result = work(mp);
            let unmounted = if is_mounted(mp) { unmount(mp) } else { Ok(()) };
            (result, unmounted)
        });
        let served = vm
            .handle()
            .mount_local_run()
            .map_err(gerr("serving the guest's files"));
        if served.is_err() {
            // The worker may be waiting on a mount nobody serves.
            let _ = unmount(mp);
        }
        let (result, unmounted) = worker
            .join()
            .map_err(|_| anyhow!("a thread using the mounted guest panicked"))?;
        served?;
        let value = result?;
        unmounted?;
        Ok(value)
    })
}

/// Whether `mp` is a mount point now (per `/proc/self/mounts`, whose
/// paths escape blanks as octal).
pub(super) fn is_mounted(mp: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let escaped = mp
        .to_string_lossy()
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012");
    mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(escaped.as_str()))
}

fn run_all(
    scripts: &[PathBuf],
    mp: &Path,
    env: &[(String, String)],
    reporter: &dyn Reporter,
) -> Result<()> {
    for script in scripts {
        let step = begin_step(
            reporter,
            &format!("Running host script `{}'", script.display()),
            None,
        );
        let out = Command::new(script)
            .current_dir(mp)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .run_capture()?;
        for line in out.lines() {
            reporter.info(&format!("{}: {line}", script.display()));
        }
        step.done("done");
    }
    Ok(())
}

/// Unmount the FUSE mount, retrying while a process still uses it.
pub(super) fn unmount(mp: &Path) -> Result<()> {
    let mut last = None;
    // A script's child may still hold the directory for a moment; ten
    // tries 200 ms apart bound the wait at two seconds.
    for _ in 0..10 {
        for tool in [
            &["fusermount3", "-u"][..],
            &["fusermount", "-u"],
            &["umount"],
        ] {
            match Command::new(tool[0]).args(&tool[1..]).arg(mp).run_checked() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last.unwrap_or_else(|| anyhow!("cannot unmount {}", mp.display())))
}
