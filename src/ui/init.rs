//! Initialization's end and the questions around it: the media's backing
//! chain, initialization's failure, unsupported media, and wizard or
//! expert mode; and the question before leaving. Each is a dialog whose
//! answer a function turns into actions ([`Ask`]).

use std::path::Path;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Edits, Facts, ScreenId, Session};
use super::component::{Action, Component};
use super::job::{JobKind, JobResult, job_error};
use super::widgets::{Btn, Dialog, Reply};
use crate::media::chain::{Chain, ChainError};
use crate::plan::Request;

/// What a dialog's answer leads to.
type Answer = Box<dyn FnMut(Reply, &mut Facts) -> Vec<Action>>;

/// A dialog whose answer a function turns into actions.
pub struct Ask {
    id: ScreenId,
    dialog: Dialog,
    answer: Answer,
}

impl Ask {
    pub fn boxed(
        id: ScreenId,
        dialog: Dialog,
        answer: impl FnMut(Reply, &mut Facts) -> Vec<Action> + 'static,
    ) -> Box<dyn Component> {
        Box::new(Ask {
            id,
            dialog,
            answer: Box::new(answer),
        })
    }
}

impl Component for Ask {
    fn id(&self) -> ScreenId {
        self.id.clone()
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        match self.dialog.on_key(key) {
            Reply::None => Vec::new(),
            reply => (self.answer)(reply, facts),
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.dialog.render(area, buf);
    }

    fn is_dialog(&self) -> bool {
        true
    }
}

/// Initialize `media` (a new start: the session's overlay goes): the
/// snapshot, the helper VM, inspection.
pub fn open(media: &Path, facts: &mut Facts) -> Vec<Action> {
    facts.mount = Default::default();
    let request = Request {
        source: media.to_owned(),
        print_metadata: true,
        allow_unsupported: true,
        ..facts.base_request(media)
    };
    vec![Action::StartJob {
        kind: JobKind::Initialize,
        title: "Initialization".into(),
        request: Box::new(request),
        release: Default::default(),
    }]
}

/// A message with OK that goes back to what was under it.
pub fn notice(title: &str, text: &str) -> Box<dyn Component> {
    let dialog = Dialog::new(title, text, &[Btn::Ok]);
    Ask::boxed(ScreenId::Notice, dialog, |_, _| vec![Action::Pop])
}

/// "Do you want to exit?" (No first).
pub fn confirm_exit() -> Box<dyn Component> {
    let dialog = Dialog::new("Exit", "Do you want to exit?", &[Btn::Yes, Btn::No]);
    Ask::boxed(
        ScreenId::ConfirmExit,
        dialog.defaulting_to(Btn::No),
        |r, _| match r {
            Reply::Button(Btn::Yes) => vec![Action::Exit(0)],
            _ => vec![Action::Pop],
        },
    )
}

/// Wizard or expert mode?
pub fn mode_choice(facts: &Facts) -> Box<dyn Component> {
    let (os_type, distro) = facts.os_names();
    let text = format!(
        "snf-image-creator detected a {os_type} ({distro}) system on the input media. Would you like to run a wizard to assist you through the image creation process?\n\nChoose Expert for the full menu."
    );
    let dialog = Dialog::new("Wizard or Expert", &text, &[Btn::Wizard, Btn::Expert]);
    Ask::boxed(ScreenId::ModeChoice, dialog, |r, _| match r {
        Reply::Button(Btn::Wizard) => vec![Action::Pop, Action::Wizard],
        Reply::Cancel => vec![Action::Push(confirm_exit())],
        _ => vec![Action::Pop, Action::Expert],
    })
}

/// Unsupported media: go on in expert mode (No first, and leaves)?
fn unsupported(reason: &str) -> Box<dyn Component> {
    let text = format!(
        "The media is not supported: {reason}.\n\nIt can still be exported as it is, with no system preparation and with every deployment task excluded (EXCLUDE_ALL_TASKS), so that the VMs made from it are not configured at all. Go on in expert mode?"
    );
    let dialog = Dialog::new("Unsupported media", &text, &[Btn::Yes, Btn::No]);
    Ask::boxed(
        ScreenId::Unsupported,
        dialog.defaulting_to(Btn::No),
        |r, _| match r {
            Reply::Button(Btn::Yes) => vec![Action::Pop, Action::Expert],
            _ => vec![Action::Exit(0)],
        },
    )
}

/// The refused chain: use it (Cancel first, back to the browser)?
fn backing_chain(chain: Chain) -> Box<dyn Component> {
    let files: Vec<String> = (chain.layers.iter())
        .map(|l| format!(" * {} ({})", l.path.display(), l.format))
        .collect();
    let media = chain.layers[0].path.clone();
    let top = media.display();
    let text = format!(
        "{top} has a backing file: what the image does not hold itself is read from the files below it, and goes into every image made from it.\n\n{}\n\nUse the whole chain? (Or flatten it first: qemu-img convert -O qcow2 {top} flat.qcow2)",
        files.join("\n")
    );
    let dialog = Dialog::new("Backing file", &text, &[Btn::Continue, Btn::Cancel]);
    Ask::boxed(
        ScreenId::BackingChain,
        dialog.defaulting_to(Btn::Cancel),
        move |r, facts| match r {
            Reply::Button(Btn::Continue) => {
                facts.chain.allowed_for = Some(media.clone());
                vec![Action::Pop, Action::OpenMedia(media.clone())]
            }
            _ => vec![Action::Pop, Action::BackToMedia],
        },
    )
}

/// Initialization ended: keep what it found and ask how to go on, or
/// say why it failed (asking about a backing chain the user may accept).
pub fn initialized(result: JobResult, facts: &mut Facts) -> Vec<Action> {
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            if let Some(ChainError::NotAllowed { chain, .. }) = e.downcast_ref() {
                return vec![Action::Push(backing_chain(chain.clone()))];
            }
            let dialog = Dialog::new("Initialization failed", &job_error(&e), &[Btn::Ok]);
            let failed = Ask::boxed(ScreenId::InitFailed, dialog, |_, _| {
                vec![Action::Pop, Action::BackToMedia]
            });
            return vec![Action::Push(failed)];
        }
    };
    let unsupported_reason = outcome.unsupported.clone();
    facts.edits = Edits::default();
    facts.sysprep = Default::default();
    facts.session = Some(Session {
        source: outcome.source.path.clone(),
        format: outcome.source.format.clone(),
        os: outcome.os.clone(),
        metadata: outcome.metadata.clone(),
        size: outcome.size,
        shrunk: false,
        unsupported: unsupported_reason.clone(),
        inputs: outcome.source.inputs(),
    });
    let next = match unsupported_reason {
        Some(reason) => unsupported(&reason),
        None => mode_choice(facts),
    };
    vec![Action::Clear, Action::Push(next)]
}
