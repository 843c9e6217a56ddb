//! Exports of the BSD layouts `bsd.rs` does not export (FreeBSD in an MBR
//! slice, OpenBSD on GPT and in an MBR slice with UFS1, NetBSD on GPT and
//! in an MBR slice with UFS1),
//! each with the default tasks, read back with the stock (read-only)
//! appliance in one guestfish run: the passwords locked the way each OS
//! locks them, the files each OS's tasks remove gone, the `.meta` keys,
//! and the source unchanged. The printed metadata of each is checked
//! too: these are the layouts our own inspection covers (OpenBSD on GPT,
//! which libguestfs calls FreeBSD; the disklabels in MBR slices, which
//! libguestfs cannot list).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::bsd::{bsd_fixture, check_metadata};
use crate::support::*;

/// What one layout's export must show.
struct Layout {
    file: &'static str,
    /// The root filesystem's partition in the output (`/dev/sdX` + this).
    part: &'static str,
    ufstype: &'static str,
    /// The locked password field.
    lock: &'static str,
    /// The script that rebuilds the password databases at first boot.
    firstboot: &'static str,
    /// Files of the fixture the default tasks remove.
    gone: &'static [&'static str],
    /// `SWAP` in the `.meta`.
    swap: Option<&'static str>,
    /// The partition of a separate `/var` (a disklabel's `d`).
    var: Option<&'static str>,
}

/// Removed on every BSD by the default tasks.
const GONE_EVERYWHERE: &[&str] = &[
    "/etc/spwd.db",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_rsa_key.pub",
    "/home/user/.sh_history",
    "/root/.history",
    "/var/crash/vmcore.0",
    "/tmp/junk",
];

/// Kept on every BSD: the tasks leave them alone.
const KEPT: &[&str] = &[
    "/etc/pwd.db",
    "/etc/passwd",
    "/var/crash/minfree",
    "/var/mail/user",
    "/home/user/.profile",
];

/// What the default tasks remove on OpenBSD and NetBSD, whatever the layout.
const OPENBSD_GONE: &[&str] = &[
    "/etc/random.seed",
    "/var/db/host.random",
    "/var/db/dhcpleased/vio0",
];
const NETBSD_GONE: &[&str] = &[
    "/var/db/dhcpcd/vioif0.lease",
    "/var/db/dhcpcd/duid",
    "/var/db/entropy-file",
    "/var/db/pkgin/cache/vim-9.0.tgz",
];

const LAYOUTS: &[Layout] = &[
    Layout {
        file: "bsd-freebsd-mbr.raw",
        part: "5",
        ufstype: "ufs2",
        lock: "*LOCKED*",
        firstboot: "/etc/rc.local",
        gone: &[
            "/etc/hostid",
            "/boot/entropy",
            "/var/db/entropy/saved-entropy.1",
            "/var/db/dhclient.leases.vtnet0",
            "/var/cache/pkg/vim-9.0.pkg",
        ],
        swap: None,
        // a = 5, b (swap) = 6, c (the slice) has no device, d = 7.
        var: Some("7"),
    },
    Layout {
        file: "bsd-openbsd-gpt.raw",
        part: "1",
        ufstype: "ufs2",
        lock: "*",
        firstboot: "/etc/rc.firsttime",
        gone: OPENBSD_GONE,
        swap: None,
        var: None,
    },
    Layout {
        file: "bsd-openbsd-mbr.raw",
        part: "5",
        ufstype: "44bsd",
        lock: "*",
        firstboot: "/etc/rc.firsttime",
        gone: OPENBSD_GONE,
        swap: None,
        var: None,
    },
    Layout {
        file: "bsd-netbsd-gpt.raw",
        part: "1",
        ufstype: "ufs2",
        lock: "*LOCKED*",
        firstboot: "/etc/rc.local",
        gone: NETBSD_GONE,
        swap: Some("2:16"),
        var: None,
    },
    Layout {
        file: "bsd-netbsd-mbr.raw",
        part: "5",
        ufstype: "44bsd",
        lock: "*LOCKED*",
        firstboot: "/etc/rc.local",
        gone: NETBSD_GONE,
        // The swap is the label's `b`, inside the slice: the slice is kept.
        swap: None,
        var: None,
    },
];

