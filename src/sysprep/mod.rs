//! System preparation ("sysprep"): the cleanup tasks that make every VM
//! started from the image fresh and leak nothing of the machine it came
//! from.
//!
//! A task is a row of a static per-OS-family table ([`Task`]); the Linux
//! table extends the Unix one the way the original's class chain does
//! ([`tasks_for`]). A file-level task does not touch the guest itself: it
//! *describes* its changes ([`Change`]: delete, truncate, rewrite) and the
//! runner ([`runner::run`]) applies them, or, for `--dry-run`, applies them
//! to an in-memory view of the guest ([`staged::Staged`]) and lists them
//! with the bytes they free. Both modes run the same task code. A
//! device-level task ([`Action::Device`]) works on the helper VM's disk
//! after the guest is unmounted (shrinking is one); it always comes last.

pub mod changes;
pub mod listing;
pub mod params;
pub mod runner;
pub mod staged;
mod util;

mod bsd;
mod linux;
mod lvm_uuids;
mod unix;
pub mod windows;

use std::time::Duration;

use anyhow::Result;

use crate::guest::appliance::Appliance;
use crate::guest::metadata::Metadata;
use crate::guest::profile::Profile;
use crate::guest::registry::{Hive, RegValue};
use crate::guest::{Guest, OsInfo};
use crate::process::UsageError;
use crate::progress::Reporter;
pub use params::{PARAMS, ParamKind, ParamSpec, Params};

/// One change a file-level task wants made to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Remove the path (recursively for a directory).
    Delete(String),
    /// Empty the regular file.
    Truncate(String),
    /// Replace the file's content (creating it, and its directory, when
    /// missing).
    Write(String, Vec<u8>),
    /// Set a Windows registry value, creating its key when missing.
    SetValue(RegSet),
}

/// A registry value a task wants set: where, and to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegSet {
    pub hive: Hive,
    /// The key below the hive's root (`CurrentControlSet\Control\…`).
    pub key: String,
    pub name: String,
    pub value: RegValue,
}

impl RegSet {
    /// The change setting `hive\key\name` to `value`.
    pub fn change(hive: Hive, key: &str, name: &str, value: RegValue) -> Change {
        Change::SetValue(RegSet {
            hive,
            key: key.to_owned(),
            name: name.to_owned(),
            value,
        })
    }
}

impl Change {
    /// The guest path the change is about.
    pub fn path(&self) -> &str {
        match self {
            Change::Delete(p) | Change::Truncate(p) | Change::Write(p, _) => p,
            Change::SetValue(set) => &set.key,
        }
    }
}

/// What a task runs with.
pub struct Ctx<'a> {
    /// The mounted guest (read-write), or its staged view in a dry run.
    pub guest: &'a mut dyn Guest,
    pub os: &'a OsInfo,
    pub params: &'a Params,
    /// The image metadata; tasks that change users update it.
    pub meta: &'a mut Metadata,
    pub reporter: &'a dyn Reporter,
}

/// What a device-level task runs with: the helper VM with nothing mounted.
pub struct DeviceCtx<'a> {
    pub vm: &'a Appliance,
    pub os: &'a OsInfo,
    pub params: &'a Params,
    pub meta: &'a mut Metadata,
    pub reporter: &'a dyn Reporter,
    /// True for `--dry-run`: say what would be done, change nothing.
    pub dry_run: bool,
    /// Set by `shrink`: what it did, which decides the exported size.
    pub shrunk: Option<crate::guest::shrink::ShrinkOutcome>,
}

