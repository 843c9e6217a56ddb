//! The binary's names, version and help.

use crate::support::*;

#[test]
fn answers_under_both_names() {
    let version = env!("CARGO_PKG_VERSION");
    let a = run(mkimage().arg("--version"));
    assert_eq!(a.code, 0);
    assert_eq!(a.stdout.trim(), format!("snf-mkimage {version}"));
    let b = run(creator().arg("--version"));
    assert_eq!(b.code, 0);
    assert_eq!(b.stdout.trim(), format!("snf-image-creator {version}"));

    let help = run(mkimage().arg("-h"));
    assert_eq!(help.code, 0);
    for flag in [
        "--outfile",
        "--force",
        "--silent",
        "--tmpdir",
        "--no-snapshot",
        "--print-metadata",
        "--metadata",
        "--allow-unsupported",
        "--allow-backing-file",
        "--no-sysprep",
        "--enable-sysprep",
        "--disable-sysprep",
        "--sysprep-param",
        "--print-syspreps",
        "--print-sysprep-params",
        "--dry-run",
        "--json",
        "--host-run",
    ] {
        assert!(
            help.stdout.contains(flag),
            "{flag} missing from -h:\n{}",
            help.stdout
        );
    }
    // The subcommand is the same front end as the name.
    let sub = run(creator().args(["mkimage", "-h"]));
    assert_eq!(sub.code, 0);
    assert!(sub.stdout.contains("--outfile"));
}

#[test]
fn usage_errors_exit_2() {
    let r = run(mkimage().arg("--no-such-flag"));
    assert_eq!(r.code, 2);
    let r = run(&mut mkimage());
    assert_eq!(r.code, 2, "a missing SOURCE is a usage error");
    assert!(r.stderr.contains("SOURCE"));
}

#[test]
fn doctor_reports_the_machine() {
    let r = run(creator().arg("doctor"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for name in ["qemu-img", "qemu-nbd", "KVM", "helper VM", "work space"] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains(" ok ")),
            "{name} not ok in:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("started in"), "{}", r.stdout);
}
