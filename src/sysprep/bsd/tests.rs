use super::tasks::{self, REBUILD_DATABASES, lock_line};
use crate::guest::memfs::MemGuest;
use crate::guest::metadata::Metadata;
use crate::guest::{Distro, OsFamily, OsInfo};
use crate::progress::RecordingReporter;
use crate::sysprep::{Change, Ctx, Params, PlanFn};

const MASTER: &str = "# $FreeBSD$\n\
root:$6$r$hash:0:0::0:0:Charlie &:/root:/bin/sh\n\
toor:*:0:0::0:0:Bourne-again Superuser:/root:\n\
user:$6$u$hash:1001:1001::0:0:User:/home/user:/bin/sh\n\
locked:*LOCKED*$6$l$hash:1002:1002::0:0:L:/home/locked:/bin/sh\n\
empty::1003:1003::0:0:E:/home/empty:/bin/sh\n\
short:$6$x\n";

fn plan(task: PlanFn, family: OsFamily, g: &mut MemGuest) -> (Vec<Change>, Vec<String>) {
    let os = OsInfo {
        distro: Distro::parse(family.as_str()),
        family,
        ..OsInfo::default()
    };
    let r = RecordingReporter::default();
    let mut meta = Metadata::new();
    let mut cx = Ctx {
        guest: g,
        os: &os,
        params: &Params::default(),
        meta: &mut meta,
        reporter: &r,
    };
    let changes = task(&mut cx).unwrap();
    (changes, r.warnings())
}

fn written(changes: &[Change], path: &str) -> String {
    changes
        .iter()
        .find_map(|c| match c {
            Change::Write(p, d) if p == path => Some(String::from_utf8(d.clone()).unwrap()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{path} not written: {changes:?}"))
}

fn deleted(changes: &[Change]) -> Vec<&str> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Delete(p) => Some(p.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn freebsd_passwords_locked_and_databases_rebuilt_at_boot() {
    let mut g = MemGuest::new()
        .file("/etc/master.passwd", MASTER)
        .file("/etc/spwd.db", "h")
        .file("/etc/pwd.db", "p")
        .file("/etc/rc.local", "echo hi");
    let (c, warnings) = plan(tasks::cleanup_password, OsFamily::FreeBsd, &mut g);
    assert!(warnings.is_empty(), "{warnings:?}");
    let master = written(&c, "/etc/master.passwd");
    assert!(!master.contains("$hash"), "{master}");
    assert!(master.contains("root:*LOCKED*:0:0::"), "{master}");
    assert!(master.contains("toor:*:0:0"), "{master}");
    assert!(master.contains("locked:*LOCKED*:1002"), "{master}");
    assert!(master.contains("empty:*LOCKED*:1003"), "{master}");
    assert!(
        master.contains("short:$6$x"),
        "a malformed line stays: {master}"
    );
    assert_eq!(
        written(&c, "/etc/rc.local"),
        format!("echo hi\n{REBUILD_DATABASES}")
    );
    assert_eq!(deleted(&c), ["/etc/spwd.db"]);
    // Planned again on the result: nothing more.
    let mut done = MemGuest::new()
        .file("/etc/master.passwd", master)
        .file("/etc/rc.local", REBUILD_DATABASES);
    assert!(
        plan(tasks::cleanup_password, OsFamily::FreeBsd, &mut done)
            .0
            .is_empty()
    );
}

#[test]
fn openbsd_locks_with_a_star_and_rebuilds_in_rc_firsttime() {
    let mut g = MemGuest::new()
        .file("/etc/master.passwd", MASTER)
        .file("/etc/spwd.db", "h");
    let (c, _) = plan(tasks::cleanup_password, OsFamily::OpenBsd, &mut g);
    assert!(written(&c, "/etc/master.passwd").contains("root:*:0:0::"));
    assert_eq!(written(&c, "/etc/rc.firsttime"), REBUILD_DATABASES);
    assert_eq!(lock_line("# root:x:0", "*"), "# root:x:0");
}

#[test]
fn missing_master_passwd_is_a_warning() {
    let mut g = MemGuest::new().file("/etc/spwd.db", "h");
    let (c, warnings) = plan(tasks::cleanup_password, OsFamily::NetBsd, &mut g);
    assert_eq!(deleted(&c), ["/etc/spwd.db"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn machine_state_tasks() {
    let mut g = MemGuest::new()
        .file("/var/db/dhclient.leases.vtnet0", "l")
        .file("/var/db/pkg/local.sqlite", "keep")
        .file("/var/db/dhcpleased/vio0", "l")
        .file("/var/db/dhcpcd/vioif0.lease", "l")
        .file("/var/db/dhcpcd/duid", "d")
        .file("/var/db/dhcpcd/keep.conf", "k")
        .file("/etc/hostid", "h")
        .file("/etc/machine-id", "m")
        .file("/boot/entropy", "e")
        .file("/var/db/entropy/saved-entropy.1", "e")
        .file("/etc/random.seed", "e")
        .file("/var/db/entropy-file", "e")
        .file("/var/crash/vmcore.0", "c")
        .file("/var/crash/minfree", "2048")
        .file("/var/cache/pkg/vim.pkg", "p")
        .file("/var/db/pkgin/cache/vim.tgz", "p")
        .file("/var/db/pkgin/pkgin.db", "keep");
    let family = || OsFamily::FreeBsd;
    let cases: [(PlanFn, &[&str]); 5] = [
        (
            tasks::cleanup_dhcp_leases,
            &[
                "/var/db/dhclient.leases.vtnet0",
                "/var/db/dhcpcd/duid",
                "/var/db/dhcpcd/vioif0.lease",
                "/var/db/dhcpleased/vio0",
            ],
        ),
        (tasks::remove_host_id, &["/etc/hostid", "/etc/machine-id"]),
        (
            tasks::remove_entropy_seeds,
            &[
                "/boot/entropy",
                "/etc/random.seed",
                "/var/db/entropy-file",
                "/var/db/entropy/saved-entropy.1",
            ],
        ),
        (tasks::cleanup_crash_dumps, &["/var/crash/vmcore.0"]),
        (
            tasks::cleanup_package_cache,
            &["/var/cache/pkg/vim.pkg", "/var/db/pkgin/cache/vim.tgz"],
        ),
    ];
    for (task, want) in cases {
        let (c, _) = plan(task, family(), &mut g);
        let mut got = deleted(&c);
        got.sort_unstable();
        assert_eq!(got, want);
    }
}
