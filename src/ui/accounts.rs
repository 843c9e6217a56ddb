//! Cloud accounts in the UI: the form that adds or edits a Synnefo cloud
//! saved in kamaki's configuration, checked by authenticating in a job (off
//! the UI thread) before it is saved, and the expert Register menu's list
//! of clouds of every kind ([`super::cloud_list`]), which selects, adds,
//! edits or deletes one. The wizard's Clouds page holds the same forms
//! ([`CloudForm`]); Synnefo clouds are saved through
//! [`crate::cloud::config::kamakirc`], as `snf-image-creator accounts`
//! does. The built-in local store is always offered and has nothing to
//! edit.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Entry, Facts, ScreenId};
use super::cloud_forms::CloudForm;
use super::component::{Action, Component};
use super::form::Form;
use super::job::{CloudReply, CloudResult, job_error};
use super::register::RegisterMenu;
use super::widgets::{Btn, Dialog, Menu, Reply};
use crate::cloud::Secret;
use crate::cloud::config::kamakirc::{self, CloudAccount, KamakiConfig};
use crate::cloud::config::list::{CloudKind, CloudRef};
use crate::progress::begin_step;

use super::form::FieldId::{Description, Name, Token, Url};

/// Where a finished account form goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Back {
    /// The wizard's Clouds page.
    Wizard,
    /// The expert Register menu's cloud list.
    Expert,
}

/// What the local store says when asked to be edited or deleted.
pub const LOCAL_IS_FIXED: &str =
    "The built-in local image store is always there: it has no account to edit or delete.";

/// What an account form's answer means to the screen that holds it.
pub enum Answer {
    /// The form stays, and these happen (a notice, the check's job).
    Stay(Vec<Action>),
    /// The form is done: cancelled, or this cloud saved.
    Closed(Option<CloudRef>),
}

/// The form adding a cloud, or editing a saved one, with the account
/// being checked.
pub struct AccountForm {
    editing: Option<String>,
    back: Back,
    form: Form,
    checking: Option<CloudAccount>,
}

impl AccountForm {
    /// The form adding a cloud, or editing the saved cloud `editing`.
    pub fn open(editing: Option<String>, back: Back, facts: &Facts) -> AccountForm {
        let saved = (editing.as_deref()).and_then(|n| {
            KamakiConfig::load(&facts.cloud.paths.kamakirc)
                .ok()?
                .cloud(n)
        });
        let (url, token, description) = saved.map_or_else(Default::default, |a| {
            let token = a.token.expose().to_owned();
            (a.url, token, a.description.unwrap_or_default())
        });
        let mut fields = vec![(Url, url.as_str()), (Token, token.as_str())];
        fields.push((Description, description.as_str()));
        let title = match &editing {
            Some(name) => format!("Edit cloud {name}"),
            None => {
                fields.insert(0, (Name, ""));
                "Add a cloud".to_owned()
            }
        };
        let text =
            "The account is checked with the cloud before it is saved in kamaki's configuration.";
        let form = Form::new(&title, text, &fields, &[Btn::Ok, Btn::Cancel]).with_secret(Token);
        AccountForm {
            editing,
            back,
            form,
            checking: None,
        }
    }

    pub fn id(&self) -> ScreenId {
        ScreenId::AccountForm {
            kind: CloudKind::Synnefo,
            editing: self.editing.clone(),
            back: self.back,
        }
    }

    /// OK checks the account (in a job); the other buttons close the form.
    pub fn on_key(&mut self, key: KeyEvent) -> Answer {
        match self.form.on_key(key) {
            Reply::None => Answer::Stay(Vec::new()),
            Reply::Button(Btn::Ok) => match account_from(&self.form, self.editing.as_deref()) {
                Ok(account) => Answer::Stay(vec![self.check(account)]),
                Err(problem) => Answer::Stay(vec![Action::notice(
                    "Invalid account",
                    format!("{problem:#}"),
                )]),
            },
            _ => Answer::Closed(None),
        }
    }

