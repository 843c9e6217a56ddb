//! Whether the services the metadata cares about (sshd, cloud-init,
//! NetworkManager) start on boot.
//!
//! The generic Linux check is the original's `Linux.is_enabled`: a service
//! is enabled when
//! 1. a unit in `/etc/systemd/system/multi-user.target.wants` (a file, or a
//!    symlink to one, absolute or relative) has an `ExecStart=` that runs
//!    `…bin/<service>`; links that lead nowhere are warned about and skipped;
//! 2. an upstart job `/etc/init/*.conf` mentions the service; or
//! 3. a SysV script in `/etc/rc[1-5].d` or `/etc/rc.d/rc[1-5].d` mentions it.
//!
//! Beyond the original: a socket in `sockets.target.wants` counts through
//! the service it activates (Ubuntu 22.10 and later start sshd from
//! `ssh.socket`, with `ssh.service` disabled); only `S*` (start) links of the
//! SysV runlevels count, since a `K*` link says the service is stopped there;
//! and a mention at the end of a line counts (`DAEMON=/usr/sbin/NetworkManager`).
//!
//! Slackware starts `/etc/rc.d/rc.<service>` when the script is executable.
//! The original tested the read bit; this tests the owner's execute bit.

use std::collections::BTreeSet;

use anyhow::Result;

use super::files;
use crate::guest::profile::LinuxFlavor;
use crate::guest::{EntryKind, Guest};
use crate::progress::Reporter;

/// The boot services the metadata reports on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Services {
    pub sshd: bool,
    pub network_manager: bool,
    /// A cloud-init unit or script; the systemd generator is checked apart.
    pub cloud_init: bool,
}

/// Find out which of the services start on boot.
pub(super) fn probe(
    guest: &mut dyn Guest,
    flavor: LinuxFlavor,
    reporter: &dyn Reporter,
) -> Result<Services> {
    if flavor == LinuxFlavor::Slackware {
        return Ok(Services {
            sshd: slackware_enabled(guest, "sshd")?,
            network_manager: slackware_enabled(guest, "networkmanager")?,
            cloud_init: slackware_enabled(guest, "cloud-init")?,
        });
    }
    let scan = BootScan::load(guest, reporter)?;
    Ok(Services {
        sshd: scan.enabled("sshd"),
        network_manager: scan.enabled("NetworkManager"),
        cloud_init: scan.enabled("cloud-init"),
    })
}

fn slackware_enabled(guest: &mut dyn Guest, service: &str) -> Result<bool> {
    let script = format!("/etc/rc.d/rc.{service}");
    if !files::is_file(guest, &script)? {
        return Ok(false);
    }
    // Without permission bits, fall back to the original's answer: present.
    Ok(guest.mode(&script)?.is_none_or(|mode| mode & 0o100 != 0))
}

const WANTS: &str = "/etc/systemd/system/multi-user.target.wants";
const SOCKETS: &str = "/etc/systemd/system/sockets.target.wants";
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// What the boot configuration runs, gathered once for all services.
#[derive(Debug, Default)]
pub(super) struct BootScan {
    /// The values of `ExecStart=` lines of wanted (or socket-activated) units.
    exec_starts: Vec<String>,
    /// Comment-free lines of upstart jobs and SysV start scripts.
    script_lines: Vec<String>,
}

impl BootScan {
    /// Read the systemd units, upstart jobs and SysV scripts of the guest.
    pub(super) fn load(guest: &mut dyn Guest, reporter: &dyn Reporter) -> Result<Self> {
        let mut scan = BootScan::default();
        for unit in wanted_files(guest, WANTS, |_| true, reporter)? {
            scan.add_unit(guest, &unit, reporter)?;
        }
        for socket in wanted_files(guest, SOCKETS, |n| n.ends_with(".socket"), reporter)? {
            if let Some(unit) = socket_service(guest, &socket, reporter)? {
                scan.add_unit(guest, &unit, reporter)?;
            }
        }
        for job in wanted_files(guest, "/etc/init", |n| n.ends_with(".conf"), reporter)? {
            scan.add_script(guest, &job, reporter)?;
        }
        // rc2.d to rc5.d usually link the same script: read each one once.
        let mut seen = BTreeSet::new();
        for (parent, dir) in sysv_dirs() {
            for script in wanted_files(guest, &dir, |n| n.starts_with('S'), reporter)? {
                let target = guest.read_link(&script).unwrap_or_else(|_| script.clone());
                if seen.insert((parent, target)) {
                    scan.add_script(guest, &script, reporter)?;
                }
            }
        }
        Ok(scan)
    }

