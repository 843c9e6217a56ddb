//! Expert → Images, driven by keys over a real store in a temporary
//! directory, populated by the history library as registrations do: two
//! versions of "Debian" with file manifests (a file changed, one added,
//! one removed), one of "Fedora" without a manifest.

use std::path::Path;

use ratatui::crossterm::event::KeyCode;

use super::app::{App, Screen, ScreenId};
use super::component::Action;
use super::image_views::Files;
use super::images::Images;
use super::tests::{app, press, screen_text, top_id, type_text};
use crate::cloud::local::history::{
    Channel, FileEntry, FileKind, Index, Manifest, Triggers, VersionExtras,
};
use crate::cloud::local::registry::ImageRequest;
use crate::cloud::local::store::Store;
use crate::cloud::pithos::plankton::location;
use crate::guest::packages::{DbFormat, Package, Packages};

fn file(path: &str, content: &str) -> FileEntry {
    FileEntry {
        path: path.into(),
        kind: FileKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: content.len() as u64,
        link: None,
        sha512: Some(format!("{content}-hash")),
    }
}

/// Register `data` as the next version of `name`, with `files` (and,
/// for a list of files, packages and triggers from `extras`).
fn register(s: &Store, name: &str, data: &[u8], files: Option<Vec<FileEntry>>) {
    register_with(s, name, data, files, VersionExtras::default())
}

fn register_with(
    s: &Store,
    name: &str,
    data: &[u8],
    files: Option<Vec<FileEntry>>,
    extras: VersionExtras,
) {
    let me = s.owner().to_owned();
    s.create_container(&me, "images").unwrap();
    let object = format!("{name}.diskdump");
    s.put_data(&me, "images", &object, &mut &data[..], "x")
        .unwrap();
    let req = ImageRequest {
        name: name.into(),
        location: location(&me, "images", &object),
        ..Default::default()
    };
    let extras = VersionExtras {
        manifest: files.map(Manifest::new),
        ..extras
    };
    s.register_version(&me, &req, &extras).unwrap();
}

/// A version's packages (dpkg's) and triggers (none when empty).
fn with_packages(list: &[(&str, &str)], triggers: &str) -> VersionExtras {
    let packages = (list.iter())
        .map(|(n, v)| {
            let p = Package {
                version: v.to_string(),
                arch: None,
            };
            (n.to_string(), p)
        })
        .collect();
    VersionExtras {
        packages: Some(Packages {
            format: DbFormat::Dpkg,
            packages,
        }),
        triggers: (!triggers.is_empty()).then(|| Triggers::parse(triggers.as_bytes()).unwrap()),
        ..Default::default()
    }
}

fn store_in(dir: &Path) -> Store {
    let s = Store::open(dir).unwrap();
    let v1 = vec![
        file("/etc/hostname", "one"),
        file("/etc/motd", "hello"),
        file("/usr/bin/tool", "x"),
    ];
    register_with(
        &s,
        "Debian",
        b"first",
        Some(v1),
        with_packages(&[("bash", "5.1"), ("vim", "9")], ""),
    );
    let v2 = vec![
        file("/etc/hostname", "two!"),
        file("/etc/new", "added"),
        file("/usr/bin/tool", "x"),
    ];
    let triggers = r#"[{"MatchLines": ["/usr/"], "Service": "never"},
        {"MatchLines": ["/etc/host"], "Service": "hostname"}]"#;
    let v2x = with_packages(&[("bash", "5.2"), ("curl", "7.88")], triggers);
    register_with(&s, "Debian", b"second!", Some(v2), v2x);
    register(&s, "Fedora", b"f", None);
    s
}

/// The app with Expert → Images open on a populated store.
fn images_app(dir: &Path) -> (App, Store) {
    let store = store_in(dir);
    let mut a = app();
    a.facts.cloud.store = Some(dir.to_owned());
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Down; 3]);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Images));
    (a, store)
}

fn top<T: 'static>(a: &App) -> &T {
    match a.stack.last() {
        Some(Screen::Component(c)) => (c.as_ref() as &dyn std::any::Any)
            .downcast_ref::<T>()
            .expect("the top screen's type"),
        _ => panic!("no component on top"),
    }
}

fn message(a: &App) -> String {
    top::<Images>(a).message().to_owned()
}

fn history(s: &Store) -> Index {
    s.history("Debian").unwrap().unwrap()
}

/// Press the versions page's button `n` places right of Show.
fn button(a: &mut App, n: usize) {
    press(a, &vec![KeyCode::Tab; n]);
    press(a, &[KeyCode::Enter]);
}

#[test]
fn the_list_shows_each_name_and_opens_its_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, store) = images_app(dir.path());
    let text = screen_text(&a);
    assert!(text.contains("Debian  @2  2 versions"), "{text}");
    assert!(text.contains("Fedora  @1  1 version "), "{text}");
    // Debian's versions, the latest selected; Show gives its properties.
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ImageVersions("Debian".into())));
    button(&mut a, 0);
    assert_eq!(top_id(&a), Some(ScreenId::ImageShow));
    let text = screen_text(&a);
    assert!(text.contains("Name: Debian@2"), "{text}");
    assert!(text.contains("Files: 3"), "{text}");
    assert!(text.contains("VERSION = 2"), "{text}");
    // Fedora has no manifest: one line says so.
    press(
        &mut a,
        &[KeyCode::Enter, KeyCode::Esc, KeyCode::Down, KeyCode::Enter],
    );
    assert_eq!(top_id(&a), Some(ScreenId::ImageVersions("Fedora".into())));
    button(&mut a, 1);
    assert_eq!(
        message(&a),
        "Fedora@1 has no file manifest (it was registered without one)"
    );
    press(&mut a, &[KeyCode::Esc, KeyCode::Esc]);
    assert_eq!(top_id(&a), Some(ScreenId::ExpertMain));
    assert_eq!(store.histories().unwrap().len(), 2, "nothing changed");
}

