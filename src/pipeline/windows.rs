//! The helper VM's Windows steps: read the registry's facts with the
//! metadata, and refuse a disk that is not ready before anything is
//! written to it.

use anyhow::{Result, bail};

use crate::guest::OsInfo;
use crate::guest::appliance::{Appliance, gerr};
use crate::guest::metadata::{self, Metadata};
use crate::guest::profile::Profile;
use crate::guest::registry::Registry;
use crate::guest::windows::WindowsFacts;
use crate::guest::windows::preconditions::{self, Ctx, NotReady, OFFLINE};
use crate::plan::{Plan, Work};
use crate::progress::{Reporter, begin_step};
use crate::sysprep::{Task, windows::MICROSOFT_SYSPREP};

/// The Windows keys of the metadata and the facts behind them, read from
/// the registry of the mounted guest.
pub(super) fn collect(
    vm: &mut Appliance,
    os: &OsInfo,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<WindowsFacts> {
    let facts = metadata::windows::collect(os, vm, meta, reporter)?;
    close_hives(vm)?;
    Ok(facts)
}

/// Close the hive the registry has open: unmounting the guest closes
/// the helper VM's hive handle behind the registry's back.
fn close_hives(vm: &mut Appliance) -> Result<()> {
    Registry::commit(vm)
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
    close_hives(vm)?;
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

/// The architecture as the step line shows it.
pub(super) fn arch_name(facts: &WindowsFacts) -> &'static str {
    facts
        .arch
        .map_or("an architecture without drivers here", |a| a.as_str())
}

/// The guest's Windows directory (`/Windows`), as inspection found it.
pub(super) fn systemroot(vm: &Appliance, os: &OsInfo) -> Result<String> {
    vm.handle()
        .inspect_get_windows_systemroot(&os.root)
        .map_err(gerr(format!(
            "reading the Windows directory of {}",
            os.root
        )))
}

/// Why the Windows image this run writes is not generalized (Microsoft's
/// System Preparation Tool does not run inside it), or `None` when it is
/// (`chosen`, the tasks that run, hold `microsoft-sysprep` and the guest
/// boots; in a dry run, would), or when the guest is not Windows or
/// nothing is written.
pub(super) fn not_generalized(
    profile: &Profile,
    plan: &Plan,
    chosen: &[&'static Task],
) -> Option<String> {
    if *profile != Profile::Windows || !matches!(plan.work, Work::Export { .. } | Work::DryRun) {
        return None;
    }
    let name = MICROSOFT_SYSPREP.name;
    if !chosen.iter().any(|t| t.name == name) {
        Some(format!("{name} is not enabled"))
    } else if plan.sysprep.no_boot {
        Some(format!(
            "--no-boot skips {name}, which runs inside the running guest"
        ))
    } else {
        None
    }
}
