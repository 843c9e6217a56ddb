//! The local store's history on the real Debian fixture: two runs register
//! it under one name (the second with a file changed, one added, one
//! removed and a mode changed by a `--host-run` script), then versions,
//! tags, channels and promotion, the packages and the reports, the file manifest against guestfish's own
//! listing of the exported image, the diff against the planted changes,
//! bundles (export, import elsewhere, bad bundles: `super::bundle`),
//! rm and gc, and bad input (one line, its exit code, the store unchanged).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use super::lab::{json, s};
use crate::support::{Run, creator, fixture, guestfish, mkimage, run, scratch, write_script};

/// What the second run changes in the guest.
const PLANT: &str = "#!/bin/sh\nset -e\nprintf 'changed\\n' > etc/motd\nprintf 'a = 1\\n' > etc/planted.conf\nrm etc/issue.net\nchmod 600 etc/debian_version\n\
    printf '\\nPackage: snf-planted\\nStatus: install ok installed\\nVersion: 1.0-1\\nArchitecture: all\\n' >> var/lib/dpkg/status\n";

pub(super) fn images(store: &Path, args: &[&str]) -> Run {
    run(creator()
        .arg("images")
        .args(args)
        .args(["--store", s(store)]))
}

pub(super) fn ok(r: &Run) -> &str {
    assert_eq!(r.code, 0, "{}", r.stderr);
    &r.stdout
}

/// Dominator's triggers kept with the second version: two match the
/// planted changes, in this order; sshd matches nothing.
const TRIGGERS: &str = r#"[
  {"MatchLines": ["/etc/ssh/"], "Service": "sshd"},
  {"MatchLines": ["/etc/planted\\.conf$"], "Service": "planted"},
  {"MatchLines": ["/etc/motd$", "/etc/issue"], "Service": "motd", "HighImpact": true}
]"#;

/// One registration of the fixture as "Debian", exported to `image`;
/// the manifest taken in the helper VM, or else read on the host from the
/// exported image.
fn register(src: &Path, store: &Path, image: &Path, in_vm: bool, extra: &[&str]) -> Run {
    let mut cmd = mkimage();
    if in_vm {
        cmd.env("SNF_MANIFEST", "vm");
    }
    let r = run(cmd
        .args([
            "--store",
            s(store),
            "-u",
            "debian.diskdump",
            "-r",
            "Debian",
            "-f",
        ])
        .args(extra)
        .arg("-o")
        .arg(image)
        .arg(src));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for line in r
        .stderr
        .lines()
        .filter(|l| l.contains("manifest") || l.contains("Total"))
    {
        eprintln!("cost: {line}");
    }
    r
}

