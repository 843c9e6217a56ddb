use super::*;

fn tree() -> MemGuest {
    MemGuest::new()
        .file(
            "/usr/lib/systemd/system/ssh.service",
            "ExecStart=/usr/sbin/sshd -D\n",
        )
        .symlink("/lib", "usr/lib")
        .symlink(
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/lib/systemd/system/ssh.service",
        )
        .symlink("/etc/alt", "../usr/lib/systemd/system/ssh.service")
        .symlink("/etc/broken", "/nowhere")
        .symlink("/loop/a", "b")
        .symlink("/loop/b", "a")
        .dir("/var/empty")
        .other("/run/socket")
}

#[test]
fn parents_are_implied() {
    let mut g = tree();
    assert!(g.is_dir("/usr").unwrap());
    assert!(g.is_dir("/usr/lib/systemd").unwrap());
    assert!(g.is_dir("/var/empty").unwrap());
    assert!(g.read_dir("/var/empty").unwrap().is_empty());
}

#[test]
fn absolute_and_relative_links_are_followed() {
    let mut g = tree();
    let wanted = "/etc/systemd/system/multi-user.target.wants/ssh.service";
    assert_eq!(
        g.read_to_string(wanted, 1 << 20).unwrap(),
        "ExecStart=/usr/sbin/sshd -D\n"
    );
    assert!(g.is_file(wanted).unwrap());
    assert!(g.is_file("/etc/alt").unwrap());
    assert!(g.is_dir("/lib/systemd").unwrap());
    assert!(
        g.exists("/lib/systemd/system/../system/ssh.service")
            .unwrap()
    );
}

#[test]
fn broken_links_and_loops() {
    let mut g = tree();
    assert!(!g.exists("/etc/broken").unwrap());
    assert!(!g.is_file("/etc/broken").unwrap());
    assert!(g.read_file("/etc/broken").is_err());
    assert!(!g.exists("/loop/a").unwrap());
    assert!(g.is_file("/loop/a").is_err());
    let err = g.read_file("/loop/a").unwrap_err().to_string();
    assert!(err.contains("symbolic links"), "{err}");
    assert_eq!(g.read_link("/loop/a").unwrap(), "b");
}

#[test]
fn read_dir_reports_entries_themselves() {
    let mut g = tree();
    // Sorted by name, like the appliance's `ls`.
    assert_eq!(
        g.read_dir("/etc").unwrap(),
        vec![
            ("alt".to_owned(), EntryKind::Symlink),
            ("broken".to_owned(), EntryKind::Symlink),
            ("systemd".to_owned(), EntryKind::Dir),
        ]
    );
    let root: Vec<String> = g.read_dir("/").unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(root, ["etc", "lib", "loop", "run", "usr", "var"]);
    assert_eq!(
        g.read_dir("/run").unwrap(),
        [("socket".to_owned(), EntryKind::Other)]
    );
    // Listing through a symlinked directory works, as `ls` does.
    assert_eq!(g.read_dir("/lib/systemd/system").unwrap().len(), 1);
    assert!(g.read_dir("/missing").is_err());
    assert!(g.read_dir("/etc/alt").is_err());
}

#[test]
fn misses_are_not_errors_for_predicates() {
    let mut g = tree();
    assert!(!g.exists("/nope").unwrap());
    assert!(!g.is_file("/nope/deeper").unwrap());
    // A file used as a directory is ENOTDIR: absent, not an error.
    assert!(!g.exists("/etc/alt/x").unwrap());
    assert!(
        g.read_file("/nope")
            .unwrap_err()
            .to_string()
            .contains("No such file")
    );
    assert!(
        g.read_file("/usr")
            .unwrap_err()
            .to_string()
            .contains("Is a directory")
    );
    assert!(g.read_link("/usr").is_err());
}

#[test]
fn builder_writes_through_existing_symlinks() {
    let mut g = tree().file("/lib/systemd/system/cron.service", "x");
    assert!(g.is_file("/usr/lib/systemd/system/cron.service").unwrap());
    assert_eq!(
        g.contents("/lib/systemd/system/cron.service"),
        Some(&b"x"[..])
    );
}

#[test]
fn writes() {
    let mut g = tree().file("/var/log/syslog", "abc");
    g.write("/etc/new", b"x").unwrap();
    assert_eq!(g.contents("/etc/new"), Some(&b"x"[..]));
    assert!(g.write("/nodir/new", b"x").is_err());
    g.truncate("/var/log/syslog").unwrap();
    assert_eq!(g.size("/var/log/syslog").unwrap(), 0);
    g.remove_all("/usr/lib/systemd").unwrap();
    assert!(!g.exists("/usr/lib/systemd/system/ssh.service").unwrap());
    assert!(g.exists("/usr/lib").unwrap());
    g.remove_all("/missing").unwrap();
    g.mkdir_p("/a/b/c").unwrap();
    assert!(g.is_dir("/a/b").unwrap());
    let found: Vec<String> = g.find("/a").unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(found, ["/a/b", "/a/b/c"]);
}

#[test]
fn modes() {
    let mut g = MemGuest::new()
        .file_with_mode("/etc/rc.d/rc.sshd", "", 0o755)
        .file("/etc/rc.d/rc.nm", "");
    assert_eq!(g.mode("/etc/rc.d/rc.sshd").unwrap(), Some(0o755));
    assert_eq!(g.mode("/etc/rc.d/rc.nm").unwrap(), Some(0o644));
    assert!(g.mode("/etc/rc.d/rc.none").is_err());
}
