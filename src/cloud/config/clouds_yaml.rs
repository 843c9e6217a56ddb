//! OpenStack accounts from `clouds.yaml`, found where the OpenStack tools
//! look: `$OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
//! `$XDG_CONFIG_HOME/openstack/clouds.yaml` (else
//! `~/.config/openstack/clouds.yaml`), `/etc/openstack/clouds.yaml`.
//! Supported: `auth_type` `password` (the default), `token` and `none`
//! (with `image_endpoint_override`), Keystone v3; `region_name` and
//! `interface` choose the catalog's endpoints; `service_cloud` names
//! another cloud of the same file whose account has the `service` role
//! (its token goes as `X-Service-Token` where Glance needs that role).

use std::path::PathBuf;

use yaml_rust2::Yaml;

use crate::cloud::Secret;
use crate::process::UsageError;
use crate::untrusted::YamlError;

/// Why a clouds.yaml entry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CloudsYamlError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("cloud {cloud}: auth.{key} is missing")]
    Missing { cloud: String, key: String },
    #[error("cloud {cloud}: auth_type {auth_type} is not supported")]
    Unsupported { cloud: String, auth_type: String },
    #[error("cloud {0}: auth_type none needs image_endpoint_override")]
    NoEndpoint(String),
    #[error("cloud {cloud}: service_cloud {service}: no cloud of that name in the same file")]
    NoServiceCloud { cloud: String, service: String },
}

/// How to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OsAuth {
    /// No authentication (a Glance in no-auth mode).
    None,
    /// Keystone v3 password authentication, scoped to a project.
    Password {
        auth_url: String,
        username: String,
        password: Secret,
        project_name: String,
        user_domain: String,
        project_domain: String,
    },
    /// An existing Keystone token, scoped to a project.
    Token {
        auth_url: String,
        token: Secret,
        project_name: String,
        project_domain: String,
    },
}

#[cfg(test)]
impl OsAuth {
    /// The password and the user's domain of password authentication.
    pub fn password_and_user_domain(&self) -> Option<(&str, &str)> {
        match self {
            OsAuth::Password {
                password,
                user_domain,
                ..
            } => Some((password.expose(), user_domain)),
            _ => None,
        }
    }
}

/// One OpenStack cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsCloud {
    pub name: String,
    pub auth: OsAuth,
    pub region: Option<String>,
    /// The catalog interface to use: `interface` (public by default).
    pub interface: String,
    /// `image_endpoint_override`: the Glance URL to use instead of the
    /// catalog's.
    pub image_endpoint: Option<String>,
    /// The account of `service_cloud` (another cloud of the same file),
    /// whose token is sent as `X-Service-Token` where an API needs the
    /// `service` role (Glance's location API).
    pub service_auth: Option<OsAuth>,
}

/// The files searched, in order.
pub fn search_path() -> Vec<PathBuf> {
    match env_file() {
        Some(f) => vec![f],
        None => vec![
            PathBuf::from("clouds.yaml"),
            user_file(),
            PathBuf::from("/etc/openstack/clouds.yaml"),
        ],
    }
}

