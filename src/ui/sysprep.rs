//! Customize → Sysprep: the system preparation tasks of the session's OS
//! as a checklist (ticked as the table enables them by default, then as
//! the user chose), a parameters editor that checks each value as
//! `--sysprep-param` does, help from the tasks' descriptions, and a
//! dry-run preview (one run of the pipeline with `dry_run`). The choices go
//! into every later run that exports, through [`App::sysprep_request`].

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};

use super::app::{App, Entry, Facts, Screen, Tag as AppTag};
use super::expert::Tag as ExpertTag;
use super::job::job_error;
use super::job::{JobKind, JobResult};
use super::widgets::{Btn, Checklist, Input, Menu, Reply, TextView};
use crate::guest::profile::profile_for;
use crate::plan::{Request, SysprepRequest};
use crate::sysprep::{PARAMS, ParamSpec, Params, Task, tasks_for};

/// The system preparation screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    Tasks,
    Params,
    /// Editing the value of this parameter.
    Param(String),
    Help,
    Preview,
}

/// The user's system preparation choices, on top of the table's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// Tasks switched against their default: name → runs.
    pub tasks: BTreeMap<String, bool>,
    /// Parameter values as typed: name → value (defaults are left out).
    pub params: BTreeMap<String, String>,
}

fn screen(tag: Tag, make: impl FnOnce(AppTag) -> Screen) -> Screen {
    make(AppTag::Expert(ExpertTag::Sysprep(tag)))
}

impl App {
    /// Show the checklist of tasks (or say why there is none).
    pub(super) fn open_sysprep(&mut self) {
        let tasks = match self.facts.session_tasks() {
            Ok(t) => t,
            Err(why) => return self.notice("System Preparation", &format!("{why:#}")),
        };
        let items = tasks
            .iter()
            .map(|t| (t.name.to_owned(), t.message.to_owned(), self.facts.runs(t)))
            .collect();
        self.push(screen(Tag::Tasks, |t| {
            Screen::Checklist(
                t,
                Checklist::new(
                    "System Preparation",
                    "The ticked tasks run before every Extract or upload. Space ticks; Preview lists what they would change.",
                    items,
                    &[Btn::Ok, Btn::Preview, Btn::Params, Btn::Help, Btn::Back],
                ),
            )
        }));
    }

