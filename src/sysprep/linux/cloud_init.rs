//! cloud-init: rename-default-cloud-init-user, enable-root-in-cloud-init
//! and cleanup-cloud-init-state.
//!
//! A configuration file is rewritten in place, line by line, when its
//! `name:` sits in block style (comments and the other keys stay as they
//! were); otherwise it is re-emitted from its parsed form, which keeps
//! every key but not the comments. The original is kept as `FILE.bak`.

use anyhow::Result;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

use crate::guest::metadata::{cloud_init_config, recollect_cloud_init};
use crate::sysprep::util::{delete_children, read_text};
use crate::sysprep::{Change, Ctx};

/// The drop-in enable-root-in-cloud-init writes.
pub(super) const ENABLE_ROOT_CFG: &str =
    "/etc/cloud/cloud.cfg.d/60_snf-image-creator-EnableRoot.cfg";

fn cloud_init_enabled(cx: &mut Ctx<'_>, task: &str) -> bool {
    let yes = cx.meta.get("CLOUD_INIT").map(String::as_str) == Some("yes");
    if !yes {
        cx.reporter
            .warn(&format!("{task}: not a cloud-init enabled image"));
    }
    yes
}

pub(super) fn rename_default_user(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    if !cloud_init_enabled(cx, "rename-default-cloud-init-user") {
        return Ok(Vec::new());
    }
    let new_name = cx.params.text("default_user").to_owned();
    let (_, files) = cloud_init_config(cx.guest, cx.reporter)?;
    let mut changes = Vec::new();
    let mut found = false;
    for path in files {
        let Some(text) = read_text(cx.guest, cx.reporter, &path)? else {
            continue;
        };
        // An invalid file was warned about when the configuration was merged.
        let Ok(mut docs) = crate::untrusted::load_yaml(&text) else {
            continue;
        };
        let Some(doc) = docs.first_mut() else {
            continue;
        };
        let Some(old) = doc["system_info"]["default_user"]["name"].as_str() else {
            continue;
        };
        found = true;
        if old == new_name {
            continue;
        }
        let new_text = set_name_in_place(&text, &new_name)
            .filter(|t| reparsed_name(t).as_deref() == Some(new_name.as_str()))
            .map_or_else(|| reemit_with_name(doc, &new_name), Ok)?;
        changes.push(Change::Write(format!("{path}.bak"), text.into_bytes()));
        changes.push(Change::Write(path, new_text.into_bytes()));
    }
    if !found {
        cx.reporter
            .warn("rename-default-cloud-init-user: no default cloud-init user was found");
    }
    Ok(changes)
}

fn reparsed_name(text: &str) -> Option<String> {
    let docs = crate::untrusted::load_yaml(text).ok()?;
    docs.first()?["system_info"]["default_user"]["name"]
        .as_str()
        .map(str::to_owned)
}

