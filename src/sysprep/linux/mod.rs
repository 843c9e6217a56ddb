//! The Linux table: the original's `distro/linux.py` tasks (develop branch
//! included, with the bugs of its §11.4 fixed) followed by the tasks modern
//! systems need (SSH host keys, cloud-init state, MAC pinning in netplan,
//! systemd-networkd and ifupdown, leases, the journal, the random seed…).
//! Linux guests run the Unix table first, then this one.

mod boot;
mod cloud_init;
mod network;
pub(super) mod state;
mod users;

use super::{Action, Task};

const fn files(plan: super::PlanFn) -> Action {
    Action::Files { plan, after: None }
}

/// The Linux tasks, in the order they run (after the Unix ones).
pub const TASKS: &[Task] = &[
    Task {
        name: "remove-user-accounts",
        message: "Removing user accounts with id in the regular range",
        description: "Remove every account whose UID is in the regular range of \
                      /etc/login.defs (UID_MIN..UID_MAX, 1000..60000 by default; nobody \
                      stays) from /etc/passwd, /etc/shadow, /etc/subuid and /etc/subgid, \
                      their private groups and memberships from /etc/group and \
                      /etc/gshadow, their home directories under /home and their \
                      mailboxes; USERS loses them.",
        default: false,
        params: &[],
        action: files(users::remove_user_accounts),
    },
    Task {
        name: "rename-default-cloud-init-user",
        message: "Renaming the default cloud-init user",
        description: "Set the name of cloud-init's default user (system_info.default_user.name) \
                      to the default_user parameter in every configuration file that defines \
                      it, keeping the old file as FILE.bak; re-collects CLOUD_INIT_DEFAULT_USER \
                      and USERS.",
        default: false,
        params: &["default_user"],
        action: Action::Files {
            plan: cloud_init::rename_default_user,
            after: Some(cloud_init::recollect),
        },
    },
    Task {
        name: "enable-root-in-cloud-init",
        message: "Enabling root in cloud-init",
        description: "Make cloud-init keep root usable (disable_root: false) and create it \
                      (root added to users), in \
                      /etc/cloud/cloud.cfg.d/60_snf-image-creator-EnableRoot.cfg; \
                      re-collects USERS.",
        default: false,
        params: &[],
        action: Action::Files {
            plan: cloud_init::enable_root,
            after: Some(cloud_init::recollect),
        },
    },
    Task {
        name: "cleanup-passwords",
        message: "Locking the passwords of every account",
        description: "Replace every password hash in /etc/shadow with `!` (accounts stay, \
                      passwords go; snf-image sets new ones at deployment) and delete \
                      /etc/shadow-.",
        default: true,
        params: &[],
        action: files(users::cleanup_passwords),
    },
    Task {
        name: "fix-acpid",
        message: "Making the ACPI power button shut the machine down",
        description: "Point the action of acpid's power-button event (/etc/acpi/events) at \
                      the powerbtn_action parameter, so that the cloud can shut the VM down.",
        default: true,
        params: &["powerbtn_action"],
        action: files(state::fix_acpid),
    },
    Task {
        name: "remove-persistent-net-rules",
        message: "Removing persistent network interface names",
        description: "Delete /etc/udev/rules.d/70-persistent-net.rules, which pins interface \
                      names to the MAC addresses of the source machine.",
        default: true,
        params: &[],
        action: files(network::remove_persistent_net_rules),
    },
    Task {
        name: "remove-swap-entry",
        message: "Removing swap entries from /etc/fstab",
        description: "Remove the swap entries of /etc/fstab. Disable this when swap is not \
                      the last partition or the image is not shrunk.",
        default: true,
        params: &[],
        action: files(boot::remove_swap_entry),
    },
    Task {
        name: "change-bootmenu-timeout",
        message: "Setting the boot menu timeout",
        description: "Set the boot menu timeout to the bootmenu_timeout parameter in \
                      /etc/default/grub, GRUB 2's grub.cfg, GRUB legacy's menu.lst and \
                      every syslinux/extlinux configuration.",
        default: true,
        params: &["bootmenu_timeout"],
        action: files(boot::change_bootmenu_timeout),
    },
    Task {
        name: "use-persistent-block-device-names",
        message: "Replacing non-persistent block device names",
        description: "Replace /dev/[hsv]dXN names with UUID= in /etc/fstab (commenting out \
                      entries whose filesystem cannot be found), in root=/resume= of GRUB 2, \
                      /etc/default/grub, GRUB legacy and syslinux, and in the initramfs \
                      RESUME setting.",
        default: true,
        params: &[],
        action: files(boot::persistent_block_names),
    },
    Task {
        name: "disable-ipv6-privacy-extensions",
        message: "Disabling IPv6 privacy extensions",
        description: "Set net.ipv6.conf.{default,all}.use_tempaddr to 0 where /etc/sysctl.conf \
                      or /etc/sysctl.d sets them, else in /etc/sysctl.conf, so the VM keeps \
                      the address the cloud assigned.",
        default: true,
        params: &[],
        action: files(network::disable_ipv6_privacy),
    },
    Task {
        name: "disable-predictable-network-interface-naming",
        message: "Disabling predictable network interface naming",
        description: "Add net.ifnames=0 to the kernel command line (GRUB 2, syslinux, \
                      GRUB_CMDLINE_LINUX; an existing net.ifnames= is rewritten), so the \
                      first interface is eth0 on every hypervisor.",
        default: true,
        params: &[],
        action: files(boot::disable_ifnames),
    },
    Task {
        name: "disable-serial-console",
        message: "Disabling the serial console",
        description: "Remove console=ttyS*, console=ttyU* and serial earlyprintk= from the \
                      kernel command lines (GRUB 2, syslinux, /etc/default/grub).",
        default: true,
        params: &[],
        action: files(boot::disable_serial_console),
    },
    Task {
        name: "clear-local-machine-id-configuration-file",
        message: "Clearing the local machine ID configuration file",
        description: "Empty /etc/machine-id and /var/lib/dbus/machine-id, so that each VM \
                      gets its own machine ID on first boot.",
        default: true,
        params: &[],
        action: files(state::clear_machine_id),
    },
    Task {
        name: "remove-networkmanager-system-connections",
        message: "Removing NetworkManager system connections",
        description: "Delete the connection profiles in /etc/NetworkManager/system-connections.",
        default: true,
        params: &[],
        action: files(network::remove_nm_connections),
    },
    Task {
        name: "remove-ssh-host-keys",
        message: "Removing the SSH host keys",
        description: "Delete /etc/ssh/ssh_host_*_key and their .pub, so that every VM makes \
                      its own (cloud-init or the distribution's sshd-keygen does at boot).",
        default: true,
        params: &[],
        action: files(state::remove_ssh_host_keys),
    },
    Task {
        name: "cleanup-cloud-init-state",
        message: "Removing cloud-init instance state",
        description: "Delete everything in /var/lib/cloud except seed/ (instances, the \
                      instance link, data, semaphores), so cloud-init treats the first boot \
                      as a new instance (and regenerates SSH host keys).",
        default: true,
        params: &[],
        action: files(cloud_init::cleanup_state),
    },
    Task {
        name: "remove-network-mac-pinning",
        message: "Removing MAC addresses from the network configuration",
        description: "Drop MAC matches from netplan (match: macaddress, with set-name), \
                      systemd-networkd .network files (MACAddress=) and .link files, \
                      ifupdown (hwaddress) and ifcfg (HWADDR=, MACADDR=).",
        default: true,
        params: &[],
        action: files(network::remove_mac_pinning),
    },
    Task {
        name: "cleanup-dhcp-leases",
        message: "Removing DHCP leases",
        description: "Delete the lease files of dhclient, dhcpcd, NetworkManager, wicked and \
                      systemd-networkd.",
        default: true,
        params: &[],
        action: files(network::cleanup_dhcp_leases),
    },
    Task {
        name: "cleanup-journal",
        message: "Removing the systemd journal",
        description: "Delete the binary journal files under /var/log/journal (cleanup-log \
                      leaves them, since an emptied journal file is a corrupt one).",
        default: true,
        params: &[],
        action: files(state::cleanup_journal),
    },
    Task {
        name: "remove-random-seed",
        message: "Removing the saved random seed",
        description: "Delete the random seed saved at shutdown (/var/lib/systemd/random-seed, \
                      /var/lib/urandom/random-seed), so that VMs do not start from the same \
                      entropy.",
        default: true,
        params: &[],
        action: files(state::remove_random_seed),
    },
    Task {
        name: "remove-passwd-backups",
        message: "Removing backups of the account files",
        description: "Delete /etc/passwd-, shadow-, group-, gshadow-, subuid- and subgid-, \
                      which hold the old password hashes.",
        default: true,
        params: &[],
        action: files(users::remove_passwd_backups),
    },
    Task {
        name: "cleanup-package-cache",
        message: "Removing package manager caches",
        description: "Delete downloaded packages and cache indexes of apt, dnf, yum, zypper \
                      and pacman (mostly done by cleanup-cache already, when it runs).",
        default: true,
        params: &[],
        action: files(state::cleanup_package_cache),
    },
    Task {
        name: "cleanup-crash-dumps",
        message: "Removing crash dumps",
        description: "Delete crash reports and core dumps in /var/crash, \
                      /var/lib/systemd/coredump, /var/spool/abrt and /var/lib/apport/coredump.",
        default: true,
        params: &[],
        action: files(state::cleanup_crash_dumps),
    },
    Task {
        name: "remove-hostname-from-hosts",
        message: "Removing the hostname from /etc/hosts",
        description: "Remove the names of /etc/hostname from /etc/hosts (a line left without \
                      names goes); the new VM's hostname is added at boot.",
        default: true,
        params: &[],
        action: files(network::remove_hostname_from_hosts),
    },
    Task {
        name: "remove-blkid-tab",
        message: "Removing the blkid cache",
        description: "Delete /etc/blkid.tab and /etc/blkid/blkid.tab.",
        default: true,
        params: &[],
        action: files(state::remove_blkid_tab),
    },
    Task {
        name: "remove-lvm-system-devices",
        message: "Removing the LVM devices file",
        description: "Delete /etc/lvm/devices/system.devices, whose device IDs change on a \
                      copy and make LVM ignore the disk.",
        default: true,
        params: &[],
        action: files(state::remove_lvm_system_devices),
    },
    Task {
        name: "cleanup-cron-spool",
        message: "Removing user cron and at jobs",
        description: "Delete the user crontabs and at jobs in /var/spool/cron and \
                      /var/spool/at (off: they may be part of what the image is for).",
        default: false,
        params: &[],
        action: files(state::cleanup_cron_spool),
    },
    Task {
        name: "add-root-authorized-keys",
        message: "Installing root's authorized SSH keys",
        description: "Write the file named by the authorized_keys parameter to \
                      /root/.ssh/authorized_keys (runs after cleanup-userdata).",
        default: false,
        params: &["authorized_keys"],
        action: files(state::add_root_authorized_keys),
    },
];
