//! Machine state and identity: machine-id, SSH host keys, the journal, the
//! random seed, package manager caches, crash dumps and the like; and the
//! ACPI power button.

use anyhow::{Context, Result};

use crate::guest::EntryKind;
use crate::sysprep::util::{
    children, delete_children, delete_present, files_under, is_symlink, read_text,
};
use crate::sysprep::{Change, Ctx};

pub(super) fn clear_machine_id(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for p in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        // Debian's /var/lib/dbus/machine-id links to /etc/machine-id.
        if crate::sysprep::util::is_file(cx.guest, p)? && !is_symlink(cx.guest, p)? {
            changes.push(Change::Truncate(p.to_owned()));
        }
    }
    Ok(changes)
}

pub(in crate::sysprep) fn remove_ssh_host_keys(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_children(cx.guest, "/etc/ssh", |name, kind| {
        kind == EntryKind::File
            && name.starts_with("ssh_host_")
            && (name.ends_with("_key") || name.ends_with("_key.pub"))
    })
}

pub(super) fn cleanup_journal(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for dir in ["/var/log/journal", "/run/log/journal"] {
        changes.extend(
            files_under(cx.guest, dir)?
                .into_iter()
                .filter(|e| e.path.ends_with(".journal") || e.path.ends_with(".journal~"))
                .map(|e| Change::Delete(e.path)),
        );
    }
    Ok(changes)
}

pub(super) fn remove_random_seed(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_present(
        cx.guest,
        &[
            "/var/lib/systemd/random-seed",
            "/var/lib/urandom/random-seed",
            "/var/lib/random-seed",
            "/var/run/random-seed",
        ],
    )
}

pub(super) fn cleanup_package_cache(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let file = |_: &str, kind: EntryKind| kind == EntryKind::File;
    changes.extend(delete_children(
        cx.guest,
        "/var/cache/apt/archives",
        |n, k| file(n, k) && n.ends_with(".deb"),
    )?);
    changes.extend(delete_children(cx.guest, "/var/cache/apt", |n, k| {
        file(n, k) && n.ends_with(".bin")
    })?);
    for dir in [
        "/var/cache/dnf",
        "/var/cache/yum",
        "/var/cache/zypp/packages",
        "/var/cache/pacman/pkg",
    ] {
        changes.extend(
            files_under(cx.guest, dir)?
                .into_iter()
                .map(|e| Change::Delete(e.path)),
        );
    }
    Ok(changes)
}

pub(super) fn cleanup_crash_dumps(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for dir in [
        "/var/crash",
        "/var/lib/systemd/coredump",
        "/var/spool/abrt",
        "/var/lib/apport/coredump",
    ] {
        changes.extend(delete_children(cx.guest, dir, |_, _| true)?);
    }
    Ok(changes)
}

pub(super) fn remove_blkid_tab(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_present(
        cx.guest,
        &[
            "/etc/blkid.tab",
            "/etc/blkid.tab.old",
            "/etc/blkid/blkid.tab",
            "/etc/blkid/blkid.tab.old",
        ],
    )
}

pub(super) fn remove_lvm_system_devices(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_present(cx.guest, &["/etc/lvm/devices/system.devices"])
}

pub(super) fn cleanup_cron_spool(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for dir in [
        "/var/spool/cron/crontabs",
        "/var/spool/cron/atjobs",
        "/var/spool/at",
    ] {
        changes.extend(delete_children(cx.guest, dir, |name, _| name != ".SEQ")?);
    }
    // Red Hat keeps crontabs directly in /var/spool/cron.
    changes.extend(delete_children(cx.guest, "/var/spool/cron", |_, kind| {
        kind == EntryKind::File
    })?);
    Ok(changes)
}

pub(super) fn add_root_authorized_keys(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let file = cx.params.text("authorized_keys");
    if file.is_empty() {
        cx.reporter
            .warn("add-root-authorized-keys: no authorized_keys parameter given: nothing to add");
        return Ok(Vec::new());
    }
    let keys =
        crate::untrusted::read_file(std::path::Path::new(file), crate::untrusted::CONFIG_LIMIT)
            .with_context(|| format!("reading {file}"))?;
    Ok(vec![Change::Write(
        "/root/.ssh/authorized_keys".into(),
        keys,
    )])
}

