//! Expert mode: the main menu and its submenus (Customize → Properties and
//! Exclude here, the other Customize entries in their own modules; Extract,
//! Images, Log, Reset, Help). Each answer either edits the session's pending
//! changes or starts a run of the pipeline.

use std::path::Path;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::customize::Customize;
use super::extract::Extract;
use super::log::Reset;
use super::widgets::{Btn, Menu, Reply};

/// The entries of the expert main menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Customize,
    Register,
    Extract,
    Images,
    Log,
    Reset,
    Help,
}

const MAIN: &[(Entry, &str, &str)] = &[
    (
        Entry::Customize,
        "Customize",
        "Customize image & cloud deployment options",
    ),
    (Entry::Register, "Register", "Register image to a cloud"),
    (Entry::Extract, "Extract", "Dump image to local file system"),
    (
        Entry::Images,
        "Images",
        "Versions, files and channels of the stored images",
    ),
    (Entry::Log, "Log", "Show the log of every step"),
    (Entry::Reset, "Reset", "Start again from the original media"),
    (Entry::Help, "Help", "How to use expert mode"),
];

/// Expert mode's main menu, on a cleared stack; unsupported media has
/// every deployment task excluded.
pub fn open(facts: &mut Facts) -> Vec<Action> {
    if facts
        .session
        .as_ref()
        .is_some_and(|s| s.unsupported.is_some())
    {
        facts
            .edits
            .set
            .insert("EXCLUDE_ALL_TASKS".into(), "yes".into());
    }
    let items = (MAIN.iter())
        .map(|(e, n, d)| (*e, n.to_string(), d.to_string()))
        .collect();
    let menu = Menu::new(
        &format!(
            "Image Creator (snf-image-creator v{})",
            env!("CARGO_PKG_VERSION")
        ),
        "Choose one of the following or press <Exit> to exit.",
        items,
        &[Btn::Select, Btn::Exit],
    );
    vec![Action::Clear, Action::Push(Box::new(Main(menu)))]
}

/// The expert main menu.
struct Main(Menu<Entry>);

impl Component for Main {
    fn id(&self) -> ScreenId {
        ScreenId::ExpertMain
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let reply = self.0.on_key(key);
        let (Reply::Button(Btn::Select), Some(choice)) = (reply, self.0.current()) else {
            return match reply {
                Reply::None => Vec::new(),
                _ => vec![Action::Push(super::init::confirm_exit())],
            };
        };
        let opened: Box<dyn Component> = match choice {
            Entry::Customize => Box::<Customize>::default(),
            Entry::Register => Box::new(super::register::RegisterMenu::new(facts)),
            Entry::Extract => Box::new(Extract::new(facts)),
            Entry::Images => Box::new(super::images::Images::new(facts)),
            Entry::Log => Box::new(super::log::log(facts)),
            Entry::Reset => Box::new(Reset::default()),
            Entry::Help => super::log::help(),
        };
        vec![Action::Push(opened)]
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.0.render(area, buf);
    }
}

impl Facts {
    /// The file of the image or its side files that is one the media
    /// reads (the media, a backing file, the session's overlay).
    pub(super) fn clash_with_media(&self, out: &Path) -> Option<crate::media::identity::Clash> {
        let mut inputs = self.session.as_ref()?.inputs.clone();
        inputs.extend(self.work_source());
        crate::media::identity::find_clash(&crate::plan::output_paths(out), &inputs)
    }
}
