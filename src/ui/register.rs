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

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::accounts::Clouds;
use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::form::FieldId;
use super::form::Form;
use super::job::{CloudReply, CloudResult, job_error};
use super::log::{Saveable, Saving};
use super::upload::Upload;
use super::widgets::{Btn, Dialog, Menu, Reply};
use crate::cloud::config::list::{CloudPaths, CloudRef};
use crate::cloud::{RemoteImage, Uploaded};
use crate::guest::metadata::Metadata;
use crate::pipeline::upload;

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

/// The accounts, uploads and registrations of the session.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudState {
    /// The files the clouds are read from and saved in.
    pub paths: CloudPaths,
    /// The local store (`None`: the default one).
    pub store: Option<PathBuf>,
    /// The cloud uploads go to.
    pub selected: CloudRef,
    /// Per cloud.
    pub published: BTreeMap<CloudRef, Published>,
}

impl Default for CloudState {
    fn default() -> CloudState {
        CloudState {
            paths: CloudPaths::from_env(),
            store: None,
            selected: CloudRef::Local,
            published: BTreeMap::new(),
        }
    }
}

/// Expert → Register: its text names the selected cloud.
pub struct RegisterMenu(Menu<Entry>);

impl RegisterMenu {
    pub fn new(facts: &Facts) -> RegisterMenu {
        let now = (facts.cloud.selected.arg()).unwrap_or_else(|| "local store".into());
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
            .map(|(e, d)| (e, e.name().to_owned(), d))
            .collect();
        RegisterMenu(Menu::new(
            "Image Registration Menu",
            "Choose one of the following or press <Back> to go back.",
            items,
            &[Btn::Select, Btn::Back],
        ))
    }
}

impl Component for RegisterMenu {
    fn id(&self) -> ScreenId {
        ScreenId::Register
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let reply = self.0.on_key(key);
        match (reply, self.0.current()) {
            (Reply::None, _) => Vec::new(),
            (Reply::Button(Btn::Select), Some(choice)) => open(*choice, facts),
            _ => vec![Action::Pop],
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.0.render(area, buf);
    }
}

/// What a Register menu entry opens; Register and Info need an upload.
fn open(choice: Entry, facts: &mut Facts) -> Vec<Action> {
    let published = facts.cloud.published.contains_key(&facts.cloud.selected);
    let opened: Box<dyn Component> = match (choice, published) {
        (Entry::Cloud, _) => Box::new(Clouds::new(facts)),
        (Entry::Upload, _) => Box::new(Upload::new(facts)),
        (Entry::Register, true) => Box::new(RegisterImage::new(facts)),
        (Entry::Info, true) => Box::new(info(facts)),
        (what, false) => {
            let text = format!(
                "Nothing was uploaded to {} yet: use Upload first.",
                facts.cloud_label()
            );
            return vec![Action::notice(what.name(), text)];
        }
    };
    vec![Action::Push(opened)]
}

/// Register → Info: what was uploaded and registered, with Save.
fn info(facts: &Facts) -> Saveable {
    let text = facts.info_text();
    let lines = text.lines().map(str::to_owned).collect();
    let how = Saving {
        ids: (ScreenId::Info, ScreenId::InfoSavePath),
        ask: ("Save", "Save the information as:", "image-info.json"),
        saved: ("Save", "The information"),
    };
    Saveable::new("Info", lines, text, how)
}

/// Register → Register: the name and description, public or private,
/// then the registration of the uploaded object (no pipeline run).
pub struct RegisterImage {
    form: Form,
    /// Public or private, for a registration of this name and description.
    public: Option<(String, String, Dialog)>,
}

impl RegisterImage {
    fn new(facts: &Facts) -> RegisterImage {
        let name = facts.os_display_name();
        let description = (facts.metadata().get("DESCRIPTION").cloned()).unwrap_or_default();
        let text = format!("Register the uploaded image with {}.", facts.cloud_label());
        let form = Form::new(
            "Register",
            &text,
            &[
                (FieldId::RegistrationName, &name),
                (FieldId::Description, &description),
            ],
            &[Btn::Ok, Btn::Cancel],
        );
        RegisterImage { form, public: None }
    }

    fn ask_public(&mut self) -> Vec<Action> {
        let name = self.form.value(FieldId::RegistrationName);
        let description = self.form.value(FieldId::Description);
        if name.is_empty() {
            return vec![Action::notice(
                "Register",
                "The image needs a registration name.",
            )];
        }
        let text = "Make the image public (everyone can create VMs from it)?";
        let dialog =
            Dialog::new("Registration type", text, &[Btn::Yes, Btn::No]).defaulting_to(Btn::No);
        self.public = Some((name, description, dialog));
        Vec::new()
    }

    /// Register the uploaded object in a job.
    fn register(&self, public: bool, facts: &Facts) -> Vec<Action> {
        let (Some((name, description, _)), Some(p)) = (
            &self.public,
            facts.cloud.published.get(&facts.cloud.selected).cloned(),
        ) else {
            return vec![Action::Pop];
        };
        let register = Some((name.as_str(), description.as_str(), public));
        let plan = match facts.upload_plan(&p.object, &p.container, register) {
            Ok(plan) => plan,
            Err(e) => return vec![Action::Pop, Action::notice("Register", job_error(&e))],
        };
        vec![Action::cloud("Image Registration", move |r| {
            let image = upload::register_existing(&plan, &p.uploaded, &p.metadata, r)?;
            Ok(CloudReply::Registered(Box::new(image)))
        })]
    }
}

impl Component for RegisterImage {
    fn id(&self) -> ScreenId {
        match &self.public {
            Some((name, description, _)) => ScreenId::RegisterPublic {
                name: name.clone(),
                description: description.clone(),
            },
            None => ScreenId::RegisterForm,
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let Some((_, _, dialog)) = &mut self.public else {
            return match self.form.on_key(key) {
                Reply::None => Vec::new(),
                Reply::Button(Btn::Ok) => self.ask_public(),
                _ => vec![Action::Pop],
            };
        };
        match dialog.on_key(key) {
            Reply::None => Vec::new(),
            Reply::Cancel => vec![Action::Pop],
            reply => self.register(reply == Reply::Button(Btn::Yes), facts),
        }
    }

    /// The registration ended: keep the image, and say what it is.
    fn on_cloud_done(&mut self, result: CloudResult, facts: &mut Facts) -> Vec<Action> {
        let image = match result {
            Ok(CloudReply::Registered(image)) => *image,
            Ok(_) => return vec![Action::Pop],
            Err(e) => return vec![Action::Pop, Action::notice("Error", job_error(&e))],
        };
        let text = format!(
            "The image was registered with {} as \"{}\" ({}), id {}.",
            facts.cloud_label(),
            image.name,
            if image.is_public { "public" } else { "private" },
            image.id
        );
        let cloud = facts.cloud.selected.clone();
        if let Some(p) = facts.cloud.published.get_mut(&cloud) {
            p.image = Some(image);
        }
        vec![Action::Pop, Action::notice("Image Registration", text)]
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.public {
            Some((_, _, dialog)) => dialog.render(area, buf),
            None => self.form.render(area, buf),
        }
    }

    fn is_dialog(&self) -> bool {
        self.public.is_some()
    }
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

impl Facts {
    /// The name of the selected cloud, for messages.
    pub(super) fn cloud_label(&self) -> String {
        match self.cloud.selected.arg() {
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
        let cloud = self.cloud.selected.arg();
        let info = Info {
            cloud: cloud.as_deref().unwrap_or("local"),
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
