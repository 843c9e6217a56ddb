//! Screens at 80×24 (insta snapshots of ratatui's TestBackend) and key
//! sequences through the wizard and the expert menus. No job is started
//! here: pressing a button that would run the pipeline is what the tmux
//! end-to-end test does.

use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::app::{App, Screen, ScreenId, Session};
use super::component::Action;
use super::wizard::{Answers, Page, Wizard};
use super::{AppEvent, UiOptions};
use crate::cloud::config::list::{CloudRef, Listed};
use crate::guest::metadata::Metadata;
use crate::guest::{Distro, OsFamily, OsInfo};

pub(super) fn session() -> Session {
    let mut metadata = Metadata::new();
    for (k, v) in [
        ("OSFAMILY", "linux"),
        ("OS", "debian"),
        ("DESCRIPTION", "Debian GNU/Linux 12 (bookworm)"),
        ("USERS", "debian"),
        ("PARTITION_TABLE", "gpt"),
        ("ROOT_PARTITION", "2"),
    ] {
        metadata.insert(k.into(), v.into());
    }
    Session {
        source: PathBuf::from("/images/debian.qcow2"),
        format: "qcow2".into(),
        os: Some(OsInfo {
            family: OsFamily::Linux,
            distro: Distro::Debian,
            ..OsInfo::default()
        }),
        metadata,
        size: 2 << 30,
        shrunk: false,
        unsupported: None,
        inputs: vec![PathBuf::from("/images/debian.qcow2")],
    }
}

/// An app over a made-up session, with nothing on screen yet.
pub(super) fn app() -> App {
    let (tx, _rx) = channel();
    let mut app = App::new(UiOptions::default(), tx);
    app.stack.clear();
    app.facts.clouds = Some(vec![
        Listed {
            cloud: CloudRef::Local,
            about: "The built-in local image store".into(),
        },
        Listed {
            cloud: CloudRef::Synnefo("mycloud".into()),
            about: "kamaki cloud".into(),
        },
    ]);
    app.facts.session = Some(session());
    app
}

pub(super) fn press(app: &mut App, keys: &[KeyCode]) {
    for k in keys {
        app.on_event(AppEvent::Key(KeyEvent::from(*k)));
    }
}

/// Ctrl-U: clear the field under the cursor.
pub(super) fn ctrl_u(app: &mut App) {
    app.on_event(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('u'),
        ratatui::crossterm::event::KeyModifiers::CONTROL,
    )));
}

pub(super) fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, &[KeyCode::Char(c)]);
    }
}

pub(super) fn screen_text(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    format!("{}", t.backend())
}

pub(super) fn snapshot(name: &str, app: &App) {
    // The version changes with every release; the layout does not.
    let text = screen_text(app).replace(env!("CARGO_PKG_VERSION"), "[version]");
    insta::assert_snapshot!(name, text);
}

pub(super) fn top_id(app: &App) -> Option<ScreenId> {
    match app.stack.last()? {
        Screen::Component(c) => Some(c.id()),
        Screen::Running(_) => None,
    }
}

/// The answers of the wizard on the stack.
pub(super) fn answers(app: &App) -> Answers {
    let wizard = app.stack.iter().rev().find_map(|s| match s {
        Screen::Component(c) => (c.as_ref() as &dyn std::any::Any).downcast_ref::<Wizard>(),
        Screen::Running(_) => None,
    });
    wizard.expect("the wizard is on the stack").answers.clone()
}

fn mode_choice(app: &mut App) {
    app.apply(vec![Action::Expert]);
    app.stack.clear();
    let choice = super::init::mode_choice(&app.facts);
    app.apply(vec![Action::Push(choice)]);
}

#[test]
fn wizard_pages_and_confirmation() {
    let mut a = app();
    mode_choice(&mut a);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Cloud)));
    snapshot("wizard_cloud", &a);
    press(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    assert_eq!(answers(&a).cloud, CloudRef::Synnefo("mycloud".into()));
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Name)));
    snapshot("wizard_name", &a);
    press(&mut a, &[KeyCode::Backspace; 6]);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(
        top_id(&a),
        Some(ScreenId::Notice),
        "an empty name is refused"
    );
    press(&mut a, &[KeyCode::Enter]);
    type_text(&mut a, "Debian 12 base");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(answers(&a).name, "Debian 12 base");
    snapshot("wizard_description", &a);
    press(&mut a, &[KeyCode::Enter, KeyCode::Down]);
    snapshot("wizard_registration", &a);
    press(&mut a, &[KeyCode::Enter]);
    assert!(answers(&a).public);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Output)));
    type_text(&mut a, "/var/tmp/copy.diskdump");
    snapshot("wizard_output", &a);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Confirm)));
    snapshot("wizard_confirm", &a);
    // Back returns to the last page, with the answer kept.
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Output)));
    for _ in 0..5 {
        press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
    }
    assert_eq!(
        top_id(&a),
        Some(ScreenId::ModeChoice),
        "Back on page 1 leaves"
    );
    assert_eq!(a.exit, None);
}