/// `$OS_CLIENT_CONFIG_FILE`, the only file searched when it is set.
fn env_file() -> Option<PathBuf> {
    std::env::var_os("OS_CLIENT_CONFIG_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Where clouds added by this program go: `$OS_CLIENT_CONFIG_FILE`, else
/// the user's own `openstack/clouds.yaml` (in `$XDG_CONFIG_HOME`, else
/// `~/.config`).
pub fn user_file() -> PathBuf {
    if let Some(f) = env_file() {
        return f;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    xdg.join("openstack/clouds.yaml")
}

/// The text of a clouds.yaml; `None` when it does not exist.
pub(super) fn read(path: &std::path::Path) -> Result<Option<String>, UsageError> {
    match crate::untrusted::read_text(path, crate::untrusted::CONFIG_LIMIT) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(UsageError(format!("{}: {e}", path.display()))),
    }
}

/// Find cloud `name` (or `$OS_CLOUD` when `name` is empty).
pub fn find(name: &str) -> Result<OsCloud, UsageError> {
    find_in(name, &search_path())
}

/// Find cloud `name` (or `$OS_CLOUD`) in the first of `paths` naming it.
pub fn find_in(name: &str, paths: &[PathBuf]) -> Result<OsCloud, UsageError> {
    let name = match name {
        "" => std::env::var("OS_CLOUD").map_err(|_| {
            UsageError::new("--cloud openstack:NAME or swift:NAME: name the cloud, or set OS_CLOUD")
        })?,
        n => n.to_owned(),
    };
    for p in paths {
        let Some(text) = read(p)? else { continue };
        if let Some(c) =
            parse(&text, &name).map_err(|e| UsageError(format!("{}: {e}", p.display())))?
        {
            return Ok(c);
        }
    }
    let tried: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    Err(UsageError(format!(
        "no OpenStack cloud `{name}' in {}",
        tried.join(", ")
    )))
}

/// A cloud named in a clouds.yaml, for listings (never its secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    /// The file that names it first.
    pub file: PathBuf,
    pub auth_url: Option<String>,
}

/// The clouds the files name, each once (the first file naming it wins,
/// as in [`find_in`]); unreadable files are left out.
pub fn list(paths: &[PathBuf]) -> Vec<Listed> {
    let mut out: Vec<Listed> = Vec::new();
    for p in paths {
        let Ok(Some(text)) = read(p) else { continue };
        let Ok(docs) = crate::untrusted::load_yaml(&text) else {
            continue;
        };
        let Some(clouds) = docs.first().and_then(|d| d["clouds"].as_hash()) else {
            continue;
        };
        for (name, c) in clouds {
            let Some(name) = name.as_str() else { continue };
            if !out.iter().any(|l| l.name == name) {
                out.push(Listed {
                    name: name.to_owned(),
                    file: p.clone(),
                    auth_url: text_of(&c["auth"]["auth_url"]),
                });
            }
        }
    }
    out
}

/// Cloud `name` from the text of a clouds.yaml.
pub fn parse(text: &str, name: &str) -> Result<Option<OsCloud>, CloudsYamlError> {
    let docs = crate::untrusted::load_yaml(text)?;
    let Some(doc) = docs.first() else {
        return Ok(None);
    };
    let c = &doc["clouds"][name];
    if c.is_badvalue() {
        return Ok(None);
    }
    let auth = auth(c, name)?;
    let image_endpoint = text_of(&c["image_endpoint_override"]);
    if auth == OsAuth::None && image_endpoint.is_none() {
        return Err(CloudsYamlError::NoEndpoint(name.to_owned()));
    }
    Ok(Some(OsCloud {
        name: name.to_owned(),
        auth,
        region: text_of(&c["region_name"]),
        interface: text_of(&c["interface"]).unwrap_or_else(|| "public".into()),
        image_endpoint,
        service_auth: service_auth(doc, c, name)?,
    }))
}

/// The account of the cloud that `service_cloud` names, if any.
fn service_auth(doc: &Yaml, c: &Yaml, name: &str) -> Result<Option<OsAuth>, CloudsYamlError> {
    let Some(service) = text_of(&c["service_cloud"]) else {
        return Ok(None);
    };
    let s = &doc["clouds"][service.as_str()];
    if s.is_badvalue() || service == name {
        return Err(CloudsYamlError::NoServiceCloud {
            cloud: name.to_owned(),
            service,
        });
    }
    match auth(s, &service)? {
        OsAuth::None => Err(CloudsYamlError::Unsupported {
            cloud: service,
            auth_type: "none (a service account needs Keystone)".into(),
        }),
        a => Ok(Some(a)),
    }
}

pub(super) fn text_of(y: &Yaml) -> Option<String> {
    y.as_str().map(str::to_owned)
}

/// The `auth_type` and `auth` of cloud `name` (its entry `c`).
fn auth(c: &Yaml, name: &str) -> Result<OsAuth, CloudsYamlError> {
    let a = &c["auth"];
    let need = |k: &str| {
        text_of(&a[k]).ok_or_else(|| CloudsYamlError::Missing {
            cloud: name.to_owned(),
            key: k.to_owned(),
        })
    };
    let domain = |base: &str| {
        text_of(&a[format!("{base}_id").as_str()])
            .map(|id| format!("id:{id}"))
            .or_else(|| text_of(&a[format!("{base}_name").as_str()]).map(|n| format!("name:{n}")))
            .unwrap_or_else(|| "id:default".into())
    };
    Ok(
        match text_of(&c["auth_type"]).as_deref().unwrap_or("password") {
            "none" | "noauth" => OsAuth::None,
            "password" | "v3password" => OsAuth::Password {
                auth_url: need("auth_url")?,
                username: need("username")?,
                password: Secret::new(need("password")?),
                project_name: need("project_name")?,
                user_domain: domain("user_domain"),
                project_domain: domain("project_domain"),
            },
            "token" | "v3token" => OsAuth::Token {
                auth_url: need("auth_url")?,
                token: Secret::new(need("token")?),
                project_name: need("project_name")?,
                project_domain: domain("project_domain"),
            },
            other => {
                return Err(CloudsYamlError::Unsupported {
                    cloud: name.to_owned(),
                    auth_type: other.to_owned(),
                });
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "clouds:\n  lab:\n    auth:\n      auth_url: http://k:5000/v3\n      username: demo\n      password: pw\n      project_name: demo\n      user_domain_name: Default\n    region_name: RegionOne\n  open:\n    auth_type: none\n    image_endpoint_override: http://g:9292\n";

    #[test]
    fn password_and_none() {
        let c = parse(YAML, "lab").unwrap().unwrap();
        match &c.auth {
            OsAuth::Password {
                password,
                user_domain,
                project_domain,
                ..
            } => {
                assert_eq!(password.expose(), "pw");
                assert_eq!(user_domain, "name:Default");
                assert_eq!(project_domain, "id:default");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{c:?}").contains("pw\""));
        let o = parse(YAML, "open").unwrap().unwrap();
        assert_eq!(
            (o.auth, o.image_endpoint.as_deref()),
            (OsAuth::None, Some("http://g:9292"))
        );
        assert_eq!(parse(YAML, "nope").unwrap(), None);
        assert!(
            parse("clouds:\n  x:\n    auth: {}\n", "x")
                .unwrap_err()
                .to_string()
                .contains("auth_url")
        );
    }

    #[test]
    fn service_cloud_is_another_cloud_of_the_file() {
        let yaml = format!(
            "{YAML}  up:\n    service_cloud: lab\n    auth:\n      auth_url: http://k/v3\n      username: u\n      password: p\n      project_name: p\n"
        );
        let c = parse(&yaml, "up").unwrap().unwrap();
        let (pw, _) = c
            .service_auth
            .as_ref()
            .unwrap()
            .password_and_user_domain()
            .unwrap();
        assert_eq!(pw, "pw", "lab's account");
        assert_eq!(parse(YAML, "lab").unwrap().unwrap().service_auth, None);
        for bad in ["nope", "open", "up"] {
            let y = yaml.replace("service_cloud: lab", &format!("service_cloud: {bad}"));
            let e = parse(&y, "up").unwrap_err().to_string();
            assert!(e.contains(bad) || e.contains("none"), "{e}");
        }
    }
}
