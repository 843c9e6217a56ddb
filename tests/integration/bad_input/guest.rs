//! Rows about what is inside the guest: secrets a published image must not
//! carry, and guest files written to break the product's parsers.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use super::media::on_debian;
use super::{Case, Ctx, Expect};

/// A `--host-run` script in the row's directory that writes `text` into
/// the mounted guest at `path` (relative to its root).
fn plant(ctx: &Ctx, path: &str, text: &str) -> String {
    let script = ctx.dir.join("plant.sh");
    let dir = std::path::Path::new(path).parent().unwrap().display();
    let body =
        format!("#!/bin/sh\nset -e\nmkdir -p '{dir}'\ncat > '{path}' <<'END'\n{text}\nEND\n");
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.to_string_lossy().into_owned()
}

/// An empty local store in the row's directory (made as `images list`
/// makes it), so that what the row leaves in it shows.
fn store(ctx: &Ctx) -> String {
    let store = ctx.path("store");
    let bin = env!("CARGO_BIN_EXE_snf-image-creator");
    let ok = Command::new(bin)
        .args(["images", "list", "--store", &store])
        .output()
        .unwrap();
    assert!(ok.status.success(), "creating the store");
    store
}

pub const ROWS: &[Case] = &[Case {
    name: "an AWS key planted in the guest, before an upload",
    vm: true,
    expect: Expect::Error(1, "or give --allow-secrets to upload it anyway"),
    prepare: |ctx| {
        let key = "[default]\naws_access_key_id = AKIAQ3EGRUL7TESTK3YS";
        let script = plant(ctx, "root/.aws/credentials", key);
        let store = store(ctx);
        let mut input = on_debian(ctx, &["--host-run", &script, "--store", &store, "-u", "x"]);
        input.sources.push(script.into());
        input
    },
}];
