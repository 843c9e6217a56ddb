//! Boot tests: an exported image is booted by `snf-image-creator
//! boot-test` (qemu with the image's own boot loader, software emulation
//! here, KVM where it works, the serial console watched) and must print
//! the fixture's boot marker in time.

use std::path::Path;
use std::time::Duration;

use crate::export::{Prep, export};
use crate::support::*;

/// What the bootable fixture's systemd unit prints once the system is up
/// (tests/fixtures/mk-disk.sh, BOOT_MARKER).
pub const MARKER: &str = "snf-image-creator-fixture-booted";

/// Under software emulation the fixture reaches its marker in 30–40 s on
/// an idle machine; allow for a busy one.
pub const LIMIT: Duration = Duration::from_secs(300);

/// Boot `image` with `snf-image-creator boot-test` on an IDE disk (the
/// fixtures name their disk /dev/sda) and wait for `marker`. Returns the
/// time it took, or the command's error on failure.
pub fn boot_to_marker(image: &Path, marker: &str, limit: Duration) -> Result<Duration, String> {
    let dir = scratch();
    let r = run(creator()
        .args(["boot-test", "--json", "--bus", "ide", "--marker", marker])
        .args(["--timeout", &limit.as_secs().to_string(), "--tmpdir"])
        .arg(dir.path())
        .arg(image));
    assert_empty_dir(dir.path());
    if r.code != 0 {
        return Err(format!("exit {}: {}", r.code, r.stderr));
    }
    let doc: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("boot-test --json printed {:?}: {e}", r.stdout));
    let b = &doc["boot_test"];
    assert_eq!(
        (&b["booted"], &b["marker"]),
        (&true.into(), &marker.into()),
        "{doc}"
    );
    Ok(Duration::from_secs_f64(b["seconds"].as_f64().unwrap()))
}

/// A disk with no boot loader never reaches the prompt: `boot-test` fails
/// with its one line and exit 1, and leaves no qemu and no file behind.
#[test]
fn boot_test_fails_on_an_image_that_does_not_boot() {
    let image = fixture_file("no-os.raw");
    let before = sha256_file(&image);
    let dir = scratch();
    let console = dir.path().join("console.log");
    let r = run(creator()
        .args(["boot-test", "--timeout", "15", "--console"])
        .arg(&console)
        .arg("--tmpdir")
        .arg(dir.path())
        .arg(&image));
    r.assert_error(1, "did not print \"login:\" on its console within 15 s");
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(kept, ["console.log"], "only the console log is kept");
    assert_no_process_mentions(image.to_str().unwrap());
    assert_eq!(sha256_file(&image), before, "the image changed");
}

/// The bootable fixture (GPT, EXTLINUX, LegacyBIOSBootable root), shrunk by
/// a default run, still boots to its marker.
#[test]
fn shrunk_bootable_image_boots() {
    let e = export("debian-gpt-bootable.raw", Prep::Defaults);
    match boot_to_marker(&e.image, MARKER, LIMIT) {
        Ok(took) => eprintln!("booted to the marker in {}s", took.as_secs()),
        Err(why) => panic!("{} did not boot: {why}", e.image.display()),
    }
}
