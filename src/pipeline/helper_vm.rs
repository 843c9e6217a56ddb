//! The steps inside the helper VM, in order: launch → inspect → collect
//! metadata → prepare (file-level tasks, `--host-run` scripts) → the
//! online phase of a Windows guest ([`super::online`]: the helper VM shut
//! down, the guest booted, the helper VM launched again) → shrink
//! (device-level tasks) → scan for secrets → mount for the UI → shutdown.
//! A Windows disk is also checked for the state it must be in before
//! anything is written ([`super::windows`]).
//! What runs is the plan's [`Work`](crate::plan::Work), decided at
//! validation; the VM's shutdown puts every change into the work disk.

use std::path::Path;

use anyhow::Result;

use super::{Control, WorkDisk, manifest, mount, online, secrets, sysprep, windows};
use crate::guest::appliance::Appliance;
use crate::guest::metadata::{self, Metadata};
use crate::guest::packages::Packages;
use crate::guest::profile::{Profile, profile_for};
use crate::guest::shrink::ShrinkOutcome;
use crate::guest::windows::WindowsFacts;
use crate::guest::{DiskInfo, Distro, OsInfo};
use crate::plan::{Plan, Work};
use crate::progress::{Reporter, begin_step};
use crate::sysprep::TaskOutcome;
use crate::sysprep::windows::virtio;

/// What the helper VM found and did.
pub(super) struct Inspected {
    pub os: Option<OsInfo>,
    pub disk: Option<DiskInfo>,
    pub unsupported: Option<String>,
    pub metadata: Metadata,
    /// What each system preparation task did.
    pub tasks: Vec<TaskOutcome>,
    pub shrunk: Option<ShrinkOutcome>,
    pub secrets: Vec<crate::guest::secrets::Finding>,
    /// The prepared guest's files and packages, when the run registers
    /// in the local store.
    pub recorded: Option<manifest::InVm>,
    /// The packages before preparation (same condition).
    pub packages_before: Option<Packages>,
    /// Why a Windows image is not generalized, when it is not.
    pub not_generalized: Option<String>,
}

impl Inspected {
    /// Media whose operating system cannot be worked on, for `reason`.
    fn unusable(reason: String) -> Inspected {
        Inspected {
            os: None,
            disk: None,
            unsupported: Some(reason),
            metadata: Metadata::new(),
            tasks: Vec::new(),
            shrunk: None,
            secrets: Vec::new(),
            recorded: None,
            packages_before: None,
            not_generalized: None,
        }
    }
}

/// What the helper VM's steps work with besides the VM itself.
pub(super) struct Session<'a> {
    pub disk: &'a WorkDisk,
    /// The run's work directory.
    pub tmp: &'a Path,
    pub plan: &'a Plan,
    pub reporter: &'a dyn Reporter,
    pub control: &'a Control,
}

/// What system preparation did, and the helper VM it ends with.
struct Prepared {
    vm: Appliance,
    tasks: Vec<TaskOutcome>,
    shrunk: Option<ShrinkOutcome>,
    /// Why a Windows image is not generalized (see
    /// [`windows::not_generalized`]).
    not_generalized: Option<String>,
}

impl Prepared {
    fn nothing(vm: Appliance, not_generalized: Option<String>) -> Prepared {
        Prepared {
            vm,
            tasks: Vec::new(),
            shrunk: None,
            not_generalized,
        }
    }
}

/// Run the helper VM's steps on `s.disk`.
pub(super) fn run(s: &Session) -> Result<Inspected> {
    let (plan, reporter, control) = (s.plan, s.reporter, s.control);
    let mut vm = launch(s.disk, reporter)?;
    control.cancel.check()?;
    let os = match inspect(&mut vm, reporter)? {
        Ok(os) => os,
        Err(none) => return Ok(Inspected::unusable(none.to_string())),
    };
    let disk_info = vm.disk_info(&os.root)?;
    let profile = profile_for(&os);
    let collected = collect(&mut vm, &os, &disk_info, &profile, plan, reporter)?;
    let (mut metadata, windows, packages_before) = collected;
    let unsupported = support_checks(&disk_info, &profile, reporter);
    if let (None, Some(facts)) = (&unsupported, &windows)
        && !matches!(plan.work, Work::Inspect)
    {
        windows::check_ready(&mut vm, &os, facts, reporter)?;
    }
    let prepared = match unsupported {
        None => prepare_and_shrink(vm, s, &os, &profile, windows.as_ref(), &mut metadata)?,
        Some(_) => Prepared::nothing(vm, None),
    };
    let Prepared {
        mut vm,
        tasks,
        shrunk,
        not_generalized,
    } = prepared;
    let secrets = secrets::scan(&mut vm, &os, plan, &tasks, reporter)?;
    let recorded = manifest::record(&mut vm, &os, plan, s.tmp, reporter)?;
    mount::serve(&vm, &os, plan, reporter, control)?;
    control.cancel.check()?;
    shutdown(vm, reporter)?;
    Ok(Inspected {
        os: Some(os),
        disk: Some(disk_info),
        unsupported,
        metadata,
        tasks,
        shrunk,
        secrets,
        recorded,
        packages_before,
        not_generalized,
    })
}

