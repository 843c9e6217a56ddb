//! BSD guests on the synthetic BSD disks of the fixtures
//! (`tests/fixtures/mk-bsd.sh`): inspection where libguestfs is wrong
//! (OpenBSD on GPT) or blind (disklabels in MBR slices), metadata, every
//! BSD task written through the UFS-writing helper VM, and the trailing
//! swap partition removed. Writes are read back by another reader: the
//! stock libguestfs appliance, whose kernel only reads UFS, lists every
//! file of the source and of the output with its MD5.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

pub(crate) fn bsd_fixture(name: &str) -> (std::path::PathBuf, &'static Value) {
    let entry = manifest()["bsd"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["file"] == name))
        .unwrap_or_else(|| panic!("BSD fixture {name} is not in the manifest"));
    (fixture_dir().join(name), entry)
}

/// The checks every BSD fixture's metadata gets against its facts.
pub fn check_metadata(name: &str, m: &BTreeMap<String, String>, entry: &Value) {
    let os = entry["os"].as_str().unwrap();
    let version = entry["os_version"].as_str().unwrap();
    let expect =
        |k: &str, v: &str| assert_eq!(m.get(k).map(String::as_str), Some(v), "{name} {k}: {m:?}");
    expect("OSFAMILY", os);
    expect("OS", os);
    expect("USERS", &users(entry));
    expect(
        "PARTITION_TABLE",
        entry["partition_table"].as_str().unwrap(),
    );
    expect(
        "ROOT_PARTITION",
        &entry["root_partition"].as_u64().unwrap().to_string(),
    );
    let (major, minor) = version.split_once('.').unwrap();
    let family = match os {
        "freebsd" => 6,
        "netbsd" => 5,
        _ => 4,
    };
    let sort =
        family * 1_000_000 + 100 * major.parse::<u32>().unwrap() + minor.parse::<u32>().unwrap();
    expect("SORTORDER", &sort.to_string());
    let description = &m["DESCRIPTION"];
    assert!(
        description.to_lowercase().starts_with(os) && description.contains(version),
        "{name} DESCRIPTION: {description}"
    );
    let user = entry["users"][1].as_str().unwrap();
    expect("REMOTE_CONNECTION", &format!("ssh:port=22,user={user}"));
}

/// `guestfish` with the stock appliance (its kernel only reads UFS): for
/// each disk, the MD5 of every regular file of its root filesystem, and
/// the free inodes.
fn read_back(disks: &[(&Path, &str, &str)]) -> Vec<(BTreeMap<String, String>, i64)> {
    let mut script = String::new();
    for (disk, _, _) in disks {
        script += &format!("add {} readonly:true format:raw\n", disk.display());
    }
    script += "run\n";
    for (i, (_, part, ufstype)) in disks.iter().enumerate() {
        let dev = format!("/dev/sd{}{part}", (b'a' + i as u8) as char);
        script += &format!(
            "echo ==disk\nmount-vfs ro,ufstype={ufstype} ufs {dev} /\n\
             checksums-out md5 / /dev/stdout\necho ==statvfs\nstatvfs /\numount /\n"
        );
    }
    let mut cmd = Command::new("guestfish");
    cmd.env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    let out = run_with_input(&mut cmd, &script);
    assert_eq!(out.code, 0, "guestfish failed: {}", out.stderr);
    out.stdout
        .split("==disk\n")
        .skip(1)
        .map(|part| {
            let (sums, stat) = part.split_once("==statvfs\n").unwrap();
            let files = sums
                .lines()
                .filter_map(|l| l.split_once("  "))
                .map(|(sum, path)| (path.trim_start_matches('.').to_owned(), sum.to_owned()))
                .collect();
            let ffree = stat
                .lines()
                .find_map(|l| l.strip_prefix("ffree: "))
                .unwrap()
                .parse()
                .unwrap();
            (files, ffree)
        })
        .collect()
}

/// The differences between two listings: (removed, changed, added).
fn diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let removed = before
        .keys()
        .filter(|p| !after.contains_key(*p))
        .cloned()
        .collect();
    let changed = before
        .iter()
        .filter(|(p, s)| after.get(*p).is_some_and(|a| a != *s))
        .map(|(p, _)| p.clone())
        .collect();
    let added = after
        .keys()
        .filter(|p| !before.contains_key(*p))
        .cloned()
        .collect();
    (removed, changed, added)
}

