//! Expert mode: the main menu and its submenus (Customize → Properties and
//! Exclude here, the other Customize entries in their own modules; Extract,
//! Log, Reset, Help). Each answer either edits the session's pending
//! changes or starts a run of the pipeline.

use std::path::{Path, PathBuf};

use super::app::{App, Entry as AppEntry, Facts, Screen, Tag as AppTag};
use super::extract::Extract;
use super::log::{Help, Log, Reset};
use super::widgets::{Btn, Checklist, Dialog, Input, Menu, Reply};
use crate::guest::metadata::validate_key;

/// The expert screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    Main,
    Customize,
    /// The system preparation screens.
    Sysprep(super::sysprep::Tag),
    /// "The guest is mounted on DIR".
    Mounted,
    /// `--no-snapshot`: mount the original media?
    ConfirmMountOriginal,
    Properties,
    /// Editing the value of this property.
    PropertyValue(String),
    PropertyNewKey,
    /// The value of a new property with this name.
    PropertyNewValue(String),
    ConfirmDelete(String),
    Exclude,
    ExtractPath,
    ExtractOverwrite(PathBuf),
    Log,
    LogSavePath,
    Help,
    ConfirmReset,
}

/// The entries of the expert main menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Customize,
    Register,
    Extract,
    Log,
    Reset,
    Help,
}

const MAIN: &[(Entry, &str, &str)] = &[
    (
        Entry::Customize,
        "Customize",
        "Customize image & cloud deployment options",
    ),
    (Entry::Register, "Register", "Register image to a cloud"),
    (Entry::Extract, "Extract", "Dump image to local file system"),
    (Entry::Log, "Log", "Show the log of every step"),
    (Entry::Reset, "Reset", "Start again from the original media"),
    (Entry::Help, "Help", "How to use expert mode"),
];

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

/// The items of a fixed menu, each with its entry's identifier.
pub(super) fn fixed<E: Copy>(
    entries: &[(E, &str, &str)],
    wrap: impl Fn(E) -> AppEntry,
) -> Vec<(AppEntry, String, String)> {
    entries
        .iter()
        .map(|(e, n, d)| (wrap(*e), n.to_string(), d.to_string()))
        .collect()
}

impl App {
    /// Show the expert main menu (on a cleared stack).
    pub fn open_expert(&mut self) {
        self.stack.clear();
        if self
            .facts
            .session
            .as_ref()
            .is_some_and(|s| s.unsupported.is_some())
        {
            self.facts
                .edits
                .set
                .insert("EXCLUDE_ALL_TASKS".into(), "yes".into());
        }
        let menu = Menu::new(
            &format!(
                "Image Creator (snf-image-creator v{})",
                env!("CARGO_PKG_VERSION")
            ),
            "Choose one of the following or press <Exit> to exit.",
            fixed(MAIN, AppEntry::Expert),
            &[Btn::Select, Btn::Exit],
        );
        self.push(Screen::Menu(AppTag::Expert(Tag::Main), menu));
    }

    fn expert(&mut self, tag: Tag, screen: impl FnOnce(AppTag) -> Screen) {
        self.push(screen(AppTag::Expert(tag)));
    }

    /// A reply on an expert screen.
    pub fn on_expert(&mut self, tag: Tag, screen: Screen, reply: Reply) {
        match (tag, screen) {
            (Tag::Main, Screen::Menu(t, menu)) => {
                let choice = menu.current().cloned();
                self.push(Screen::Menu(t, menu));
                match (reply, choice) {
                    (Reply::Button(Btn::Select), Some(AppEntry::Expert(c))) => self.on_main(c),
                    _ => self.push(Screen::Dialog(
                        AppTag::ConfirmExit,
                        Dialog::new("Exit", "Do you want to exit?", &[Btn::Yes, Btn::No])
                            .defaulting_to(Btn::No),
                    )),
                }
            }
            (Tag::Customize, Screen::Menu(_, menu)) => self.on_customize(menu, reply),
            (Tag::Sysprep(tag), screen) => self.on_sysprep(tag, screen, reply),
            (tag @ (Tag::Mounted | Tag::ConfirmMountOriginal), _) => {
                self.on_mount_reply(tag, reply)
            }
            (Tag::Properties, Screen::Menu(_, menu)) => self.on_properties(&menu, reply),
            (tag, Screen::Input(t, input)) if reply == Reply::Button(Btn::Ok) => {
                let value = input.value.trim().to_owned();
                if let Err(problem) = self.on_expert_input(tag, value) {
                    // The field stays, so the answer can be mended.
                    self.push(Screen::Input(t, input));
                    self.notice(problem.0, &problem.1);
                }
            }
            (Tag::ConfirmDelete(key), _) if reply == Reply::Button(Btn::Yes) => {
                self.facts.edits.set.remove(&key);
                self.facts.edits.unset.insert(key);
                self.reopen_properties();
            }
            (Tag::Exclude, Screen::Checklist(_, list)) => self.on_exclude(&list, reply),
            _ => {}
        }
    }

    fn on_main(&mut self, choice: Entry) {
        match choice {
            Entry::Customize => self.open_customize(),
            Entry::Register => self.open_register(),
            Entry::Extract => self.push(Screen::Component(Box::new(Extract::new(&self.facts)))),
            Entry::Log => self.push(Screen::Component(Box::new(Log::new(&self.facts)))),
            Entry::Reset => self.push(Screen::Component(Box::new(Reset::default()))),
            Entry::Help => self.push(Screen::Component(Box::new(Help::default()))),
        }
    }