/// Point the power-button event's action at `powerbtn_action`.
pub(super) fn fix_acpid(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let dir = "/etc/acpi/events";
    if !crate::sysprep::util::is_dir(cx.guest, dir)? {
        cx.reporter
            .warn("fix-acpid: /etc/acpi/events does not exist: no acpid configuration to fix");
        return Ok(Vec::new());
    }
    let action = cx.params.text("powerbtn_action").to_owned();
    for (path, kind) in children(cx.guest, dir)? {
        if kind != EntryKind::File {
            continue;
        }
        let Some(text) = read_text(cx.guest, cx.reporter, &path)? else {
            continue;
        };
        match power_event(&text) {
            PowerEvent::Power(action_line) => {
                let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                lines[action_line] = format!("action={action}");
                lines.push("### Edited by snf-image-creator ###".into());
                let new = lines.join("\n") + "\n";
                return Ok(crate::sysprep::util::rewrite(&path, &text, new).into_iter().collect());
            }
            PowerEvent::Any => cx.reporter.warn(&format!(
                "fix-acpid: {path} handles every ACPI event; make sure it powers the machine off on the power button"
            )),
            PowerEvent::NoAction => cx.reporter.warn(&format!("fix-acpid: {path} has no action")),
            PowerEvent::Other => {}
        }
    }
    cx.reporter
        .warn("fix-acpid: no acpid event handles the power button");
    Ok(Vec::new())
}

enum PowerEvent {
    /// A power-button event; the index of its action line.
    Power(usize),
    Any,
    NoAction,
    Other,
}

fn power_event(text: &str) -> PowerEvent {
    let mut event = None;
    let mut action = None;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "event" => event = Some(value.trim().to_owned()),
            "action" => action = Some(i),
            _ => {}
        }
    }
    let Some(event) = event else {
        return PowerEvent::Other;
    };
    let power = event.starts_with("button[ /]power") || event.starts_with("button/power");
    match (power, event == ".*", action) {
        (true, _, Some(i)) => PowerEvent::Power(i),
        (true, _, None) => PowerEvent::NoAction,
        (false, true, _) => PowerEvent::Any,
        _ => PowerEvent::Other,
    }
}

#[cfg(test)]
mod tests {
    use crate::guest::memfs::MemGuest;
    use crate::sysprep::Change;
    use crate::sysprep::unix::tests::plan;

    #[test]
    fn acpid() {
        let mut g = MemGuest::new()
            .file("/etc/acpi/events/other", "event=button/lid.*\naction=/x\n")
            .file(
                "/etc/acpi/events/powerbtn",
                "event=button[ /]power\naction=/etc/acpi/powerbtn.sh\n",
            );
        let c = plan("fix-acpid", &mut g);
        assert_eq!(
            c,
            [Change::Write(
                "/etc/acpi/events/powerbtn".into(),
                b"event=button[ /]power\naction=/sbin/shutdown -h now\n### Edited by snf-image-creator ###\n".to_vec()
            )]
        );
    }

    #[test]
    fn identity_and_state() {
        let mut g = MemGuest::new()
            .file("/etc/machine-id", "abc\n")
            .symlink("/var/lib/dbus/machine-id", "/etc/machine-id")
            .file("/etc/ssh/ssh_host_rsa_key", "k")
            .file("/etc/ssh/ssh_host_rsa_key.pub", "k")
            .file("/etc/ssh/sshd_config", "Port 22\n")
            .file("/var/log/journal/id/system.journal", "j")
            .file("/var/cache/apt/archives/a.deb", "d")
            .file("/var/cache/apt/archives/lock", "")
            .file("/var/cache/apt/pkgcache.bin", "b");
        assert_eq!(
            plan("clear-local-machine-id-configuration-file", &mut g),
            [Change::Truncate("/etc/machine-id".into())]
        );
        assert_eq!(plan("remove-ssh-host-keys", &mut g).len(), 2);
        assert_eq!(
            plan("cleanup-journal", &mut g),
            [Change::Delete("/var/log/journal/id/system.journal".into())]
        );
        assert_eq!(
            plan("cleanup-package-cache", &mut g),
            [
                Change::Delete("/var/cache/apt/archives/a.deb".into()),
                Change::Delete("/var/cache/apt/pkgcache.bin".into())
            ]
        );
    }
}
