//! The system preparation screens: the checklist of tasks (OK keeps the
//! ticks; Preview, Params and Help keep them and stay), the parameters
//! editor, help, and the dry run's listing.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component, start_or_refuse};
use super::job::{JobKind, JobResult, job_error};
use super::log::Text;
use super::widgets::{Btn, Checklist, Input, Menu, Reply};
use crate::sysprep::PARAMS;

/// The checklist of the session's tasks.
pub struct Tasks(Checklist);

impl Tasks {
    /// The checklist, or why there is none.
    pub fn open(facts: &Facts) -> Result<Tasks, Action> {
        let tasks = facts
            .session_tasks()
            .map_err(|why| Action::notice("System Preparation", format!("{why:#}")))?;
        let items = (tasks.iter())
            .map(|t| (t.name.to_owned(), t.message.to_owned(), facts.runs(t)))
            .collect();
        Ok(Tasks(Checklist::new(
            "System Preparation",
            "The ticked tasks run before every Extract or upload. Space ticks; Preview lists what they would change.",
            items,
            &[Btn::Ok, Btn::Preview, Btn::Params, Btn::Help, Btn::Back],
        )))
    }

    fn help(&self, facts: &Facts) -> Box<dyn Component> {
        let current = self.0.items.get(self.0.selected).map(|i| i.0.as_str());
        let tasks = facts.session_tasks().unwrap_or_default();
        let mut lines = Vec::new();
        if let Some(t) = tasks.iter().find(|t| Some(t.name) == current) {
            lines.extend(facts.task_help(t));
            lines.push(String::new());
        }
        lines.push("Every task, in the order they run:".into());
        for t in &tasks {
            lines.push(String::new());
            lines.extend(facts.task_help(t));
        }
        Text::boxed(ScreenId::SysprepHelp, "System Preparation Help", lines)
    }
}

impl Component for Tasks {
    fn id(&self) -> ScreenId {
        ScreenId::SysprepTasks
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let button = match self.0.on_key(key) {
            Reply::None => return Vec::new(),
            Reply::Cancel => return vec![Action::Pop],
            Reply::Button(b) => b,
        };
        if button != Btn::Back {
            facts.keep_ticks(&self.0.items);
        }
        match button {
            Btn::Preview => match facts.preview_request() {
                Some(r) => start_or_refuse(
                    JobKind::Preview,
                    "System Preparation Preview",
                    r,
                    Default::default(),
                ),
                None => Vec::new(),
            },
            Btn::Params => vec![Action::Push(Box::new(Params::new(facts, 0)))],
            Btn::Help => vec![Action::Push(self.help(facts))],
            _ => vec![Action::Pop],
        }
    }

    /// The dry run ended: show its listing, or say what went wrong.
    fn on_job_done(&mut self, result: JobResult, listing: &str, _: &mut Facts) -> Vec<Action> {
        match result {
            Ok(_) => {
                let lines = listing.lines().map(str::to_owned).collect();
                vec![Action::Push(Text::boxed(
                    ScreenId::SysprepPreview,
                    "Dry Run",
                    lines,
                ))]
            }
            Err(e) => vec![Action::notice("Preview failed", job_error(&e))],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.0.render(area, buf);
    }
}

/// The parameters the session's tasks read, and the editing of one.
pub struct Params {
    menu: Menu,
    /// The parameter being edited, with its field.
    editing: Option<(String, Input)>,
}

impl Params {
    fn new(facts: &Facts, selected: usize) -> Params {
        let items = (facts.session_params().iter())
            .map(|p| (p.name.to_owned(), facts.param_value(p).to_owned()))
            .collect();
        let mut menu = Menu::keyed(
            "System Preparation Parameters",
            "The values the tasks read. Edit one to change it.",
            items,
            &[Btn::Edit, Btn::Back],
        );
        menu.selected = selected.min(menu.items.len().saturating_sub(1));
        Params {
            menu,
            editing: None,
        }
    }

    fn field(name: &str, facts: &Facts) -> Option<Input> {
        let p = PARAMS.iter().find(|p| p.name == name)?;
        let default = if p.default.is_empty() {
            "(none)"
        } else {
            p.default
        };
        let label = format!(
            "{}.\nType: {}. Default: {default}",
            p.description,
            p.kind.name()
        );
        Some(Input::new(
            &format!("Parameter {name}"),
            &label,
            facts.param_value(p),
            &[Btn::Ok, Btn::Default, Btn::Cancel],
        ))
    }

    fn on_field(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let Some((name, input)) = &mut self.editing else {
            return Vec::new();
        };
        match input.on_key(key) {
            Reply::None => return Vec::new(),
            Reply::Button(Btn::Ok) => {
                if let Err(why) = facts.set_param(name, &input.value) {
                    // The field stays, so the value can be mended.
                    return vec![Action::notice("Invalid value", format!("{why:#}"))];
                }
            }
            Reply::Button(Btn::Default) => {
                facts.sysprep.params.remove(name.as_str());
            }
            _ => {
                self.editing = None;
                return Vec::new();
            }
        }
        *self = Params::new(facts, self.menu.selected);
        Vec::new()
    }
}

impl Component for Params {
    fn id(&self) -> ScreenId {
        match &self.editing {
            Some((name, _)) => ScreenId::SysprepParam(name.clone()),
            None => ScreenId::SysprepParams,
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        if self.editing.is_some() {
            return self.on_field(key, facts);
        }
        match (self.menu.on_key(key), self.menu.current()) {
            (Reply::None, _) => Vec::new(),
            (Reply::Button(Btn::Edit), Some(name)) => {
                let name = name.clone();
                self.editing = Params::field(&name, facts).map(|i| (name, i));
                Vec::new()
            }
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.editing {
            Some((_, input)) => input.render(area, buf),
            None => self.menu.render(area, buf),
        }
    }
}
