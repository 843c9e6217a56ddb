//! Stopping the helper VM when a run is cancelled.
//!
//! libguestfs calls block: a launch under TCG takes 10–60 s, and nothing
//! checks the cancel flag meanwhile. [`StopVmOnCancel`] watches the flag
//! and, once it is raised, ends this process's helper VMs (its
//! `qemu-system-*` children) with SIGTERM, so the blocked call fails at
//! once and the run's guards clean up as after any failure. qemu-nbd is not
//! touched: its guard stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::process::Cancel;

/// How often the flag is looked at.
const POLL: Duration = Duration::from_millis(50);

/// The program names of the helper VM (`comm`, 15 characters at most).
const VM_COMM_PREFIX: &str = "qemu-system";

/// While alive, a thread that stops the helper VMs once `cancel` is
/// raised. Dropping it ends the thread.
pub struct StopVmOnCancel {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StopVmOnCancel {
    pub fn watch(cancel: &Cancel) -> StopVmOnCancel {
        let done = Arc::new(AtomicBool::new(false));
        let (flag, cancel) = (done.clone(), cancel.clone());
        let thread = std::thread::Builder::new()
            .name("stop-vm".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    // Keep looking after the first kill: a VM started
                    // meanwhile (a retry) goes too.
                    if cancel.is_cancelled() {
                        for pid in vm_children() {
                            let _ = kill(pid, Signal::SIGTERM);
                        }
                    }
                    std::thread::sleep(POLL);
                }
            })
            .ok();
        StopVmOnCancel { done, thread }
    }
}

impl Drop for StopVmOnCancel {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// This process's children that are helper VMs.
fn vm_children() -> Vec<Pid> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            parent_and_name(&stat)
                .is_some_and(|(ppid, comm)| ppid == me && comm.starts_with(VM_COMM_PREFIX))
        })
        .map(Pid::from_raw)
        .collect()
}

/// The parent pid and the program name from a `/proc/PID/stat` line
/// (`pid (comm) state ppid ...`; comm may hold spaces and parentheses).
fn parent_and_name(stat: &str) -> Option<(u32, &str)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let ppid = stat
        .get(close + 1..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ppid, comm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_lines() {
        let line = "4216 (qemu-system-x86) S 4207 4177 4177 0 -1 4194560";
        assert_eq!(parent_and_name(line), Some((4207, "qemu-system-x86")));
        let odd = "7 (a) b (c) R 1 7 7";
        assert_eq!(parent_and_name(odd), Some((1, "a) b (c")));
        assert_eq!(parent_and_name("garbage"), None);
    }

    /// A child named like the helper VM is stopped once the flag is
    /// raised, and not before.
    #[test]
    fn stops_vm_children_once_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("qemu-system-test");
        std::os::unix::fs::symlink("/bin/sleep", &fake).unwrap();
        let mut child = std::process::Command::new(&fake).arg("30").spawn().unwrap();
        let cancel = Cancel::new();
        let guard = StopVmOnCancel::watch(&cancel);
        std::thread::sleep(4 * POLL);
        assert!(child.try_wait().unwrap().is_none(), "stopped too early");
        cancel.cancel();
        let start = std::time::Instant::now();
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(guard);
    }
}
