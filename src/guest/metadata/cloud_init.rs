//! cloud-init: whether it runs on boot, its default user, and the users it
//! creates (which replace `USERS`, since those are the accounts snf-image
//! will find on a deployed machine).
//!
//! The configuration is `/etc/cloud/cloud.cfg` followed by
//! `/etc/cloud/cloud.cfg.d/*.cfg` in name order, later files overriding
//! earlier ones. Mappings are merged key by key, recursively, as cloud-init
//! itself merges them (the original replaced whole top-level keys, so a
//! `system_info:` in a drop-in that only set `distro` lost the default
//! user). A file that is not valid YAML is warned about and skipped.

use std::collections::BTreeSet;

use anyhow::Result;
use yaml_rust2::Yaml;

use super::files;
use crate::guest::{EntryKind, Guest};
use crate::progress::Reporter;

const CLOUD_CFG: &str = "/etc/cloud/cloud.cfg";
const CLOUD_CFG_D: &str = "/etc/cloud/cloud.cfg.d";
const DISABLED: &str = "/etc/cloud/cloud-init.disabled";

/// Where systemd looks for generators; `/lib` for systems without merged
/// `/usr`, which the original did not check.
const GENERATOR_DIRS: &[&str] = &["/run", "/etc", "/usr/local/lib", "/usr/lib", "/lib"];

/// Whether cloud-init runs on boot: a unit or script starts it
/// (`unit_enabled`), or its systemd generator is installed and
/// `/etc/cloud/cloud-init.disabled` does not exist.
pub(super) fn enabled(guest: &mut dyn Guest, unit_enabled: bool) -> Result<bool> {
    if unit_enabled {
        return Ok(true);
    }
    for dir in GENERATOR_DIRS {
        let generator = format!("{dir}/systemd/system-generators/cloud-init-generator");
        if files::is_file(guest, &generator)? {
            return Ok(!files::is_file(guest, DISABLED)?);
        }
    }
    Ok(false)
}

/// What the cloud-init configuration says about users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct CloudUsers {
    /// `system_info.default_user.name`.
    pub default_user: Option<String>,
    /// The users it creates, `default` replaced by the default user.
    pub users: Vec<String>,
}

/// Read and merge the configuration files and extract the users.
pub(super) fn load(guest: &mut dyn Guest, reporter: &dyn Reporter) -> Result<CloudUsers> {
    let (config, _) = merged(guest, reporter)?;
    Ok(users_of(&config, reporter))
}

/// Read and merge the configuration files; also returns the files that
/// exist, in reading order.
pub(super) fn merged(
    guest: &mut dyn Guest,
    reporter: &dyn Reporter,
) -> Result<(Yaml, Vec<String>)> {
    let mut config = Yaml::Hash(Default::default());
    let mut read = Vec::new();
    for path in config_files(guest)? {
        let Some(text) = files::read_text(guest, &path, reporter)? else {
            continue;
        };
        read.push(path.clone());
        match crate::untrusted::load_yaml(&text) {
            Ok(docs) => docs
                .into_iter()
                .filter(|d| matches!(d, Yaml::Hash(_)))
                .for_each(|d| merge(&mut config, d)),
            Err(e) => reporter.warn(&format!(
                "cloud-init: ignoring {path}, which is not valid YAML: {e}"
            )),
        }
    }
    Ok((config, read))
}

/// The configuration files, in the order cloud-init reads them.
fn config_files(guest: &mut dyn Guest) -> Result<Vec<String>> {
    let mut drop_ins: Vec<String> = files::list_dir(guest, CLOUD_CFG_D)?
        .into_iter()
        .filter(|(name, kind)| name.ends_with(".cfg") && *kind != EntryKind::Dir)
        .map(|(name, _)| files::join(CLOUD_CFG_D, &name))
        .collect();
    drop_ins.sort();
    let mut paths = vec![CLOUD_CFG.to_owned()];
    paths.extend(drop_ins);
    Ok(paths)
}

