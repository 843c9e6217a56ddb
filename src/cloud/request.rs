//! The cloud half of a run's request: the upload and registration options
//! as typed, and their validation into an [`UploadPlan`]. Everything here
//! is checked before the media is opened.

use std::path::{Path, PathBuf};

use crate::cloud::clients::s3;
use crate::cloud::config::clouds_yaml;
use crate::cloud::config::kamakirc::KamakiConfig;
use crate::cloud::config::list::{CloudPaths, CloudRef};
use crate::cloud::local::history::{Channel, Triggers};
use crate::cloud::local::store::Store;
use crate::cloud::{DEFAULT_CONTAINER, Secret, Target};
use crate::process::UsageError;

/// Which account to use: a saved cloud, an URL and token, or a local
/// store (the default).
#[derive(Debug, Clone, Default)]
pub struct AccountRequest {
    /// `-c NAME`: a cloud saved in kamaki's configuration.
    pub cloud: Option<String>,
    /// `-a URL`: an Astakos identity URL (with `-t`).
    pub auth_url: Option<String>,
    /// `-t TOKEN` (with `-a`).
    pub token: Option<Secret>,
    /// `--store DIR`: the local store to use.
    pub store: Option<PathBuf>,
}

impl AccountRequest {
    /// The first account flag given, for messages.
    pub fn flag_given(&self) -> Option<&'static str> {
        [
            (self.cloud.is_some(), "-c/--cloud"),
            (self.auth_url.is_some(), "-a/--authentication-url"),
            (self.token.is_some(), "-t/--token"),
            (self.store.is_some(), "--store"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// Resolve the account (reading kamaki's configuration for `-c`).
    pub fn target(&self) -> Result<Target, UsageError> {
        self.target_in(&CloudPaths::from_env())
    }

    /// Resolve the account, reading the saved clouds from `paths`.
    pub fn target_in(&self, paths: &CloudPaths) -> Result<Target, UsageError> {
        let remote = self.cloud.is_some() || self.auth_url.is_some() || self.token.is_some();
        if remote && self.store.is_some() {
            return Err(UsageError::new(
                "--store names the local store: do not combine it with -c, -a or -t",
            ));
        }
        match (&self.cloud, &self.auth_url, &self.token) {
            (None, None, None) => {
                let root = self.store.clone().unwrap_or_else(Store::default_root);
                // A bad s3:// URL or missing S3 credentials are usage errors.
                crate::cloud::local::backend::Location::parse(&root)?;
                Ok(Target::Local(root))
            }
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(UsageError::new(
                "give either -c CLOUD or -a URL -t TOKEN, not both",
            )),
            (None, Some(url), Some(token)) => Ok(Target::Synnefo {
                label: url.clone(),
                url: url.clone(),
                token: token.clone(),
            }),
            (None, Some(_), None) => Err(UsageError::new("-a URL needs -t TOKEN")),
            (None, None, Some(_)) => Err(UsageError::new("-t TOKEN needs -a URL")),
            (Some(name), None, None) => match CloudRef::parse(name) {
                CloudRef::OpenStack(os) => {
                    clouds_yaml::find_in(&os, &paths.clouds_yaml).map(Target::OpenStack)
                }
                CloudRef::Swift(os) => {
                    clouds_yaml::find_in(&os, &paths.clouds_yaml).map(Target::Swift)
                }
                CloudRef::S3(bucket) => s3::target_in(&bucket, &paths.s3).map(Target::S3),
                _ => saved_cloud(&paths.kamakirc, name),
            },
        }
    }
}

/// A cloud saved in kamaki's configuration file at `path`.
fn saved_cloud(path: &std::path::Path, name: &str) -> Result<Target, UsageError> {
    let cfg = KamakiConfig::load(path).map_err(|e| UsageError::new(e.to_string()))?;
    match cfg.cloud(name) {
        Some(acct) => Ok(Target::Synnefo {
            label: name.to_owned(),
            url: acct.url,
            token: acct.token,
        }),
        None => {
            let names = cfg.cloud_names();
            let known = if names.is_empty() {
                "none are saved".to_owned()
            } else {
                format!("saved clouds: {}", names.join(", "))
            };
            Err(UsageError::new(format!(
                "-c {name}: no cloud of that name with a url and a token in {} ({known})",
                path.display()
            )))
        }
    }
}

/// The cloud options as given on the command line (or by the wizard).
#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    /// `-u NAME`: the object name to upload the image as.
    pub upload: Option<String>,
    /// `-r NAME`: register the uploaded image under this name.
    pub register: Option<String>,
    /// `--public`: register it as public and share its side files.
    pub public: bool,
    /// `-d TEXT`: the image description (the DESCRIPTION property).
    pub description: Option<String>,
    /// `--container NAME`.
    pub container: Option<String>,
    /// `--channel test`: the channel the new version enters (local store).
    pub channel: Option<Channel>,
    /// `--triggers FILE`: Dominator's triggers, kept with the version.
    pub triggers: Option<PathBuf>,
    /// The account to upload to.
    pub account: AccountRequest,
}

/// A validated upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPlan {
    pub target: Target,
    /// The object name of the image; its side files get suffixes.
    pub object: String,
    pub container: String,
    /// The registration name, if the image is to be registered.
    pub register: Option<String>,
    pub public: bool,
    pub description: Option<String>,
    /// The channel the registered version enters (local store only).
    pub channel: Option<Channel>,
    /// The triggers kept with the registered version (local store only).
    pub triggers: Option<Triggers>,
}

