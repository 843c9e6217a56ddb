//! Media with a backing chain: initialization refuses it until the user has
//! seen the chain and said to use it (as `--allow-backing-file` does on the
//! command line). Chains no answer makes acceptable (devices, network
//! backing files, external data files…) fail initialization as any other
//! bad media does.

use std::path::PathBuf;

use super::app::{App, Screen, Tag};
use super::browser::Browser;
use super::widgets::{Dialog, Reply};
use crate::media::chain::Chain;

/// What the user said about backing chains.
#[derive(Debug, Default)]
pub struct ChainState {
    /// The media whose chain the user accepted.
    pub allowed_for: Option<PathBuf>,
    /// The chain initialization just refused, to ask about.
    pub asking: Option<Chain>,
}

impl App {
    /// Show the refused chain and ask whether to use it.
    pub(super) fn ask_backing(&mut self) {
        let Some(chain) = &self.chain.asking else {
            return;
        };
        let files: Vec<String> = chain
            .layers
            .iter()
            .map(|l| format!(" * {} ({})", l.path.display(), l.format))
            .collect();
        let top = chain.layers[0].path.display();
        let text = format!(
            "{top} has a backing file: what the image does not hold itself is read from the files below it, and goes into every image made from it.\n\n{}\n\nUse the whole chain? (Or flatten it first: qemu-img convert -O qcow2 {top} flat.qcow2)",
            files.join("\n")
        );
        self.push(Screen::Dialog(
            Tag::BackingChain,
            Dialog::new("Backing file", &text, &["Continue", "Cancel"]).defaulting_to(1),
        ));
    }

    /// Continue opens the media with its chain; Cancel goes back to the
    /// browser.
    pub(super) fn on_backing_reply(&mut self, reply: Reply) {
        let chain = self.chain.asking.take();
        match (reply, chain) {
            (Reply::Button(0), Some(chain)) => {
                let media = chain.layers[0].path.clone();
                self.chain.allowed_for = Some(media.clone());
                self.open_media(&media);
            }
            _ if self.stack.is_empty() => {
                self.push(Screen::Browser(Browser::open(std::path::Path::new("."))));
            }
            _ => {}
        }
    }
}
