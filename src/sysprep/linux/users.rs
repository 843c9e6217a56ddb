//! Accounts and passwords: remove-user-accounts, cleanup-passwords and
//! remove-passwd-backups.
//!
//! Unlike the original, remove-user-accounts takes the range of regular
//! accounts from `/etc/login.defs` (`UID_MIN`..=`UID_MAX`, 1000..=60000 by
//! default), so UID 1000 goes and `nobody` (65534) stays; it also cleans
//! `/etc/gshadow`, `/etc/subuid`, `/etc/subgid`, the removed users'
//! memberships of other groups, and their mailboxes.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::sysprep::util::{delete_if_present, delete_present, edit_lines, read_text};
use crate::sysprep::{Change, Ctx};

/// A removed account: name, primary group ID, home.
struct Removed {
    gid: String,
    home: String,
}

/// `UID_MIN` and `UID_MAX` of `/etc/login.defs`, with shadow-utils'
/// defaults.
fn uid_range(login_defs: Option<&str>) -> (u64, u64) {
    let mut range = (1000, 60000);
    for line in login_defs.unwrap_or("").lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next().and_then(|v| v.parse().ok())) {
            (Some("UID_MIN"), Some(v)) => range.0 = v,
            (Some("UID_MAX"), Some(v)) => range.1 = v,
            _ => {}
        }
    }
    range
}

fn removed_accounts(passwd: &str, range: (u64, u64)) -> BTreeMap<String, Removed> {
    passwd
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let uid: u64 = f.get(2)?.parse().ok()?;
            (f.len() >= 7 && uid >= range.0 && uid <= range.1).then(|| {
                let r = Removed {
                    gid: f[3].to_owned(),
                    home: f[5].to_owned(),
                };
                (f[0].to_owned(), r)
            })
        })
        .collect()
}

/// Lines of a passwd file that are not blank, not comments and not seven
/// `:`-separated fields.
fn malformed_lines(passwd: &str) -> usize {
    passwd
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| l.split(':').count() != 7)
        .count()
}

/// A group line without the removed users: `None` drops the line (a
/// removed user's private group).
fn edit_group_line(
    line: &str,
    removed: &BTreeMap<String, Removed>,
    gid_field: Option<usize>,
) -> Option<String> {
    let mut f: Vec<String> = line.split(':').map(str::to_owned).collect();
    if f.len() < 4 {
        return Some(line.to_owned());
    }
    if let Some(user) = removed.get(&f[0]) {
        // /etc/gshadow has no GID: the name alone identifies the group.
        if gid_field.is_none_or(|i| f[i] == user.gid) {
            return None;
        }
    }
    // Members (and, in gshadow, administrators) lists.
    let lists = if gid_field.is_some() { 3..4 } else { 2..4 };
    for i in lists {
        let kept: Vec<&str> = f[i]
            .split(',')
            .filter(|m| !m.is_empty() && !removed.contains_key(*m))
            .collect();
        f[i] = kept.join(",");
    }
    Some(f.join(":"))
}

pub(super) fn remove_user_accounts(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let Some(passwd) = read_text(cx.guest, cx.reporter, "/etc/passwd")? else {
        cx.reporter
            .warn("remove-user-accounts: /etc/passwd is missing: no account removed");
        return Ok(Vec::new());
    };
    let defs = read_text(cx.guest, cx.reporter, "/etc/login.defs")?;
    let malformed = malformed_lines(&passwd);
    if malformed > 0 {
        cx.reporter.warn(&format!(
            "remove-user-accounts: ignoring {malformed} malformed line(s) of /etc/passwd"
        ));
    }
    let removed = removed_accounts(&passwd, uid_range(defs.as_deref()));
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let first_is_removed = |l: &str| removed.contains_key(l.split(':').next().unwrap_or(""));
    let keep_unless_removed = |l: &str| {
        if first_is_removed(l) {
            vec![]
        } else {
            vec![l.to_owned()]
        }
    };
    let mut changes = Vec::new();
    for file in ["/etc/passwd", "/etc/shadow", "/etc/subuid", "/etc/subgid"] {
        changes.extend(edit_lines(
            cx.guest,
            cx.reporter,
            file,
            keep_unless_removed,
        )?);
    }
    changes.extend(edit_lines(cx.guest, cx.reporter, "/etc/group", |l| {
        edit_group_line(l, &removed, Some(2)).into_iter().collect()
    })?);
    changes.extend(edit_lines(cx.guest, cx.reporter, "/etc/gshadow", |l| {
        edit_group_line(l, &removed, None).into_iter().collect()
    })?);
    for (name, user) in &removed {
        if user.home.starts_with("/home/")
            && user.home.len() > "/home/".len()
            && !user.home.split('/').any(|c| c == "..")
        {
            changes.extend(delete_if_present(cx.guest, &user.home)?);
        }
        changes.extend(delete_present(cx.guest, &[&format!("/var/mail/{name}")])?);
    }
    drop_from_users(cx, &removed);
    Ok(changes)
}

/// Take the removed accounts out of `USERS` (the key goes when empty).
fn drop_from_users(cx: &mut Ctx<'_>, removed: &BTreeMap<String, Removed>) {
    if let Some(users) = cx.meta.get("USERS") {
        let kept: Vec<&str> = users
            .split_whitespace()
            .filter(|u| !removed.contains_key(*u))
            .collect();
        if kept.is_empty() {
            cx.meta.remove("USERS");
        } else {
            let kept = kept.join(" ");
            cx.meta.insert("USERS".into(), kept);
        }
    }
    if let Some(remote) = cx.meta.get("REMOTE_CONNECTION") {
        let removed_user = |e: &str| {
            e.split([':', ',']).any(|kv| {
                kv.strip_prefix("user=")
                    .is_some_and(|u| removed.contains_key(u))
            })
        };
        let kept: Vec<&str> = remote.split(' ').filter(|e| !removed_user(e)).collect();
        let kept = kept.join(" ");
        cx.meta.insert("REMOTE_CONNECTION".into(), kept);
    }
}

