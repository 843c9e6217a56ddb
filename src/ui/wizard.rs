//! The wizard: a few pages of questions, a confirmation, then one run of
//! the same pipeline `snf-mkimage` runs, built from the answers: system
//! preparation with the default tasks (shrink last), upload and
//! registration into the chosen cloud (the built-in local store is always
//! offered), and a local copy when one is asked for. A Windows guest gets
//! one more page, for the VirtIO drivers to install; the page count follows
//! the pages shown. Back on the first page leaves the wizard.

use std::path::{Path, PathBuf};

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::accounts::{Answer, Back};
use super::app::{Entry, Facts, ScreenId};
use super::cloud_forms::CloudForm;
use super::component::{Action, Component};
use super::job::{CloudResult, JobKind, JobResult, job_error};
use super::widgets::{Btn, Dialog, Input, Menu, Reply};
use crate::cloud::config::list::{CloudRef, Listed};
use crate::cloud::request::UploadRequest;
use crate::plan::Request;

/// The wizard's pages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Cloud,
    Name,
    Description,
    /// Windows guests only: the VirtIO driver directory, or none.
    VirtIO,
    Registration,
    Output,
    Confirm,
    /// The run finished: its summary.
    Finished,
}

const PAGES: [Page; 7] = [
    Page::Cloud,
    Page::Name,
    Page::Description,
    Page::VirtIO,
    Page::Registration,
    Page::Output,
    Page::Confirm,
];

/// The pages shown for this guest, in order: the VirtIO page only for
/// Windows.
fn pages_for(windows: bool) -> Vec<Page> {
    (PAGES.into_iter())
        .filter(|p| windows || *p != Page::VirtIO)
        .collect()
}

/// The answers so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// The cloud to upload to and register with.
    pub cloud: CloudRef,
    pub name: String,
    pub description: String,
    pub public: bool,
    /// Where to keep a local copy; empty: none.
    pub output: PathBuf,
    /// The VirtIO drivers to install (Windows guests), checked when typed.
    pub virtio: Option<PathBuf>,
}

/// The Clouds page, on the cloud chosen so far.
fn cloud_page(title: &str, clouds: Vec<Listed>, a: &Answers) -> View {
    let mut menu = Menu::new(
        title,
        "Please select a cloud to upload the image to and register it with:",
        super::cloud_list::items(clouds),
        &[Btn::Next, Btn::Add, Btn::Edit, Btn::Back],
    );
    menu.select(&Entry::Cloud(a.cloud.clone()));
    View::Menu(menu)
}

/// The Registration Type page: private or public.
fn registration_page(title: &str, a: &Answers) -> View {
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
    View::Menu(menu)
}

impl Page {
    /// "(i/N) Name", counting the pages shown.
    fn title(self, pages: &[Page]) -> String {
        let name = match self {
            Page::Cloud => "Clouds",
            Page::Name => "Image Name",
            Page::Description => "Image Description",
            Page::VirtIO => "VirtIO Drivers",
            Page::Registration => "Registration Type",
            Page::Output => "Local Copy",
            Page::Confirm | Page::Finished => "Confirmation",
        };
        let at = pages.iter().position(|p| *p == self).unwrap_or(0);
        format!("({}/{}) {name}", at + 1, pages.len())
    }
}

/// The VirtIO page's question.
const VIRTIO_LABEL: &str = "Type the directory of the VirtIO drivers to install into the Windows guest (such as the virtio-win ISO's contents), or leave it empty to install none.";

/// What a wizard page shows.
enum View {
    Menu(Menu<Entry>),
    Input(Input),
    Dialog(Dialog),
    /// The Clouds page's form adding or editing a cloud.
    Account(CloudForm),
}

/// The wizard: its page, what it shows, and the answers so far.
pub struct Wizard {
    pub answers: Answers,
    /// The pages shown for this guest.
    pages: Vec<Page>,
    page: Page,
    view: View,
}

impl Wizard {
    /// The first page, with defaults from the detected metadata.
    pub fn start(facts: &mut Facts) -> Wizard {
        let windows = super::virtio::windows_guest(facts);
        let answers = Answers {
            cloud: CloudRef::Local,
            output: PathBuf::new(),
            name: facts.os_display_name(),
            description: (facts.metadata().get("DESCRIPTION").cloned()).unwrap_or_default(),
            public: false,
            virtio: facts.sysprep.virtio.clone().filter(|_| windows),
        };
        let view = View::Dialog(Dialog::new("", "", &[]));
        let mut wizard = Wizard {
            answers,
            pages: pages_for(windows),
            page: PAGES[0],
            view,
        };
        wizard.show(PAGES[0], facts);
        wizard
    }

