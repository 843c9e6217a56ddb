//! One image name's history, in memory: its versions, tags and channels,
//! and the rules for changing them. [`super::disk`] loads and saves it
//! under a lock; everything here is plain data, tested without a store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::triggers::Triggers;
use crate::cloud::RemoteImage;
use crate::cloud::error::CloudError;
use crate::cloud::local::store::ObjectRecord;

/// A moving pointer to one version: avs's test-then-production flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Test,
    Production,
}

impl Channel {
    /// The channel's name as the command line and the index spell it.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Test => "test",
            Channel::Production => "production",
        }
    }

    /// The channel named `s`.
    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Test, Channel::Production]
            .into_iter()
            .find(|c| c.name() == s)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The blocks a version's image is made of (a copy of the object's
/// hashmap when it was registered: a later upload over the same object
/// does not take them away).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Blocks {
    pub bytes: u64,
    pub block_size: u64,
    pub hashes: Vec<String>,
}

impl From<&ObjectRecord> for Blocks {
    fn from(obj: &ObjectRecord) -> Blocks {
        Blocks {
            bytes: obj.bytes,
            block_size: obj.block_size,
            hashes: obj.hashes.clone(),
        }
    }
}

/// One registered version of a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: u64,
    /// The registration as Plankton describes it.
    pub image: RemoteImage,
    pub blocks: Blocks,
    /// Whether the version was ever in the test channel (production asks
    /// for it).
    #[serde(default)]
    pub tested: bool,
    /// Number of entries in its file manifest, when one was recorded.
    #[serde(default)]
    pub files: Option<usize>,
    /// Number of installed packages, when they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<usize>,
    /// Dominator's triggers given with `--triggers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Triggers>,
}

/// What `NAME@N`, `NAME:TAG` (or `NAME:CHANNEL`) or `NAME` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Number(u64),
    Tag(String),
}

/// Why a history could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The name, version or tag does not exist (exit 1).
    #[error("{0}")]
    NotFound(String),
    /// The change needs a flag, or the argument is malformed (exit 2).
    #[error("{0}")]
    Refused(String),
    /// A bundle that does not verify (exit 1).
    #[error("{0}")]
    BadBundle(String),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] CloudError),
}

/// Every version of one name, its tags and its channels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    /// The number the next version gets (numbers are never reused).
    pub next: u64,
    pub versions: Vec<Version>,
    pub tags: BTreeMap<String, u64>,
    pub channels: BTreeMap<Channel, u64>,
}

impl Index {
    /// An empty history for `name`.
    pub fn new(name: &str) -> Index {
        Index {
            name: name.to_owned(),
            next: 1,
            ..Index::default()
        }
    }

    /// Add `image` as the next version; its number.
    pub fn add(&mut self, image: RemoteImage, blocks: Blocks, files: Option<usize>) -> u64 {
        let n = self.next.max(1);
        self.next = n + 1;
        self.versions.push(Version {
            version: n,
            image,
            blocks,
            tested: false,
            files,
            packages: None,
            triggers: None,
        });
        n
    }

    /// The latest version.
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// The version `sel` points at.
    pub fn get(&self, sel: &Selector) -> Result<&Version, HistoryError> {
        let n = match sel {
            Selector::Latest => self.latest().map(|v| v.version),
            Selector::Number(n) => Some(*n),
            Selector::Tag(t) => self
                .tags
                .get(t)
                .copied()
                .or_else(|| Channel::parse(t).and_then(|c| self.channels.get(&c).copied())),
        };
        n.and_then(|n| self.versions.iter().find(|v| v.version == n))
            .ok_or_else(|| HistoryError::NotFound(self.missing(sel)))
    }

    fn missing(&self, sel: &Selector) -> String {
        let known = self.versions.iter().map(|v| v.version.to_string());
        let known = known.collect::<Vec<_>>().join(", ");
        match sel {
            Selector::Latest => format!("`{}' has no versions", self.name),
            Selector::Number(n) => format!(
                "`{}' has no version {n} (it has {known}; see `images list')",
                self.name
            ),
            Selector::Tag(t) => format!(
                "`{}' has no tag or channel `{t}' (see `images show {}')",
                self.name, self.name
            ),
        }
    }

