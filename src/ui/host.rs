//! Bundle Host: the running host's planned layout, what the image cannot
//! keep of it and the filter it is copied with, and, when the root is on
//! LVM or btrfs, whether to copy a snapshot of it (the default) or the
//! live system. PageUp and PageDown scroll a long layout. Continue goes on into initialization with `/` as the
//! media (then wizard or expert mode, as for any media), Cancel back to
//! the browser.

use std::path::Path;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout as Split, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::init::notice;
use super::widgets::{Btn, Menu, Reply, centered, frame, item_list, wrapped_lines};
use crate::media::tree::Layout;
use crate::media::tree::host::{self, HostLayout, LiveHost, snapshot};

/// Plan this machine's layout and show it.
pub fn bundle_host(facts: &Facts) -> Vec<Action> {
    let planned = host::plan(&LiveHost::default(), &host::host_root());
    vec![Action::Push(dialog(planned, facts))]
}

/// The layout's dialog, or why the host cannot be bundled.
pub fn dialog(planned: anyhow::Result<HostLayout>, facts: &Facts) -> Box<dyn Component> {
    match planned
        .map_err(|e| format!("{e:#}"))
        .and_then(|l| HostDialog::new(&l, facts))
    {
        Ok(d) => Box::new(d),
        Err(e) => notice(
            "Bundle Host",
            &format!("The running host cannot be bundled: {e}."),
        ),
    }
}

/// How the host's root is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCopy {
    /// A snapshot of the root (LVM or btrfs), taken when the copy starts.
    Snapshot,
    /// The running system, while it changes.
    Live,
}

/// What a key did to the Bundle Host dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Nothing,
    /// Continue: bundle the host this way.
    Bundle(HostCopy),
    /// Cancel or Esc.
    Cancel,
}

/// The Bundle Host dialog: the layout and filter as text, the ways to
/// copy the root as items (none when only the live copy is possible),
/// Continue and Cancel (the default).
pub struct HostDialog {
    pub menu: Menu<HostCopy>,
    /// The first line of the text shown (PageUp and PageDown scroll it).
    pub top: u16,
}

/// The columns the text is wrapped at (roughly), and the lines a page
/// key scrolls.
const TEXT_WIDTH: usize = 70;
const SCROLL: u16 = 5;

