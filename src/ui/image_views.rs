//! What the Images page shows of a version: its properties (Show), its
//! file manifest with a path filter (Files); the Diff view's text is
//! [`crate::cloud::local::history::DiffText`]'s, as `images diff` prints it.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::widgets::{Btn, Buttons, Reply, centered, edit_text, frame, step};
use crate::cloud::local::history::{Index, Manifest, Version};

/// Show: a version's registration and properties, as `images show`
/// gives them (with `VERSION`, `TAGS` and `CHANNELS`).
pub fn show_lines(ix: &Index, v: &Version) -> Vec<String> {
    let img = ix.image_of(v);
    let files = v.files.map_or("no manifest".into(), |n| n.to_string());
    let fields = [
        ("Name", format!("{}@{}", ix.name, v.version)),
        ("Id", img.id.clone()),
        ("Location", img.location.clone()),
        ("Size", format!("{} bytes", img.size)),
        ("Checksum", img.checksum.clone()),
        ("Visibility", visibility(img.is_public).into()),
        ("Created", img.created_at.clone()),
        ("Tested", if v.tested { "yes" } else { "no" }.into()),
        ("Files", files),
    ];
    let mut lines: Vec<String> = (fields.iter())
        .map(|(k, val)| format!("{k}: {val}"))
        .collect();
    lines.push(String::new());
    lines.push("Properties:".into());
    lines.extend(
        img.properties
            .iter()
            .map(|(k, val)| format!("  {k} = {val}")),
    );
    lines
}

fn visibility(public: bool) -> &'static str {
    if public { "public" } else { "private" }
}

/// Files: a version's manifest, one `imagetool show` line per file,
/// scrolled with the arrows; typing edits a path regex that filters it.
pub struct Files {
    title: String,
    manifest: Manifest,
    filter: String,
    /// The entries the filter lets through.
    shown: Vec<usize>,
    /// The first shown line on screen.
    top: usize,
    /// Why the filter is not a regex, else empty.
    error: String,
    buttons: Buttons,
}

impl Files {
    pub fn new(label: &str, manifest: Manifest) -> Files {
        let shown = (0..manifest.files.len()).collect();
        Files {
            title: format!("Files of {label}"),
            manifest,
            filter: String::new(),
            shown,
            top: 0,
            error: String::new(),
            buttons: Buttons::new(&[Btn::Close]),
        }
    }

    /// The paths shown now.
    pub fn shown_paths(&self) -> Vec<&str> {
        let files = &self.manifest.files;
        self.shown.iter().map(|i| files[*i].path.as_str()).collect()
    }

    /// Apply the filter; a bad one keeps the last listing and says why.
    fn refilter(&mut self) {
        let re = match regex::Regex::new(&self.filter) {
            Ok(re) => re,
            Err(e) => {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or_default().trim().to_owned();
                self.error = format!("not a regular expression: {why}");
                return;
            }
        };
        self.error.clear();
        let files = self.manifest.files.iter().enumerate();
        let matching = files.filter(|(_, f)| re.is_match(&f.path));
        self.shown = matching.map(|(i, _)| i).collect();
        self.top = 0;
    }

    fn status(&self) -> String {
        match self.error.as_str() {
            "" => format!(
                "{} of {} files; type a path regex to filter",
                self.shown.len(),
                self.manifest.files.len()
            ),
            e => e.to_owned(),
        }
    }
}

impl Component for Files {
    fn id(&self) -> ScreenId {
        ScreenId::ImageFiles
    }

    fn on_key(&mut self, key: KeyEvent, _: &mut Facts) -> Vec<Action> {
        if edit_text(&mut self.filter, key) {
            self.refilter();
            return Vec::new();
        }
        if let Some(top) = step(self.top, self.shown.len(), key) {
            self.top = top;
            return Vec::new();
        }
        match self.buttons.on_key(key) {
            Reply::None => Vec::new(),
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        let area = centered(area, area.width.saturating_sub(2), area.height);
        let (body, buttons) = frame(&self.title, area, buf);
        let [field, status, list] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .areas(body);
        let spans = vec![
            Span::raw("Path regex: "),
            Span::raw(self.filter.as_str()),
            Span::raw("_").slow_blink(),
        ];
        (Line::from(spans).style(Style::new().add_modifier(Modifier::UNDERLINED)))
            .render(field, buf);
        Line::from(self.status()).render(status, buf);
        let files = &self.manifest.files;
        let lines: Vec<Line> = (self.shown.iter().skip(self.top))
            .take(list.height as usize)
            .map(|i| Line::from(files[*i].line()))
            .collect();
        Paragraph::new(lines).render(list, buf);
        self.buttons.line().render(buttons, buf);
    }
}