#[test]
fn wizard_request_uploads_registers_and_copies() {
    let mut a = app();
    a.apply(vec![Action::Wizard]);
    let mut answers = Answers {
        cloud: CloudRef::Local,
        name: "deb".into(),
        description: "Debian".into(),
        public: true,
        output: PathBuf::from("/var/tmp/copy.diskdump"),
        virtio: None,
    };
    let r = a.facts.wizard_request(&answers).unwrap();
    assert_eq!(r.outfile, Some(PathBuf::from("/var/tmp/copy.diskdump")));
    assert!(r.cloud.upload.as_deref().unwrap().starts_with("deb-"));
    assert_eq!(r.cloud.register.as_deref(), Some("deb"));
    assert!(r.cloud.public);
    assert_eq!(r.cloud.account.cloud, None, "the local store");
    answers.output = PathBuf::new();
    assert_eq!(a.facts.wizard_request(&answers).unwrap().outfile, None);
}

#[test]
fn wizard_quit_leaves() {
    let mut a = app();
    mode_choice(&mut a);
    press(&mut a, &[KeyCode::Enter; 6]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Confirm)));
    press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
    assert_eq!(a.exit, Some(0));
}

#[test]
fn expert_main_and_help() {
    let mut a = app();
    a.apply(vec![Action::Expert]);
    snapshot("expert_main", &a);
    press(&mut a, &[KeyCode::End, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Help));
    snapshot("expert_help", &a);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ExpertMain));
    // Exit asks first; No keeps the menu.
    press(&mut a, &[KeyCode::Esc]);
    assert_eq!(top_id(&a), Some(ScreenId::ConfirmExit));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(a.exit, None);
    press(&mut a, &[KeyCode::Esc, KeyCode::Left, KeyCode::Enter]);
    assert_eq!(a.exit, Some(0));
}

#[test]
fn expert_properties_add_edit_delete() {
    let mut a = app();
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Enter]);
    snapshot("expert_customize", &a);
    press(
        &mut a,
        &[KeyCode::Down, KeyCode::Down, KeyCode::Down, KeyCode::Enter],
    );
    snapshot("expert_properties", &a);
    // Add: a bad name is refused with the -m rule, a good one upper-cased.
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    type_text(&mut a, "bad-key");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Notice));
    assert!(screen_text(&a).contains("not a valid metadata key"));
    // The field stays, to be mended.
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::PropertyNewKey));
    press(&mut a, &[KeyCode::Backspace; 7]);
    type_text(&mut a, "image_owner");
    press(&mut a, &[KeyCode::Enter]);
    type_text(&mut a, "ops team");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(a.facts.metadata()["IMAGE_OWNER"], "ops team");
    // Edit the first property (DESCRIPTION).
    press(&mut a, &[KeyCode::Home, KeyCode::Enter]);
    press(&mut a, &[KeyCode::Backspace; 10]);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(a.facts.metadata()["DESCRIPTION"], "Debian GNU/Linux 12");
    // Delete USERS.
    let users = a
        .facts
        .metadata()
        .keys()
        .position(|k| k == "USERS")
        .unwrap();
    press(&mut a, &[KeyCode::Home]);
    press(&mut a, &vec![KeyCode::Down; users]);
    press(&mut a, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Enter]);
    snapshot("expert_property_delete", &a);
    press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
    assert!(!a.facts.metadata().contains_key("USERS"));
    let request = a
        .facts
        .export_request(Path::new("/tmp/x.diskdump"))
        .unwrap();
    assert_eq!(request.unset, vec!["USERS".to_string()]);
    assert!(
        request
            .metadata
            .contains(&"IMAGE_OWNER=ops team".to_string())
    );
}

#[test]
fn expert_exclude_tasks() {
    let mut a = app();
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Enter, KeyCode::End, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Exclude));
    snapshot("expert_exclude", &a);
    // Untick the swap task (linux), then OK.
    press(
        &mut a,
        &[
            KeyCode::Down,
            KeyCode::Down,
            KeyCode::Down,
            KeyCode::Char(' '),
        ],
    );
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(a.facts.metadata()["EXCLUDE_TASK_ADDSWAP"], "yes");
    // No Config excludes everything.
    press(
        &mut a,
        &[KeyCode::Down, KeyCode::Enter, KeyCode::Tab, KeyCode::Enter],
    );
    assert_eq!(a.facts.metadata()["EXCLUDE_ALL_TASKS"], "yes");
}

#[test]
fn expert_extract_asks_before_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("debian.diskdump");
    std::fs::write(out.with_extension("diskdump.md5sum"), b"old").unwrap();
    let mut a = app();
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Down, KeyCode::Down, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ExtractPath));
    press(&mut a, &[KeyCode::Backspace; 20]);
    type_text(&mut a, out.to_str().unwrap());
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ExtractOverwrite(out.clone())));
    assert!(screen_text(&a).contains("already exists"));
    // No (the default) keeps the file and starts nothing.
    press(&mut a, &[KeyCode::Enter]);
    assert!(a.job.is_none());
    assert_eq!(
        std::fs::read(out.with_extension("diskdump.md5sum")).unwrap(),
        b"old"
    );
}

