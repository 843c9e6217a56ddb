//! `snf-image-creator boot-test`: does an image start? qemu boots it (KVM
//! when it works here, else TCG) with the guest's writes thrown away, its
//! serial console going to a file, and the console is watched for a marker
//! (by default the `login:` prompt a serial getty prints) until a time
//! limit. The image itself is only read.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::guest::appliance::Accel;
use crate::guest::firstboot::choose_accel;
use crate::guest::firstboot::vm::{BootVm, DiskBus, VmConfig, console_file};
use crate::media::qemu_img;
use crate::process::Cancel;
use crate::progress::Reporter;

/// What a serial getty prints: Debian's `HOST login: `, and the BSDs'.
pub const LOGIN_PROMPT: &str = "login:";

/// How much of the console's end an error quotes.
const TAIL_BYTES: usize = 4096;

/// One boot test.
#[derive(Debug, Clone)]
pub struct BootTest<'a> {
    pub image: &'a Path,
    /// The text to wait for on the console.
    pub marker: &'a str,
    pub timeout: Duration,
    pub bus: DiskBus,
    pub mem_mib: u64,
    pub qemu: &'a Path,
    /// Where the console log is kept (else a temporary file, removed).
    pub console: Option<&'a Path>,
    /// Where the temporary console log goes.
    pub tmp: &'a Path,
}

/// A boot that reached its marker.
#[derive(Debug, Clone)]
pub struct Booted {
    pub took: Duration,
    pub accel: Accel,
}

/// Why a boot test failed (the exit code is 1 for each).
#[derive(Debug, thiserror::Error)]
pub enum BootTestError {
    #[error(
        "{image} did not print {marker:?} on its console within {secs} s ({accel}); its last console line: {last:?}; raise --timeout, or keep the console with --console FILE"
    )]
    Timeout {
        image: String,
        marker: String,
        secs: u64,
        accel: Accel,
        last: String,
    },
    #[error(
        "the VM stopped ({status}) before {image} printed {marker:?}; its last console line: {last:?}{qemu}"
    )]
    Stopped {
        image: String,
        marker: String,
        status: String,
        last: String,
        qemu: String,
    },
}

/// Boot `t.image` and wait for `t.marker`.
pub fn run(t: &BootTest, reporter: &dyn Reporter, cancel: &Cancel) -> Result<Booted> {
    let info = qemu_img::info(t.image)?;
    let accel = choose_accel(t.qemu, reporter);
    let (dir, serial) = console_file(t.tmp, "snf-boot-test.", t.console)?;
    let cfg = VmConfig {
        disk: t.image,
        format: &info.format,
        mem_mib: t.mem_mib,
        smp: 1,
        accel,
        serial: &serial,
        stderr: &dir.path().join("qemu.stderr"),
        bus: t.bus,
        snapshot: true,
        network: false,
    };
    let mut vm = BootVm::start(t.qemu, &cfg)?;
    reporter.info(&format!(
        "Booting {} (pid {}, {accel}); waiting up to {} s for {:?}",
        t.image.display(),
        vm.pid(),
        t.timeout.as_secs(),
        t.marker
    ));
    watch(t, accel, &mut vm, &serial, cancel)
}

/// Read the console until the marker shows, qemu ends, the limit runs out
/// or the run is cancelled.
fn watch(
    t: &BootTest,
    accel: Accel,
    vm: &mut BootVm,
    serial: &Path,
    cancel: &Cancel,
) -> Result<Booted> {
    let mut scan = MarkerScan::new(t.marker.as_bytes());
    let start = Instant::now();
    let image = || t.image.display().to_string();
    vm.follow(serial, cancel, |bytes, exited, vm| {
        if scan.feed(bytes) {
            let took = start.elapsed();
            return Ok(Some(Booted { took, accel }));
        }
        if let Some(status) = exited {
            let qemu = vm.last_complaint().map(|c| format!("; qemu: {c}"));
            return Err(BootTestError::Stopped {
                image: image(),
                marker: t.marker.to_owned(),
                status: status.to_string(),
                last: scan.last_line(),
                qemu: qemu.unwrap_or_default(),
            }
            .into());
        }
        if start.elapsed() >= t.timeout {
            return Err(BootTestError::Timeout {
                image: image(),
                marker: t.marker.to_owned(),
                secs: t.timeout.as_secs(),
                accel,
                last: scan.last_line(),
            }
            .into());
        }
        Ok(None)
    })
}

/// Looks for a marker in console bytes that arrive in pieces, keeping only
/// the console's last [`TAIL_BYTES`]: a guest that floods its console
/// costs no memory.
#[derive(Debug)]
pub struct MarkerScan {
    marker: Vec<u8>,
    tail: Vec<u8>,
}

impl MarkerScan {
    pub fn new(marker: &[u8]) -> Self {
        MarkerScan {
            marker: marker.to_vec(),
            tail: Vec::new(),
        }
    }

    /// Add `bytes`; whether the marker has now been seen (it may straddle
    /// two pieces).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        let keep = self.marker.len().saturating_sub(1).min(self.tail.len());
        let mut window = self.tail[self.tail.len() - keep..].to_vec();
        window.extend_from_slice(bytes);
        let found =
            !self.marker.is_empty() && window.windows(self.marker.len()).any(|w| w == self.marker);
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
        found
    }

    /// The console's end, as text (escape sequences and all).
    pub fn tail(&self) -> String {
        String::from_utf8_lossy(&self.tail).into_owned()
    }

    /// The last non-empty console line, without terminal escapes.
    pub fn last_line(&self) -> String {
        let text = self.tail();
        let line = text.lines().rev().find(|l| !l.trim().is_empty());
        strip_escapes(line.unwrap_or("")).trim().to_owned()
    }
}

/// Text without ANSI escape sequences and control characters.
fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final letter.
            if chars.peek() == Some(&'[') {
                chars.next();
                while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
            }
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_marker_split_between_reads() {
        let mut s = MarkerScan::new(b"debian login:");
        assert!(!s.feed(b"Debian GNU/Linux 12 debian ttyS0\r\n\r\ndebian lo"));
        assert!(s.feed(b"gin: "));
        assert!(!MarkerScan::new(b"login:").feed(b"logon:"));
    }

    #[test]
    fn keeps_only_the_console_end() {
        let mut s = MarkerScan::new(b"never");
        for _ in 0..1000 {
            assert!(!s.feed(&[b'x'; 1000]));
        }
        assert!(!s.feed(b"\nlast words\n"));
        assert_eq!(s.tail().len(), TAIL_BYTES);
        assert_eq!(s.last_line(), "last words");
    }

    #[test]
    fn the_last_line_loses_terminal_escapes() {
        let mut s = MarkerScan::new(b"x");
        s.feed(b"[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mfoo.service\x1b[0m.\r\n\r\n");
        assert_eq!(s.last_line(), "[  OK  ] Started foo.service.");
    }
}
