//! Bad input: each case gets one clear `Error:` line, the right exit code,
//! an empty work area, no helper process left, and the source untouched.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Run snf-mkimage with `--tmpdir` pointing at a fresh directory, then check
/// the error, the exit code and that the tmpdir is empty.
fn expect_error(args: &[&str], code: i32, text: &str) -> Run {
    let tmp = scratch();
    let r = run(mkimage().arg("--tmpdir").arg(tmp.path()).args(args));
    r.assert_error(code, text);
    assert_empty_dir(tmp.path());
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    r
}

#[test]
fn refusals_before_the_media_is_opened() {
    let dir = scratch();
    let d = dir.path();
    let out = d.join("out.diskdump");
    let out = out.to_str().unwrap();
    let (img, _) = fixture("debian-mbr.qcow2");
    let img = img.to_str().unwrap();
    let before = sha256_file(Path::new(img));

    // 1. A source that does not exist.
    expect_error(
        &["-o", out, "/nonexistent/disk.img"],
        2,
        "/nonexistent/disk.img does not exist",
    );
    // 2. An output directory that does not exist.
    expect_error(
        &["-o", "/nonexistent/dir/out.diskdump", img],
        2,
        "output directory /nonexistent/dir: no such directory",
    );
    // 3. An output that exists, without -f; the existing file is kept.
    std::fs::write(d.join("out.diskdump.md5sum"), b"keep me").unwrap();
    expect_error(
        &["-o", out, img],
        2,
        "out.diskdump.md5sum already exists: use -f",
    );
    assert_eq!(
        std::fs::read(d.join("out.diskdump.md5sum")).unwrap(),
        b"keep me"
    );
    let other = d.join("other.diskdump");
    let out = other.to_str().unwrap();
    // 4. A metadata key with characters other than letters, digits and _.
    expect_error(&["-m", "BAD-KEY=1", "-o", out, img], 2, "BAD-KEY");
    // 5. A metadata option without `=`.
    expect_error(&["-m", "NOVALUE", "-o", out, img], 2, "NOVALUE");
    // 6. A --tmpdir that does not exist.
    let r = run(mkimage().args(["--tmpdir", "/nonexistent/tmp", "-o", out, img]));
    r.assert_error(2, "--tmpdir /nonexistent/tmp: no such directory");
    // 7. Nothing asked for.
    expect_error(&[img], 2, "nothing to do");
    // 8. -o naming a directory.
    expect_error(&["-o", d.to_str().unwrap(), img], 2, "is a directory");

    assert_eq!(sha256_file(Path::new(img)), before, "the source changed");
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "only the pre-existing file may remain: {left:?}"
    );
}

#[test]
fn refusals_after_examining_the_media() {
    let dir = scratch();
    let d = dir.path();
    let out = d.join("out.diskdump");
    let out = out.to_str().unwrap();

    // 9. A directory as the source.
    expect_error(
        &["-o", out, d.to_str().unwrap()],
        1,
        "is a directory: give a disk image",
    );
    // 10. An empty file.
    let empty = d.join("empty.img");
    std::fs::write(&empty, b"").unwrap();
    expect_error(&["-o", out, empty.to_str().unwrap()], 1, "is empty");
    // 11. A truncated qcow2.
    let truncated = fixture_file("truncated.qcow2");
    let before = sha256_file(&truncated);
    expect_error(
        &["-o", out, truncated.to_str().unwrap()],
        1,
        "damaged qcow2 image",
    );
    assert_eq!(sha256_file(&truncated), before);
    // 12. A file the user cannot read (run as `nobody`: root reads everything).
    let secret = d.join("secret.img");
    std::fs::write(&secret, vec![0u8; 1 << 20]).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let tmp = scratch();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let bin = env!("CARGO_BIN_EXE_snf-image-creator");
    let r = run(Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            bin,
            "mkimage",
            "--tmpdir",
        ])
        .arg(tmp.path())
        .args(["-o", &d.join("nobody.diskdump").to_string_lossy()])
        .arg(&secret));
    r.assert_error(1, "permission denied");
    assert_empty_dir(tmp.path());

    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "no output may be left: {left:?}");
}

#[test]
fn media_without_an_operating_system() {
    let dir = scratch();
    let out = dir.path().join("out.diskdump");
    // 13. Random bytes: probed as raw, and no OS found in them.
    let random = fixture_file("random.raw");
    let before = sha256_file(&random);
    expect_error(
        &["-o", out.to_str().unwrap(), random.to_str().unwrap()],
        1,
        "the media is not supported: no operating system was found on the media (use --allow-unsupported",
    );
    assert_eq!(sha256_file(&random), before);
    // 14. A partitioned disk with an empty filesystem.
    let no_os = fixture_file("no-os.raw");
    let before = sha256_file(&no_os);
    expect_error(
        &["-o", out.to_str().unwrap(), no_os.to_str().unwrap()],
        1,
        "no operating system was found",
    );
    // ...which --allow-unsupported exports as it is, marked for snf-image.
    let tmp = scratch();
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .args(["--allow-unsupported", "-o", out.to_str().unwrap()])
        .arg(&no_os));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Warning: the media is not supported"),
        "{}",
        r.stderr
    );
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out.diskdump.meta")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["properties"]["EXCLUDE_ALL_TASKS"], "yes");
    assert_eq!(
        meta["properties"]["UNSUPPORTED"],
        "no operating system was found on the media"
    );
    assert_eq!(
        md5_file(&out),
        md5_file(&no_os),
        "unsupported media are exported as they are"
    );
    assert_eq!(sha256_file(&no_os), before);
    assert_empty_dir(tmp.path());
}
