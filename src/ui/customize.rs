//! Expert mode's Customize menu, in the original's order: Mount, VirtIO,
//! Sysprep, Properties, Exclude. Each entry's screens live in their own
//! module; VirtIO, which this product does not do yet, is a notice here.

use super::app::{App, Entry as AppEntry, Screen, Tag as AppTag};
use super::expert::{Tag as ExpertTag, fixed};
use super::properties::{Exclude, Properties};
use super::sysprep_tasks::Tasks;
use super::widgets::{Btn, Menu, Reply};

/// The entries of the Customize menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Mount,
    VirtIO,
    Sysprep,
    Properties,
    Exclude,
}

const ENTRIES: &[(Entry, &str, &str)] = &[
    (
        Entry::Mount,
        "Mount",
        "Mount the image's filesystems here to change them",
    ),
    (
        Entry::VirtIO,
        "VirtIO",
        "Install VirtIO drivers (Windows guests)",
    ),
    (
        Entry::Sysprep,
        "Sysprep",
        "Choose and preview the system preparation tasks",
    ),
    (
        Entry::Properties,
        "Properties",
        "View & modify image properties",
    ),
    (
        Entry::Exclude,
        "Exclude",
        "Exclude various deployment tasks from running",
    ),
];

impl App {
    /// Show the Customize menu.
    pub(super) fn open_customize(&mut self) {
        let items = fixed(ENTRIES, AppEntry::Customize);
        self.push(Screen::Menu(
            AppTag::Expert(ExpertTag::Customize),
            Menu::new(
                "Image Customization Menu",
                "Choose one of the following or press <Back> to go back.",
                items,
                &[Btn::Select, Btn::Back],
            ),
        ));
    }

    /// A reply on the Customize menu.
    pub(super) fn on_customize(&mut self, menu: Menu<AppEntry>, reply: Reply) {
        let (Reply::Button(Btn::Select), Some(AppEntry::Customize(choice))) =
            (reply, menu.current().cloned())
        else {
            return;
        };
        self.push(Screen::Menu(AppTag::Expert(ExpertTag::Customize), menu));
        match choice {
            Entry::Mount => {
                let actions = super::mount::open(&mut self.facts);
                self.apply(actions);
            }
            Entry::VirtIO => self.virtio(),
            Entry::Sysprep => match Tasks::open(&self.facts) {
                Ok(tasks) => self.push(Screen::Component(Box::new(tasks))),
                Err(why) => self.apply(vec![why]),
            },
            Entry::Properties => {
                let properties = Properties::new(&self.facts);
                self.push(Screen::Component(Box::new(properties)));
            }
            Entry::Exclude => match Exclude::open(&self.facts) {
                Ok(exclude) => self.push(Screen::Component(Box::new(exclude))),
                Err(why) => self.apply(vec![why]),
            },
        }
    }

    /// VirtIO drivers matter to Windows guests only, which this product
    /// does not prepare yet.
    fn virtio(&mut self) {
        let os = self
            .facts
            .session
            .as_ref()
            .and_then(|s| s.os.as_ref())
            .map(|os| os.os_type.clone());
        let text = match os.as_deref() {
            Some("windows") => "Windows guests need the VirtIO drivers, but installing them is not available yet: this version does not prepare Windows images.".to_owned(),
            Some(os) => format!(
                "VirtIO drivers are needed by Windows guests only; {} has them built in.",
                display_name(os)
            ),
            None => "VirtIO drivers are needed by Windows guests only; no operating system was found on the media.".to_owned(),
        };
        self.notice("VirtIO", &text);
    }
}

/// How an OS type reads in a sentence.
fn display_name(os_type: &str) -> String {
    match os_type {
        "linux" => "Linux".into(),
        "freebsd" => "FreeBSD".into(),
        "netbsd" => "NetBSD".into(),
        "openbsd" => "OpenBSD".into(),
        "hurd" => "GNU/Hurd".into(),
        other => other.to_owned(),
    }
}
