//! The online phase: boot the prepared disk once so that a runner inside
//! the guest runs the steps that cannot be done offline, and follow it on
//! the serial console ([`protocol`]).
//!
//! [`run`] starts the guest VM ([`vm`]: KVM when it can start a VM here,
//! else TCG with a warning), reads the console as it grows, reports each
//! step, and enforces the limits:
//!
//! - `boot_timeout` is the longest the guest may stay silent while it
//!   works: from the VM's start until `start`, and then from each report
//!   to the next one (a step that never ends runs out of it); a boot that
//!   installs VirtIO drivers takes `virtio_timeout` instead when it is
//!   longer ([`BootParams::boot_param`]);
//! - `shutdown_timeout` runs from `done` until qemu exits (the guest
//!   powered off).
//!
//! A step that fails (non-zero exit code) stops the runner, which still
//! reports `done` and powers off: the run then fails naming the step. On
//! a timeout, qemu ending early, or cancel, the VM is killed at once. In
//! every case the VM is gone and its temporary files removed when [`run`]
//! returns, and an error is one line that says `--no-boot` prepares the
//! image offline only.
//!
//! [`windows`] produces the runner for Windows guests and the changes that
//! start it at first boot.

pub mod protocol;
pub mod vm;
pub mod windows;

use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

pub use protocol::Token;
use protocol::{LineBuffer, Report};
use vm::{BootVm, DiskBus, VmConfig};

use crate::guest::appliance::{Accel, probe_kvm};
use crate::media::format::ImageFormat;
use crate::process::Cancel;
use crate::progress::{Reporter, Step, begin_step};

/// Why the online phase failed; each is one line ending with what to do.
#[derive(Debug, thiserror::Error)]
pub enum FirstbootError {
    #[error(
        "cannot start the guest VM with {program}: {why}; install QEMU, or use --no-boot to prepare the image offline only"
    )]
    NoQemu { program: String, why: String },
    #[error(
        "{what}: {param}={secs} s ran out; raise it with --sysprep-param {param}=SECONDS, or use --no-boot to prepare the image offline only"
    )]
    Timeout {
        what: String,
        param: &'static str,
        secs: u64,
    },
    #[error(
        "the online step {name} failed inside the guest (exit code {rc}); disable it, or use --no-boot to prepare the image offline only"
    )]
    StepFailed { name: String, rc: i32 },
    #[error(
        "the guest VM stopped ({status}) {when}{detail}; use --no-boot to prepare the image offline only"
    )]
    VmStopped {
        status: String,
        when: String,
        detail: String,
    },
    #[error(
        "the guest reported `{got}` where the online step {expected} was due; use --no-boot to prepare the image offline only"
    )]
    Unexpected { got: String, expected: String },
}

/// One step run inside the guest: a name (letters, digits, `-_.`) and
/// the command the guest's runner runs (`cmd.exe` syntax on Windows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineStep<'a> {
    pub name: &'a str,
    pub command: std::borrow::Cow<'a, str>,
}

/// The VM's size and the limits (the sysprep parameters `mem`, `smp`,
/// `boot_timeout` or `virtio_timeout`, `shutdown_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootParams {
    pub mem_mib: u64,
    pub smp: u64,
    /// Seconds the guest may stay silent while it boots and works.
    pub boot_timeout: u64,
    /// The parameter `boot_timeout` comes from, named when it runs out:
    /// `boot_timeout`, or `virtio_timeout` for a boot that installs VirtIO
    /// drivers.
    pub boot_param: &'static str,
    /// Seconds.
    pub shutdown_timeout: u64,
}

impl Default for BootParams {
    fn default() -> Self {
        BootParams {
            mem_mib: 1024,
            smp: 1,
            boot_timeout: 600,
            boot_param: "boot_timeout",
            shutdown_timeout: 300,
        }
    }
}

/// What to boot, and what its runner was told to run.
#[derive(Debug, Clone)]
pub struct Boot<'a> {
    /// The prepared disk (the work overlay), booted read-write.
    pub disk: &'a Path,
    pub format: &'a ImageFormat,
    /// The token the guest's runner was given.
    pub token: &'a Token,
    /// The steps, in the order the runner runs them.
    pub steps: &'a [OnlineStep<'a>],
    /// A directory for the console log (in a directory of its own,
    /// removed when the run ends).
    pub tmp: &'a Path,
    /// The emulator ([`vm::QEMU`]).
    pub qemu: &'a Path,
}

