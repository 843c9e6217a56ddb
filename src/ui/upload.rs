//! The expert Register menu's Upload: the object name and container, a
//! check (in a job) for objects of those names in the selected cloud with
//! a question before overwriting them, and the one pipeline run that
//! exports the image with the session's edits and uploads it.

use std::path::{Path, PathBuf};

use super::app::{App, Facts, Screen, Tag as AppTag};
use super::form::Form;
use super::job::job_error;
use super::job::{CloudReply, JobKind, JobResult};
use super::register::{Published, Tag, Task};
use crate::cloud::config::kamakirc::KamakiConfig;
use crate::cloud::local::store::Store;
use crate::cloud::request::{AccountRequest, UploadPlan, UploadRequest};
use crate::cloud::{DEFAULT_CONTAINER, Target};
use crate::plan::Request;
use crate::progress::begin_step;

use super::form::FieldId::{Container, Object};

impl App {
    pub(super) fn open_upload_form(&mut self) {
        let name = self.facts.os_display_name();
        let published = self.facts.cloud.published.get(&self.facts.cloud.selected);
        let object = published.map_or(format!("{name}.diskdump"), |p| p.object.clone());
        let container = published.map_or(DEFAULT_CONTAINER.into(), |p| p.container.clone());
        let text = format!("Upload the image to {}.", self.facts.cloud_label());
        let form = Form::new(
            "Upload",
            &text,
            &[(Object, &object), (Container, &container)],
            &[super::widgets::Btn::Ok, super::widgets::Btn::Cancel],
        );
        self.push(Screen::Form(AppTag::Register(Tag::UploadForm), form));
    }

    pub(super) fn on_upload_form(&mut self, tag: AppTag, form: Form) {
        let (object, container) = (form.value(Object), form.value(Container));
        let plan = self.facts.upload_plan(&object, &container, None);
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => {
                self.push(Screen::Form(tag, form));
                return self.notice("Upload", &job_error(&e));
            }
        };
        self.facts.cloud.task = Some(Task::Exists {
            object: object.clone(),
            container,
        });
        self.start_cloud("Upload", move |r| {
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
        });
    }

    pub(super) fn upload(&mut self, object: String, container: String) {
        let Some(request) = self.facts.upload_request(&object, &container) else {
            return;
        };
        self.facts.cloud.task = Some(Task::Upload { object, container });
        self.start_job(JobKind::Upload, "Image Upload", request);
    }

    /// The upload run ended.
    pub fn on_uploaded(&mut self, result: JobResult) {
        let Some(Task::Upload { object, container }) = self.facts.cloud.task.take() else {
            return;
        };
        let outcome = match result {
            Ok(o) => o,
            Err(e) => return self.notice("Image Upload failed", &job_error(&e)),
        };
        let Some(uploaded) = outcome.uploaded.clone() else {
            return self.notice("Image Upload failed", "nothing was uploaded");
        };
        let text = format!(
            "The image was uploaded to {} as {object} in container {container} ({}).",
            self.facts.cloud_label(),
            uploaded.location
        );
        self.facts.cloud.published.insert(
            self.facts.cloud.selected.clone(),
            Published {
                object,
                container,
                uploaded,
                metadata: outcome.metadata.clone(),
                image: None,
            },
        );
        self.notice("Image Upload", &text);
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
        let local = self.cloud.selected.is_none();
        let request = UploadRequest {
            upload: Some(object.to_owned()),
            container: Some(container.to_owned()),
            register: register.map(|r| r.0.to_owned()),
            description: register.map(|r| r.1.to_owned()).filter(|d| !d.is_empty()),
            public: register.is_some_and(|r| r.2),
            account: AccountRequest {
                cloud: self.cloud.selected.clone(),
                store: local.then(|| self.store_root()),
                ..AccountRequest::default()
            },
        };
        let plan = request.validate().map_err(anyhow::Error::msg)?;
        let mut plan = plan.ok_or_else(|| anyhow::anyhow!("nothing to upload"))?;
        // The accounts the session reads, not only the default file.
        if let Some(name) = &self.cloud.selected {
            let config = KamakiConfig::load(&self.cloud.config)?;
            let account = config
                .cloud(name)
                .ok_or_else(|| anyhow::anyhow!("cloud {name} has no url and token"))?;
            plan.target = Target::Synnefo {
                label: name.clone(),
                url: account.url,
                token: account.token,
            };
        }
        Ok(plan)
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
            account: AccountRequest {
                cloud: self.cloud.selected.clone(),
                store: self.cloud.selected.is_none().then(|| self.store_root()),
                ..AccountRequest::default()
            },
            ..UploadRequest::default()
        };
        Some(request)
    }
}
