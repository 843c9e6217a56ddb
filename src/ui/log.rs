//! Expert mode's Log, Help and Reset: the log of every step (with Save),
//! how to use expert mode, and starting again from the original media.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::widgets::{Btn, Dialog, Input, Reply, TextView};

const HELP: &str = include_str!("../../assets/help/expert.md");

/// What a text with Save writes, and how it speaks of it.
pub struct Saving {
    /// The screens' identities: the text, then the field.
    pub ids: (ScreenId, ScreenId),
    /// The field's title and label, and the file name offered.
    pub ask: (&'static str, &'static str, &'static str),
    /// The notice's title and what was saved ("the log").
    pub saved: (&'static str, &'static str),
}

/// A text with Close and Save; Save asks where to write it.
pub struct Saveable {
    view: TextView,
    content: String,
    how: Saving,
    save: Option<Input>,
}

impl Saveable {
    /// `lines` shown, `content` written.
    pub fn new(title: &str, lines: Vec<String>, content: String, how: Saving) -> Saveable {
        Saveable {
            view: TextView::new(title, lines, &[Btn::Close, Btn::Save]),
            content,
            how,
            save: None,
        }
    }

    fn write(&self, path: &str) -> Vec<Action> {
        let (title, what) = self.how.saved;
        match std::fs::write(path, &self.content) {
            Ok(()) => vec![
                Action::Pop,
                Action::notice(title, format!("{what} was saved to {path}.")),
            ],
            // The field stays, so the answer can be mended.
            Err(e) => vec![Action::notice("Error", format!("cannot write {path}: {e}"))],
        }
    }
}

/// Expert → Log: every line so far.
pub fn log(facts: &Facts) -> Saveable {
    let how = Saving {
        ids: (ScreenId::Log, ScreenId::LogSavePath),
        ask: ("Save log", "Save the log as:", "snf-image-creator.log"),
        saved: ("Log saved", "The log"),
    };
    let content = facts.log.join("\n") + "\n";
    Saveable::new("Log", facts.log.clone(), content, how)
}

impl Component for Saveable {
    fn id(&self) -> ScreenId {
        match self.save {
            Some(_) => self.how.ids.1.clone(),
            None => self.how.ids.0.clone(),
        }
    }

    fn on_key(&mut self, key: KeyEvent, _: &mut Facts) -> Vec<Action> {
        if let Some(input) = &mut self.save {
            match input.on_key(key) {
                Reply::None => return Vec::new(),
                Reply::Button(Btn::Ok) => {}
                _ => return vec![Action::Pop],
            }
            let path = input.value.trim().to_owned();
            return self.write(&path);
        }
        match self.view.on_key(key) {
            Reply::None => Vec::new(),
            Reply::Button(Btn::Save) => {
                let (title, label, name) = self.how.ask;
                self.save = Some(Input::new(title, label, name, &[Btn::Ok, Btn::Cancel]));
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
    id: ScreenId,
    view: TextView,
}

impl Text {
    pub fn boxed(id: ScreenId, title: &str, lines: Vec<String>) -> Box<dyn Component> {
        let view = TextView::new(title, lines, &[Btn::Close]);
        Box::new(Text { id, view })
    }
}

/// Expert → Help: how to use expert mode.
pub fn help() -> Box<dyn Component> {
    let lines = HELP.lines().map(str::to_owned).collect();
    Text::boxed(ScreenId::Help, "Help", lines)
}

impl Component for Text {
    fn id(&self) -> ScreenId {
        self.id.clone()
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
    fn id(&self) -> ScreenId {
        ScreenId::ConfirmReset
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
