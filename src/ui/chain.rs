//! Media with a backing chain: initialization refuses it until the user has
//! seen the chain and said to use it (as `--allow-backing-file` does on the
//! command line). Chains no answer makes acceptable (devices, network
//! backing files, external data files…) fail initialization as any other
//! bad media does.

use std::path::PathBuf;

/// What the user said about backing chains.
#[derive(Debug, Default)]
pub struct ChainState {
    /// The media whose chain the user accepted.
    pub allowed_for: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ratatui::crossterm::event::KeyCode;

    use crate::media::chain::Chain;
    use crate::media::chain::Layer;
    use crate::ui::AppEvent;
    use crate::ui::app::{App, ScreenId};
    use crate::ui::component::Action;
    use crate::ui::job::JobKind;
    use crate::ui::tests::{app, press, screen_text, snapshot, top_id, type_text};

    fn refused(a: &mut App, top: &Path) {
        let layer = |p: &Path, f: &str| Layer {
            path: p.to_owned(),
            format: f.into(),
        };
        let chain = Chain {
            layers: vec![
                layer(top, "qcow2"),
                layer(Path::new("/srv/base.raw"), "raw"),
            ],
        };
        let refused = crate::media::chain::ChainError::NotAllowed {
            top: top.display().to_string(),
            chain,
        };
        a.on_event(AppEvent::JobDone(
            JobKind::Initialize,
            Err(anyhow::Error::new(refused)),
        ));
    }

    #[test]
    fn backing_chain_dialog_asks_before_using_the_chain() {
        let mut a = app();
        a.facts.session = None;
        let top = Path::new("/images/nowhere/top.qcow2");
        refused(&mut a, top);
        assert_eq!(top_id(&a), Some(ScreenId::BackingChain));
        snapshot("backing_chain", &a);
        // Cancel is the default: back to the browser, nothing allowed.
        press(&mut a, &[KeyCode::Enter]);
        assert_eq!(top_id(&a), Some(ScreenId::Browser));
        assert!(a.facts.chain.allowed_for.is_none() && a.job.is_none());
        assert!(!a.facts.base_request(top).allow_backing_file);

        refused(&mut a, top);
        press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
        assert_eq!(a.facts.chain.allowed_for.as_deref(), Some(top));
        assert!(a.facts.base_request(top).allow_backing_file);
        assert!(
            !a.facts
                .base_request(Path::new("/images/other.qcow2"))
                .allow_backing_file
        );
        // The media was opened again, with the chain allowed (it does not
        // exist here, so the request is refused before any job starts).
        assert!(screen_text(&a).contains("does not exist"));
        assert!(a.job.is_none());
    }

    #[test]
    fn extract_refuses_the_media_itself() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("disk.img");
        std::fs::write(&src, b"x").unwrap();
        let link = dir.path().join("link.diskdump");
        std::os::unix::fs::symlink(&src, &link).unwrap();
        let mut a = app();
        if let Some(s) = &mut a.facts.session {
            s.source = src.clone();
            s.inputs = vec![src.clone()];
        }
        a.apply(vec![Action::Expert]);
        press(&mut a, &[KeyCode::Down, KeyCode::Down, KeyCode::Enter]);
        press(&mut a, &[KeyCode::Backspace; 20]);
        type_text(&mut a, link.to_str().unwrap());
        press(&mut a, &[KeyCode::Enter]);
        let text = screen_text(&a);
        assert!(text.contains("which is never written to"), "{text}");
        assert!(a.job.is_none());
        assert_eq!(std::fs::read(&src).unwrap(), b"x");
    }
}
