//! The Windows task table. A task is offline wherever a documented
//! registry value or file change has the effect of the original's in-guest
//! command: it then runs in the helper VM like a Linux task, its registry
//! edits being [`Change::SetValue`] rows the runner applies or lists. Only
//! what must run inside Windows is online ([`Action::Online`]): the row
//! carries the command the first-boot runner runs there.
//!
//! Windows paths are matched without case, as Windows does, while the
//! helper VM's NTFS driver compares names exactly ([`find_ci`]).

mod cleanup;
pub mod kms;
mod network;
pub mod virtio;

use anyhow::Result;

use super::runner::registry;
use super::{Action, Change, Ctx, Task, util};
use crate::guest::{EntryKind, Guest};

/// The parameters of the online phase (the VM that boots the guest).
const BOOT_PARAMS: &[&str] = &["mem", "smp", "boot_timeout", "shutdown_timeout"];

/// Every Windows task, in the order they run (`shrink` follows, from
/// [`super::FINAL`]).
pub const TASKS: &[Task] = &[
    network::UTC,
    network::DISABLE_TEREDO,
    network::DISABLE_ISATAP,
    network::ENABLE_PINGS,
    cleanup::REMOVE_SWAP_FILES,
    cleanup::CLEANUP_TEMP,
    cleanup::REMOVE_CRASH_DUMPS,
    cleanup::CLEAR_LOGS,
    cleanup::CLEANUP_UPDATE_CACHE,
    virtio::INSTALL_VIRTIO,
    DISABLE_IPV6_PRIVACY_EXTENSIONS,
    KMS_CLIENT_SETUP,
    MICROSOFT_SYSPREP,
];

/// Online: the setting lives in the NSI store, in binary records with no
/// documented registry form.
const DISABLE_IPV6_PRIVACY_EXTENSIONS: Task = Task {
    name: "disable-ipv6-privacy-extensions",
    message: "Disabling IPv6 privacy extensions",
    description: "Make IPv6 interface identifiers follow the MAC address instead of \
                  being random (online, at first boot: `netsh interface ipv6 set global \
                  randomizeidentifiers=disabled store=persistent`; Windows keeps this \
                  setting in binary NSI records that have no documented offline form).",
    default: true,
    params: BOOT_PARAMS,
    action: Action::Online {
        command: "netsh interface ipv6 set global randomizeidentifiers=disabled store=persistent",
    },
};

const KMS_CLIENT_SETUP: Task = Task {
    name: "kms-client-setup",
    message: "Installing the KMS client setup key",
    description: "Install the public KMS client setup key of the guest's edition, so that \
                  VMs activate against a KMS host (online, at first boot: \
                  `cscript //nologo %SystemRoot%\\System32\\slmgr.vbs /ipk KEY`, KEY from \
                  Microsoft's table of public client keys by product name; product keys are \
                  installed through the Software Licensing service only). A retail or \
                  evaluation edition has no such key: the run stops before the boot.",
    default: false,
    params: BOOT_PARAMS,
    action: Action::Online {
        command: "cscript //nologo %SystemRoot%\\System32\\slmgr.vbs /ipk {kms_key}",
    },
};

/// Generalizes the image; the only task whose run makes it fit for
/// many VMs, so its absence is told (see the pipeline's conclusion).
pub const MICROSOFT_SYSPREP: Task = Task {
    name: "microsoft-sysprep",
    message: "Generalizing the image with Microsoft's System Preparation Tool",
    description: "Run Microsoft's System Preparation Tool, which removes the machine's \
                  identity (SID, computer name, activation state) and makes VMs run the \
                  out-of-box experience at their first boot (online, always the last \
                  in-guest task: `%SystemRoot%\\System32\\Sysprep\\sysprep.exe /quiet \
                  /generalize /oobe /quit`: the first-boot runner reports its end and powers \
                  the guest off itself; afterwards ImageState is no longer \
                  IMAGE_STATE_COMPLETE).",
    default: true,
    params: BOOT_PARAMS,
    action: Action::Online {
        command: "%SystemRoot%\\System32\\Sysprep\\sysprep.exe /quiet /generalize /oobe /quit",
    },
};

/// The guest's path for `path` (`/Windows/Temp`) whose components are
/// matched without case, or `None` when something on the way is missing.
pub fn find_ci(g: &mut dyn Guest, path: &str) -> Result<Option<String>> {
    let mut found = String::from("/");
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !util::is_dir(g, &found)? {
            return Ok(None);
        }
        let name = g
            .read_dir(&found)?
            .into_iter()
            .map(|(n, _)| n)
            .find(|n| n.eq_ignore_ascii_case(part));
        let Some(name) = name else {
            return Ok(None);
        };
        found = util::join(&found, &name);
    }
    Ok(Some(found))
}

/// The entries directly in the directory `dir` (matched without case)
/// that `wanted` accepts by name and kind, as deletions.
fn delete_in(
    cx: &mut Ctx<'_>,
    dir: &str,
    wanted: impl Fn(&str, EntryKind) -> bool,
) -> Result<Vec<Change>> {
    match find_ci(cx.guest, dir)? {
        Some(dir) => util::delete_children(cx.guest, &dir, wanted),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
pub(crate) mod tests;
