//! The terminal UI losing its terminal or getting a signal: it ends within
//! 5 s with the clean-up Ctrl-C does, and 128 + the signal as exit code (a
//! lost terminal counts as SIGHUP).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;
use crate::tmux::{LAUNCH, Pane, SCREEN, Tmux, start_ui_in};

/// The bound on ending after a signal or a lost terminal.
const END_WITHIN: Duration = Duration::from_secs(5);

/// The process the pane's shell runs (the UI).
fn ui_pid(ui: &Tmux) -> i32 {
    let shell: i32 = ui
        .command(&["display-message", "-p", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    let children: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| stat(*pid).is_some_and(|s| s.parent == shell))
        .collect();
    assert_eq!(children.len(), 1, "the pane's shell runs {children:?}");
    children[0]
}

/// What `/proc/PID/stat` says of a process, while it can be read.
struct Stat {
    parent: i32,
    state: char,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = line[line.rfind(')')? + 1..].split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        parent: fields.get(1)?.parse().ok()?,
        cpu_ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
    })
}

fn clock_ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Wait for `pid` to end (gone, or a zombie); return how long it took and
/// the CPU seconds it used meanwhile (from its last readable stat).
fn watch_end(pid: i32, start_ticks: u64) -> (Duration, f64) {
    let start = Instant::now();
    let mut last = start_ticks;
    while let Some(s) = stat(pid).filter(|s| s.state != 'Z') {
        last = s.cpu_ticks;
        assert!(
            start.elapsed() < 2 * END_WITHIN,
            "process {pid} still runs {:?} after the kill",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu = (last - start_ticks) as f64 / clock_ticks_per_second() as f64;
    (start.elapsed(), cpu)
}

fn assert_cleaned(tmp: &Path, src: &Path, before: &str) {
    assert_empty_dir(tmp);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(tmp.to_str().unwrap()), "{mounts}");
    assert_no_process_mentions(&tmp.to_string_lossy());
    assert_eq!(sha256_file(src), before, "the source changed");
}

/// The bug: the session holding the UI is killed at the Wizard/
/// Expert dialog. The UI used to spin at 100% of a core for ever.
#[test]
fn tui_ends_when_its_terminal_is_killed() {
    let (src, _) = fixture("debian-mbr.qcow2");
    let before = sha256_file(&src);
    let (work, tmp) = (scratch(), scratch());
    let ui = start_ui_in(tmp.path(), &src, work.path(), Pane::Losable);
    let pid = ui_pid(&ui);
    let at_kill = stat(pid).expect("the UI runs").cpu_ticks;
    ui.command(&["kill-session"]);
    let (took, cpu) = watch_end(pid, at_kill);
    eprintln!("lost terminal: the UI ended {took:?} after the kill, using {cpu:.2} s of CPU");
    assert!(took < END_WITHIN, "the UI took {took:?} to end");
    assert!(cpu < 1.0, "the UI used {cpu} s of CPU after the kill");
    // The UI has ended; the pane's shell (which outlives the hang-up)
    // still has to be scheduled to write its code, however loaded the
    // machine is.
    assert_eq!(ui.exit_code(SCREEN), 129);
    drop(ui);
    assert_cleaned(tmp.path(), &src, &before);
}

/// SIGTERM, SIGHUP and SIGINT (sent with kill, not typed) while the helper
/// VM starts (work directory, snapshot overlay and VM present): gone within
/// 5 s with 128 + the signal, all of it cleaned, terminal restored.
#[test]
fn tui_signals_while_the_helper_vm_runs() {
    use nix::sys::signal::Signal;
    let (src, _) = fixture("debian-mbr.qcow2");
    let before = sha256_file(&src);
    for signal in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        let (work, tmp) = (scratch(), scratch());
        let ui = start_until_the_vm_runs(&src, work.path(), tmp.path());
        let pid = ui_pid(&ui);
        let at_kill = stat(pid).expect("the UI runs").cpu_ticks;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
        let (took, cpu) = watch_end(pid, at_kill);
        eprintln!(
            "{signal} during the launch: the UI ended {took:?} after it, using {cpu:.2} s of CPU"
        );
        assert!(took < END_WITHIN, "{signal}: the UI took {took:?} to end");
        assert_eq!(ui.exit_code(SCREEN), 128 + signal as i32, "{signal}");
        // The terminal was restored: the UI's frame went with the
        // alternate screen.
        assert!(!ui.screen().contains("Initialization"), "{}", ui.screen());
        drop(ui);
        assert_cleaned(tmp.path(), &src, &before);
    }
}

/// The UI on `src` in a kept pane, once its helper VM runs.
fn start_until_the_vm_runs(src: &Path, work: &Path, tmp: &Path) -> Tmux {
    let cmd = format!(
        "env KAMAKI_CONFIG={} {} --tmpdir {} {}",
        work.join("no-kamakirc").display(),
        env!("CARGO_BIN_EXE_snf-image-creator"),
        tmp.display(),
        src.display()
    );
    let ui = Tmux::start_in(&cmd, work, Pane::Kept);
    ui.wait_for("Launching helper VM", LAUNCH);
    poll(
        "a helper VM on the snapshot",
        Duration::from_secs(60),
        || {
            if helper_vm_runs(tmp) {
                Ok(())
            } else {
                Err(ui.screen())
            }
        },
    );
    ui
}