/// One export of FreeBSD on GPT with every BSD task (cleanup-mail
/// included), read back: exactly the files the tasks name are gone or
/// changed, every other file has its old content, the passwords are
/// locked, the databases are rebuilt at first boot, the swap partition
/// is gone (SWAP recorded) and the image ends after the UFS partition.
#[test]
fn bsd_freebsd_gpt_export_runs_every_task() {
    let (img, entry) = bsd_fixture("bsd-freebsd-gpt.raw");
    let dir = scratch();
    let out = dir.path().join("freebsd.diskdump");
    let r = run(mkimage()
        .args(["--print-metadata", "--enable-sysprep", "cleanup-mail", "-o"])
        .arg(&out)
        .arg(&img));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = printed_metadata(&r.stdout);
    check_metadata("freebsd-gpt", &m, entry);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("freebsd.diskdump.meta")).unwrap(),
    )
    .unwrap();
    let swap = &entry["partitions"][2];
    let swap_mib = swap["size"].as_u64().unwrap() >> 20;
    assert_eq!(meta["properties"]["SWAP"], format!("3:{swap_mib}"));
    let ufs = &entry["partitions"][1];
    let ufs_end = ufs["start"].as_u64().unwrap() + ufs["size"].as_u64().unwrap();
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(
        size > ufs_end && size < swap["start"].as_u64().unwrap() + (2 << 20),
        "{size}"
    );
    assert!(
        r.stderr.contains("don't know how to shrink ufs"),
        "{}",
        r.stderr
    );

    let back = read_back(&[(&img, "2", "ufs2"), (&out, "2", "ufs2")]);
    let [(before, free_before), (after, free_after)] = back.as_slice() else {
        panic!("two listings expected")
    };
    let (mut removed, changed, added) = diff(before, after);
    removed.sort();
    let want_removed = [
        "/boot/entropy",
        "/etc/hostid",
        "/etc/machine-id",
        "/etc/spwd.db",
        "/etc/ssh/ssh_host_ecdsa_key",
        "/etc/ssh/ssh_host_ecdsa_key.pub",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_ed25519_key.pub",
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_rsa_key.pub",
        "/home/locked/.history",
        "/home/locked/.sh_history",
        "/home/locked/.ssh/authorized_keys",
        "/home/user/.history",
        "/home/user/.sh_history",
        "/home/user/.ssh/authorized_keys",
        "/root/.history",
        "/root/.sh_history",
        "/tmp/junk",
        "/var/cache/pkg/vim-9.0.pkg",
        "/var/crash/info.0",
        "/var/crash/vmcore.0",
        "/var/db/dhclient.leases.vtnet0",
        "/var/db/entropy/saved-entropy.1",
        "/var/mail/user",
        "/var/tmp/junk",
    ];
    assert_eq!(removed, want_removed);
    let logs: Vec<&String> = changed
        .iter()
        .filter(|p| p.starts_with("/var/log/"))
        .collect();
    let others: Vec<&String> = changed
        .iter()
        .filter(|p| !p.starts_with("/var/log/"))
        .collect();
    assert_eq!(others, ["/etc/master.passwd"]);
    assert_eq!(logs.len(), 7, "{logs:?}");
    let empty = "d41d8cd98f00b204e9800998ecf8427e";
    assert!(logs.iter().all(|p| after[*p] == empty), "{logs:?}");
    assert_eq!(added, ["/etc/rc.local"]);
    assert!(
        *free_after >= free_before + (want_removed.len() - added.len()) as i64,
        "free inodes {free_before} -> {free_after}"
    );
    let text = guestfish_ufs(
        &out,
        "/dev/sda2",
        "ufs2",
        "cat /etc/master.passwd\ncat /etc/rc.local\n",
    );
    assert!(
        text.contains("root:*LOCKED*:0:0:") && !text.contains("$6$"),
        "{text}"
    );
    assert!(text.contains("pwd_mkdb -p /etc/master.passwd"), "{text}");
}

/// Read `script`'s output from one UFS filesystem with the stock appliance.
fn guestfish_ufs(disk: &Path, dev: &str, ufstype: &str, script: &str) -> String {
    let mut cmd = Command::new("guestfish");
    cmd.env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    let text = format!(
        "add {} readonly:true format:raw\nrun\nmount-vfs ro,ufstype={ufstype} ufs {dev} /\n{script}",
        disk.display()
    );
    let out = run_with_input(&mut cmd, &text);
    assert_eq!(out.code, 0, "guestfish failed: {}", out.stderr);
    out.stdout
}
