//! Hostile guest data: an image whose files are too big, binary garbage or
//! a YAML bomb is still made into an image. Each such file is one warning
//! naming it, the run goes on and ends with exit code 0, nothing is left
//! behind and the source is untouched.
//!
//! The hostile image is a flat copy of the Debian fixture (no backing file)
//! with the files planted by guestfish: one helper VM to build it, one for
//! the run that checks all three files.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// 64 MiB: far over the 1 MiB read of a configuration file (sparse, so
/// it costs no space in the guest).
const OVERSIZED: u64 = 64 << 20;

/// Deterministic binary garbage: NULs, invalid UTF-8, colons, newlines.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Nine levels of ten aliases each: 10^9 nodes once expanded.
fn yaml_bomb() -> String {
    let mut bomb = String::from(
        "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for (name, prev) in ('b'..='i').zip('a'..) {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    bomb.push_str("users: *i\n");
    bomb
}

/// A flat qcow2 copy of `src` with the hostile files planted.
fn hostile_copy(src: &Path, dir: &Path) -> std::path::PathBuf {
    let img = dir.join("hostile.qcow2");
    let st = Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "qcow2"])
        .arg(src)
        .arg(&img)
        .status()
        .expect("running qemu-img");
    assert!(st.success(), "qemu-img convert failed");
    let passwd = dir.join("passwd");
    std::fs::write(&passwd, garbage(8192)).unwrap();
    let bomb = dir.join("cloud.cfg");
    std::fs::write(&bomb, yaml_bomb()).unwrap();
    let script = format!(
        "rm-f /etc/os-release\n\
         touch /etc/os-release\n\
         truncate-size /etc/os-release {OVERSIZED}\n\
         upload {} /etc/passwd\n\
         upload {} /etc/cloud/cloud.cfg\n",
        passwd.display(),
        bomb.display()
    );
    // KVM may be unusable here; guestfish, unlike the product, does not
    // fall back to software emulation by itself.
    let out = Command::new("guestfish")
        .env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .args(["--rw", "-a"])
        .arg(&img)
        .arg("-i")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .expect("running guestfish");
    assert!(
        out.status.success(),
        "guestfish failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    img
}

#[test]
fn hostile_guest_files_are_warnings() {
    let (src, _) = fixture("debian-mbr.qcow2");
    let dir = scratch();
    let img = hostile_copy(&src, dir.path());
    let before = sha256_file(&img);
    let tmp = scratch();
    let out = dir.path().join("out.diskdump");
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        // The task that reads /etc/passwd is not on by default.
        .args(["--enable-sysprep", "remove-user-accounts", "-o"])
        .arg(&out)
        .arg(&img));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for text in [
        "panicked",
        "RUST_BACKTRACE",
        "stack overflow",
        "memory allocation",
    ] {
        assert!(!r.stderr.contains(text), "{text} in stderr:\n{}", r.stderr);
    }
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("Warning:"))
        .collect();
    let warned = |what: &str, file: &str| {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(file) && w.contains(what)),
            "no warning about {what} naming {file}:\n{}",
            r.stderr
        );
    };
    // 1. An oversized /etc/os-release.
    warned(&format!("{OVERSIZED} bytes"), "/etc/os-release");
    // 2. Binary garbage in /etc/passwd.
    warned("malformed", "/etc/passwd");
    // 3. A cloud-init YAML bomb.
    warned("aliases are expanded", "/etc/cloud/cloud.cfg");
    assert!(out.exists(), "no image was written");
    assert_eq!(sha256_file(&img), before, "the source changed");
    assert_empty_dir(tmp.path());
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    assert_no_process_mentions(&img.to_string_lossy());
}