    fn show(&mut self, page: Page, facts: &mut Facts) {
        let clouds = super::cloud_list::listed(facts);
        let a = &self.answers;
        let title = page.title(&self.pages);
        let input = |label: &str, value: &str| {
            View::Input(Input::new(&title, label, value, &[Btn::Next, Btn::Back]))
        };
        self.view = match page {
            Page::Cloud => cloud_page(&title, clouds, a),
            Page::Name => input("Please provide a name for the image:", &a.name),
            Page::Description => input(
                "Please provide a description for the image:",
                &a.description,
            ),
            Page::VirtIO => {
                let dir = a.virtio.as_deref().unwrap_or(Path::new(""));
                input(VIRTIO_LABEL, &dir.to_string_lossy())
            }
            Page::Registration => registration_page(&title, a),
            Page::Output => input(
                "Where should the image file be saved? Its .meta, .md5sum, .sha256sum and .variant files go beside it.",
                &a.output.to_string_lossy(),
            ),
            Page::Confirm | Page::Finished => View::Dialog(Dialog::new(
                &title,
                &a.summary(&self.pages),
                &[Btn::Yes, Btn::Back, Btn::Quit],
            )),
        };
        self.page = page;
    }

    /// A page's answer: keep it, then go on or back.
    fn on_reply(&mut self, reply: Reply, facts: &mut Facts) -> Vec<Action> {
        let forward = reply == Reply::Button(Btn::Next);
        if forward && let Some(problem) = self.store() {
            return vec![Action::notice("Invalid answer", problem)];
        }
        let at = (self.pages.iter().position(|p| *p == self.page)).unwrap_or(0);
        match (forward, at) {
            (true, _) => self.show(self.pages[at + 1], facts),
            (false, 0) => return vec![Action::Pop, Action::Push(super::init::mode_choice(facts))],
            (false, _) => self.show(self.pages[at - 1], facts),
        }
        Vec::new()
    }

    /// Keep the page's answer; say what is wrong with it instead.
    fn store(&mut self) -> Option<String> {
        let a = &mut self.answers;
        match (&self.view, self.page) {
            (View::Input(input), page) => {
                let value = input.value.trim().to_owned();
                match page {
                    Page::Name if value.is_empty() => {
                        return Some("The image needs a name.".into());
                    }
                    Page::Name => a.name = value,
                    Page::Description => a.description = value,
                    Page::Output if PathBuf::from(&value).is_dir() => {
                        return Some("Give a file name, not a directory.".into());
                    }
                    Page::Output => a.output = PathBuf::from(value),
                    Page::VirtIO => match super::virtio::checked_dir(&value) {
                        Ok(dir) => a.virtio = dir,
                        Err(problem) => return Some(problem),
                    },
                    _ => {}
                }
            }
            (View::Menu(menu), Page::Registration) => {
                a.public = menu.current() == Some(&Entry::Public(true));
            }
            (View::Menu(menu), Page::Cloud) => {
                if let Some(cloud) = super::cloud_list::current(menu) {
                    a.cloud = cloud;
                }
            }
            _ => {}
        }
        None
    }

    /// The Clouds page's Add or Edit: the form of a new cloud, or of the
    /// one selected (the local store has nothing to edit).
    fn open_account(&mut self, edit: bool, facts: &Facts) -> Vec<Action> {
        let cloud = match &self.view {
            View::Menu(menu) => super::cloud_list::current(menu).unwrap_or_default(),
            _ => CloudRef::Local,
        };
        if !edit {
            self.view = View::Account(CloudForm::add(Back::Wizard));
            return Vec::new();
        }
        match CloudForm::edit(&cloud, Back::Wizard, facts) {
            Ok(form) => self.view = View::Account(form),
            Err(problem) => return vec![Action::notice("Edit", problem)],
        }
        Vec::new()
    }

    /// The account form's answer: back to the Clouds page when it is done,
    /// on the cloud it saved.
    fn on_account(&mut self, answer: Answer, facts: &mut Facts) -> Vec<Action> {
        match answer {
            Answer::Stay(actions) => actions,
            Answer::Closed(saved) => {
                if let Some(saved) = saved {
                    self.answers.cloud = saved;
                }
                facts.clouds = None;
                self.show(Page::Cloud, facts);
                Vec::new()
            }
        }
    }

    /// Yes runs the pipeline; an existing local copy is replaced only
    /// after going back for another name.
    fn on_confirm(&mut self, reply: Reply, facts: &mut Facts) -> Vec<Action> {
        match reply {
            Reply::Button(Btn::Yes) => {
                let a = &self.answers;
                let description = a.description.clone();
                facts.edits.set.insert("DESCRIPTION".into(), description);
                let Some(request) = facts.wizard_request(a) else {
                    return Vec::new();
                };
                if !a.output.as_os_str().is_empty() && a.output.exists() {
                    let text = format!(
                        "{} already exists: go back and choose another name for the local copy.",
                        a.output.display()
                    );
                    return vec![Action::notice("File exists", text)];
                }
                vec![Action::StartJob {
                    kind: JobKind::Wizard,
                    title: "Image creation".into(),
                    request: Box::new(request),
                    release: Default::default(),
                }]
            }
            Reply::Button(Btn::Back) | Reply::Cancel => {
                self.show(Page::Output, facts);
                Vec::new()
            }
            _ => vec![Action::Exit(0)],
        }
    }
}