    /// A reply on a system preparation screen.
    pub(super) fn on_sysprep(&mut self, tag: Tag, screen: Screen, reply: Reply) {
        match (tag, screen) {
            (Tag::Tasks, Screen::Checklist(t, list)) => {
                let stays = matches!(reply, Reply::Button(Btn::Preview | Btn::Params | Btn::Help));
                if stays || reply == Reply::Button(Btn::Ok) {
                    self.keep_ticks(&list);
                }
                let current = list.items.get(list.selected).map(|i| i.0.clone());
                if stays {
                    self.push(Screen::Checklist(t, list));
                }
                match reply {
                    Reply::Button(Btn::Preview) => self.preview(),
                    Reply::Button(Btn::Params) => self.open_params(),
                    Reply::Button(Btn::Help) => self.sysprep_help(current.as_deref()),
                    _ => {}
                }
            }
            (Tag::Params, Screen::Menu(t, menu)) => {
                if let (Reply::Button(Btn::Edit), Some(Entry::Key(name))) = (reply, menu.current())
                {
                    let name = name.clone();
                    self.push(Screen::Menu(t, menu));
                    self.edit_param(&name);
                }
            }
            (Tag::Param(name), Screen::Input(t, input)) => match reply {
                Reply::Button(Btn::Ok) => {
                    if let Err(why) = self.set_param(&name, &input.value) {
                        // The field stays, so the value can be mended.
                        self.push(Screen::Input(t, input));
                        self.notice("Invalid value", &format!("{why:#}"));
                    }
                }
                Reply::Button(Btn::Default) => {
                    self.facts.sysprep.params.remove(&name);
                    self.reopen_params();
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn keep_ticks(&mut self, list: &Checklist) {
        let Ok(tasks) = self.facts.session_tasks() else {
            return;
        };
        for (name, _, on) in &list.items {
            match tasks.iter().find(|t| t.name == name) {
                Some(t) if t.default != *on => self.facts.sysprep.tasks.insert(name.clone(), *on),
                _ => self.facts.sysprep.tasks.remove(name),
            };
        }
    }

    fn open_params(&mut self) {
        self.open_params_at(0);
    }

    fn open_params_at(&mut self, selected: usize) {
        let items = self
            .facts
            .session_params()
            .iter()
            .map(|p| {
                let name = p.name.to_owned();
                (
                    Entry::Key(name.clone()),
                    name,
                    self.facts.param_value(p).to_owned(),
                )
            })
            .collect();
        let mut menu = Menu::new(
            "System Preparation Parameters",
            "The values the tasks read. Edit one to change it.",
            items,
            &[Btn::Edit, Btn::Back],
        );
        menu.selected = selected.min(menu.items.len().saturating_sub(1));
        self.push(screen(Tag::Params, |t| Screen::Menu(t, menu)));
    }

    /// Replace the parameters menu under the current screen with a fresh
    /// one, on the same row.
    fn reopen_params(&mut self) {
        let mut selected = 0;
        if let Some(Screen::Menu(AppTag::Expert(ExpertTag::Sysprep(Tag::Params)), menu)) =
            self.stack.last()
        {
            selected = menu.selected;
            self.stack.pop();
        }
        self.open_params_at(selected);
    }

    fn edit_param(&mut self, name: &str) {
        let Some(p) = PARAMS.iter().find(|p| p.name == name) else {
            return;
        };
        let label = format!(
            "{}.\nType: {}. Default: {}",
            p.description,
            p.kind.name(),
            if p.default.is_empty() {
                "(none)"
            } else {
                p.default
            }
        );
        let value = self.facts.param_value(p).to_owned();
        self.push(screen(Tag::Param(name.to_owned()), |t| {
            Screen::Input(
                t,
                Input::new(
                    &format!("Parameter {name}"),
                    &label,
                    &value,
                    &[Btn::Ok, Btn::Default, Btn::Cancel],
                ),
            )
        }));
    }

    /// Check a value as `--sysprep-param` does, and keep it.
    fn set_param(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        let mut params = self.facts.sysprep.params.clone();
        params.insert(name.to_owned(), value.to_owned());
        if let Err(e) = Params::from_assignments(&assignments(&params)) {
            let prefix = format!("--sysprep-param {name}={value}: ");
            bail!("{}", e.strip_prefix(&prefix).unwrap_or(&e));
        }
        if PARAMS.iter().any(|p| p.name == name && p.default == value) {
            params.remove(name);
        }
        self.facts.sysprep.params = params;
        self.reopen_params();
        Ok(())
    }

    fn sysprep_help(&mut self, current: Option<&str>) {
        let tasks = self.facts.session_tasks().unwrap_or_default();
        let mut lines = Vec::new();
        if let Some(t) = tasks.iter().find(|t| Some(t.name) == current) {
            lines.extend(self.facts.task_help(t));
            lines.push(String::new());
        }
        lines.push("Every task, in the order they run:".into());
        for t in &tasks {
            lines.push(String::new());
            lines.extend(self.facts.task_help(t));
        }
        self.push(screen(Tag::Help, |t| {
            Screen::Text(
                t,
                TextView::new("System Preparation Help", lines, &[Btn::Close]),
            )
        }));
    }

    fn preview(&mut self) {
        if let Some(request) = self.facts.preview_request() {
            self.start_job(JobKind::Preview, "System Preparation Preview", request);
        }
    }

    /// The dry run ended: show its listing, or say what went wrong.
    pub(super) fn on_previewed(&mut self, result: JobResult, listing: String) {
        match result {
            Ok(_) => {
                let lines = listing.lines().map(str::to_owned).collect();
                self.push(screen(Tag::Preview, |t| {
                    Screen::Text(t, TextView::new("Dry Run", lines, &[Btn::Close]))
                }));
            }
            Err(e) => self.notice("Preview failed", &job_error(&e)),
        }
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
                os.os_type
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
