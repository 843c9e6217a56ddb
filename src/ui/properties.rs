//! Customize → Properties and Exclude: the properties the image will
//! carry (edit, add, delete, on top of the detected ones), and the
//! deployment tasks snf-image runs, to exclude. Both change the session's
//! pending edits only.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component};
use super::widgets::{Btn, Checklist, Dialog, Input, Menu, Reply};
use crate::guest::metadata::validate_key;

/// snf-image's deployment tasks: name, what it does, the OS families it
/// applies to (empty: all).
const DEPLOY_TASKS: &[(&str, &str, &[&str])] = &[
    ("FixPartitionTable", "Partition table manipulation", &[]),
    (
        "FilesystemResizeUnmounted",
        "File system resize (unmounted)",
        &[],
    ),
    (
        "FilesystemResizeMounted",
        "File system resize (mounted)",
        &[],
    ),
    ("AddSwap", "Swap partition configuration", &["linux"]),
    (
        "DeleteSSHKeys",
        "SSH keys removal",
        &["linux", "freebsd", "netbsd", "openbsd"],
    ),
    (
        "DisableRemoteDesktopConnections",
        "Temporal RDP disabling",
        &["windows"],
    ),
    (
        "SELinuxAutorelabel",
        "SELinux relabeling at next boot",
        &["linux"],
    ),
    ("AssignHostname", "Hostname/Computer Name assignment", &[]),
    ("ChangePassword", "Password change", &[]),
    (
        "ConfigureNetwork",
        "Network configuration",
        &["linux", "freebsd", "netbsd", "openbsd"],
    ),
    ("EnforcePersonality", "File injection", &[]),
];

/// What is being done to a property.
enum Edit {
    /// The value of this property.
    Value(String, Input),
    /// The name of a new property.
    NewKey(Input),
    /// The value of the new property of this name.
    NewValue(String, Input),
    /// Delete this property?
    Delete(String, Dialog),
}

/// The Properties menu and the editing of one property.
pub struct Properties {
    menu: Menu,
    edit: Option<Edit>,
}

fn value_input(title: &str, key: &str, value: &str) -> Input {
    Input::new(
        title,
        &format!("Value of {key}:"),
        value,
        &[Btn::Ok, Btn::Cancel],
    )
}

impl Properties {
    pub fn new(facts: &Facts) -> Properties {
        let items = facts.metadata().into_iter().collect();
        Properties {
            menu: Menu::keyed(
                "Image Properties",
                "The properties the image will carry.",
                items,
                &[Btn::Edit, Btn::Add, Btn::Delete, Btn::Back],
            ),
            edit: None,
        }
    }

    fn on_menu(&mut self, reply: Reply, facts: &Facts) -> Vec<Action> {
        let key = self.menu.current().cloned();
        self.edit = match (reply, key) {
            (Reply::None, _) => return Vec::new(),
            (Reply::Button(Btn::Edit), Some(key)) => {
                let value = facts.metadata().get(&key).cloned().unwrap_or_default();
                Some(Edit::Value(
                    key.clone(),
                    value_input("Edit property", &key, &value),
                ))
            }
            (Reply::Button(Btn::Add), _) => Some(Edit::NewKey(Input::new(
                "Add property",
                "Name (letters, digits and _):",
                "",
                &[Btn::Ok, Btn::Cancel],
            ))),
            (Reply::Button(Btn::Delete), Some(key)) => {
                let text = format!("Delete the property {key}?");
                let dialog = Dialog::new("Delete property", &text, &[Btn::Yes, Btn::No]);
                Some(Edit::Delete(key, dialog.defaulting_to(Btn::No)))
            }
            _ => return vec![Action::Pop],
        };
        Vec::new()
    }

    /// Keep a property's value, and show the menu afresh.
    fn set(&mut self, key: String, value: &str, facts: &mut Facts) -> Vec<Action> {
        if value.is_empty() {
            let text = "A property needs a value; use Delete to remove it.";
            return vec![Action::notice("Invalid value", text)];
        }
        facts.edits.unset.remove(&key);
        facts.edits.set.insert(key, value.to_owned());
        *self = Properties::new(facts);
        Vec::new()
    }

    fn new_key(&mut self, value: &str, facts: &Facts) -> Vec<Action> {
        let key = match validate_key(value) {
            Ok(key) => key,
            Err(e) => return vec![Action::notice("Invalid name", e.to_string())],
        };
        if facts.metadata().contains_key(&key) {
            let text = format!("{key} already exists: edit it instead.");
            return vec![Action::notice("Invalid name", text)];
        }
        let input = value_input("Add property", &key, "");
        self.edit = Some(Edit::NewValue(key, input));
        Vec::new()
    }

