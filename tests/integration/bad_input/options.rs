//! Rows about options: system preparation tasks and parameters, and the
//! cloud options. All are refused before the media is opened.

use std::ffi::OsString;

use super::media::on_debian;
use super::{Case, Ctx, Expect, Input};

/// `upload ARGS… x.img`, on a one-byte image.
fn upload(ctx: &Ctx, args: &[&str]) -> Input {
    let img = ctx.dir.join("x.img");
    std::fs::write(&img, b"x").unwrap();
    let mut all: Vec<OsString> = vec!["upload".into()];
    all.extend(args.iter().map(OsString::from));
    all.push(img.clone().into());
    Input::new(all, &[&img])
}

pub const ROWS: &[Case] = &[
    Case {
        name: "misspelt task to disable",
        vm: false,
        expect: Expect::Error(
            2,
            "--disable-sysprep cleanup-lgo: no such system preparation task; did you mean `cleanup-log`?",
        ),
        prepare: |ctx| on_debian(ctx, &["--disable-sysprep", "cleanup-lgo"]),
    },
    Case {
        name: "unknown task to enable",
        vm: false,
        expect: Expect::Error(2, "no such system preparation task"),
        prepare: |ctx| on_debian(ctx, &["--enable-sysprep", "remove-users"]),
    },
    Case {
        name: "parameter of the wrong type",
        vm: false,
        expect: Expect::Error(2, "`soon` is not a positive integer"),
        prepare: |ctx| on_debian(ctx, &["--sysprep-param", "bootmenu_timeout=soon"]),
    },
    Case {
        name: "parameter in the wrong case",
        vm: false,
        expect: Expect::Error(2, "did you mean `bootmenu_timeout`?"),
        prepare: |ctx| on_debian(ctx, &["--sysprep-param", "BOOTMENU_TIMEOUT=3"]),
    },
    Case {
        name: "parameter naming a missing file",
        vm: false,
        expect: Expect::Error(2, "/nonexistent/keys"),
        prepare: |ctx| {
            on_debian(
                ctx,
                &["--sysprep-param", "authorized_keys=/nonexistent/keys"],
            )
        },
    },
    Case {
        name: "list parameter with an empty item",
        vm: false,
        expect: Expect::Error(2, "empty item"),
        prepare: |ctx| on_debian(ctx, &["--sysprep-param", "sensitive_userdata=.a,,.b"]),
    },
    Case {
        name: "--host-run script does not exist",
        vm: false,
        expect: Expect::Error(2, "--host-run /nonexistent/script.sh"),
        prepare: |ctx| on_debian(ctx, &["--host-run", "/nonexistent/script.sh"]),
    },
    Case {
        name: "--host-run script not executable",
        vm: false,
        expect: Expect::Error(2, "the script is not executable"),
        prepare: |ctx| {
            let plain = ctx.dir.join("plain.sh");
            std::fs::write(&plain, "#!/bin/sh\n").unwrap();
            let mut input = on_debian(ctx, &["--host-run", &plain.to_string_lossy()]);
            input.sources.push(plain);
            input
        },
    },
    Case {
        name: "--public into the local store",
        vm: false,
        expect: Expect::Error(2, "--public"),
        prepare: |ctx| upload(ctx, &["--public", "--store", &ctx.path("store")]),
    },
    Case {
        name: "a Synnefo URL and --store",
        vm: false,
        expect: Expect::Error(2, "--store"),
        prepare: |ctx| {
            let url = "http://127.0.0.1:9/identity/v2.0";
            upload(ctx, &["-a", url, "--store", &ctx.path("store")])
        },
    },
    Case {
        name: "a token without a URL",
        vm: false,
        expect: Expect::Error(2, "-t TOKEN needs -a URL"),
        prepare: |ctx| upload(ctx, &["-t", "sekrit-token"]),
    },
    Case {
        name: "register without upload",
        vm: false,
        expect: Expect::Error(2, "-r/--register needs -u"),
        prepare: |ctx| {
            let img = ctx.dir.join("x.img");
            std::fs::write(&img, b"x").unwrap();
            Input::new(ctx.mkimage(&["-r", "X", &img.to_string_lossy()]), &[&img])
        },
    },
    Case {
        name: "a cloud that is not saved",
        vm: false,
        expect: Expect::Error(2, "saved clouds: lab"),
        prepare: |ctx| {
            let cfg = ctx.dir.join("kamakirc");
            std::fs::write(&cfg, "[cloud \"lab\"]\nurl = http://h/x\ntoken = t\n").unwrap();
            let mut input = upload(ctx, &["-c", "other"]).env("KAMAKI_CONFIG", &cfg);
            input.sources.push(cfg);
            input
        },
    },
];
