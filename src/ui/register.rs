//! The expert Register menu, as the original's Image Registration Menu:
//! **Cloud** (pick the account: the built-in local store, always there, or
//! a saved Synnefo cloud; add, edit, delete), **Upload** (one pipeline run
//! that exports the image with the session's edits and uploads it),
//! **Register** (registers the uploaded object, with no second run: see
//! [`crate::pipeline::upload::register_existing`]) and **Info** (what was
//! uploaded and registered, with Save). What was uploaded and registered
//! is kept per cloud. The Upload screens are in `upload.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::accounts::{Back, LOCAL_IS_FIXED, PendingAccount};
use super::app::{App, Entry as AppEntry, Facts, Screen, Tag as AppTag};
use super::form::FieldId;
use super::form::Form;
use super::job::job_error;
use super::job::{CloudReply, CloudResult, Job, RunView};
use super::log::{Saveable, Saving};
use super::widgets::{Btn, Dialog, Menu, Reply};
use crate::cloud::config::kamakirc::config_path;
use crate::cloud::{RemoteImage, Uploaded};
use crate::guest::metadata::Metadata;
use crate::pipeline::upload;
use crate::progress::Reporter;

/// The Register screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    Menu,
    Clouds,
    UploadForm,
    /// Some objects exist: overwrite them?
    ConfirmOverwrite {
        object: String,
        container: String,
    },
    RegisterForm,
    /// Public or private, for a registration of this name and description.
    Public {
        name: String,
        description: String,
    },
    Info,
    InfoSavePath,
}

/// The entries of the Register menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Cloud,
    Upload,
    Register,
    Info,
}

impl Entry {
    /// The entry's name, as the menu shows it and as its notices are titled.
    fn name(self) -> &'static str {
        match self {
            Entry::Cloud => "Cloud",
            Entry::Upload => "Upload",
            Entry::Register => "Register",
            Entry::Info => "Info",
        }
    }
}

/// An upload, and its registration once there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The image's object name in its container.
    pub object: String,
    pub container: String,
    /// What the upload run's outcome kept (location, size, hash).
    pub uploaded: Uploaded,
    /// The properties the image was exported with.
    pub metadata: Metadata,
    /// The image as the cloud registered it.
    pub image: Option<RemoteImage>,
}

/// The cloud work in flight, so its end can be routed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Task {
    /// Checking whether the upload's objects exist.
    Exists { object: String, container: String },
    /// The export-and-upload run.
    Upload { object: String, container: String },
    /// Registering the uploaded object.
    Register,
}

/// The accounts, uploads and registrations of the session.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudState {
    /// kamaki's configuration file.
    pub config: PathBuf,
    /// The local store (`None`: the default one).
    pub store: Option<PathBuf>,
    /// The cloud uploads go to; `None`: the local store.
    pub selected: Option<String>,
    /// Per cloud (`None`: the local store).
    pub published: BTreeMap<Option<String>, Published>,
    pub(super) pending_account: Option<PendingAccount>,
    pub(super) task: Option<Task>,
}

impl Default for CloudState {
    fn default() -> CloudState {
        CloudState {
            config: config_path(),
            store: None,
            selected: None,
            published: BTreeMap::new(),
            pending_account: None,
            task: None,
        }
    }
}

/// The Register menu; its text names the selected cloud.
pub fn menu(facts: &Facts) -> Screen {
    let now = facts.cloud.selected.as_deref().unwrap_or("local store");
    let items = [
        (
            Entry::Cloud,
            format!("Select, add, edit or delete clouds (now: {now})"),
        ),
        (Entry::Upload, "Upload the image to the cloud".into()),
        (Entry::Register, "Register the uploaded image".into()),
        (Entry::Info, "What was uploaded and registered".into()),
    ];
    let items = items
        .into_iter()
        .map(|(e, d)| (AppEntry::Register(e), e.name().to_owned(), d))
        .collect();
    let menu = Menu::new(
        "Image Registration Menu",
        "Choose one of the following or press <Back> to go back.",
        items,
        &[Btn::Select, Btn::Back],
    );
    Screen::Menu(AppTag::Register(Tag::Menu), menu)
}

/// The Info screen's document, in reading order.
#[derive(serde::Serialize)]
struct Info<'a> {
    cloud: &'a str,
    container: &'a str,
    object: &'a str,
    location: &'a str,
    size: u64,
    image_id: Option<&'a str>,
    image: Option<&'a RemoteImage>,
}

impl App {
    /// Show the Register menu.
    pub fn open_register(&mut self) {
        let menu = menu(&self.facts);
        self.push(menu);
    }

