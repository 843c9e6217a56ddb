//! The offline clean-ups: files Windows recreates or never needs again.

use anyhow::Result;

use super::super::{Action, Change, Ctx, Task};
use super::{delete_in, find_ci};
use crate::guest::EntryKind;

const fn files(plan: super::super::PlanFn) -> Action {
    Action::Files { plan, after: None }
}

pub const REMOVE_SWAP_FILES: Task = Task {
    name: "remove-swap-files",
    message: "Removing the page, hibernation and swap files",
    description: "Remove pagefile.sys, hiberfil.sys and swapfile.sys from the root of the \
                  system drive; Windows recreates them at boot.",
    default: true,
    params: &[],
    action: files(swap_files),
};

fn swap_files(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    const NAMES: [&str; 3] = ["pagefile.sys", "hiberfil.sys", "swapfile.sys"];
    delete_in(cx, "/", |name, kind| {
        kind == EntryKind::File && NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
    })
}

pub const CLEANUP_TEMP: Task = Task {
    name: "cleanup-temp",
    message: "Emptying the temporary folders",
    description: "Remove everything in Windows\\Temp and in every user's \
                  AppData\\Local\\Temp.",
    default: true,
    params: &[],
    action: files(temp),
};

fn temp(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = delete_in(cx, "/Windows/Temp", |_, _| true)?;
    if let Some(users) = find_ci(cx.guest, "/Users")? {
        for (name, kind) in cx.guest.read_dir(&users)? {
            if kind == EntryKind::Dir {
                let dir = format!("{users}/{name}/AppData/Local/Temp");
                changes.extend(delete_in(cx, &dir, |_, _| true)?);
            }
        }
    }
    Ok(changes)
}

pub const REMOVE_CRASH_DUMPS: Task = Task {
    name: "remove-crash-dumps",
    message: "Removing crash dumps",
    description: "Remove the kernel's crash dumps: Windows\\MEMORY.DMP and everything in \
                  Windows\\Minidump.",
    default: true,
    params: &[],
    action: files(crash_dumps),
};

fn crash_dumps(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = delete_in(cx, "/Windows", |name, kind| {
        kind == EntryKind::File && name.eq_ignore_ascii_case("MEMORY.DMP")
    })?;
    changes.extend(delete_in(cx, "/Windows/Minidump", |_, _| true)?);
    Ok(changes)
}

pub const CLEAR_LOGS: Task = Task {
    name: "clear-logs",
    message: "Clearing the event logs",
    description: "Clear every event log (offline: remove Windows\\System32\\winevt\\Logs\\*.evtx, \
                  which the Event Log service recreates empty; the original ran \
                  `wevtutil cl` on each log inside the guest).",
    default: true,
    params: &[],
    action: files(event_logs),
};

fn event_logs(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_in(cx, "/Windows/System32/winevt/Logs", |name, kind| {
        kind == EntryKind::File && name.to_ascii_lowercase().ends_with(".evtx")
    })
}

pub const CLEANUP_UPDATE_CACHE: Task = Task {
    name: "cleanup-update-cache",
    message: "Removing the Windows Update download cache",
    description: "Remove everything in Windows\\SoftwareDistribution\\Download (updates \
                  already installed or to be downloaded again).",
    default: true,
    params: &[],
    action: files(update_cache),
};

fn update_cache(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_in(cx, "/Windows/SoftwareDistribution/Download", |_, _| true)
}
