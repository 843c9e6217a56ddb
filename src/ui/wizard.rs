//! The wizard: a few pages of questions, a confirmation, then one run of
//! the same pipeline `snf-mkimage` runs, built from the answers: system
//! preparation with the default tasks (shrink last), upload and
//! registration into the chosen cloud (the built-in local store is always
//! offered), and a local copy when one is asked for. Back on the first page
//! leaves the wizard.

use std::path::{Path, PathBuf};

use super::app::{App, Entry, Facts, Screen, Tag};
use super::job::{JobKind, JobResult};
use super::widgets::{Btn, Dialog, Input, Menu, Reply};
use crate::cloud::request::{AccountRequest, UploadRequest};
use crate::plan::Request;

/// The wizard's pages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Cloud,
    Name,
    Description,
    Registration,
    Output,
    Confirm,
    /// The run finished: its summary.
    Finished,
}

const PAGES: [Page; 6] = [
    Page::Cloud,
    Page::Name,
    Page::Description,
    Page::Registration,
    Page::Output,
    Page::Confirm,
];

/// The answers so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// A cloud saved in kamaki's configuration; `None`: the local store.
    pub cloud: Option<String>,
    pub name: String,
    pub description: String,
    pub public: bool,
    /// Where to keep a local copy; empty: none.
    pub output: PathBuf,
}

/// The menu entry of the built-in store.
const LOCAL_STORE: &str = "local";

/// A cloud to pick: `None` is the built-in local store; its name as
/// shown, and what it is.
pub type CloudItem = (Option<String>, String, String);

/// The clouds the wizard offers: the local store, then those saved in
/// kamaki's configuration at `config`, with their descriptions.
pub(super) fn clouds(config: &Path) -> Vec<CloudItem> {
    let mut items = vec![(
        None,
        LOCAL_STORE.to_owned(),
        "The built-in local image store".to_owned(),
    )];
    if let Ok(config) = crate::cloud::config::kamakirc::KamakiConfig::load(config) {
        items.extend(config.cloud_names().into_iter().map(|n| {
            let (url, description) = config.cloud_summary(&n);
            let about = description.or(url).unwrap_or_default();
            (Some(n.clone()), n, about)
        }));
    }
    items
}

/// The clouds as menu items.
pub(super) fn cloud_items(clouds: Vec<CloudItem>) -> Vec<(Entry, String, String)> {
    clouds
        .into_iter()
        .map(|(id, n, d)| (Entry::Cloud(id), n, d))
        .collect()
}

/// The Clouds page, on the cloud chosen so far.
fn cloud_page(title: &str, clouds: Vec<CloudItem>, a: &Answers) -> Screen {
    let mut menu = Menu::new(
        title,
        "Please select a cloud to upload the image to and register it with:",
        cloud_items(clouds),
        &[Btn::Next, Btn::Add, Btn::Edit, Btn::Back],
    );
    menu.select(&Entry::Cloud(a.cloud.clone()));
    Screen::Menu(Tag::Wizard(Page::Cloud), menu)
}

/// The Registration Type page: private or public.
fn registration_page(title: &str, a: &Answers) -> Screen {
    let items = vec![
        (
            Entry::Public(false),
            "Private".into(),
            "Image is accessible only by this user".into(),
        ),
        (
            Entry::Public(true),
            "Public".into(),
            "Everyone can create VMs from this image".into(),
        ),
    ];
    let mut menu = Menu::new(
        title,
        "Please provide a registration type:",
        items,
        &[Btn::Next, Btn::Back],
    );
    menu.select(&Entry::Public(a.public));
    Screen::Menu(Tag::Wizard(Page::Registration), menu)
}

