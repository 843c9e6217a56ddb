//! System preparation on a real Debian image: every task's effect in the
//! exported image, nothing changed outside the tasks' targets, the dry-run
//! list equal to what the real run changed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Every task that is off by default, so one run exercises the whole table.
const OFF_BY_DEFAULT: &[&str] = &[
    "cleanup-mail",
    "remove-user-accounts",
    "rename-default-cloud-init-user",
    "enable-root-in-cloud-init",
    "cleanup-cron-spool",
    "add-root-authorized-keys",
];

/// The directories compared before and after (no task touches /usr).
const COMPARED: &[&str] = &["/etc", "/var", "/root", "/home", "/tmp", "/boot"];

fn sysprep_args(keys: &Path) -> Vec<String> {
    // Shrinking is tested on its own (shrink.rs); a dry run cannot say
    // what it will save, and here the reported bytes must match.
    let mut args = vec!["--disable-sysprep".to_owned(), "shrink".to_owned()];
    for t in OFF_BY_DEFAULT {
        args.push("--enable-sysprep".to_owned());
        args.push((*t).to_owned());
    }
    for p in ["default_user=cloud", "bootmenu_timeout=3"] {
        args.push("--sysprep-param".into());
        args.push(p.into());
    }
    args.push("--sysprep-param".into());
    args.push(format!("authorized_keys={}", keys.display()));
    args
}

