//! The Customize entries added to expert mode (Sysprep, Mount, VirtIO):
//! their screens at 80×24 and key sequences through them. Jobs are not
//! started here; their progress events and ends are fed in as a job would
//! send them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ratatui::crossterm::event::KeyCode;

use super::app::{Screen, ScreenId};
use super::component::Action;
use super::job::{JobKind, RunView};
use super::tests::{app, ctrl_u, press, screen_text, snapshot, top_id, type_text};
use super::{App, AppEvent};
use crate::pipeline::Outcome;
use crate::progress::Event;
use crate::sysprep::TaskOutcome;
use crate::sysprep::changes::{Planned, dry_run_text};

/// Expert → Customize → the entry at `index`.
fn customize(a: &mut App, index: usize) {
    a.apply(vec![Action::Expert]);
    press(a, &[KeyCode::Enter]);
    press(a, &vec![KeyCode::Down; index]);
    press(a, &[KeyCode::Enter]);
}

/// What a finished job hands back, enough for the screens.
pub(super) fn outcome() -> Box<Outcome> {
    Box::new(Outcome {
        source: crate::media::Source {
            path: PathBuf::from("/images/debian.qcow2"),
            kind: crate::media::source::SourceKind::File,
            format: "qcow2".into(),
            size: 2 << 30,
            chain: crate::media::chain::Chain {
                layers: vec![crate::media::chain::Layer {
                    path: PathBuf::from("/images/debian.qcow2"),
                    format: "qcow2".into(),
                }],
            },
        },
        os: None,
        metadata: Default::default(),
        unsupported: None,
        size: 2 << 30,
        digests: None,
        written: Vec::new(),
        tasks: Vec::new(),
        image: None,
        uploaded: None,
        shrink: None,
        secrets: Vec::new(),
        manifest: None,
        packages: None,
        package_changes: None,
        not_generalized: None,
    })
}

#[test]
fn customize_menu_in_the_original_order() {
    let mut a = app();
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Customize));
    snapshot("customize_menu", &a);
    let text = screen_text(&a);
    let at = |w: &str| text.find(w).unwrap();
    assert!(at("Mount") < at("VirtIO") && at("VirtIO") < at("Sysprep"));
    assert!(at("Sysprep") < at("Properties") && at("Properties") < at("Exclude"));
}

#[test]
fn sysprep_untick_and_parameter_reach_the_extract_request() {
    let mut a = app();
    customize(&mut a, 2);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepTasks));
    snapshot("sysprep_tasks", &a);
    // Untick cleanup-tmp (the second task), then Params.
    press(&mut a, &[KeyCode::Down, KeyCode::Char(' ')]);
    press(&mut a, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepParams));
    snapshot("sysprep_params", &a);
    // bootmenu_timeout is the second parameter.
    press(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    let param = Some(ScreenId::SysprepParam("bootmenu_timeout".into()));
    assert_eq!(top_id(&a), param);
    snapshot("sysprep_param_input", &a);
    // Refused as --sysprep-param refuses it; the field stays.
    ctrl_u(&mut a);
    type_text(&mut a, "0");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Notice));
    snapshot("sysprep_param_rejected", &a);
    assert!(screen_text(&a).contains("`0` is not a positive integer"));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), param);
    press(&mut a, &[KeyCode::Backspace]);
    type_text(&mut a, "3");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepParams));
    assert!(screen_text(&a).contains("bootmenu_timeout    3"));
    // Back to the checklist, OK.
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    press(
        &mut a,
        &[KeyCode::BackTab, KeyCode::BackTab, KeyCode::Enter],
    );
    assert_eq!(top_id(&a), Some(ScreenId::Customize));
    let r = a
        .facts
        .export_request(Path::new("/tmp/x.diskdump"))
        .unwrap();
    assert_eq!(r.sysprep.disable, vec!["cleanup-tmp".to_string()]);
    assert!(r.sysprep.enable.is_empty());
    assert_eq!(r.sysprep.params, vec!["bootmenu_timeout=3".to_string()]);
    assert!(!r.sysprep.dry_run);
    // The request goes through the same validation as the command line.
    let opts = r.sysprep.validate().unwrap();
    assert_eq!(opts.params.int("bootmenu_timeout"), 3);
    assert_eq!(opts.selection.disable, vec!["cleanup-tmp".to_string()]);
    // The checklist shows the choices when opened again.
    press(&mut a, &[KeyCode::Enter]);
    assert!(screen_text(&a).contains("[ ] cleanup-tmp"));
    assert!(screen_text(&a).contains("[X] cleanup-cache"));
}