/// Merge `overlay` into `base`: mappings key by key (recursively), anything
/// else replaced.
pub(super) fn merge(base: &mut Yaml, overlay: Yaml) {
    match (base, overlay) {
        (Yaml::Hash(base), Yaml::Hash(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// The default user and the users of a merged configuration.
pub(super) fn users_of(config: &Yaml, reporter: &dyn Reporter) -> CloudUsers {
    let default_user = config["system_info"]["default_user"]["name"]
        .as_str()
        .map(str::to_owned);
    let mut users = Vec::new();
    for entry in user_entries(&config["users"]) {
        match entry {
            UserEntry::Name(name) if name == "default" => match &default_user {
                Some(default) => users.push(default.clone()),
                None => {
                    reporter.warn("cloud-init: ignoring the `default` user, which is not defined")
                }
            },
            UserEntry::Name(name) => users.push(name),
            UserEntry::Skipped(why) => reporter.warn(&format!("cloud-init: ignoring {why}")),
        }
    }
    let mut seen = BTreeSet::new();
    users.retain(|u| seen.insert(u.clone()));
    CloudUsers {
        default_user,
        users,
    }
}

/// One entry of cloud-init's `users` list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UserEntry {
    Name(String),
    /// An entry that creates no account to log into, and why.
    Skipped(String),
}

/// The entries of a `users` value: a list of names and mappings, a
/// comma-separated string, or a mapping from names to settings.
fn user_entries(users: &Yaml) -> Vec<UserEntry> {
    match users {
        Yaml::String(list) => list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| UserEntry::Name(n.to_owned()))
            .collect(),
        Yaml::Array(items) => items.iter().filter_map(user_entry).collect(),
        Yaml::Hash(by_name) => by_name
            .iter()
            .filter_map(|(name, settings)| {
                let name = name.as_str()?;
                Some(dict_entry(name, settings))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn user_entry(item: &Yaml) -> Option<UserEntry> {
    match item {
        Yaml::String(name) => Some(UserEntry::Name(name.clone())),
        Yaml::Hash(_) => {
            if let Some(snap) = item["snapuser"].as_str() {
                return Some(UserEntry::Skipped(format!("snap user {snap}")));
            }
            Some(dict_entry(item["name"].as_str()?, item))
        }
        _ => None,
    }
}

/// A user given with settings: skipped when inactive or a system account.
fn dict_entry(name: &str, settings: &Yaml) -> UserEntry {
    if truthy(&settings["inactive"]) {
        UserEntry::Skipped(format!("inactive user {name}"))
    } else if truthy(&settings["system"]) {
        UserEntry::Skipped(format!("system user {name}"))
    } else {
        UserEntry::Name(name.to_owned())
    }
}

/// YAML 1.1 truth, as cloud-init's PyYAML reads it (`yes`, `on`, `true`).
fn truthy(value: &Yaml) -> bool {
    match value {
        Yaml::Boolean(b) => *b,
        Yaml::String(s) => ["yes", "y", "on", "true"].contains(&s.to_ascii_lowercase().as_str()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use yaml_rust2::YamlLoader;

    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::{NullReporter, RecordingReporter};

    const CLOUD_CFG_TEXT: &str = "\
users:
  - default
disable_root: true
system_info:
  distro: debian
  default_user:
    name: debian
    lock_passwd: True
";

    fn yaml(text: &str) -> Yaml {
        YamlLoader::load_from_str(text).unwrap().remove(0)
    }

    #[test]
    fn generator_and_disabled_flag() {
        let generator = "/usr/lib/systemd/system-generators/cloud-init-generator";
        assert!(enabled(&mut MemGuest::new(), true).unwrap());
        assert!(!enabled(&mut MemGuest::new(), false).unwrap());
        let mut g = MemGuest::new().file(generator, "");
        assert!(enabled(&mut g, false).unwrap());
        let mut g = MemGuest::new().file(generator, "").file(DISABLED, "");
        assert!(!enabled(&mut g, false).unwrap());
        let mut g = MemGuest::new().file("/lib/systemd/system-generators/cloud-init-generator", "");
        assert!(enabled(&mut g, false).unwrap());
    }

    #[test]
    fn later_files_override_recursively() {
        let mut g = MemGuest::new()
            .file(CLOUD_CFG, CLOUD_CFG_TEXT)
            .file(
                "/etc/cloud/cloud.cfg.d/90_dpkg.cfg",
                "datasource_list: [NoCloud]\n",
            )
            .file(
                "/etc/cloud/cloud.cfg.d/50_user.cfg",
                "system_info:\n  default_user:\n    name: admin\n",
            )
            .file(
                "/etc/cloud/cloud.cfg.d/10_early.cfg",
                "system_info:\n  default_user:\n    name: early\n",
            )
            .file("/etc/cloud/cloud.cfg.d/README", "not: [yaml\n");
        let c = load(&mut g, &NullReporter).unwrap();
        assert_eq!(c.default_user.as_deref(), Some("admin"));
        assert_eq!(c.users, ["admin"]);
    }

    #[test]
    fn drop_in_without_main_file() {
        let mut g = MemGuest::new().file("/etc/cloud/cloud.cfg.d/99.cfg", "users: [alice]\n");
        let c = load(&mut g, &NullReporter).unwrap();
        assert_eq!(
            c,
            CloudUsers {
                default_user: None,
                users: vec!["alice".into()]
            }
        );
    }

    #[test]
    fn invalid_yaml_is_warned_about() {
        let mut g = MemGuest::new()
            .file(CLOUD_CFG, CLOUD_CFG_TEXT)
            .file("/etc/cloud/cloud.cfg.d/50_bad.cfg", "users: [unclosed\n");
        let r = RecordingReporter::default();
        let c = load(&mut g, &r).unwrap();
        assert_eq!(c.users, ["debian"]);
        let w = r.warnings();
        assert!(
            w[0].starts_with("cloud-init: ignoring /etc/cloud/cloud.cfg.d/50_bad.cfg"),
            "{w:?}"
        );
    }

    #[test]
    fn users_list_with_default_and_dicts() {
        let config = yaml(
            "system_info: {default_user: {name: ubuntu}}\n\
             users:\n\
             \x20 - default\n\
             \x20 - bob\n\
             \x20 - name: carol\n\
             \x20   groups: sudo\n\
             \x20 - {name: svc, system: true}\n\
             \x20 - {name: old, inactive: yes}\n\
             \x20 - {snapuser: joe@example.com}\n\
             \x20 - {groups: nameless}\n",
        );
        let r = RecordingReporter::default();
        let c = users_of(&config, &r);
        assert_eq!(c.default_user.as_deref(), Some("ubuntu"));
        assert_eq!(c.users, ["ubuntu", "bob", "carol"]);
        assert_eq!(
            r.warnings(),
            [
                "cloud-init: ignoring system user svc",
                "cloud-init: ignoring inactive user old",
                "cloud-init: ignoring snap user joe@example.com",
            ]
        );
    }

    #[test]
    fn other_users_shapes() {
        let r = NullReporter;
        assert_eq!(users_of(&yaml("users: 'default, bob'"), &r).users, ["bob"]);
        let by_name = yaml("users: {alice: {}, sys: {system: true}}");
        assert_eq!(users_of(&by_name, &r).users, ["alice"]);
        assert!(users_of(&yaml("disable_root: false"), &r).users.is_empty());
    }

    #[test]
    fn undefined_default_user() {
        let rec = RecordingReporter::default();
        let c = users_of(&yaml("users: [default]"), &rec);
        assert!(c.users.is_empty() && c.default_user.is_none());
        assert_eq!(rec.warnings().len(), 1);
    }

    #[test]
    fn merging() {
        let mut base = yaml("a: {b: 1, c: [1, 2]}\nd: x");
        merge(&mut base, yaml("a: {c: [3]}\ne: y"));
        assert_eq!(base, yaml("a: {b: 1, c: [3]}\nd: x\ne: y"));
    }
}
