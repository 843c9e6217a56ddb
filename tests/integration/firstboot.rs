//! The online phase's runner on a real boot: the bootable Debian fixture,
//! given a systemd unit that speaks the first-boot serial protocol (as the
//! Windows runner does on COM1), is booted by the product with qemu. One
//! boot has a step that succeeds, one that fails and one that must not
//! run; the other has a step that hangs until `boot_timeout` runs out.
//! Both overlays are prepared in one guestfish session, and the failing
//! boot runs while the other guest waits for its `boot_timeout`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use snf_image_creator::guest::appliance::probe_kvm;
use snf_image_creator::guest::firstboot::{
    Boot, BootParams, FirstbootError, OnlineStep, Token, run, vm::QEMU,
};
use snf_image_creator::media::format::ImageFormat;
use snf_image_creator::media::qemu_img::create_overlay;
use snf_image_creator::process::Cancel;
use snf_image_creator::progress::{Event, RecordingReporter};

use crate::support::*;

/// The guest's runner: reads its token and its `NAME COMMAND` steps,
/// reports on the first serial port, stops at the first failing step,
/// powers off.
const RUNNER: &str = r#"#!/bin/sh
t=$(cat /etc/snf-firstboot-test/token)
say() { echo "$t $*" >/dev/ttyS0; }
say start
while read -r name cmd; do
    sh -c "$cmd" </dev/null >/dev/null 2>&1
    rc=$?
    say task "$name" "$rc"
    [ "$rc" = 0 ] || break
done </etc/snf-firstboot-test/steps
say done
systemctl poweroff --no-block
"#;

const UNIT: &str = "[Unit]
Description=First-boot protocol runner of the firstboot test

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/snf-firstboot-test

[Install]
WantedBy=multi-user.target
";

/// The steps of the first boot: the third must never run.
const FAILS: &[OnlineStep] = &[
    OnlineStep {
        name: "ok",
        command: Cow::Borrowed("true"),
    },
    OnlineStep {
        name: "fails",
        command: Cow::Borrowed("exit 3"),
    },
    OnlineStep {
        name: "never",
        command: Cow::Borrowed("true"),
    },
];

/// The steps of the second boot.
const HANGS: &[OnlineStep] = &[
    OnlineStep {
        name: "ok",
        command: Cow::Borrowed("true"),
    },
    OnlineStep {
        name: "hangs",
        command: Cow::Borrowed("sleep 100000"),
    },
];

/// guestfish commands that install the runner with `token` and `steps` on
/// the root filesystem `root`, and point the boot loader and fstab at the
/// virtio disk the product boots.
fn install_commands(root: &str, token: &Token, steps: &[OnlineStep]) -> String {
    let list: String = steps
        .iter()
        .map(|s| format!("{} {}\\n", s.name, s.command))
        .collect();
    let wants = "/etc/systemd/system/multi-user.target.wants";
    format!(
        "mount {root} /\n\
         mkdir-p /etc/snf-firstboot-test\n\
         write /etc/snf-firstboot-test/token \"{token}\"\n\
         write /etc/snf-firstboot-test/steps \"{list}\"\n\
         write /usr/local/sbin/snf-firstboot-test \"{runner}\"\n\
         chmod 0755 /usr/local/sbin/snf-firstboot-test\n\
         write /etc/systemd/system/snf-firstboot-test.service \"{unit}\"\n\
         ln-sf /etc/systemd/system/snf-firstboot-test.service {wants}/snf-firstboot-test.service\n\
         sh \"sed -i s,/dev/sda,/dev/vda,g /boot/extlinux/extlinux.conf /etc/fstab\"\n\
         umount /\n",
        runner = escape(RUNNER),
        unit = escape(UNIT),
    )
}

/// Text as a guestfish double-quoted string.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Two overlays of the bootable fixture, each with the runner installed
/// for its token and steps (one guestfish launch for both).
fn prepare(dir: &Path, runs: &[(&Token, &[OnlineStep])]) -> Vec<PathBuf> {
    let (fixture, entry) = fixture("debian-gpt-bootable.raw");
    let part = entry["root_partition"].as_i64().unwrap();
    let mut cmd = Command::new("guestfish");
    let mut script = String::from("run\n");
    let mut overlays = Vec::new();
    for (i, (token, steps)) in runs.iter().enumerate() {
        let overlay = dir.join(format!("boot{i}.qcow2"));
        create_overlay(&fixture, &ImageFormat::Raw, &overlay).unwrap();
        cmd.args(["--format=qcow2", "-a"]).arg(&overlay);
        let disk = char::from(b'a' + i as u8);
        script += &install_commands(&format!("/dev/sd{disk}{part}"), token, steps);
        overlays.push(overlay);
    }
    cmd.env("LIBGUESTFS_BACKEND", "direct");
    if probe_kvm(QEMU).is_err() {
        cmd.env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    }
    let out = run_with_input(&mut cmd, &script);
    assert_eq!(out.code, 0, "guestfish failed: {}", out.stderr);
    overlays
}

/// The VM's pid, as the run reported it.
fn vm_pid(reporter: &RecordingReporter) -> u32 {
    let info = reporter.events().into_iter().find_map(|e| match e {
        Event::Info(i) if i.contains("(pid ") => Some(i),
        _ => None,
    });
    let info = info.expect("the run reports the VM's pid");
    let rest = &info[info.find("(pid ").unwrap() + 5..];
    rest.split(',').next().unwrap().parse().unwrap()
}

