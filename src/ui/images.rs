//! Expert → Images: the history the image store keeps (the one Register
//! uses: `--store`, `$SNF_IMAGE_STORE` or the default), over the same
//! library functions as `snf-image-creator images`. The page lists every
//! name (latest version, version count, channels, tags); a name opens its
//! versions, where Show, Files, Diff, Tag and Promote act on the selected
//! one. What an action did, or why it was refused, is one line under the
//! list. The text views are in `image_views.rs`.

use std::path::{Path, PathBuf};

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::image_views::{Files, show_lines};
use super::log::Text;
use super::widgets::{Btn, Dialog, Input, Menu, Reply};
use crate::cloud::local::history::{Channel, DiffText, HistoryError, Index, Version, manifest};
use crate::cloud::local::store::Store;
use crate::guest::packages;

/// Expert → Images: every name in the store, and the versions of the
/// one opened (which owns the actions; leaving it reads the list again).
pub struct Images {
    root: PathBuf,
    /// `None` until the store has a history (the page creates nothing).
    store: Option<Store>,
    list: Menu<String>,
    open: Option<Versions>,
}

impl Images {
    pub fn new(facts: &Facts) -> Images {
        let root = facts.store_root();
        let text = format!("Image store {}: select a name.", root.display());
        let list = Menu::new("Images", &text, Vec::new(), &[Btn::Select, Btn::Back]);
        let mut page = Images {
            root,
            store: None,
            list,
            open: None,
        };
        page.reload();
        page
    }

    /// Read every history again, keeping the selection.
    fn reload(&mut self) {
        let selected = self.list.current().cloned();
        let read = open_store(&self.root).and_then(|store| {
            let all = match &store {
                Some(s) => s.histories()?,
                None => Vec::new(),
            };
            Ok((store, all))
        });
        let (store, all) = match read {
            Ok(found) => found,
            Err(e) => {
                self.list.message = e.to_string();
                return;
            }
        };
        self.store = store;
        self.list.ids = all.iter().map(|ix| ix.name.clone()).collect();
        self.list.items = all.iter().map(|ix| (ix.name.clone(), row(ix))).collect();
        self.list.selected = 0;
        if let Some(name) = selected {
            self.list.select(&name);
        }
        self.list.message.clear();
        if all.is_empty() {
            self.list.message =
                "No images registered yet: Register → Upload, then Register.".into();
        }
    }

    /// The line under the list on screen.
    #[cfg(test)]
    pub(super) fn message(&self) -> &str {
        match &self.open {
            Some(v) => &v.menu.message,
            None => &self.list.message,
        }
    }

    fn open_versions(&mut self, name: &str) {
        let found = self.store.as_ref().map(|s| s.history(name));
        match found {
            Some(Ok(Some(ix))) => self.open = Some(Versions::new(ix)),
            Some(Err(e)) => self.list.message = e.to_string(),
            _ => self.reload(),
        }
    }
}

/// The store at `root`, when it has histories to show.
fn open_store(root: &Path) -> Result<Option<Store>, HistoryError> {
    if !root.join("history").is_dir() {
        return Ok(None);
    }
    Ok(Some(Store::open(root)?))
}

