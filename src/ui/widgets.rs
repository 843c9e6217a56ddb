//! The interactive building blocks every screen is made of, in the manner of
//! dialog(1), which the original used: a menu, a yes/no style dialog, a
//! one-line input, a checklist and a scrolling text view. Each keeps its own
//! state, answers a key with a [`Reply`], and draws itself from `&self`.
//!
//! Keys: Up/Down (or k/j) move, Tab/Left/Right pick a button, Enter presses
//! the current button, Esc goes back, Space ticks a checklist item.

pub use super::buttons::{Btn, Buttons, Reply};
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Clear, List, ListItem, ListState, Paragraph, StatefulWidget, Widget, Wrap,
};

/// Move a selection up or down a list of `len` items.
pub(super) fn step(selected: usize, len: usize, key: KeyEvent) -> Option<usize> {
    let last = len.checked_sub(1)?;
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => Some(selected.saturating_sub(1)),
        KeyCode::Down | KeyCode::Char('j') => Some((selected + 1).min(last)),
        KeyCode::PageUp => Some(selected.saturating_sub(10)),
        KeyCode::PageDown => Some((selected + 10).min(last)),
        KeyCode::Home => Some(0),
        KeyCode::End => Some(last),
        _ => None,
    }
}

/// A box in the middle of `area`, `width` × `height` at most.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Draw the frame of a dialog box and return the inside, split into the
/// text part and the one-line button row.
pub(super) fn frame(title: &str, area: Rect, buf: &mut Buffer) -> (Rect, Rect) {
    Clear.render(area, buf);
    let block = Block::bordered().title(Line::from(format!(" {title} ")).bold().centered());
    let inner = block.inner(area);
    block.render(area, buf);
    let [body, _, buttons] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    (body, buttons)
}

/// A list of `(name, description)` items to pick from, with buttons. Each
/// item carries an identifier `I`, which is what the menu's owner acts on:
/// an enum for a fixed menu, the object's own key for a menu of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu<I = String> {
    pub title: String,
    pub text: String,
    pub items: Vec<(String, String)>,
    pub ids: Vec<I>,
    pub selected: usize,
    pub buttons: Buttons,
    /// A line under the list (what the last action did, or why not).
    pub message: String,
}

impl<I: Clone + PartialEq> Menu<I> {
    /// A menu of `(id, name, description)` items.
    pub fn new(
        title: &str,
        text: &str,
        items: Vec<(I, String, String)>,
        buttons: &[Btn],
    ) -> Menu<I> {
        let (ids, items) = items.into_iter().map(|(i, n, d)| (i, (n, d))).unzip();
        Menu {
            title: title.into(),
            text: text.into(),
            items,
            ids,
            selected: 0,
            buttons: Buttons::new(buttons),
            message: String::new(),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        match step(self.selected, self.items.len(), key) {
            Some(s) => {
                self.selected = s;
                Reply::None
            }
            None => self.buttons.on_key(key),
        }
    }

    /// The identifier of the selected item.
    pub fn current(&self) -> Option<&I> {
        self.ids.get(self.selected)
    }

    /// Select the item `id`, if it is there.
    pub fn select(&mut self, id: &I) {
        if let Some(i) = self.ids.iter().position(|x| x == id) {
            self.selected = i;
        }
    }
}

impl Menu<String> {
    /// A menu of data whose names are their keys.
    pub fn keyed(title: &str, text: &str, items: Vec<(String, String)>, buttons: &[Btn]) -> Menu {
        let items = items.into_iter().map(|(n, d)| (n.clone(), n, d)).collect();
        Menu::new(title, text, items, buttons)
    }
}

impl<I> Widget for &Menu<I> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let message = match self.message.as_str() {
            "" => 0,
            m => wrapped_lines(m, 68) + 1,
        };
        let height = (self.items.len() as u16 + 7 + message).min(area.height);
        let area = centered(area, 72, height.max(9));
        let (body, buttons) = frame(&self.title, area, buf);
        let [text, list, below] = Layout::vertical([
            Constraint::Length(text_height(&self.text)),
            Constraint::Min(1),
            Constraint::Length(message),
        ])
        .areas(body);
        Paragraph::new(format!("\n{}", self.message))
            .wrap(Wrap { trim: true })
            .render(below, buf);
        Paragraph::new(self.text.as_str())
            .wrap(Wrap { trim: true })
            .render(text, buf);
        item_list(&self.items, self.selected, list, buf);
        self.buttons.line().render(buttons, buf);
    }
}

