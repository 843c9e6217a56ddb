//! The secrets page: a run that would upload an image the secret scan
//! found secrets in stops (the pipeline refuses without `--allow-secrets`);
//! this page lists the findings, by path and kind, and asks. Continue runs
//! the same job again with the secrets allowed; Cancel ends the job as the
//! failure it was.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::job::JobKind;
use super::widgets::{Btn, Dialog, Reply};
use crate::pipeline::secrets::SecretsFound;
use crate::plan::Request;

/// Findings shown on the page; the rest are counted.
const SHOWN: usize = 8;

/// A job stopped by its findings, kept to run again or to fail.
#[derive(Debug)]
pub struct Held {
    pub kind: JobKind,
    pub title: String,
    pub request: Request,
    /// The job's error, for Cancel.
    pub error: Option<anyhow::Error>,
}

/// What the user chose on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Upload anyway.
    Continue,
    Cancel,
}

impl Choice {
    fn of(reply: Reply) -> Option<Choice> {
        match reply {
            Reply::Button(Btn::Continue) => Some(Choice::Continue),
            Reply::Button(_) | Reply::Cancel => Some(Choice::Cancel),
            Reply::None => None,
        }
    }
}

/// The page for `findings` (`path: kind` lines).
pub fn page(findings: &[String]) -> Dialog {
    let mut text = format!(
        "The image holds {} secret(s) that must not be published:\n\n",
        findings.len()
    );
    for f in findings.iter().take(SHOWN) {
        text.push_str(&format!("  {f}\n"));
    }
    if findings.len() > SHOWN {
        text.push_str(&format!(
            "  … and {} more (see the log)\n",
            findings.len() - SHOWN
        ));
    }
    text.push_str("\nUpload the image anyway?");
    Dialog::new("Secrets found", &text, &[Btn::Continue, Btn::Cancel]).defaulting_to(Btn::Cancel)
}

/// The page, holding the job it stopped.
struct Page {
    held: Held,
    dialog: Dialog,
}

impl Component for Page {
    fn id(&self) -> ScreenId {
        ScreenId::Secrets
    }

    fn on_key(&mut self, key: KeyEvent, _: &mut Facts) -> Vec<Action> {
        let held = &mut self.held;
        match Choice::of(self.dialog.on_key(key)) {
            None => Vec::new(),
            Some(Choice::Continue) => {
                let mut request = held.request.clone();
                request.allow_secrets = true;
                let (kind, title) = (held.kind, held.title.clone());
                let request = Box::new(request);
                vec![
                    Action::Pop,
                    Action::StartJob {
                        kind,
                        title,
                        request,
                        release: Default::default(),
                    },
                ]
            }
            Some(Choice::Cancel) => {
                let error =
                    (held.error.take()).unwrap_or_else(|| anyhow::anyhow!("the job was cancelled"));
                vec![Action::Pop, Action::JobEnded(held.kind, Err(error))]
            }
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.dialog.render(area, buf);
    }

    fn is_dialog(&self) -> bool {
        true
    }
}

/// A job with findings failed: the page holding it, when it was refused
/// for its secrets; else the error as it was. `last` is the job that ran.
pub fn hold(
    last: Option<Held>,
    findings: &[String],
    error: anyhow::Error,
) -> Result<Box<dyn Component>, anyhow::Error> {
    let Some(mut held) = last else {
        return Err(error);
    };
    if findings.is_empty() || held.request.allow_secrets || !error.is::<SecretsFound>() {
        return Err(error);
    }
    held.error = Some(error);
    let dialog = page(findings);
    Ok(Box::new(Page { held, dialog }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::app::{App, Screen};
    use crate::ui::tests::{app, snapshot};

    fn upload() -> Held {
        Held {
            kind: JobKind::Upload,
            title: "Image Upload".into(),
            request: Request::default(),
            error: None,
        }
    }

    fn held_app() -> App {
        let mut a = app();
        a.last_run = Some(upload());
        let shown = hold(
            a.last_run.take(),
            &[
                "/root/.aws/credentials: AWS credentials".into(),
                "/etc/shadow: account with a usable password (or none needed) (root)".into(),
            ],
            anyhow::Error::new(SecretsFound { count: 2 }),
        );
        assert!(shown.is_ok());
        a.stack.push(Screen::Component(shown.unwrap()));
        a
    }

    #[test]
    fn the_page_lists_path_and_kind_and_defaults_to_cancel() {
        let a = held_app();
        snapshot("secrets_page", &a);
        assert_eq!(crate::ui::tests::top_id(&a), Some(ScreenId::Secrets));
    }

    #[test]
    fn cancel_ends_the_job_as_failed() {
        let mut a = held_app();
        crate::ui::tests::press(&mut a, &[ratatui::crossterm::event::KeyCode::Enter]);
        assert!(a.last_run.is_none());
        assert_ne!(crate::ui::tests::top_id(&a), Some(ScreenId::Secrets));
        assert!(a.job.is_none());
    }

    #[test]
    fn only_a_refusal_for_secrets_holds_the_job() {
        let refused = || anyhow::Error::new(SecretsFound { count: 1 });
        let error = anyhow::anyhow!("connection refused");
        assert!(hold(Some(upload()), &["/x: y".into()], error).is_err());
        assert!(hold(Some(upload()), &[], refused()).is_err());
        assert_eq!(
            Choice::of(Reply::Button(Btn::Continue)),
            Some(Choice::Continue)
        );
        assert_eq!(Choice::of(Reply::Cancel), Some(Choice::Cancel));
    }
}