impl Page {
    fn index(self) -> usize {
        PAGES.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn title(self) -> String {
        let name = match self {
            Page::Cloud => "Clouds",
            Page::Name => "Image Name",
            Page::Description => "Image Description",
            Page::Registration => "Registration Type",
            Page::Output => "Local Copy",
            Page::Confirm | Page::Finished => "Confirmation",
        };
        format!("({}/{}) {name}", self.index() + 1, PAGES.len())
    }
}

impl App {
    /// Begin the wizard with defaults from the detected metadata.
    pub fn start_wizard(&mut self) {
        let name = self.facts.os_display_name();
        let meta = self.facts.metadata();
        self.facts.answers = Answers {
            cloud: None,
            output: PathBuf::new(),
            name,
            description: meta.get("DESCRIPTION").cloned().unwrap_or_default(),
            public: false,
        };
        self.show_page(PAGES[0]);
    }

    pub(super) fn show_page(&mut self, page: Page) {
        let config = self.facts.cloud.config.clone();
        let clouds = (self.facts.clouds)
            .get_or_insert_with(|| clouds(&config))
            .clone();
        let a = &self.facts.answers;
        let title = page.title();
        let input = |label: &str, value: &str| {
            let input = Input::new(&title, label, value, &[Btn::Next, Btn::Back]);
            Screen::Input(Tag::Wizard(page), input)
        };
        let screen = match page {
            Page::Cloud => cloud_page(&title, clouds, a),
            Page::Name => input("Please provide a name for the image:", &a.name),
            Page::Description => input(
                "Please provide a description for the image:",
                &a.description,
            ),
            Page::Registration => registration_page(&title, a),
            Page::Output => input(
                "Where should the image file be saved? Its .meta, .md5sum, .sha256sum and .variant files go beside it.",
                &a.output.to_string_lossy(),
            ),
            Page::Confirm | Page::Finished => Screen::Dialog(
                Tag::Wizard(Page::Confirm),
                Dialog::new(
                    &title,
                    &self.facts.summary(),
                    &[Btn::Yes, Btn::Back, Btn::Quit],
                ),
            ),
        };
        self.push(screen);
    }

    /// A reply on a wizard page: store the answer, then go on or back.
    pub fn on_wizard(&mut self, page: Page, screen: Screen, reply: Reply) {
        let forward = reply == Reply::Button(Btn::Next);
        match (&screen, page) {
            // "Thank you for using snf-image-creator."
            (_, Page::Finished) => {
                self.exit = Some(0);
                return;
            }
            (Screen::Dialog(..), Page::Confirm) => return self.on_confirm(reply),
            (Screen::Menu(_, menu), Page::Cloud)
                if matches!(reply, Reply::Button(Btn::Add | Btn::Edit)) =>
            {
                let name = match menu.current() {
                    Some(Entry::Cloud(name)) => name.clone(),
                    _ => None,
                };
                return self.on_wizard_account(reply == Reply::Button(Btn::Edit), name, screen);
            }
            (Screen::Input(_, input), _) if forward => {
                let value = input.value.trim().to_owned();
                if let Some(problem) = self.store(page, value) {
                    self.push(screen);
                    return self.notice("Invalid answer", &problem);
                }
            }
            (Screen::Menu(_, menu), Page::Registration) if forward => {
                self.facts.answers.public = menu.current() == Some(&Entry::Public(true));
            }
            (Screen::Menu(_, menu), Page::Cloud) if forward => {
                if let Some(Entry::Cloud(cloud)) = menu.current() {
                    self.facts.answers.cloud = cloud.clone();
                }
            }
            _ => {}
        }
        let at = page.index();
        match (forward, at) {
            (true, _) => self.show_page(PAGES[at + 1]),
            (false, 0) => self.open_mode_choice(),
            (false, _) => self.show_page(PAGES[at - 1]),
        }
    }

    /// Keep an answer; say what is wrong with it instead.
    fn store(&mut self, page: Page, value: String) -> Option<String> {
        match page {
            Page::Name if value.is_empty() => return Some("The image needs a name.".into()),
            Page::Name => self.facts.answers.name = value,
            Page::Description => self.facts.answers.description = value,
            Page::Output if PathBuf::from(&value).is_dir() => {
                return Some("Give a file name, not a directory.".into());
            }
            Page::Output => self.facts.answers.output = PathBuf::from(value),
            _ => {}
        }
        None
    }

