//! Key sequences through the cloud account forms (wizard and expert) and
//! the expert Register menu, on real parts: our Astakos (`serve`, started
//! in this process on 127.0.0.1) checks the tokens, kamaki's configuration
//! is a real file, and a real local store in a temporary directory takes
//! the uploads and registrations. Screens are snapshotted at 80×24. The
//! upload's pipeline run (a helper VM) is what the tmux test does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use ratatui::crossterm::event::KeyCode;

use super::accounts::Back;
use super::app::{App, ScreenId};
use super::component::Action;
use super::register::Published;
use super::tests::{answers, ctrl_u, press, screen_text, session, top_id, type_text};
use super::wizard::Page;
use super::{AppEvent, UiOptions};
use crate::cloud::config::list::{CloudKind, CloudPaths, CloudRef};
use crate::cloud::config::s3_targets::S3Files;
use crate::cloud::local::serve::{Server, Tokens};
use crate::cloud::request::{AccountRequest, UploadRequest};
use crate::cloud::{self, Target};
use crate::pipeline::upload;
use crate::progress::NullReporter;

const TOKEN: &str = "tok-ui-test";

/// A running Astakos over a store, and a kamaki configuration that holds
/// one unrelated section.
struct Lab {
    dir: tempfile::TempDir,
    server: Server,
    config: PathBuf,
    store: PathBuf,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("{TOKEN} 0b0e2f1a-1111-4222-8333-944445555666 tester\n"),
    )
    .unwrap();
    let tokens = Tokens::load(&tokens).unwrap();
    let server = Server::start(&store, "127.0.0.1:0", tokens, Arc::new(|_| {})).unwrap();
    let config = dir.path().join("kamakirc");
    std::fs::write(&config, "[custom]\nanswer = 42\n").unwrap();
    Lab {
        dir,
        server,
        config,
        store,
    }
}

/// An app over the made-up session, reading the lab's accounts and store;
/// job events arrive on the receiver.
fn app_in(lab: &Lab) -> (App, Receiver<AppEvent>) {
    let (tx, rx) = channel();
    let mut app = App::new(UiOptions::default(), tx);
    app.stack.clear();
    app.facts.session = Some(session());
    app.facts.cloud.paths = lab_paths(lab.dir.path(), &lab.config);
    app.facts.cloud.store = Some(lab.store.clone());
    (app, rx)
}

/// The lab's cloud files: kamaki's configuration at `kamakirc`, the
/// others in `dir`.
pub(super) fn lab_paths(dir: &Path, kamakirc: &Path) -> CloudPaths {
    CloudPaths {
        kamakirc: kamakirc.to_owned(),
        clouds_yaml: vec![dir.join("clouds.yaml")],
        clouds_yaml_new: dir.join("clouds.yaml"),
        s3: S3Files {
            targets: dir.join("s3.ini"),
            credentials: dir.join("credentials"),
            config: dir.join("aws-config"),
            profile: "default".into(),
        },
    }
}

/// Feed a job's events to the app until the job ends.
fn finish_job(app: &mut App, rx: &Receiver<AppEvent>) {
    assert!(app.job.is_some(), "no job was started");
    loop {
        let ev = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the job did not end");
        let done = matches!(ev, AppEvent::JobDone(..) | AppEvent::CloudDone(_));
        app.on_event(ev);
        if done {
            return;
        }
    }
}

fn config_text(lab: &Lab) -> String {
    std::fs::read_to_string(&lab.config).unwrap()
}

/// Fill the add form: name, URL, token, description.
fn fill_account(app: &mut App, name: &str, url: &str, token: &str, description: &str) {
    for (i, value) in [name, url, token, description].into_iter().enumerate() {
        if i > 0 {
            press(app, &[KeyCode::Down]);
        }
        type_text(app, value);
    }
}