/// Plan a file-level task's changes.
pub type PlanFn = fn(&mut Ctx<'_>) -> Result<Vec<Change>>;
/// Runs after a task's changes were applied (metadata re-collection).
pub type AfterFn = fn(&mut Ctx<'_>) -> Result<()>;
/// Run a device-level task; returns the bytes it saved.
pub type DeviceFn = fn(&mut DeviceCtx<'_>) -> Result<i64>;

/// How a task does its work.
#[derive(Clone, Copy)]
pub enum Action {
    /// Inside the read-write mount: plan changes, then an optional hook
    /// after they are applied.
    Files {
        plan: PlanFn,
        after: Option<AfterFn>,
    },
    /// After unmounting, on the disk itself.
    Device(DeviceFn),
    /// Inside the running guest, at first boot (Windows tasks that have no
    /// offline equivalent): the command the first-boot runner runs there.
    Online { command: &'static str },
}

/// One system preparation task: a row of an OS family's table.
#[derive(Clone, Copy)]
pub struct Task {
    /// Stable kebab-case name (`--enable-sysprep`, `--disable-sysprep`).
    pub name: &'static str,
    /// Shown while it runs: `(i/N) message`.
    pub message: &'static str,
    /// What it does, for `--print-syspreps`.
    pub description: &'static str,
    /// Whether it runs unless disabled.
    pub default: bool,
    /// The parameters ([`PARAMS`]) it reads.
    pub params: &'static [&'static str],
    pub action: Action,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The device-level tasks every Unix-like family ends with, after its
/// file-level tasks (shrinking the image goes here).
pub const FINAL: &[Task] = &[SHRINK];

/// Linux's device-level tasks: new LVM UUIDs, then shrinking.
pub const LINUX_FINAL: &[Task] = &[lvm_uuids::LVM_UUIDS, SHRINK];

/// Every table, for name lookups before the OS is known.
pub const TABLES: &[&[Task]] = &[
    unix::TASKS,
    linux::TASKS,
    bsd::TASKS,
    windows::TASKS,
    LINUX_FINAL,
];

/// The tasks for an OS profile, in the order they run.
pub fn tasks_for(profile: &Profile) -> Vec<&'static Task> {
    let layers: &[&[Task]] = match profile {
        Profile::Linux(_) => &[unix::TASKS, linux::TASKS, LINUX_FINAL],
        Profile::Bsd(_) => &[unix::TASKS, bsd::TASKS, FINAL],
        Profile::Hurd => &[unix::TASKS, FINAL],
        Profile::Windows => &[windows::TASKS, FINAL],
        Profile::Unsupported(_) => &[],
    };
    layers.iter().flat_map(|l| l.iter()).collect()
}

/// Which tasks the user switched on or off, checked against the tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
}

impl Selection {
    /// Check the names: unknown ones, or one both enabled and disabled, are
    /// refused (with the closest known name as a hint).
    pub fn new(enable: &[String], disable: &[String]) -> Result<Selection, UsageError> {
        let names: Vec<&str> = TABLES
            .iter()
            .flat_map(|t| t.iter().map(|t| t.name))
            .collect();
        for (flag, list) in [("--enable-sysprep", enable), ("--disable-sysprep", disable)] {
            for name in list {
                if !names.contains(&name.as_str()) {
                    let hint = closest(name, &names)
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default();
                    return Err(UsageError(format!(
                        "{flag} {name}: no such system preparation task{hint} (see --print-syspreps)"
                    )));
                }
            }
        }
        if let Some(both) = enable.iter().find(|n| disable.contains(n)) {
            return Err(UsageError(format!(
                "{both} is given to both --enable-sysprep and --disable-sysprep"
            )));
        }
        Ok(Selection {
            enable: enable.to_vec(),
            disable: disable.to_vec(),
        })
    }

    /// Whether a task runs.
    pub fn enabled(&self, task: &Task) -> bool {
        if self.disable.iter().any(|n| n == task.name) {
            false
        } else {
            task.default || self.enable.iter().any(|n| n == task.name)
        }
    }
}

/// Everything the user decided about system preparation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// False for `--no-sysprep`.
    pub run: bool,
    pub selection: Selection,
    pub params: Params,
    /// `--no-boot`: prepare offline only; tasks that must run inside the
    /// booted guest are skipped.
    pub no_boot: bool,
    pub print_tasks: bool,
    pub print_params: bool,
    /// List the changes, write nothing.
    pub dry_run: bool,
}

/// What one task did (or would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub name: &'static str,
    pub message: &'static str,
    pub changes: Vec<changes::Planned>,
    /// Bytes freed (negative when the task added data).
    pub freed: i64,
    pub duration: Duration,
}

