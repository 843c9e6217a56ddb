//! Running the tasks: each enabled file-level task plans its changes on the
//! guest (or, in a dry run, on a [`Staged`] view of it), the runner drops
//! the changes that would change nothing, measures the bytes each frees
//! and applies them, then the device-level tasks run on the unmounted disk.
//! Each task is one `(i/N) message` step.

use std::time::Instant;

use anyhow::{Context, Result};

use super::changes::{Planned, summary};
use super::staged::Staged;
use super::{Action, Change, Ctx, DeviceCtx, Options, Task, TaskOutcome, util};
use crate::guest::appliance::Appliance;
use crate::guest::metadata::Metadata;
use crate::guest::registry::{Registry, display_path};
use crate::guest::shrink::ShrinkOutcome;
use crate::guest::{EntryKind, Guest, OsInfo};
use crate::progress::{Reporter, begin_step};

/// The tasks that will run, in order.
pub fn enabled<'t>(tasks: &[&'t Task], opts: &Options) -> Vec<&'t Task> {
    tasks
        .iter()
        .copied()
        .filter(|t| {
            // `--no-sysprep` runs only what is named with --enable-sysprep
            // (`--no-sysprep --enable-sysprep shrink`: shrink alone).
            if opts.run {
                opts.selection.enabled(t)
            } else {
                opts.selection.enable.iter().any(|n| n == t.name)
            }
        })
        .collect()
}

