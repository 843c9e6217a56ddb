//! Rows about what is inside the guest: guest files written to break the
//! product's parsers. (Secrets a published image must not carry are the
//! secrets test's.)

use super::media::{debian, qemu_img};
use super::{Case, Ctx, Expect, Input};

/// 64 MiB: far over the 1 MiB read of a configuration file (sparse, so it
/// costs no space in the guest).
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
fn yaml_bomb() -> Vec<u8> {
    let lols = ["\"lol\""; 10].join(", ");
    let mut bomb = format!("a: &a [{lols}]\n");
    for (name, prev) in ('b'..='i').zip('a'..) {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    bomb.push_str("users: *i\n");
    bomb.into_bytes()
}

/// A flat qcow2 copy of the Debian fixture with each `(file, data)`
/// planted by one guestfish run (a truncated sparse file when `data` is
/// empty), run with `ARGS… -o /dev/null` (checksums only: nothing is
/// written).
fn hostile(ctx: &Ctx, files: &[(&str, &[u8])], args: &[&str]) -> Input {
    let img = ctx.path("hostile.qcow2");
    qemu_img(&["convert", "-f", "qcow2", "-O", "qcow2", &debian(), &img]);
    let mut plant = String::new();
    for (i, (file, data)) in files.iter().enumerate() {
        if data.is_empty() {
            plant += &format!("rm-f {file}\ntouch {file}\ntruncate-size {file} {OVERSIZED}\n");
        } else {
            let local = ctx.dir.join(format!("planted{i}"));
            std::fs::write(&local, data).unwrap();
            plant += &format!("upload {} {file}\n", local.display());
        }
    }
    guestfish(&img, &plant);
    for i in 0..files.len() {
        let _ = std::fs::remove_file(ctx.dir.join(format!("planted{i}")));
    }
    let mut all = args.to_vec();
    all.extend(["-o", "/dev/null", &img]);
    Input::new(ctx.mkimage(&all), &[&img])
}

/// Run a guestfish script on an image, read-write, under TCG (guestfish,
/// unlike the product, does not fall back from a broken KVM by itself).
fn guestfish(img: &str, script: &str) {
    crate::support::guestfish(std::path::Path::new(img), "--rw", script);
}

pub const ROWS: &[Case] = &[Case {
    name: "an oversized /etc/os-release, garbage in /etc/passwd, a cloud-init YAML bomb",
    vm: true,
    expect: Expect::Warnings(&[
        "Ignoring /etc/os-release: 67108864 bytes, over the 1048576 byte limit",
        "malformed line(s) of /etc/passwd",
        "ignoring /etc/cloud/cloud.cfg, which is not valid YAML: more than 100000 nodes once its aliases are expanded",
    ]),
    prepare: |ctx| {
        let files: [(&str, &[u8]); 3] = [
            ("/etc/os-release", b""),
            ("/etc/passwd", &garbage(8192)),
            ("/etc/cloud/cloud.cfg", &yaml_bomb()),
        ];
        // Only the task that reads /etc/passwd (off by default): the
        // other two files are read by inspection and metadata.
        let args = ["--no-sysprep", "--enable-sysprep", "remove-user-accounts"];
        hostile(ctx, &files, &args)
    },
}];