#[test]
fn wizard_adds_and_edits_a_cloud() {
    let lab = lab();
    let url = lab.server.identity_url();
    let (mut a, rx) = app_in(&lab);
    a.apply(vec![Action::Wizard]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Cloud)));
    // Edit has nothing to do on the local store.
    press(&mut a, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Enter]);
    assert!(
        screen_text(&a).contains("always there"),
        "{}",
        screen_text(&a)
    );
    press(&mut a, &[KeyCode::Enter, KeyCode::Left, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::CloudKind));
    press(&mut a, &[KeyCode::Enter]);
    let add = ScreenId::AccountForm {
        kind: CloudKind::Synnefo,
        editing: None,
        back: Back::Wizard,
    };
    assert_eq!(top_id(&a), Some(add.clone()));
    fill_account(&mut a, "lab", &url, "wrong-token", "Test lab");
    snap("account_add", &a, &lab);
    // A wrong token: the reason, then the form as it was.
    press(&mut a, &[KeyCode::Enter]);
    finish_job(&mut a, &rx);
    assert_eq!(top_id(&a), Some(ScreenId::Notice));
    let notice = screen_text(&a);
    assert!(
        notice.contains("was not saved") && notice.contains("401"),
        "{notice}"
    );
    assert!(!notice.contains("wrong-token"), "{notice}");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(add));
    assert!(!config_text(&lab).contains("lab"), "nothing saved");
    press(&mut a, &[KeyCode::Up]);
    ctrl_u(&mut a);
    type_text(&mut a, TOKEN);
    press(&mut a, &[KeyCode::Enter]);
    finish_job(&mut a, &rx);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Cloud)));
    assert_eq!(answers(&a).cloud, CloudRef::Synnefo("lab".into()));
    assert!(screen_text(&a).contains("Test lab"));
    let text = config_text(&lab);
    assert!(text.contains(&format!("[cloud \"lab\"]\nurl = {url}\ntoken = {TOKEN}\n")));
    assert!(text.contains("[custom]\nanswer = 42\n"), "{text}");
    // Edit the selected cloud: the form is filled in, the name fixed.
    press(&mut a, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Enter]);
    snap("account_edit", &a, &lab);
    press(&mut a, &[KeyCode::Down, KeyCode::Down]);
    ctrl_u(&mut a);
    type_text(&mut a, "Renamed lab");
    press(&mut a, &[KeyCode::Enter]);
    finish_job(&mut a, &rx);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Cloud)));
    assert!(config_text(&lab).contains("description = Renamed lab"));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Name)));
    assert_eq!(answers(&a).cloud, CloudRef::Synnefo("lab".into()));
}

#[test]
fn expert_clouds_add_select_delete() {
    let lab = lab();
    let url = lab.server.identity_url();
    let (mut a, rx) = app_in(&lab);
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Register));
    snap("register_menu", &a, &lab);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Clouds));
    // The local store can be neither edited nor deleted.
    press(
        &mut a,
        &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab, KeyCode::Enter],
    );
    assert!(screen_text(&a).contains("always there"));
    press(&mut a, &[KeyCode::Enter]);
    // Add: checked, saved, selected.
    press(
        &mut a,
        &[KeyCode::Left, KeyCode::Left, KeyCode::Enter, KeyCode::Enter],
    );
    fill_account(&mut a, "lab2", &url, TOKEN, "");
    press(&mut a, &[KeyCode::Enter]);
    finish_job(&mut a, &rx);
    assert_eq!(top_id(&a), Some(ScreenId::Clouds));
    assert_eq!(a.facts.cloud.selected, CloudRef::Synnefo("lab2".into()));
    snap("register_clouds", &a, &lab);
    assert!(config_text(&lab).contains("[cloud \"lab2\"]"));
    // Select the local store again: the menu says so.
    press(&mut a, &[KeyCode::Home, KeyCode::Enter]);
    assert_eq!(a.facts.cloud.selected, CloudRef::Local);
    assert!(screen_text(&a).contains("now: local store"));
    // Delete lab2, after a question.
    press(&mut a, &[KeyCode::Enter, KeyCode::Down]);
    press(
        &mut a,
        &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab, KeyCode::Enter],
    );
    assert_eq!(
        top_id(&a),
        Some(ScreenId::ConfirmDeleteAccount("lab2".into()))
    );
    snap("register_delete", &a, &lab);
    press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
    assert!(screen_text(&a).contains("The cloud account lab2 was deleted."));
    let text = config_text(&lab);
    assert!(
        !text.contains("lab2") && text.contains("[custom]"),
        "{text}"
    );
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Clouds));
}

/// Upload a small file into the lab's store as the upload run does.
fn uploaded(lab: &Lab) -> cloud::Uploaded {
    let file = lab.dir.path().join("debian.diskdump");
    std::fs::write(&file, vec![7u8; 5 << 20]).unwrap();
    let plan = UploadRequest {
        upload: Some("debian.diskdump".into()),
        account: AccountRequest {
            store: Some(lab.store.clone()),
            ..AccountRequest::default()
        },
        ..UploadRequest::default()
    }
    .validate()
    .unwrap()
    .unwrap();
    let prepared = upload::connect(&plan, false, &NullReporter).unwrap();
    upload::upload_image(&prepared, &file, Some("0123"), &NullReporter).unwrap()
}

