//! Whether KVM can start a VM here: the helper VM runs under KVM when it
//! can, else under software emulation (TCG).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the probe VM may take to start and quit.
const PROBE_LIMIT: Duration = Duration::from_secs(20);

/// Why KVM cannot start a VM: missing (no `/dev/kvm`, or not ours to
/// open), or present and broken (qemu fails or hangs with it).
#[derive(Debug, thiserror::Error)]
pub enum KvmUnusable {
    #[error("/dev/kvm does not exist")]
    NoDevice,
    #[error("cannot open /dev/kvm: {0}")]
    NoAccess(std::io::Error),
    #[error("cannot run {qemu}: {source}")]
    NoQemu {
        qemu: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Wait(std::io::Error),
    #[error("qemu did not answer within {}s", PROBE_LIMIT.as_secs())]
    Timeout,
    /// qemu exited with an error: the gist of its complaint.
    #[error("{0}")]
    Refused(String),
}

impl KvmUnusable {
    /// Whether the host has no KVM for us, rather than a KVM that fails.
    pub fn is_missing(&self) -> bool {
        matches!(self, KvmUnusable::NoDevice | KvmUnusable::NoAccess(_))
    }
}

/// Decide whether KVM can start a VM here. `/dev/kvm` can exist and still be
/// unusable (nested virtualization that rejects an MSR makes qemu abort), so
/// a tiny paused VM is started with the same `-cpu host` libguestfs uses and
/// told to quit over QMP: a clean exit means KVM works.
pub fn probe_kvm(qemu: &str) -> Result<(), KvmUnusable> {
    let kvm = Path::new("/dev/kvm");
    if !kvm.exists() {
        return Err(KvmUnusable::NoDevice);
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(kvm)
        .map_err(KvmUnusable::NoAccess)?;
    let mut child = Command::new(qemu)
        .args(["-accel", "kvm", "-cpu", "host", "-machine", "q35"])
        .args(["-display", "none", "-nodefaults", "-S", "-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| KvmUnusable::NoQemu {
            qemu: qemu.to_owned(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means qemu already died; its exit status says why.
        let _ = stdin.write_all(b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n");
    }
    let out = wait_bounded(child, PROBE_LIMIT)?;
    if out.status.success() {
        return Ok(());
    }
    Err(KvmUnusable::Refused(qemu_error_line(
        &String::from_utf8_lossy(&out.stderr),
    )))
}

/// The gist of qemu's complaint: its first line without the program name.
fn qemu_error_line(stderr: &str) -> String {
    let first = stderr.lines().next().unwrap_or("").trim();
    let gist = match first.split_once(": error: ") {
        Some((_, rest)) => rest,
        None => first.split_once(": ").map_or(first, |(_, rest)| rest),
    };
    if gist.is_empty() {
        "qemu exited with an error".to_owned()
    } else {
        gist.to_owned()
    }
}

/// Wait for a child for at most `limit`, killing it past that.
fn wait_bounded(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<std::process::Output, KvmUnusable> {
    let start = Instant::now();
    // Poll: std has no wait-with-timeout, and the probe normally ends in
    // well under a second.
    while child.try_wait().map_err(KvmUnusable::Wait)?.is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(KvmUnusable::Timeout);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().map_err(KvmUnusable::Wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_errors_lose_the_program_name() {
        assert_eq!(
            qemu_error_line(
                "qemu-system-x86_64: error: failed to set MSR 0x10a to 0xc000069\nqemu-system-x86_64: kvm.c:3849: Assertion failed\n"
            ),
            "failed to set MSR 0x10a to 0xc000069"
        );
        assert_eq!(
            qemu_error_line("qemu: Could not access KVM kernel module"),
            "Could not access KVM kernel module"
        );
        assert_eq!(qemu_error_line(""), "qemu exited with an error");
    }

    #[test]
    fn missing_and_broken_kvm_differ() {
        assert!(KvmUnusable::NoDevice.is_missing());
        assert!(!KvmUnusable::Timeout.is_missing());
        assert_eq!(
            KvmUnusable::Timeout.to_string(),
            "qemu did not answer within 20s"
        );
        assert_eq!(
            probe_kvm("/nonexistent/qemu")
                .err()
                .map(
                    |e| e.to_string().starts_with("cannot run /nonexistent/qemu") || e.is_missing()
                ),
            Some(true),
            "{:?}",
            probe_kvm("/nonexistent/qemu")
        );
    }
}
