//! The wizard's VirtIO page: shown for a Windows guest only, counted in
//! the pages' "(i/N)", its directory checked and carried into the run.

use std::path::Path;

use ratatui::crossterm::event::KeyCode;

use super::App;
use super::app::ScreenId;
use super::component::Action;
use super::customize_tests::{driver_dir, windows_app};
use super::tests::{answers, app, ctrl_u, press, screen_text, snapshot, top_id, type_text};
use super::wizard::Page;

/// The wizard, from its first page, through Next `n` times.
fn wizard_at(a: &mut App, n: usize) {
    a.apply(vec![Action::Wizard]);
    press(a, &vec![KeyCode::Enter; n]);
}

#[test]
fn windows_wizard_asks_for_virtio_drivers_and_runs_with_them() {
    let drivers = driver_dir();
    let mut a = windows_app();
    wizard_at(&mut a, 3);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::VirtIO)));
    snapshot("wizard_virtio", &a);
    // A directory without drivers is refused, and the page stays.
    type_text(&mut a, "/nonexistent/virtio");
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Notice));
    assert!(screen_text(&a).contains("/nonexistent/virtio cannot be used"));
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::VirtIO)));
    ctrl_u(&mut a);
    type_text(&mut a, drivers.path().to_str().unwrap());
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Registration)));
    assert!(screen_text(&a).contains("(5/7) Registration Type"));
    assert_eq!(answers(&a).virtio.as_deref(), Some(drivers.path()));
    press(&mut a, &[KeyCode::Enter; 2]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Confirm)));
    let shown = format!("* VirtIO Drivers: {}", drivers.path().display());
    assert!(screen_text(&a).contains(&shown), "{}", screen_text(&a));
    // The run installs them: the request passes the command line's
    // validation, which enables install-virtio.
    let r = a.facts.wizard_request(&answers(&a)).unwrap();
    assert_eq!(r.sysprep.install_virtio.as_deref(), Some(drivers.path()));
    let opts = r.sysprep.validate().unwrap();
    assert!(opts.selection.enable.contains(&"install-virtio".to_owned()));
    // Back to the page: the directory is kept; emptied, none is installed.
    press(&mut a, &[KeyCode::Tab, KeyCode::Enter]);
    press(
        &mut a,
        &[KeyCode::Left, KeyCode::Enter, KeyCode::Left, KeyCode::Enter],
    );
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::VirtIO)));
    ctrl_u(&mut a);
    press(&mut a, &[KeyCode::Enter]);
    assert_eq!(answers(&a).virtio, None);
    let r = a.facts.wizard_request(&answers(&a)).unwrap();
    assert_eq!(r.sysprep.install_virtio, None);
}

#[test]
fn windows_wizard_starts_from_the_expert_choice() {
    let mut a = windows_app();
    a.facts.sysprep.virtio = Some(Path::new("/srv/virtio-win").to_owned());
    wizard_at(&mut a, 0);
    assert!(screen_text(&a).contains("(1/7) Clouds"));
    assert_eq!(
        answers(&a).virtio.as_deref(),
        Some(Path::new("/srv/virtio-win"))
    );
}

#[test]
fn linux_wizard_has_no_virtio_page() {
    let mut a = app();
    wizard_at(&mut a, 0);
    assert!(screen_text(&a).contains("(1/6) Clouds"));
    press(&mut a, &[KeyCode::Enter; 3]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Registration)));
    assert!(screen_text(&a).contains("(4/6) Registration Type"));
    press(&mut a, &[KeyCode::Enter; 2]);
    assert_eq!(top_id(&a), Some(ScreenId::Wizard(Page::Confirm)));
    assert!(!screen_text(&a).contains("VirtIO"), "{}", screen_text(&a));
    let r = a.facts.wizard_request(&answers(&a)).unwrap();
    assert_eq!(r.sysprep.install_virtio, None);
}
