//! The helper VM's Windows steps: read the registry's facts with the
//! metadata, and refuse a disk that is not ready before anything is
//! written to it.

use anyhow::{Result, bail};

use crate::guest::OsInfo;
use crate::guest::appliance::{Appliance, gerr};
use crate::guest::metadata::{self, Metadata};
use crate::guest::windows::WindowsFacts;
use crate::guest::windows::preconditions::{self, Ctx, NotReady, OFFLINE};
use crate::progress::{Reporter, begin_step};

/// The Windows keys of the metadata and the facts behind them, read from
/// the registry of the mounted guest.
pub(super) fn collect(
    vm: &mut Appliance,
    os: &OsInfo,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<WindowsFacts> {
    metadata::windows::collect(os, vm, meta, reporter)
}

/// Refuse a Windows disk that must not be changed as it is (hibernated,
/// dirty, encrypted…), with the one line that says what to do.
pub(super) fn check_ready(
    vm: &mut Appliance,
    os: &OsInfo,
    facts: &WindowsFacts,
    reporter: &dyn Reporter,
) -> Result<()> {
    let step = begin_step(
        reporter,
        "Checking that Windows can be prepared offline",
        None,
    );
    let systemroot = systemroot(vm, os)?;
    vm.mount(os, true, reporter)?;
    let mut ctx = Ctx {
        disk: vm,
        systemroot: &systemroot,
        facts,
        reporter,
    };
    let verdict = preconditions::check(OFFLINE, &mut ctx);
    vm.umount_all()?;
    if verdict.is_err() {
        step.done("no");
    } else {
        step.done("yes");
    }
    verdict
}

/// On a disk where inspection found no system: an encrypted partition
/// explains why, and is an error of its own.
pub(super) fn refuse_encrypted(vm: &mut Appliance) -> Result<()> {
    if let Some(why) = preconditions::encrypted_partition(vm)? {
        bail!(NotReady(why));
    }
    Ok(())
}

fn systemroot(vm: &Appliance, os: &OsInfo) -> Result<String> {
    vm.handle()
        .inspect_get_windows_systemroot(&os.root)
        .map_err(gerr(format!(
            "reading the Windows directory of {}",
            os.root
        )))
}
