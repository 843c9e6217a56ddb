//! What every screen may read and change: the session's facts (what
//! initialization found out about the media) and the user's pending
//! choices, with what is derived from them (the requests of runs, the
//! metadata the image will carry, the status line).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::UiOptions;
use crate::guest::metadata::Metadata;
use crate::guest::{Distro, OsFamily, OsInfo};
use crate::media::ImageFormat;

/// What initialization found out about the media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub source: PathBuf,
    /// The source's qemu format.
    pub format: ImageFormat,
    pub os: Option<OsInfo>,
    pub metadata: Metadata,
    /// The size the image will have, in bytes.
    pub size: u64,
    /// A run shrank the image, and `size` is what it shrank to.
    pub shrunk: bool,
    /// Why the media is not supported, when it is not.
    pub unsupported: Option<String>,
    /// Every file the media reads (itself and its backing chain), which
    /// no output may be.
    pub inputs: Vec<PathBuf>,
}

/// Property changes the user made on top of the detected metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    pub set: BTreeMap<String, String>,
    pub unset: BTreeSet<String>,
}

/// What every screen may read and change: the session's facts and the
/// user's pending choices. Screens get it from the [`App`](super::App); they never reach
/// into each other.
#[derive(Debug)]
pub struct Facts {
    pub opts: UiOptions,
    pub session: Option<Session>,
    pub edits: Edits,
    /// System preparation choices (Customize → Sysprep).
    pub sysprep: super::sysprep::Choices,
    /// The session's overlay and the running Mount (Customize → Mount).
    pub mount: super::mount::MountState,
    /// Whether the user accepted the media's backing chain.
    pub chain: super::chain::ChainState,
    /// Bundle Host: copy a snapshot of the host's root (on LVM or btrfs)
    /// rather than the live system, in every run on `/`.
    pub snapshot_root: bool,
    /// The clouds of every kind the wizard and Register offer, read when
    /// first needed.
    pub clouds: Option<Vec<crate::cloud::config::list::Listed>>,
    /// Cloud accounts, uploads and registrations of the Register menu.
    pub cloud: super::register::CloudState,
    /// Every progress line of every job, for the Log screen.
    pub log: Vec<String>,
}

impl Facts {
    /// Nothing known yet: no media, no choices.
    pub fn new(opts: UiOptions) -> Facts {
        Facts {
            opts,
            session: None,
            edits: Edits::default(),
            sysprep: Default::default(),
            mount: Default::default(),
            chain: Default::default(),
            snapshot_root: false,
            clouds: None,
            cloud: Default::default(),
            log: Vec::new(),
        }
    }

    /// The name of the session's OS as files and images are named after
    /// it: the distro when known, else the OS type.
    pub fn os_display_name(&self) -> String {
        self.os()
            .map_or(OsFamily::Unknown.as_str(), OsInfo::display_name)
            .to_owned()
    }

    fn os(&self) -> Option<&OsInfo> {
        self.session.as_ref().and_then(|s| s.os.as_ref())
    }

    /// OS type and distro of the session, as the status line shows them.
    pub fn os_names(&self) -> (String, String) {
        match self.os() {
            Some(os) => (os.family.to_string(), os.distro.to_string()),
            None => (OsFamily::Unknown.to_string(), Distro::Unknown.to_string()),
        }
    }

    /// The metadata the image will carry: detected, then the user's edits.
    pub fn metadata(&self) -> Metadata {
        let mut meta = self
            .session
            .as_ref()
            .map(|s| s.metadata.clone())
            .unwrap_or_default();
        for key in &self.edits.unset {
            meta.remove(key);
        }
        meta.extend(self.edits.set.clone());
        meta
    }

    /// A run that shrank the image: the size the image will have now.
    pub fn note_shrink(&mut self, outcome: &crate::pipeline::Outcome) {
        if let Some(s) = self.session.as_mut()
            && outcome.shrink.is_some()
        {
            s.size = outcome.size;
            s.shrunk = true;
        }
    }

    /// `OS: …, Distro: …, Size: … MB, Source: …`, as the original's
    /// background title.
    pub fn status_line(&self) -> String {
        let Some(s) = &self.session else {
            return "No media selected".into();
        };
        let (os_type, distro) = self.os_names();
        let shrunk = if s.shrunk { " (shrunk)" } else { "" };
        let lvm = match s.metadata.get("ROOT_LV") {
            Some(lv) => format!(", Root: {lv} (LVM)"),
            None => String::new(),
        };
        format!(
            "OS: {os_type}, Distro: {distro}{lvm}, Size: {} MB{shrunk}, Source: {}",
            s.size.div_ceil(1 << 20),
            s.source.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_on_lvm_shows_in_the_status_line() {
        let mut facts = Facts::new(UiOptions::default());
        let mut metadata = Metadata::new();
        metadata.insert("ROOT_LV".into(), "vg0/root".into());
        facts.session = Some(Session {
            source: "/d.raw".into(),
            format: ImageFormat::Raw,
            os: None,
            metadata,
            size: 3 << 20,
            shrunk: false,
            unsupported: None,
            inputs: Vec::new(),
        });
        assert_eq!(
            facts.status_line(),
            "OS: unknown, Distro: unknown, Root: vg0/root (LVM), Size: 3 MB, Source: /d.raw"
        );
    }
}
