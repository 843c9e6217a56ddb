//! Expert mode's Log, Help and Reset: the log of every step (with Save),
//! how to use expert mode, and starting again from the original media.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, Tag};
use super::component::{Action, Component};
use super::expert::Tag as ExpertTag;
use super::widgets::{Btn, Dialog, Input, Reply, TextView};

const HELP: &str = include_str!("../../assets/help/expert.md");

/// Expert → Log: every line so far; Save asks where to write them.
pub struct Log {
    view: TextView,
    save: Option<Input>,
}

impl Log {
    pub fn new(facts: &Facts) -> Log {
        Log {
            view: TextView::new("Log", facts.log.clone(), &[Btn::Close, Btn::Save]),
            save: None,
        }
    }

    fn on_save(input: &Input, facts: &Facts) -> Vec<Action> {
        let path = input.value.trim();
        match std::fs::write(path, facts.log.join("\n") + "\n") {
            Ok(()) => vec![
                Action::Pop,
                Action::notice("Log saved", format!("The log was saved to {path}.")),
            ],
            // The field stays, so the answer can be mended.
            Err(e) => vec![Action::notice("Error", format!("cannot write {path}: {e}"))],
        }
    }
}

impl Component for Log {
    fn id(&self) -> Tag {
        match self.save {
            Some(_) => Tag::Expert(ExpertTag::LogSavePath),
            None => Tag::Expert(ExpertTag::Log),
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        if let Some(input) = &mut self.save {
            return match input.on_key(key) {
                Reply::None => Vec::new(),
                Reply::Button(Btn::Ok) => Log::on_save(input, facts),
                _ => vec![Action::Pop],
            };
        }
        match self.view.on_key(key) {
            Reply::None => Vec::new(),
            Reply::Button(Btn::Save) => {
                let input = Input::new(
                    "Save log",
                    "Save the log as:",
                    "snf-image-creator.log",
                    &[Btn::Ok, Btn::Cancel],
                );
                self.save = Some(input);
                Vec::new()
            }
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.save {
            Some(input) => input.render(area, buf),
            None => self.view.render(area, buf),
        }
    }
}

/// A text to read, with Close: help, a dry run's listing.
pub struct Text {
    tag: Tag,
    view: TextView,
}

impl Text {
    pub fn boxed(tag: Tag, title: &str, lines: Vec<String>) -> Box<dyn Component> {
        let view = TextView::new(title, lines, &[Btn::Close]);
        Box::new(Text { tag, view })
    }
}

/// Expert → Help: how to use expert mode.
pub fn help() -> Box<dyn Component> {
    let lines = HELP.lines().map(str::to_owned).collect();
    Text::boxed(Tag::Expert(ExpertTag::Help), "Help", lines)
}

impl Component for Text {
    fn id(&self) -> Tag {
        self.tag.clone()
    }

    fn on_key(&mut self, key: KeyEvent, _: &mut Facts) -> Vec<Action> {
        match self.view.on_key(key) {
            Reply::None => Vec::new(),
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.view.render(area, buf);
    }
}

/// Expert → Reset: drop every change and open the original media again.
pub struct Reset(Dialog);

impl Default for Reset {
    fn default() -> Reset {
        Reset(
            Dialog::new(
                "Reset",
                "Reset snf-image-creator? Every change made so far is dropped and the original media is opened again.",
                &[Btn::Yes, Btn::No],
            )
            .defaulting_to(Btn::No),
        )
    }
}

impl Component for Reset {
    fn id(&self) -> Tag {
        Tag::Expert(ExpertTag::ConfirmReset)
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        match self.0.on_key(key) {
            Reply::None => Vec::new(),
            Reply::Button(Btn::Yes) => match &facts.session {
                Some(s) => vec![Action::Clear, Action::OpenMedia(s.source.clone())],
                None => vec![Action::Pop],
            },
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.0.render(area, buf);
    }

    fn is_dialog(&self) -> bool {
        true
    }
}
