//! The keys of Linux guests beyond the base ones: `GUI`, `KERNEL`, `USERS`,
//! `REMOTE_CONNECTION`, `CLOUD_INIT`, `CLOUD_INIT_DEFAULT_USER` and
//! `NM_NETWORKING`, plus the distribution refinements of `OS` and
//! `DESCRIPTION`.
//!
//! `USERS` is the accounts of `/etc/shadow` that can log in with a
//! password, replaced by the users cloud-init creates when cloud-init runs
//! on boot and creates any. The ssh entries of `REMOTE_CONNECTION` are for
//! the final `USERS`, since those are the accounts a deployed machine has.

use anyhow::{Context, Result};

use super::{Metadata, accounts, cloud_init, desktop, distro, files, kernel, services, sshd};
use crate::guest::profile::LinuxFlavor;
use crate::guest::{Guest, OsInfo};
use crate::progress::Reporter;

/// Add the Linux keys to `meta`.
pub(super) fn collect(
    os: &OsInfo,
    flavor: LinuxFlavor,
    guest: &mut dyn Guest,
    reporter: &dyn Reporter,
    meta: &mut Metadata,
) -> Result<()> {
    distro::refine(os, flavor, guest, meta, reporter).context("refining OS and DESCRIPTION")?;
    let executables = files::executables(guest).context("listing the executables")?;
    meta.insert("GUI".into(), desktop::gui(&executables));
    if let Some(kernel) = newest_kernel(flavor, guest, reporter).context("collecting KERNEL")? {
        meta.insert("KERNEL".into(), kernel);
    }
    let services =
        services::probe(guest, flavor, reporter).context("finding the services started on boot")?;
    let users = users(guest, services.cloud_init, reporter, meta)?;
    if services.sshd {
        let config = sshd::load(guest, reporter).context("reading the sshd configuration")?;
        let mut entries = sshd::ssh_entries(config, &users);
        entries.extend(desktop::x2go_entries(&executables));
        meta.insert("REMOTE_CONNECTION".into(), entries.join(" "));
    } else {
        reporter.warn("The OpenSSH daemon is not configured to run on boot");
    }
    if services.network_manager {
        meta.insert("NM_NETWORKING".into(), "yes".into());
    }
    Ok(())
}

fn newest_kernel(
    flavor: LinuxFlavor,
    guest: &mut dyn Guest,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    if flavor == LinuxFlavor::Archlinux
        && let Some(kernel) = kernel::from_pacman(guest, reporter)?
    {
        return Ok(Some(kernel));
    }
    kernel::from_boot_configs(guest)
}