#[test]
fn files_filter_by_path_regex() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, _store) = images_app(dir.path());
    press(&mut a, &[KeyCode::Enter]);
    button(&mut a, 1);
    assert_eq!(top_id(&a), Some(ScreenId::ImageFiles));
    let all = ["/etc/hostname", "/etc/new", "/usr/bin/tool"];
    assert_eq!(top::<Files>(&a).shown_paths(), all);
    type_text(&mut a, "^/etc/");
    assert_eq!(
        top::<Files>(&a).shown_paths(),
        ["/etc/hostname", "/etc/new"]
    );
    let text = screen_text(&a);
    assert!(text.contains("2 of 3 files"), "{text}");
    assert!(text.contains("-rw-r--r--     0     0          4 /etc/hostname two!-hash"));
    // A bad regex says why and keeps the listing.
    type_text(&mut a, "(");
    assert_eq!(
        top::<Files>(&a).shown_paths(),
        ["/etc/hostname", "/etc/new"]
    );
    assert!(screen_text(&a).contains("not a regular expression"));
    press(&mut a, &[KeyCode::Backspace]);
    type_text(&mut a, "h");
    assert_eq!(top::<Files>(&a).shown_paths(), ["/etc/hostname"]);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ImageVersions("Debian".into())));
}

#[test]
fn diff_lists_files_packages_sizes_and_triggered_services() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, _store) = images_app(dir.path());
    press(&mut a, &[KeyCode::Enter]);
    button(&mut a, 2);
    assert_eq!(top_id(&a), Some(ScreenId::ImageDiffPick));
    // The version before the selected one is offered first.
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ImageDiff));
    let text = screen_text(&a);
    let lines = [
        "--- Debian@1",
        "+++ Debian@2",
        "+ /etc/new",
        "- /etc/motd",
        "M /etc/hostname (content)",
        "+ package curl 7.88",
        "- package vim 9",
        "~ package bash 5.1 -> 5.2",
        "1 added, 1 removed, 1 changed; files +1 bytes, image +2 bytes",
        "packages: +1 -1 ~1",
        "Triggers: hostname",
    ];
    for line in lines {
        assert!(text.contains(line), "{line}: {text}");
    }
    // The lines come in that order.
    let at: Vec<usize> = lines.iter().map(|l| text.find(l).unwrap()).collect();
    assert!(at.is_sorted(), "{text}");
}

#[test]
fn promote_asks_before_skipping_test() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, store) = images_app(dir.path());
    press(&mut a, &[KeyCode::Enter]);
    // Production for a version never in test: the question; No refuses.
    button(&mut a, 4);
    assert_eq!(top_id(&a), Some(ScreenId::ImagePromote));
    press(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::ConfirmSkipTest));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(
        message(&a),
        "Debian@2 was not promoted: it was never in the test channel (promote it to test first)"
    );
    assert!(history(&store).channels.is_empty());
    // Test, then production: no question.
    press(&mut a, &[KeyCode::Enter, KeyCode::Enter]);
    assert_eq!(message(&a), "Debian@2 is in the test channel");
    press(&mut a, &[KeyCode::Enter, KeyCode::Down, KeyCode::Enter]);
    assert_eq!(message(&a), "Debian@2 is in the production channel");
    // Version 1 to production, skipping test when asked.
    press(
        &mut a,
        &[KeyCode::Up, KeyCode::Enter, KeyCode::Down, KeyCode::Enter],
    );
    press(&mut a, &[KeyCode::Left, KeyCode::Enter]);
    assert_eq!(message(&a), "Debian@1 is in the production channel");
    let ix = history(&store);
    assert_eq!(ix.channels[&Channel::Test], 2);
    assert_eq!(ix.channels[&Channel::Production], 1);
    // The list says where the channels are.
    press(&mut a, &[KeyCode::Esc]);
    let text = screen_text(&a);
    assert!(text.contains("channels: test@2 production@1"), "{text}");
}

#[test]
fn tag_moves_and_refuses_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, store) = images_app(dir.path());
    press(&mut a, &[KeyCode::Enter]);
    button(&mut a, 3);
    assert_eq!(top_id(&a), Some(ScreenId::ImageTag));
    type_text(&mut a, "stable");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(message(&a), "Debian@2 is tagged stable");
    assert_eq!(history(&store).tags["stable"], 2);
    // A bad tag is refused as the command line refuses it.
    press(&mut a, &[KeyCode::Enter]);
    type_text(&mut a, "12");
    press(&mut a, &[KeyCode::Enter]);
    assert!(message(&a).starts_with("bad tag `12'"), "{}", message(&a));
    // The version went meanwhile (another process): one line says so.
    store.remove_version("Debian", 1, false).unwrap();
    press(&mut a, &[KeyCode::Up, KeyCode::Enter]);
    type_text(&mut a, "old");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(
        message(&a),
        "`Debian' has no version 1 (it has 2; see `images list')"
    );
    assert_eq!(history(&store).tags.len(), 1);
    press(&mut a, &[KeyCode::Esc]);
    let text = screen_text(&a);
    assert!(
        text.contains("Debian  @2  1 version  tags: stable@2"),
        "{text}"
    );
}

#[test]
fn an_empty_store_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let mut a = app();
    a.facts.cloud.store = Some(root.clone());
    a.apply(vec![Action::Push(Box::new(Images::new(&a.facts)))]);
    assert!(message(&a).starts_with("No images registered yet"));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Images));
    assert!(!root.exists());
}
