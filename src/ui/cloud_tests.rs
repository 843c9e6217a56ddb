//! The cloud list of every kind and its OpenStack and S3 forms, by keys:
//! the files the forms write are read back with the command line's own
//! readers, the other clouds and keys in them kept, and choosing a cloud
//! gives the request `--cloud openstack:NAME` or `s3:BUCKET` gives.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ratatui::crossterm::event::KeyCode;

use super::accounts::Back;
use super::app::{App, ScreenId};
use super::component::Action;
use super::register_tests::lab_paths;
use super::tests::{answers, app, ctrl_u, press, screen_text, top_id, type_text};
use super::wizard::Page;
use crate::cloud::Target;
use crate::cloud::clients::s3;
use crate::cloud::config::clouds_yaml;
use crate::cloud::config::list::{CloudKind, CloudRef};

const CLOUDS_YAML: &str =
    "# mine\nclouds:\n  other:\n    auth_type: none\n    image_endpoint_override: http://g:9292\n";

/// The made-up session, its clouds read from files in `dir`.
fn app_in(dir: &Path) -> App {
    let mut a = app();
    a.facts.clouds = None;
    a.facts.cloud.paths = lab_paths(dir, &dir.join("kamakirc"));
    a
}

/// Type `values` into the form's fields, from the current one down.
fn fill(a: &mut App, values: &[&str]) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            press(a, &[KeyCode::Down]);
        }
        type_text(a, value);
    }
}

fn snap(name: &str, a: &App, dir: &Path) {
    let text = screen_text(a)
        .replace(dir.to_str().unwrap(), "[dir]")
        .replace(env!("CARGO_PKG_VERSION"), "[version]");
    insta::assert_snapshot!(name, text);
}

#[test]
fn wizard_adds_an_openstack_cloud_and_uploads_there_as_the_command_line_would() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("clouds.yaml");
    std::fs::write(&yaml, CLOUDS_YAML).unwrap();
    let mut a = app_in(dir.path());
    a.apply(vec![Action::Wizard]);
    assert!(screen_text(&a).contains("openstack:other"));
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::CloudKind));
    press(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    let form = ScreenId::AccountForm {
        kind: CloudKind::OpenStack,
        editing: None,
        back: Back::Wizard,
    };
    assert_eq!(top_id(&a), Some(form.clone()));
    // A name in use, then a bad URL: one line in the form, nothing written.
    fill(&mut a, &["other", "http://k/v3", "demo", "s3cret", "demo"]);
    press(&mut a, &[KeyCode::Enter]);
    assert!(screen_text(&a).contains("There is an OpenStack cloud other already"));
    press(&mut a, &[KeyCode::Up; 4]);
    ctrl_u(&mut a);
    type_text(&mut a, "lab");
    press(&mut a, &[KeyCode::Down]);
    ctrl_u(&mut a);
    type_text(&mut a, "keystone");
    press(&mut a, &[KeyCode::Down, KeyCode::Down, KeyCode::Down]);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(form));
    snap("cloud_add_openstack", &a, dir.path());
    assert_eq!(std::fs::read_to_string(&yaml).unwrap(), CLOUDS_YAML);
    press(&mut a, &[KeyCode::Up, KeyCode::Up, KeyCode::Up]);
    ctrl_u(&mut a);
    type_text(&mut a, "http://127.0.0.1:5000/v3");
    press(
        &mut a,
        &[KeyCode::Down, KeyCode::Down, KeyCode::Down, KeyCode::Down],
    );
    press(&mut a, &[KeyCode::Down]);
    type_text(&mut a, "RegionOne");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Cloud)));
    assert_eq!(answers(&a).cloud, CloudRef::OpenStack("lab".into()));
    snap("cloud_list_openstack", &a, dir.path());
    // Written for the command line's reader, the other cloud kept.
    let paths = a.facts.cloud.paths.clone();
    let lab = clouds_yaml::find_in("lab", &paths.clouds_yaml).unwrap();
    assert_eq!(
        lab.auth.password_and_user_domain(),
        Some(("s3cret", "name:Default")),
        "{lab:?}"
    );
    assert_eq!(lab.region.as_deref(), Some("RegionOne"));
    assert!(clouds_yaml::find_in("other", &paths.clouds_yaml).is_ok());
    let mode = std::fs::metadata(&yaml).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The run goes where `--cloud openstack:lab` goes.
    press(&mut a, &[KeyCode::Enter; 5]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Confirm)));
    assert!(screen_text(&a).contains("* Cloud: openstack:lab"));
    let r = a.facts.wizard_request(&answers(&a)).unwrap();
    assert_eq!(r.cloud.account.cloud.as_deref(), Some("openstack:lab"));
    let plan = r.cloud.validate_in(&paths).unwrap().unwrap();
    assert_eq!(plan.target, Target::OpenStack(lab));
}

#[test]
fn register_adds_and_edits_an_s3_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(&creds, "# keys\n[other]\naws_access_key_id = O\n").unwrap();
    let mut a = app_in(dir.path());
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Down, KeyCode::Enter, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Clouds));
    press(
        &mut a,
        &[KeyCode::Tab, KeyCode::Enter, KeyCode::Down, KeyCode::Down],
    );
    press(&mut a, &[KeyCode::Enter]);
    let endpoint = "http://127.0.0.1:8333";
    fill(&mut a, &["Bad_Bucket", endpoint, "", "", "AK", "SK"]);
    press(&mut a, &[KeyCode::Enter]);
    assert!(
        screen_text(&a).contains("bad bucket name"),
        "{}",
        screen_text(&a)
    );
    assert!(!a.facts.cloud.paths.s3.targets.exists(), "nothing written");
    for _ in 0..5 {
        press(&mut a, &[KeyCode::Up]);
    }
    ctrl_u(&mut a);
    type_text(&mut a, "images");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Clouds));
    assert_eq!(a.facts.cloud.selected, CloudRef::S3("images".into()));
    snap("cloud_list_s3", &a, dir.path());
    let files = a.facts.cloud.paths.s3.clone();
    let t = s3::target_in("images", &files).unwrap();
    assert_eq!(
        (t.endpoint.as_str(), t.creds.access_key.as_str()),
        (endpoint, "AK")
    );
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(
        text.starts_with("# keys\n[other]\naws_access_key_id = O\n"),
        "{text}"
    );
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Edit: the form is filled in, the bucket fixed.
    press(&mut a, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Enter]);
    snap("cloud_edit_s3", &a, dir.path());
    press(&mut a, &[KeyCode::Down]);
    type_text(&mut a, "eu-west-1");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(s3::target_in("images", &files).unwrap().region, "eu-west-1");
    // Its file is edited by hand to delete it; Select uploads to it.
    press(
        &mut a,
        &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab, KeyCode::Enter],
    );
    assert!(screen_text(&a).contains("s3:images is deleted from its file"));
    press(
        &mut a,
        &[KeyCode::Enter, KeyCode::BackTab, KeyCode::BackTab],
    );
    press(&mut a, &[KeyCode::BackTab, KeyCode::Enter]);
    assert!(
        screen_text(&a).contains("now: s3:images"),
        "{}",
        screen_text(&a)
    );
    let plan = a.facts.upload_plan("deb.diskdump", "images", None).unwrap();
    assert_eq!(
        plan.target,
        Target::S3(s3::target_in("images", &files).unwrap())
    );
}