impl UploadRequest {
    /// Check the options; `None` when nothing is to be uploaded. The error
    /// text is a usage message.
    pub fn validate(self) -> Result<Option<UploadPlan>, UsageError> {
        self.validate_in(&CloudPaths::from_env())
    }

    /// [`Self::validate`], reading the saved clouds from `paths`.
    pub fn validate_in(self, paths: &CloudPaths) -> Result<Option<UploadPlan>, UsageError> {
        let Some(object) = self.upload else {
            return self.nothing_to_upload().map(|_| None);
        };
        check_object_name(&object)?;
        if self.description.is_some() && self.register.is_none() {
            return Err(UsageError::new(
                "-d/--description describes a registered image: add -r NAME",
            ));
        }
        if self.public && self.register.is_none() {
            return Err(UsageError::new(
                "--public makes a registered image public: add -r NAME",
            ));
        }
        if self.register.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err(UsageError::new("-r: the registration name cannot be empty"));
        }
        let container = self.container.unwrap_or_else(|| DEFAULT_CONTAINER.into());
        if container.is_empty() || container.contains('/') {
            return Err(UsageError::new(format!(
                "--container {container}: give a name without `/'"
            )));
        }
        let target = self.account.target_in(paths)?;
        if self.public && matches!(target, Target::Swift(_)) {
            return Err(UsageError::new(
                "--public: Swift makes whole containers public, not images: use a container of its own and make it readable (`openstack container set --property read-acl=.r:*,.rlistings')",
            ));
        }
        check_channel(self.channel, self.register.is_some(), &target)?;
        let triggers = read_triggers(self.triggers.as_deref(), self.register.is_some(), &target)?;
        Ok(Some(UploadPlan {
            target,
            object,
            container,
            register: self.register,
            public: self.public,
            description: self.description,
            channel: self.channel,
            triggers,
        }))
    }

    fn nothing_to_upload(&self) -> Result<(), UsageError> {
        let flags = [
            (self.register.is_some(), "-r/--register"),
            (self.public, "--public"),
            (self.description.is_some(), "-d/--description"),
            (self.container.is_some(), "--container"),
            (self.channel.is_some(), "--channel"),
            (self.triggers.is_some(), "--triggers"),
            (
                self.account.flag_given().is_some(),
                self.account.flag_given().unwrap_or(""),
            ),
        ];
        match flags.iter().find(|(given, _)| *given) {
            Some((_, flag)) => Err(UsageError::new(format!(
                "{flag} needs -u NAME (the name to upload the image as)"
            ))),
            None => Ok(()),
        }
    }
}

/// A registration channel: the local store's, for a registered image,
/// and only test (production takes a tested version: `images promote`).
fn check_channel(
    channel: Option<Channel>,
    registers: bool,
    target: &Target,
) -> Result<(), UsageError> {
    let Some(c) = channel else {
        return Ok(());
    };
    if !registers {
        return Err(UsageError::new(
            "--channel puts a registered version in a channel: add -r NAME",
        ));
    }
    if !matches!(target, Target::Local(_)) {
        return Err(UsageError::new(
            "--channel works with the local image store only (--store DIR)",
        ));
    }
    if c == Channel::Production {
        return Err(UsageError::new(
            "--channel production: register into test, then `snf-image-creator images promote NAME@N --channel production'",
        ));
    }
    Ok(())
}

