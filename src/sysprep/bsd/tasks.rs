//! The BSD tasks' plans.

use anyhow::Result;

use crate::guest::{EntryKind, OsFamily};
use crate::sysprep::util::{delete_children, delete_present, edit_lines, read_text, rewrite};
use crate::sysprep::{Change, Ctx};

/// The lines a run adds to the first-boot script, so that the password
/// databases `cleanup-password` changed are rebuilt before anyone logs in.
pub(super) const REBUILD_DATABASES: &str = "\
# Added by snf-image-creator: rebuild the password databases from master.passwd.
[ -f /etc/spwd.db ] || /usr/sbin/pwd_mkdb -p /etc/master.passwd
";

/// The locked password field: FreeBSD's and NetBSD's `*LOCKED*`, OpenBSD's `*`.
fn locked(family: &OsFamily) -> &'static str {
    match family {
        OsFamily::OpenBsd => "*",
        _ => "*LOCKED*",
    }
}

/// A `master.passwd` line with its password locked: every field but `*`
/// and the lock itself (a `*LOCKED*` prefix before a hash included).
pub(super) fn lock_line(line: &str, lock: &str) -> String {
    let mut f: Vec<&str> = line.split(':').collect();
    if line.starts_with('#') || f.len() < 10 || f[1] == "*" || f[1] == lock {
        return line.to_owned();
    }
    f[1] = lock;
    f.join(":")
}

pub(super) fn cleanup_password(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let lock = locked(&cx.os.family);
    let Some(edited) = edit_lines(cx.guest, cx.reporter, "/etc/master.passwd", |l| {
        vec![lock_line(l, lock)]
    })?
    else {
        if !crate::sysprep::util::is_file(cx.guest, "/etc/master.passwd")? {
            cx.reporter
                .warn("cleanup-password: /etc/master.passwd is missing: no password locked");
        }
        return delete_present(cx.guest, &["/etc/spwd.db"]);
    };
    let mut changes = vec![edited];
    let removed = delete_present(cx.guest, &["/etc/spwd.db"])?;
    if !removed.is_empty() {
        let script = match cx.os.family {
            OsFamily::OpenBsd => "/etc/rc.firsttime",
            _ => "/etc/rc.local",
        };
        let old = read_text(cx.guest, cx.reporter, script)?.unwrap_or_default();
        if !old.contains(REBUILD_DATABASES) {
            let sep = if old.is_empty() || old.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            changes.extend(rewrite(
                script,
                &old,
                format!("{old}{sep}{REBUILD_DATABASES}"),
            ));
        }
        changes.extend(removed);
    }
    Ok(changes)
}

pub(super) fn cleanup_dhcp_leases(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let file = |kind: EntryKind| kind == EntryKind::File;
    let mut changes = delete_children(cx.guest, "/var/db", |name, kind| {
        file(kind) && (name.starts_with("dhclient.leases") || name.starts_with("dhcpcd-"))
    })?;
    changes.extend(delete_children(cx.guest, "/var/db/dhcpleased", |_, k| {
        file(k)
    })?);
    changes.extend(delete_children(
        cx.guest,
        "/var/db/dhcpcd",
        |name, kind| file(kind) && (name.contains(".lease") || name == "duid"),
    )?);
    Ok(changes)
}

pub(super) fn remove_host_id(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_present(cx.guest, &["/etc/hostid", "/etc/machine-id"])
}

pub(super) fn remove_entropy_seeds(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = delete_present(
        cx.guest,
        &[
            "/boot/entropy",
            "/etc/random.seed",
            "/var/db/host.random",
            "/var/db/entropy-file",
        ],
    )?;
    changes.extend(delete_children(cx.guest, "/var/db/entropy", |_, kind| {
        kind == EntryKind::File
    })?);
    Ok(changes)
}

pub(super) fn cleanup_crash_dumps(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_children(cx.guest, "/var/crash", |name, _| name != "minfree")
}

pub(super) fn cleanup_package_cache(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for dir in ["/var/cache/pkg", "/var/db/pkgin/cache"] {
        changes.extend(delete_children(cx.guest, dir, |_, kind| {
            kind == EntryKind::File
        })?);
    }
    Ok(changes)
}
