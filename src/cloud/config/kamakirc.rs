//! Synnefo accounts in kamaki's configuration file (`~/.kamakirc`, or
//! `$KAMAKI_CONFIG`), read and written the way kamaki does: a
//! `[global]` section with `default_cloud`, and one `[cloud "NAME"]`
//! section per cloud with `url`, `token` and optionally `description`.
//! Everything else in the file is kept as it is; the file is written
//! with mode 0600 because it holds tokens.

use std::path::{Path, PathBuf};

use crate::cloud::Secret;
use crate::cloud::error::CloudError;

/// The environment variable kamaki reads its configuration path from.
pub const CONFIG_ENV: &str = "KAMAKI_CONFIG";
const HEADER: &str = "# Kamaki configuration file v0.16";

/// One saved cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudAccount {
    pub name: String,
    /// The Astakos (identity) URL.
    pub url: String,
    pub token: Secret,
    pub description: Option<String>,
}

/// Check a cloud name: letters, digits and `~@#$:-_`, as the original
/// allowed (kamaki also allows dots).
pub fn check_name(name: &str) -> Result<(), CloudError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "~@#$:-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CloudError::Config(format!(
            "bad cloud name `{name}': use letters, digits and ~@#$:-_"
        )))
    }
}

/// Check a cloud's token by authenticating with its Astakos, as `-c NAME`
/// does before a run.
pub fn check(account: &CloudAccount) -> Result<(), CloudError> {
    let target = crate::cloud::Target::Synnefo {
        label: account.name.clone(),
        url: account.url.clone(),
        token: account.token.clone(),
    };
    crate::cloud::connect(&target, crate::cloud::DEFAULT_CONTAINER)?.authenticate()
}

/// A line of a kamaki configuration that is not `[section]` or
/// `key = value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct SyntaxError {
    /// The line's number, from 1.
    pub line: usize,
    pub what: &'static str,
}

impl SyntaxError {
    fn new(index: usize, what: &'static str) -> Self {
        SyntaxError {
            line: index + 1,
            what,
        }
    }
}

/// The configuration file, section by section, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KamakiConfig {
    sections: Vec<(String, Vec<(String, String)>)>,
}

/// Where the configuration is: `$KAMAKI_CONFIG`, else `~/.kamakirc`.
pub fn config_path() -> PathBuf {
    match std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"))
            .join(".kamakirc"),
    }
}

fn cloud_section(name: &str) -> String {
    format!("cloud \"{name}\"")
}

impl KamakiConfig {
    /// Read a configuration file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<KamakiConfig, CloudError> {
        match crate::untrusted::read_text(path, crate::untrusted::CONFIG_LIMIT) {
            Ok(text) => Self::parse(&text).map_err(|e| {
                CloudError::Config(format!("kamaki configuration {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CloudError::io("reading", path, e)),
        }
    }

    /// Parse the INI text (ConfigParser's subset kamaki writes).
    pub fn parse(text: &str) -> Result<KamakiConfig, SyntaxError> {
        let mut cfg = KamakiConfig::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                cfg.sections.push((name.trim().to_owned(), Vec::new()));
                continue;
            }
            let Some((k, v)) = line.split_once(['=', ':']) else {
                return Err(SyntaxError::new(n, "expected `key = value'"));
            };
            let Some((_, entries)) = cfg.sections.last_mut() else {
                return Err(SyntaxError::new(n, "a setting outside any section"));
            };
            entries.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Ok(cfg)
    }

    fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|(s, _)| s == section)
            .flat_map(|(_, e)| e.iter())
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, section: &str, key: &str, value: &str) {
        let idx = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_owned(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let entries = &mut self.sections[idx].1;
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_owned(),
            None => entries.push((key.to_owned(), value.to_owned())),
        }
    }

