//! The online phase of a Windows guest, between its offline tasks and
//! shrinking: check that the guest may be booted, install the first-boot
//! runner with the chosen tasks that run inside Windows, shut the helper
//! VM down, boot the work disk with qemu ([`firstboot::run`]), launch the
//! helper VM again on the same disk, remove the runner, and check that
//! Microsoft's System Preparation Tool generalized the guest. Any failure
//! fails the run before anything is exported; the guest VM is gone by
//! then.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{WorkDisk, helper_vm, windows};
use crate::guest::OsInfo;
use crate::guest::appliance::Appliance;
use crate::guest::firstboot::{self, Boot, BootParams, OnlineStep, StepOutcome, Token, vm::QEMU};
use crate::guest::windows::WindowsFacts;
use crate::guest::windows::preconditions::{self, BEFORE_BOOT, Ctx, IMAGE_STATE_COMPLETE};
use crate::plan::Work;
use crate::process::Cancel;
use crate::progress::{Reporter, begin_step};
use crate::sysprep::windows::MICROSOFT_SYSPREP;
use crate::sysprep::windows::kms::{self, NoClientKey};
use crate::sysprep::{Action, Task, TaskOutcome};

/// The steps a boot of the guest runs: the chosen tasks that run inside
/// it, in table order with `microsoft-sysprep` last, their commands
/// completed for the guest `product_name` (`kms-client-setup`'s key);
/// none with `--no-boot`.
pub(super) fn steps(
    tasks: &[&'static Task],
    no_boot: bool,
    product_name: &str,
) -> Result<Vec<OnlineStep<'static>>, NoClientKey> {
    if no_boot {
        return Ok(Vec::new());
    }
    let mut steps = Vec::new();
    for t in tasks {
        if let Action::Online { command } = t.action {
            let command = kms::with_client_key(command, product_name)?;
            steps.push(OnlineStep {
                name: t.name,
                command: command.into(),
            });
        }
    }
    steps.sort_by_key(|s| s.name == MICROSOFT_SYSPREP.name);
    Ok(steps)
}

/// Whether the run boots the guest for `steps`: an export does, a dry run
/// only lists them.
pub(super) fn boots(work: &Work, steps: &[OnlineStep]) -> bool {
    matches!(work, Work::Export { .. }) && !steps.is_empty()
}

/// Whether `steps` generalize the guest.
pub(super) fn generalizes(steps: &[OnlineStep]) -> bool {
    steps.iter().any(|s| s.name == MICROSOFT_SYSPREP.name)
}

/// The guest the online phase boots.
pub(super) struct Guest<'a> {
    pub disk: &'a WorkDisk,
    /// The run's work directory (for the guest console's log).
    pub tmp: &'a Path,
    pub os: &'a OsInfo,
    pub facts: &'a WindowsFacts,
}

