//! The runner against a stand-in for qemu: a script that writes what a
//! guest would on the console file qemu is given, then exits or hangs.
//! The real boot is tested in tests/integration/firstboot.rs.

use std::borrow::Cow;
use std::path::PathBuf;

use super::*;
use crate::progress::{Event, RecordingReporter};

pub(crate) fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const STEPS: &[OnlineStep] = &[
    OnlineStep {
        name: "a",
        command: Cow::Borrowed("true"),
    },
    OnlineStep {
        name: "b",
        command: Cow::Borrowed("exit 3"),
    },
];

/// One run of the stand-in: what it returned and reported, and whether
/// it left anything behind.
struct Ran {
    result: Result<Vec<StepOutcome>>,
    reporter: RecordingReporter,
    took: Duration,
}

impl Ran {
    fn error(&self) -> String {
        match &self.result {
            Ok(_) => panic!("the run should have failed"),
            Err(e) => format!("{e:#}"),
        }
    }

    /// The VM's pid, as the run reported it.
    fn pid(&self) -> u32 {
        let info = self.reporter.events().into_iter().find_map(|e| match e {
            Event::Info(i) if i.contains("(pid ") => Some(i),
            _ => None,
        });
        let info = info.expect("the VM's pid was reported");
        let rest = &info[info.find("(pid ").unwrap() + 5..];
        rest.split(',').next().unwrap().parse().unwrap()
    }
}

/// Run the stand-in whose body (shell, `say LINE` writes a console line,
/// `$T` is the token) plays the guest.
fn run_fake(body: &str, params: BootParams, cancel: &Cancel) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let token = Token::random().unwrap();
    let qemu = dir.path().join("qemu-system-fake");
    write_exec(
        &qemu,
        &format!(
            "#!/bin/sh\nT={token}\nfor a; do case $a in file:*) log=${{a#file:}};; esac; done\n\
             say() {{ echo \"$*\" >>\"$log\"; }}\n{body}\n"
        ),
    );
    let boot = Boot {
        disk: &dir.path().join("disk.qcow2"),
        format: &ImageFormat::Qcow2,
        token: &token,
        steps: STEPS,
        tmp: &tmp,
        qemu: &qemu,
    };
    let reporter = RecordingReporter::default();
    let start = Instant::now();
    let result = run_with(&boot, Accel::Tcg, &params, &reporter, cancel);
    let took = start.elapsed();
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    Ran {
        result,
        reporter,
        took,
    }
}

fn quick() -> BootParams {
    BootParams {
        boot_timeout: 1,
        shutdown_timeout: 1,
        ..BootParams::default()
    }
}

fn assert_gone(pid: u32) {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    assert!(!proc.exists(), "the VM process {pid} is still there");
}

#[test]
fn every_step_reported_then_power_off() {
    let body = "say noise; say \"$T start\"; say \"[ 1.0] $T task a 0\"; \
                say \"$T task b 0\"; say \"$T done\"; exit 0";
    let ran = run_fake(body, quick(), &Cancel::new());
    let outcomes = ran.result.as_ref().unwrap();
    let names: Vec<(&str, i32)> = outcomes.iter().map(|o| (o.name.as_str(), o.rc)).collect();
    assert_eq!(names, [("a", 0), ("b", 0)]);
    let titles: Vec<String> = (ran.reporter.events().into_iter())
        .filter_map(|e| match e {
            Event::Begin { title, .. } => Some(title),
            _ => None,
        })
        .collect();
    assert_eq!(
        titles,
        [
            "Booting the guest",
            "Running a inside the guest",
            "Running b inside the guest",
            "Waiting for the guest to power off"
        ]
    );
    assert_gone(ran.pid());
}

#[test]
fn a_failing_step_fails_the_run_after_power_off() {
    let body = "say \"$T start\"; say \"$T task a 0\"; say \"$T task b 3\"; say \"$T done\"";
    let ran = run_fake(body, quick(), &Cancel::new());
    let err = ran.error();
    assert!(
        err.starts_with("the online step b failed inside the guest (exit code 3)"),
        "{err}"
    );
    assert!(err.contains("--no-boot"), "{err}");
    assert_gone(ran.pid());
}

