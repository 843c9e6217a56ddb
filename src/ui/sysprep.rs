//! Customize → Sysprep: the system preparation tasks of the session's OS
//! as a checklist (ticked as the table enables them by default, then as
//! the user chose), a parameters editor that checks each value as
//! `--sysprep-param` does, help from the tasks' descriptions, and a
//! dry-run preview (one run of the pipeline with `dry_run`). The choices,
//! with the VirtIO drivers of Customize → VirtIO, go into every later run
//! that exports, through [`Facts::sysprep_request`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail};

use super::app::Facts;
use crate::guest::profile::profile_for;
use crate::plan::{Request, SysprepRequest};
use crate::sysprep::{PARAMS, ParamSpec, Params, Task, tasks_for};

/// The user's system preparation choices, on top of the table's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// Tasks switched against their default: name → runs.
    pub tasks: BTreeMap<String, bool>,
    /// Parameter values as typed: name → value (defaults are left out).
    pub params: BTreeMap<String, String>,
    /// The VirtIO drivers to install (Customize → VirtIO), checked when
    /// chosen.
    pub virtio: Option<PathBuf>,
}

impl Facts {
    /// Keep the ticks of the checklist: what differs from a task's default.
    pub(super) fn keep_ticks(&mut self, items: &[(String, String, bool)]) {
        let Ok(tasks) = self.session_tasks() else {
            return;
        };
        for (name, _, on) in items {
            match tasks.iter().find(|t| t.name == name) {
                Some(t) if t.default != *on => self.sysprep.tasks.insert(name.clone(), *on),
                _ => self.sysprep.tasks.remove(name),
            };
        }
    }

    /// Check a value as `--sysprep-param` does, and keep it.
    pub(super) fn set_param(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        let mut params = self.sysprep.params.clone();
        params.insert(name.to_owned(), value.to_owned());
        if let Err(crate::plan::UsageError(e)) = Params::from_assignments(&assignments(&params)) {
            let prefix = format!("--sysprep-param {name}={value}: ");
            bail!("{}", e.strip_prefix(&prefix).unwrap_or(&e));
        }
        if PARAMS.iter().any(|p| p.name == name && p.default == value) {
            params.remove(name);
        }
        self.sysprep.params = params;
        Ok(())
    }
}

fn assignments(params: &BTreeMap<String, String>) -> Vec<String> {
    params.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

impl Facts {
    /// The choices as the options of a run: every run that exports or
    /// uploads takes them from here.
    pub fn sysprep_request(&self) -> SysprepRequest {
        let pick = |on: bool| -> Vec<String> {
            let chosen = self.sysprep.tasks.iter().filter(|(_, v)| **v == on);
            chosen.map(|(k, _)| k.clone()).collect()
        };
        SysprepRequest {
            enable: pick(true),
            disable: pick(false),
            params: assignments(&self.sysprep.params),
            install_virtio: self.sysprep.virtio.clone(),
            ..SysprepRequest::default()
        }
    }

    /// The session's tasks, or why there are none.
    pub(super) fn session_tasks(&self) -> anyhow::Result<Vec<&'static Task>> {
        let session = (self.session.as_ref()).ok_or_else(|| anyhow!("No media is open."))?;
        if let Some(reason) = &session.unsupported {
            bail!(
                "System preparation is not offered for unsupported media ({reason}): the image is exported as it is."
            );
        }
        let os = (session.os.as_ref()).ok_or_else(|| anyhow!("No operating system was found."))?;
        let tasks = tasks_for(&profile_for(os));
        if tasks.is_empty() {
            bail!(
                "There are no system preparation tasks for {} systems yet.",
                os.family
            );
        }
        Ok(tasks)
    }

    /// Whether a task runs, as chosen or by default.
    pub(super) fn runs(&self, task: &Task) -> bool {
        self.sysprep
            .tasks
            .get(task.name)
            .copied()
            .unwrap_or(task.default)
    }

    /// The parameters the session's tasks read.
    pub(super) fn session_params(&self) -> Vec<&'static ParamSpec> {
        let tasks = self.session_tasks().unwrap_or_default();
        PARAMS
            .iter()
            .filter(|p| tasks.iter().any(|t| t.params.contains(&p.name)))
            .collect()
    }

    pub(super) fn param_value<'a>(&'a self, p: &'a ParamSpec) -> &'a str {
        self.sysprep
            .params
            .get(p.name)
            .map_or(p.default, String::as_str)
    }

    pub(super) fn task_help(&self, t: &Task) -> Vec<String> {
        let on = |b: bool| if b { "runs" } else { "does not run" };
        let mut lines = vec![
            format!("{}: {}", t.name, t.message),
            format!("  {}", t.description),
            format!(
                "  By default it {}; as chosen it {}.",
                on(t.default),
                on(self.runs(t))
            ),
        ];
        if !t.params.is_empty() {
            lines.push(format!("  Parameters: {}", t.params.join(", ")));
        }
        lines
    }

    /// The request of a dry run with the current choices.
    pub fn preview_request(&self) -> Option<Request> {
        Some(Request {
            sysprep: SysprepRequest {
                dry_run: true,
                ..self.sysprep_request()
            },
            ..self.base_request(&self.work_source()?)
        })
    }
}