/// Every file of the store's history and images, with its content.
pub(super) fn snapshot(store: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["history", "images"] {
        let mut entries: Vec<_> = std::fs::read_dir(store.join(sub))
            .unwrap()
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.path());
        for e in entries.iter().filter(|e| e.path().is_file()) {
            out.push((
                e.path().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn store_history_versions_channels_files_and_diff() {
    let (src, _) = fixture("debian-mbr.qcow2");
    let dir = scratch();
    let store = dir.path().join("store");
    let (v1, v2) = (
        dir.path().join("v1.diskdump"),
        dir.path().join("v2.diskdump"),
    );
    let script = dir.path().join("plant.sh");
    write_script(&script, PLANT);
    let triggers = dir.path().join("triggers.json");
    std::fs::write(&triggers, TRIGGERS).unwrap();
    // Version 1's manifest is taken in the helper VM and version 2's on
    // the host: the exact diff below shows the two agree on every file.
    let r1 = register(&src, &store, &v1, true, &["--channel", "test"]);
    assert_eq!(json(&r1.stdout)["properties"]["VERSION"], "1");
    bad_triggers(&src, &store, dir.path());
    let plant = ["--host-run", s(&script), "--triggers", s(&triggers)];
    let r2 = register(&src, &store, &v2, false, &plant);
    assert_eq!(json(&r2.stdout)["properties"]["VERSION"], "2");

    channels_and_tags(&store);
    files_match_guestfish(&store, &v2);
    let diff = json(ok(&images(
        &store,
        &["diff", "Debian:test", "Debian@2", "--json", "--triggers"],
    )));
    let d = &diff["diff"];
    assert_eq!(d["added"], json!(["/etc/planted.conf"]), "{diff:#}");
    assert_eq!(d["removed"], json!(["/etc/issue.net"]), "{diff:#}");
    let changed = json!([
        {"path": "/etc/debian_version", "changes": ["mode"]},
        {"path": "/etc/motd", "changes": ["content"]},
        {"path": "/var/lib/dpkg/status", "changes": ["content"]},
    ]);
    assert_eq!(d["changed"], changed, "{diff:#}");
    assert_eq!(d["size_delta"], json!(planted_delta(&store)), "{diff:#}");
    assert_eq!(d["triggers"], json!(["planted", "motd"]), "{diff:#}");
    let planted = json!({"added": [{"name": "snf-planted", "version": "1.0-1"}], "removed": [], "changed": []});
    assert_eq!(d["packages"], planted, "{diff:#}");
    let text = ok(&images(&store, &["diff", "Debian@1", "Debian@2"])).to_owned();
    assert!(text.contains("\n+ package snf-planted 1.0-1\n"), "{text}");
    reports(&store, &planted);
    diff_against_file(&store, &v2);
    bad_input(&store);
    super::bundle::round_trip(&store, &v2, dir.path());
    remove_and_collect(&store);
}

/// The regular files' size change the planted files make.
fn planted_delta(store: &Path) -> i64 {
    let size = |v: &str| {
        let regex = "^/(etc/(motd|issue\\.net|planted\\.conf)|var/lib/dpkg/status)$";
        let f = json(ok(&images(store, &["files", v, regex, "--json"])));
        let files = f["files"].as_array().unwrap().clone();
        files
            .iter()
            .map(|f| f["size"].as_i64().unwrap())
            .sum::<i64>()
    };
    size("Debian@2") - size("Debian@1")
}

/// Each version keeps its run's report: the steps, and the packages the
/// second run's script planted during preparation.
fn reports(store: &Path, planted: &Value) {
    let r = json(ok(&images(store, &["report", "Debian@2", "--json"])));
    let steps = r["report"]["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["step"].as_str().unwrap().contains("host script")),
        "{r:#}"
    );
    let p = &r["report"]["packages"];
    assert_eq!(p["added"], planted["added"], "{r:#}");
    assert!(p["after"].as_u64().unwrap() > 100, "{r:#}");
    let text = ok(&images(store, &["report", "Debian@1"])).to_owned();
    assert!(text.starts_with("Debian@1\nSTEP"), "{text}");
    assert!(text.contains("system preparation: +0 -0 ~0"), "{text}");
}

/// `images diff` between a version and the file it was exported to: one
/// helper-VM launch, and nothing differs.
fn diff_against_file(store: &Path, image: &Path) {
    let t = std::time::Instant::now();
    let d = json(ok(&images(
        store,
        &["diff", "Debian@2", s(image), "--json"],
    )));
    eprintln!(
        "cost: diff against a file {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let d = &d["diff"];
    let none = json!([]);
    for k in ["added", "removed", "changed"] {
        assert_eq!(d[k], none, "{k}: {d:#}");
        assert_eq!(d["packages"][k], none, "packages {k}: {d:#}");
    }
    assert_eq!(d["to"], json!(s(image)));
}

fn channels_and_tags(store: &Path) {
    let promote = images(store, &["promote", "Debian@2", "--channel", "production"]);
    promote.assert_error(
        2,
        "Debian@2 was never in the test channel: promote it to test first, or give --skip-test",
    );
    ok(&images(
        store,
        &["promote", "Debian@1", "--channel", "production"],
    ));
    ok(&images(store, &["tag", "Debian@2", "candidate"]));
    let list = images(store, &["list"]);
    let row = ok(&list)
        .lines()
        .find(|l| l.starts_with("Debian "))
        .unwrap()
        .to_owned();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        (cols[1], cols[2], cols[6]),
        ("2", "2", "candidate"),
        "{row}"
    );
    let prod = images(store, &["list", "--channel", "production"]);
    let cols: Vec<String> = ok(&prod)
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        (cols[1].as_str(), cols[5].as_str()),
        ("1", "test,production"),
        "{}",
        prod.stdout
    );
    let show = json(ok(&images(store, &["show", "Debian:candidate"])));
    assert_eq!(show["properties"]["VERSION"], "2");
    assert_eq!(show["properties"]["TAGS"], "candidate");
}

/// `images files` against guestfish's own listing of the exported v2.
fn files_match_guestfish(store: &Path, image: &Path) {
    let listed = json(ok(&images(store, &["files", "Debian@2", "--json"])));
    let files = listed["files"].as_array().unwrap();
    let by_path = |p: &str| {
        (files.iter().find(|f| f["path"] == p)).unwrap_or_else(|| panic!("{p} not listed"))
    };
    let sums = ["/etc/planted.conf", "/etc/passwd", "/usr/bin/ls"];
    let mut script = String::from("find /\necho @@\n");
    for p in sums {
        script.push_str(&format!("checksum sha512 {p}\n"));
    }
    script.push_str("readlink /bin\necho @@\nlstatns /etc/debian_version\n");
    let out = guestfish(image, "--ro", &script);
    let parts: Vec<&str> = out.split("@@\n").collect();
    let theirs: BTreeSet<String> = parts[0].lines().map(|l| format!("/{l}")).collect();
    let ours: BTreeSet<String> = (files.iter())
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ours.len(), files.len(), "one entry per path");
    assert!(
        ours == theirs,
        "only ours: {:?}\nonly guestfish's: {:?}",
        ours.difference(&theirs).take(20).collect::<Vec<_>>(),
        theirs.difference(&ours).take(20).collect::<Vec<_>>()
    );
    let answers: Vec<&str> = parts[1].lines().collect();
    for (p, sum) in sums.iter().zip(&answers) {
        assert_eq!(by_path(p)["sha512"], *sum, "{p}");
    }
    let bin = by_path("/bin");
    assert_eq!(
        (&bin["kind"], &bin["link"]),
        (&json!("symlink"), &json!(answers[3]))
    );
    let mode = (parts[2].lines())
        .find_map(|l| l.trim().strip_prefix("st_mode: "))
        .map(|m| m.parse::<u32>().unwrap())
        .expect("lstatns prints st_mode");
    assert_eq!(by_path("/etc/debian_version")["mode"], json!(mode & 0o7777));
    let text = ok(&images(store, &["files", "Debian@2", "^/etc/planted"])).to_owned();
    assert!(
        text.starts_with("-rw-") && text.trim_end().ends_with(answers[0]),
        "{text}"
    );
}

/// A bad triggers file is a usage error before the image is touched.
fn bad_triggers(src: &Path, store: &Path, dir: &Path) {
    let bad = dir.join("bad-triggers.json");
    std::fs::write(&bad, r#"[{"MatchLines": ["("], "Service": "x"}]"#).unwrap();
    let before = snapshot(store);
    let out = dir.join("never.diskdump");
    let r = run(mkimage()
        .args(["--store", s(store), "-u", "d.diskdump", "-r", "Debian"])
        .args(["--triggers", s(&bad), "-o", s(&out), s(src)]));
    r.assert_error(
        2,
        &format!(
            "--triggers {}: trigger 1 (x): bad regex `(': unclosed group",
            bad.display()
        ),
    );
    assert!(
        snapshot(store) == before && !out.exists(),
        "the bad run left something"
    );
}

fn bad_input(store: &Path) {
    let before = snapshot(store);
    let rows: &[(&[&str], i32, &str)] = &[
        (
            &["show", "Debian@9"],
            1,
            "`Debian' has no version 9 (it has 1, 2",
        ),
        (&["tag", "Debian@7", "x"], 1, "`Debian' has no version 7"),
        (
            &["tag", "Nope@1", "x"],
            1,
            "no image named `Nope' in the store",
        ),
        (
            &["promote", "Debian:candidate", "--channel", "production"],
            2,
            "--skip-test",
        ),
        (
            &["rm", "Debian@1"],
            2,
            "Debian@1 is in use (channel test, channel production): move them first, or give --force",
        ),
        (&["files", "Debian@1", "("], 2, "bad REGEX"),
        (
            &["diff", "Debian@1", "/nonexistent.diskdump"],
            1,
            "no image named `/nonexistent.diskdump'",
        ),
        (&["report", "Debian@9"], 1, "`Debian' has no version 9"),
    ];
    for (args, code, text) in rows {
        images(store, args).assert_error(*code, text);
        assert!(snapshot(store) == before, "{args:?} changed the store");
    }
}

fn remove_and_collect(store: &Path) {
    ok(&images(store, &["rm", "Debian@1", "--force"]));
    let gc = images(store, &["gc"]);
    let freed: usize = ok(&gc).split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(freed > 0, "{}", gc.stdout);
    images(store, &["show", "Debian@1"]).assert_error(1, "has no version 1");
    let left: Value = json(ok(&images(store, &["show", "Debian"])));
    assert_eq!(left["properties"]["VERSION"], "2");
    assert!(ok(&images(store, &["files", "Debian"])).contains("/etc/planted.conf"));
}
