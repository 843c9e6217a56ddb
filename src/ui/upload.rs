//! The expert Register menu's Upload: the object name and container, a
//! check (in a job) for objects of those names in the selected cloud with
//! a question before overwriting them, and the one pipeline run that
//! exports the image with the session's edits and uploads it.

use std::path::{Path, PathBuf};

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component, start_or_refuse};
use super::form::Form;
use super::job::{CloudReply, CloudResult, JobKind, JobResult, job_error};
use super::register::Published;
use super::widgets::{Btn, Dialog, Reply};
use crate::cloud::DEFAULT_CONTAINER;
use crate::cloud::config::list::CloudRef;
use crate::cloud::local::store::Store;
use crate::cloud::request::{AccountRequest, UploadPlan, UploadRequest};
use crate::plan::Request;
use crate::progress::begin_step;

use super::form::FieldId::{Container, Object};

/// Register → Upload: the names, the check for objects of those names,
/// the question before overwriting them, and the upload run.
pub struct Upload {
    form: Form,
    /// Where the upload goes, once the form was accepted.
    names: Option<(String, String)>,
    /// Some of the objects exist: overwrite them?
    overwrite: Option<Dialog>,
}

impl Upload {
    pub fn new(facts: &Facts) -> Upload {
        let name = facts.os_display_name();
        let published = facts.cloud.published.get(&facts.cloud.selected);
        let object = published.map_or(format!("{name}.diskdump"), |p| p.object.clone());
        let container = published.map_or(DEFAULT_CONTAINER.into(), |p| p.container.clone());
        let text = format!("Upload the image to {}.", facts.cloud_label());
        let form = Form::new(
            "Upload",
            &text,
            &[(Object, &object), (Container, &container)],
            &[Btn::Ok, Btn::Cancel],
        );
        Upload {
            form,
            names: None,
            overwrite: None,
        }
    }

    /// OK: check, in a job, which of the upload's objects exist.
    fn on_form(&mut self, facts: &Facts) -> Vec<Action> {
        let (object, container) = (self.form.value(Object), self.form.value(Container));
        let plan = match facts.upload_plan(&object, &container, None) {
            Ok(plan) => plan,
            Err(e) => return vec![Action::notice("Upload", job_error(&e))],
        };
        self.names = Some((object.clone(), container));
        vec![Action::cloud("Upload", move |r| {
            let names = [
                object.clone(),
                format!("{object}.md5sum"),
                format!("{object}.meta"),
            ];
            let mut backend = crate::cloud::connect(&plan.target, &plan.container)?;
            let step = begin_step(r, &format!("Checking {}", backend.describe()), None);
            backend.authenticate()?;
            let mut existing = Vec::new();
            for name in names {
                if backend.exists(&name)? {
                    existing.push(name);
                }
            }
            step.done("done");
            Ok(CloudReply::Existing(existing))
        })]
    }

    /// The one run that exports and uploads.
    fn upload(&self, facts: &Facts) -> Vec<Action> {
        let request = (self.names.as_ref()).and_then(|(o, c)| facts.upload_request(o, c));
        match request {
            Some(request) => {
                start_or_refuse(JobKind::Upload, "Image Upload", request, Default::default())
            }
            None => vec![Action::Pop],
        }
    }

    /// Ask before overwriting the objects `found`.
    fn ask_overwrite(&mut self, found: &[String], facts: &Facts) -> Vec<Action> {
        let Some((_, container)) = &self.names else {
            return vec![Action::Pop];
        };
        let text = format!(
            "{} already exist{} in container {container} of {}. Overwrite?",
            found.join(", "),
            if found.len() == 1 { "s" } else { "" },
            facts.cloud_label()
        );
        let dialog = Dialog::new("Upload", &text, &[Btn::Yes, Btn::No]).defaulting_to(Btn::No);
        self.overwrite = Some(dialog);
        Vec::new()
    }
}

