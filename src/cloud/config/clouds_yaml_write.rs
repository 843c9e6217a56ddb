//! Adding and editing password clouds in a `clouds.yaml`. The file is read
//! whole, the one cloud's keys are set, and it is written back (mode 0600,
//! atomically) with every other cloud and key as it was, in its order.
//! YAML comments and anchors do not survive the rewrite: [`has_comments`]
//! tells the UI to say so before anything is written.

use std::path::{Path, PathBuf};

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

use super::clouds_yaml::{self, OsAuth};
use crate::cloud::Secret;
use crate::cloud::error::CloudError;

/// A cloud with Keystone v3 password authentication, as a form edits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCloud {
    pub name: String,
    pub auth_url: String,
    pub username: String,
    pub password: Secret,
    pub project: String,
    /// The user's and project's domain (a name, or the id as saved).
    pub domain: String,
    /// Empty: none.
    pub region: String,
}

/// A domain as the form shows it: `name:X` and `id:X` both as X.
fn shown_domain(d: &str) -> String {
    d.split_once(':').map_or(d, |(_, v)| v).to_owned()
}

/// The file that holds cloud `name` and its fields, for editing; why it
/// cannot be edited here otherwise.
pub fn editable(name: &str, paths: &[PathBuf]) -> Result<(PathBuf, PasswordCloud), String> {
    let listed = clouds_yaml::list(paths);
    let Some(found) = listed.iter().find(|l| l.name == name) else {
        return Err(format!(
            "no OpenStack cloud `{name}' in the clouds.yaml files"
        ));
    };
    let cloud = clouds_yaml::find_in(name, std::slice::from_ref(&found.file)).map_err(|e| e.0)?;
    let OsAuth::Password {
        auth_url,
        username,
        password,
        project_name,
        user_domain,
        ..
    } = cloud.auth
    else {
        return Err(format!(
            "cloud {name} does not use password authentication: edit {} itself",
            found.file.display()
        ));
    };
    let c = PasswordCloud {
        name: name.to_owned(),
        auth_url,
        username,
        password,
        project: project_name,
        domain: shown_domain(&user_domain),
        region: cloud.region.unwrap_or_default(),
    };
    Ok((found.file.clone(), c))
}

/// Whether the file has comments, which a rewrite would lose.
pub fn has_comments(path: &Path) -> bool {
    clouds_yaml::read(path)
        .ok()
        .flatten()
        .is_some_and(|t| t.lines().any(|l| l.trim_start().starts_with('#')))
}

/// The mapping under `key`, made (or replacing a scalar) when missing.
fn child<'a>(h: &'a mut Hash, key: &str) -> &'a mut Hash {
    let k = Yaml::String(key.to_owned());
    let slot = h.entry(k).or_insert(Yaml::Hash(Hash::new()));
    if !matches!(slot, Yaml::Hash(_)) {
        *slot = Yaml::Hash(Hash::new());
    }
    match slot {
        Yaml::Hash(h) => h,
        _ => unreachable!("just made a mapping"),
    }
}

fn put(h: &mut Hash, key: &str, value: &str) {
    h.insert(Yaml::String(key.into()), Yaml::String(value.into()));
}

/// Save `c` into the clouds.yaml at `path`; `was` is the cloud as the
/// form was opened on (its domain keys stay unless the domain changed).
pub fn save(path: &Path, c: &PasswordCloud, was: Option<&PasswordCloud>) -> Result<(), CloudError> {
    let bad = |e: String| CloudError::Config(format!("{}: {e}", path.display()));
    let text = clouds_yaml::read(path).map_err(|e| CloudError::Config(e.0))?;
    let mut doc = match text.as_deref().map(crate::untrusted::load_yaml) {
        Some(Ok(mut docs)) if !docs.is_empty() => docs.swap_remove(0),
        Some(Err(e)) => return Err(bad(e.to_string())),
        _ => Yaml::Hash(Hash::new()),
    };
    let Yaml::Hash(top) = &mut doc else {
        return Err(bad("not a mapping of clouds".into()));
    };
    let cloud = child(child(top, "clouds"), &c.name);
    match c.region.as_str() {
        "" => cloud.remove(&Yaml::String("region_name".into())),
        r => cloud.insert(Yaml::String("region_name".into()), Yaml::String(r.into())),
    };
    let auth = child(cloud, "auth");
    put(auth, "auth_url", &c.auth_url);
    put(auth, "username", &c.username);
    put(auth, "password", c.password.expose());
    put(auth, "project_name", &c.project);
    if was.is_none_or(|w| w.domain != c.domain) {
        for base in ["user_domain", "project_domain"] {
            auth.remove(&Yaml::String(format!("{base}_id")));
            put(auth, &format!("{base}_name"), &c.domain);
        }
    }
    let mut out = String::new();
    YamlEmitter::new(&mut out)
        .dump(&doc)
        .map_err(|e| bad(e.to_string()))?;
    out.push('\n');
    super::write_private(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "# my clouds\nclouds:\n  other:\n    auth_type: none\n    image_endpoint_override: http://g:9292\n  lab:\n    auth:\n      auth_url: http://k:5000/v3\n      username: demo\n      password: pw\n      project_name: demo\n      user_domain_id: default\n    interface: public\n";

    #[test]
    fn add_and_edit_keep_the_other_clouds_and_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clouds.yaml");
        std::fs::write(&path, YAML).unwrap();
        assert!(has_comments(&path));
        let paths = vec![path.clone()];
        let (file, was) = editable("lab", &paths).unwrap();
        assert_eq!(
            (file.as_path(), was.domain.as_str()),
            (path.as_path(), "default")
        );
        let mut now = was.clone();
        now.password = Secret::new("new-pw");
        now.region = "RegionOne".into();
        save(&path, &now, Some(&was)).unwrap();
        let added = PasswordCloud {
            name: "new".into(),
            domain: "Default".into(),
            ..now.clone()
        };
        save(&path, &added, None).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<String> = clouds_yaml::list(&paths)
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, vec!["other", "lab", "new"]);
        let lab = clouds_yaml::find_in("lab", &paths).unwrap();
        assert_eq!(lab.region.as_deref(), Some("RegionOne"));
        assert_eq!(
            lab.auth.password_and_user_domain(),
            Some(("new-pw", "id:default")),
            "{lab:?}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("interface: public"), "{text}");
        let new = clouds_yaml::find_in("new", &paths).unwrap();
        assert!(
            matches!(new.auth, OsAuth::Password { ref user_domain, .. } if user_domain == "name:Default")
        );
        assert!(editable("other", &paths).unwrap_err().contains("password"));
    }
}
