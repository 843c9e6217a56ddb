//! The online phase on a real export: the synthetic Windows Server 2019
//! disk gets its offline tasks, its VirtIO drivers and the first-boot
//! runner, and is booted with qemu; having no Windows to start, it never
//! reports, so the run fails on `boot_timeout` and leaves nothing behind.
//! `virtio_timeout` is lowered too: a boot that installs drivers waits
//! for the larger of the two.

use std::time::Instant;

use crate::support::*;

#[test]
fn a_windows_that_never_reports_fails_the_export_and_leaves_nothing() {
    let src = fixture_file("windows-2019-gpt.raw");
    let tree = fixture_file("virtio-win");
    let before = sha256_file(&src);
    let dir = scratch();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = dir.path().join("win.diskdump");
    let start = Instant::now();
    let r = run(mkimage()
        .arg("--install-virtio")
        .arg(&tree)
        .args(["--sysprep-param", "boot_timeout=30"])
        .args(["--sysprep-param", "virtio_timeout=30", "--tmpdir"])
        .arg(&tmp)
        .arg("-o")
        .arg(&out)
        .arg(&src));
    eprintln!("failed online run: {:.1?}", start.elapsed());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let error = (r.stderr.lines())
        .rfind(|l| l.starts_with("Error:"))
        .unwrap_or_else(|| panic!("no error line:\n{}", r.stderr));
    assert!(
        error.contains("boot_timeout=30 s ran out") && error.contains("--no-boot"),
        "{error}\n{}",
        r.stderr
    );
    for step in ["Installing the first-boot runner", "Booting the guest"] {
        assert!(r.stderr.contains(step), "no {step:?} in\n{}", r.stderr);
    }
    // Nothing exported: the output directory holds only the --tmpdir.
    let written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(written, ["tmp"], "outputs were written");
    assert_eq!(sha256_file(&src), before, "the source changed");
    assert_no_process_mentions(tmp.to_str().unwrap());
    assert_empty_dir(&tmp);
}
