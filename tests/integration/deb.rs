//! The Debian package: built by scripts/deb.sh from the binary under
//! test, installed with `dpkg --root` into an empty root, run, listed and
//! removed again.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn dpkg(root: &Path, args: &[&str]) -> Run {
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(args))
}

/// An empty dpkg database under `root`.
fn empty_root(root: &Path) {
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
}

#[test]
fn package_installs_both_names_pages_and_completions() {
    let tmp = scratch();
    let built = run(
        Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/deb.sh"))
            .arg(tmp.path().join("out"))
            .env("SNF_BIN", env!("CARGO_BIN_EXE_snf-image-creator")),
    );
    assert_eq!(built.code, 0, "deb.sh: {}", built.stderr);
    let deb = built.stdout.trim().to_owned();
    let fields = run(Command::new("dpkg-deb").args(["-f", &deb, "Package", "Version", "Depends"]));
    assert!(
        fields
            .stdout
            .contains(concat!("Version: ", env!("CARGO_PKG_VERSION")))
    );
    for dep in [
        "libguestfs0",
        "libc6",
        "qemu-utils (>= 1:10)",
        "qemu-system-x86 (>= 1:10)",
        "gdisk",
    ] {
        assert!(
            fields.stdout.contains(dep),
            "Depends lacks {dep}: {}",
            fields.stdout
        );
    }

    let root = tmp.path().join("root");
    empty_root(&root);
    let installed = dpkg(
        &root,
        &["--force-depends", "--force-script-chrootless", "-i", &deb],
    );
    assert_eq!(installed.code, 0, "dpkg -i: {}", installed.stderr);
    let listed = dpkg(&root, &["-L", "snf-image-creator"]).stdout;
    for file in [
        "/usr/bin/snf-image-creator",
        "/usr/bin/snf-mkimage",
        "/usr/share/man/man1/snf-mkimage.1.gz",
        "/usr/share/man/man1/snf-image-creator-images.1.gz",
        "/usr/share/bash-completion/completions/snf-mkimage",
        "/usr/share/zsh/vendor-completions/_snf-image-creator",
        "/usr/share/fish/vendor_completions.d/snf-mkimage.fish",
        "/usr/share/doc/snf-image-creator/copyright",
    ] {
        assert!(
            listed.lines().any(|l| l == file),
            "{file} not in the package:\n{listed}"
        );
        assert!(root.join(&file[1..]).exists(), "{file} not installed");
    }
    let version = run(Command::new(root.join("usr/bin/snf-mkimage")).arg("--version"));
    assert_eq!(
        version.stdout.trim(),
        concat!("snf-mkimage ", env!("CARGO_PKG_VERSION"))
    );
    let page = run(Command::new("man")
        .env("LANG", "C")
        .args(["-P", "cat", "-l"])
        .arg(root.join("usr/share/man/man1/snf-mkimage.1.gz")));
    assert!(page.stdout.contains("--print-syspreps"), "{}", page.stdout);

    let removed = dpkg(
        &root,
        &["--force-script-chrootless", "-r", "snf-image-creator"],
    );
    assert_eq!(removed.code, 0, "dpkg -r: {}", removed.stderr);
    assert!(!root.join("usr/bin/snf-image-creator").exists());
    assert!(!root.join("usr/share/man/man1/snf-mkimage.1.gz").exists());
}