/// Run `steps` inside the guest; the helper VM `vm` is shut down for the
/// boot, and the one launched after it is returned with how each step
/// ended.
pub(super) fn run(
    mut vm: Appliance,
    guest: &Guest,
    steps: &[OnlineStep],
    params: &BootParams,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<(Appliance, Vec<StepOutcome>)> {
    reporter.section("Running the tasks inside the guest (first boot):");
    let token = Token::random().context("reading random bytes for the first-boot token")?;
    let systemroot = windows::systemroot(&vm, guest.os)?;
    in_guest(
        &mut vm,
        guest.os,
        "Installing the first-boot runner",
        reporter,
        |vm| {
            let mut ctx = Ctx {
                disk: vm,
                systemroot: &systemroot,
                facts: guest.facts,
                reporter,
            };
            preconditions::check(BEFORE_BOOT, &mut ctx)?;
            firstboot::windows::install(&token, steps).apply(vm)
        },
    )?;
    helper_vm::shutdown(vm, reporter)?;
    let ran = firstboot::run(&boot(guest, &token, steps), params, reporter, cancel)?;
    cancel.check()?;
    let mut vm = helper_vm::launch(guest.disk, reporter)?;
    in_guest(
        &mut vm,
        guest.os,
        "Removing the first-boot runner",
        reporter,
        |vm| {
            firstboot::windows::revert().apply(vm)?;
            match generalizes(steps) {
                true => check_generalized(vm, guest.facts),
                false => Ok(()),
            }
        },
    )?;
    Ok((vm, ran))
}

/// What [`firstboot::run`] boots.
fn boot<'a>(guest: &Guest<'a>, token: &'a Token, steps: &'a [OnlineStep<'a>]) -> Boot<'a> {
    Boot {
        disk: &guest.disk.path,
        format: &guest.disk.format,
        token,
        steps,
        tmp: guest.tmp,
        qemu: Path::new(QEMU),
    }
}

/// Run `work` on the guest mounted read-write, as one step; the guest is
/// unmounted (its hive written) whatever happens.
fn in_guest(
    vm: &mut Appliance,
    os: &OsInfo,
    title: &str,
    reporter: &dyn Reporter,
    work: impl FnOnce(&mut Appliance) -> Result<()>,
) -> Result<()> {
    let step = begin_step(reporter, title, None);
    vm.mount(os, false, reporter)?;
    let done = work(vm);
    let unmounted = vm.umount_all();
    done?;
    unmounted?;
    step.done("done");
    Ok(())
}

/// After `microsoft-sysprep` reported success, Windows (NT 6 and later)
/// must say it is generalized: `ImageState` is no longer complete.
fn check_generalized(vm: &mut Appliance, facts: &WindowsFacts) -> Result<()> {
    if facts.nt.major < 6 {
        return Ok(());
    }
    match preconditions::image_state(vm)? {
        Some(state) if state != IMAGE_STATE_COMPLETE => Ok(()),
        state => bail!(
            "{} ended without generalizing Windows (ImageState is {}): see its logs in \
             Windows\\System32\\Sysprep\\Panther of the source booted, or use --no-boot to \
             prepare the image offline only",
            MICROSOFT_SYSPREP.name,
            state.as_deref().unwrap_or("not set")
        ),
    }
}

/// The online steps as task outcomes, for the report.
pub(super) fn outcomes(tasks: &[&'static Task], ran: Vec<StepOutcome>) -> Vec<TaskOutcome> {
    (ran.into_iter())
        .filter_map(|step| {
            let task = tasks.iter().find(|t| t.name == step.name)?;
            Some(TaskOutcome {
                name: task.name,
                message: task.message,
                changes: Vec::new(),
                freed: 0,
                duration: step.duration,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::profile::Profile;
    use crate::sysprep::{Options, Selection, runner, tasks_for};

    const PRODUCT: &str = "Windows Server 2019 Datacenter";

    fn chosen(enable: &[&str], disable: &[&str]) -> Vec<&'static Task> {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let opts = Options {
            run: true,
            selection: Selection::new(&own(enable), &own(disable)).unwrap(),
            ..Options::default()
        };
        runner::enabled(&tasks_for(&Profile::Windows), &opts)
    }

    fn names(steps: &[OnlineStep<'static>]) -> Vec<&'static str> {
        steps.iter().map(|s| s.name).collect()
    }

    #[test]
    fn the_steps_are_the_enabled_online_rows_with_sysprep_last() {
        let default = steps(&chosen(&[], &[]), false, PRODUCT).unwrap();
        assert_eq!(
            names(&default),
            ["disable-ipv6-privacy-extensions", "microsoft-sysprep"]
        );
        assert_eq!(default[1].command, MICROSOFT_SYSPREP_COMMAND);
        let kms = steps(&chosen(&["kms-client-setup"], &[]), false, PRODUCT).unwrap();
        assert_eq!(
            names(&kms),
            [
                "disable-ipv6-privacy-extensions",
                "kms-client-setup",
                "microsoft-sysprep"
            ]
        );
        assert!(
            kms[1]
                .command
                .ends_with("slmgr.vbs /ipk WMDGN-G9PQG-XVVXX-R3X43-63DFG"),
            "{}",
            kms[1].command
        );
        let retail = steps(
            &chosen(&["kms-client-setup"], &[]),
            false,
            "Windows 10 Home",
        );
        assert!(retail.is_err());
        // microsoft-sysprep ends the list whatever order it is given in.
        let mut reversed = chosen(&["kms-client-setup"], &[]);
        reversed.reverse();
        assert_eq!(
            names(&steps(&reversed, false, PRODUCT).unwrap()).last(),
            Some(&"microsoft-sysprep")
        );
        assert!(generalizes(&default));
        let no_sysprep = steps(&chosen(&[], &["microsoft-sysprep"]), false, PRODUCT).unwrap();
        assert_eq!(names(&no_sysprep), ["disable-ipv6-privacy-extensions"]);
        assert!(!generalizes(&no_sysprep));
    }

    #[test]
    fn only_an_export_without_no_boot_boots() {
        let tasks = chosen(&[], &[]);
        assert!(
            steps(&tasks, true, PRODUCT).unwrap().is_empty(),
            "--no-boot"
        );
        let some = steps(&tasks, false, PRODUCT).unwrap();
        assert!(boots(&Work::Export { tasks: true }, &some));
        assert!(!boots(&Work::DryRun, &some));
        assert!(!boots(&Work::Inspect, &some));
        assert!(!boots(&Work::Export { tasks: true }, &[]));
        let offline = chosen(
            &[],
            &["microsoft-sysprep", "disable-ipv6-privacy-extensions"],
        );
        assert!(steps(&offline, false, PRODUCT).unwrap().is_empty());
    }

    const MICROSOFT_SYSPREP_COMMAND: &str =
        "%SystemRoot%\\System32\\Sysprep\\sysprep.exe /quiet /generalize /oobe /quit";

    #[test]
    fn step_outcomes_become_report_rows() {
        let tasks = chosen(&[], &[]);
        let ran = vec![StepOutcome {
            name: "microsoft-sysprep".into(),
            rc: 0,
            duration: std::time::Duration::from_secs(7),
        }];
        let rows = outcomes(&tasks, ran);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "microsoft-sysprep");
        assert_eq!(rows[0].message, MICROSOFT_SYSPREP.message);
        assert_eq!(rows[0].duration.as_secs(), 7);
    }
}
