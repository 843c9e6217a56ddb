//! Expert mode: the main menu and its submenus (Customize → Properties and
//! Exclude here, the other Customize entries in their own modules; Extract,
//! Log, Reset, Help). Each answer either edits the session's pending
//! changes or starts a run of the pipeline.

use std::path::{Path, PathBuf};

use super::app::{App, Entry as AppEntry, Facts, Screen, Tag as AppTag};
use super::customize::Customize;
use super::extract::Extract;
use super::log::Reset;
use super::widgets::{Btn, Menu, Reply};

/// The expert screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    Main,
    Customize,
    /// The system preparation screens.
    Sysprep(super::sysprep::Tag),
    /// The running Mount, under its job's view.
    Mount,
    /// "The guest is mounted on DIR".
    Mounted,
    /// `--no-snapshot`: mount the original media?
    ConfirmMountOriginal,
    Properties,
    /// Editing the value of this property.
    PropertyValue(String),
    PropertyNewKey,
    /// The value of a new property with this name.
    PropertyNewValue(String),
    ConfirmDelete(String),
    Exclude,
    ExtractPath,
    ExtractOverwrite(PathBuf),
    Log,
    LogSavePath,
    Help,
    ConfirmReset,
}

/// The entries of the expert main menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Customize,
    Register,
    Extract,
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
    (Entry::Log, "Log", "Show the log of every step"),
    (Entry::Reset, "Reset", "Start again from the original media"),
    (Entry::Help, "Help", "How to use expert mode"),
];

/// The items of a fixed menu, each with its entry's identifier.
pub(super) fn fixed<E: Copy>(
    entries: &[(E, &str, &str)],
    wrap: impl Fn(E) -> AppEntry,
) -> Vec<(AppEntry, String, String)> {
    entries
        .iter()
        .map(|(e, n, d)| (wrap(*e), n.to_string(), d.to_string()))
        .collect()
}

impl App {
    /// Show the expert main menu (on a cleared stack).
    pub fn open_expert(&mut self) {
        self.stack.clear();
        if self
            .facts
            .session
            .as_ref()
            .is_some_and(|s| s.unsupported.is_some())
        {
            self.facts
                .edits
                .set
                .insert("EXCLUDE_ALL_TASKS".into(), "yes".into());
        }
        let menu = Menu::new(
            &format!(
                "Image Creator (snf-image-creator v{})",
                env!("CARGO_PKG_VERSION")
            ),
            "Choose one of the following or press <Exit> to exit.",
            fixed(MAIN, AppEntry::Expert),
            &[Btn::Select, Btn::Exit],
        );
        self.push(Screen::Menu(AppTag::Expert(Tag::Main), menu));
    }

    /// A reply on an expert screen.
    pub fn on_expert(&mut self, tag: Tag, screen: Screen, reply: Reply) {
        let (Tag::Main, Screen::Menu(t, menu)) = (tag, screen) else {
            return;
        };
        let choice = menu.current().cloned();
        self.push(Screen::Menu(t, menu));
        match (reply, choice) {
            (Reply::Button(Btn::Select), Some(AppEntry::Expert(c))) => self.on_main(c),
            _ => self.push(Screen::Component(super::init::confirm_exit())),
        }
    }

    fn on_main(&mut self, choice: Entry) {
        match choice {
            Entry::Customize => self.push(Screen::Component(Box::<Customize>::default())),
            Entry::Register => self.open_register(),
            Entry::Extract => self.push(Screen::Component(Box::new(Extract::new(&self.facts)))),
            Entry::Log => self.push(Screen::Component(Box::new(super::log::log(&self.facts)))),
            Entry::Reset => self.push(Screen::Component(Box::new(Reset::default()))),
            Entry::Help => self.push(Screen::Component(super::log::help())),
        }
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
