//! Whether KVM can start a VM here: the helper VM runs under KVM when it
//! can, else under software emulation (TCG).

mod verdict;

use std::io::Write;
use std::path::{Path, PathBuf};
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
    /// qemu exited cleanly but the kernel never ran (a guest that
    /// triple-faults at once also ends qemu under `-no-reboot`).
    #[error("the probe VM stopped before its kernel ran")]
    NoKernel,
    /// What an earlier probe since the host booted found.
    #[error("{0}")]
    Recalled(String),
}

impl KvmUnusable {
    /// Whether the host has no KVM for us, rather than a KVM that fails.
    pub fn is_missing(&self) -> bool {
        matches!(self, KvmUnusable::NoDevice | KvmUnusable::NoAccess(_))
    }
}

/// Decide whether KVM can run a VM here. `/dev/kvm` can exist and still be
/// unusable: nested virtualization that rejects an MSR makes qemu abort,
/// and on some hosts qemu starts but the guest never runs. So the probe
/// boots the host's own kernel under KVM with no root filesystem: it
/// panics at once and, with `panic=-1` and `-no-reboot`, qemu exits; a
/// clean exit within [`PROBE_LIMIT`], after the panic message on the
/// serial console, means KVM works (a guest that triple-faults at once
/// also exits cleanly, without the message). The verdict is kept
/// until the next boot of the host (see [`verdict`]), so only the first
/// run after a boot pays for the probe.
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
    let kernel = newest_kernel(Path::new("/boot"));
    let key = verdict::key(qemu, kernel.as_deref());
    if let Some(known) = verdict::recalled(&key) {
        return known.map_err(KvmUnusable::Recalled);
    }
    let found = boot(qemu, kernel.as_deref());
    verdict::remember(
        &key,
        found.as_ref().map(|_| ()).map_err(ToString::to_string),
    );
    found
}

/// Start qemu under KVM: booting `kernel` when there is one, else a
/// paused VM told to quit over QMP (which proves less).
fn boot(qemu: &str, kernel: Option<&Path>) -> Result<(), KvmUnusable> {
    let mut cmd = Command::new(qemu);
    cmd.args([
        "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-m", "256",
    ])
    .args(["-display", "none", "-nodefaults", "-no-reboot"]);
    match kernel {
        // loglevel=1: only the panic reaches the console, whose few
        // lines the pipe holds.
        Some(k) => cmd
            .arg("-kernel")
            .arg(k)
            .args(["-append", "panic=-1 console=ttyS0 loglevel=1"])
            .args(["-serial", "stdio"])
            .stdin(Stdio::null()),
        None => cmd.args(["-S", "-qmp", "stdio"]).stdin(Stdio::piped()),
    };
    let mut child = (cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
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
    judge(&out, kernel.is_some())
}

/// A kernel boot works when qemu exits cleanly after the kernel said it
/// panicked; a paused VM, when qemu quits cleanly.
fn judge(out: &std::process::Output, booted_kernel: bool) -> Result<(), KvmUnusable> {
    if !out.status.success() {
        return Err(KvmUnusable::Refused(qemu_error_line(
            &String::from_utf8_lossy(&out.stderr),
        )));
    }
    let console = String::from_utf8_lossy(&out.stdout);
    if booted_kernel && !console.contains("Kernel panic") {
        return Err(KvmUnusable::NoKernel);
    }
    Ok(())
}

/// The newest `vmlinuz-*` in `boot` (by version order of the names).
fn newest_kernel(boot: &Path) -> Option<PathBuf> {
    let mut kernels: Vec<PathBuf> = std::fs::read_dir(boot)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    kernels.sort_by(|a, b| version_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    kernels.pop()
}

/// Compare names with their digit runs as numbers (`6.1.0-9` < `6.1.0-10`).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for chunk in s.split(|c: char| !c.is_ascii_digit()) {
            out.push((chunk.parse().unwrap_or(0), chunk.to_owned()));
        }
        out
    }
    parts(a).cmp(&parts(b))
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
    fn a_clean_exit_counts_only_after_the_kernel_ran() {
        use std::os::unix::process::ExitStatusExt;
        let out = |code: i32, stdout: &str| std::process::Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: stdout.into(),
            stderr: b"qemu-system-x86_64: failed to set MSR 0x10a\n".to_vec(),
        };
        let panicked = "[    0.9] Kernel panic - not syncing: VFS: Unable to mount root fs\n";
        assert!(judge(&out(0, panicked), true).is_ok());
        assert!(matches!(
            judge(&out(0, ""), true),
            Err(KvmUnusable::NoKernel)
        ));
        assert!(judge(&out(0, ""), false).is_ok());
        assert_eq!(
            judge(&out(1, panicked), true).unwrap_err().to_string(),
            "failed to set MSR 0x10a"
        );
    }

    #[test]
    fn the_newest_kernel_is_probed() {
        let boot = tempfile::tempdir().unwrap();
        for name in [
            "vmlinuz-6.1.0-9-amd64",
            "vmlinuz-6.1.0-10-amd64",
            "initrd.img-6.1.0-11-amd64",
        ] {
            std::fs::write(boot.path().join(name), "").unwrap();
        }
        let newest = newest_kernel(boot.path()).unwrap();
        assert!(newest.ends_with("vmlinuz-6.1.0-10-amd64"), "{newest:?}");
        assert_eq!(newest_kernel(Path::new("/nonexistent")), None);
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
