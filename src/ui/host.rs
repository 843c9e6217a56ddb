//! Bundle Host: the running host's planned layout, what the image cannot
//! keep of it and the filter it is copied with; Continue goes on into
//! initialization with `/` as the media (then wizard or expert mode, as
//! for any media), Cancel back to the browser.

use std::path::Path;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::init::{Ask, notice};
use super::widgets::{Btn, Dialog, Reply};
use crate::media::tree::Layout;
use crate::media::tree::host::{self, HostLayout, LiveHost};

/// Plan this machine's layout and show it.
pub fn bundle_host(facts: &Facts) -> Vec<Action> {
    let planned = host::plan(&LiveHost::default(), &host::host_root());
    vec![Action::Push(dialog(planned, facts))]
}

/// The layout's dialog, or why the host cannot be bundled.
pub fn dialog(planned: anyhow::Result<HostLayout>, facts: &Facts) -> Box<dyn Component> {
    match planned
        .map_err(|e| format!("{e:#}"))
        .and_then(|l| text(l, facts))
    {
        Ok(text) => {
            let dialog = Dialog::new("Bundle Host", &text, &[Btn::Continue, Btn::Cancel]);
            Ask::boxed(
                ScreenId::BundleHost,
                dialog.defaulting_to(Btn::Cancel),
                |r, _| match r {
                    Reply::Button(Btn::Continue) => {
                        vec![Action::Pop, Action::OpenMedia("/".into())]
                    }
                    _ => vec![Action::Pop],
                },
            )
        }
        Err(e) => notice(
            "Bundle Host",
            &format!("The running host cannot be bundled: {e}."),
        ),
    }
}

fn text(layout: HostLayout, facts: &Facts) -> Result<String, String> {
    let root = Path::new("/");
    let request = facts.base_request(root);
    let spec = (request.tree)
        .validate(root, None, request.tmpdir.as_deref())
        .map_err(|e| e.0)?
        .ok_or("/ is not a tree")?;
    let mut lines = layout.lines();
    let new = Layout::of_host(&layout, spec.table, spec.fs);
    lines.extend(new.lines());
    lines.extend(new.notes);
    lines.push(format!("Left out: {}", spec.filter.lines().join("  ")));
    lines
        .push("The system is copied while it runs. Copy it into a new image and go on?".to_owned());
    Ok(lines.join("\n"))
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

    #[test]
    fn a_host_that_cannot_be_bundled_says_why() {
        let mut a = app();
        let planned = Err(anyhow::anyhow!("the root / is a overlay filesystem"));
        a.apply(vec![Action::Push(dialog(planned, &a.facts))]);
        assert_eq!(top_id(&a), Some(ScreenId::Notice));
        assert!(screen_text(&a).contains("cannot be bundled: the root / is a overlay"));
    }
}
