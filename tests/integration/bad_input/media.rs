//! Rows about the media and the outputs: sources that are not disk images,
//! outputs that cannot be written, and a run interrupted mid-export.

use std::process::Command;

use nix::sys::signal::Signal;

use super::{Case, Ctx, Expect, How, Input};
use crate::support::*;

pub fn debian() -> String {
    fixture("debian-mbr.qcow2").0.to_string_lossy().into_owned()
}

/// A row that runs `mkimage -o DIR/out.diskdump ARGS… SOURCE` on the
/// Debian fixture.
pub fn on_debian(ctx: &Ctx, args: &[&str]) -> Input {
    let (src, out) = (debian(), ctx.path("out.diskdump"));
    let mut all = args.to_vec();
    all.extend(["-o", &out, &src]);
    Input::new(ctx.mkimage(&all), &[&src])
}

/// A row on a fixture file that must be refused as it is.
fn on_fixture_file(ctx: &Ctx, name: &str) -> Input {
    let src = fixture_file(name).to_string_lossy().into_owned();
    let out = ctx.path("out.diskdump");
    Input::new(ctx.mkimage(&["-o", &out, &src]), &[&src])
}

pub const ROWS: &[Case] = &[
    Case {
        name: "source does not exist",
        vm: false,
        expect: Expect::Error(2, "/nonexistent/disk.img does not exist"),
        prepare: |ctx| {
            Input::new(
                ctx.mkimage(&["-o", &ctx.path("o"), "/nonexistent/disk.img"]),
                &[],
            )
        },
    },
    Case {
        name: "output directory does not exist",
        vm: false,
        expect: Expect::Error(2, "output directory /nonexistent/dir: no such directory"),
        prepare: |ctx| {
            let src = debian();
            Input::new(
                ctx.mkimage(&["-o", "/nonexistent/dir/out.diskdump", &src]),
                &[&src],
            )
        },
    },
    Case {
        name: "a side file exists, without -f",
        vm: false,
        expect: Expect::Error(2, "out.diskdump.md5sum already exists: use -f"),
        prepare: |ctx| {
            let kept = ctx.dir.join("out.diskdump.md5sum");
            std::fs::write(&kept, b"keep me").unwrap();
            let mut input = on_debian(ctx, &[]);
            input.sources.push(kept);
            input
        },
    },
    Case {
        name: "metadata key with a dash",
        vm: false,
        expect: Expect::Error(2, "BAD-KEY"),
        prepare: |ctx| on_debian(ctx, &["-m", "BAD-KEY=1"]),
    },
    Case {
        name: "metadata without =",
        vm: false,
        expect: Expect::Error(2, "NOVALUE"),
        prepare: |ctx| on_debian(ctx, &["-m", "NOVALUE"]),
    },
    Case {
        name: "--tmpdir does not exist",
        vm: false,
        expect: Expect::Error(2, "--tmpdir /nonexistent/tmp: no such directory"),
        prepare: |ctx| {
            let (src, out) = (debian(), ctx.path("out.diskdump"));
            let args = ["mkimage", "--tmpdir", "/nonexistent/tmp", "-o", &out, &src];
            Input::new(args.iter().map(Into::into).collect(), &[&src])
        },
    },
    Case {
        name: "nothing asked for",
        vm: false,
        expect: Expect::Error(2, "nothing to do"),
        prepare: |ctx| {
            let src = debian();
            Input::new(ctx.mkimage(&[&src]), &[&src])
        },
    },
    Case {
        name: "-o names a directory",
        vm: false,
        expect: Expect::Error(2, "is a directory"),
        prepare: |ctx| {
            let src = debian();
            let out = ctx.dir.to_string_lossy().into_owned();
            Input::new(ctx.mkimage(&["-o", &out, &src]), &[&src])
        },
    },
    Case {
        name: "empty file",
        vm: false,
        expect: Expect::Error(1, "is empty"),
        prepare: |ctx| {
            std::fs::write(ctx.dir.join("empty.img"), b"").unwrap();
            Input::new(
                ctx.mkimage(&["-o", &ctx.path("o"), &ctx.path("empty.img")]),
                &[],
            )
        },
    },
    Case {
        name: "truncated qcow2",
        vm: false,
        expect: Expect::Error(1, "damaged qcow2 image"),
        prepare: |ctx| on_fixture_file(ctx, "truncated.qcow2"),
    },
    Case {
        name: "source the user cannot read",
        vm: false,
        expect: Expect::Error(1, "permission denied"),
        prepare: |ctx| {
            use std::os::unix::fs::PermissionsExt;
            let secret = ctx.dir.join("secret.img");
            std::fs::write(&secret, vec![0u8; 1 << 20]).unwrap();
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
            let out = ctx.path("nobody.diskdump");
            let args = ctx.mkimage(&["-o", &out, &secret.to_string_lossy()]);
            Input::new(args, &[&secret]).how(How::AsNobody)
        },
    },
    Case {
        name: "random bytes",
        vm: true,
        expect: Expect::Error(
            1,
            "the media is not supported: no operating system was found on the media (use --allow-unsupported",
        ),
        prepare: |ctx| on_fixture_file(ctx, "random.raw"),
    },
    Case {
        name: "a disk without an operating system",
        vm: true,
        expect: Expect::Error(1, "no operating system was found"),
        prepare: |ctx| on_fixture_file(ctx, "no-os.raw"),
    },
    Case {
        name: "Ctrl-C during the export",
        vm: true,
        expect: Expect::Error(130, "interrupted by SIGINT"),
        prepare: |ctx| big_disk(ctx).how(How::Signal("Dumping image file", Signal::SIGINT)),
    },
    Case {
        name: "SIGTERM during the export",
        vm: true,
        expect: Expect::Error(143, "interrupted by SIGTERM"),
        prepare: |ctx| big_disk(ctx).how(How::Signal("Dumping image file", Signal::SIGTERM)),
    },
    Case {
        name: "SIGHUP (a lost ssh session) while the helper VM starts",
        vm: true,
        expect: Expect::Error(129, "interrupted by SIGHUP"),
        prepare: |ctx| {
            let input = on_debian(ctx, &[]);
            input.how(How::SignalVm("Launching helper VM", Signal::SIGHUP))
        },
    },
];

/// A large virtual disk (mostly zeros), so that the export runs long
/// enough to be stopped; a copy, not an overlay, so that it has no backing
/// file. Without system preparation: the signal is meant for the export.
fn big_disk(ctx: &Ctx) -> Input {
    let big = ctx.dir.join("big.qcow2");
    qemu_img(&["convert", "-O", "qcow2", &debian(), &big.to_string_lossy()]);
    qemu_img(&["resize", "-q", &big.to_string_lossy(), "40G"]);
    let out = ctx.path("out.diskdump");
    let args = ["--no-sysprep", "-o", &out, &big.to_string_lossy()];
    Input::new(ctx.mkimage(&args), &[&big])
}

/// Run qemu-img, which must succeed.
pub fn qemu_img(args: &[&str]) {
    let status = Command::new("qemu-img").args(args).status().unwrap();
    assert!(status.success(), "qemu-img {args:?} failed");
}

/// What the "disk without an operating system" row refuses,
/// `--allow-unsupported` exports as it is, marked for snf-image.
#[test]
fn unsupported_media_are_exported_as_they_are() {
    let dir = scratch();
    let out = dir.path().join("out.diskdump");
    let no_os = fixture_file("no-os.raw");
    let before = sha256_file(&no_os);
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