/// `--triggers FILE`, read and checked before the run touches anything.
fn read_triggers(
    file: Option<&Path>,
    registers: bool,
    target: &Target,
) -> Result<Option<Triggers>, UsageError> {
    let Some(file) = file else {
        return Ok(None);
    };
    if !registers || !matches!(target, Target::Local(_)) {
        return Err(UsageError::new(
            "--triggers are kept with a version in the local image store: add -r NAME (and no cloud)",
        ));
    }
    let f = file.display();
    let data = crate::untrusted::read_file(file, crate::untrusted::CONFIG_LIMIT)
        .map_err(|e| UsageError::new(format!("--triggers {f}: cannot read it: {e}")))?;
    Triggers::parse(&data)
        .map(Some)
        .map_err(|e| UsageError::new(format!("--triggers {f}: {e}")))
}

/// Object names: not empty, no empty or dot path segments, and none of the
/// side-file suffixes that would collide with the image's own.
fn check_object_name(name: &str) -> Result<(), UsageError> {
    let bad_segment = name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..");
    if bad_segment {
        return Err(UsageError::new(format!(
            "-u {name}: give an object name such as debian.diskdump (no empty, `.' or `..' parts)"
        )));
    }
    if name.ends_with(".md5sum") || name.ends_with(".meta") {
        return Err(UsageError::new(format!(
            "-u {name}: that name is kept for the image's side files"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> UploadRequest {
        UploadRequest {
            upload: Some("debian.diskdump".into()),
            account: AccountRequest {
                store: Some("/s".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn valid_upload() {
        let mut r = req();
        r.register = Some("Debian 12".into());
        r.public = true;
        let p = r.validate().unwrap().unwrap();
        assert_eq!(p.container, "images");
        assert_eq!(p.target, Target::Local("/s".into()));
        assert_eq!(UploadRequest::default().validate().unwrap(), None);
    }

    #[test]
    fn refusals() {
        let e = |r: UploadRequest| r.validate().unwrap_err().0;
        let mut r = req();
        r.upload = None;
        r.register = Some("x".into());
        assert!(e(r).contains("-r/--register needs -u"));
        let mut r = req();
        r.public = true;
        assert!(e(r).contains("add -r"));
        let mut r = req();
        r.upload = Some("a//b".into());
        assert!(e(r).contains("object name"));
        let mut r = req();
        r.upload = Some("x.meta".into());
        assert!(e(r).contains("side files"));
        let mut r = req();
        r.container = Some("a/b".into());
        assert!(e(r).contains("--container"));
        let mut r = req();
        r.account.token = Some(Secret::new("secret-token"));
        let msg = e(r);
        assert!(msg.contains("--store") && !msg.contains("secret-token"));
        let mut r = req();
        r.account.store = None;
        r.account.auth_url = Some("http://x".into());
        assert!(e(r).contains("-a URL needs -t"));
    }

    #[test]
    fn a_triggers_file_that_never_ends_is_refused() {
        let mut r = req();
        r.register = Some("Debian".into());
        r.triggers = Some("/dev/zero".into());
        let msg = r.validate().unwrap_err().0;
        assert!(
            msg.starts_with("--triggers /dev/zero: cannot read it: larger than"),
            "{msg}"
        );
    }

    #[test]
    fn saved_clouds_come_from_kamaki_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kamakirc");
        std::fs::write(
            &cfg,
            "[cloud \"lab\"]\nurl = http://h/identity/v2.0\ntoken = tok\n",
        )
        .unwrap();
        match saved_cloud(&cfg, "lab").unwrap() {
            Target::Synnefo { url, token, .. } => {
                assert_eq!(url, "http://h/identity/v2.0");
                assert_eq!(token.expose(), "tok");
            }
            other => panic!("{other:?}"),
        }
        let msg = saved_cloud(&cfg, "nope").unwrap_err().0;
        assert!(msg.contains("saved clouds: lab"), "{msg}");
    }
}