    /// Authenticate in a job; the answer comes to [`Self::on_checked`].
    fn check(&mut self, account: CloudAccount) -> Action {
        self.checking = Some(account.clone());
        Action::cloud("Checking the cloud account", move |r| {
            let what = format!("Checking the account of cloud `{}'", account.name);
            let step = begin_step(r, &what, None);
            kamakirc::check(&account)?;
            step.done("done");
            Ok(CloudReply::Checked)
        })
    }

    /// The check ended: save the account, or keep the form, as it was,
    /// and say why.
    pub fn on_checked(&mut self, result: CloudResult, facts: &Facts) -> Answer {
        let Some(account) = self.checking.take() else {
            return Answer::Stay(Vec::new());
        };
        match result.and_then(|_| save_account(facts, &account)) {
            Ok(()) => Answer::Closed(Some(CloudRef::Synnefo(account.name))),
            Err(e) => Answer::Stay(vec![Action::notice(
                "The cloud account was not saved",
                job_error(&e),
            )]),
        }
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        self.form.render(area, buf);
    }
}

fn save_account(facts: &Facts, account: &CloudAccount) -> anyhow::Result<()> {
    let path = &facts.cloud.paths.kamakirc;
    let mut config = KamakiConfig::load(path)?;
    config.put_cloud(account)?;
    Ok(config.save(path)?)
}

/// The account a form describes, or what is wrong with it.
fn account_from(form: &Form, editing: Option<&str>) -> anyhow::Result<CloudAccount> {
    let name = editing.map_or_else(|| form.value(Name), str::to_owned);
    let url = form.value(Url);
    let token = form.value(Token);
    let description = form.value(Description);
    kamakirc::check_name(&name)?;
    if reqwest::Url::parse(&url).is_err() {
        anyhow::bail!(
            "Give the cloud's authentication URL, such as https://accounts.example.org/identity/v2.0."
        );
    }
    if token.is_empty() {
        anyhow::bail!("Give the token of your account on that cloud.");
    }
    Ok(CloudAccount {
        name,
        url,
        token: Secret::new(token),
        description: (!description.is_empty()).then_some(description),
    })
}

/// The Register menu's clouds: the local store first, then every saved
/// cloud; one is selected for uploads and registrations.
pub struct Clouds {
    menu: Menu<Entry>,
    shown: Shown,
}

/// What the clouds screen shows.
enum Shown {
    List,
    Form(Box<CloudForm>),
    /// Delete this kamaki cloud?
    Delete(String, Dialog),
}

impl Clouds {
    pub fn new(facts: &mut Facts) -> Clouds {
        let mut items = super::cloud_list::items(super::cloud_list::listed(facts));
        let selected = Entry::Cloud(facts.cloud.selected.clone());
        let current = match items.iter_mut().find(|i| i.0 == selected) {
            Some(item) => item,
            None => &mut items[0],
        };
        current.2 = format!("{} [selected]", current.2);
        let current = current.0.clone();
        let mut menu = Menu::new(
            "Clouds",
            "Select the cloud to upload to and register with, or add, edit or delete one.",
            items,
            &[Btn::Select, Btn::Add, Btn::Edit, Btn::Delete, Btn::Back],
        );
        menu.select(&current);
        Clouds {
            menu,
            shown: Shown::List,
        }
    }