    /// Point `tag` at version `n` (moving it if it pointed elsewhere).
    pub fn tag(&mut self, n: u64, tag: &str) -> Result<(), HistoryError> {
        check_tag(tag)?;
        self.get(&Selector::Number(n))?;
        self.tags.insert(tag.to_owned(), n);
        Ok(())
    }

    /// Move `channel` to version `n`. Production takes only a version
    /// that was in test, unless `skip_test`.
    pub fn promote(
        &mut self,
        n: u64,
        channel: Channel,
        skip_test: bool,
    ) -> Result<(), HistoryError> {
        let name = self.name.clone();
        let v = self.version_mut(n)?;
        if channel == Channel::Production && !v.tested && !skip_test {
            return Err(HistoryError::Refused(format!(
                "{name}@{n} was never in the test channel: promote it to test first, or give --skip-test"
            )));
        }
        if channel == Channel::Test {
            v.tested = true;
        }
        self.channels.insert(channel, n);
        Ok(())
    }

    fn version_mut(&mut self, n: u64) -> Result<&mut Version, HistoryError> {
        self.get(&Selector::Number(n))?;
        Ok(self
            .versions
            .iter_mut()
            .find(|v| v.version == n)
            .expect("found above"))
    }

    /// Version `v`'s image as `images show` and `serve` show it: with its
    /// `VERSION`, and `TAGS` and `CHANNELS` (comma-separated) when any
    /// point at it.
    pub fn image_of(&self, v: &Version) -> RemoteImage {
        let mut img = v.image.clone();
        let (tags, chans) = self.pointers(v.version);
        let chans: Vec<&str> = chans.iter().map(|c| c.name()).collect();
        let p = &mut img.properties;
        p.insert("VERSION".into(), v.version.to_string());
        for (key, list) in [("TAGS", tags.join(",")), ("CHANNELS", chans.join(","))] {
            if !list.is_empty() {
                p.insert(key.into(), list);
            }
        }
        img
    }

    /// The tags and channels pointing at version `n`.
    pub fn pointers(&self, n: u64) -> (Vec<String>, Vec<Channel>) {
        let tags = (self.tags.iter())
            .filter(|(_, v)| **v == n)
            .map(|(t, _)| t.clone());
        let chans = (self.channels.iter())
            .filter(|(_, v)| **v == n)
            .map(|(c, _)| *c);
        (tags.collect(), chans.collect())
    }

    /// Remove version `n`; one a tag or channel points at only when
    /// `force` (the pointers go with it).
    pub fn remove(&mut self, n: u64, force: bool) -> Result<Version, HistoryError> {
        self.get(&Selector::Number(n))?;
        let (tags, chans) = self.pointers(n);
        if !force && (!tags.is_empty() || !chans.is_empty()) {
            let mut what: Vec<String> = tags.iter().map(|t| format!("tag {t}")).collect();
            what.extend(chans.iter().map(|c| format!("channel {c}")));
            return Err(HistoryError::Refused(format!(
                "{}@{n} is in use ({}): move them first, or give --force",
                self.name,
                what.join(", ")
            )));
        }
        self.tags.retain(|_, v| *v != n);
        self.channels.retain(|_, v| *v != n);
        let at = self
            .versions
            .iter()
            .position(|v| v.version == n)
            .expect("found above");
        Ok(self.versions.remove(at))
    }
}

/// A tag is a short word: letters, digits, `.`, `_`, `-`, not all digits.
fn check_tag(tag: &str) -> Result<(), HistoryError> {
    let ok_chars = tag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if tag.is_empty() || tag.len() > 64 || !ok_chars || tag.chars().all(|c| c.is_ascii_digit()) {
        return Err(HistoryError::Refused(format!(
            "bad tag `{tag}': use letters, digits, `.', `_' and `-' (not only digits)"
        )));
    }
    if Channel::parse(tag).is_some() {
        return Err(HistoryError::Refused(format!(
            "`{tag}' is a channel: use `images promote' to move it"
        )));
    }
    Ok(())
}