/// Draw `(name, description)` items in aligned columns, the selected one
/// reversed.
pub(super) fn item_list(items: &[(String, String)], selected: usize, area: Rect, buf: &mut Buffer) {
    let width = items.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let items: Vec<ListItem> = items
        .iter()
        .map(|(n, d)| ListItem::new(format!(" {n:<width$}  {d}")))
        .collect();
    let mut state = ListState::default().with_selected(Some(selected));
    StatefulWidget::render(
        List::new(items).highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
        buf,
        &mut state,
    );
}

fn text_height(text: &str) -> u16 {
    if text.is_empty() {
        0
    } else {
        text.lines().count() as u16 + 1
    }
}

/// A message with buttons (yes/no, OK, a choice of modes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub title: String,
    pub text: String,
    pub buttons: Buttons,
}

impl Dialog {
    pub fn new(title: &str, text: &str, buttons: &[Btn]) -> Dialog {
        Dialog {
            title: title.into(),
            text: text.into(),
            buttons: Buttons::new(buttons),
        }
    }

    /// The same, with another button current at first (a safe default).
    pub fn defaulting_to(mut self, button: Btn) -> Dialog {
        self.buttons.focus(button);
        self
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        self.buttons.on_key(key)
    }
}

impl Widget for &Dialog {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let lines = wrapped_lines(&self.text, 60);
        let area = centered(area, 64, lines + 5);
        let (body, buttons) = frame(&self.title, area, buf);
        Paragraph::new(self.text.as_str())
            .wrap(Wrap { trim: true })
            .render(body, buf);
        self.buttons.line().render(buttons, buf);
    }
}

/// How many lines `text` takes wrapped at `width` columns (roughly).
pub(super) fn wrapped_lines(text: &str, width: usize) -> u16 {
    text.lines()
        .map(|l| l.chars().count().div_ceil(width).max(1))
        .sum::<usize>() as u16
}

/// A one-line text field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub title: String,
    pub label: String,
    pub value: String,
    pub buttons: Buttons,
}

impl Input {
    pub fn new(title: &str, label: &str, value: &str, buttons: &[Btn]) -> Input {
        Input {
            title: title.into(),
            label: label.into(),
            value: value.into(),
            buttons: Buttons::new(buttons),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        if edit_text(&mut self.value, key) {
            Reply::None
        } else {
            self.buttons.on_key(key)
        }
    }
}

/// Apply an editing key to a text value: a character, Backspace, Ctrl-U
/// (clear). False for any other key.
pub(super) fn edit_text(value: &mut String, key: KeyEvent) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('u') if ctrl => value.clear(),
        KeyCode::Char(c) if !ctrl => value.push(c),
        KeyCode::Backspace => {
            value.pop();
        }
        _ => return false,
    }
    true
}

impl Widget for &Input {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = centered(area, 72, wrapped_lines(&self.label, 68) + 8);
        let (body, buttons) = frame(&self.title, area, buf);
        let [label, _, field] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(body);
        Paragraph::new(self.label.as_str())
            .wrap(Wrap { trim: true })
            .render(label, buf);
        // The end of a long value stays visible, as in a shell.
        let room = field.width.saturating_sub(2) as usize;
        let chars: Vec<char> = self.value.chars().collect();
        let shown: String = chars[chars.len().saturating_sub(room)..].iter().collect();
        Line::from(vec![Span::raw(shown), Span::raw("_").slow_blink()])
            .style(Style::new().add_modifier(Modifier::UNDERLINED))
            .render(field, buf);
        self.buttons.line().render(buttons, buf);
    }
}

/// Items to tick, with buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checklist {
    pub title: String,
    pub text: String,
    /// Name, description, ticked.
    pub items: Vec<(String, String, bool)>,
    pub selected: usize,
    pub buttons: Buttons,
}

