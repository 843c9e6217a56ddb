//! Boot tests: an exported image is booted by qemu with its own boot
//! loader (software emulation here, KVM where it works), its serial console
//! going to a file, and must print the fixture's boot marker in time.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use snf_image_creator::guest::appliance::probe_kvm;

use crate::export::{Prep, export};
use crate::support::*;

/// What the bootable fixture's systemd unit prints once the system is up
/// (tests/fixtures/mk-disk.sh, BOOT_MARKER).
const MARKER: &str = "snf-image-creator-fixture-booted";

/// Under software emulation the fixture reaches its marker in 30–40 s on
/// an idle machine; allow for a busy one.
const LIMIT: Duration = Duration::from_secs(300);

/// A qemu process killed when dropped.
struct Vm(Child);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boot `image` (raw) on an IDE disk, with the writes going to a throwaway
/// overlay, and wait for `marker` on the serial console. Returns the time
/// it took, or the console's last lines on failure.
pub fn boot_to_marker(image: &Path, marker: &str, limit: Duration) -> Result<Duration, String> {
    let dir = scratch();
    let log = dir.path().join("serial.log");
    let accel = if probe_kvm("qemu-system-x86_64").is_ok() {
        "kvm"
    } else {
        "tcg"
    };
    let start = Instant::now();
    let mut vm = Vm(Command::new("qemu-system-x86_64")
        .args(["-accel", accel, "-m", "1024", "-smp", "1"])
        .args(["-display", "none", "-no-reboot", "-nic", "none"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=ide,snapshot=on",
            image.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running qemu-system-x86_64"));
    loop {
        let console = std::fs::read(&log).unwrap_or_default();
        let console = String::from_utf8_lossy(&console);
        if console.contains(marker) {
            return Ok(start.elapsed());
        }
        let tail = || {
            console
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .join("\n")
        };
        if let Ok(Some(status)) = vm.0.try_wait() {
            return Err(format!(
                "qemu exited ({status}) before the marker:\n{}",
                tail()
            ));
        }
        if start.elapsed() > limit {
            return Err(format!("no marker after {}s:\n{}", limit.as_secs(), tail()));
        }
        // Poll: the console is a plain file that qemu appends to.
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The bootable fixture (GPT, EXTLINUX, LegacyBIOSBootable root), shrunk by
/// a default run, still boots to its marker.
#[test]
fn shrunk_bootable_image_boots() {
    let e = export("debian-gpt-bootable.raw", Prep::Defaults);
    match boot_to_marker(&e.image, MARKER, LIMIT) {
        Ok(took) => eprintln!("booted to the marker in {}s", took.as_secs()),
        Err(why) => panic!("{} did not boot: {why}", e.image.display()),
    }
}
