//! Customize → VirtIO, for Windows guests: the directory of VirtIO drivers
//! that every later Extract or upload installs into the guest offline, as
//! `--install-virtio DIR` does. A typed directory is checked at once with
//! the command line's check; Clear drops the choice.

use std::path::PathBuf;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::widgets::{Btn, Input, Reply};
use crate::sysprep::windows::virtio::check_dir;

/// The VirtIO page: the chosen directory, and a field to change it.
pub struct VirtIO(Input);

impl VirtIO {
    pub fn new(facts: &Facts) -> VirtIO {
        let chosen = (facts.sysprep.virtio.as_deref()).map(|d| d.display().to_string());
        let now = chosen.as_deref().unwrap_or("none");
        let label = format!(
            "The VirtIO drivers every later Extract or upload installs into the Windows guest. Type the directory that holds them (such as the virtio-win ISO's contents); Clear installs none.\nChosen now: {now}"
        );
        let value = chosen.clone().unwrap_or_default();
        VirtIO(Input::new(
            "VirtIO Drivers",
            &label,
            &value,
            &[Btn::Ok, Btn::Clear, Btn::Cancel],
        ))
    }

    /// Keep the typed directory if it holds VirtIO drivers; an empty field
    /// clears the choice.
    fn choose(&self, facts: &mut Facts) -> Vec<Action> {
        let typed = self.0.value.trim();
        if typed.is_empty() {
            facts.sysprep.virtio = None;
            return vec![Action::Pop];
        }
        let dir = std::path::absolute(typed).unwrap_or_else(|_| PathBuf::from(typed));
        if let Err(why) = check_dir(&dir) {
            // The field stays, so the path can be mended.
            let text = format!(
                "{} cannot be used: {why}. Choose the directory of the VirtIO drivers for Windows.",
                dir.display()
            );
            return vec![Action::notice("Invalid directory", text)];
        }
        facts.sysprep.virtio = Some(dir);
        vec![Action::Pop]
    }
}

impl Component for VirtIO {
    fn id(&self) -> ScreenId {
        ScreenId::VirtIO
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        match self.0.on_key(key) {
            Reply::None => Vec::new(),
            Reply::Button(Btn::Ok) => self.choose(facts),
            Reply::Button(Btn::Clear) => {
                facts.sysprep.virtio = None;
                vec![Action::Pop]
            }
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.0.render(area, buf);
    }
}