#[test]
fn sysprep_back_drops_unsaved_ticks_and_default_value_is_dropped() {
    let mut a = app();
    customize(&mut a, 2);
    press(&mut a, &[KeyCode::Char(' '), KeyCode::Esc]);
    assert!(a.facts.sysprep.tasks.is_empty());
    // Ticking an off-by-default task enables it.
    press(&mut a, &[KeyCode::Enter]);
    press(&mut a, &[KeyCode::Down, KeyCode::Down, KeyCode::Down]);
    press(&mut a, &[KeyCode::Char(' '), KeyCode::Enter]);
    let r = a
        .facts
        .export_request(Path::new("/tmp/x.diskdump"))
        .unwrap();
    assert_eq!(r.sysprep.enable, vec!["cleanup-mail".to_string()]);
    // A parameter set back to its default is not passed on.
    press(
        &mut a,
        &[KeyCode::Enter, KeyCode::Tab, KeyCode::Tab, KeyCode::Enter],
    );
    press(&mut a, &[KeyCode::Down, KeyCode::Down, KeyCode::Enter]);
    ctrl_u(&mut a);
    type_text(&mut a, "/sbin/poweroff");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(a.facts.sysprep.params["powerbtn_action"], "/sbin/poweroff");
    press(&mut a, &[KeyCode::Enter, KeyCode::Tab, KeyCode::Enter]);
    assert!(a.facts.sysprep.params.is_empty(), "Default drops the value");
}

#[test]
fn sysprep_help_describes_the_task_under_the_cursor() {
    let mut a = app();
    customize(&mut a, 2);
    press(&mut a, &[KeyCode::Down]);
    for _ in 0..3 {
        press(&mut a, &[KeyCode::Tab]);
    }
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepHelp));
    snapshot("sysprep_help", &a);
    let text = screen_text(&a);
    assert!(text.contains("cleanup-tmp: Removing files under /tmp and /var/tmp"));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepTasks));
}

#[test]
fn sysprep_preview_shows_the_dry_run_listing() {
    let mut a = app();
    customize(&mut a, 2);
    press(&mut a, &[KeyCode::Down, KeyCode::Char(' '), KeyCode::Enter]);
    let r = a.facts.preview_request().unwrap();
    assert!(r.sysprep.dry_run && r.outfile.is_none());
    assert_eq!(r.sysprep.disable, vec!["cleanup-tmp".to_string()]);
    assert!(r.validate().is_err(), "the made-up source does not exist");
    // As the job started from the checklist would report it.
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepTasks));
    a.stack
        .push(Screen::Running(RunView::new("System Preparation Preview")));
    let outcomes = [TaskOutcome {
        name: "cleanup-cache",
        message: "Removing files under /var/cache",
        changes: vec![Planned {
            action: "delete",
            path: "/var/cache/man/index.db".into(),
            bytes: 3 << 20,
        }],
        freed: 3 << 20,
        duration: Duration::from_millis(3),
    }];
    let listing = crate::progress::Listing {
        text: dry_run_text(&outcomes),
        json: serde_json::Value::Null,
    };
    a.on_event(AppEvent::Progress(Event::Listing(listing)));
    a.on_event(AppEvent::JobDone(JobKind::Preview, Ok(outcome())));
    assert_eq!(top_id(&a), Some(ScreenId::SysprepPreview));
    snapshot("sysprep_preview", &a);
    assert!(screen_text(&a).contains("/var/cache/man/index.db"));
}