impl HostDialog {
    /// The dialog for `layout`, or why `/` cannot be bundled.
    pub fn new(layout: &HostLayout, facts: &Facts) -> Result<HostDialog, String> {
        let details = layout_lines(layout, facts)?;
        let (mut lines, items) = if snapshot::offered(layout) {
            let items = vec![
                (
                    HostCopy::Snapshot,
                    "Snapshot".to_owned(),
                    "copy a snapshot: nothing changes while it is copied".to_owned(),
                ),
                (
                    HostCopy::Live,
                    "Live".to_owned(),
                    "copy the running system while it changes".to_owned(),
                ),
            ];
            (snapshot_offer(layout), items)
        } else {
            let warning = "The system is copied while it runs: files that change meanwhile \
                 (databases, logs) may be copied half-written. Copy it into a new image and go on?";
            (vec![warning.to_owned()], Vec::new())
        };
        lines.push(String::new());
        lines.extend(details);
        let text = lines.join("\n");
        let mut menu = Menu::new("Bundle Host", &text, items, &[Btn::Continue, Btn::Cancel]);
        menu.buttons.focus(Btn::Cancel);
        Ok(HostDialog { menu, top: 0 })
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Choice {
        let last = wrapped_lines(&self.menu.text, TEXT_WIDTH).saturating_sub(1);
        match key.code {
            KeyCode::PageDown => self.top = (self.top + SCROLL).min(last),
            KeyCode::PageUp => self.top = self.top.saturating_sub(SCROLL),
            _ => {
                return match self.menu.on_key(key) {
                    Reply::None => Choice::Nothing,
                    Reply::Button(Btn::Continue) => {
                        Choice::Bundle(self.menu.current().copied().unwrap_or(HostCopy::Live))
                    }
                    _ => Choice::Cancel,
                };
            }
        }
        Choice::Nothing
    }
}

/// The host's layout, the new disk's, what the image cannot keep, and
/// the filter.
fn layout_lines(layout: &HostLayout, facts: &Facts) -> Result<Vec<String>, String> {
    let root = Path::new("/");
    let request = facts.base_request(root);
    let spec = (request.tree)
        .validate(root, None, request.tmpdir.as_deref())
        .map_err(|e| e.0)?
        .ok_or("/ is not a tree")?;
    let mut lines = layout.lines();
    let new = Layout::of_host(layout, spec.table, spec.fs);
    lines.extend(new.lines());
    lines.extend(new.notes);
    lines.push(format!("Left out: {}", spec.filter.lines().join("  ")));
    Ok(lines)
}

/// The question a root on LVM or btrfs asks.
fn snapshot_offer(layout: &HostLayout) -> Vec<String> {
    let root = layout.root_fs();
    let on = match root.fs_type.as_str() {
        "btrfs" => "btrfs",
        _ => "LVM",
    };
    let mut lines = vec![format!(
        "The root is on {on}: copy a snapshot of it (taken when the copy starts and removed \
         at the end), or the running system, whose files may change while they are copied?"
    )];
    lines.extend(snapshot::copied_live(layout).map(|l| format!("With a snapshot, {l}.")));
    lines
}

impl Component for HostDialog {
    fn id(&self) -> ScreenId {
        ScreenId::BundleHost
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        match HostDialog::on_key(self, key) {
            Choice::Nothing => Vec::new(),
            Choice::Bundle(how) => {
                facts.snapshot_root = how == HostCopy::Snapshot;
                vec![Action::Pop, Action::OpenMedia("/".into())]
            }
            Choice::Cancel => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        let m = &self.menu;
        let items = m.items.len() as u16;
        let gap = u16::from(items > 0);
        let lines = wrapped_lines(&m.text, TEXT_WIDTH);
        let area = centered(area, 76, lines + gap + items + 4);
        let (body, buttons) = frame(&m.title, area, buf);
        let [text, list] =
            Split::vertical([Constraint::Min(1), Constraint::Length(items + gap)]).areas(body);
        Paragraph::new(m.text.as_str())
            .wrap(Wrap { trim: true })
            .scroll((self.top, 0))
            .render(text, buf);
        if lines > self.top + text.height {
            let more = Rect::new(area.x, area.bottom() - 1, area.width - 2, 1);
            Line::from(" PgDn: more ").right_aligned().render(more, buf);
        }
        let list = Rect {
            y: list.y + gap,
            height: list.height.saturating_sub(gap),
            ..list
        };
        item_list(&m.items, m.selected, list, buf);
        m.buttons.line().render(buttons, buf);
    }

    fn is_dialog(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ratatui::crossterm::event::KeyCode;

    use super::*;
    use crate::media::tree::TableType;
    use crate::media::tree::host::{HostFs, Skip, Storage};
    use crate::ui::tests::{app, press, screen_text, top_id};

    fn layout() -> HostLayout {
        HostLayout {
            root: PathBuf::from("/"),
            disks: vec!["vda".into()],
            table: Some(TableType::Msdos),
            label_id: None,
            partitions: Vec::new(),
            filesystems: vec![HostFs {
                mount_point: PathBuf::from("/"),
                device: "vda1".into(),
                storage: Storage::Partition {
                    disk: "vda".into(),
                    number: 1,
                },
                fs_type: "ext4".into(),
                uuid: Some("1234".into()),
                label: Some("root".into()),
                part_uuid: None,
                subvol: None,
            }],
            skipped: vec![(PathBuf::from("/srv/nfs"), Skip::Network("nfs4".into()))],
            swap: None,
        }
    }

    #[test]
    fn shows_the_layout_and_the_filter_then_opens_the_host() {
        let mut a = app();
        a.facts.session = None;
        let d = dialog(Ok(layout()), &a.facts);
        a.apply(vec![Action::Push(d)]);
        assert_eq!(top_id(&a), Some(ScreenId::BundleHost));
        let shown = screen_text(&a);
        for said in [
            "disk vda: an MBR partition table",
            "/ ext4 on vda1 (partition 1 of vda), UUID=1234, LABEL=root",
            "left out: /srv/nfs (nfs4: a network filesystem)",
            "/proc/.+",
            "copied while it runs",
        ] {
            assert!(shown.contains(said), "{said:?} not in\n{shown}");
        }
        // Cancel is the default: back to what was under it.
        press(&mut a, &[KeyCode::Enter]);
        assert_ne!(top_id(&a), Some(ScreenId::BundleHost));
        // Continue opens `/` as the media, into initialization.
        let mut d = dialog(Ok(layout()), &a.facts);
        let left = KeyCode::Left.into();
        assert!(d.on_key(left, &mut a.facts).is_empty());
        let enter = KeyCode::Enter.into();
        let actions = d.on_key(enter, &mut a.facts);
        let opened =
            matches!(&actions[..], [Action::Pop, Action::OpenMedia(p)] if p == Path::new("/"));
        assert!(opened, "{} actions", actions.len());
    }

    /// A btrfs root subvolume with `/home` another subvolume.
    fn btrfs() -> HostLayout {
        let mut l = layout();
        let fs = |mount: &str, subvol: &str| HostFs {
            mount_point: PathBuf::from(mount),
            fs_type: "btrfs".into(),
            subvol: Some(subvol.into()),
            ..l.filesystems[0].clone()
        };
        l.filesystems = vec![fs("/", "/"), fs("/home", "/@home")];
        l
    }

    #[test]
    fn a_btrfs_root_offers_a_snapshot_by_default() {
        let a = app();
        let mut d = HostDialog::new(&btrfs(), &a.facts).unwrap();
        let text = &d.menu.text;
        assert!(
            text.contains("The root is on btrfs: copy a snapshot"),
            "{text}"
        );
        assert!(text.contains("/home copied live"), "{text}");
        assert!(!text.contains("Copy it into a new image"), "{text}");
        assert_eq!(d.menu.current(), Some(&HostCopy::Snapshot));
        // Page keys scroll the text, not the choice.
        assert_eq!(d.on_key(KeyCode::PageDown.into()), Choice::Nothing);
        assert!(d.top > 0 && d.menu.current() == Some(&HostCopy::Snapshot));
        d.on_key(KeyCode::PageUp.into());
        assert_eq!(d.top, 0);
        // Cancel is the current button; Left makes it Continue.
        assert_eq!(d.on_key(KeyCode::Enter.into()), Choice::Cancel);
        assert_eq!(d.on_key(KeyCode::Left.into()), Choice::Nothing);
        let snap = Choice::Bundle(HostCopy::Snapshot);
        assert_eq!(d.on_key(KeyCode::Enter.into()), snap);
        assert_eq!(d.on_key(KeyCode::Down.into()), Choice::Nothing);
        let live = Choice::Bundle(HostCopy::Live);
        assert_eq!(d.on_key(KeyCode::Enter.into()), live);
        assert_eq!(d.on_key(KeyCode::Esc.into()), Choice::Cancel);
        // An LVM root (a device-mapper device) is offered one too.
        let mut lvm = layout();
        lvm.filesystems[0].storage = Storage::Mapper {
            name: "vg0-root".into(),
            over: vec!["vda2".into()],
        };
        let d = HostDialog::new(&lvm, &a.facts).unwrap();
        assert!(d.menu.text.contains("The root is on LVM: copy a snapshot"));
        assert!(!d.menu.text.contains("copied live"));
        // A partition is copied live, with no choice.
        let d = HostDialog::new(&layout(), &a.facts).unwrap();
        assert!(d.menu.items.is_empty() && d.menu.current().is_none());
    }

    #[test]
    fn the_snapshot_choice_goes_into_every_run_on_the_host() {
        let mut a = app();
        a.facts.session = None;
        a.apply(vec![Action::Push(dialog(Ok(btrfs()), &a.facts))]);
        let shown = screen_text(&a);
        for said in [
            "Snapshot  copy a snapshot",
            "Live      copy the running",
            "Continue",
        ] {
            assert!(shown.contains(said), "{said:?} not in\n{shown}");
        }
        let mut d = dialog(Ok(btrfs()), &a.facts);
        let actions = d.on_key(KeyCode::Left.into(), &mut a.facts);
        assert!(actions.is_empty());
        let actions = d.on_key(KeyCode::Enter.into(), &mut a.facts);
        assert!(matches!(&actions[..], [Action::Pop, Action::OpenMedia(p)] if p == Path::new("/")));
        assert!(a.facts.snapshot_root);
        assert!(a.facts.base_request(Path::new("/")).tree.snapshot_root);
        let image = Path::new("/images/debian.qcow2");
        assert!(!a.facts.base_request(image).tree.snapshot_root);
        // Live: no snapshot.
        let mut d = dialog(Ok(btrfs()), &a.facts);
        for key in [KeyCode::Down, KeyCode::Left, KeyCode::Enter] {
            d.on_key(key.into(), &mut a.facts);
        }
        assert!(!a.facts.snapshot_root);
        assert!(!a.facts.base_request(Path::new("/")).tree.snapshot_root);
    }

    #[test]
    fn a_host_that_cannot_be_bundled_says_why() {
        let mut a = app();
        let planned = Err(anyhow::anyhow!("the root / is a overlay filesystem"));
        a.apply(vec![Action::Push(dialog(planned, &a.facts))]);
        assert_eq!(top_id(&a), Some(ScreenId::Notice));
        assert!(screen_text(&a).contains("cannot be bundled: the root / is a overlay"));
    }
}
