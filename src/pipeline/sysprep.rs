//! The system preparation steps: inside the helper VM, after the metadata
//! is collected and before the VM shuts down. [`choose`] prints the task
//! and parameter listings when asked and picks what runs from the plan's
//! [`Work`]; [`prepare`] runs the `--host-run` scripts, then the
//! file-level tasks, inside one read-write mount (read-only for a dry
//! run, whose changes stay in memory); [`shrink`] runs the device-level
//! tasks on the unmounted disk; [`list_changes`] prints a dry run's list.

use std::path::PathBuf;

use anyhow::Result;

use crate::guest::OsInfo;
use crate::guest::appliance::Appliance;
use crate::guest::metadata::Metadata;
use crate::guest::profile::Profile;
use crate::guest::shrink::ShrinkOutcome;
use crate::plan::{Plan, Work};
use crate::progress::{Event, Listing, Reporter, begin_step};
use crate::sysprep::{self, Task, TaskOutcome, changes, listing, runner};

use super::host_run;

/// What system preparation runs on this guest.
pub(super) struct Chosen<'p> {
    /// The enabled tasks, in order.
    tasks: Vec<&'static Task>,
    /// The `--host-run` scripts, in order.
    scripts: &'p [PathBuf],
}

impl Chosen<'_> {
    /// The enabled tasks, in order.
    pub(super) fn tasks(&self) -> &[&'static Task] {
        &self.tasks
    }
}

/// Print the listings asked for, and pick the tasks and scripts the plan's
/// work runs; `None` when it runs none.
pub(super) fn choose<'p>(
    profile: &Profile,
    plan: &'p Plan,
    reporter: &dyn Reporter,
) -> Option<Chosen<'p>> {
    let tasks = sysprep::tasks_for(profile);
    print_listings(&tasks, &plan.sysprep, reporter);
    let (run_tasks, scripts) = match plan.work {
        Work::Export { tasks } => (tasks, &plan.host_run[..]),
        Work::DryRun => {
            if !plan.host_run.is_empty() {
                reporter.warn("--host-run scripts are not run in a dry run");
            }
            (true, &[][..])
        }
        Work::Inspect | Work::Mount { .. } => (false, &[][..]),
    };
    if !run_tasks && scripts.is_empty() {
        return None;
    }
    if run_tasks && tasks.is_empty() {
        reporter.warn("there are no system preparation tasks for this operating system");
    }
    if run_tasks {
        warn_foreign(&tasks, &plan.sysprep, reporter);
    }
    reporter.section("Preparing system for image creation:");
    let tasks = match run_tasks {
        true => runner::enabled(&tasks, &plan.sysprep),
        false => Vec::new(),
    };
    Some(Chosen { tasks, scripts })
}

/// Warn about each task named with `--enable-sysprep` (or
/// `--install-virtio`) that is not in this guest's table: it does not run.
fn warn_foreign(tasks: &[&'static Task], opts: &sysprep::Options, reporter: &dyn Reporter) {
    for name in &opts.selection.enable {
        if !tasks.iter().any(|t| t.name == name) {
            reporter.warn(&format!(
                "{name} is not a task for this operating system: it does not run"
            ));
        }
    }
}

/// The host scripts and the file-level tasks, inside one mount of the
/// guest; nothing when only device-level tasks run (`shrink` alone: a
/// read-write mount would still change the filesystems' mount counts and
/// journals).
pub(super) fn prepare(
    vm: &mut Appliance,
    os: &OsInfo,
    meta: &mut Metadata,
    plan: &Plan,
    chosen: &Chosen<'_>,
    reporter: &dyn Reporter,
) -> Result<Vec<TaskOutcome>> {
    let files = (chosen.tasks.iter()).any(|t| matches!(t.action, sysprep::Action::Files { .. }));
    if !files && chosen.scripts.is_empty() {
        return Ok(Vec::new());
    }
    let opts = &plan.sysprep;
    let dry_run = plan.work.is_dry_run();
    let how = match dry_run {
        true => "read-only (dry run)",
        false => "read-write",
    };
    let step = begin_step(reporter, &format!("Mounting the media {how}"), None);
    vm.mount(os, dry_run, reporter)?;
    step.done("done");
    let done = host_run::run_scripts(vm, chosen.scripts, meta, reporter)
        .and_then(|()| runner::run_files(&chosen.tasks, opts, vm, os, meta, reporter));
    let step = begin_step(reporter, "Umounting the media", None);
    vm.umount_all()?;
    step.done("done");
    done
}

/// The device-level tasks (shrinking) on the unmounted disk.
pub(super) fn shrink(
    vm: &Appliance,
    os: &OsInfo,
    meta: &mut Metadata,
    plan: &Plan,
    chosen: &Chosen<'_>,
    reporter: &dyn Reporter,
) -> Result<(Vec<TaskOutcome>, Option<ShrinkOutcome>)> {
    runner::run_devices(&chosen.tasks, &plan.sysprep, vm, os, meta, reporter)
}

/// A dry run's list of what the tasks would change.
pub(super) fn list_changes(plan: &Plan, outcomes: &[TaskOutcome], reporter: &dyn Reporter) {
    if let Work::DryRun = plan.work {
        reporter.emit(Event::Listing(Listing {
            text: changes::dry_run_text(outcomes),
            json: changes::dry_run_json(outcomes),
        }));
    }
}

/// `--print-syspreps` and `--print-sysprep-params`.
fn print_listings(tasks: &[&Task], opts: &sysprep::Options, reporter: &dyn Reporter) {
    if opts.print_tasks {
        reporter.emit(Event::Listing(listing::tasks(tasks, &opts.selection)));
    }
    if opts.print_params {
        reporter.emit(Event::Listing(listing::params(&opts.params)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::profile::LinuxFlavor;
    use crate::progress::RecordingReporter;

    #[test]
    fn a_task_of_another_operating_system_is_named_in_a_warning() {
        let opts = sysprep::Options {
            run: true,
            selection: sysprep::Selection::new(&["install-virtio".into()], &[]).unwrap(),
            params: sysprep::Params::default(),
            no_boot: false,
            print_tasks: false,
            print_params: false,
            dry_run: false,
        };
        let reporter = RecordingReporter::default();
        warn_foreign(
            &sysprep::tasks_for(&Profile::Linux(LinuxFlavor::Generic)),
            &opts,
            &reporter,
        );
        assert_eq!(
            reporter.warnings(),
            ["install-virtio is not a task for this operating system: it does not run"]
        );
        let reporter = RecordingReporter::default();
        warn_foreign(&sysprep::tasks_for(&Profile::Windows), &opts, &reporter);
        assert!(reporter.warnings().is_empty());
    }
}
