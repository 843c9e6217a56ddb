//! Expert mode's Customize menu, in the original's order: Mount, VirtIO,
//! Sysprep, Properties, Exclude. Each entry's screens live in their own
//! module; VirtIO, which this product does not do yet, is a notice here.

use super::app::{App, Screen, Tag as AppTag};
use super::expert::Tag as ExpertTag;
use super::widgets::{Menu, Reply};
use crate::guest::OsFamily;

const ENTRIES: &[(&str, &str)] = &[
    ("Mount", "Mount the image's filesystems here to change them"),
    ("VirtIO", "Install VirtIO drivers (Windows guests)"),
    ("Sysprep", "Choose and preview the system preparation tasks"),
    ("Properties", "View & modify image properties"),
    ("Exclude", "Exclude various deployment tasks from running"),
];

impl App {
    /// Show the Customize menu.
    pub(super) fn open_customize(&mut self) {
        let items = ENTRIES
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self.push(Screen::Menu(
            AppTag::Expert(ExpertTag::Customize),
            Menu::new(
                "Image Customization Menu",
                "Choose one of the following or press <Back> to go back.",
                items,
                &["Select", "Back"],
            ),
        ));
    }

    /// A reply on the Customize menu.
    pub(super) fn on_customize(&mut self, menu: Menu, reply: Reply) {
        if reply != Reply::Button(0) {
            return;
        }
        let choice = menu.current().map(str::to_owned);
        self.push(Screen::Menu(AppTag::Expert(ExpertTag::Customize), menu));
        match choice.as_deref() {
            Some("Mount") => self.open_mount(),
            Some("VirtIO") => self.virtio(),
            Some("Sysprep") => self.open_sysprep(),
            Some("Properties") => self.open_properties(),
            _ => self.open_exclude(),
        }
    }

    /// VirtIO drivers matter to Windows guests only, which this product
    /// does not prepare yet.
    fn virtio(&mut self) {
        let os = self
            .session
            .as_ref()
            .and_then(|s| s.os.as_ref())
            .map(|os| &os.family);
        let text = match os {
            Some(OsFamily::Windows) => "Windows guests need the VirtIO drivers, but installing them is not available yet: this version does not prepare Windows images.".to_owned(),
            Some(family) => format!(
                "VirtIO drivers are needed by Windows guests only; {} has them built in.",
                family.title()
            ),
            None => "VirtIO drivers are needed by Windows guests only; no operating system was found on the media.".to_owned(),
        };
        self.notice("VirtIO", &text);
    }
}