    /// The names of the saved clouds, in file order.
    pub fn cloud_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (s, _) in &self.sections {
            let name = s
                .strip_prefix("cloud")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('"'))
                .and_then(|r| r.strip_suffix('"'));
            if let Some(n) = name.filter(|n| !names.iter().any(|m| m == n)) {
                names.push(n.to_owned());
            }
        }
        names
    }

    /// One saved cloud, if it has a URL and a token.
    pub fn cloud(&self, name: &str) -> Option<CloudAccount> {
        let section = cloud_section(name);
        Some(CloudAccount {
            name: name.to_owned(),
            url: self.get(&section, "url")?.to_owned(),
            token: Secret::new(self.get(&section, "token")?),
            description: self.get(&section, "description").map(str::to_owned),
        })
    }

    /// The default cloud: `global.default_cloud` when it names a saved
    /// cloud, else the first cloud.
    pub fn default_cloud(&self) -> Option<String> {
        self.explicit_default()
            .or_else(|| self.cloud_names().first().cloned())
    }

    /// Save a cloud and make it the default (as the original's dialog does).
    pub fn add_cloud(&mut self, account: &CloudAccount) -> Result<(), CloudError> {
        check_name(&account.name)?;
        let section = cloud_section(&account.name);
        self.set(&section, "url", &account.url);
        self.set(&section, "token", account.token.expose());
        if let Some(d) = &account.description {
            self.set(&section, "description", d);
        }
        self.set("global", "default_cloud", &account.name);
        Ok(())
    }

    /// Save a cloud, replacing its url, token and description, without
    /// changing the default cloud (unless there was no usable default:
    /// kamaki needs one to work without `--cloud`).
    pub fn put_cloud(&mut self, account: &CloudAccount) -> Result<(), CloudError> {
        let previous = self.explicit_default();
        self.add_cloud(account)?;
        if account.description.is_none() {
            self.unset(&cloud_section(&account.name), "description");
        }
        if let Some(name) = previous {
            self.set("global", "default_cloud", &name);
        }
        Ok(())
    }

    /// `global.default_cloud`, when it names a saved cloud.
    fn explicit_default(&self) -> Option<String> {
        let names = self.cloud_names();
        self.get("global", "default_cloud")
            .filter(|d| names.iter().any(|n| n == d))
            .map(str::to_owned)
    }

    /// Make a saved cloud the default.
    pub fn set_default(&mut self, name: &str) -> Result<(), CloudError> {
        if !self.cloud_names().iter().any(|n| n == name) {
            return Err(self.unknown(name));
        }
        self.set("global", "default_cloud", name);
        Ok(())
    }

    /// Remove a saved cloud (every section of that name). When it was the
    /// default, the first remaining cloud becomes the default.
    pub fn remove_cloud(&mut self, name: &str) -> Result<(), CloudError> {
        if !self.cloud_names().iter().any(|n| n == name) {
            return Err(self.unknown(name));
        }
        let was_default = self.explicit_default().as_deref() == Some(name);
        let section = cloud_section(name);
        self.sections.retain(|(s, _)| *s != section);
        if was_default {
            self.unset("global", "default_cloud");
            if let Some(first) = self.cloud_names().first().cloned() {
                self.set("global", "default_cloud", &first);
            }
        }
        Ok(())
    }

    fn unknown(&self, name: &str) -> CloudError {
        let names = self.cloud_names();
        let known = if names.is_empty() {
            "none are saved".to_owned()
        } else {
            format!("saved clouds: {}", names.join(", "))
        };
        CloudError::NotFound(format!("no cloud named `{name}' ({known})"))
    }

    /// A cloud's url and description as saved (either may be missing),
    /// for listings that must not show the token.
    pub fn cloud_summary(&self, name: &str) -> (Option<String>, Option<String>) {
        let section = cloud_section(name);
        let get = |k| self.get(&section, k).map(str::to_owned);
        (get("url"), get("description"))
    }

    fn unset(&mut self, section: &str, key: &str) {
        for (_, entries) in self.sections.iter_mut().filter(|(s, _)| s == section) {
            entries.retain(|(k, _)| k != key);
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = format!("{HEADER}\n");
        let global = self.sections.iter().filter(|(s, _)| s == "global");
        let others = self.sections.iter().filter(|(s, _)| s != "global");
        for (name, entries) in global.chain(others) {
            out.push_str(&format!("\n[{name}]\n"));
            for (k, v) in entries {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }

    /// Write the file (mode 0600), replacing it atomically.
    pub fn save(&self, path: &Path) -> Result<(), CloudError> {
        super::write_private(path, &self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const SAMPLE: &str = "# Kamaki configuration file v0.16\n\n[global]\ndefault_cloud = lab\ncolors = off\n\n[cloud \"okeanos\"]\nurl = https://accounts.okeanos.grnet.gr/identity/v2.0\ntoken = s0m370k3n\n\n[cloud \"lab\"]\nurl = http://127.0.0.1:8800/identity/v2.0\ntoken = t\npithos_container = x\n";

    #[test]
    fn reads_clouds_and_default() {
        let c = KamakiConfig::parse(SAMPLE).unwrap();
        assert_eq!(c.cloud_names(), vec!["okeanos", "lab"]);
        assert_eq!(c.default_cloud().as_deref(), Some("lab"));
        let ok = c.cloud("okeanos").unwrap();
        assert_eq!(ok.token.expose(), "s0m370k3n");
        assert!(!format!("{ok:?}").contains("s0m370k3n"));
        assert!(c.cloud("none").is_none());
        let mut c2 = c.clone();
        c2.set("global", "default_cloud", "gone");
        assert_eq!(c2.default_cloud().as_deref(), Some("okeanos"));
    }

    #[test]
    fn put_remove_and_default() {
        let mut c = KamakiConfig::parse(SAMPLE).unwrap();
        let acct = CloudAccount {
            name: "new".into(),
            url: "http://h/identity/v2.0".into(),
            token: Secret::new("tok"),
            description: Some("mine".into()),
        };
        c.put_cloud(&acct).unwrap();
        assert_eq!(c.default_cloud().as_deref(), Some("lab"), "default kept");
        assert_eq!(
            c.cloud_summary("new"),
            (Some("http://h/identity/v2.0".into()), Some("mine".into()))
        );
        c.put_cloud(&CloudAccount {
            description: None,
            ..acct.clone()
        })
        .unwrap();
        assert_eq!(c.cloud("new").unwrap().description, None);
        c.set_default("new").unwrap();
        assert_eq!(c.get("global", "default_cloud"), Some("new"));
        assert!(c.set_default("nope").is_err());
        c.remove_cloud("new").unwrap();
        assert_eq!(c.cloud_names(), vec!["okeanos", "lab"]);
        assert_eq!(c.get("global", "default_cloud"), Some("okeanos"));
        assert_eq!(c.get("global", "colors"), Some("off"), "other keys kept");
        assert_eq!(c.get("cloud \"lab\"", "pithos_container"), Some("x"));
        let msg = c.remove_cloud("new").unwrap_err().to_string();
        assert!(msg.contains("okeanos, lab"), "{msg}");
        // The first cloud of an empty file becomes the default.
        let mut empty = KamakiConfig::default();
        empty.put_cloud(&acct).unwrap();
        assert_eq!(empty.get("global", "default_cloud"), Some("new"));
        empty.remove_cloud("new").unwrap();
        assert_eq!(empty.get("global", "default_cloud"), None);
    }

    #[test]
    fn writes_what_it_reads_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kamakirc");
        let mut c = KamakiConfig::parse(SAMPLE).unwrap();
        c.add_cloud(&CloudAccount {
            name: "new".into(),
            url: "http://h/identity/v2.0".into(),
            token: Secret::new("tok"),
            description: Some("mine".into()),
        })
        .unwrap();
        c.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = KamakiConfig::load(&path).unwrap();
        assert_eq!(back.default_cloud().as_deref(), Some("new"));
        assert_eq!(back.get("cloud \"lab\"", "pithos_container"), Some("x"));
        assert!(back.render().starts_with(HEADER));
        assert!(
            c.add_cloud(&CloudAccount {
                name: "a b".into(),
                ..back.cloud("new").unwrap()
            })
            .is_err()
        );
    }
}
