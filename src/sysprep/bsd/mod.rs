//! The BSD table (FreeBSD, OpenBSD, NetBSD): the original's
//! `cleanup-password` (with the password databases made safe at boot),
//! then what every BSD VM must not share with its siblings: SSH host keys,
//! DHCP leases and DUIDs, the host ID, saved entropy, crash dumps and
//! package caches. BSD guests run the Unix table first (caches, /tmp, logs
//! such as utx.log and wtmp, mail, shell histories such as `.sh_history`
//! and `.history`), then this one.

mod tasks;
#[cfg(test)]
mod tests;

use super::{Action, Task};

const fn files(plan: super::PlanFn) -> Action {
    Action::Files { plan, after: None }
}

/// The BSD tasks, in the order they run (after the Unix ones).
pub const TASKS: &[Task] = &[
    Task {
        name: "cleanup-password",
        message: "Locking the passwords of every account",
        description: "Lock every usable password in /etc/master.passwd (FreeBSD and NetBSD: \
                      *LOCKED*, OpenBSD: *; the hash goes), delete /etc/spwd.db (the hashed \
                      database) and have the first boot rebuild the databases with \
                      pwd_mkdb (/etc/rc.local; OpenBSD: /etc/rc.firsttime).",
        default: true,
        params: &[],
        action: files(tasks::cleanup_password),
    },
    Task {
        name: "remove-ssh-host-keys",
        message: "Removing the SSH host keys",
        description: "Delete /etc/ssh/ssh_host_*_key and their .pub; sshd's rc script makes \
                      new ones at the first boot.",
        default: true,
        params: &[],
        action: files(super::linux::state::remove_ssh_host_keys),
    },
    Task {
        name: "cleanup-dhcp-leases",
        message: "Removing DHCP leases",
        description: "Delete dhclient's /var/db/dhclient.leases.*, OpenBSD dhcpleased's \
                      /var/db/dhcpleased/* and dhcpcd's leases and DUID in /var/db/dhcpcd.",
        default: true,
        params: &[],
        action: files(tasks::cleanup_dhcp_leases),
    },
    Task {
        name: "remove-host-id",
        message: "Removing the host ID",
        description: "Delete /etc/hostid and /etc/machine-id (FreeBSD makes new ones at boot).",
        default: true,
        params: &[],
        action: files(tasks::remove_host_id),
    },
    Task {
        name: "remove-entropy-seeds",
        message: "Removing saved entropy",
        description: "Delete the entropy saved at shutdown (/boot/entropy, /var/db/entropy/*, \
                      OpenBSD's /etc/random.seed and /var/db/host.random, NetBSD's \
                      /var/db/entropy-file), so that VMs do not start from the same seed.",
        default: true,
        params: &[],
        action: files(tasks::remove_entropy_seeds),
    },
    Task {
        name: "cleanup-crash-dumps",
        message: "Removing crash dumps",
        description: "Delete the kernel dumps savecore left in /var/crash (minfree stays).",
        default: true,
        params: &[],
        action: files(tasks::cleanup_crash_dumps),
    },
    Task {
        name: "cleanup-package-cache",
        message: "Removing package manager caches",
        description: "Delete downloaded packages: FreeBSD pkg's /var/cache/pkg (cleanup-cache \
                      does it too, when it runs) and NetBSD pkgin's /var/db/pkgin/cache.",
        default: true,
        params: &[],
        action: files(tasks::cleanup_package_cache),
    },
];
