//! The secret scan step: inside the helper VM, after system preparation
//! (so only what survives it is found), one read-only pass over the guest
//! ([`crate::guest::secrets`]). A run with findings does not upload or
//! register the image unless `--allow-secrets` is given; a local export
//! goes on, with the findings as warnings.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::guest::OsInfo;
use crate::guest::appliance::Appliance;
use crate::guest::secrets::{self, Finding};
use crate::plan::{Plan, Work};
use crate::progress::{Event, Reporter, begin_step};
use crate::sysprep::TaskOutcome;

/// A `.report.json` larger than this is not one the product wrote.
const REPORT_LIMIT: usize = 16 * 1024 * 1024;

/// Findings stop an upload: exit 1, one line.
#[derive(Debug)]
pub struct SecretsFound {
    pub count: usize,
}

impl std::fmt::Display for SecretsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, them) = if self.count == 1 {
            ("", "it")
        } else {
            ("s", "them")
        };
        write!(
            f,
            "the image holds {} secret{s} (listed above): remove {them} (e.g. with --host-run), or give --allow-secrets to upload it anyway",
            self.count
        )
    }
}

impl std::error::Error for SecretsFound {}

/// Scan the prepared guest, when the run exports it or lists what a dry
/// run would change.
pub(super) fn scan(
    vm: &mut Appliance,
    os: &OsInfo,
    plan: &Plan,
    tasks: &[TaskOutcome],
    reporter: &dyn Reporter,
) -> Result<Vec<Finding>> {
    let dry_run = match plan.work {
        Work::Export { .. } => false,
        Work::DryRun => true,
        Work::Inspect | Work::Mount { .. } => return Ok(Vec::new()),
    };
    let step = begin_step(reporter, "Scanning for secrets", None);
    vm.mount(os, true, reporter)?;
    let scanned = secrets::scan(vm);
    vm.umount_all()?;
    let scan = scanned?;
    let mut findings = scan.findings;
    if dry_run {
        // A dry run changed nothing: what its tasks would remove is not a
        // finding of the real run.
        findings.retain(|f| !changed_by(tasks, &f.path));
    }
    step.done(match findings.len() {
        0 => format!("none in {} files", scan.files),
        n => format!("{n} found in {} files", scan.files),
    });
    for dir in &scan.skipped {
        reporter.warn(&format!(
            "not scanned for secrets: {dir} (too many big files)"
        ));
    }
    Ok(findings)
}

/// Whether a (planned) task change deletes, empties or rewrites `path`.
fn changed_by(tasks: &[TaskOutcome], path: &str) -> bool {
    tasks.iter().flat_map(|t| &t.changes).any(|c| {
        c.path == path
            || (c.action == "delete"
                && path.starts_with(&format!("{}/", c.path.trim_end_matches('/'))))
    })
}

/// The findings an earlier export recorded in its `.report.json`, as
/// `path: kind` lines (none when it has no report).
pub fn recorded(image: &Path) -> Result<Vec<String>> {
    let path = crate::plan::with_suffix(image, ".report.json");
    let text = match std::fs::read(&path) {
        Ok(t) if t.len() <= REPORT_LIMIT => t,
        Ok(_) => bail!("{} is larger than a report can be", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let report: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    let found = report["secrets"].as_array().cloned().unwrap_or_default();
    Ok(found
        .iter()
        .map(|f| {
            let kind = f["kind"].as_str().unwrap_or("secret");
            format!("{}: {kind}", f["path"].as_str().unwrap_or("?"))
        })
        .collect())
}

/// Refuse to upload an image exported before whose report lists secrets,
/// unless `allowed`.
pub fn check_recorded(image: &Path, allowed: bool, reporter: &dyn Reporter) -> Result<()> {
    let found = recorded(image)?;
    for f in &found {
        reporter.warn(&format!("secret left in the image: {f}"));
    }
    if found.is_empty() || allowed {
        return Ok(());
    }
    Err(SecretsFound { count: found.len() }.into())
}

/// Warn about every finding; refuse an upload with findings unless the
/// plan allows them (a dry run uploads nothing).
pub(super) fn check(findings: &[Finding], plan: &Plan, reporter: &dyn Reporter) -> Result<()> {
    for f in findings {
        reporter.warn(&format!("secret left in the image: {f}"));
    }
    if !findings.is_empty() {
        reporter.emit(Event::Secrets(
            findings.iter().map(ToString::to_string).collect(),
        ));
    }
    let uploads = matches!(plan.work, Work::Export { .. }) && plan.upload.is_some();
    if findings.is_empty() || !uploads || plan.allow_secrets {
        return Ok(());
    }
    Err(SecretsFound {
        count: findings.len(),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysprep::changes::Planned;

    #[test]
    fn planned_changes_cover_their_paths() {
        let task = TaskOutcome {
            name: "t",
            message: "m",
            changes: vec![
                Planned {
                    action: "delete",
                    path: "/root/.ssh".into(),
                    bytes: 0,
                },
                Planned {
                    action: "write",
                    path: "/etc/shadow".into(),
                    bytes: 0,
                },
            ],
            freed: 0,
            duration: std::time::Duration::ZERO,
        };
        let tasks = [task];
        assert!(changed_by(&tasks, "/root/.ssh/id_rsa"));
        assert!(changed_by(&tasks, "/etc/shadow"));
        assert!(!changed_by(&tasks, "/root/.sshx/id_rsa"));
        assert!(!changed_by(&tasks, "/etc/shadow/x"));
        let err = SecretsFound { count: 1 }.to_string();
        assert!(
            err.starts_with("the image holds 1 secret (listed above): remove it "),
            "{err}"
        );
    }
}