/// How one step ended inside the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    pub name: String,
    pub rc: i32,
    /// From the previous report to this one.
    pub duration: Duration,
}

/// Boot `boot.disk`, follow its runner until the guest powers off, and
/// return how each step ended (all with exit code 0).
pub fn run(
    boot: &Boot,
    params: &BootParams,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<Vec<StepOutcome>> {
    let accel = choose_accel(boot.qemu, reporter);
    run_with(boot, accel, params, reporter, cancel)
}

/// KVM when it can start a VM here, else TCG (said once).
pub fn choose_accel(qemu: &Path, reporter: &dyn Reporter) -> Accel {
    match probe_kvm(&qemu.to_string_lossy()) {
        Ok(()) => Accel::Kvm,
        Err(why) => {
            reporter.warn(&format!(
                "KVM cannot start a VM on this machine ({why}); booting the guest with software emulation (TCG), which is slower"
            ));
            Accel::Tcg
        }
    }
}

/// [`run`] with the accelerator chosen.
pub fn run_with(
    boot: &Boot,
    accel: Accel,
    params: &BootParams,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<Vec<StepOutcome>> {
    if let Some(bad) = boot
        .steps
        .iter()
        .find(|s| !protocol::valid_step_name(s.name))
    {
        bail!("online step name `{}` is not one word", bad.name);
    }
    let (dir, serial) = vm::console_file(boot.tmp, "snf-firstboot.", None)?;
    let cfg = VmConfig {
        disk: boot.disk,
        format: boot.format,
        mem_mib: params.mem_mib,
        smp: params.smp,
        accel,
        serial: &serial,
        stderr: &dir.path().join("qemu.stderr"),
        bus: DiskBus::Virtio,
        snapshot: false,
        network: true,
    };
    let mut vm = BootVm::start(boot.qemu, &cfg)?;
    reporter.info(&format!(
        "Booting the guest VM (pid {}, {accel}) to run {} online steps",
        vm.pid(),
        boot.steps.len()
    ));
    let mut watch = Watch::new(boot.steps, params, reporter);
    let result = follow(&mut vm, &serial, boot.token, &mut watch, cancel);
    drop(vm);
    drop(dir);
    result
}

/// Read the console until qemu ends, a limit runs out, or the run is
/// cancelled.
fn follow(
    vm: &mut BootVm,
    serial: &Path,
    token: &Token,
    watch: &mut Watch,
    cancel: &Cancel,
) -> Result<Vec<StepOutcome>> {
    let mut lines = LineBuffer::default();
    vm.follow(serial, cancel, |bytes, exited, vm| {
        for line in lines.feed(bytes) {
            if let Some(report) = protocol::parse_line(&line, token) {
                watch.on_report(report, Instant::now())?;
            }
        }
        if let Some(status) = exited {
            return watch.on_exit(status, vm.last_complaint()).map(Some);
        }
        watch.check_time(Instant::now())?;
        Ok(None)
    })
}

/// Where the runner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `start`.
    Booting,
    /// Running the step of this index.
    Running(usize),
    /// Every step reported (or one failed): `done` is next.
    Finishing,
    /// After `done`: the guest powers off.
    Stopping,
}

/// The state of the guest as its reports tell it.
struct Watch<'a> {
    steps: &'a [OnlineStep<'a>],
    params: &'a BootParams,
    reporter: &'a dyn Reporter,
    phase: Phase,
    /// The last report (or the VM's start).
    since: Instant,
    current: Option<Step<'a>>,
    outcomes: Vec<StepOutcome>,
    failed: Option<(String, i32)>,
}