#[test]
fn sysprep_is_not_offered_for_unsupported_media() {
    let mut a = app();
    if let Some(s) = &mut a.facts.session {
        s.unsupported = Some("the media contains logical volumes".into());
    }
    customize(&mut a, 2);
    assert_eq!(top_id(&a), Some(ScreenId::Notice));
    assert!(screen_text(&a).contains("not offered for unsupported media"));
}

#[test]
fn mount_screen_and_its_end() {
    let mut a = app();
    a.apply(vec![Action::Expert]);
    press(&mut a, &[KeyCode::Enter]);
    // The run's owner and view, then its "mounted" event.
    let release = crate::pipeline::mount::Release::default();
    let mount = super::mount::Mount::new(release, false);
    a.stack.push(Screen::Component(Box::new(mount)));
    a.stack.push(Screen::Running(RunView::new("Mount")));
    let dir = PathBuf::from("/var/tmp/.snf_image_creator.Ab12Cd/guest");
    a.on_event(AppEvent::Progress(Event::Mounted(dir)));
    assert_eq!(top_id(&a), Some(ScreenId::Mounted));
    snapshot("mount_mounted", &a);
    press(&mut a, &[KeyCode::Enter]);
    assert!(matches!(a.stack.last(), Some(Screen::Running(_))));
    a.on_event(AppEvent::JobDone(JobKind::Mount, Ok(outcome())));
    assert!(screen_text(&a).contains("The guest was unmounted"));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Customize));
}

#[test]
fn mount_warns_before_changing_the_original() {
    let mut a = app();
    a.facts.opts.no_snapshot = true;
    customize(&mut a, 0);
    assert_eq!(top_id(&a), Some(ScreenId::ConfirmMountOriginal));
    assert!(screen_text(&a).contains("changes the ORIGINAL media"));
    press(&mut a, &[KeyCode::Enter]);
    assert!(a.job.is_none(), "No is the default");
}

#[test]
fn later_runs_start_from_the_session_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("disk.raw");
    std::fs::write(&original, vec![0u8; 1 << 20]).unwrap();
    let mut a = app();
    if let Some(s) = &mut a.facts.session {
        s.source = original.clone();
        s.format = "raw".into();
    }
    a.facts.opts.tmpdir = Some(dir.path().to_owned());
    let scratch = crate::pipeline::mount::SessionOverlay::create(
        &original,
        &"raw".into(),
        Some(dir.path()),
        true,
    )
    .unwrap();
    let overlay = scratch.overlay().unwrap().to_owned();
    a.facts.mount.scratch = Some(scratch);
    let r = a
        .facts
        .export_request(Path::new("/tmp/x.diskdump"))
        .unwrap();
    assert_eq!(r.source, overlay);
    assert!(!r.no_snapshot, "snapshotted as usual");
    assert!(a.facts.status_line().contains(original.to_str().unwrap()));
    drop(a);
    assert!(!overlay.exists(), "leaving removes the overlay");
}

#[test]
fn virtio_says_linux_needs_none() {
    let mut a = app();
    customize(&mut a, 1);
    assert_eq!(top_id(&a), Some(ScreenId::Notice));
    snapshot("virtio_notice", &a);
    let text = screen_text(&a);
    assert!(text.contains("VirtIO drivers are needed by Windows guests only; Linux has"));
    assert!(text.contains("them built in."));
}