    /// Ask whether to run the wizard or go to the expert menu.
    pub(super) fn open_mode_choice(&mut self) {
        self.push(Screen::Component(super::init::mode_choice(&self.facts)));
    }

    fn on_confirm(&mut self, reply: Reply) {
        match reply {
            Reply::Button(Btn::Yes) => {
                let a = self.facts.answers.clone();
                self.facts
                    .edits
                    .set
                    .insert("DESCRIPTION".into(), a.description.clone());
                let Some(request) = self.facts.wizard_request(&a) else {
                    return;
                };
                // An existing copy is replaced only after a question.
                if !a.output.as_os_str().is_empty() && a.output.exists() {
                    self.push(Screen::Dialog(
                        Tag::Wizard(Page::Confirm),
                        Dialog::new(
                            "Confirmation",
                            &self.facts.summary(),
                            &[Btn::Yes, Btn::Back, Btn::Quit],
                        ),
                    ));
                    return self.notice(
                        "File exists",
                        &format!("{} already exists: go back and choose another name for the local copy.", a.output.display()),
                    );
                }
                self.start_job(JobKind::Wizard, "Image creation", request);
            }
            Reply::Button(Btn::Back) | Reply::Cancel => self.show_page(Page::Output),
            _ => self.exit = Some(0),
        }
    }

    /// The run ended: say where the image is, or what went wrong.
    pub fn on_wizard_done(&mut self, result: JobResult) {
        match result {
            Ok(outcome) => {
                let mut lines: Vec<String> = Vec::new();
                if let Some(image) = &outcome.image {
                    lines.push(format!(
                        "The image was registered as \"{}\" ({}), id {}.",
                        image.name,
                        if image.is_public { "public" } else { "private" },
                        image.id
                    ));
                }
                lines.extend(
                    outcome
                        .written
                        .first()
                        .map(|p| format!("Local copy: {}", p.display())),
                );
                let text = format!(
                    "{}\n\nmd5sum: {}",
                    lines.join("\n"),
                    outcome.digests.as_ref().map_or("", |d| d.md5.as_str())
                );
                self.push(Screen::Dialog(
                    Tag::Wizard(Page::Finished),
                    Dialog::new("Image creation finished", &text, &[Btn::Ok]),
                ));
            }
            Err(e) => {
                self.show_page(Page::Confirm);
                self.notice("Image creation failed", &super::job::job_error(&e));
            }
        }
    }
}

impl Facts {
    pub(super) fn summary(&self) -> String {
        let a = &self.answers;
        format!(
            "All necessary information has been gathered:\n\n * Cloud: {}\n * Image Name: {}\n * Image Description: {}\n * Registration Type: {}\n * Local Copy: {}\n\nContinue with the image creation process?",
            a.cloud.as_deref().unwrap_or("the local image store"),
            a.name,
            a.description,
            if a.public { "Public" } else { "Private" },
            if a.output.as_os_str().is_empty() {
                "none".to_owned()
            } else {
                a.output.display().to_string()
            }
        )
    }

    /// The run the answers describe: default tasks, upload as
    /// `<name>-<time>.diskdump`, registration, and the local copy.
    pub fn wizard_request(&self, a: &Answers) -> Option<Request> {
        let session = self.session.as_ref()?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let object = format!("{}-{stamp}.diskdump", a.name.replace('/', "_"));
        let output = (!a.output.as_os_str().is_empty()).then(|| a.output.clone());
        let mut request = self.export_request(output.as_deref().unwrap_or(Path::new("")))?;
        request.outfile = output;
        request.force = false;
        request.allow_unsupported = session.unsupported.is_some();
        request.cloud = UploadRequest {
            upload: Some(object),
            register: Some(a.name.clone()),
            public: a.public,
            description: Some(a.description.clone()),
            container: None,
            account: AccountRequest {
                cloud: a.cloud.clone(),
                ..AccountRequest::default()
            },
        };
        Some(request)
    }
}
