//! Buttons and what a key did: every widget has a row of [`Buttons`], each
//! a typed [`Btn`] whose label is drawn from it, and answers a key with a
//! [`Reply`] naming the button pressed.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// What a button means. A screen acts on the button's meaning, never on
/// its place in the row, and the label drawn is the meaning's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Btn {
    Ok,
    Cancel,
    Yes,
    No,
    Select,
    Back,
    Next,
    Exit,
    Quit,
    Add,
    Edit,
    Delete,
    Save,
    Close,
    Continue,
    Wizard,
    Expert,
    BundleHost,
    Unmount,
    Preview,
    Params,
    Help,
    Default,
    NoConfig,
    Clear,
    Show,
    Files,
    Diff,
    Tag,
    Promote,
}

impl Btn {
    /// The label drawn as `< label >`.
    pub fn label(self) -> &'static str {
        match self {
            Btn::Ok => "OK",
            Btn::Cancel => "Cancel",
            Btn::Yes => "Yes",
            Btn::No => "No",
            Btn::Select => "Select",
            Btn::Back => "Back",
            Btn::Next => "Next",
            Btn::Exit => "Exit",
            Btn::Quit => "Quit",
            Btn::Add => "Add",
            Btn::Edit => "Edit",
            Btn::Delete => "Delete",
            Btn::Save => "Save",
            Btn::Close => "Close",
            Btn::Continue => "Continue",
            Btn::Wizard => "Wizard",
            Btn::Expert => "Expert",
            Btn::BundleHost => "Bundle Host",
            Btn::Unmount => "Unmount",
            Btn::Preview => "Preview",
            Btn::Params => "Params",
            Btn::Help => "Help",
            Btn::Default => "Default",
            Btn::NoConfig => "No Config",
            Btn::Clear => "Clear",
            Btn::Show => "Show",
            Btn::Files => "Files",
            Btn::Diff => "Diff",
            Btn::Tag => "Tag",
            Btn::Promote => "Promote",
        }
    }
}

/// What a key did to a widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Nothing the screen's owner needs to act on.
    None,
    /// This button was pressed.
    Button(Btn),
    /// Esc: leave without choosing.
    Cancel,
}

/// A row of buttons, one of them current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buttons {
    pub row: Vec<Btn>,
    pub current: usize,
}

impl Buttons {
    pub fn new(row: &[Btn]) -> Buttons {
        Buttons {
            row: row.to_vec(),
            current: 0,
        }
    }

    /// Make `button` the current one (a safe default), if it is there.
    pub(super) fn focus(&mut self, button: Btn) {
        if let Some(i) = self.row.iter().position(|b| *b == button) {
            self.current = i;
        }
    }

    /// Handle the keys every widget shares: button choice, Enter, Esc.
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Reply {
        let n = self.row.len().max(1);
        match key.code {
            KeyCode::Tab | KeyCode::Right => self.current = (self.current + 1) % n,
            KeyCode::BackTab | KeyCode::Left => self.current = (self.current + n - 1) % n,
            KeyCode::Enter => {
                return self
                    .row
                    .get(self.current)
                    .map_or(Reply::None, |b| Reply::Button(*b));
            }
            KeyCode::Esc => return Reply::Cancel,
            _ => {}
        }
        Reply::None
    }

    pub(super) fn line(&self) -> Line<'_> {
        let mut spans = Vec::new();
        for (i, button) in self.row.iter().enumerate() {
            let text = format!("< {} >", button.label());
            spans.push(if i == self.current {
                Span::styled(text, Style::new().add_modifier(Modifier::REVERSED))
            } else {
                Span::raw(text)
            });
            spans.push(Span::raw("  "));
        }
        spans.pop();
        Line::from(spans).centered()
    }
}