/// Dump `COMPARED` of the ext4 root filesystem at `offset` in a raw image
/// into `into` (debugfs: no mount, no helper VM) and describe every entry:
/// path → md5 (regular files), link target, or `(dir)`.
pub(crate) fn tree(image: &Path, offset: u64, into: &Path) -> BTreeMap<String, String> {
    std::fs::create_dir_all(into).unwrap();
    let cmds = into.with_extension("cmds");
    let text: String = COMPARED
        .iter()
        .map(|d| format!("rdump {d} {}\n", into.display()))
        .collect();
    std::fs::write(&cmds, text).unwrap();
    let out = std::process::Command::new("debugfs")
        .arg("-f")
        .arg(&cmds)
        .arg(format!("{}?offset={offset}", image.display()))
        .output()
        .expect("running debugfs");
    assert!(
        out.status.success(),
        "debugfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = BTreeMap::new();
    walk(into, into, &mut map);
    map
}

fn walk(base: &Path, dir: &Path, map: &mut BTreeMap<String, String>) {
    use md5::{Digest, Md5};
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let key = format!("/{}", path.strip_prefix(base).unwrap().display());
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let value = if meta.is_symlink() {
            format!("-> {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            walk(base, &path, map);
            "(dir)".to_owned()
        } else {
            format!("{:x}", Md5::digest(std::fs::read(&path).unwrap()))
        };
        map.insert(key, value);
    }
}

/// The paths that differ between two trees.
fn differences(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

pub(crate) fn read(root: &Path, path: &str) -> String {
    let p = root.join(path.trim_start_matches('/'));
    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .into_owned()
}

/// The byte offset of the root filesystem in a fixture's layout.
pub(crate) fn root_offset(facts: &Value) -> u64 {
    let root = facts["root_partition"].as_u64().unwrap();
    let part = facts["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["number"].as_u64() == Some(root))
        .unwrap();
    part["start"].as_u64().unwrap()
}

/// The planned changes of a dry-run JSON listing: path → task.
fn planned(json: &Value) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for task in json["tasks"].as_array().unwrap() {
        for c in task["changes"].as_array().unwrap() {
            map.insert(
                c["path"].as_str().unwrap().to_owned(),
                task["name"].as_str().unwrap().to_owned(),
            );
        }
    }
    map
}

#[test]
fn every_task_on_the_debian_image() {
    let (src, facts) = fixture("debian-gpt.qcow2");
    let before = sha256_file(&src);
    let dir = scratch();
    let keys = dir.path().join("keys.pub");
    std::fs::write(
        &keys,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST test@host\n",
    )
    .unwrap();
    let mut args = sysprep_args(&keys);
    let script = dir.path().join("mark.sh");
    write_script(
        &script,
        "#!/bin/sh\necho \"$SNF_IMAGE_CREATOR_METADATA_OS $(cat etc/hostname)\" > root/host-run-marker\necho marked\n",
    );
    args.extend(["--host-run".to_owned(), script.to_str().unwrap().to_owned()]);

    // 1. The dry run: JSON documents (the listings, then the changes),
    // nothing written.
    let tmp = scratch();
    let out = dir.path().join("debian.diskdump");
    let dry = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .args(&args)
        .args([
            "--dry-run",
            "--json",
            "--print-metadata",
            "--print-syspreps",
        ])
        .args(["--print-sysprep-params", "-o"])
        .arg(&out)
        .arg(&src));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(!out.exists(), "a dry run wrote the image");
    let json = check_json_listings(&dry.stdout);
    let plan = planned(&json);
    assert!(json["bytes_freed"].as_i64().unwrap() > 1 << 20, "{json}");

    // 2. The real run, with the listings as text.
    let real = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .args(&args)
        .args(["--print-syspreps", "--print-sysprep-params", "-o"])
        .arg(&out)
        .arg(&src));
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert_empty_dir(tmp.path());
    assert_eq!(sha256_file(&src), before, "the source changed");
    let n = json["tasks"].as_array().unwrap().len();
    assert!(
        real.stderr
            .contains(&format!("(1/{n}) Removing files under /var/cache ... ")),
        "{}",
        real.stderr
    );
    assert!(
        real.stderr
            .contains("Mounting the media read-write ... done")
    );
    assert!(
        real.stdout
            .starts_with("Enabled system preparation operations:\n"),
        "{}",
        real.stdout
    );
    assert!(real.stdout.contains("    cleanup-mail:\n"));
    assert!(real.stdout.contains("    NAME:        default_user\n    DESCRIPTION: Name of the default cloud-init user\n    TYPE:        string\n    VALUE:       cloud\n"), "{}", real.stdout);
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.meta", out.display())).unwrap())
            .unwrap();
    let p = &meta["properties"];
    assert_eq!(p["CLOUD_INIT_DEFAULT_USER"], "cloud", "{meta}");
    assert_eq!(p["USERS"], "cloud root", "{meta}");
    let port = facts["sshd_port"].as_u64().unwrap();
    assert_eq!(
        p["REMOTE_CONNECTION"],
        format!("ssh:port={port},user=cloud ssh:port={port},user=root"),
        "{meta}"
    );
    assert!(real.stderr.contains("\nReport:\nSTEP"), "{}", real.stderr);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.report.json", out.display())).unwrap(),
    )
    .unwrap();
    let tmp_row = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["step"]
                .as_str()
                .unwrap()
                .ends_with(") Removing files under /tmp and /var/tmp")
        })
        .unwrap();
    assert!(tmp_row["bytes_freed"].as_i64().unwrap() > 0, "{report}");
    assert_eq!(
        report["bytes_freed"], json["bytes_freed"],
        "the report and the dry run disagree"
    );

    // 3. Compare the trees: what differs is exactly what the dry run listed.
    let (raw, _) = fixture("debian-gpt.raw");
    let offset = root_offset(facts);
    let (before_dir, after_dir) = (dir.path().join("before"), dir.path().join("after"));
    let (a, b) = (
        tree(&raw, offset, &before_dir),
        tree(&out, offset, &after_dir),
    );
    let mut diff = differences(&a, &b);
    // The host script's file: written by --host-run, which a dry run skips.
    diff.retain(|p| p != "/root/host-run-marker");
    assert!(
        real.stderr.contains("Running host script"),
        "{}",
        real.stderr
    );
    assert!(real.stderr.contains("mark.sh: marked"), "{}", real.stderr);
    for path in &diff {
        let covered = plan
            .keys()
            .any(|p| path == p || path.starts_with(&format!("{p}/")));
        assert!(covered, "{path} changed, but no task listed it");
    }
    for (path, task) in &plan {
        assert!(
            diff.contains(path),
            "{task} listed {path}, which did not change"
        );
    }
    check_effects(&after_dir, &a, &b);
}