/// Export `layout` with the defaults and check the `.meta`, the trimmed
/// size and the untouched source; the image's path.
fn export(layout: &Layout, dir: &Path) -> PathBuf {
    let (img, entry) = bsd_fixture(layout.file);
    let out = dir.join(layout.file.replace(".raw", ".diskdump"));
    let r = run(mkimage()
        .args(["--print-metadata", "-o"])
        .arg(&out)
        .arg(&img));
    assert_eq!(r.code, 0, "{}:\n{}", layout.file, r.stderr);
    check_metadata(layout.file, &printed_metadata(&r.stdout), entry);
    assert_eq!(
        md5_file(&img),
        entry["raw_md5"].as_str().unwrap(),
        "{} changed",
        layout.file
    );
    let meta = dir.join(format!(
        "{}.meta",
        out.file_name().unwrap().to_string_lossy()
    ));
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(meta).unwrap()).unwrap();
    let props = meta["properties"].as_object().unwrap().clone();
    let expect = |k: &str, v: &str| {
        assert_eq!(
            props.get(k).and_then(Value::as_str),
            Some(v),
            "{} {k}",
            layout.file
        )
    };
    let os = entry["os"].as_str().unwrap();
    expect("OS", os);
    expect("OSFAMILY", os);
    expect("OSVERSION", entry["os_version"].as_str().unwrap());
    expect("USERS", &users(entry));
    assert_eq!(
        props.get("SWAP").and_then(Value::as_str),
        layout.swap,
        "{} SWAP",
        layout.file
    );
    let last = entry["partitions"].as_array().unwrap().last().unwrap();
    let size = std::fs::metadata(&out).unwrap().len();
    let end = last["start"].as_u64().unwrap() + last["size"].as_u64().unwrap();
    match layout.swap {
        // The trailing swap partition went, and the image ends before it.
        Some(_) => assert!(size < last["start"].as_u64().unwrap() + (2 << 20), "{size}"),
        None => assert!(size >= end, "{}: {size} < {end}", layout.file),
    }
    out
}

/// The guestfish lines that print, for one mounted output, the password
/// file, the first-boot script, and whether each removed or kept file
/// exists.
fn read_script(layout: &Layout) -> String {
    let mut s = format!(
        "echo ==passwd\ncat /etc/master.passwd\necho ==firstboot\ncat {}\necho ==exists\n",
        layout.firstboot
    );
    for path in GONE_EVERYWHERE.iter().chain(layout.gone).chain(KEPT) {
        s += &format!("echo {path}\nexists {path}\n");
    }
    s
}

/// One guestfish run over every output: per output, its sections
/// (`passwd`, `firstboot`, `exists`) as text.
fn read_outputs(outs: &[(&Layout, PathBuf)]) -> Vec<BTreeMap<String, String>> {
    let mut script = String::new();
    for (_, out) in outs {
        script += &format!("add {} readonly:true format:raw\n", out.display());
    }
    script += "run\n";
    for (i, (layout, _)) in outs.iter().enumerate() {
        let disk = format!("/dev/sd{}", (b'a' + i as u8) as char);
        let fs = format!("ro,ufstype={} ufs", layout.ufstype);
        script += &format!("echo ==disk\nmount-vfs {fs} {disk}{} /\n", layout.part);
        if let Some(var) = layout.var {
            script += &format!("mount-vfs {fs} {disk}{var} /var\n");
        }
        script += &format!("{}umount-all\n", read_script(layout));
    }
    let mut cmd = Command::new("guestfish");
    cmd.env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    let r = run_with_input(&mut cmd, &script);
    assert_eq!(r.code, 0, "guestfish failed: {}", r.stderr);
    r.stdout
        .split("==disk\n")
        .skip(1)
        .map(|disk| {
            disk.split("==")
                .skip(1)
                .filter_map(|s| s.split_once('\n'))
                .map(|(name, text)| (name.to_owned(), text.to_owned()))
                .collect()
        })
        .collect()
}

/// The `exists` section as path → exists.
fn existing(section: &str) -> BTreeMap<&str, bool> {
    let lines: Vec<&str> = section.lines().collect();
    lines
        .chunks(2)
        .map(|pair| (pair[0], pair.get(1) == Some(&"true")))
        .collect()
}