    fn add_unit(
        &mut self,
        guest: &mut dyn Guest,
        path: &str,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let text = files::read_text(guest, path, reporter)?.unwrap_or_default();
        self.exec_starts.extend(
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("ExecStart="))
                .map(str::to_owned),
        );
        Ok(())
    }

    fn add_script(
        &mut self,
        guest: &mut dyn Guest,
        path: &str,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let text = files::read_text(guest, path, reporter)?.unwrap_or_default();
        self.script_lines.extend(
            text.lines()
                .map(files::strip_comment)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        Ok(())
    }

    /// Whether `service` (an executable name: `sshd`, `cloud-init`) starts
    /// on boot.
    pub(super) fn enabled(&self, service: &str) -> bool {
        self.exec_starts.iter().any(|e| runs(e, service))
            || self.script_lines.iter().any(|l| mentions(l, service))
    }
}

/// The SysV runlevel directories 1 to 5, each with the directory that
/// relative links in it start from.
fn sysv_dirs() -> Vec<(&'static str, String)> {
    (1..=5)
        .flat_map(|n| {
            [
                ("/etc", format!("/etc/rc{n}.d")),
                ("/etc/rc.d", format!("/etc/rc.d/rc{n}.d")),
            ]
        })
        .collect()
}

/// The files and symlinks of `dir` whose names pass `keep`, as paths.
/// Symlinks that lead to no file are warned about and left out.
fn wanted_files(
    guest: &mut dyn Guest,
    dir: &str,
    keep: impl Fn(&str) -> bool,
    reporter: &dyn Reporter,
) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for (name, kind) in files::list_dir(guest, dir)? {
        if !matches!(kind, EntryKind::File | EntryKind::Symlink) || !keep(&name) {
            continue;
        }
        let path = files::join(dir, &name);
        if files::is_file(guest, &path)? {
            paths.push(path);
        } else if kind == EntryKind::Symlink {
            let target = guest.read_link(&path).unwrap_or_default();
            reporter.warn(&format!("Ignoring broken link {path} -> {target}"));
        }
    }
    Ok(paths)
}

