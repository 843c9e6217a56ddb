//! Signals to `snf-mkimage` mid-run: SIGHUP (a lost ssh session) and
//! SIGTERM get the clean-up SIGINT gets, one `Error:` line naming the
//! signal, and 128 + the signal as exit code.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::*;

/// Run `snf-mkimage -o OUTDIR/out.diskdump IMAGE`, send `signal` once
/// stderr shows `when` (and `ready` holds), and check what the run left:
/// the error line, the exit code, nothing in the work area or the output
/// directory, no helper process, the source untouched.
fn signal_mid_run(image: &Path, when: &str, ready: &dyn Fn(&Path) -> bool, signal: Signal) {
    let before = sha256_file(image);
    let (tmp, outdir) = (scratch(), scratch());
    let mut child = mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .arg("-o")
        .arg(outdir.path().join("out.diskdump"))
        .arg(image)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while !seen.contains(when) {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{when:?} never came:\n{seen}"
        );
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "the run ended before {when:?}:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    while !ready(tmp.path()) {
        assert!(start.elapsed() < Duration::from_secs(300), "never ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let signalled = Instant::now();
    stderr.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    eprintln!(
        "{signal} at {when:?}: snf-mkimage ended {:?} after it",
        signalled.elapsed()
    );
    let r = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: seen,
    };
    let code = 128 + signal as i32;
    r.assert_error(code, &format!("interrupted by {signal}"));
    assert_empty_dir(tmp.path());
    assert_empty_dir(outdir.path());
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    assert_eq!(sha256_file(image), before, "the source changed");
}

/// The ssh session of a run drops while the helper VM starts.
#[test]
fn cli_sighup_while_the_helper_vm_starts() {
    let (src, _) = fixture("debian-mbr.qcow2");
    signal_mid_run(&src, "Launching helper VM", &helper_vm_runs, Signal::SIGHUP);
}

/// Case 15, Ctrl-C (SIGINT) during the export of a large disk, and SIGTERM
/// at the same point: the work directory, the NBD server and the
/// half-written output are all gone.
#[test]
fn cli_sigint_and_sigterm_during_the_export() {
    let dir = scratch();
    let (base, _) = fixture("debian-mbr.qcow2");
    // A large virtual disk (mostly zeros) so that the export runs long
    // enough to be stopped; a copy, not an overlay, so that it has no
    // backing file.
    let big = dir.path().join("big.qcow2");
    let qemu_img = |args: &[&std::ffi::OsStr]| {
        let status = Command::new("qemu-img").args(args).status().unwrap();
        assert!(status.success(), "qemu-img {args:?}");
    };
    qemu_img(&[
        "convert".as_ref(),
        "-O".as_ref(),
        "qcow2".as_ref(),
        base.as_ref(),
        big.as_ref(),
    ]);
    qemu_img(&[
        "resize".as_ref(),
        "-q".as_ref(),
        big.as_ref(),
        "40G".as_ref(),
    ]);
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        signal_mid_run(&big, "Dumping image file", &|_| true, signal);
    }
}