impl Component for Upload {
    fn id(&self) -> ScreenId {
        match (&self.overwrite, &self.names) {
            (Some(_), Some((object, container))) => ScreenId::ConfirmOverwrite {
                object: object.clone(),
                container: container.clone(),
            },
            _ => ScreenId::UploadForm,
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        if let Some(dialog) = &mut self.overwrite {
            return match dialog.on_key(key) {
                Reply::None => Vec::new(),
                Reply::Button(Btn::Yes) => {
                    self.overwrite = None;
                    self.upload(facts)
                }
                _ => vec![Action::Pop],
            };
        }
        match self.form.on_key(key) {
            Reply::None => Vec::new(),
            Reply::Button(Btn::Ok) => self.on_form(facts),
            _ => vec![Action::Pop],
        }
    }

    /// The check ended: upload, or ask first.
    fn on_cloud_done(&mut self, result: CloudResult, facts: &mut Facts) -> Vec<Action> {
        match result {
            Ok(CloudReply::Existing(found)) if found.is_empty() => self.upload(facts),
            Ok(CloudReply::Existing(found)) => self.ask_overwrite(&found, facts),
            Ok(_) => vec![Action::Pop],
            Err(e) => vec![Action::Pop, Action::notice("Error", job_error(&e))],
        }
    }

    /// The upload run ended: keep what was uploaded, and say where.
    fn on_job_done(&mut self, result: JobResult, _: &str, facts: &mut Facts) -> Vec<Action> {
        let Some((object, container)) = self.names.take() else {
            return vec![Action::Pop];
        };
        let failed = |text: String| vec![Action::Pop, Action::notice("Image Upload failed", text)];
        let outcome = match result {
            Ok(o) => o,
            Err(e) => return failed(job_error(&e)),
        };
        let Some(uploaded) = outcome.uploaded.clone() else {
            return failed("nothing was uploaded".into());
        };
        let text = format!(
            "The image was uploaded to {} as {object} in container {container} ({}).",
            facts.cloud_label(),
            uploaded.location
        );
        let published = Published {
            object,
            container,
            uploaded,
            metadata: outcome.metadata.clone(),
            image: None,
        };
        let cloud = facts.cloud.selected.clone();
        facts.cloud.published.insert(cloud, published);
        vec![Action::Pop, Action::notice("Image Upload", text)]
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.overwrite {
            Some(dialog) => dialog.render(area, buf),
            None => self.form.render(area, buf),
        }
    }

    fn is_dialog(&self) -> bool {
        self.overwrite.is_some()
    }
}

impl Facts {
    /// The upload to the selected cloud, validated as `-u`, `--container`
    /// and `-r` are.
    pub(super) fn upload_plan(
        &self,
        object: &str,
        container: &str,
        register: Option<(&str, &str, bool)>,
    ) -> anyhow::Result<UploadPlan> {
        let request = UploadRequest {
            upload: Some(object.to_owned()),
            container: Some(container.to_owned()),
            register: register.map(|r| r.0.to_owned()),
            description: register.map(|r| r.1.to_owned()).filter(|d| !d.is_empty()),
            public: register.is_some_and(|r| r.2),
            channel: None,
            triggers: None,
            account: self.account_request(),
        };
        // The accounts the session reads, not only the default files.
        let plan = (request.validate_in(&self.cloud.paths))
            .map_err(|e| anyhow::Error::msg(super::requests::in_ui_words(&e.0)))?;
        plan.ok_or_else(|| anyhow::anyhow!("nothing to upload"))
    }

    /// The selected cloud as the command line names it: `--cloud`, or the
    /// local store's `--store`.
    pub(super) fn account_request(&self) -> AccountRequest {
        self.account_for(&self.cloud.selected)
    }

    /// A cloud as the command line names it.
    pub(super) fn account_for(&self, selected: &CloudRef) -> AccountRequest {
        AccountRequest {
            cloud: selected.arg(),
            store: (*selected == CloudRef::Local).then(|| self.store_root()),
            ..AccountRequest::default()
        }
    }

    pub(super) fn store_root(&self) -> PathBuf {
        self.cloud.store.clone().unwrap_or_else(Store::default_root)
    }

    /// The one pipeline run that exports the image with the session's
    /// edits and uploads it to the selected cloud (overwriting: the user
    /// was asked).
    pub fn upload_request(&self, object: &str, container: &str) -> Option<Request> {
        let mut request = self.export_request(Path::new(""))?;
        request.outfile = None;
        request.force = true;
        request.cloud = UploadRequest {
            upload: Some(object.to_owned()),
            container: Some(container.to_owned()),
            channel: None,
            account: self.account_request(),
            ..UploadRequest::default()
        };
        Some(request)
    }
}

#[cfg(test)]
mod tests {
    use ratatui::crossterm::event::KeyCode;

    use super::Upload;
    use crate::ui::app::{Screen, ScreenId};
    use crate::ui::tests::{app, ctrl_u, press, screen_text, top_id, type_text};

    #[test]
    fn a_refused_object_name_is_told_in_the_ui_words() {
        let mut a = app();
        let upload = Upload::new(&a.facts);
        a.stack.push(Screen::Component(Box::new(upload)));
        ctrl_u(&mut a);
        type_text(&mut a, "a/../b");
        press(&mut a, &[KeyCode::Enter]);
        assert_eq!(top_id(&a), Some(ScreenId::Notice));
        let text = screen_text(&a);
        assert!(text.contains("object name a/../b"), "{text}");
        assert!(!text.contains("-u "), "{text}");
        assert!(a.job.is_none());
        press(&mut a, &[KeyCode::Enter]);
        assert_eq!(top_id(&a), Some(ScreenId::UploadForm), "the form stays");
    }
}
