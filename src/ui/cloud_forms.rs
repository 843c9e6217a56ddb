//! Adding and editing clouds of every kind, for the wizard's Clouds page
//! and the Register menu's cloud list: Add first asks which kind, Edit
//! opens the form of the selected cloud's kind. Synnefo clouds are checked
//! with the cloud and saved in kamaki's configuration ([`AccountForm`]);
//! OpenStack clouds are saved in clouds.yaml and S3 buckets in their
//! files ([`crate::cloud::config`]), with the same readers `--cloud`
//! uses. A bad answer is one line in the form, and nothing is written.

use std::path::PathBuf;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::accounts::{AccountForm, Answer, Back, LOCAL_IS_FIXED};
use super::app::{Facts, ScreenId};
use super::form::FieldId::{
    AccessKey, Bucket, Domain, Endpoint, Name, Password, Profile, Project, Region, SecretKey, Url,
    Username,
};
use super::form::{FieldId, Form};
use super::job::CloudResult;
use super::widgets::{Btn, Menu, Reply};
use crate::cloud::Secret;
use crate::cloud::config::clouds_yaml;
use crate::cloud::config::clouds_yaml_write::{self, PasswordCloud};
use crate::cloud::config::kamakirc;
use crate::cloud::config::list::{CloudKind, CloudRef};
use crate::cloud::config::s3_targets::{self, S3Account};

/// The form adding or editing a cloud, or the question of which kind.
pub enum CloudForm {
    /// Add: which kind of cloud?
    Choose(Menu<CloudKind>, Back),
    Synnefo(AccountForm),
    OpenStack(FileForm),
    S3(FileForm),
}

impl CloudForm {
    /// Add a cloud: the kinds to choose from.
    pub fn add(back: Back) -> CloudForm {
        let kinds = [
            (
                CloudKind::Synnefo,
                "A Synnefo cloud, saved in kamaki's configuration",
            ),
            (
                CloudKind::OpenStack,
                "An OpenStack cloud, saved in clouds.yaml",
            ),
            (
                CloudKind::S3,
                "An S3 bucket, its keys in the AWS credentials file",
            ),
        ];
        let items = (kinds.into_iter())
            .map(|(k, d)| (k, k.title().to_owned(), d.to_owned()))
            .collect();
        let text = "Which kind of cloud do you want to add?";
        let menu = Menu::new("Add a cloud", text, items, &[Btn::Select, Btn::Back]);
        CloudForm::Choose(menu, back)
    }

    /// Edit a cloud; why it cannot be edited here otherwise.
    pub fn edit(cloud: &CloudRef, back: Back, facts: &Facts) -> Result<CloudForm, String> {
        let name = Some(cloud.name().to_owned());
        match cloud {
            CloudRef::Local => Err(LOCAL_IS_FIXED.to_owned()),
            CloudRef::Synnefo(_) => Ok(CloudForm::Synnefo(AccountForm::open(name, back, facts))),
            // Swift's credentials are the cloud's clouds.yaml entry.
            CloudRef::OpenStack(n) | CloudRef::Swift(n) => {
                FileForm::openstack(Some(n), back, facts).map(CloudForm::OpenStack)
            }
            CloudRef::S3(b) => Ok(CloudForm::S3(FileForm::s3(Some(b), back, facts))),
        }
    }

