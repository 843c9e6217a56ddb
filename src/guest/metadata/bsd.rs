//! The keys of FreeBSD, NetBSD and OpenBSD guests beyond the base ones:
//! `DESCRIPTION` without libguestfs's build details, `GUI`, `USERS` (from
//! `/etc/master.passwd`, root first), `OSVERSION` ("13.2"), `KERNEL`
//! ("FreeBSD 13.2") and the ssh
//! entries of `REMOTE_CONNECTION` when sshd starts on boot.
//!
//! Whether sshd starts is each system's rc.conf logic, where the last
//! assignment of a variable wins:
//! * FreeBSD: `sshd_enable` is yes/true/on/1 (any case, quoted or not) in
//!   `/etc/rc.conf`, `/etc/rc.conf.local` or `/etc/rc.conf.d/sshd`;
//! * NetBSD: `sshd` is yes/true/on/1 in `/etc/defaults/rc.conf` or
//!   `/etc/rc.conf`;
//! * OpenBSD: sshd runs unless `sshd_flags` is `NO` in `/etc/rc.conf` or
//!   `/etc/rc.conf.local`.

use anyhow::{Context, Result};

use super::{Metadata, accounts, desktop, files, sshd};
use crate::guest::profile::BsdFlavor;
use crate::guest::{Guest, OsInfo};
use crate::progress::Reporter;

/// Add the BSD keys to `meta`.
pub(super) fn collect(
    os: &OsInfo,
    bsd: BsdFlavor,
    guest: &mut dyn Guest,
    reporter: &dyn Reporter,
    meta: &mut Metadata,
) -> Result<()> {
    if let Some(description) = meta.get_mut("DESCRIPTION") {
        // "FreeBSD 13.2-RELEASE #0 releng/13.2-n254617-525ecfdad597: …"
        *description = description
            .split('#')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
    }
    let executables = files::executables(guest).context("listing the executables")?;
    meta.insert("GUI".into(), desktop::gui(&executables));
    let users = accounts::usable_users(guest, "/etc/master.passwd", true, reporter)
        .context("collecting USERS")?;
    super::set_users(meta, &users, reporter);
    let version = format!("{}.{}", os.major, os.minor);
    meta.insert("KERNEL".into(), format!("{} {version}", bsd.name()));
    meta.insert("OSVERSION".into(), version);
    if sshd_enabled(bsd, guest, reporter).context("finding out whether sshd starts on boot")? {
        let config = sshd::load(guest, reporter).context("reading the sshd configuration")?;
        meta.insert(
            "REMOTE_CONNECTION".into(),
            sshd::ssh_entries(config, &users).join(" "),
        );
    } else {
        reporter.warn("The OpenSSH daemon is not configured to run on boot");
    }
    Ok(())
}

/// Whether sshd starts on boot, per the rc.conf files of `bsd`.
fn sshd_enabled(bsd: BsdFlavor, guest: &mut dyn Guest, reporter: &dyn Reporter) -> Result<bool> {
    let (variable, paths, default): (&str, &[&str], bool) = match bsd {
        BsdFlavor::FreeBsd => (
            "sshd_enable",
            &["/etc/rc.conf", "/etc/rc.conf.local", "/etc/rc.conf.d/sshd"],
            false,
        ),
        BsdFlavor::NetBsd => ("sshd", &["/etc/defaults/rc.conf", "/etc/rc.conf"], false),
        BsdFlavor::OpenBsd => ("sshd_flags", &["/etc/rc.conf", "/etc/rc.conf.local"], true),
    };
    let mut value = None;
    for path in paths {
        if let Some(text) = files::read_text(guest, path, reporter)? {
            value = last_assignment(&text, variable).or(value);
        }
    }
    Ok(match (bsd, value) {
        (_, None) => default,
        (BsdFlavor::OpenBsd, Some(v)) => v != "NO",
        (_, Some(v)) => is_yes(&v),
    })
}

/// The value of the last `variable=value` line of an rc.conf-style file,
/// unquoted.
pub(super) fn last_assignment(text: &str, variable: &str) -> Option<String> {
    text.lines()
        .map(files::strip_comment)
        .filter_map(|l| l.split_once('='))
        .filter(|(name, _)| name.trim() == variable)
        .map(|(_, value)| value.trim().trim_matches(['"', '\'']).to_owned())
        .next_back()
}