#[test]
fn log_view_and_save() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = app();
    a.facts.log = vec![
        "Launching helper VM ... done".into(),
        "Inspecting Operating System ... debian".into(),
    ];
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Down; 4]);
    press(&mut a, &[KeyCode::Enter]);
    snapshot("expert_log", &a);
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    press(&mut a, &[KeyCode::Backspace; 40]);
    let saved = dir.path().join("run.log");
    type_text(&mut a, saved.to_str().unwrap());
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "Launching helper VM ... done\nInspecting Operating System ... debian\n"
    );
}

#[test]
fn unsupported_media_goes_to_expert_with_everything_excluded() {
    let mut a = app();
    initialized(&mut a, Some("no operating system was found on the media"));
    assert_eq!(top_id(&a), Some(ScreenId::Unsupported));
    press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ExpertMain));
    assert_eq!(a.facts.metadata()["EXCLUDE_ALL_TASKS"], "yes");
    press(&mut a, &[KeyCode::Enter, KeyCode::End, KeyCode::Enter]);
    assert!(screen_text(&a).contains("Every deployment task is excluded"));
}

#[test]
fn running_view_and_status_line() {
    let mut a = app();
    a.stack
        .push(Screen::Running(super::job::RunView::new("Initialization")));
    let id = crate::progress::StepId(1);
    a.on_event(AppEvent::Progress(crate::progress::Event::Begin {
        id,
        title: "Launching helper VM (may take a while)".into(),
        total: None,
    }));
    a.on_event(AppEvent::Progress(crate::progress::Event::End {
        id,
        result: "done".into(),
    }));
    a.on_event(AppEvent::Progress(crate::progress::Event::Begin {
        id: crate::progress::StepId(2),
        title: "Dumping image file".into(),
        total: Some((4 << 20, crate::progress::Unit::Bytes)),
    }));
    a.on_event(AppEvent::Progress(crate::progress::Event::Advance {
        id: crate::progress::StepId(2),
        done: 1 << 20,
    }));
    snapshot("running", &a);
    assert_eq!(
        a.facts.log,
        vec!["Launching helper VM (may take a while) ... done"]
    );
    assert!(
        screen_text(&a)
            .contains("OS: linux, Distro: debian, Size: 2048 MB, Source: /images/debian.qcow2")
    );
}

#[test]
fn browser_screen() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("vms")).unwrap();
    std::fs::write(dir.path().join("debian.qcow2"), vec![0u8; 3 << 10]).unwrap();
    let mut a = app();
    a.facts.session = None;
    a.stack
        .push(Screen::Component(Box::new(super::browser::Browser::open(
            dir.path(),
        ))));
    let text = screen_text(&a).replace(dir.path().to_str().unwrap(), "[dir]");
    insta::assert_snapshot!(
        "browser",
        text.replace(env!("CARGO_PKG_VERSION"), "[version]")
    );
    // Bundle Host shows this machine's planned layout, or why it has none.
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    let planned = crate::media::tree::host::plan(
        &crate::media::tree::host::LiveHost::default(),
        std::path::Path::new("/"),
    );
    let said = match planned {
        Ok(layout) => layout.lines()[0].clone(),
        Err(e) => format!("cannot be bundled: {e:#}"),
    };
    assert!(screen_text(&a).contains(&said), "{}", screen_text(&a));
}

/// Initialization ends with this outcome, as its job would report it.
fn initialized(a: &mut App, unsupported: Option<&str>) {
    let mut done = super::customize_tests::outcome();
    done.os = Some(OsInfo {
        family: OsFamily::Linux,
        distro: Distro::Debian,
        ..OsInfo::default()
    });
    if let Some(reason) = unsupported {
        done.unsupported = Some(reason.into());
    }
    a.facts.session = None;
    a.stack
        .push(Screen::Running(super::job::RunView::new("Initialization")));
    a.on_event(AppEvent::JobDone(super::job::JobKind::Initialize, Ok(done)));
}

#[test]
fn initialization_asks_wizard_or_expert() {
    let mut a = app();
    initialized(&mut a, None);
    assert_eq!(top_id(&a), Some(ScreenId::ModeChoice));
    snapshot("mode_choice", &a);
    press(&mut a, &[KeyCode::Right, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ExpertMain));
}

#[test]
fn initialization_warns_of_unsupported_media() {
    let mut a = app();
    initialized(&mut a, Some("the media contains logical volumes"));
    assert_eq!(top_id(&a), Some(ScreenId::Unsupported));
    snapshot("unsupported_warning", &a);
    // No is the default, and leaves.
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(a.exit, Some(0));
}

#[test]
fn extract_asks_for_the_path() {
    let mut a = app();
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Down, KeyCode::Down, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ExtractPath));
    snapshot("extract_path", &a);
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ExpertMain));
}