/// The end result of each progress step, by title.
fn step_results(reporter: &RecordingReporter) -> Vec<(String, String)> {
    let mut titles = std::collections::HashMap::new();
    let mut out = Vec::new();
    for e in reporter.events() {
        match e {
            Event::Begin { id, title, .. } => {
                titles.insert(id, title);
            }
            Event::End { id, result } => out.push((titles[&id].clone(), result)),
            _ => {}
        }
    }
    out
}

/// Boot `disk` with `steps`, reporting to `reporter`; assert that the VM
/// and the console log are gone afterwards and return the error and how
/// long the run took.
fn boot(
    disk: &Path,
    token: &Token,
    steps: &[OnlineStep],
    params: BootParams,
    reporter: &RecordingReporter,
) -> Booted {
    let tmp = scratch();
    let start = Instant::now();
    let boot = Boot {
        disk,
        format: &ImageFormat::Qcow2,
        token,
        steps,
        tmp: tmp.path(),
        qemu: Path::new(QEMU),
    };
    let result = run(&boot, &params, reporter, &Cancel::new());
    let took = start.elapsed();
    let pid = vm_pid(reporter);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the VM (pid {pid}) is still running"
    );
    assert_no_process_mentions(disk.to_str().unwrap());
    assert_empty_dir(tmp.path());
    let error = result.expect_err("the run should fail");
    Booted { error, took }
}

struct Booted {
    error: anyhow::Error,
    took: Duration,
}

/// Whether the guest reporting to `reporter` has booted (or the run
/// ended): the hanging boot's idle wait is where the other boot runs.
fn booted(reporter: &RecordingReporter) -> bool {
    step_results(reporter)
        .iter()
        .any(|(title, _)| title == "Booting the guest")
}

/// The two boots overlap: the failing one starts once the hanging one's
/// guest is up, and runs while that guest waits out `boot_timeout`.
#[test]
fn firstboot_runner_on_a_real_boot() {
    let dir = scratch();
    let (fail_token, hang_token) = (Token::random().unwrap(), Token::random().unwrap());
    let overlays = prepare(dir.path(), &[(&fail_token, FAILS), (&hang_token, HANGS)]);
    let params = BootParams {
        mem_mib: 512,
        boot_timeout: 240,
        shutdown_timeout: 120,
        ..BootParams::default()
    };
    // A step never ends: the VM is killed once boot_timeout runs out (the
    // limit between two reports, so it must also cover the boot: 35 s on
    // an idle machine under TCG, 65 s seen on a busy one).
    let hang = BootParams {
        boot_timeout: 150,
        ..params
    };
    let (fail_reporter, hang_reporter) =
        (RecordingReporter::default(), RecordingReporter::default());
    let (failed, hung) = std::thread::scope(|s| {
        let hung = s.spawn(|| boot(&overlays[1], &hang_token, HANGS, hang, &hang_reporter));
        let up = Instant::now();
        while !booted(&hang_reporter) && up.elapsed() < Duration::from_secs(300) {
            std::thread::sleep(Duration::from_millis(500));
        }
        let failed = boot(&overlays[0], &fail_token, FAILS, params, &fail_reporter);
        (failed, hung.join().unwrap())
    });
    check_failing_step(&failed, &fail_reporter);
    check_hanging_step(&hung, &hang_reporter);
}

/// A step succeeds, the next fails: the guest skips the rest, says done
/// and powers off; the run fails naming the step.
fn check_failing_step(b: &Booted, reporter: &RecordingReporter) {
    eprintln!("boot with a failing step: {} s", b.took.as_secs());
    let msg = format!("{:#}", b.error);
    assert!(
        msg.starts_with("the online step fails failed inside the guest (exit code 3);"),
        "{msg}"
    );
    assert!(msg.contains("--no-boot"), "{msg}");
    assert!(matches!(
        b.error.downcast_ref::<FirstbootError>(),
        Some(FirstbootError::StepFailed { rc: 3, .. })
    ));
    let results = step_results(reporter);
    let result = |title: &str| {
        let found = results.iter().find(|(t, _)| t == title);
        found.map(|(_, r)| r.as_str())
    };
    assert!(result("Booting the guest").is_some_and(|r| r.starts_with("started after ")));
    assert_eq!(result("Running ok inside the guest"), Some("done"));
    assert_eq!(
        result("Running fails inside the guest"),
        Some("failed (exit code 3)")
    );
    assert_eq!(
        result("Running never inside the guest"),
        None,
        "{results:?}"
    );
    assert_eq!(result("Waiting for the guest to power off"), Some("done"));
}

/// The hanging step: killed after boot_timeout=150 s, named in the error.
fn check_hanging_step(b: &Booted, reporter: &RecordingReporter) {
    eprintln!("boot with a hanging step: {} s", b.took.as_secs());
    let msg = format!("{:#}", b.error);
    assert!(
        msg.starts_with("the online step hangs did not end: boot_timeout=150 s ran out;"),
        "{msg}"
    );
    assert!(
        msg.ends_with("or use --no-boot to prepare the image offline only"),
        "{msg}"
    );
    assert!(b.took >= Duration::from_secs(150), "{:?}", b.took);
    let results = step_results(reporter);
    assert!(results.contains(&("Running ok inside the guest".into(), "done".into())));
    assert!(results.contains(&("Running hangs inside the guest".into(), "failed".into())));
}

/// `--no-boot` is documented.
#[test]
fn no_boot_is_in_the_help() {
    let help = run_cmd_help();
    assert!(help.contains("--no-boot"), "{help}");
    assert!(help.contains("Prepare the image offline only"), "{help}");
}

fn run_cmd_help() -> String {
    let out = crate::support::run(mkimage().arg("--help"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}