/// rc.subr's `checkyesno`.
fn is_yes(value: &str) -> bool {
    ["yes", "true", "on", "1"].contains(&value.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::guest::{Distro, OsFamily};
    use crate::progress::RecordingReporter;

    const MASTER_PASSWD: &str = "\
# $FreeBSD$
#
root:$6$r:0:0::0:0:Charlie &:/root:/bin/sh
toor:*:0:0::0:0:Bourne-again Superuser:/root:
daemon:*:1:1::0:0:Owner of many system processes:/root:/usr/sbin/nologin
beastie:$6$b:1001:1001::0:0:Beastie:/home/beastie:/bin/sh
";

    fn freebsd() -> OsInfo {
        OsInfo {
            family: OsFamily::FreeBsd,
            distro: Distro::FreeBsd,
            product_name: "FreeBSD 13.2-RELEASE #0 releng/13.2: Fri Apr  7 02:19:49 UTC 2023"
                .into(),
            major: 13,
            minor: 2,
            ..OsInfo::default()
        }
    }

    fn collected(g: &mut MemGuest, bsd: BsdFlavor) -> (Metadata, Vec<String>) {
        let os = freebsd();
        let mut meta = Metadata::from([("DESCRIPTION".to_owned(), os.product_name.clone())]);
        let r = RecordingReporter::default();
        collect(&os, bsd, g, &r, &mut meta).unwrap();
        (meta, r.warnings())
    }

    #[test]
    fn freebsd_keys() {
        let mut g = MemGuest::new()
            .file("/etc/master.passwd", MASTER_PASSWD)
            .file(
                "/etc/rc.conf",
                "sshd_enable=\"NO\"\nsshd_enable=\"YES\" # later wins\n",
            )
            .file("/etc/ssh/sshd_config", "PermitRootLogin no\n");
        let (meta, warnings) = collected(&mut g, BsdFlavor::FreeBsd);
        assert_eq!(meta["DESCRIPTION"], "FreeBSD 13.2-RELEASE");
        assert_eq!(meta["USERS"], "root beastie");
        assert_eq!(meta["KERNEL"], "FreeBSD 13.2");
        assert_eq!(meta["OSVERSION"], "13.2");
        assert_eq!(meta["GUI"], "No GUI");
        assert_eq!(meta["REMOTE_CONNECTION"], "ssh:port=22,user=beastie");
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn freebsd_sshd_disabled_by_local_conf() {
        let mut g = MemGuest::new()
            .file("/etc/master.passwd", MASTER_PASSWD)
            .file("/etc/rc.conf", "sshd_enable=YES\n")
            .file("/etc/rc.conf.local", "sshd_enable=no\n");
        let (meta, warnings) = collected(&mut g, BsdFlavor::FreeBsd);
        assert!(!meta.contains_key("REMOTE_CONNECTION"));
        assert_eq!(
            warnings,
            ["The OpenSSH daemon is not configured to run on boot"]
        );
    }

    #[test]
    fn openbsd_runs_sshd_unless_disabled() {
        let mut g = MemGuest::new().file("/etc/master.passwd", MASTER_PASSWD);
        assert!(
            collected(&mut g, BsdFlavor::OpenBsd)
                .0
                .contains_key("REMOTE_CONNECTION")
        );
        let mut g = g.file("/etc/rc.conf.local", "sshd_flags=NO\n");
        assert!(
            !collected(&mut g, BsdFlavor::OpenBsd)
                .0
                .contains_key("REMOTE_CONNECTION")
        );
    }

    #[test]
    fn netbsd_defaults_then_rc_conf() {
        let mut g = MemGuest::new()
            .file("/etc/defaults/rc.conf", "sshd=NO\n")
            .file("/etc/rc.conf", "sshd=YES\n");
        let (meta, _) = collected(&mut g, BsdFlavor::NetBsd);
        assert_eq!(meta["REMOTE_CONNECTION"], "ssh:port=22");
        assert_eq!(meta["KERNEL"], "NetBSD 13.2");
    }

    #[test]
    fn rc_conf_values() {
        let text = "sshd_enable=\"YES\"\n#sshd_enable=NO\nother=1\n sshd_enable = 'on' \n";
        assert_eq!(last_assignment(text, "sshd_enable").as_deref(), Some("on"));
        assert_eq!(last_assignment(text, "missing"), None);
        assert!(is_yes("TRUE") && is_yes("1") && !is_yes("NO"));
    }
}