impl Checklist {
    pub fn new(
        title: &str,
        text: &str,
        items: Vec<(String, String, bool)>,
        buttons: &[Btn],
    ) -> Checklist {
        Checklist {
            title: title.into(),
            text: text.into(),
            items,
            selected: 0,
            buttons: Buttons::new(buttons),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        if let Some(s) = step(self.selected, self.items.len(), key) {
            self.selected = s;
            return Reply::None;
        }
        if key.code == KeyCode::Char(' ') {
            if let Some(item) = self.items.get_mut(self.selected) {
                item.2 = !item.2;
            }
            return Reply::None;
        }
        self.buttons.on_key(key)
    }

    /// The names of the ticked items.
    pub fn ticked(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|i| i.2)
            .map(|i| i.0.clone())
            .collect()
    }
}

impl Widget for &Checklist {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let height = (self.items.len() as u16 + text_height(&self.text) + 5).max(9);
        let area = centered(area, 76, height);
        let (body, buttons) = frame(&self.title, area, buf);
        let [text, list] = Layout::vertical([
            Constraint::Length(text_height(&self.text)),
            Constraint::Min(1),
        ])
        .areas(body);
        Paragraph::new(self.text.as_str())
            .wrap(Wrap { trim: true })
            .render(text, buf);
        // Long names do not push every description out of the box.
        let width = self
            .items
            .iter()
            .map(|(n, _, _)| n.len())
            .max()
            .unwrap_or(0)
            .min(32);
        let items: Vec<ListItem> = self
            .items
            .iter()
            .map(|(n, d, on)| {
                let mark = if *on { 'X' } else { ' ' };
                ListItem::new(format!(" [{mark}] {n:<width$}  {d}"))
            })
            .collect();
        let mut state = ListState::default().with_selected(Some(self.selected));
        StatefulWidget::render(
            List::new(items).highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
            list,
            buf,
            &mut state,
        );
        self.buttons.line().render(buttons, buf);
    }
}

/// A scrolling text (log, help, registration details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextView {
    pub title: String,
    pub lines: Vec<String>,
    /// The first line shown.
    pub top: usize,
    pub buttons: Buttons,
}

impl TextView {
    pub fn new(title: &str, lines: Vec<String>, buttons: &[Btn]) -> TextView {
        TextView {
            title: title.into(),
            lines,
            top: 0,
            buttons: Buttons::new(buttons),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        match step(self.top, self.lines.len(), key) {
            Some(top) => {
                self.top = top;
                Reply::None
            }
            None => self.buttons.on_key(key),
        }
    }
}

impl Widget for &TextView {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = centered(area, area.width.saturating_sub(2), area.height);
        let (body, buttons) = frame(&self.title, area, buf);
        let shown: Vec<Line> = self
            .lines
            .iter()
            .skip(self.top)
            .map(|l| Line::from(l.as_str()))
            .collect();
        Paragraph::new(shown)
            .wrap(Wrap { trim: false })
            .render(body, buf);
        self.buttons.line().render(buttons, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::from(code)
    }

    #[test]
    fn menu_moves_and_presses() {
        let items = vec![("a".into(), "".into()), ("b".into(), "".into())];
        let mut m = Menu::keyed("T", "", items, &[Btn::Select, Btn::Back]);
        assert_eq!(m.on_key(key(KeyCode::Down)), Reply::None);
        assert_eq!(m.on_key(key(KeyCode::Down)), Reply::None);
        assert_eq!(m.current().map(String::as_str), Some("b"));
        assert_eq!(m.on_key(key(KeyCode::Tab)), Reply::None);
        assert_eq!(m.on_key(key(KeyCode::Enter)), Reply::Button(Btn::Back));
        assert_eq!(m.on_key(key(KeyCode::Esc)), Reply::Cancel);
    }

    #[test]
    fn input_edits() {
        let mut i = Input::new("T", "Name", "ab", &[Btn::Ok]);
        i.on_key(key(KeyCode::Backspace));
        i.on_key(key(KeyCode::Char('z')));
        assert_eq!(i.value, "az");
        i.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(i.value, "");
    }

    #[test]
    fn checklist_ticks() {
        let items = vec![
            ("a".into(), "".into(), true),
            ("b".into(), "".into(), false),
        ];
        let mut c = Checklist::new("T", "", items, &[Btn::Ok]);
        c.on_key(key(KeyCode::Char(' ')));
        c.on_key(key(KeyCode::Down));
        c.on_key(key(KeyCode::Char(' ')));
        assert_eq!(c.ticked(), vec!["b".to_string()]);
    }
}
