//! The system preparation step: inside the helper VM, after the metadata
//! is collected and before the VM shuts down. Prints the task and parameter
//! listings when asked, then runs the enabled tasks inside one read-write
//! mount (read-only for a dry run, whose changes stay in memory), then the
//! device-level tasks on the unmounted disk. `--host-run` scripts run in
//! the same mount, before the tasks.

use anyhow::Result;

use crate::guest::OsInfo;
use crate::guest::appliance::Appliance;
use crate::guest::metadata::Metadata;
use crate::guest::profile::Profile;
use crate::guest::shrink::ShrinkOutcome;
use crate::plan::Plan;
use crate::progress::{Event, Reporter, begin_step};
use crate::sysprep::{self, TaskOutcome, changes, listing, runner};

use super::host_run;

/// Print what was asked for and run the tasks; returns what each task did.
pub(super) fn prepare(
    vm: &mut Appliance,
    os: &OsInfo,
    profile: &Profile,
    meta: &mut Metadata,
    plan: &Plan,
    reporter: &dyn Reporter,
) -> Result<(Vec<TaskOutcome>, Option<ShrinkOutcome>)> {
    let opts = &plan.sysprep;
    let tasks = sysprep::tasks_for(profile);
    print_listings(&tasks, opts, reporter);
    let scripts = if opts.dry_run {
        &[][..]
    } else {
        &plan.host_run[..]
    };
    if opts.dry_run && !plan.host_run.is_empty() {
        reporter.warn("--host-run scripts are not run in a dry run");
    }
    let chosen = opts.run || !opts.selection.enable.is_empty();
    let run_tasks = chosen && (plan.exports() || opts.dry_run);
    if !run_tasks && (scripts.is_empty() || !plan.exports()) {
        return Ok((Vec::new(), None));
    }
    if run_tasks && tasks.is_empty() {
        reporter.warn("there are no system preparation tasks for this operating system");
    }
    let enabled = if run_tasks {
        runner::enabled(&tasks, opts)
    } else {
        Vec::new()
    };
    reporter.section("Preparing system for image creation:");
    let mut outcomes = if needs_mount(&enabled, scripts) {
        run_mounted(vm, os, meta, plan, scripts, &enabled, reporter)?
    } else {
        // Only device-level tasks (`shrink` alone): a read-write mount
        // would still change the filesystems (mount counts, journal).
        Vec::new()
    };
    let (device, shrunk) = runner::run_devices(&enabled, opts, vm, os, meta, reporter)?;
    outcomes.extend(device);
    if opts.dry_run {
        let text = if opts.json {
            changes::dry_run_json(&outcomes)
        } else {
            changes::dry_run_text(&outcomes)
        };
        reporter.emit(Event::Listing(text));
    }
    Ok((outcomes, shrunk))
}

/// Whether anything has to run inside the mounted guest.
fn needs_mount(enabled: &[&sysprep::Task], scripts: &[std::path::PathBuf]) -> bool {
    !scripts.is_empty()
        || enabled
            .iter()
            .any(|t| matches!(t.action, sysprep::Action::Files { .. }))
}

/// The host scripts and the file-level tasks, inside one mount of the
/// guest (read-only for a dry run, whose changes stay in memory).
fn run_mounted(
    vm: &mut Appliance,
    os: &OsInfo,
    meta: &mut Metadata,
    plan: &Plan,
    scripts: &[std::path::PathBuf],
    enabled: &[&sysprep::Task],
    reporter: &dyn Reporter,
) -> Result<Vec<TaskOutcome>> {
    let opts = &plan.sysprep;
    let how = if opts.dry_run {
        "read-only (dry run)"
    } else {
        "read-write"
    };
    let step = begin_step(reporter, &format!("Mounting the media {how}"), None);
    vm.mount(os, opts.dry_run, reporter)?;
    step.done("done");
    let done = host_run::run_scripts(vm, scripts, meta, reporter)
        .and_then(|()| runner::run_files(enabled, opts, vm, os, meta, reporter));
    let step = begin_step(reporter, "Umounting the media", None);
    vm.umount_all()?;
    step.done("done");
    done
}

/// `--print-syspreps` and `--print-sysprep-params`.
fn print_listings(tasks: &[&sysprep::Task], opts: &sysprep::Options, reporter: &dyn Reporter) {
    if opts.print_tasks {
        reporter.emit(Event::Listing(listing::tasks_text(tasks, &opts.selection)));
    }
    if opts.print_params {
        reporter.emit(Event::Listing(listing::params_text(&opts.params)));
    }
}
