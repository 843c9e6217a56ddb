//! `snf-image-creator accounts` against our real `serve` (Astakos) and the
//! real kamaki 0.16: the file we write is the one kamaki reads, mode 0600,
//! with what else was in it kept; a bad token is refused before saving;
//! tokens are never printed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::kamaki::kamaki;
use super::lab::*;
use crate::support::*;

const BEFORE: &str = "# Kamaki configuration file v0.16\n[global]\ncolors = off\n\n[cloud \"other\"]\nurl = https://accounts.example.org/identity/v2.0\ntoken = other-token\npithos_container = pithos\n\n[custom]\nanswer = 42\n";

fn accounts(cfg: &Path, args: &[&str]) -> Run {
    run(creator()
        .env("KAMAKI_CONFIG", cfg)
        .arg("accounts")
        .args(args))
}

#[test]
fn accounts_add_list_remove_as_kamaki_reads_them() {
    let dir = scratch();
    let srv = Serve::start(&store_dir(dir.path()), dir.path());
    let cfg = dir.path().join("kamakirc");
    std::fs::write(&cfg, BEFORE).unwrap();

    // A wrong token is refused, and nothing is written.
    let bad = accounts(
        &cfg,
        &["add", "lab", "--url", &srv.url, "--token", "not-the-token"],
    );
    bad.assert_error(1, "checking the token of cloud `lab'");
    assert!(!bad.stderr.contains("not-the-token"), "{}", bad.stderr);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), BEFORE);

    let add = accounts(
        &cfg,
        &[
            "add",
            "lab",
            "--url",
            &srv.url,
            "--token",
            &srv.token,
            "--description",
            "test server",
            "--default",
        ],
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    assert!(!add.stdout.contains(&srv.token) && !add.stderr.contains(&srv.token));
    let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file holds tokens");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("[custom]\nanswer = 42\n"), "{text}");
    assert!(text.contains("pithos_container = pithos"), "{text}");
    assert!(text.contains("colors = off"), "{text}");

    // kamaki reads what we wrote, and the account works for it.
    let url = kamaki(&cfg, &["config", "get", "cloud.lab.url"]);
    assert_eq!(
        url.code, 0,
        "kamaki config get:\n{}{}",
        url.stdout, url.stderr
    );
    assert!(url.stdout.contains(&srv.url), "{}", url.stdout);
    let default = kamaki(&cfg, &["config", "get", "default_cloud"]);
    assert!(default.stdout.contains("lab"), "{}", default.stdout);
    let list = kamaki(&cfg, &["image", "list"]);
    assert_eq!(
        list.code, 0,
        "kamaki image list:\n{}{}",
        list.stdout, list.stderr
    );

    let ours = accounts(&cfg, &["list"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let line = ours.stdout.lines().find(|l| l.contains("lab")).unwrap();
    assert!(line.starts_with('*') && line.contains(&srv.url), "{line}");
    assert!(line.contains("test server"), "{line}");
    assert!(!ours.stdout.contains("token"), "{}", ours.stdout);
    let listed: serde_json::Value =
        serde_json::from_str(&accounts(&cfg, &["list", "--json"]).stdout).unwrap();
    let rows = listed["accounts"].as_array().unwrap();
    let lab = rows.iter().find(|a| a["name"] == "lab").unwrap();
    assert_eq!(
        (&lab["url"], &lab["default"]),
        (&srv.url.clone().into(), &true.into())
    );
    assert!(rows.iter().all(|a| a.get("token").is_none()), "{listed}");

    // The default moves, then the cloud goes; the rest stays.
    assert_eq!(accounts(&cfg, &["default", "other"]).code, 0);
    let default = kamaki(&cfg, &["config", "get", "default_cloud"]);
    assert!(default.stdout.contains("other"), "{}", default.stdout);
    let rm = accounts(&cfg, &["remove", "lab"]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(!text.contains("cloud \"lab\""), "{text}");
    assert!(text.contains("[custom]\nanswer = 42\n"), "{text}");
    let gone = kamaki(&cfg, &["config", "get", "cloud.lab.url"]);
    assert!(!gone.stdout.contains(&srv.url), "{}", gone.stdout);
    accounts(&cfg, &["remove", "lab"]).assert_error(2, "no cloud named `lab'");
    accounts(&cfg, &["add", "x", "--url", "not-a-url", "--token", "t"])
        .assert_error(2, "--url not-a-url");
    accounts(&cfg, &["add", "a b", "--url", &srv.url, "--token", "t"])
        .assert_error(2, "bad cloud name `a b'");
    // --no-check saves without asking the cloud.
    let unchecked = accounts(
        &cfg,
        &[
            "add",
            "later",
            "--url",
            &srv.url,
            "--token",
            "t",
            "--no-check",
        ],
    );
    assert_eq!(unchecked.code, 0, "{}", unchecked.stderr);
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("[cloud \"later\"]")
    );
}