/// Each task's effect, read from the exported image (`b`; `a` is the source).
fn check_effects(g: &Path, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) {
    let gone = |p: &str| {
        assert!(a.contains_key(p), "the fixture lacks {p}");
        assert!(!b.contains_key(p), "{p} is still there");
    };
    for p in [
        "/var/cache/man/index.db",
        "/tmp/junk.txt",
        "/tmp/dir1",
        "/tmp/.X11-unix",
        "/var/tmp/junk2.txt",
        "/var/mail/user",
        "/root/.bash_history",
        "/home/user",
        "/home/alice",
        "/home/bob",
        "/etc/udev/rules.d/70-persistent-net.rules",
        "/etc/shadow-",
        "/etc/passwd-",
        "/etc/gshadow-",
        "/etc/NetworkManager/system-connections/Wired.nmconnection",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_rsa_key.pub",
        "/var/lib/cloud/instance",
        "/var/lib/cloud/instances",
        "/var/lib/dhcp/dhclient.eth0.leases",
        "/var/lib/systemd/random-seed",
        "/var/crash/some.crash",
        "/var/lib/systemd/coredump/core.sleep.1000.zst",
        "/var/spool/cron/crontabs/user",
        "/etc/blkid.tab",
        "/etc/lvm/devices/system.devices",
        "/root/.local/share/fish/fish_history",
    ] {
        gone(p);
    }
    assert!(
        !b.keys().any(|p| p.ends_with(".journal")),
        "journal files left"
    );
    assert!(
        !b.keys()
            .any(|p| p.starts_with("/var/cache/apt/archives/") && p.ends_with(".deb"))
    );
    let empty = "d41d8cd98f00b204e9800998ecf8427e";
    for p in [
        "/var/log/syslog",
        "/var/log/auth.log",
        "/var/log/wtmp",
        "/var/log/apt/history.log",
        "/etc/machine-id",
    ] {
        assert_eq!(b[p], empty, "{p} is not empty");
    }
    let shadow = read(g, "/etc/shadow");
    assert!(
        shadow
            .lines()
            .all(|l| !l.split(':').nth(1).unwrap().contains('$')),
        "{shadow}"
    );
    let passwd = read(g, "/etc/passwd");
    assert!(
        !passwd.contains("\nuser:")
            && !passwd.contains("\nalice:")
            && passwd.contains("\nnobody:x:65534:"),
        "{passwd}"
    );
    let group = read(g, "/etc/group");
    let member = |l: &str, u: &str| {
        l.starts_with(&format!("{u}:"))
            || l.split(':')
                .nth(3)
                .is_some_and(|m| m.split(',').any(|x| x == u))
    };
    assert!(
        !group
            .lines()
            .any(|l| member(l, "user") || member(l, "alice")),
        "{group}"
    );
    assert!(group.contains("\nusers:x:100:"), "{group}");
    for f in ["/etc/subuid", "/etc/subgid"] {
        assert!(!read(g, f).contains("alice:"), "{f}");
    }
    let extlinux = read(g, "/boot/extlinux/extlinux.conf");
    assert!(
        extlinux.contains("TIMEOUT 30\n")
            && extlinux.contains("root=UUID=")
            && !extlinux.contains("ttyS0"),
        "{extlinux}"
    );
    assert!(!read(g, "/etc/gshadow").contains("alice"));
    let fstab = read(g, "/etc/fstab");
    assert!(
        fstab.contains("UUID=") && !fstab.contains("/dev/sda2"),
        "{fstab}"
    );
    let grub = read(g, "/boot/grub/grub.cfg");
    assert!(
        grub.contains("set timeout=3\n") && !grub.contains("ttyS0"),
        "{grub}"
    );
    assert!(
        grub.contains("net.ifnames=0") && grub.contains("root=UUID="),
        "{grub}"
    );
    let default = read(g, "/etc/default/grub");
    assert!(
        default.contains("GRUB_TIMEOUT=3\n") && default.contains("net.ifnames=0\""),
        "{default}"
    );
    assert!(read(g, "/boot/grub/menu.lst").contains("timeout 3\n"));
    assert!(
        read(g, "/etc/acpi/events/powerbtn-acpi-support")
            .contains("action=/sbin/shutdown -h now\n")
    );
    assert!(
        read(g, "/etc/sysctl.d/10-ipv6-privacy.conf")
            .contains("net.ipv6.conf.all.use_tempaddr = 0")
    );
    let netplan = read(g, "/etc/netplan/50-cloud-init.yaml");
    assert!(
        !netplan.contains("macaddress") && netplan.contains("dhcp4: true"),
        "{netplan}"
    );
    assert!(!read(g, "/etc/systemd/network/10-eth0.network").contains("MACAddress"));
    let hosts = read(g, "/etc/hosts");
    assert!(
        !hosts.contains("testvm") && hosts.contains("localhost"),
        "{hosts}"
    );
    let cfg = read(g, "/etc/cloud/cloud.cfg");
    assert!(
        cfg.contains("name: cloud") && read(g, "/etc/cloud/cloud.cfg.bak").contains("name: debian")
    );
    assert!(
        read(
            g,
            "/etc/cloud/cloud.cfg.d/60_snf-image-creator-EnableRoot.cfg"
        )
        .contains("disable_root: false")
    );
    assert!(read(g, "/root/.ssh/authorized_keys").contains("AAAAITEST"));
    assert_eq!(read(g, "/root/host-run-marker"), "debian testvm\n");
    assert!(b.contains_key("/etc/ssh/sshd_config") && b.contains_key("/var/lib/cloud/seed"));
}