#[test]
fn bsd_exports_of_the_other_layouts() {
    let dir = scratch();
    let outs: Vec<(&Layout, PathBuf)> =
        LAYOUTS.iter().map(|l| (l, export(l, dir.path()))).collect();
    let read = read_outputs(&outs);
    assert_eq!(read.len(), LAYOUTS.len(), "{read:?}");
    for (layout, sections) in LAYOUTS.iter().zip(&read) {
        let name = layout.file;
        let passwd = &sections["passwd"];
        for user in ["root", "user", "locked"] {
            assert!(
                passwd
                    .lines()
                    .any(|l| l.starts_with(&format!("{user}:{}:", layout.lock))),
                "{name}: {user} not locked with {}:\n{passwd}",
                layout.lock
            );
        }
        assert!(!passwd.contains("$6$"), "{name}: a hash is left:\n{passwd}");
        assert!(
            sections["firstboot"].contains("pwd_mkdb -p /etc/master.passwd"),
            "{name} {}: {sections:?}",
            layout.firstboot
        );
        let exists = existing(&sections["exists"]);
        for path in GONE_EVERYWHERE.iter().chain(layout.gone) {
            assert_eq!(exists.get(path), Some(&false), "{name}: {path} is left");
        }
        for path in KEPT {
            assert_eq!(exists.get(path), Some(&true), "{name}: {path} is gone");
        }
    }
}

/// The JSON documents a run printed.
fn documents(stdout: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The one document that has `key`.
fn document<'a>(docs: &'a [Value], key: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d.get(key).is_some()).collect();
    assert_eq!(found.len(), 1, "{key}: {docs:?}");
    found[0]
}

/// One read-only launch on FreeBSD in an MBR slice: `--print-syspreps`
/// names the BSD tasks with their defaults, `--dry-run` lists what each
/// would change and writes nothing, and the secret scan reports the
/// passwords of `/etc/master.passwd` that the disabled `cleanup-password`
/// leaves.
#[test]
fn bsd_print_syspreps_dry_run_and_secret_scan() {
    let (img, entry) = bsd_fixture("bsd-freebsd-mbr.raw");
    let tmp = scratch();
    let r = run(mkimage()
        .args(["--json", "--print-syspreps", "--dry-run"])
        .args(["--disable-sysprep", "cleanup-password", "--tmpdir"])
        .arg(tmp.path())
        .arg(&img));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs = documents(&r.stdout);
    let tasks: BTreeMap<&str, (bool, bool)> = document(&docs, "syspreps")["syspreps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let flag = |k: &str| t[k].as_bool().unwrap();
            (
                t["name"].as_str().unwrap(),
                (flag("enabled"), flag("default")),
            )
        })
        .collect();
    for (name, state) in [
        ("cleanup-password", (false, true)),
        ("remove-ssh-host-keys", (true, true)),
        ("cleanup-dhcp-leases", (true, true)),
        ("remove-host-id", (true, true)),
        ("remove-entropy-seeds", (true, true)),
        ("cleanup-crash-dumps", (true, true)),
        ("cleanup-package-cache", (true, true)),
        ("cleanup-mail", (false, false)),
        ("shrink", (true, true)),
    ] {
        assert_eq!(tasks.get(name), Some(&state), "{name}: {tasks:?}");
    }
    let changed: BTreeMap<&str, Vec<(&str, &str)>> = document(&docs, "dry_run")["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let changes = t["changes"].as_array().unwrap().iter();
            let changes =
                changes.map(|c| (c["action"].as_str().unwrap(), c["path"].as_str().unwrap()));
            (t["name"].as_str().unwrap(), changes.collect())
        })
        .collect();
    for (task, path) in [
        ("remove-ssh-host-keys", "/etc/ssh/ssh_host_rsa_key"),
        ("cleanup-dhcp-leases", "/var/db/dhclient.leases.vtnet0"),
        ("remove-host-id", "/etc/hostid"),
        ("remove-entropy-seeds", "/var/db/entropy/saved-entropy.1"),
        ("cleanup-crash-dumps", "/var/crash/vmcore.0"),
        // The Unix table's cleanup-cache runs first and empties it.
        ("cleanup-cache", "/var/cache/pkg/vim-9.0.pkg"),
    ] {
        assert!(
            changed
                .get(task)
                .is_some_and(|c| c.contains(&("delete", path))),
            "{task} should delete {path}: {changed:?}"
        );
    }
    assert!(!changed.contains_key("cleanup-password"), "{changed:?}");
    let finding = "secret left in the image: /etc/master.passwd: \
                   account with a usable password (or none needed) (root, user)";
    assert!(r.stderr.contains(finding), "{}", r.stderr);
    assert_eq!(md5_file(&img), entry["raw_md5"].as_str().unwrap());
    assert_empty_dir(tmp.path());
}