    /// Show the Register menu again (its text names the selected cloud).
    fn reopen_register(&mut self) {
        if let Some(Screen::Menu(AppTag::Register(Tag::Menu), _)) = self.stack.last() {
            self.stack.pop();
        }
        self.open_register();
    }

    /// Show the list of clouds: the local store first, then kamaki's.
    pub fn open_register_clouds(&mut self) {
        let config = self.facts.cloud.config.clone();
        let mut items = super::wizard::clouds(&config);
        let selected = &self.facts.cloud.selected;
        let current = match items.iter_mut().find(|i| &i.0 == selected) {
            Some(item) => item,
            None => &mut items[0],
        };
        current.2 = format!("{} [selected]", current.2);
        let current = AppEntry::Cloud(current.0.clone());
        let mut menu = Menu::new(
            "Clouds",
            "Select the cloud to upload to and register with, or add, edit or delete one.",
            super::wizard::cloud_items(items),
            &[Btn::Select, Btn::Add, Btn::Edit, Btn::Delete, Btn::Back],
        );
        menu.select(&current);
        self.push(Screen::Menu(AppTag::Register(Tag::Clouds), menu));
    }

    /// A reply on a Register screen.
    pub fn on_register(&mut self, tag: Tag, screen: Screen, reply: Reply) {
        let ok = reply == Reply::Button(Btn::Ok);
        let yes = reply == Reply::Button(Btn::Yes);
        match (tag, screen) {
            (Tag::Menu, Screen::Menu(t, menu)) if reply == Reply::Button(Btn::Select) => {
                let choice = menu.current().cloned();
                self.push(Screen::Menu(t, menu));
                if let Some(AppEntry::Register(choice)) = choice {
                    self.on_register_choice(choice);
                }
            }
            (Tag::Clouds, Screen::Menu(t, menu)) => self.on_clouds(t, menu, reply),
            (Tag::UploadForm, Screen::Form(t, form)) if ok => self.on_upload_form(t, form),
            (Tag::ConfirmOverwrite { object, container }, _) if yes => {
                self.upload(object, container)
            }
            (Tag::RegisterForm, Screen::Form(t, form)) if ok => self.ask_public(t, form),
            (Tag::Public { name, description }, _) if reply != Reply::Cancel => {
                self.register(name, description, yes)
            }
            _ => {}
        }
    }

    fn on_register_choice(&mut self, choice: Entry) {
        let published = self
            .facts
            .cloud
            .published
            .get(&self.facts.cloud.selected)
            .cloned();
        match (choice, published) {
            (Entry::Cloud, _) => self.open_register_clouds(),
            (Entry::Upload, _) => self.open_upload_form(),
            (Entry::Register, Some(_)) => self.open_register_form(),
            (Entry::Info, Some(_)) => {
                let text = self.facts.info_text();
                let lines = text.lines().map(str::to_owned).collect();
                let how = Saving {
                    tags: (
                        AppTag::Register(Tag::Info),
                        AppTag::Register(Tag::InfoSavePath),
                    ),
                    ask: ("Save", "Save the information as:", "image-info.json"),
                    saved: ("Save", "The information"),
                };
                let info = Saveable::new("Info", lines, text, how);
                self.push(Screen::Component(Box::new(info)));
            }
            (what, None) => {
                let text = format!(
                    "Nothing was uploaded to {} yet: use Upload first.",
                    self.facts.cloud_label()
                );
                self.notice(what.name(), &text);
            }
        }
    }

    fn on_clouds(&mut self, tag: AppTag, menu: Menu<AppEntry>, reply: Reply) {
        let name = match menu.current() {
            Some(AppEntry::Cloud(name)) => name.clone(),
            _ => None,
        };
        let Reply::Button(button) = reply else {
            return;
        };
        match (button, name) {
            (Btn::Select, name) => {
                self.facts.cloud.selected = name;
                self.reopen_register();
            }
            (Btn::Add, _) => self.open_account_form(None, Back::Expert),
            (Btn::Edit, Some(name)) => self.open_account_form(Some(name), Back::Expert),
            (Btn::Delete, Some(name)) => self.confirm_delete_account(&name),
            (Btn::Edit | Btn::Delete, None) => {
                self.push(Screen::Menu(tag, menu));
                self.notice("Clouds", LOCAL_IS_FIXED);
            }
            _ => {}
        }
    }

    fn ask_public(&mut self, tag: AppTag, form: Form) {
        let (name, description) = (
            form.value(FieldId::RegistrationName),
            form.value(FieldId::Description),
        );
        if name.is_empty() {
            self.push(Screen::Form(tag, form));
            return self.notice("Register", "The image needs a registration name.");
        }
        let text = "Make the image public (everyone can create VMs from it)?";
        self.push(Screen::Dialog(
            AppTag::Register(Tag::Public { name, description }),
            Dialog::new("Registration type", text, &[Btn::Yes, Btn::No]).defaulting_to(Btn::No),
        ));
    }