    pub(super) fn open_properties(&mut self) {
        let items = self
            .facts
            .metadata()
            .into_iter()
            .map(|(k, v)| (AppEntry::Key(k.clone()), k, v))
            .collect();
        self.expert(Tag::Properties, |t| {
            Screen::Menu(
                t,
                Menu::new(
                    "Image Properties",
                    "The properties the image will carry.",
                    items,
                    &[Btn::Edit, Btn::Add, Btn::Delete, Btn::Back],
                ),
            )
        });
    }

    /// Replace the Properties menu under the current screen with a fresh one.
    fn reopen_properties(&mut self) {
        if let Some(Screen::Menu(AppTag::Expert(Tag::Properties), _)) = self.stack.last() {
            self.stack.pop();
        }
        self.open_properties();
    }

    fn on_properties(&mut self, menu: &Menu<AppEntry>, reply: Reply) {
        let key = match menu.current() {
            Some(AppEntry::Key(key)) => Some(key.clone()),
            _ => None,
        };
        self.push(Screen::Menu(AppTag::Expert(Tag::Properties), menu.clone()));
        match (reply, key) {
            (Reply::Button(Btn::Edit), Some(key)) => {
                let value = self.facts.metadata().get(&key).cloned().unwrap_or_default();
                self.expert(Tag::PropertyValue(key.clone()), |t| {
                    Screen::Input(
                        t,
                        Input::new(
                            "Edit property",
                            &format!("Value of {key}:"),
                            &value,
                            &[Btn::Ok, Btn::Cancel],
                        ),
                    )
                });
            }
            (Reply::Button(Btn::Add), _) => self.expert(Tag::PropertyNewKey, |t| {
                Screen::Input(
                    t,
                    Input::new(
                        "Add property",
                        "Name (letters, digits and _):",
                        "",
                        &[Btn::Ok, Btn::Cancel],
                    ),
                )
            }),
            (Reply::Button(Btn::Delete), Some(key)) => {
                self.expert(Tag::ConfirmDelete(key.clone()), |t| {
                    Screen::Dialog(
                        t,
                        Dialog::new(
                            "Delete property",
                            &format!("Delete the property {key}?"),
                            &[Btn::Yes, Btn::No],
                        )
                        .defaulting_to(Btn::No),
                    )
                })
            }
            _ => {
                self.stack.pop();
            }
        }
    }

    /// Take the value of an input; an unusable one comes back as the title
    /// and text of a notice.
    fn on_expert_input(&mut self, tag: Tag, value: String) -> Result<(), (&'static str, String)> {
        match tag {
            Tag::PropertyValue(key) | Tag::PropertyNewValue(key) => {
                if value.is_empty() {
                    return Err((
                        "Invalid value",
                        "A property needs a value; use Delete to remove it.".into(),
                    ));
                }
                self.facts.edits.unset.remove(&key);
                self.facts.edits.set.insert(key, value);
                self.reopen_properties();
            }
            Tag::PropertyNewKey => {
                let key = validate_key(&value).map_err(|e| ("Invalid name", e.to_string()))?;
                if self.facts.metadata().contains_key(&key) {
                    return Err((
                        "Invalid name",
                        format!("{key} already exists: edit it instead."),
                    ));
                }
                self.expert(Tag::PropertyNewValue(key.clone()), |t| {
                    Screen::Input(
                        t,
                        Input::new(
                            "Add property",
                            &format!("Value of {key}:"),
                            "",
                            &[Btn::Ok, Btn::Cancel],
                        ),
                    )
                });
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn open_exclude(&mut self) {
        if self
            .facts
            .session
            .as_ref()
            .is_some_and(|s| s.unsupported.is_some())
        {
            return self.notice(
                "Exclude",
                "Every deployment task is excluded for unsupported media.",
            );
        }
        let meta = self.facts.metadata();
        let family = meta.get("OSFAMILY").cloned().unwrap_or_default();
        let tasks = DEPLOY_TASKS
            .iter()
            .filter(|(_, _, fams)| fams.is_empty() || fams.contains(&family.as_str()))
            .map(|(name, what, _)| {
                let excluded = meta.contains_key(&format!("EXCLUDE_TASK_{}", name.to_uppercase()));
                (name.to_string(), what.to_string(), !excluded)
            })
            .collect();
        self.expert(Tag::Exclude, |t| {
            Screen::Checklist(
                t,
                Checklist::new(
                    "Exclude Configuration Tasks",
                    "The tasks snf-image runs when a VM is deployed; untick the ones to exclude.",
                    tasks,
                    &[Btn::Ok, Btn::NoConfig, Btn::Back],
                ),
            )
        });
    }

    fn on_exclude(&mut self, list: &Checklist, reply: Reply) {
        match reply {
            Reply::Button(Btn::Ok) => {
                for (name, _, run) in &list.items {
                    let key = format!("EXCLUDE_TASK_{}", name.to_uppercase());
                    if *run {
                        self.facts.edits.set.remove(&key);
                        self.facts.edits.unset.insert(key);
                    } else {
                        self.facts.edits.unset.remove(&key);
                        self.facts.edits.set.insert(key, "yes".into());
                    }
                }
            }
            Reply::Button(Btn::NoConfig) => {
                self.facts
                    .edits
                    .set
                    .insert("EXCLUDE_ALL_TASKS".into(), "yes".into());
                self.notice(
                    "No Config",
                    "Every deployment task is excluded (EXCLUDE_ALL_TASKS=yes).",
                );
            }
            _ => {}
        }
    }
}

impl Facts {
    /// The file of the image or its side files that is one the media
    /// reads (the media, a backing file, the session's overlay).
    pub(super) fn clash_with_media(&self, out: &Path) -> Option<crate::media::identity::Clash> {
        let mut inputs = self.session.as_ref()?.inputs.clone();
        inputs.extend(self.work_source());
        crate::media::identity::find_clash(&crate::plan::output_paths(out), &inputs)
    }
}
