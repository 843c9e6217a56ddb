//! The media browser: pick a disk image or a block device, or bundle the
//! running host. Directories open in place; `..` goes up.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::widgets::{Btn, Menu, Reply};

/// What the user did in the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    /// Nothing final yet.
    Nothing,
    /// This file or block device.
    Media(PathBuf),
    /// The running host (`/`).
    BundleHost,
    /// Exit was pressed, or Esc.
    Exit,
}

/// The browser's state: a directory and a menu of its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    pub dir: PathBuf,
    pub menu: Menu,
}

impl Browser {
    /// Open `dir` (made absolute).
    pub fn open(dir: &Path) -> Browser {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        let menu = Menu::keyed(
            "Please select an input media",
            &format!(
                "{}\nDisk images and block devices; Enter opens a directory.",
                dir.display()
            ),
            entries(&dir),
            &[Btn::Select, Btn::BundleHost, Btn::Exit],
        );
        Browser { dir, menu }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Picked {
        match self.menu.on_key(key) {
            Reply::None => Picked::Nothing,
            Reply::Cancel | Reply::Button(Btn::Exit) => Picked::Exit,
            Reply::Button(Btn::BundleHost) => Picked::BundleHost,
            Reply::Button(_) => self.choose(),
        }
    }

    fn choose(&mut self) -> Picked {
        let Some(name) = self.menu.current() else {
            return Picked::Nothing;
        };
        let name = name.trim_end_matches('/').to_owned();
        let path = if name == ".." {
            self.dir.parent().unwrap_or(&self.dir).to_owned()
        } else {
            self.dir.join(&name)
        };
        if path.is_dir() {
            *self = Browser::open(&path);
            Picked::Nothing
        } else {
            Picked::Media(path)
        }
    }
}

/// `..`, the subdirectories, then the regular files and block devices,
/// each group sorted; hidden entries left out.
fn entries(dir: &Path) -> Vec<(String, String)> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Ok(meta) = entry.path().metadata() else {
            continue;
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            dirs.push((format!("{name}/"), "directory".to_owned()));
        } else if kind.is_file() {
            files.push((name, human_size(meta.len())));
        } else if kind.is_block_device() {
            files.push((name, "block device".to_owned()));
        }
    }
    dirs.sort();
    files.sort();
    let mut all = vec![("../".to_owned(), "parent directory".to_owned())];
    all.extend(dirs);
    all.extend(files);
    all
}

/// Sizes as people read them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

impl Widget for &Browser {
    fn render(self, area: Rect, buf: &mut Buffer) {
        (&self.menu).render(area, buf);
    }
}

/// The browser as the first screen: a pick opens the media, Exit asks.
impl Component for Browser {
    fn id(&self) -> ScreenId {
        ScreenId::Browser
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        match Browser::on_key(self, key) {
            Picked::Nothing => Vec::new(),
            Picked::Media(path) => vec![Action::OpenMedia(path)],
            Picked::BundleHost => super::host::bundle_host(facts),
            Picked::Exit => vec![Action::Push(super::init::confirm_exit())],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.menu.render(area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyCode;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::from(code)
    }

    #[test]
    fn lists_walks_and_picks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("images")).unwrap();
        std::fs::write(dir.path().join("images/disk.qcow2"), vec![0u8; 2048]).unwrap();
        std::fs::write(dir.path().join(".hidden"), b"").unwrap();
        let mut b = Browser::open(dir.path());
        let names: Vec<&str> = b.menu.items.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["../", "images/"]);
        b.on_key(key(KeyCode::Down));
        assert_eq!(b.on_key(key(KeyCode::Enter)), Picked::Nothing);
        assert_eq!(b.dir, dir.path().join("images"));
        assert_eq!(b.menu.items[1], ("disk.qcow2".into(), "2.0 KiB".into()));
        b.on_key(key(KeyCode::Down));
        assert_eq!(
            b.on_key(key(KeyCode::Enter)),
            Picked::Media(dir.path().join("images/disk.qcow2"))
        );
        b.on_key(key(KeyCode::Home));
        b.on_key(key(KeyCode::Enter));
        assert_eq!(b.dir, dir.path());
        b.on_key(key(KeyCode::Tab));
        assert_eq!(b.on_key(key(KeyCode::Enter)), Picked::BundleHost);
        assert_eq!(b.on_key(key(KeyCode::Esc)), Picked::Exit);
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }
}
