//! Cloud accounts in the UI: the form that adds or edits a Synnefo cloud
//! saved in kamaki's configuration, checked by authenticating in a job (off
//! the UI thread) before it is saved, and the deletion of one. The wizard's
//! Clouds page and the expert Register menu both use it, and both save
//! through [`crate::cloud::config::kamakirc`], as `snf-image-creator accounts` does.
//! The built-in local store is always offered and has nothing to edit.

use super::app::{App, Screen, Tag as AppTag};
use super::form::Form;
use super::job::CloudReply;
use super::widgets::{Btn, Dialog, Reply};
use super::wizard::Page;
use crate::cloud::Secret;
use crate::cloud::config::kamakirc::{self, CloudAccount, KamakiConfig};
use crate::progress::begin_step;

/// Where a finished account form goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Back {
    /// The wizard's Clouds page.
    Wizard,
    /// The expert Register menu's cloud list.
    Expert,
}

/// The account screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// The form adding a cloud (`editing` is `None`) or editing one.
    Form { editing: Option<String>, back: Back },
    /// Delete this cloud?
    ConfirmDelete(String),
}

/// An account form waiting for its check.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAccount {
    tag: Tag,
    form: Form,
    account: CloudAccount,
}

use super::form::FieldId::{Description, Name, Token, Url};

/// What the local store says when asked to be edited or deleted.
pub const LOCAL_IS_FIXED: &str =
    "The built-in local image store is always there: it has no account to edit or delete.";

impl App {
    /// The wizard's Add (`edit` false) or Edit button on its Clouds page;
    /// `name` is the selected cloud, `None` for the local store.
    pub fn on_wizard_account(&mut self, edit: bool, name: Option<String>, page: Screen) {
        match (edit, name) {
            (false, _) => self.open_account_form(None, Back::Wizard),
            (true, Some(name)) => self.open_account_form(Some(name), Back::Wizard),
            (true, None) => {
                self.push(page);
                self.notice("Edit", LOCAL_IS_FIXED);
            }
        }
    }

    /// Show the form adding a cloud, or editing the saved cloud `editing`.
    pub fn open_account_form(&mut self, editing: Option<String>, back: Back) {
        let saved = editing.as_deref().and_then(|n| {
            KamakiConfig::load(&self.facts.cloud.config)
                .ok()
                .and_then(|c| c.cloud(n))
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
        self.push(Screen::Form(
            AppTag::Account(Tag::Form { editing, back }),
            form,
        ));
    }

    /// A reply on an account screen.
    pub fn on_account(&mut self, tag: Tag, screen: Screen, reply: Reply) {
        match (tag, screen) {
            (Tag::Form { editing, back }, Screen::Form(t, form)) => {
                if reply != Reply::Button(Btn::Ok) {
                    return self.back_to_clouds(back);
                }
                match account_from(&form, editing.as_deref()) {
                    Ok(account) => self.check_account(PendingAccount {
                        tag: Tag::Form { editing, back },
                        form,
                        account,
                    }),
                    Err(problem) => {
                        self.push(Screen::Form(t, form));
                        self.notice("Invalid account", &format!("{problem:#}"));
                    }
                }
            }
            (Tag::ConfirmDelete(name), _) if reply == Reply::Button(Btn::Yes) => {
                self.delete_account(&name)
            }
            _ => self.open_register_clouds(),
        }
    }

    fn back_to_clouds(&mut self, back: Back) {
        self.facts.clouds = None;
        match back {
            Back::Wizard => self.show_page(Page::Cloud),
            Back::Expert => self.open_register_clouds(),
        }
    }

    /// Authenticate in a job; the answer comes to [`Self::on_account_checked`].
    fn check_account(&mut self, pending: PendingAccount) {
        let account = pending.account.clone();
        self.facts.cloud.pending_account = Some(pending);
        self.start_cloud("Checking the cloud account", move |r| {
            let step = begin_step(
                r,
                &format!("Checking the account of cloud `{}'", account.name),
                None,
            );
            kamakirc::check(&account)?;
            step.done("done");
            Ok(CloudReply::Checked)
        });
    }

    /// The check ended: save the account and go back, or show the form
    /// again, as it was, with the reason.
    pub fn on_account_checked(&mut self, result: anyhow::Result<()>) {
        let Some(pending) = self.facts.cloud.pending_account.take() else {
            return;
        };
        let saved = result.and_then(|()| self.save_account(&pending.account));
        let Tag::Form { back, .. } = &pending.tag else {
            return;
        };
        let back = *back;
        match saved {
            Ok(()) => {
                let name = pending.account.name.clone();
                match back {
                    Back::Wizard => self.facts.answers.cloud = Some(name),
                    Back::Expert => self.facts.cloud.selected = Some(name),
                }
                self.back_to_clouds(back);
            }
            Err(e) => {
                self.push(Screen::Form(AppTag::Account(pending.tag), pending.form));
                self.notice(
                    "The cloud account was not saved",
                    &super::job::job_error(&e),
                );
            }
        }
    }

    fn save_account(&self, account: &CloudAccount) -> anyhow::Result<()> {
        let path = &self.facts.cloud.config;
        let mut config = KamakiConfig::load(path)?;
        config.put_cloud(account)?;
        Ok(config.save(path)?)
    }

    /// Ask before deleting a saved cloud.
    pub fn confirm_delete_account(&mut self, name: &str) {
        let text = format!(
            "Delete the cloud account {name} from {}?",
            self.facts.cloud.config.display()
        );
        self.push(Screen::Dialog(
            AppTag::Account(Tag::ConfirmDelete(name.to_owned())),
            Dialog::new("Delete cloud account", &text, &[Btn::Yes, Btn::No]).defaulting_to(Btn::No),
        ));
    }

    fn delete_account(&mut self, name: &str) {
        let path = self.facts.cloud.config.clone();
        let deleted = KamakiConfig::load(&path)
            .and_then(|mut c| c.remove_cloud(name).map(|()| c))
            .and_then(|c| c.save(&path));
        if self.facts.cloud.selected.as_deref() == Some(name) {
            self.facts.cloud.selected = None;
        }
        self.back_to_clouds(Back::Expert);
        match deleted {
            Ok(()) => self.notice(
                "Delete cloud account",
                &format!("The cloud account {name} was deleted."),
            ),
            Err(e) => self.notice("Error", &e.to_string()),
        }
    }
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
