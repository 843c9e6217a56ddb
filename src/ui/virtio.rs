//! Customize → VirtIO, for Windows guests: the directory of VirtIO drivers
//! that every later Extract or upload installs into the guest offline, as
//! `--install-virtio DIR` does. A typed directory is checked at once with
//! the command line's check ([`checked_dir`], which the wizard's VirtIO
//! page shares); Clear drops the choice.

use std::path::PathBuf;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::widgets::{Btn, Input, Reply};
use crate::guest::OsFamily;
use crate::sysprep::windows::virtio::check_dir;

/// Whether the session's guest is Windows, the only one that takes
/// VirtIO drivers.
pub(super) fn windows_guest(facts: &Facts) -> bool {
    let os = facts.session.as_ref().and_then(|s| s.os.as_ref());
    os.is_some_and(|os| os.family == OsFamily::Windows)
}

/// A typed driver directory, made absolute and checked: `None` when the
/// field is empty (no drivers), or the notice's text saying what is wrong.
pub(super) fn checked_dir(typed: &str) -> Result<Option<PathBuf>, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    let dir = std::path::absolute(typed).unwrap_or_else(|_| PathBuf::from(typed));
    match check_dir(&dir) {
        Ok(()) => Ok(Some(dir)),
        Err(why) => Err(format!(
            "{} cannot be used: {why}. Choose the directory of the VirtIO drivers for Windows.",
            dir.display()
        )),
    }
}

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
        match checked_dir(&self.0.value) {
            Ok(dir) => {
                facts.sysprep.virtio = dir;
                vec![Action::Pop]
            }
            // The field stays, so the path can be mended.
            Err(text) => vec![Action::notice("Invalid directory", text)],
        }
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