/// Set `USERS` (and the cloud-init keys) and return the users.
fn users(
    guest: &mut dyn Guest,
    cloud_init_unit: bool,
    reporter: &dyn Reporter,
    meta: &mut Metadata,
) -> Result<Vec<String>> {
    let mut users = accounts::usable_users(guest, "/etc/shadow", false, reporter)
        .context("collecting USERS")?;
    if cloud_init::enabled(guest, cloud_init_unit).context("looking for cloud-init")? {
        meta.insert("CLOUD_INIT".into(), "yes".into());
        let cloud =
            cloud_init::load(guest, reporter).context("reading the cloud-init configuration")?;
        if let Some(default_user) = cloud.default_user {
            meta.insert("CLOUD_INIT_DEFAULT_USER".into(), default_user);
        }
        if !cloud.users.is_empty() {
            users = cloud.users;
        }
    }
    super::set_users(meta, &users, reporter);
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::guest::{Distro, OsFamily};
    use crate::progress::RecordingReporter;

    const SSH_UNIT: &str = "[Service]\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\n";
    const WANTS: &str = "/etc/systemd/system/multi-user.target.wants";

    fn debian() -> OsInfo {
        OsInfo {
            family: OsFamily::Linux,
            distro: Distro::Debian,
            product_name: "12.5".into(),
            major: 12,
            minor: 5,
            ..OsInfo::default()
        }
    }

    fn collected(g: &mut MemGuest, flavor: LinuxFlavor) -> (Metadata, Vec<String>) {
        let r = RecordingReporter::default();
        let mut meta = Metadata::new();
        collect(&debian(), flavor, g, &r, &mut meta).unwrap();
        (meta, r.warnings())
    }

    fn with_sshd(g: MemGuest) -> MemGuest {
        g.symlink("/lib", "usr/lib")
            .file("/usr/lib/systemd/system/ssh.service", SSH_UNIT)
            .symlink(
                &format!("{WANTS}/ssh.service"),
                "/lib/systemd/system/ssh.service",
            )
    }

    #[test]
    fn shadow_users_and_ssh() {
        let g = MemGuest::new()
            .file(
                "/etc/shadow",
                "root:$6$r:1::::::\nuser:$6$u:1::::::\nlocked:!$6$l:1::::::\n",
            )
            .file(
                "/etc/ssh/sshd_config",
                "Port 2222 # custom\nPermitRootLogin no\n",
            );
        let (meta, warnings) = collected(&mut with_sshd(g), LinuxFlavor::Generic);
        assert_eq!(meta["USERS"], "root user");
        assert_eq!(meta["REMOTE_CONNECTION"], "ssh:port=2222,user=user");
        assert_eq!(meta["GUI"], "No GUI");
        assert!(!meta.contains_key("CLOUD_INIT"));
        assert_eq!(warnings, ["Ignoring locked locked account"]);
    }

    #[test]
    fn no_shadow_no_sshd() {
        let (meta, warnings) = collected(&mut MemGuest::new(), LinuxFlavor::Generic);
        assert!(!meta.contains_key("USERS"));
        assert!(!meta.contains_key("REMOTE_CONNECTION"));
        assert!(!meta.contains_key("KERNEL"));
        assert_eq!(
            warnings,
            [
                "Unable to collect user info: /etc/shadow is missing",
                "No passworded users found",
                "The OpenSSH daemon is not configured to run on boot",
            ]
        );
    }

    #[test]
    fn cloud_init_users_replace_shadow_users() {
        let g = MemGuest::new()
            .file("/etc/shadow", "root:*:1::::::\nold:$6$o:1::::::\n")
            .file("/usr/lib/systemd/system-generators/cloud-init-generator", "")
            .file(
                "/etc/cloud/cloud.cfg",
                "users: [default, {name: extra}]\nsystem_info:\n  default_user:\n    name: debian\n",
            )
            .file("/usr/bin/x2goruncommand", "")
            .file("/usr/bin/startx", "")
            .file("/usr/bin/xfce4-session", "");
        let (meta, warnings) = collected(&mut with_sshd(g), LinuxFlavor::Generic);
        assert_eq!(meta["CLOUD_INIT"], "yes");
        assert_eq!(meta["CLOUD_INIT_DEFAULT_USER"], "debian");
        assert_eq!(meta["USERS"], "debian extra");
        assert_eq!(meta["GUI"], "Xfce");
        assert_eq!(
            meta["REMOTE_CONNECTION"],
            "ssh:port=22,user=debian ssh:port=22,user=extra x2go:session=XFCE"
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn cloud_init_without_users_keeps_shadow_users() {
        let g = MemGuest::new()
            .file("/etc/shadow", "admin:$6$a:1::::::\n")
            .file(
                "/etc/init/cloud-init.conf",
                "exec /usr/bin/cloud-init init\n",
            )
            .file("/etc/cloud/cloud.cfg", "users: []\n");
        let (meta, _) = collected(&mut with_sshd(g), LinuxFlavor::Generic);
        assert_eq!(meta["CLOUD_INIT"], "yes");
        assert!(!meta.contains_key("CLOUD_INIT_DEFAULT_USER"));
        assert_eq!(meta["USERS"], "admin");
    }

    #[test]
    fn kernel_and_network_manager() {
        let g = MemGuest::new()
            .file("/etc/shadow", "")
            .file("/boot/config-6.1.0-9-amd64", "")
            .file("/boot/config-6.1.0-10-amd64", "")
            .file(
                "/usr/lib/systemd/system/NetworkManager.service",
                "ExecStart=/usr/sbin/NetworkManager --no-daemon\n",
            )
            .symlink(
                &format!("{WANTS}/NetworkManager.service"),
                "/usr/lib/systemd/system/NetworkManager.service",
            );
        let (meta, _) = collected(&mut with_sshd(g), LinuxFlavor::Generic);
        assert_eq!(meta["KERNEL"], "6.1.0-10-amd64");
        assert_eq!(meta["NM_NETWORKING"], "yes");
        assert_eq!(meta["REMOTE_CONNECTION"], "ssh:port=22");
    }

    #[test]
    fn arch_kernel_from_pacman() {
        let mut g = MemGuest::new()
            .file("/etc/shadow", "")
            .dir("/var/lib/pacman/local/linux-6.6.7.arch1-1")
            .file("/boot/config-5.0.0", "");
        let (meta, _) = collected(&mut g, LinuxFlavor::Archlinux);
        assert_eq!(meta["KERNEL"], "6.6.7.arch1-1");
        let (meta, _) = collected(&mut g, LinuxFlavor::Generic);
        assert_eq!(meta["KERNEL"], "5.0.0");
    }
}
