//! Rows about directory and tarball sources: unreadable trees, corrupt
//! tarballs, filters that are wrong or leave nothing, and a copy
//! interrupted half-way.

use std::process::Command;

use nix::sys::signal::Signal;

use super::{Case, Ctx, Expect, How, Input};
use crate::support::*;

/// A small tree with an `etc`, in the row's directory.
fn small_tree(ctx: &Ctx) -> String {
    let t = ctx.dir.join("tree");
    std::fs::create_dir_all(t.join("etc")).unwrap();
    std::fs::write(t.join("etc/hostname"), "small\n").unwrap();
    t.to_string_lossy().into_owned()
}

/// A `.tar.zst` of the small tree, in the row's directory.
fn small_tarball(ctx: &Ctx) -> String {
    let tree = small_tree(ctx);
    let out = ctx.path("tree.tar.zst");
    let ok = Command::new("sh")
        .arg("-euc")
        .arg(r#"tar -C "$1" -cf - . | zstd -q -o "$2"; rm -r "$1""#)
        .args(["sh", &tree, &out])
        .status()
        .unwrap();
    assert!(ok.success());
    out
}

fn filter_file(ctx: &Ctx, text: &str) -> String {
    let p = ctx.path("filter");
    std::fs::write(&p, text).unwrap();
    p
}

pub const ROWS: &[Case] = &[
    Case {
        name: "tree unreadable",
        vm: false,
        expect: Expect::Error(1, "Permission denied"),
        prepare: |ctx| {
            use std::os::unix::fs::PermissionsExt;
            let tree = small_tree(ctx);
            let etc = std::path::Path::new(&tree).join("etc");
            std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o700)).unwrap();
            Input::new(ctx.mkimage(&["-o", &ctx.path("o"), &tree]), &[]).how(How::AsNobody)
        },
    },
    Case {
        name: "tarball corrupt",
        vm: false,
        expect: Expect::Error(1, "is not a usable tarball"),
        prepare: |ctx| {
            let tar = small_tarball(ctx);
            let mut bytes = std::fs::read(&tar).unwrap();
            let n = bytes.len();
            bytes.truncate(n / 2);
            std::fs::write(&tar, bytes).unwrap();
            Input::new(ctx.mkimage(&["-o", &ctx.path("o"), &tar]), &[&tar])
        },
    },
    Case {
        name: "tarball of garbage",
        vm: false,
        expect: Expect::Error(1, "not a tar archive"),
        prepare: |ctx| {
            let tar = ctx.path("junk.tar.gz");
            let ok = Command::new("sh")
                .arg("-euc")
                .arg(r#"head -c 4096 /dev/urandom | gzip >"$1""#)
                .args(["sh", &tar])
                .status()
                .unwrap();
            assert!(ok.success());
            Input::new(ctx.mkimage(&["-o", &ctx.path("o"), &tar]), &[&tar])
        },
    },
    Case {
        name: "filter with a bad expression",
        vm: false,
        expect: Expect::Error(2, "line 2: not a regular expression"),
        prepare: |ctx| {
            let (tree, f) = (small_tree(ctx), filter_file(ctx, "/ok\n/bad(\n"));
            Input::new(
                ctx.mkimage(&["--filter", &f, "-o", &ctx.path("o"), &tree]),
                &[&f],
            )
        },
    },
    Case {
        name: "filter leaves nothing",
        vm: false,
        expect: Expect::Error(1, "the filter leaves nothing"),
        prepare: |ctx| {
            let (tree, f) = (small_tree(ctx), filter_file(ctx, ".*\n"));
            Input::new(
                ctx.mkimage(&["--filter", &f, "-o", &ctx.path("o"), &tree]),
                &[&f],
            )
        },
    },
    Case {
        name: "tree options for a disk image",
        vm: false,
        expect: Expect::Error(2, "--partition-table applies to a directory or tarball"),
        prepare: |ctx| super::media::on_debian(ctx, &["--partition-table", "msdos"]),
    },
    Case {
        name: "interrupted while copying a tree",
        vm: false,
        expect: Expect::Error(130, "interrupted"),
        prepare: |ctx| {
            manifest();
            let rootfs = fixture_dir().join("cache/rootfs");
            let rootfs = rootfs.to_string_lossy().into_owned();
            Input::new(ctx.mkimage(&["-o", &ctx.path("o"), &rootfs]), &[]).how(How::Signal(
                "Copying the tree into the image",
                Signal::SIGINT,
            ))
        },
    },
];