/// The service unit a socket unit activates: its `Service=`, else the unit
/// of the same name (`ssh.socket` → `ssh.service`, or `ssh@.service` for
/// `Accept=yes` sockets), looked up in the systemd unit directories.
fn socket_service(
    guest: &mut dyn Guest,
    socket: &str,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    let text = files::read_text(guest, socket, reporter)?.unwrap_or_default();
    let stem = socket
        .rsplit('/')
        .next()
        .unwrap_or("")
        .trim_end_matches(".socket");
    let named = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Service="))
        .map(|s| vec![s.trim().to_owned()]);
    let candidates =
        named.unwrap_or_else(|| vec![format!("{stem}.service"), format!("{stem}@.service")]);
    for dir in UNIT_DIRS {
        for unit in &candidates {
            let path = files::join(dir, unit);
            if files::is_file(guest, &path)? {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// Whether an `ExecStart=` value runs `…bin/<service>` (the original's
/// `ExecStart=.+bin/<service>`, but with the name ending there).
pub(super) fn runs(exec_start: &str, service: &str) -> bool {
    let needle = format!("bin/{service}");
    exec_start.match_indices(&needle).any(|(at, _)| {
        let after = &exec_start[at + needle.len()..];
        after.is_empty() || after.starts_with(|c: char| c.is_whitespace() || "'\";".contains(c))
    })
}

/// Whether a script line mentions `service` as a word the way the original's
/// `[/=\s'"]<service>('|")?\s` does, also at the end of the line.
pub(super) fn mentions(line: &str, service: &str) -> bool {
    line.match_indices(service).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + service.len()..].trim_start_matches(['\'', '"']);
        before.is_some_and(|c| c.is_whitespace() || "/='\"".contains(c))
            && (after.is_empty() || after.starts_with(char::is_whitespace))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::{NullReporter, RecordingReporter};

    const SSH_UNIT: &str =
        "[Service]\nExecStartPre=/usr/sbin/sshd -t\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\n";
    const NM_UNIT: &str = "[Service]\nExecStart=/usr/sbin/NetworkManager --no-daemon\n";

    fn probe_generic(g: &mut MemGuest) -> Services {
        probe(g, LinuxFlavor::Generic, &NullReporter).unwrap()
    }

    #[test]
    fn exec_start_matching() {
        assert!(runs("/usr/sbin/sshd -D $SSHD_OPTS", "sshd"));
        assert!(runs("-/usr/sbin/sshd", "sshd"));
        assert!(runs("/usr/bin/cloud-init init", "cloud-init"));
        assert!(!runs("/usr/sbin/sshd-keygen", "sshd"));
        assert!(!runs("/usr/bin/cloud-init-per once x", "cloud-init"));
        assert!(!runs("/usr/sbin/sshd", "ssh"));
    }

    #[test]
    fn script_mentions() {
        assert!(mentions("exec /usr/sbin/sshd -D", "sshd"));
        assert!(mentions(
            "DAEMON=/usr/sbin/NetworkManager",
            "NetworkManager"
        ));
        assert!(mentions("start-stop-daemon --exec 'sshd' --", "sshd"));
        assert!(
            !mentions("sshd -D", "sshd"),
            "needs something before the name"
        );
        assert!(!mentions("test -x /usr/sbin/sshd-keygen", "sshd"));
    }

    #[test]
    fn systemd_links_absolute_and_relative() {
        let mut g = MemGuest::new()
            .symlink("/lib", "usr/lib")
            .file("/usr/lib/systemd/system/ssh.service", SSH_UNIT)
            .file("/usr/lib/systemd/system/NetworkManager.service", NM_UNIT)
            .symlink(
                "/etc/systemd/system/multi-user.target.wants/ssh.service",
                "/lib/systemd/system/ssh.service",
            )
            .symlink(
                "/etc/systemd/system/multi-user.target.wants/NetworkManager.service",
                "../../../../usr/lib/systemd/system/NetworkManager.service",
            );
        let s = probe_generic(&mut g);
        assert!(s.sshd && s.network_manager && !s.cloud_init, "{s:?}");
    }

    #[test]
    fn broken_links_are_warned_about() {
        let mut g = MemGuest::new()
            .symlink(
                "/etc/systemd/system/multi-user.target.wants/gone.service",
                "/lib/systemd/system/gone.service",
            )
            .symlink(
                "/etc/systemd/system/multi-user.target.wants/loop.service",
                "loop.service",
            );
        let r = RecordingReporter::default();
        let s = probe(&mut g, LinuxFlavor::Generic, &r).unwrap();
        assert_eq!(s, Services::default());
        assert_eq!(
            r.warnings(),
            [
                "Ignoring broken link /etc/systemd/system/multi-user.target.wants/gone.service -> /lib/systemd/system/gone.service",
                "Ignoring broken link /etc/systemd/system/multi-user.target.wants/loop.service -> loop.service",
            ]
        );
    }

    #[test]
    fn socket_activated_sshd() {
        let mut g = MemGuest::new()
            .file("/usr/lib/systemd/system/ssh.service", SSH_UNIT)
            .file(
                "/usr/lib/systemd/system/ssh.socket",
                "[Socket]\nListenStream=22\n",
            )
            .symlink(
                "/etc/systemd/system/sockets.target.wants/ssh.socket",
                "/usr/lib/systemd/system/ssh.socket",
            );
        assert!(probe_generic(&mut g).sshd);
    }

    #[test]
    fn upstart_and_sysv() {
        let mut g = MemGuest::new()
            .file(
                "/etc/init/ssh.conf",
                "# comment sshd \nexec /usr/sbin/sshd -D\n",
            )
            .file(
                "/etc/init/cloud-init.override",
                "exec /usr/bin/cloud-init init\n",
            )
            .file(
                "/etc/init.d/network-manager",
                "DAEMON=/usr/sbin/NetworkManager\n",
            )
            .symlink("/etc/rc2.d/S01network-manager", "../init.d/network-manager")
            .file("/etc/init.d/cloud-init", "exec /usr/bin/cloud-init init\n")
            .symlink("/etc/rc1.d/K01cloud-init", "../init.d/cloud-init");
        let s = probe_generic(&mut g);
        assert_eq!(
            s,
            Services {
                sshd: true,
                network_manager: true,
                cloud_init: false
            }
        );
    }

    #[test]
    fn commented_mentions_do_not_count() {
        let mut g = MemGuest::new().file("/etc/init/x.conf", "# exec /usr/sbin/sshd -D\n");
        assert!(!probe_generic(&mut g).sshd);
    }

    #[test]
    fn slackware_needs_the_execute_bit() {
        let mut g = MemGuest::new()
            .file_with_mode("/etc/rc.d/rc.sshd", "#!/bin/sh\n", 0o755)
            .file_with_mode("/etc/rc.d/rc.networkmanager", "#!/bin/sh\n", 0o644);
        let s = probe(&mut g, LinuxFlavor::Slackware, &NullReporter).unwrap();
        assert!(s.sshd && !s.network_manager && !s.cloud_init, "{s:?}");
    }
}