    pub fn id(&self) -> ScreenId {
        match self {
            CloudForm::Choose(..) => ScreenId::CloudKind,
            CloudForm::Synnefo(form) => form.id(),
            CloudForm::OpenStack(form) | CloudForm::S3(form) => form.id(),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent, facts: &Facts) -> Answer {
        match self {
            CloudForm::Choose(menu, back) => {
                let back = *back;
                match (menu.on_key(key), menu.current().copied()) {
                    (Reply::None, _) => Answer::Stay(Vec::new()),
                    (Reply::Button(Btn::Select), Some(kind)) => {
                        *self = CloudForm::open_new(kind, back, facts);
                        Answer::Stay(Vec::new())
                    }
                    _ => Answer::Closed(None),
                }
            }
            CloudForm::Synnefo(form) => form.on_key(key),
            CloudForm::OpenStack(form) | CloudForm::S3(form) => form.on_key(key, facts),
        }
    }

    fn open_new(kind: CloudKind, back: Back, facts: &Facts) -> CloudForm {
        match kind {
            CloudKind::OpenStack | CloudKind::Swift => match FileForm::openstack(None, back, facts)
            {
                Ok(form) => CloudForm::OpenStack(form),
                Err(_) => CloudForm::add(back),
            },
            CloudKind::S3 => CloudForm::S3(FileForm::s3(None, back, facts)),
            CloudKind::Synnefo | CloudKind::Local => {
                CloudForm::Synnefo(AccountForm::open(None, back, facts))
            }
        }
    }

    /// A Synnefo account's check ended.
    pub fn on_checked(&mut self, result: CloudResult, facts: &Facts) -> Answer {
        match self {
            CloudForm::Synnefo(form) => form.on_checked(result, facts),
            _ => Answer::Stay(Vec::new()),
        }
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        match self {
            CloudForm::Choose(menu, _) => menu.render(area, buf),
            CloudForm::Synnefo(form) => form.render(area, buf),
            CloudForm::OpenStack(form) | CloudForm::S3(form) => form.form.render(area, buf),
        }
    }
}

/// What an OpenStack or S3 form edits, as it was opened.
enum Editing {
    OpenStack(Option<PasswordCloud>),
    S3(Option<String>),
}

/// The form of a cloud saved in a file (clouds.yaml, the S3 files).
pub struct FileForm {
    editing: Editing,
    /// The clouds.yaml the cloud is saved in.
    file: PathBuf,
    back: Back,
    form: Form,
}

impl FileForm {
    /// Add or edit an OpenStack cloud (password authentication).
    fn openstack(name: Option<&str>, back: Back, facts: &Facts) -> Result<FileForm, String> {
        let paths = &facts.cloud.paths;
        let (file, was) = match name {
            Some(n) => {
                let (file, c) = clouds_yaml_write::editable(n, &paths.clouds_yaml)?;
                (file, Some(c))
            }
            None => (paths.clouds_yaml_new.clone(), None),
        };
        let c = was.clone();
        let get = |f: fn(&PasswordCloud) -> String, default: &str| {
            c.as_ref().map_or(default.to_owned(), f)
        };
        let values = [
            (Url, get(|c| c.auth_url.clone(), "")),
            (Username, get(|c| c.username.clone(), "")),
            (Password, get(|c| c.password.expose().to_owned(), "")),
            (Project, get(|c| c.project.clone(), "")),
            (Domain, get(|c| c.domain.clone(), "Default")),
            (Region, get(|c| c.region.clone(), "")),
        ];
        let mut text = format!("Saved in {}.", file.display());
        if clouds_yaml_write::has_comments(&file) {
            text.push_str(" Its comments will not be kept.");
        }
        let form = Self::form("OpenStack cloud", name, &text, &values, [Name, Password]);
        let editing = Editing::OpenStack(was);
        Ok(FileForm {
            editing,
            file,
            back,
            form,
        })
    }

    /// Add or edit a saved S3 bucket.
    fn s3(bucket: Option<&str>, back: Back, facts: &Facts) -> FileForm {
        let files = &facts.cloud.paths.s3;
        let saved = bucket
            .and_then(|b| s3_targets::bucket(files, b))
            .unwrap_or_default();
        let profile = saved.profile.unwrap_or_else(|| files.profile.clone());
        let creds = files.credentials_ini();
        let key = |k: &str| creds.get(&profile, k).unwrap_or_default();
        let values = [
            (Endpoint, saved.endpoint.unwrap_or_default()),
            (Region, saved.region.unwrap_or_default()),
            (Profile, profile.clone()),
            (AccessKey, key("aws_access_key_id")),
            (SecretKey, key("aws_secret_access_key")),
        ];
        let text = format!(
            "The bucket is saved in {}, its keys in {}.",
            files.targets.display(),
            files.credentials.display()
        );
        let form = Self::form("S3 bucket", bucket, &text, &values, [Bucket, SecretKey]);
        let editing = Editing::S3(bucket.map(str::to_owned));
        FileForm {
            editing,
            file: files.targets.clone(),
            back,
            form,
        }
    }