/// Split `NAME@N`, `NAME:TAG` or `NAME` into a name and what it selects;
/// `exists` says whether a whole string is a name (so names may hold `@`
/// and `:`).
pub fn parse_ref(
    s: &str,
    exists: impl Fn(&str) -> bool,
) -> Result<(String, Selector), HistoryError> {
    if exists(s) {
        return Ok((s.to_owned(), Selector::Latest));
    }
    if let Some((name, n)) = s.rsplit_once('@') {
        return match n.parse::<u64>() {
            Ok(n) if !name.is_empty() => Ok((name.to_owned(), Selector::Number(n))),
            _ => Err(HistoryError::Refused(format!(
                "bad image reference `{s}': expected NAME, NAME@VERSION or NAME:TAG"
            ))),
        };
    }
    if let Some((name, tag)) = s.rsplit_once(':')
        && !name.is_empty()
        && !tag.is_empty()
    {
        return Ok((name.to_owned(), Selector::Tag(tag.to_owned())));
    }
    Ok((s.to_owned(), Selector::Latest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(versions: u64) -> Index {
        let mut ix = Index::new("Debian");
        for _ in 0..versions {
            ix.add(RemoteImage::default(), Blocks::default(), None);
        }
        ix
    }

    #[test]
    fn versions_count_up_and_are_never_reused() {
        let mut ix = index(3);
        assert_eq!(ix.latest().unwrap().version, 3);
        ix.remove(3, false).unwrap();
        assert_eq!(ix.add(RemoteImage::default(), Blocks::default(), None), 4);
        assert_eq!(ix.get(&Selector::Number(2)).unwrap().version, 2);
        let e = ix.get(&Selector::Number(3)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Debian' has no version 3 (it has 1, 2, 4; see `images list')"
        );
    }

    #[test]
    fn tags_and_channels_select_and_protect() {
        let mut ix = index(2);
        ix.tag(1, "stable").unwrap();
        assert!(ix.tag(7, "x").is_err());
        assert!(matches!(ix.tag(1, "12"), Err(HistoryError::Refused(_))));
        assert!(matches!(ix.tag(1, "test"), Err(HistoryError::Refused(_))));
        assert_eq!(ix.get(&Selector::Tag("stable".into())).unwrap().version, 1);
        let refused = ix.promote(2, Channel::Production, false).unwrap_err();
        assert!(refused.to_string().contains("--skip-test"), "{refused}");
        ix.promote(2, Channel::Test, false).unwrap();
        ix.promote(2, Channel::Production, false).unwrap();
        ix.promote(1, Channel::Test, false).unwrap();
        assert_eq!(
            ix.get(&Selector::Tag("production".into())).unwrap().version,
            2
        );
        assert_eq!(
            ix.pointers(1),
            (vec!["stable".to_owned()], vec![Channel::Test])
        );
        let e = ix.remove(1, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Debian@1 is in use (tag stable, channel test): move them first, or give --force"
        );
        ix.remove(1, true).unwrap();
        assert!(ix.tags.is_empty());
        assert_eq!(ix.channels.len(), 1);
        ix.promote(2, Channel::Production, true).unwrap();
    }

    #[test]
    fn references_parse() {
        let none = |_: &str| false;
        let parsed = |s: &str| parse_ref(s, none).unwrap();
        assert_eq!(
            parsed("Debian 12@3"),
            ("Debian 12".into(), Selector::Number(3))
        );
        assert_eq!(
            parsed("Debian:stable"),
            ("Debian".into(), Selector::Tag("stable".into()))
        );
        assert_eq!(parsed("Debian"), ("Debian".into(), Selector::Latest));
        assert!(parse_ref("Debian@x", none).is_err());
        let named = |s: &str| s == "a@b";
        assert_eq!(parse_ref("a@b", named).unwrap().1, Selector::Latest);
    }
}
