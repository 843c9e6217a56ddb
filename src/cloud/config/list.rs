//! Every cloud an upload can go to, in one list: the built-in local store,
//! the Synnefo clouds of kamaki's configuration, the OpenStack clouds of
//! the clouds.yaml files (each twice: its image service and its Swift
//! object store) and the saved S3 buckets. Each is a [`CloudRef`], which is
//! also what `--cloud` names: `NAME`, `openstack:NAME`, `swift:NAME`,
//! `s3:BUCKET` (the local store is the default, no `--cloud`).

use std::path::PathBuf;

use super::clouds_yaml;
use super::kamakirc::{KamakiConfig, config_path};
use super::s3_targets::{self, S3Files};

/// The kinds of clouds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloudKind {
    Local,
    Synnefo,
    OpenStack,
    Swift,
    S3,
}

impl CloudKind {
    /// As the UI names it.
    pub fn title(self) -> &'static str {
        match self {
            CloudKind::Local => "Local store",
            CloudKind::Synnefo => "Synnefo",
            CloudKind::OpenStack => "OpenStack",
            CloudKind::Swift => "Swift",
            CloudKind::S3 => "S3",
        }
    }

    /// As listings name it.
    pub fn label(self) -> &'static str {
        match self {
            CloudKind::Local => "local",
            CloudKind::Synnefo => "synnefo",
            CloudKind::OpenStack => "openstack",
            CloudKind::Swift => "swift",
            CloudKind::S3 => "s3",
        }
    }
}

/// One cloud, by kind and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloudRef {
    /// The built-in local image store.
    #[default]
    Local,
    /// A cloud saved in kamaki's configuration.
    Synnefo(String),
    /// A cloud of clouds.yaml: its image service.
    OpenStack(String),
    /// A cloud of clouds.yaml: its Swift object store.
    Swift(String),
    /// A bucket.
    S3(String),
}

impl CloudRef {
    /// What `--cloud VALUE` names.
    pub fn parse(value: &str) -> CloudRef {
        match value.split_once(':') {
            Some(("openstack", name)) => CloudRef::OpenStack(name.to_owned()),
            Some(("swift", name)) => CloudRef::Swift(name.to_owned()),
            Some(("s3", bucket)) => CloudRef::S3(bucket.to_owned()),
            _ => CloudRef::Synnefo(value.to_owned()),
        }
    }

    /// The `--cloud` value naming it (`None`: the local store).
    pub fn arg(&self) -> Option<String> {
        match self {
            CloudRef::Local => None,
            CloudRef::Synnefo(n) => Some(n.clone()),
            CloudRef::OpenStack(n) => Some(format!("openstack:{n}")),
            CloudRef::Swift(n) => Some(format!("swift:{n}")),
            CloudRef::S3(b) => Some(format!("s3:{b}")),
        }
    }

    pub fn kind(&self) -> CloudKind {
        match self {
            CloudRef::Local => CloudKind::Local,
            CloudRef::Synnefo(_) => CloudKind::Synnefo,
            CloudRef::OpenStack(_) => CloudKind::OpenStack,
            CloudRef::Swift(_) => CloudKind::Swift,
            CloudRef::S3(_) => CloudKind::S3,
        }
    }

    /// Its name ("local" for the local store).
    pub fn name(&self) -> &str {
        match self {
            CloudRef::Local => "local",
            CloudRef::Synnefo(n)
            | CloudRef::OpenStack(n)
            | CloudRef::Swift(n)
            | CloudRef::S3(n) => n,
        }
    }
}

/// The files clouds are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudPaths {
    /// kamaki's configuration.
    pub kamakirc: PathBuf,
    /// The clouds.yaml files, searched in order.
    pub clouds_yaml: Vec<PathBuf>,
    /// Where a new OpenStack cloud is saved.
    pub clouds_yaml_new: PathBuf,
    pub s3: S3Files,
}

impl CloudPaths {
    /// The files the command line reads.
    pub fn from_env() -> CloudPaths {
        CloudPaths {
            kamakirc: config_path(),
            clouds_yaml: clouds_yaml::search_path(),
            clouds_yaml_new: clouds_yaml::user_file(),
            s3: S3Files::from_env(),
        }
    }
}

/// A cloud of the list and a line about it (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub cloud: CloudRef,
    pub about: String,
}

/// Every cloud: the local store first, then kamaki's, OpenStack's and the
/// S3 buckets, each in file order.
pub fn list(paths: &CloudPaths) -> Vec<Listed> {
    let mut out = vec![Listed {
        cloud: CloudRef::Local,
        about: "The built-in local image store".into(),
    }];
    if let Ok(config) = KamakiConfig::load(&paths.kamakirc) {
        out.extend(config.cloud_names().into_iter().map(|n| {
            let (url, description) = config.cloud_summary(&n);
            let about = description.or(url).unwrap_or_default();
            Listed {
                cloud: CloudRef::Synnefo(n),
                about,
            }
        }));
    }
    for c in clouds_yaml::list(&paths.clouds_yaml) {
        let about = c.auth_url.unwrap_or_else(|| c.file.display().to_string());
        out.push(Listed {
            cloud: CloudRef::Swift(c.name.clone()),
            about: format!("object store of {about}"),
        });
        out.insert(
            out.len() - 1,
            Listed {
                cloud: CloudRef::OpenStack(c.name),
                about,
            },
        );
    }
    out.extend(s3_targets::buckets(&paths.s3).into_iter().map(|b| Listed {
        about: b.endpoint.unwrap_or_else(|| "AWS S3".into()),
        cloud: CloudRef::S3(b.bucket),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_and_named_as_the_command_line_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let paths = CloudPaths {
            kamakirc: d.join("kamakirc"),
            clouds_yaml: vec![d.join("a.yaml"), d.join("b.yaml")],
            clouds_yaml_new: d.join("b.yaml"),
            s3: S3Files {
                targets: d.join("s3.ini"),
                credentials: d.join("credentials"),
                config: d.join("config"),
                profile: "default".into(),
            },
        };
        std::fs::write(
            &paths.kamakirc,
            "[cloud \"syn\"]\nurl = http://a\ntoken = t\n",
        )
        .unwrap();
        std::fs::write(
            d.join("a.yaml"),
            "clouds:\n  os:\n    auth:\n      auth_url: http://k/v3\n",
        )
        .unwrap();
        std::fs::write(d.join("b.yaml"), "clouds:\n  os: {}\n  os2: {}\n").unwrap();
        std::fs::write(&paths.s3.targets, "[images]\nendpoint_url = http://s\n").unwrap();
        let listed: Vec<(Option<String>, String)> = list(&paths)
            .into_iter()
            .map(|l| (l.cloud.arg(), l.about))
            .collect();
        let want = [
            (None, "The built-in local image store".to_owned()),
            (Some("syn".into()), "http://a".into()),
            (Some("openstack:os".into()), "http://k/v3".into()),
            (
                Some("swift:os".into()),
                "object store of http://k/v3".into(),
            ),
            (
                Some("openstack:os2".into()),
                d.join("b.yaml").display().to_string(),
            ),
            (
                Some("swift:os2".into()),
                format!("object store of {}", d.join("b.yaml").display()),
            ),
            (Some("s3:images".into()), "http://s".into()),
        ];
        assert_eq!(listed, want);
        for (arg, _) in want.iter().skip(1) {
            let arg = arg.as_deref().unwrap();
            assert_eq!(CloudRef::parse(arg).arg().as_deref(), Some(arg));
        }
        assert_eq!(CloudRef::parse("s3:x").kind().label(), "s3");
    }
}