#[test]
fn a_step_that_never_ends_runs_out_of_boot_timeout() {
    let body = "say \"$T start\"; say \"$T task a 0\"; exec sleep 30";
    let ran = run_fake(body, quick(), &Cancel::new());
    let err = ran.error();
    assert!(
        err.starts_with("the online step b did not end: boot_timeout=1 s ran out"),
        "{err}"
    );
    assert!(
        err.ends_with("or use --no-boot to prepare the image offline only"),
        "{err}"
    );
    assert!(ran.took < Duration::from_secs(10), "took {:?}", ran.took);
    assert_gone(ran.pid());
}

#[test]
fn a_guest_that_does_not_power_off_runs_out_of_shutdown_timeout() {
    let body = "say \"$T start\"; say \"$T task a 0\"; say \"$T task b 0\"; say \"$T done\"; exec sleep 30";
    let ran = run_fake(body, quick(), &Cancel::new());
    let err = ran.error();
    assert!(
        err.starts_with(
            "the guest did not power off after its steps: shutdown_timeout=1 s ran out"
        ),
        "{err}"
    );
    assert_gone(ran.pid());
}

#[test]
fn a_guest_that_never_reports_runs_out_of_boot_timeout() {
    let ran = run_fake("say booting; exec sleep 30", quick(), &Cancel::new());
    let err = ran.error();
    assert!(
        err.starts_with(
            "the guest did not report that its first-boot runner started: boot_timeout=1 s ran out"
        ),
        "{err}"
    );
    assert_gone(ran.pid());
}

#[test]
fn a_boot_that_installs_drivers_names_virtio_timeout() {
    let params = BootParams {
        boot_param: "virtio_timeout",
        ..quick()
    };
    let ran = run_fake("say booting; exec sleep 30", params, &Cancel::new());
    let err = ran.error();
    assert!(
        err.contains(
            ": virtio_timeout=1 s ran out; raise it with --sysprep-param virtio_timeout=SECONDS"
        ),
        "{err}"
    );
    assert_gone(ran.pid());
}

#[test]
fn qemu_ending_early_is_named_with_its_complaint() {
    let body = "echo 'qemu-system-x86_64: -drive file=x: Could not open' >&2; exit 1";
    let ran = run_fake(body, quick(), &Cancel::new());
    let err = ran.error();
    assert!(
        err.starts_with("the guest VM stopped (exit status: 1) before its first-boot runner started: qemu-system-x86_64: -drive file=x: Could not open;"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn a_report_out_of_order_is_refused() {
    let body = "say \"$T start\"; say \"$T task b 0\"; exec sleep 30";
    let ran = run_fake(body, quick(), &Cancel::new());
    let err = ran.error();
    assert!(
        err.starts_with("the guest reported `task b 0` where the online step a was due"),
        "{err}"
    );
    assert_gone(ran.pid());
}

#[test]
fn cancel_kills_the_vm_at_once() {
    let cancel = Cancel::new();
    let raise = cancel.clone();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        raise.raise(crate::process::StopReason::Terminate);
    });
    let params = BootParams {
        boot_timeout: 60,
        ..BootParams::default()
    };
    let ran = run_fake("say \"$T start\"; exec sleep 30", params, &cancel);
    thread.join().unwrap();
    let err = ran.result.as_ref().unwrap_err();
    assert!(
        err.downcast_ref::<crate::process::Interrupted>().is_some(),
        "{err:#}"
    );
    assert!(ran.took < Duration::from_secs(5), "took {:?}", ran.took);
    assert_gone(ran.pid());
}

#[test]
fn no_emulator_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let token = Token::random().unwrap();
    let boot = Boot {
        disk: Path::new("/nonexistent.qcow2"),
        format: &ImageFormat::Qcow2,
        token: &token,
        steps: STEPS,
        tmp: dir.path(),
        qemu: Path::new("/nonexistent/qemu-system-x86_64"),
    };
    let err = run_with(
        &boot,
        Accel::Tcg,
        &quick(),
        &RecordingReporter::default(),
        &Cancel::new(),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.starts_with("cannot start the guest VM with /nonexistent/qemu-system-x86_64:"),
        "{msg}"
    );
    assert!(msg.contains("install QEMU, or use --no-boot"), "{msg}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