#[test]
fn a_run_that_shrank_the_image_shows_in_the_status_line() {
    let mut a = app();
    a.stack
        .push(Screen::Running(RunView::new("Image Extraction")));
    let mut done = outcome();
    done.size = 289 << 20;
    done.shrink = Some(crate::guest::shrink::ShrinkOutcome {
        old_size: 2 << 30,
        new_size: 289 << 20,
        swap: None,
        filesystem: Some("ext4".into()),
    });
    a.on_event(AppEvent::JobDone(JobKind::Extract, Ok(done)));
    assert!(
        a.facts.status_line().contains("Size: 289 MB (shrunk)"),
        "{}",
        a.facts.status_line()
    );
    // A run that did not shrink leaves the status line as it was.
    a.stack
        .push(Screen::Running(RunView::new("Image Extraction")));
    a.on_event(AppEvent::JobDone(JobKind::Extract, Ok(outcome())));
    assert!(a.facts.status_line().contains("Size: 289 MB (shrunk)"));
}

/// An app over a Windows session.
pub(super) fn windows_app() -> App {
    let mut a = app();
    if let Some(os) = a.facts.session.as_mut().and_then(|s| s.os.as_mut()) {
        os.family = crate::guest::OsFamily::Windows;
        os.distro = crate::guest::Distro::Windows;
    }
    a
}

/// A driver directory `check_dir` accepts: one viostor INF.
pub(super) fn driver_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let inf = dir.path().join("viostor/w10/amd64");
    std::fs::create_dir_all(&inf).unwrap();
    let text = "[Version]\r\nSignature = \"$WINDOWS NT$\"\r\n\
        [Manufacturer]\r\nRH = rh, NTamd64.10.0\r\n\
        [rh.NTamd64.10.0]\r\nD = viostor_inst, PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4\r\n";
    std::fs::write(inf.join("viostor.inf"), text).unwrap();
    dir
}

fn install_virtio(a: &App) -> Option<PathBuf> {
    let r = a.facts.export_request(Path::new("/tmp/x.diskdump"));
    r.unwrap().sysprep.install_virtio
}

#[test]
fn virtio_page_keeps_a_checked_directory_for_later_runs() {
    let drivers = driver_dir();
    let mut a = windows_app();
    customize(&mut a, 1);
    assert_eq!(top_id(&a), Some(ScreenId::VirtIO));
    assert!(screen_text(&a).contains("Chosen now: none"));
    type_text(&mut a, drivers.path().to_str().unwrap());
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Customize));
    assert_eq!(install_virtio(&a).as_deref(), Some(drivers.path()));
    // The request passes the command line's validation, which adds the task.
    let r = a
        .facts
        .export_request(Path::new("/tmp/x.diskdump"))
        .unwrap();
    let opts = r.sysprep.validate().unwrap();
    assert!(opts.selection.enable.contains(&"install-virtio".to_owned()));
    let preview = a.facts.preview_request().unwrap();
    assert_eq!(
        preview.sysprep.install_virtio.as_deref(),
        Some(drivers.path())
    );
    // Opened again, the page shows the choice; Clear drops it.
    press(&mut a, &[KeyCode::Enter]);
    let shown = format!("Chosen now: {}", drivers.path().display());
    assert!(screen_text(&a).contains(&shown), "{}", screen_text(&a));
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Customize));
    assert_eq!(install_virtio(&a), None);
}

#[test]
fn virtio_page_refuses_a_directory_without_drivers() {
    let empty = tempfile::tempdir().unwrap();
    let mut a = windows_app();
    a.facts.sysprep.virtio = Some(PathBuf::from("/srv/virtio-win"));
    customize(&mut a, 1);
    snapshot("virtio_page", &a);
    ctrl_u(&mut a);
    type_text(&mut a, empty.path().to_str().unwrap());
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Notice));
    let text = screen_text(&a);
    assert!(text.contains("no VirtIO driver found"), "{text}");
    assert!(!text.contains("--install-virtio"), "{text}");
    assert_eq!(
        install_virtio(&a).as_deref(),
        Some(Path::new("/srv/virtio-win")),
        "the earlier choice stays"
    );
    // The field stays to be mended; an empty one clears the choice.
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::VirtIO));
    ctrl_u(&mut a);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(install_virtio(&a), None);
}