    fn on_list_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let reply = self.menu.on_key(key);
        let cloud = super::cloud_list::current(&self.menu).unwrap_or_default();
        let Reply::Button(button) = reply else {
            return match reply {
                Reply::None => Vec::new(),
                _ => vec![Action::Pop],
            };
        };
        match (button, cloud) {
            (Btn::Select, cloud) => {
                facts.cloud.selected = cloud;
                // The menu under it names the selected cloud.
                let menu = Box::new(RegisterMenu::new(facts));
                return vec![Action::Pop, Action::Pop, Action::Push(menu)];
            }
            (Btn::Add, _) => self.shown = Shown::Form(Box::new(CloudForm::add(Back::Expert))),
            (Btn::Edit, cloud) => match CloudForm::edit(&cloud, Back::Expert, facts) {
                Ok(form) => self.shown = Shown::Form(Box::new(form)),
                Err(problem) => return vec![Action::notice("Clouds", problem)],
            },
            (Btn::Delete, CloudRef::Synnefo(name)) => {
                self.shown = Shown::Delete(name.clone(), ask_delete(&name, facts))
            }
            (Btn::Delete, CloudRef::Local) => {
                return vec![Action::notice("Clouds", LOCAL_IS_FIXED)];
            }
            (Btn::Delete, cloud) => {
                let text = format!(
                    "{} is deleted from its file, not here: remove it with a text editor.",
                    cloud.arg().unwrap_or_default()
                );
                return vec![Action::notice("Clouds", text)];
            }
            _ => return vec![Action::Pop],
        }
        Vec::new()
    }

    fn on_answer(&mut self, answer: Answer, facts: &mut Facts) -> Vec<Action> {
        match answer {
            Answer::Stay(actions) => actions,
            Answer::Closed(saved) => {
                if let Some(saved) = saved {
                    facts.cloud.selected = saved;
                }
                self.reopen(facts);
                Vec::new()
            }
        }
    }

    /// The list again, as saved now.
    fn reopen(&mut self, facts: &mut Facts) {
        facts.clouds = None;
        *self = Clouds::new(facts);
    }

    /// Delete a saved cloud, then show the list again.
    fn delete(&mut self, name: &str, facts: &mut Facts) -> Vec<Action> {
        let path = facts.cloud.paths.kamakirc.clone();
        let deleted = KamakiConfig::load(&path)
            .and_then(|mut c| c.remove_cloud(name).map(|()| c))
            .and_then(|c| c.save(&path));
        if facts.cloud.selected == CloudRef::Synnefo(name.to_owned()) {
            facts.cloud.selected = CloudRef::Local;
        }
        self.reopen(facts);
        vec![match deleted {
            Ok(()) => Action::notice(
                "Delete cloud account",
                format!("The cloud account {name} was deleted."),
            ),
            Err(e) => Action::notice("Error", e.to_string()),
        }]
    }
}

/// Ask before deleting a saved cloud.
fn ask_delete(name: &str, facts: &Facts) -> Dialog {
    let text = format!(
        "Delete the cloud account {name} from {}?",
        facts.cloud.paths.kamakirc.display()
    );
    Dialog::new("Delete cloud account", &text, &[Btn::Yes, Btn::No]).defaulting_to(Btn::No)
}

impl Component for Clouds {
    fn id(&self) -> ScreenId {
        match &self.shown {
            Shown::List => ScreenId::Clouds,
            Shown::Form(form) => form.id(),
            Shown::Delete(name, _) => ScreenId::ConfirmDeleteAccount(name.clone()),
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        match &mut self.shown {
            Shown::List => self.on_list_key(key, facts),
            Shown::Form(form) => {
                let answer = form.on_key(key, facts);
                self.on_answer(answer, facts)
            }
            Shown::Delete(name, dialog) => match dialog.on_key(key) {
                Reply::None => Vec::new(),
                Reply::Button(Btn::Yes) => {
                    let name = name.clone();
                    self.delete(&name, facts)
                }
                _ => self.on_answer(Answer::Closed(None), facts),
            },
        }
    }

    fn on_cloud_done(&mut self, result: CloudResult, facts: &mut Facts) -> Vec<Action> {
        match &mut self.shown {
            Shown::Form(form) => {
                let answer = form.on_checked(result, facts);
                self.on_answer(answer, facts)
            }
            _ => Vec::new(),
        }
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.shown {
            Shown::List => self.menu.render(area, buf),
            Shown::Form(form) => form.render(area, buf),
            Shown::Delete(_, dialog) => dialog.render(area, buf),
        }
    }

    fn is_dialog(&self) -> bool {
        matches!(self.shown, Shown::Delete(..))
    }
}