/// A snapshot with the server's address (a free port) left out.
fn snap(name: &str, app: &App, lab: &Lab) {
    let text = screen_text(app)
        .replace(&lab.server.identity_url(), "[url]")
        .replace(lab.dir.path().to_str().unwrap(), "[dir]")
        .replace(env!("CARGO_PKG_VERSION"), "[version]");
    insta::assert_snapshot!(name, text);
}

#[test]
fn expert_upload_register_info_save() {
    let lab = lab();
    let (mut a, rx) = app_in(&lab);
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    // Nothing to register yet.
    press(&mut a, &[KeyCode::Down, KeyCode::Down, KeyCode::Enter]);
    assert!(screen_text(&a).contains("Nothing was uploaded to the local image store yet"));
    press(&mut a, &[KeyCode::Enter, KeyCode::Up, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::UploadForm));
    snap("register_upload", &a, &lab);
    // The object exists: the upload asks first, and No starts nothing.
    let object = uploaded(&lab);
    press(&mut a, &[KeyCode::Enter]);
    finish_job(&mut a, &rx);
    assert!(matches!(
        top_id(&a),
        Some(ScreenId::ConfirmOverwrite { .. })
    ));
    assert!(screen_text(&a).contains("debian.diskdump.md5sum already exist"));
    press(&mut a, &[KeyCode::Enter]);
    assert!(a.job.is_none());
    // What the upload run leaves behind.
    a.facts.cloud.published.insert(
        CloudRef::Local,
        Published {
            object: "debian.diskdump".into(),
            container: "images".into(),
            uploaded: object,
            metadata: a.facts.metadata(),
            image: None,
        },
    );
    press(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::RegisterForm));
    ctrl_u(&mut a);
    type_text(&mut a, "Debian UI");
    press(&mut a, &[KeyCode::Down]);
    ctrl_u(&mut a);
    type_text(&mut a, "From the Register menu");
    snap("register_form", &a, &lab);
    press(&mut a, &[KeyCode::Enter]);
    snap("register_public", &a, &lab);
    press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
    finish_job(&mut a, &rx);
    let done = screen_text(&a);
    assert!(
        done.contains("registered with the local image store"),
        "{done}"
    );
    let images = cloud::connect(&Target::Local(lab.store.clone()), "images")
        .unwrap()
        .images()
        .unwrap();
    let image = cloud::find_image(&images, "Debian UI").unwrap().clone();
    assert!(image.is_public);
    assert_eq!(image.properties["DESCRIPTION"], "From the Register menu");
    assert_eq!(image.properties["OS"], "debian");
    // Info shows it; Save writes it.
    press(&mut a, &[KeyCode::Enter, KeyCode::Down, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Info));
    let shown = screen_text(&a);
    assert!(shown.contains(&image.id), "{shown}");
    let stable = shown
        .replace(&image.id, "[id]")
        .replace(&image.owner, "[owner]")
        .replace(&image.created_at, "[time]")
        .replace(env!("CARGO_PKG_VERSION"), "[version]");
    insta::assert_snapshot!("register_info", stable);
    let saved = lab.dir.path().join("info.json");
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    ctrl_u(&mut a);
    type_text(&mut a, saved.to_str().unwrap());
    press(&mut a, &[KeyCode::Enter]);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(info["image"]["id"], image.id.as_str());
    assert_eq!(info["object"], "debian.diskdump");
    assert!(Path::new(&saved).exists());
}

#[test]
fn upload_exports_with_the_session_edits() {
    let lab = lab();
    let (mut a, _rx) = app_in(&lab);
    a.facts.edits.set.insert("BUILD_ID".into(), "42".into());
    a.facts.edits.unset.insert("USERS".into());
    let r = a.facts.upload_request("deb.diskdump", "builds").unwrap();
    assert!(r.metadata.contains(&"BUILD_ID=42".to_string()));
    assert_eq!(r.unset, vec!["USERS".to_string()]);
    assert_eq!(r.outfile, None, "no local copy");
    assert_eq!(r.cloud.upload.as_deref(), Some("deb.diskdump"));
    assert_eq!(r.cloud.container.as_deref(), Some("builds"));
    assert_eq!(r.cloud.register, None, "registered later");
    assert_eq!(r.cloud.account.store.as_deref(), Some(lab.store.as_path()));
    a.facts.cloud.selected = CloudRef::Synnefo("lab".into());
    let r = a.facts.upload_request("deb.diskdump", "builds").unwrap();
    assert_eq!(r.cloud.account.cloud.as_deref(), Some("lab"));
    assert_eq!(r.cloud.account.store, None);
}