/// The app over a FreeBSD session, as inspection reports one.
fn freebsd_app() -> App {
    let mut a = app();
    let s = a.facts.session.as_mut().unwrap();
    s.os = Some(crate::guest::OsInfo {
        family: crate::guest::OsFamily::FreeBsd,
        distro: crate::guest::Distro::FreeBsd,
        ..Default::default()
    });
    s.source = "/images/freebsd.raw".into();
    s.inputs = vec![s.source.clone()];
    s.format = "raw".into();
    for (k, v) in [("OSFAMILY", "freebsd"), ("OS", "freebsd")] {
        s.metadata.insert(k.into(), v.into());
    }
    a
}

#[test]
fn sysprep_page_of_a_bsd_guest_lists_and_passes_on_the_bsd_table() {
    let mut a = freebsd_app();
    customize(&mut a, 2);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepTasks));
    snapshot("sysprep_tasks_freebsd", &a);
    let text = screen_text(&a);
    for shown in [
        "[X] cleanup-password",
        "[X] remove-ssh-host-keys",
        "[X] remove-host-id",
        "[ ] cleanup-mail",
    ] {
        assert!(text.contains(shown), "{shown} missing:\n{text}");
    }
    assert!(
        !text.contains("fix-acpid"),
        "a Linux task is offered:\n{text}"
    );
    // Help names the BSD password file.
    let row = |a: &App, name: &str| {
        let items = screen_text(a);
        let rows = items
            .lines()
            .filter(|l| l.contains("] "))
            .collect::<Vec<_>>();
        rows.iter().position(|l| l.contains(name)).unwrap()
    };
    let password = row(&a, "cleanup-password");
    press(&mut a, &vec![KeyCode::Down; password]);
    press(
        &mut a,
        &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab, KeyCode::Enter],
    );
    assert_eq!(top_id(&a), Some(ScreenId::SysprepHelp));
    assert!(screen_text(&a).contains("/etc/master.passwd"));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::SysprepTasks));
    press(
        &mut a,
        &[KeyCode::BackTab, KeyCode::BackTab, KeyCode::BackTab],
    );
    // Untick remove-host-id, tick cleanup-mail, OK.
    let host_id = row(&a, "remove-host-id");
    let mail = row(&a, "cleanup-mail");
    press(&mut a, &[KeyCode::Home]);
    press(&mut a, &vec![KeyCode::Down; mail]);
    press(&mut a, &[KeyCode::Char(' ')]);
    press(&mut a, &vec![KeyCode::Down; host_id - mail]);
    press(&mut a, &[KeyCode::Char(' '), KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Customize));
    let r = a
        .facts
        .export_request(Path::new("/tmp/x.diskdump"))
        .unwrap();
    assert_eq!(r.sysprep.disable, vec!["remove-host-id".to_string()]);
    assert_eq!(r.sysprep.enable, vec!["cleanup-mail".to_string()]);
    // What runs is the BSD table with those two changes.
    let opts = r.sysprep.validate().unwrap();
    let os = a.facts.session.as_ref().unwrap().os.clone().unwrap();
    let table = crate::sysprep::tasks_for(&crate::guest::profile::profile_for(&os));
    let runs: Vec<&str> = crate::sysprep::runner::enabled(&table, &opts)
        .iter()
        .map(|t| t.name)
        .collect();
    assert!(runs.contains(&"cleanup-password") && runs.contains(&"cleanup-mail"));
    assert!(!runs.contains(&"remove-host-id"), "{runs:?}");
    // The preview is a dry run with the same choices.
    let preview = a.facts.preview_request().unwrap();
    assert!(preview.sysprep.dry_run);
    assert_eq!(preview.sysprep.enable, r.sysprep.enable);
}