    /// The form: the name field (`names`, then the secret field) first
    /// when adding, the secret as stars.
    fn form(
        kind: &str,
        name: Option<&str>,
        text: &str,
        values: &[(FieldId, String)],
        [names, secret]: [FieldId; 2],
    ) -> Form {
        let mut fields: Vec<(FieldId, &str)> =
            values.iter().map(|(f, v)| (*f, v.as_str())).collect();
        let title = match name {
            Some(n) => format!("Edit {kind} {n}"),
            None => {
                fields.insert(0, (names, ""));
                format!("Add an {kind}")
            }
        };
        Form::new(&title, text, &fields, &[Btn::Ok, Btn::Cancel]).with_secret(secret)
    }

    pub fn id(&self) -> ScreenId {
        let (kind, editing) = match &self.editing {
            Editing::OpenStack(c) => (CloudKind::OpenStack, c.as_ref().map(|c| c.name.clone())),
            Editing::S3(b) => (CloudKind::S3, b.clone()),
        };
        ScreenId::AccountForm {
            kind,
            editing,
            back: self.back,
        }
    }

    /// OK saves, or says in the form what is wrong; Cancel closes it.
    fn on_key(&mut self, key: KeyEvent, facts: &Facts) -> Answer {
        match self.form.on_key(key) {
            Reply::None => Answer::Stay(Vec::new()),
            Reply::Button(Btn::Ok) => match self.save(facts) {
                Ok(saved) => Answer::Closed(Some(saved)),
                Err(problem) => {
                    self.form.text = format!("{problem:#}");
                    Answer::Stay(Vec::new())
                }
            },
            _ => Answer::Closed(None),
        }
    }

    fn save(&self, facts: &Facts) -> anyhow::Result<CloudRef> {
        let v = |f: FieldId| self.form.value(f);
        let need = |f: FieldId| {
            let value = v(f);
            match value.is_empty() {
                true => Err(anyhow::anyhow!("{} is needed.", f.label())),
                false => Ok(value),
            }
        };
        match &self.editing {
            Editing::OpenStack(was) => {
                let name = was.as_ref().map_or_else(|| v(Name), |w| w.name.clone());
                kamakirc::check_name(&name)?;
                let paths = &facts.cloud.paths.clouds_yaml;
                if was.is_none() && clouds_yaml::list(paths).iter().any(|c| c.name == name) {
                    anyhow::bail!("There is an OpenStack cloud {name} already: edit it instead.");
                }
                let auth_url = need(Url)?;
                if reqwest::Url::parse(&auth_url).is_err() {
                    anyhow::bail!(
                        "Give Keystone's URL, such as https://keystone.example.org:5000/v3."
                    );
                }
                let c = PasswordCloud {
                    name,
                    auth_url,
                    username: need(Username)?,
                    password: Secret::new(need(Password)?),
                    project: need(Project)?,
                    domain: need(Domain)?,
                    region: v(Region),
                };
                clouds_yaml_write::save(&self.file, &c, was.as_ref())?;
                Ok(CloudRef::OpenStack(c.name))
            }
            Editing::S3(was) => {
                let bucket = was.clone().unwrap_or_else(|| v(Bucket));
                let files = &facts.cloud.paths.s3;
                if was.is_none() && s3_targets::bucket(files, &bucket).is_some() {
                    anyhow::bail!("Bucket {bucket} is saved already: edit it instead.");
                }
                let endpoint = v(Endpoint);
                if !endpoint.is_empty() && reqwest::Url::parse(&endpoint).is_err() {
                    anyhow::bail!(
                        "Give the endpoint's URL, such as https://s3.example.org, or none for AWS."
                    );
                }
                let a = S3Account {
                    bucket,
                    endpoint,
                    region: v(Region),
                    profile: need(Profile)?,
                    access_key: need(AccessKey)?,
                    secret_key: Secret::new(need(SecretKey)?),
                };
                s3_targets::save(&facts.cloud.paths.s3, &a)?;
                Ok(CloudRef::S3(a.bucket))
            }
        }
    }
}