/// A failing --host-run script stops the run with its name and exit code,
/// and leaves no mount, work file or output behind.
#[test]
fn failing_host_script() {
    let (img, _) = fixture("debian-mbr.qcow2");
    let dir = scratch();
    let script = dir.path().join("fail.sh");
    write_script(&script, "#!/bin/sh\necho broken >&2\nexit 3\n");
    let tmp = scratch();
    let out = dir.path().join("out.diskdump");
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .arg("--host-run")
        .arg(&script)
        .arg("-o")
        .arg(&out)
        .arg(&img));
    r.assert_error(1, "fail.sh` failed (exit code 3): broken");
    assert!(r.stderr.contains("not jailed"), "{}", r.stderr);
    assert!(!out.exists());
    assert_empty_dir(tmp.path());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains("snf-guest."),
        "a FUSE mount is left:\n{mounts}"
    );
}

/// The documents `--json` printed: one each for the metadata, the tasks,
/// the parameters and the dry run (returned), told apart by their key.
fn check_json_listings(stdout: &str) -> Value {
    let docs: Vec<Value> = serde_json::Deserializer::from_str(stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let doc = |key: &str| {
        let found: Vec<&Value> = docs.iter().filter(|d| d.get(key).is_some()).collect();
        assert_eq!(found.len(), 1, "{key}: {stdout}");
        found[0].clone()
    };
    assert_eq!(docs.len(), 4, "{stdout}");
    assert_eq!(doc("metadata")["metadata"]["OSFAMILY"], "linux", "{stdout}");
    let tasks = doc("syspreps")["syspreps"].as_array().unwrap().clone();
    let mail = tasks.iter().find(|t| t["name"] == "cleanup-mail").unwrap();
    // Off by default, switched on by this test's --enable-sysprep.
    assert_eq!(
        (&mail["enabled"], &mail["default"]),
        (&Value::Bool(true), &Value::Bool(false)),
        "{stdout}"
    );
    let params = doc("sysprep_params")["sysprep_params"]
        .as_array()
        .unwrap()
        .clone();
    let user = params.iter().find(|p| p["name"] == "default_user").unwrap();
    assert_eq!(user["value"], "cloud", "{stdout}");
    doc("dry_run")
}
