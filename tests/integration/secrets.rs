//! The secret scan on the real Debian fixture: secrets planted (by a
//! `--host-run` script, into the run's overlay) stop an upload to the
//! local store and are warnings of a local export, listed by path and kind
//! and never by value. That the clean fixture, prepared by the default
//! tasks, yields none is shown by `cloud::mkimage`, whose upload of it
//! would otherwise be refused.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{
    assert_empty_dir, assert_no_process_mentions, fixture, mkimage, run, scratch, sha256_file,
    write_script,
};

/// The planted secrets: guest path, content, the kind reported, and the
/// value that must never be shown.
const PLANTED: &[(&str, &str, &str, &str)] = &[
    (
        "root/.aws/credentials",
        "[default]\naws_access_key_id = AKIAQ3EGRUL7TESTK3YS\naws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLE\n",
        "AWS credentials",
        "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLE",
    ),
    (
        "home/user/x.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n",
        "private key (PEM)",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    ),
    (
        "root/.git-credentials",
        "https://deploy:s3cretGitPassw0rd@git.example.org\n",
        "git credentials",
        "s3cretGitPassw0rd",
    ),
    (
        "etc/app.conf",
        "token = ghp_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa\n",
        "GitHub token",
        "ghp_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa",
    ),
];

/// A `--host-run` script that plants the secrets into the mounted guest.
fn plant_script(dir: &Path) -> PathBuf {
    let mut text = String::from("#!/bin/sh\nset -e\n");
    for (path, content, _, _) in PLANTED {
        let parent = Path::new(path).parent().unwrap().display().to_string();
        text.push_str(&format!(
            "mkdir -p {parent}\nprintf '%s' '{content}' > {path}\n"
        ));
    }
    let script = dir.join("plant.sh");
    write_script(&script, &text);
    script
}

/// Every file below `dir`, relative, sorted.
fn files_below(dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("find")
        .arg(dir)
        .args(["-type", "f"])
        .output()
        .unwrap();
    let mut files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    files.sort();
    files
}

fn assert_no_value_shown(text: &str) {
    for (_, _, _, value) in PLANTED {
        assert!(!text.contains(value), "a secret value was shown:\n{text}");
    }
}

#[test]
fn planted_secrets_stop_an_upload_and_are_warnings_of_an_export() {
    let (src, _) = fixture("debian-mbr.qcow2");
    let before = sha256_file(&src);
    let tmp = scratch();
    let out = scratch();
    let script = plant_script(out.path());
    let store = out.path().join("store");
    std::fs::create_dir(&store).unwrap();

    // An upload to the local store: refused, nothing stored or exported.
    let image = out.path().join("debian.diskdump");
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .arg("--host-run")
        .arg(&script)
        .arg("--store")
        .arg(&store)
        .args(["-u", "debian.diskdump", "-r", "Debian"])
        .arg("-o")
        .arg(&image)
        .arg(&src));
    r.assert_error(
        1,
        "the image holds 5 secrets (listed above): remove them (e.g. with --host-run), or give --allow-secrets to upload it anyway",
    );
    assert_no_value_shown(&r.stderr);
    // Only the store's own id.
    let stored = files_below(&store);
    assert!(
        (stored.iter()).all(|f| f.ends_with("/owner")),
        "nothing may be stored: {stored:?}"
    );
    assert!(!image.exists(), "nothing may be exported");
    assert_empty_dir(tmp.path());
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    assert_eq!(sha256_file(&src), before, "the source changed");

    // A local export: completes, the findings are warnings and in the
    // report, by path and kind.
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .arg("--host-run")
        .arg(&script)
        .arg("-o")
        .arg(&image)
        .arg(&src));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (path, _, kind, _) in PLANTED {
        let line = format!("Warning: secret left in the image: /{path}: {kind}");
        assert!(
            r.stderr.contains(&line),
            "{line:?} missing in:\n{}",
            r.stderr
        );
    }
    assert!(
        r.stderr.contains("Scanning for secrets ... 5 found in "),
        "{}",
        r.stderr
    );
    let report = std::fs::read_to_string(out.path().join("debian.diskdump.report.json")).unwrap();
    assert_no_value_shown(&r.stderr);
    assert_no_value_shown(&report);
    let report: Value = serde_json::from_str(&report).unwrap();
    let mut found: Vec<(String, String)> = report["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    found.sort();
    let expected = [
        ("/etc/app.conf", "github-token"),
        ("/home/user/x.pem", "pem-private-key"),
        ("/root/.aws/credentials", "aws-credentials"),
        ("/root/.aws/credentials", "aws-access-key-id"),
        ("/root/.git-credentials", "git-credentials"),
    ];
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, k)| ((*p).into(), (*k).into()))
        .collect();
    expected.sort();
    assert_eq!(found, expected);
    assert_empty_dir(tmp.path());
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    assert_eq!(sha256_file(&src), before, "the source changed");
}

/// `upload` of an image exported before reads the findings its report
/// recorded: refused without --allow-secrets, nothing stored.
#[test]
fn upload_of_an_earlier_export_with_findings_is_refused() {
    let dir = scratch();
    let image = dir.path().join("old.diskdump");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let report = r#"{"steps": [], "secrets": [{"path": "/root/.aws/credentials", "kind": "aws-credentials"}]}"#;
    std::fs::write(dir.path().join("old.diskdump.report.json"), report).unwrap();
    let store = dir.path().join("store");
    let r = run(crate::support::creator()
        .arg("upload")
        .arg(&image)
        .arg("--store")
        .arg(&store));
    r.assert_error(1, "the image holds 1 secret (listed above)");
    assert!(
        r.stderr
            .contains("Warning: secret left in the image: /root/.aws/credentials: aws-credentials"),
        "{}",
        r.stderr
    );
    assert!(files_below(&store).is_empty(), "{:?}", files_below(&store));
    let r = run(crate::support::creator()
        .arg("upload")
        .arg(&image)
        .arg("--allow-secrets")
        .arg("--store")
        .arg(&store));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stored = files_below(&store);
    assert!(stored.len() > 1, "the image should be stored: {stored:?}");
}

/// A dry run changes nothing, yet lists what the real run would leave:
/// the SSH host keys its tasks were told to keep, and nothing the tasks
/// would remove (the users' keys, the passwords).
#[test]
fn a_dry_run_lists_the_secrets_that_would_survive() {
    let (src, _) = fixture("debian-mbr.qcow2");
    let r = run(mkimage()
        .args(["--dry-run", "--disable-sysprep", "remove-ssh-host-keys"])
        .arg(&src));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Warning: secret left in the image: "))
        .collect();
    assert!(!found.is_empty(), "{}", r.stderr);
    assert!(
        found
            .iter()
            .all(|f| f.starts_with("/etc/ssh/ssh_host_") && f.ends_with(": private key (OpenSSH)")),
        "{found:?}"
    );
}