impl Component for Wizard {
    fn id(&self) -> ScreenId {
        match &self.view {
            View::Account(form) => form.id(),
            _ => ScreenId::Wizard(self.page),
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let reply = match &mut self.view {
            View::Account(form) => {
                let answer = form.on_key(key, facts);
                return self.on_account(answer, facts);
            }
            View::Menu(menu) => menu.on_key(key),
            View::Input(input) => input.on_key(key),
            View::Dialog(dialog) => dialog.on_key(key),
        };
        match (reply, self.page) {
            (Reply::None, _) => Vec::new(),
            // "Thank you for using snf-image-creator."
            (_, Page::Finished) => vec![Action::Exit(0)],
            (_, Page::Confirm) => self.on_confirm(reply, facts),
            (Reply::Button(b @ (Btn::Add | Btn::Edit)), Page::Cloud) => {
                self.open_account(b == Btn::Edit, facts)
            }
            _ => self.on_reply(reply, facts),
        }
    }

    fn on_cloud_done(&mut self, result: CloudResult, facts: &mut Facts) -> Vec<Action> {
        match &mut self.view {
            View::Account(form) => {
                let answer = form.on_checked(result, facts);
                self.on_account(answer, facts)
            }
            _ => Vec::new(),
        }
    }

    /// The run ended: say where the image is, or what went wrong.
    fn on_job_done(&mut self, result: JobResult, _: &str, facts: &mut Facts) -> Vec<Action> {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                self.show(Page::Confirm, facts);
                return vec![Action::notice("Image creation failed", job_error(&e))];
            }
        };
        let mut lines: Vec<String> = Vec::new();
        if let Some(image) = &outcome.image {
            lines.push(format!(
                "The image was registered as \"{}\" ({}), id {}.",
                image.name,
                if image.is_public { "public" } else { "private" },
                image.id
            ));
        }
        let copy = outcome.written.first();
        lines.extend(copy.map(|p| format!("Local copy: {}", p.display())));
        let text = format!(
            "{}\n\nmd5sum: {}",
            lines.join("\n"),
            outcome.digests.as_ref().map_or("", |d| d.md5.as_str())
        );
        self.page = Page::Finished;
        self.view = View::Dialog(Dialog::new("Image creation finished", &text, &[Btn::Ok]));
        Vec::new()
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.view {
            View::Menu(menu) => menu.render(area, buf),
            View::Input(input) => input.render(area, buf),
            View::Dialog(dialog) => dialog.render(area, buf),
            View::Account(form) => form.render(area, buf),
        }
    }

    fn is_dialog(&self) -> bool {
        matches!(self.view, View::Dialog(_))
    }
}

impl Answers {
    /// The Confirmation page's text: one line per page shown.
    fn summary(&self, pages: &[Page]) -> String {
        let lines: Vec<String> = (pages.iter())
            .filter_map(|p| self.answer(*p).map(|(label, v)| format!(" * {label}: {v}")))
            .collect();
        format!(
            "All necessary information has been gathered:\n\n{}\n\nContinue with the image creation process?",
            lines.join("\n")
        )
    }

    /// A page's answer as the Confirmation page shows it.
    fn answer(&self, page: Page) -> Option<(&'static str, String)> {
        let path = |p: Option<&Path>| match p {
            Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
            _ => "none".to_owned(),
        };
        let local = || "the local image store".to_owned();
        Some(match page {
            Page::Cloud => ("Cloud", self.cloud.arg().unwrap_or_else(local)),
            Page::Name => ("Image Name", self.name.clone()),
            Page::Description => ("Image Description", self.description.clone()),
            Page::VirtIO => ("VirtIO Drivers", path(self.virtio.as_deref())),
            Page::Registration => (
                "Registration Type",
                (if self.public { "Public" } else { "Private" }).into(),
            ),
            Page::Output => ("Local Copy", path(Some(&self.output))),
            Page::Confirm | Page::Finished => return None,
        })
    }
}

impl Facts {
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
        request.sysprep.install_virtio = a.virtio.clone();
        request.cloud = UploadRequest {
            upload: Some(object),
            register: Some(a.name.clone()),
            public: a.public,
            description: Some(a.description.clone()),
            container: None,
            channel: None,
            triggers: None,
            account: self.account_for(&a.cloud),
        };
        Some(request)
    }
}