/// A name's row: its latest version, how many, its channels and tags.
fn row(ix: &Index) -> String {
    let latest = ix.latest().map_or(0, |v| v.version);
    let count = ix.versions.len();
    let mut row = format!("@{latest}  {count} version{}", plural(count));
    let chans: Vec<String> = (ix.channels.iter())
        .map(|(c, n)| format!("{c}@{n}"))
        .collect();
    let tags: Vec<String> = ix.tags.iter().map(|(t, n)| format!("{t}@{n}")).collect();
    for (what, list) in [("channels", chans), ("tags", tags)] {
        if !list.is_empty() {
            row += &format!("  {what}: {}", list.join(" "));
        }
    }
    row
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Component for Images {
    fn id(&self) -> ScreenId {
        match &self.open {
            Some(v) => v.id(),
            None => ScreenId::Images,
        }
    }

    fn on_key(&mut self, key: KeyEvent, _: &mut Facts) -> Vec<Action> {
        if let (Some(versions), Some(store)) = (&mut self.open, &self.store) {
            if let Some(actions) = versions.on_key(key, store) {
                return actions;
            }
            self.open = None;
            self.reload();
            return Vec::new();
        }
        match (self.list.on_key(key), self.list.current().cloned()) {
            (Reply::None, _) | (Reply::Button(Btn::Select), None) => Vec::new(),
            (Reply::Button(Btn::Select), Some(name)) => {
                self.open_versions(&name);
                Vec::new()
            }
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.open {
            Some(v) => v.render(area, buf),
            None => self.list.render(area, buf),
        }
    }
}

/// What the versions page is asking, over its list.
enum Ask {
    /// Compare the selected version with which?
    Diff(Menu<u64>),
    Tag(Input),
    /// To which channel?
    Promote(Menu<Channel>),
    /// Production for a version never in test: skip test?
    SkipTest(Dialog),
}

/// One name's versions, with the actions on the selected one.
struct Versions {
    index: Index,
    menu: Menu<u64>,
    ask: Option<Ask>,
}

impl Versions {
    fn new(index: Index) -> Versions {
        let text = "Select a version, then an action.";
        let buttons = [
            Btn::Show,
            Btn::Files,
            Btn::Diff,
            Btn::Tag,
            Btn::Promote,
            Btn::Back,
        ];
        let menu = Menu::new(&index.name, text, Vec::new(), &buttons);
        let mut v = Versions {
            index,
            menu,
            ask: None,
        };
        v.fill();
        v.menu.selected = v.menu.ids.len().saturating_sub(1);
        v
    }

    /// The menu's rows from the index, keeping the selection.
    fn fill(&mut self) {
        let selected = self.menu.current().copied();
        let ix = &self.index;
        self.menu.ids = ix.versions.iter().map(|v| v.version).collect();
        self.menu.items = (ix.versions.iter())
            .map(|v| (format!("@{}", v.version), version_row(ix, v)))
            .collect();
        if let Some(n) = selected {
            self.menu.select(&n);
        }
        self.menu.selected = self
            .menu
            .selected
            .min(self.menu.ids.len().saturating_sub(1));
    }

    /// `NAME@N` of the selected version.
    fn label(&self, n: u64) -> String {
        format!("{}@{n}", self.index.name)
    }

    fn id(&self) -> ScreenId {
        match &self.ask {
            None => ScreenId::ImageVersions(self.index.name.clone()),
            Some(Ask::Diff(_)) => ScreenId::ImageDiffPick,
            Some(Ask::Tag(_)) => ScreenId::ImageTag,
            Some(Ask::Promote(_)) => ScreenId::ImagePromote,
            Some(Ask::SkipTest(_)) => ScreenId::ConfirmSkipTest,
        }
    }

    /// A key; `None` when the page is left.
    fn on_key(&mut self, key: KeyEvent, store: &Store) -> Option<Vec<Action>> {
        let n = self.menu.current().copied()?;
        if let Some(ask) = self.ask.take() {
            return Some(self.answer(ask, key, n, store));
        }
        match self.menu.on_key(key) {
            Reply::None => Some(Vec::new()),
            Reply::Button(Btn::Back) | Reply::Cancel => None,
            Reply::Button(b) => Some(self.press(b, n, store)),
        }
    }

    /// An action button, on version `n`.
    fn press(&mut self, button: Btn, n: u64, store: &Store) -> Vec<Action> {
        self.menu.message.clear();
        let label = self.label(n);
        match button {
            Btn::Show => {
                let Some(v) = self.index.versions.iter().find(|v| v.version == n) else {
                    return Vec::new();
                };
                let lines = show_lines(&self.index, v);
                vec![Action::Push(Text::boxed(
                    ScreenId::ImageShow,
                    &label,
                    lines,
                ))]
            }
            Btn::Files => match store.manifest(&self.index.name, n) {
                Ok(m) => vec![Action::Push(Box::new(Files::new(&label, m)))],
                Err(e) => self.say(e.to_string()),
            },
            Btn::Diff => self.ask_diff(n),
            Btn::Tag => {
                let text = format!("Tag {label} as (letters, digits, `.', `_', `-'):");
                self.ask = Some(Ask::Tag(Input::new(
                    "Tag",
                    &text,
                    "",
                    &[Btn::Ok, Btn::Cancel],
                )));
                Vec::new()
            }
            Btn::Promote => {
                let items = [Channel::Test, Channel::Production]
                    .map(|c| (c, c.name().to_owned(), format!("Move the {c} channel here")));
                let text = format!("Promote {label} to which channel?");
                let menu = Menu::new("Promote", &text, items.into(), &[Btn::Select, Btn::Cancel]);
                self.ask = Some(Ask::Promote(menu));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn ask_diff(&mut self, n: u64) -> Vec<Action> {
        let others: Vec<(u64, String, String)> = (self.index.versions.iter())
            .filter(|v| v.version != n)
            .map(|v| {
                (
                    v.version,
                    format!("@{}", v.version),
                    version_row(&self.index, v),
                )
            })
            .collect();
        let Some(before) = others.iter().rev().find(|o| o.0 < n).map(|o| o.0) else {
            if others.is_empty() {
                return self.say(format!(
                    "{} has one version: nothing to compare",
                    self.label(n)
                ));
            }
            return self.ask_diff_from(n, others, None);
        };
        self.ask_diff_from(n, others, Some(before))
    }

    fn ask_diff_from(
        &mut self,
        n: u64,
        others: Vec<(u64, String, String)>,
        pre: Option<u64>,
    ) -> Vec<Action> {
        let text = format!("Compare {} with which version?", self.label(n));
        let mut menu = Menu::new("Diff", &text, others, &[Btn::Select, Btn::Cancel]);
        if let Some(p) = pre {
            menu.select(&p);
        }
        self.ask = Some(Ask::Diff(menu));
        Vec::new()
    }

    /// The answer to what was asked about version `n`.
    fn answer(&mut self, mut ask: Ask, key: KeyEvent, n: u64, store: &Store) -> Vec<Action> {
        let reply = match &mut ask {
            Ask::Diff(m) => m.on_key(key),
            Ask::Tag(i) => i.on_key(key),
            Ask::Promote(m) => m.on_key(key),
            Ask::SkipTest(d) => d.on_key(key),
        };
        match (ask, reply) {
            (ask, Reply::None) => {
                self.ask = Some(ask);
                Vec::new()
            }
            (Ask::Diff(m), Reply::Button(Btn::Select)) => match m.current() {
                Some(a) => self.diff(*a, n, store),
                None => Vec::new(),
            },
            (Ask::Tag(i), Reply::Button(Btn::Ok)) => {
                let tag = i.value.trim().to_owned();
                let done = format!("{} is tagged {tag}", self.label(n));
                let _ = self.change(store, done, |ix| ix.tag(n, &tag));
                Vec::new()
            }
            (Ask::Promote(m), Reply::Button(Btn::Select)) => match m.current() {
                Some(c) => self.promote(*c, false, n, store),
                None => Vec::new(),
            },
            (Ask::SkipTest(_), Reply::Button(Btn::Yes)) => {
                self.promote(Channel::Production, true, n, store)
            }
            (Ask::SkipTest(_), _) => self.say(format!(
                "{} was not promoted: it was never in the test channel (promote it to test first)",
                self.label(n)
            )),
            _ => Vec::new(),
        }
    }

    /// Move `channel` to version `n`; production for a version never in
    /// test asks first (what the command line's `--skip-test` stands for).
    fn promote(&mut self, channel: Channel, skip_test: bool, n: u64, store: &Store) -> Vec<Action> {
        let done = format!("{} is in the {channel} channel", self.label(n));
        let result = self.change(store, done, |ix| ix.promote(n, channel, skip_test));
        if let Err(HistoryError::Refused(_)) = result
            && channel == Channel::Production
            && !skip_test
        {
            let text = format!(
                "{} was never in the test channel. Promote it to production anyway, skipping test?",
                self.label(n)
            );
            let dialog = Dialog::new("Skip test", &text, &[Btn::Yes, Btn::No]);
            self.ask = Some(Ask::SkipTest(dialog.defaulting_to(Btn::No)));
            self.menu.message.clear();
        }
        Vec::new()
    }

    /// Change the history under its lock, then read it again; the message
    /// says what was done, or why not.
    fn change(
        &mut self,
        store: &Store,
        done: String,
        f: impl FnMut(&mut Index) -> Result<(), HistoryError>,
    ) -> Result<(), HistoryError> {
        let result = store.change_history(&self.index.name, false, f);
        if let Ok(Some(ix)) = store.history(&self.index.name) {
            self.index = ix;
            self.fill();
        }
        self.menu.message = match &result {
            Ok(()) => done,
            Err(e) => e.to_string(),
        };
        result
    }

    /// What differs from version `a` to version `b`: files, packages
    /// (when both have a list), sizes, and the services `b`'s triggers
    /// name (when it has triggers), as `images diff` prints them.
    fn diff(&mut self, a: u64, b: u64, store: &Store) -> Vec<Action> {
        let name = &self.index.name;
        let (old, new) = match (store.manifest(name, a), store.manifest(name, b)) {
            (Ok(old), Ok(new)) => (old, new),
            (Err(e), _) | (_, Err(e)) => return self.say(e.to_string()),
        };
        let version = |n: u64| self.index.versions.iter().find(|v| v.version == n);
        let size = |n: u64| version(n).map_or(0, |v| v.image.size as i64);
        let d = manifest::diff(&old, &new);
        let p = match (store.packages(name, a), store.packages(name, b)) {
            (Ok(x), Ok(y)) => Some(packages::diff(&x, &y)),
            _ => None,
        };
        let triggers = version(b).and_then(|v| v.triggers.as_ref());
        let services = triggers.map(|t| t.for_diff(&d));
        let names = (self.label(a), self.label(b));
        let text = DiffText {
            names: (&names.0, &names.1),
            files: &d,
            packages: p.as_ref(),
            image_delta: size(b) - size(a),
            services: services.as_deref(),
        };
        let title = format!("{} → {}", names.0, names.1);
        vec![Action::Push(Text::boxed(
            ScreenId::ImageDiff,
            &title,
            text.lines(),
        ))]
    }

    /// Say `message` under the list.
    fn say(&mut self, message: String) -> Vec<Action> {
        self.menu.message = message;
        Vec::new()
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.menu.render(area, buf);
        match &self.ask {
            None => {}
            Some(Ask::Diff(m)) => m.render(area, buf),
            Some(Ask::Tag(i)) => i.render(area, buf),
            Some(Ask::Promote(m)) => m.render(area, buf),
            Some(Ask::SkipTest(d)) => d.render(area, buf),
        }
    }
}

/// A version's row: when it was registered, its size, what points at it.
fn version_row(ix: &Index, v: &Version) -> String {
    let when = v.image.created_at.get(..16).unwrap_or(&v.image.created_at);
    let mib = v.image.size.div_ceil(1024 * 1024);
    let (tags, chans) = ix.pointers(v.version);
    let mut at: Vec<String> = chans.iter().map(|c| c.name().to_owned()).collect();
    at.extend(tags);
    let tested = if v.tested { "  tested" } else { "" };
    format!(
        "{}  {mib:>6} MiB  {}{tested}",
        when.replace('T', " "),
        at.join(" ")
    )
}