/// Replace the value of `system_info: default_user: name:` written in
/// block style, keeping everything else byte for byte.
fn set_name_in_place(text: &str, name: &str) -> Option<String> {
    const PATH: [&str; 3] = ["system_info", "default_user", "name"];
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let content = body.trim_start();
        let indent = body.len() - content.len();
        if content.is_empty() || content.starts_with('#') || content.starts_with('-') {
            out.push_str(line);
            continue;
        }
        let Some((key, rest)) = content.split_once(':') else {
            out.push_str(line);
            continue;
        };
        stack.retain(|(i, _)| *i < indent);
        stack.push((indent, key.trim().to_owned()));
        let at_path = stack.len() == 3 && stack.iter().zip(PATH).all(|((_, k), p)| k == p);
        if at_path && !rest.trim().is_empty() && !replaced {
            // Keep a trailing comment and the spaces before it.
            let comment = rest
                .find(" #")
                .map_or("", |i| &rest[rest[..i].trim_end().len()..]);
            out.push_str(&format!("{}{key}: {name}{comment}\n", &body[..indent]));
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    replaced.then_some(out)
}

fn reemit_with_name(doc: &mut Yaml, name: &str) -> Result<String> {
    if let Yaml::Hash(top) = doc
        && let Some(Yaml::Hash(si)) = top.get_mut(&Yaml::String("system_info".into()))
        && let Some(Yaml::Hash(du)) = si.get_mut(&Yaml::String("default_user".into()))
    {
        du.insert(Yaml::String("name".into()), Yaml::String(name.into()));
    }
    emit(doc)
}

fn emit(doc: &Yaml) -> Result<String> {
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(doc)?;
    out.push('\n');
    Ok(out)
}

/// Re-collect `CLOUD_INIT_DEFAULT_USER` and `USERS` from the new config.
pub(super) fn recollect(cx: &mut Ctx<'_>) -> Result<()> {
    recollect_cloud_init(cx.guest, cx.meta, cx.reporter)
}

pub(super) fn enable_root(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    if !cloud_init_enabled(cx, "enable-root-in-cloud-init") {
        return Ok(Vec::new());
    }
    let (config, _) = cloud_init_config(cx.guest, cx.reporter)?;
    let mut users = match &config["users"] {
        Yaml::Array(items) => items.clone(),
        Yaml::String(list) => list
            .split(',')
            .map(|u| Yaml::String(u.trim().into()))
            .collect(),
        _ => vec![Yaml::String("default".into())],
    };
    let is_root = |u: &Yaml| u.as_str() == Some("root") || u["name"].as_str() == Some("root");
    if !users.iter().any(is_root) {
        users.push(Yaml::String("root".into()));
    }
    let mut out = Hash::new();
    out.insert(Yaml::String("disable_root".into()), Yaml::Boolean(false));
    out.insert(Yaml::String("users".into()), Yaml::Array(users));
    let text = format!(
        "# Written by snf-image-creator (enable-root-in-cloud-init)\n{}",
        emit(&Yaml::Hash(out))?
    );
    Ok(vec![Change::Write(
        ENABLE_ROOT_CFG.into(),
        text.into_bytes(),
    )])
}

pub(super) fn cleanup_state(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    // `seed` holds a NoCloud seed put there on purpose; everything else is
    // the state of the instance the image was taken from.
    delete_children(cx.guest, "/var/lib/cloud", |name, _| name != "seed")
}

#[cfg(test)]
mod tests {
    use yaml_rust2::YamlLoader;

    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::guest::metadata::Metadata;
    use crate::sysprep::Params;
    use crate::sysprep::unix::tests::plan_with;

    const CFG: &str = "\
# main config
users:
   - default
system_info:
   # comment kept
   distro: debian
   default_user:
     name: debian   # the user
     lock_passwd: True
";

    fn meta() -> Metadata {
        let mut m = Metadata::new();
        m.insert("CLOUD_INIT".into(), "yes".into());
        m
    }

    #[test]
    fn rename_keeps_everything_else() {
        let mut g = MemGuest::new().file("/etc/cloud/cloud.cfg", CFG).file(
            "/etc/cloud/cloud.cfg.d/50.cfg",
            "system_info: {default_user: {name: other, shell: /bin/sh}}\n",
        );
        let params = Params::from_assignments(&["default_user=cloud".into()]).unwrap();
        let c = plan_with(
            "rename-default-cloud-init-user",
            &mut g,
            &params,
            &mut meta(),
        );
        assert_eq!(c.len(), 4, "{c:?}");
        assert_eq!(
            c[0],
            Change::Write("/etc/cloud/cloud.cfg.bak".into(), CFG.as_bytes().to_vec())
        );
        assert_eq!(
            c[1],
            Change::Write(
                "/etc/cloud/cloud.cfg".into(),
                CFG.replace("name: debian   #", "name: cloud   #")
                    .into_bytes()
            )
        );
        let Change::Write(_, flow) = &c[3] else {
            panic!()
        };
        let doc = &YamlLoader::load_from_str(std::str::from_utf8(flow).unwrap()).unwrap()[0];
        assert_eq!(
            doc["system_info"]["default_user"]["name"].as_str(),
            Some("cloud")
        );
        assert_eq!(
            doc["system_info"]["default_user"]["shell"].as_str(),
            Some("/bin/sh")
        );
    }

    #[test]
    fn no_cloud_init_no_change() {
        let mut g = MemGuest::new().file("/etc/cloud/cloud.cfg", CFG);
        let c = plan_with(
            "rename-default-cloud-init-user",
            &mut g,
            &Params::default(),
            &mut Metadata::new(),
        );
        assert!(c.is_empty());
    }

    #[test]
    fn root_is_enabled() {
        let mut g = MemGuest::new().file("/etc/cloud/cloud.cfg", CFG);
        let c = plan_with(
            "enable-root-in-cloud-init",
            &mut g,
            &Params::default(),
            &mut meta(),
        );
        let Change::Write(p, text) = &c[0] else {
            panic!()
        };
        assert_eq!(p, ENABLE_ROOT_CFG);
        let doc = &YamlLoader::load_from_str(std::str::from_utf8(text).unwrap()).unwrap()[0];
        assert_eq!(doc["disable_root"].as_bool(), Some(false));
        assert_eq!(doc["users"][0].as_str(), Some("default"));
        assert_eq!(doc["users"][1].as_str(), Some("root"));
    }

    #[test]
    fn state_but_not_seed() {
        let mut g = MemGuest::new()
            .file("/var/lib/cloud/instances/i-1/obj.pkl", "x")
            .symlink("/var/lib/cloud/instance", "/var/lib/cloud/instances/i-1")
            .file("/var/lib/cloud/seed/nocloud/meta-data", "x");
        let c = plan_with(
            "cleanup-cloud-init-state",
            &mut g,
            &Params::default(),
            &mut Metadata::new(),
        );
        assert_eq!(
            c,
            [
                Change::Delete("/var/lib/cloud/instance".into()),
                Change::Delete("/var/lib/cloud/instances".into())
            ]
        );
    }
}