    /// A key on the property being edited.
    fn on_edit(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        let reply = match &mut self.edit {
            Some(Edit::Value(_, i) | Edit::NewKey(i) | Edit::NewValue(_, i)) => i.on_key(key),
            Some(Edit::Delete(_, d)) => d.on_key(key),
            None => return Vec::new(),
        };
        match reply {
            Reply::None => return Vec::new(),
            Reply::Button(Btn::Ok | Btn::Yes) => {}
            _ => {
                self.edit = None;
                return Vec::new();
            }
        }
        match &self.edit {
            Some(Edit::Value(k, i) | Edit::NewValue(k, i)) => {
                let (k, v) = (k.clone(), i.value.trim().to_owned());
                self.set(k, &v, facts)
            }
            Some(Edit::NewKey(i)) => {
                let v = i.value.trim().to_owned();
                self.new_key(&v, facts)
            }
            Some(Edit::Delete(k, _)) => {
                let k = k.clone();
                facts.edits.set.remove(&k);
                facts.edits.unset.insert(k);
                *self = Properties::new(facts);
                Vec::new()
            }
            None => Vec::new(),
        }
    }
}

impl Component for Properties {
    fn id(&self) -> ScreenId {
        match &self.edit {
            None => ScreenId::Properties,
            Some(Edit::Value(k, _)) => ScreenId::PropertyValue(k.clone()),
            Some(Edit::NewKey(_)) => ScreenId::PropertyNewKey,
            Some(Edit::NewValue(k, _)) => ScreenId::PropertyNewValue(k.clone()),
            Some(Edit::Delete(k, _)) => ScreenId::ConfirmDeleteProperty(k.clone()),
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        if self.edit.is_some() {
            return self.on_edit(key, facts);
        }
        let reply = self.menu.on_key(key);
        self.on_menu(reply, facts)
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.edit {
            Some(Edit::Value(_, i) | Edit::NewKey(i) | Edit::NewValue(_, i)) => i.render(area, buf),
            Some(Edit::Delete(_, d)) => {
                self.menu.render(area, buf);
                d.render(area, buf);
            }
            None => self.menu.render(area, buf),
        }
    }
}

/// The deployment tasks, to untick the ones to exclude.
pub struct Exclude(Checklist);

impl Exclude {
    /// The checklist, or why there is none (unsupported media).
    pub fn open(facts: &Facts) -> Result<Exclude, Action> {
        if facts
            .session
            .as_ref()
            .is_some_and(|s| s.unsupported.is_some())
        {
            let text = "Every deployment task is excluded for unsupported media.";
            return Err(Action::notice("Exclude", text));
        }
        let meta = facts.metadata();
        let family = meta.get("OSFAMILY").cloned().unwrap_or_default();
        let tasks = DEPLOY_TASKS
            .iter()
            .filter(|(_, _, fams)| fams.is_empty() || fams.contains(&family.as_str()))
            .map(|(name, what, _)| {
                let excluded = meta.contains_key(&format!("EXCLUDE_TASK_{}", name.to_uppercase()));
                (name.to_string(), what.to_string(), !excluded)
            })
            .collect();
        Ok(Exclude(Checklist::new(
            "Exclude Configuration Tasks",
            "The tasks snf-image runs when a VM is deployed; untick the ones to exclude.",
            tasks,
            &[Btn::Ok, Btn::NoConfig, Btn::Back],
        )))
    }

    fn keep(&self, facts: &mut Facts) {
        for (name, _, run) in &self.0.items {
            let key = format!("EXCLUDE_TASK_{}", name.to_uppercase());
            if *run {
                facts.edits.set.remove(&key);
                facts.edits.unset.insert(key);
            } else {
                facts.edits.unset.remove(&key);
                facts.edits.set.insert(key, "yes".into());
            }
        }
    }
}

impl Component for Exclude {
    fn id(&self) -> ScreenId {
        ScreenId::Exclude
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        match self.0.on_key(key) {
            Reply::None => return Vec::new(),
            Reply::Button(Btn::Ok) => self.keep(facts),
            Reply::Button(Btn::NoConfig) => {
                facts
                    .edits
                    .set
                    .insert("EXCLUDE_ALL_TASKS".into(), "yes".into());
                let text = "Every deployment task is excluded (EXCLUDE_ALL_TASKS=yes).";
                return vec![Action::Pop, Action::notice("No Config", text)];
            }
            _ => {}
        }
        vec![Action::Pop]
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        self.0.render(area, buf);
    }
}
