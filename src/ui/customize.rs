//! Expert mode's Customize menu, in the original's order: Mount, VirtIO,
//! Sysprep, Properties, Exclude. Each entry's screens live in their own
//! module. VirtIO opens the drivers' page (`virtio.rs`) for a Windows
//! guest; for any other guest it is a notice here.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::properties::{Exclude, Properties};
use super::sysprep_tasks::Tasks;
use super::virtio::VirtIO;
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

/// The Customize menu.
pub struct Customize(Menu<Entry>);

impl Default for Customize {
    fn default() -> Customize {
        let items = (ENTRIES.iter())
            .map(|(e, n, d)| (*e, n.to_string(), d.to_string()))
            .collect();
        Customize(Menu::new(
            "Image Customization Menu",
            "Choose one of the following or press <Back> to go back.",
            items,
            &[Btn::Select, Btn::Back],
        ))
    }
}

impl Component for Customize {
    fn id(&self) -> ScreenId {
        ScreenId::Customize
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let reply = self.0.on_key(key);
        let (Reply::Button(Btn::Select), Some(choice)) = (reply, self.0.current()) else {
            return match reply {
                Reply::None => Vec::new(),
                _ => vec![Action::Pop],
            };
        };
        let opened = match choice {
            Entry::Mount => return super::mount::open(facts),
            Entry::VirtIO => virtio(facts),
            Entry::Sysprep => Tasks::open(facts).map(|c| Box::new(c) as Box<dyn Component>),
            Entry::Properties => Ok(Box::new(Properties::new(facts)) as Box<dyn Component>),
            Entry::Exclude => Exclude::open(facts).map(|c| Box::new(c) as Box<dyn Component>),
        };
        vec![opened.map_or_else(|why| why, Action::Push)]
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.0.render(area, buf);
    }
}

/// The VirtIO page for a Windows guest; any other guest needs no drivers,
/// and a notice says so.
fn virtio(facts: &Facts) -> Result<Box<dyn Component>, Action> {
    if super::virtio::windows_guest(facts) {
        return Ok(Box::new(VirtIO::new(facts)));
    }
    let os = (facts.session.as_ref())
        .and_then(|s| s.os.as_ref())
        .map(|os| &os.family);
    let text = match os {
        Some(family) => format!(
            "VirtIO drivers are needed by Windows guests only; {} has them built in.",
            family.title()
        ),
        None => "VirtIO drivers are needed by Windows guests only; no operating system was found on the media.".to_owned(),
    };
    Err(Action::notice("VirtIO", text))
}
