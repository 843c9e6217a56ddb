//! The binary's names, version and help.

use std::process::Command;

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

    let j = run(creator().args(["doctor", "--json"]));
    assert_eq!(j.code, 0, "{}", j.stderr);
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(doc["problems"], 0, "{doc}");
    let checks = doc["checks"].as_array().unwrap();
    let helper = checks.iter().find(|c| c["name"] == "helper VM").unwrap();
    assert_eq!(helper["ok"], true, "{doc}");
    assert!(helper["fix"].is_null(), "{doc}");
}

/// The page name of `cmd` under `parent` (`snf-image-creator-images-list`).
fn page_names(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
    let name = match prefix {
        "" => cmd.get_name().to_owned(),
        p => format!("{p}-{}", cmd.get_name()),
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page_names(sub, &name, out);
    }
    out.push((name, cmd.clone()));
}

/// `snf-image-creator man DIR` writes a page per program and subcommand,
/// `man` renders each, and each names every long option of its command;
/// `completions` prints a script for each shell that names the options.
#[test]
fn man_pages_and_completions_name_every_option() {
    let dir = scratch();
    let written = run(creator().arg("man").arg(dir.path()));
    assert_eq!(written.code, 0, "{}", written.stderr);
    let mut pages = Vec::new();
    for program in snf_image_creator::cli::docs::programs() {
        let mut program = program.disable_help_subcommand(true);
        program.build();
        page_names(&program, "", &mut pages);
    }
    assert!(pages.len() > 10, "{}", pages.len());
    for (name, cmd) in &pages {
        let file = dir.path().join(format!("{name}.1"));
        assert!(written.stdout.contains(&*file.to_string_lossy()), "{name}");
        let shown = run(Command::new("man")
            .env("LANG", "C")
            .env("MANWIDTH", "250")
            .args(["-P", "cat", "-l"])
            .arg(&file));
        assert_eq!(shown.code, 0, "man {name}: {}", shown.stderr);
        assert!(shown.stdout.contains("NAME"), "{name}: {}", shown.stdout);
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                assert!(shown.stdout.contains(&flag), "{name}.1 lacks {flag}");
            }
        }
    }
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = run(creator().args(["completions", shell, "--mkimage"]));
        assert_eq!(script.code, 0, "{shell}: {}", script.stderr);
        assert!(script.stdout.contains("print-syspreps"), "{shell}");
    }
    let bad = run(creator().args(["completions", "tcsh"]));
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("invalid value 'tcsh'"),
        "{}",
        bad.stderr
    );
}