    fn open_register_form(&mut self) {
        let name = self.facts.os_display_name();
        let description = self
            .facts
            .metadata()
            .get("DESCRIPTION")
            .cloned()
            .unwrap_or_default();
        let form = Form::new(
            "Register",
            &format!(
                "Register the uploaded image with {}.",
                self.facts.cloud_label()
            ),
            &[
                (FieldId::RegistrationName, &name),
                (FieldId::Description, &description),
            ],
            &[Btn::Ok, Btn::Cancel],
        );
        self.push(Screen::Form(AppTag::Register(Tag::RegisterForm), form));
    }

    /// Register the uploaded object in a job: no pipeline run.
    fn register(&mut self, name: String, description: String, public: bool) {
        let Some(p) = self
            .facts
            .cloud
            .published
            .get(&self.facts.cloud.selected)
            .cloned()
        else {
            return;
        };
        let plan =
            self.facts
                .upload_plan(&p.object, &p.container, Some((&name, &description, public)));
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => return self.notice("Register", &job_error(&e)),
        };
        self.facts.cloud.task = Some(Task::Register);
        self.start_cloud("Image Registration", move |r| {
            let image = upload::register_existing(&plan, &p.uploaded, &p.metadata, r)?;
            Ok(CloudReply::Registered(Box::new(image)))
        });
    }

    /// Run a cloud task as a job, with its progress on screen.
    pub(super) fn start_cloud<F>(&mut self, title: &str, work: F)
    where
        F: FnOnce(&dyn Reporter) -> anyhow::Result<CloudReply> + Send + 'static,
    {
        self.facts.log.push(format!("== {title}"));
        self.push(Screen::Running(RunView::new(title)));
        self.job = Some(Job::spawn_cloud(work, self.tx.clone()));
    }

    /// A cloud task ended: route its answer.
    pub fn on_cloud_done(&mut self, result: CloudResult) {
        if self.facts.cloud.pending_account.is_some() {
            return self.on_account_checked(result.map(|_| ()));
        }
        match (self.facts.cloud.task.take(), result) {
            (Some(Task::Exists { object, container }), Ok(CloudReply::Existing(found))) => {
                if found.is_empty() {
                    return self.upload(object, container);
                }
                let text = format!(
                    "{} already exist{} in container {container} of {}. Overwrite?",
                    found.join(", "),
                    if found.len() == 1 { "s" } else { "" },
                    self.facts.cloud_label()
                );
                self.push(Screen::Dialog(
                    AppTag::Register(Tag::ConfirmOverwrite { object, container }),
                    Dialog::new("Upload", &text, &[Btn::Yes, Btn::No]).defaulting_to(Btn::No),
                ));
            }
            (_, Ok(CloudReply::Registered(image))) => self.on_registered(*image),
            (_, Ok(CloudReply::Existing(_) | CloudReply::Checked)) => {}
            (_, Err(e)) => self.notice("Error", &job_error(&e)),
        }
    }

    fn on_registered(&mut self, image: RemoteImage) {
        let text = format!(
            "The image was registered with {} as \"{}\" ({}), id {}.",
            self.facts.cloud_label(),
            image.name,
            if image.is_public { "public" } else { "private" },
            image.id
        );
        if let Some(p) = self
            .facts
            .cloud
            .published
            .get_mut(&self.facts.cloud.selected)
        {
            p.image = Some(image);
        }
        self.notice("Image Registration", &text);
    }
}

impl Facts {
    /// The name of the selected cloud, for messages.
    pub(super) fn cloud_label(&self) -> String {
        match &self.cloud.selected {
            Some(name) => format!("cloud {name}"),
            None => "the local image store".into(),
        }
    }

    /// What was uploaded to and registered with the selected cloud, as JSON
    /// (the upload first, then the image as the cloud registered it).
    pub fn info_text(&self) -> String {
        let Some(p) = self.cloud.published.get(&self.cloud.selected) else {
            return String::new();
        };
        let info = Info {
            cloud: self.cloud.selected.as_deref().unwrap_or("local"),
            container: &p.container,
            object: &p.object,
            location: &p.uploaded.location,
            size: p.uploaded.transfer.bytes,
            image_id: p.image.as_ref().map(|i| i.id.as_str()),
            image: p.image.as_ref(),
        };
        serde_json::to_string_pretty(&info).unwrap_or_default() + "\n"
    }
}
