//! A form: a few labelled one-line fields and a row of buttons, as
//! dialog(1)'s `--form`, which the original used for cloud accounts and
//! upload and registration names. Secret fields (tokens) show stars.
//!
//! Keys: Up/Down move between fields, typing edits the current one
//! (Backspace, Ctrl-U clears), Tab/Left/Right pick a button, Enter presses
//! it, Esc goes back.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::widgets::{Btn, Buttons, Reply, centered, edit_text, frame};

/// What a field holds: its identity, which its label is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldId {
    Name,
    Url,
    Token,
    Description,
    Object,
    Container,
    RegistrationName,
    Username,
    Password,
    Project,
    Domain,
    Region,
    Bucket,
    Endpoint,
    Profile,
    AccessKey,
    SecretKey,
}

impl FieldId {
    pub fn label(self) -> &'static str {
        match self {
            FieldId::Name => "Name",
            FieldId::Url => "Authentication URL",
            FieldId::Token => "Token",
            FieldId::Description => "Description",
            FieldId::Object => "Object name",
            FieldId::Container => "Container",
            FieldId::RegistrationName => "Registration name",
            FieldId::Username => "User name",
            FieldId::Password => "Password",
            FieldId::Project => "Project",
            FieldId::Domain => "Domain",
            FieldId::Region => "Region (optional)",
            FieldId::Bucket => "Bucket",
            FieldId::Endpoint => "Endpoint URL (none: AWS)",
            FieldId::Profile => "AWS profile",
            FieldId::AccessKey => "Access key",
            FieldId::SecretKey => "Secret key",
        }
    }
}

/// One field of a form.
#[derive(Clone, PartialEq, Eq)]
pub struct Field {
    pub id: FieldId,
    pub label: String,
    pub value: String,
    /// Drawn as stars (a token), and never shown by `Debug`.
    pub secret: bool,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.secret {
            "<redacted>"
        } else {
            &self.value
        };
        write!(f, "Field({}: {value:?})", self.label)
    }
}

/// Labelled fields with buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub title: String,
    pub text: String,
    pub fields: Vec<Field>,
    /// The field being edited.
    pub current: usize,
    pub buttons: Buttons,
}

impl Form {
    /// A form of `(field, value)` fields.
    pub fn new(title: &str, text: &str, fields: &[(FieldId, &str)], buttons: &[Btn]) -> Form {
        Form {
            title: title.into(),
            text: text.into(),
            fields: fields
                .iter()
                .map(|(id, v)| Field {
                    id: *id,
                    label: id.label().into(),
                    value: (*v).into(),
                    secret: false,
                })
                .collect(),
            current: 0,
            buttons: Buttons::new(buttons),
        }
    }

    /// The same, with this field drawn as stars.
    pub fn with_secret(mut self, id: FieldId) -> Form {
        for f in self.fields.iter_mut().filter(|f| f.id == id) {
            f.secret = true;
        }
        self
    }

    /// The value of this field, trimmed ("" if none).
    pub fn value(&self, id: FieldId) -> String {
        self.fields
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.value.trim().to_owned())
            .unwrap_or_default()
    }

    /// Move between fields, edit the current one, or press a button.
    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        let last = self.fields.len().saturating_sub(1);
        match key.code {
            KeyCode::Up => self.current = self.current.saturating_sub(1),
            KeyCode::Down => self.current = (self.current + 1).min(last),
            _ => {
                let field = self.fields.get_mut(self.current);
                if !field.is_some_and(|f| edit_text(&mut f.value, key)) {
                    return self.buttons.on_key(key);
                }
            }
        }
        Reply::None
    }
}

impl Widget for &Form {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let text_lines = if self.text.is_empty() { 0 } else { 3 };
        let height = self.fields.len() as u16 + text_lines + 5;
        let area = centered(area, 72, height);
        let (body, buttons) = frame(&self.title, area, buf);
        let [text, fields] =
            Layout::vertical([Constraint::Length(text_lines), Constraint::Min(1)]).areas(body);
        Paragraph::new(self.text.as_str())
            .wrap(Wrap { trim: true })
            .render(text, buf);
        let width = self.fields.iter().map(|f| f.label.len()).max().unwrap_or(0);
        for (i, f) in self.fields.iter().enumerate() {
            let row = Rect::new(fields.x, fields.y + i as u16, fields.width, 1);
            if row.y >= fields.y + fields.height {
                break;
            }
            self.render_field(f, i == self.current, width, row, buf);
        }
        self.buttons.line().render(buttons, buf);
    }
}

impl Form {
    fn render_field(&self, f: &Field, current: bool, width: usize, row: Rect, buf: &mut Buffer) {
        let label = format!(" {:<width$}  ", f.label);
        let room = (row.width as usize).saturating_sub(label.len() + 2);
        let shown: String = if f.secret {
            "*".repeat(f.value.chars().count().min(room))
        } else {
            let chars: Vec<char> = f.value.chars().collect();
            chars[chars.len().saturating_sub(room)..].iter().collect()
        };
        let mut spans = vec![Span::raw(label), Span::raw(shown)];
        if current {
            spans.push(Span::raw("_").slow_blink());
        }
        let style = if current {
            Style::new().add_modifier(Modifier::UNDERLINED)
        } else {
            Style::new()
        };
        Line::from(spans).style(style).render(row, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_edit_and_buttons_press() {
        let mut f = Form::new(
            "T",
            "",
            &[(FieldId::Name, "ab"), (FieldId::Token, "")],
            &[Btn::Ok, Btn::Cancel],
        )
        .with_secret(FieldId::Token);
        f.on_key(KeyEvent::from(KeyCode::Backspace));
        f.on_key(KeyEvent::from(KeyCode::Down));
        for c in "s3cr3t".chars() {
            f.on_key(KeyEvent::from(KeyCode::Char(c)));
        }
        assert_eq!(f.value(FieldId::Name), "a");
        assert_eq!(f.value(FieldId::Token), "s3cr3t");
        assert!(!format!("{f:?}").contains("s3cr3t"));
        assert_eq!(f.on_key(KeyEvent::from(KeyCode::Tab)), Reply::None);
        assert_eq!(
            f.on_key(KeyEvent::from(KeyCode::Enter)),
            Reply::Button(Btn::Cancel)
        );
        assert_eq!(f.on_key(KeyEvent::from(KeyCode::Esc)), Reply::Cancel);
    }
}