pub(super) fn launch(disk: &WorkDisk, reporter: &dyn Reporter) -> Result<Appliance> {
    let step = begin_step(reporter, "Launching helper VM (may take a while)", None);
    let vm = Appliance::launch(&disk.path, disk.format.as_str(), reporter)?;
    step.done("done");
    Ok(vm)
}

/// Why the media has no one operating system to work on.
#[derive(Debug, thiserror::Error)]
enum NoSingleOs {
    #[error("no operating system was found on the media")]
    None,
    #[error("{0} operating systems were found on the media; only one is supported")]
    Many(usize),
}

/// The one operating system on the media, or why there is none to work on.
fn inspect(vm: &mut Appliance, reporter: &dyn Reporter) -> Result<Result<OsInfo, NoSingleOs>> {
    let step = begin_step(reporter, "Inspecting Operating System", None);
    let found = crate::guest::bsd::inspect(vm, reporter)?;
    let os = match found.as_slice() {
        [os] => os.clone(),
        [] => {
            step.done("no operating system found");
            windows::refuse_encrypted(vm)?;
            return Ok(Err(NoSingleOs::None));
        }
        many => {
            step.done("more than one operating system found");
            return Ok(Err(NoSingleOs::Many(many.len())));
        }
    };
    step.done(match os.distro {
        Distro::Unknown => format!("found a(n) {} system", os.family),
        ref distro => distro.to_string(),
    });
    Ok(Ok(os))
}

/// The image properties read from the guest (mounted read-only), for
/// Windows the facts read from its registry, and the packages before
/// preparation when the store keeps them.
fn collect(
    vm: &mut Appliance,
    os: &OsInfo,
    disk: &DiskInfo,
    profile: &Profile,
    plan: &Plan,
    reporter: &dyn Reporter,
) -> Result<(Metadata, Option<WindowsFacts>, Option<Packages>)> {
    let step = begin_step(reporter, "Collecting image metadata", None);
    vm.mount(os, true, reporter)?;
    let mut metadata = metadata::collect(os, disk, profile, vm, reporter)?;
    let windows = match profile {
        Profile::Windows => Some(windows::collect(vm, os, &mut metadata, reporter)?),
        _ => None,
    };
    let packages = match manifest::wanted(plan) {
        true => manifest::read_packages(vm, reporter),
        false => None,
    };
    vm.umount_all()?;
    step.done(match &windows {
        Some(w) => format!("done (Windows NT {}, {})", w.nt, windows::arch_name(w)),
        None => "done".into(),
    });
    Ok((metadata, windows, packages))
}

/// The checks that can make media unsupported once an OS was found; the
/// LVM layout is shown (LVM is supported).
fn support_checks(disk: &DiskInfo, profile: &Profile, reporter: &dyn Reporter) -> Option<String> {
    if let Profile::Unsupported(reason) = profile {
        return Some(reason.clone());
    }
    reporter.section("Running OS inspection:");
    let step = begin_step(
        reporter,
        "Checking if the media contains logical volumes (LVM)",
        None,
    );
    match disk.lvm.summary().join("; ") {
        s if s.is_empty() => step.done("no"),
        s => step.done(format!("yes ({s})")),
    }
    None
}

/// System preparation, as the plan's work chooses it: the listings, the
/// file-level tasks and scripts in one mount, the online phase (which
/// replaces the helper VM), then the device-level tasks (shrinking), then
/// a dry run's list of changes.
fn prepare_and_shrink(
    mut vm: Appliance,
    s: &Session,
    os: &OsInfo,
    profile: &Profile,
    facts: Option<&WindowsFacts>,
    meta: &mut Metadata,
) -> Result<Prepared> {
    let (plan, reporter) = (s.plan, s.reporter);
    let Some(chosen) = sysprep::choose(profile, plan, reporter) else {
        let reason = windows::not_generalized(profile, plan, &[]);
        return Ok(Prepared::nothing(vm, reason));
    };
    let steps = online::steps(chosen.tasks(), plan.sysprep.no_boot, &os.product_name)?;
    let mut tasks = sysprep::prepare(&mut vm, os, meta, plan, &chosen, reporter)?;
    if let (true, Some(facts)) = (online::boots(&plan.work, &steps), facts) {
        let guest = online::Guest {
            disk: s.disk,
            tmp: s.tmp,
            os,
            facts,
        };
        let drivers = virtio::installs(chosen.tasks(), &plan.sysprep.params);
        let params = plan.sysprep.params.boot(drivers);
        let cancel = &s.control.cancel;
        let (relaunched, ran) = online::run(vm, &guest, &steps, &params, reporter, cancel)?;
        vm = relaunched;
        tasks.extend(online::outcomes(chosen.tasks(), ran));
    }
    let (device, shrunk) = sysprep::shrink(&vm, os, meta, plan, &chosen, reporter)?;
    tasks.extend(device);
    sysprep::list_changes(plan, &tasks, reporter);
    Ok(Prepared {
        vm,
        tasks,
        shrunk,
        not_generalized: windows::not_generalized(profile, plan, chosen.tasks()),
    })
}

pub(super) fn shutdown(vm: Appliance, reporter: &dyn Reporter) -> Result<()> {
    let step = begin_step(reporter, "Shutting down helper VM", None);
    vm.shutdown()?;
    step.done("done");
    Ok(())
}