impl<'a> Watch<'a> {
    fn new(
        steps: &'a [OnlineStep<'a>],
        params: &'a BootParams,
        reporter: &'a dyn Reporter,
    ) -> Self {
        Watch {
            steps,
            params,
            reporter,
            phase: Phase::Booting,
            since: Instant::now(),
            current: Some(begin_step(reporter, "Booting the guest", None)),
            outcomes: Vec::new(),
            failed: None,
        }
    }

    /// End the current progress step with `result` and begin `next`.
    fn step_to(&mut self, result: String, next: Option<String>) {
        if let Some(step) = self.current.take() {
            step.done(result);
        }
        self.current = next.map(|title| begin_step(self.reporter, &title, None));
    }

    /// Go on with the step of index `next`, or to `done` when there is
    /// none left or one failed; `result` ends the current progress step.
    fn next_step(&mut self, next: usize, result: String) {
        match self.steps.get(next) {
            Some(step) if self.failed.is_none() => {
                self.phase = Phase::Running(next);
                let title = format!("Running {} inside the guest", step.name);
                self.step_to(result, Some(title));
            }
            _ => {
                self.phase = Phase::Finishing;
                self.step_to(result, None);
            }
        }
    }

    /// The step of index `i` ended with `rc`.
    fn on_task(&mut self, i: usize, name: String, rc: i32, took: Duration) {
        let result = match rc {
            0 => "done".to_owned(),
            rc => format!("failed (exit code {rc})"),
        };
        if rc != 0 {
            self.failed = Some((name.clone(), rc));
        }
        let duration = took;
        self.outcomes.push(StepOutcome { name, rc, duration });
        self.next_step(i + 1, result);
    }

    fn on_report(&mut self, report: Report, now: Instant) -> Result<(), FirstbootError> {
        let took = now - self.since;
        self.since = now;
        match (self.phase, report) {
            (Phase::Booting, Report::Start) => {
                self.next_step(0, format!("started after {} s", took.as_secs()));
            }
            (Phase::Running(i), Report::Task { name, rc }) if name == self.steps[i].name => {
                self.on_task(i, name, rc, took);
            }
            (Phase::Finishing, Report::Done) => {
                self.phase = Phase::Stopping;
                let title = "Waiting for the guest to power off".to_owned();
                self.step_to(String::new(), Some(title));
            }
            (_, report) => return Err(self.unexpected(report)),
        }
        Ok(())
    }

    fn unexpected(&self, report: Report) -> FirstbootError {
        let got = match report {
            Report::Start => "start".to_owned(),
            Report::Done => "done".to_owned(),
            Report::Task { name, rc } => format!("task {name} {rc}"),
        };
        let expected = match self.phase {
            Phase::Running(i) => self.steps[i].name.to_owned(),
            _ => "(none)".to_owned(),
        };
        FirstbootError::Unexpected { got, expected }
    }

    /// What the guest is waiting for, and which limit applies to it.
    fn waiting_for(&self) -> (String, &'static str, u64) {
        let boot = (self.params.boot_param, self.params.boot_timeout);
        let (what, (param, secs)) = match self.phase {
            Phase::Booting => (
                "the guest did not report that its first-boot runner started".to_owned(),
                boot,
            ),
            Phase::Running(i) => (
                format!("the online step {} did not end", self.steps[i].name),
                boot,
            ),
            Phase::Finishing => (
                "the guest did not report the end of its steps".to_owned(),
                boot,
            ),
            Phase::Stopping => (
                "the guest did not power off after its steps".to_owned(),
                ("shutdown_timeout", self.params.shutdown_timeout),
            ),
        };
        (what, param, secs)
    }

    fn check_time(&self, now: Instant) -> Result<(), FirstbootError> {
        let (what, param, secs) = self.waiting_for();
        if now - self.since > Duration::from_secs(secs) {
            return Err(FirstbootError::Timeout { what, param, secs });
        }
        Ok(())
    }

    /// qemu ended: the run's end when the guest powered off after `done`.
    fn on_exit(
        &mut self,
        status: ExitStatus,
        complaint: Option<String>,
    ) -> Result<Vec<StepOutcome>> {
        if self.phase != Phase::Stopping {
            let when = match self.phase {
                Phase::Booting => "before its first-boot runner started".to_owned(),
                Phase::Running(i) => format!("during the online step {}", self.steps[i].name),
                _ => "before it reported the end of its steps".to_owned(),
            };
            let detail = complaint.map(|c| format!(": {c}")).unwrap_or_default();
            let status = status.to_string();
            return Err(FirstbootError::VmStopped {
                status,
                when,
                detail,
            }
            .into());
        }
        self.step_to("done".into(), None);
        if let Some((name, rc)) = self.failed.take() {
            return Err(FirstbootError::StepFailed { name, rc }.into());
        }
        Ok(std::mem::take(&mut self.outcomes))
    }
}

#[cfg(test)]
pub(crate) mod tests;