/// The known name closest to `name` (edit distance at most a third of
/// its length, at least 2), if any.
pub fn closest<'a>(name: &str, names: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    names
        .iter()
        .map(|n| (edit_distance(&lower, &n.replace('-', "_")), *n))
        .filter(|(d, _)| *d <= (name.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// `shrink`, the last task of every table: make the last filesystem and
/// its partition as small as they can be, drop a trailing swap partition,
/// and cut the image after the new end ([`crate::guest::shrink`]). It runs
/// on the disk itself, after the guest is unmounted.
pub const SHRINK: Task = Task {
    name: "shrink",
    message: "Shrinking image (may take a while)",
    description: "Shrink the last filesystem (ext2/3/4, btrfs, NTFS) to its minimum plus \
                  headroom, resize its partition to fit (MBR, logical partitions and GPT, \
                  whose entries keep their type, GUID, name and attributes), remove a \
                  trailing swap partition (recorded as SWAP=<number>:<MiB> for snf-image \
                  to recreate it) and end the image after the last partition. Other \
                  filesystems are only trimmed after their partition.",
    default: true,
    params: &[],
    action: Action::Device(shrink),
};

/// Shrink, or in a dry run say that it would; returns the bytes saved.
fn shrink(cx: &mut DeviceCtx<'_>) -> Result<i64> {
    if cx.dry_run {
        cx.reporter
            .info("a real run shrinks the last filesystem and partition here");
        for line in crate::guest::lvm::shrink::dry_run_lines(cx.vm.handle())? {
            cx.reporter.info(&line);
        }
        return Ok(0);
    }
    let outcome = crate::guest::shrink::shrink(cx.vm, cx.reporter)?;
    cx.reporter.info(&outcome.size_line());
    let saved = i64::try_from(outcome.saved()).unwrap_or(i64::MAX);
    cx.shrunk = Some(outcome);
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::profile::{BsdFlavor, LinuxFlavor};

    fn is_kebab(s: &str) -> bool {
        !s.is_empty()
            && s.split('-').all(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    }

    #[test]
    fn registry_invariants() {
        let profiles = [
            Profile::Linux(LinuxFlavor::Generic),
            Profile::Linux(LinuxFlavor::Ubuntu),
            Profile::Bsd(BsdFlavor::FreeBsd),
            Profile::Hurd,
            Profile::Windows,
        ];
        for profile in profiles {
            let tasks = tasks_for(&profile);
            let mut names: Vec<&str> = tasks.iter().map(|t| t.name).collect();
            names.sort_unstable();
            let count = names.len();
            names.dedup();
            assert_eq!(names.len(), count, "duplicate task names for {profile:?}");
            for t in &tasks {
                assert!(is_kebab(t.name), "{} is not kebab-case", t.name);
                assert!(
                    !t.message.is_empty() && !t.description.is_empty(),
                    "{}",
                    t.name
                );
                assert!(!t.message.ends_with('.'), "{}", t.name);
                for p in t.params {
                    assert!(
                        params::spec(p).is_some(),
                        "{}: undeclared parameter {p}",
                        t.name
                    );
                }
            }
            // Device-level tasks (shrink) come after every file-level task.
            let first_device = tasks
                .iter()
                .position(|t| matches!(t.action, Action::Device(_)));
            if let Some(i) = first_device {
                assert!(
                    tasks[i..]
                        .iter()
                        .all(|t| matches!(t.action, Action::Device(_)))
                );
            }
        }
        for p in PARAMS {
            assert!(p.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            let used = TABLES
                .iter()
                .flat_map(|t| t.iter())
                .any(|t| t.params.contains(&p.name));
            assert!(used, "parameter {} is read by no task", p.name);
        }
    }

    #[test]
    fn linux_extends_unix() {
        let linux = tasks_for(&Profile::Linux(LinuxFlavor::Generic));
        let unix: Vec<&str> = unix::TASKS.iter().map(|t| t.name).collect();
        let first: Vec<&str> = linux.iter().take(unix.len()).map(|t| t.name).collect();
        assert_eq!(first, unix);
        assert!(linux.len() > unix.len());
        let windows = tasks_for(&Profile::Windows);
        assert_eq!(windows.last().map(|t| t.name), Some("shrink"));
        assert!(windows.iter().all(|t| !unix.contains(&t.name)));
    }

    #[test]
    fn selection() {
        let s = Selection::new(&["cleanup-mail".into()], &["cleanup-log".into()]).unwrap();
        let by = |n: &str| {
            TABLES
                .iter()
                .flat_map(|t| t.iter())
                .find(|t| t.name == n)
                .unwrap()
        };
        assert!(s.enabled(by("cleanup-mail")));
        assert!(!s.enabled(by("cleanup-log")));
        assert!(s.enabled(by("cleanup-tmp")));
        assert!(!s.enabled(by("remove-user-accounts")));
        let err = Selection::new(&["cleanup-logs".into()], &[]).unwrap_err().0;
        assert!(err.contains("did you mean `cleanup-log`"), "{err}");
        let err = Selection::new(&[], &["zzzz".into()]).unwrap_err().0;
        assert!(err.contains("no such system preparation task") && !err.contains("mean"));
        assert!(Selection::new(&["cleanup-tmp".into()], &["cleanup-tmp".into()]).is_err());
    }

    #[test]
    fn closest_names() {
        let names = ["cleanup-log", "cleanup-tmp", "bootmenu_timeout"];
        assert_eq!(closest("cleanup-lgo", &names), Some("cleanup-log"));
        assert_eq!(
            closest("BOOTMENU_TIMEOUT", &names),
            Some("bootmenu_timeout")
        );
        assert_eq!(closest("something-else", &names), None);
    }
}