pub(super) fn cleanup_passwords(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes: Vec<Change> = edit_lines(cx.guest, cx.reporter, "/etc/shadow", |line| {
        let mut f: Vec<&str> = line.split(':').collect();
        if f.len() >= 2 && f[1] != "*" && f[1] != "!" && !line.starts_with('#') {
            f[1] = "!";
        }
        vec![f.join(":")]
    })?
    .into_iter()
    .collect();
    changes.extend(delete_present(cx.guest, &["/etc/shadow-"])?);
    Ok(changes)
}

pub(super) fn remove_passwd_backups(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_present(
        cx.guest,
        &[
            "/etc/passwd-",
            "/etc/shadow-",
            "/etc/group-",
            "/etc/gshadow-",
            "/etc/subuid-",
            "/etc/subgid-",
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::guest::memfs::MemGuest;
    use crate::guest::metadata::Metadata;
    use crate::sysprep::unix::tests::{plan_with, written_text as text};
    use crate::sysprep::{Change, Params};

    #[test]
    fn hostile_passwd_lines() {
        // Binary garbage, a short line and a home that climbs out of /home.
        let passwd = "\u{1}\u{fffd}garbage\nshort:x:1000\n\
                      evil:x:1000:1000::/home/../etc:/bin/sh\n# comment\n";
        assert_eq!(super::malformed_lines(passwd), 2);
        let mut g = MemGuest::new()
            .file("/etc/passwd", passwd)
            .file("/etc/hostname", "keep");
        let c = plan_with(
            "remove-user-accounts",
            &mut g,
            &Params::default(),
            &mut Metadata::new(),
        );
        assert!(
            !c.iter()
                .any(|c| matches!(c, Change::Delete(p) if p.starts_with("/etc"))),
            "{c:?}"
        );
    }

    #[test]
    fn users_in_range_go_nobody_stays() {
        let mut g = MemGuest::new()
            .file(
                "/etc/passwd",
                "root:x:0:0::/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/bash\n\
                 alice:x:1001:1001::/home/alice:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
            )
            .file("/etc/shadow", "root:$6$r:1::::::\nuser:$6$u:1::::::\nalice:$6$a:1::::::\nnobody:*:1::::::\n")
            .file("/etc/group", "root:x:0:\nsudo:x:27:user,alice\nuser:x:1000:\nalice:x:1001:\nnogroup:x:65534:\n")
            .file("/etc/gshadow", "root:*::\nsudo:*:user:user,alice\nuser:!::\nalice:!::\n")
            .file("/etc/subuid", "user:100000:65536\nalice:165536:65536\n")
            .file("/home/user/.bashrc", "x")
            .file("/home/alice/.bashrc", "x")
            .file("/var/mail/user", "x");
        let mut meta = Metadata::new();
        meta.insert("USERS".into(), "root user".into());
        meta.insert(
            "REMOTE_CONNECTION".into(),
            "ssh:port=22,user=root ssh:port=22,user=user x2go:session=XFCE".into(),
        );
        let c = plan_with(
            "remove-user-accounts",
            &mut g,
            &Params::default(),
            &mut meta,
        );
        assert_eq!(
            text(&c, "/etc/passwd"),
            "root:x:0:0::/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n"
        );
        assert_eq!(
            text(&c, "/etc/shadow"),
            "root:$6$r:1::::::\nnobody:*:1::::::\n"
        );
        assert_eq!(
            text(&c, "/etc/group"),
            "root:x:0:\nsudo:x:27:\nnogroup:x:65534:\n"
        );
        assert_eq!(text(&c, "/etc/gshadow"), "root:*::\nsudo:*::\n");
        assert_eq!(text(&c, "/etc/subuid"), "");
        for p in ["/home/alice", "/home/user", "/var/mail/user"] {
            assert!(c.contains(&Change::Delete(p.into())), "{p}: {c:?}");
        }
        assert_eq!(meta["USERS"], "root");
        assert_eq!(
            meta["REMOTE_CONNECTION"],
            "ssh:port=22,user=root x2go:session=XFCE"
        );
    }

    #[test]
    fn login_defs_range() {
        assert_eq!(
            super::uid_range(Some("UID_MIN  500\n#UID_MAX 1\nUID_MAX 999\n")),
            (500, 999)
        );
        assert_eq!(super::uid_range(None), (1000, 60000));
    }

    #[test]
    fn passwords_are_locked() {
        let mut g = MemGuest::new()
            .file(
                "/etc/shadow",
                "root:$6$r:1::::::\nbin:*:1::::::\nbob:!$6$b:1::::::\nx:!:1::::::\n",
            )
            .file("/etc/shadow-", "old");
        let c = plan_with(
            "cleanup-passwords",
            &mut g,
            &Params::default(),
            &mut Metadata::new(),
        );
        assert_eq!(
            text(&c, "/etc/shadow"),
            "root:!:1::::::\nbin:*:1::::::\nbob:!:1::::::\nx:!:1::::::\n"
        );
        assert!(c.contains(&Change::Delete("/etc/shadow-".into())));
    }
}