/// Run the file-level tasks of `enabled` on the mounted guest.
pub fn run_files(
    enabled: &[&Task],
    opts: &Options,
    guest: &mut dyn Guest,
    os: &OsInfo,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<Vec<TaskOutcome>> {
    let mut staged;
    let guest: &mut dyn Guest = if opts.dry_run {
        staged = Staged::new(guest);
        &mut staged
    } else {
        guest
    };
    let mut cx = Ctx {
        guest,
        os,
        params: &opts.params,
        meta,
        reporter,
    };
    let mut outcomes = Vec::new();
    for (i, task) in enabled.iter().enumerate() {
        let (plan, after) = match task.action {
            Action::Files { plan, after } => (plan, after),
            Action::Online { .. } => {
                let title = format!("({}/{}) {}", i + 1, enabled.len(), task.message);
                offline_pass_of_online(task, &title, opts, reporter);
                continue;
            }
            Action::Device(_) => continue,
        };
        let title = format!("({}/{}) {}", i + 1, enabled.len(), task.message);
        let step = begin_step(reporter, &title, None);
        let start = Instant::now();
        let changes = plan(&mut cx).with_context(|| format!("{}: planning", task.name))?;
        let changes = apply(cx.guest, changes, opts.dry_run)
            .with_context(|| format!("{}: applying", task.name))?;
        if let Some(after) = after {
            after(&mut cx).with_context(|| format!("{}: updating the metadata", task.name))?;
        }
        let outcome = TaskOutcome {
            name: task.name,
            message: task.message,
            freed: changes.iter().map(|c| c.bytes).sum(),
            changes,
            duration: start.elapsed(),
        };
        step.done(summary(&outcome, opts.dry_run));
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// What the offline pass does with a task that runs inside the guest:
/// with `--no-boot`, one warning (it does not run); in a dry run, its step
/// says it would run there; otherwise nothing, as the online phase runs
/// it after the offline tasks.
fn offline_pass_of_online(task: &Task, title: &str, opts: &Options, reporter: &dyn Reporter) {
    if opts.no_boot {
        reporter.warn(&format!(
            "{}: runs inside the running guest, which --no-boot does not boot; not run",
            task.name
        ));
    } else if opts.dry_run {
        begin_step(reporter, title, None).done("would run inside the guest");
    }
}

/// Run the device-level tasks of `enabled` (the guest is unmounted).
pub fn run_devices(
    enabled: &[&Task],
    opts: &Options,
    vm: &Appliance,
    os: &OsInfo,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<(Vec<TaskOutcome>, Option<ShrinkOutcome>)> {
    let mut cx = DeviceCtx {
        vm,
        os,
        params: &opts.params,
        meta,
        reporter,
        dry_run: opts.dry_run,
        shrunk: None,
    };
    let mut outcomes = Vec::new();
    for (i, task) in enabled.iter().enumerate() {
        let Action::Device(run) = task.action else {
            continue;
        };
        let title = format!("({}/{}) {}", i + 1, enabled.len(), task.message);
        let step = begin_step(reporter, &title, None);
        let start = Instant::now();
        let saved = run(&mut cx).with_context(|| task.name.to_owned())?;
        step.done("done");
        outcomes.push(TaskOutcome {
            name: task.name,
            message: task.message,
            changes: Vec::new(),
            freed: saved,
            duration: start.elapsed(),
        });
    }
    Ok((outcomes, cx.shrunk))
}

/// Apply the changes that change something, and say what each freed.
/// Registry values are only read in a dry run (the guest's registry is
/// not staged), and written to the hives after the task's last change.
fn apply(g: &mut dyn Guest, changes: Vec<Change>, dry_run: bool) -> Result<Vec<Planned>> {
    let mut done = Vec::new();
    for change in changes {
        let Some(planned) = measure(g, &change)? else {
            continue;
        };
        match &change {
            Change::SetValue(_) if dry_run => {}
            Change::SetValue(set) => {
                registry(g)?.set_value(set.hive, &set.key, &set.name, &set.value)?
            }
            Change::Delete(p) => g.remove_all(p)?,
            Change::Truncate(p) => g.truncate(p)?,
            Change::Write(p, content) => {
                let parent = p
                    .rsplit_once('/')
                    .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
                if !util::is_dir(g, parent)? {
                    g.mkdir_p(parent)?;
                }
                g.write(p, content)?;
            }
        }
        done.push(planned);
    }
    if let Some(reg) = g.registry() {
        reg.commit()?;
    }
    Ok(done)
}

/// The guest's registry, for a task that reads or changes it.
pub(super) fn registry(g: &mut dyn Guest) -> Result<&mut dyn Registry> {
    g.registry()
        .context("this guest has no Windows registry to change")
}

/// What a change would free, or `None` when it would change nothing.
fn measure(g: &mut dyn Guest, change: &Change) -> Result<Option<Planned>> {
    let planned = |action, path: &str, bytes| {
        Some(Planned {
            action,
            path: path.to_owned(),
            bytes,
        })
    };
    Ok(match change {
        Change::Delete(p) => match util::entry_kind(g, p)? {
            None => None,
            Some(EntryKind::Dir) => {
                let files: u64 = g
                    .find(p)?
                    .iter()
                    .filter(|e| e.kind == EntryKind::File)
                    .map(|e| e.size)
                    .sum();
                planned("delete", p, files as i64)
            }
            Some(_) => planned("delete", p, g.size(p)? as i64),
        },
        Change::Truncate(p) => match util::is_file(g, p)? {
            true => match g.size(p)? {
                0 => None,
                n => planned("truncate", p, n as i64),
            },
            false => None,
        },
        Change::Write(p, content) => {
            // Only a file of the same size can hold the same bytes: a big
            // guest file is never read just to be compared.
            let old_size = match util::is_file(g, p)? {
                true => Some(g.file_size(p)?),
                false => None,
            };
            let same = old_size == Some(content.len() as u64) && g.read_file(p)? == *content;
            match old_size {
                _ if same => None,
                old => planned(
                    "write",
                    p,
                    old.map_or(0, |o| o as i64) - content.len() as i64,
                ),
            }
        }
        Change::SetValue(set) => {
            let old = registry(g)?.value(set.hive, &set.key, &set.name)?;
            let path = display_path(set.hive, &set.key, Some(&set.name));
            match old {
                Some(old) if old == set.value => None,
                _ => planned("set", &format!("{path} = {}", set.value), 0),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::RecordingReporter;

    fn noop_plan(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
        Ok(vec![
            Change::Delete("/tmp/d".into()),
            Change::Delete("/tmp/missing".into()),
            Change::Truncate("/var/log/empty".into()),
            Change::Truncate("/var/log/syslog".into()),
            Change::Write("/etc/same".into(), cx.guest.read_file("/etc/same")?),
            Change::Write("/etc/new/file".into(), b"abc".to_vec()),
        ])
    }

    const TASK: Task = Task {
        name: "test-task",
        message: "Testing",
        description: "A test.",
        default: true,
        params: &[],
        action: Action::Files {
            plan: noop_plan,
            after: None,
        },
    };

    fn guest() -> MemGuest {
        MemGuest::new()
            .file("/tmp/d/a", "12345")
            .file("/tmp/d/b", "678")
            .file("/var/log/empty", "")
            .file("/var/log/syslog", "0123456789")
            .file("/etc/same", "s")
    }

    fn run_on(g: &mut MemGuest, dry_run: bool) -> Vec<TaskOutcome> {
        let opts = Options {
            run: true,
            dry_run,
            ..Options::default()
        };
        let r = RecordingReporter::default();
        let os = OsInfo::default();
        let mut meta = Metadata::new();
        run_files(&[&TASK], &opts, g, &os, &mut meta, &r).unwrap()
    }

    #[test]
    fn dry_run_lists_what_a_real_run_does() {
        let mut g = guest();
        let dry = run_on(&mut g, true);
        assert_eq!(g.paths(), guest().paths(), "a dry run changed the guest");
        let real = run_on(&mut g, false);
        assert_eq!(dry[0].changes, real[0].changes);
        let paths: Vec<&str> = real[0].changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/tmp/d", "/var/log/syslog", "/etc/new/file"]);
        assert_eq!(real[0].freed, 8 + 10 - 3);
        assert!(!g.exists("/tmp/d").unwrap());
        assert_eq!(g.contents("/etc/new/file"), Some(&b"abc"[..]));
        assert_eq!(g.size("/var/log/syslog").unwrap(), 0);
    }
}
