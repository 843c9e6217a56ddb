//! Rows about images nobody vouches for: backing chains that would read
//! host data, and outputs that would overwrite an input. All are refused
//! before a helper VM starts.

use std::ffi::OsString;
use std::path::Path;

use super::media::qemu_img;
use super::{Case, Ctx, Expect, Input, LEAK};

const FLAG: &str = "--allow-backing-file";

/// A 1 MiB qcow2 `name` in the row's directory whose backing file is
/// `backing` (format recorded unless `format` is empty), made without
/// opening the backing file.
fn overlay(ctx: &Ctx, name: &str, backing: &str, format: &str) -> String {
    let top = ctx.path(name);
    let mut args = vec!["create", "-q", "-f", "qcow2", "-u", "-b", backing];
    if !format.is_empty() {
        args.extend(["-F", format]);
    }
    args.extend([top.as_str(), "1M"]);
    qemu_img(&args);
    top
}

/// A host file holding what must not leak (as /etc/shadow would).
fn shadow(ctx: &Ctx) -> String {
    std::fs::write(ctx.dir.join("shadow"), LEAK).unwrap();
    ctx.path("shadow")
}

/// `mkimage EXTRA… -o out.diskdump IMAGE`, every file of the directory a
/// source that must stay as it is.
fn refuse(ctx: &Ctx, image: &str, extra: &[&str]) -> Input {
    let out = ctx.path("out.diskdump");
    let mut args = extra.to_vec();
    args.extend(["-o", &out, image]);
    let sources: Vec<_> = std::fs::read_dir(&ctx.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    let mut input = Input::new(ctx.mkimage(&args), &[]);
    input.sources = sources;
    input
}

/// A chain whose backing file is `backing`, refused with the flag given.
fn with_flag(ctx: &Ctx, backing: &str) -> Input {
    let top = overlay(ctx, "top.qcow2", backing, "raw");
    refuse(ctx, &top, &[FLAG])
}

/// Erase the backing-format header extension of a qcow2, as images made by
/// old qemu versions (or by hand) lack it.
fn forget_backing_format(img: &Path) {
    let mut data = std::fs::read(img).unwrap();
    let at = data
        .windows(4)
        .position(|w| w == [0xE2, 0x79, 0x2A, 0xCA])
        .expect("a backing format extension");
    data[at..at + 4].fill(0);
    std::fs::write(img, data).unwrap();
}

/// A 1 MiB raw disk of sevens.
fn disk(ctx: &Ctx, name: &str) -> String {
    std::fs::write(ctx.dir.join(name), vec![7u8; 1 << 20]).unwrap();
    ctx.path(name)
}

/// A VMDK text descriptor `name` whose one flat extent is `extent`.
fn descriptor(ctx: &Ctx, name: &str, extent: &str) -> String {
    let text = format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\"\n\nRW 2048 FLAT \"{extent}\" 0\n"
    );
    std::fs::write(ctx.dir.join(name), text).unwrap();
    ctx.path(name)
}

const SAME: &str = "is the same file as the input";

pub const ROWS: &[Case] = &[
    Case {
        name: "backing file on the host, no flag (it names the chain)",
        vm: false,
        expect: Expect::Error(1, "(qcow2) -> "),
        prepare: |ctx| {
            let top = overlay(ctx, "evil.qcow2", &shadow(ctx), "raw");
            refuse(ctx, &top, &["--allow-unsupported"])
        },
    },
    Case {
        name: "backing file on the host, no flag (it names the flag and the way out)",
        vm: false,
        expect: Expect::Error(
            1,
            "give --allow-backing-file to use the chain, or flatten it first: qemu-img convert -O qcow2 ",
        ),
        prepare: |ctx| {
            let top = overlay(ctx, "evil.qcow2", &shadow(ctx), "raw");
            refuse(ctx, &top, &[])
        },
    },
    Case {
        name: "backing file is a character device",
        vm: false,
        expect: Expect::Error(1, "/dev/zero is refused: it is a character device"),
        prepare: |ctx| with_flag(ctx, "/dev/zero"),
    },
    Case {
        name: "backing file is a character device, no flag",
        vm: false,
        expect: Expect::Error(1, "it is a character device"),
        prepare: |ctx| {
            let top = overlay(ctx, "top.qcow2", "/dev/zero", "raw");
            refuse(ctx, &top, &[])
        },
    },
    Case {
        name: "backing file is a FIFO",
        vm: false,
        expect: Expect::Error(1, "it is a FIFO"),
        prepare: |ctx| {
            let fifo = ctx.dir.join("fifo");
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
            with_flag(ctx, &ctx.path("fifo"))
        },
    },
    Case {
        name: "backing file is a socket",
        vm: false,
        expect: Expect::Error(1, "it is a socket"),
        prepare: |ctx| {
            // The listener closes; its socket file stays.
            drop(std::os::unix::net::UnixListener::bind(ctx.dir.join("socket")).unwrap());
            with_flag(ctx, &ctx.path("socket"))
        },
    },
    Case {
        name: "backing file under /proc",
        vm: false,
        expect: Expect::Error(1, "it is under /proc"),
        prepare: |ctx| with_flag(ctx, "/proc/self/environ"),
    },
    Case {
        name: "backing file under /sys",
        vm: false,
        expect: Expect::Error(1, "it is under /sys"),
        prepare: |ctx| with_flag(ctx, "/sys/kernel/notes"),
    },
    Case {
        name: "backing file on NBD",
        vm: false,
        expect: Expect::Error(1, "it is a `nbd:` address"),
        prepare: |ctx| with_flag(ctx, "nbd:127.0.0.1:10809"),
    },
    Case {
        name: "backing file over HTTP",
        vm: false,
        expect: Expect::Error(1, "it is a `http:` address"),
        prepare: |ctx| with_flag(ctx, "http://127.0.0.1:1/disk.img"),
    },
    Case {
        name: "backing file over SSH",
        vm: false,
        expect: Expect::Error(1, "it is a `ssh:` address"),
        prepare: |ctx| with_flag(ctx, "ssh://127.0.0.1/disk.img"),
    },
    Case {
        name: "backing file as a json: filename",
        vm: false,
        expect: Expect::Error(1, "it is a `json:` address"),
        prepare: |ctx| {
            let json = format!(
                r#"json:{{"file":{{"driver":"file","filename":"{}"}}}}"#,
                shadow(ctx)
            );
            with_flag(ctx, &json)
        },
    },
    Case {
        name: "backing file without a recorded format",
        vm: false,
        expect: Expect::Error(1, "its format is not recorded"),
        prepare: |ctx| {
            let top = overlay(ctx, "top.qcow2", &disk(ctx, "base.raw"), "raw");
            forget_backing_format(Path::new(&top));
            refuse(ctx, &top, &[FLAG])
        },
    },
    Case {
        name: "qcow2 with an external data file",
        vm: false,
        expect: Expect::Error(
            1,
            "its data file (declared in its header) is refused: an external data file",
        ),
        prepare: |ctx| {
            let data_file = format!("data_file={}", shadow(ctx));
            let img = ctx.path("data.qcow2");
            qemu_img(&["create", "-q", "-f", "qcow2", "-o", &data_file, &img, "1M"]);
            refuse(ctx, &img, &[FLAG])
        },
    },
    Case {
        name: "a chain that loops",
        vm: false,
        expect: Expect::Error(1, "the chain loops back"),
        prepare: |ctx| {
            let a = overlay(ctx, "loop-a.qcow2", &disk(ctx, "base.raw"), "raw");
            let b = overlay(ctx, "loop-b.qcow2", &a, "qcow2");
            let rebase = ["rebase", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b"];
            qemu_img(&[&rebase[..], &[b.as_str(), a.as_str()]].concat());
            refuse(ctx, &b, &[FLAG])
        },
    },
    Case {
        name: "VMDK descriptor whose extent is a host file",
        vm: false,
        expect: Expect::Error(1, "(vmdk extent)): the data it does not hold"),
        prepare: |ctx| {
            let vmdk = descriptor(ctx, "evil.vmdk", &shadow(ctx));
            refuse(ctx, &vmdk, &[])
        },
    },
    Case {
        name: "VMDK descriptor whose extent is a FIFO",
        vm: false,
        expect: Expect::Error(1, "its extent fifo is refused: it is a FIFO"),
        prepare: |ctx| {
            nix::unistd::mkfifo(&ctx.dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
            let vmdk = descriptor(ctx, "fifo.vmdk", "fifo");
            refuse(ctx, &vmdk, &[FLAG])
        },
    },
    Case {
        name: "VMDK descriptor whose extent is a character device",
        vm: false,
        expect: Expect::Error(
            1,
            "its extent /dev/zero is refused: it is a character device",
        ),
        prepare: |ctx| {
            let vmdk = descriptor(ctx, "zero.vmdk", "/dev/zero");
            refuse(ctx, &vmdk, &[FLAG])
        },
    },
    Case {
        name: "-o is the source, with -f",
        vm: false,
        expect: Expect::Error(2, "(refused even with -f): choose another -o"),
        prepare: |ctx| {
            let src = disk(ctx, "disk.raw");
            Input::new(ctx.mkimage(&["-f", "-o", &src, &src]), &[&src])
        },
    },
    Case {
        name: "-o is the source, without -f",
        vm: false,
        expect: Expect::Error(2, SAME),
        prepare: |ctx| {
            let src = disk(ctx, "disk.raw");
            Input::new(ctx.mkimage(&["-o", &src, &src]), &[&src])
        },
    },
    Case {
        name: "-o is a symlink to the source",
        vm: false,
        expect: Expect::Error(2, "link.diskdump is the same file as the input"),
        prepare: |ctx| {
            let src = disk(ctx, "disk.raw");
            std::os::unix::fs::symlink(&src, ctx.dir.join("link.diskdump")).unwrap();
            let link = ctx.path("link.diskdump");
            Input::new(ctx.mkimage(&["-f", "-o", &link, &src]), &[&src])
        },
    },
    Case {
        name: "-o is a hard link to the source",
        vm: false,
        expect: Expect::Error(2, SAME),
        prepare: |ctx| {
            let src = disk(ctx, "disk.raw");
            std::fs::hard_link(&src, ctx.dir.join("hard.diskdump")).unwrap();
            let hard = ctx.path("hard.diskdump");
            Input::new(ctx.mkimage(&["-f", "-o", &hard, &src]), &[&src])
        },
    },
    Case {
        name: "a side file is the source",
        vm: false,
        expect: Expect::Error(2, "side.diskdump.meta is the same file as the input"),
        prepare: |ctx| {
            let src = disk(ctx, "side.diskdump.meta");
            let out = ctx.path("side.diskdump");
            Input::new(ctx.mkimage(&["-f", "-o", &out, &src]), &[&src])
        },
    },
    Case {
        name: "-o is the backing file of the source",
        vm: false,
        expect: Expect::Error(2, SAME),
        prepare: |ctx| {
            let base = disk(ctx, "disk.raw");
            let top = overlay(ctx, "top.qcow2", &base, "raw");
            let args = ctx.mkimage(&["-f", FLAG, "-o", &base, &top]);
            Input::new(args, &[&base, &top])
        },
    },
    Case {
        name: "the source is inside the local store",
        vm: false,
        expect: Expect::Error(2, "is inside the local image store"),
        prepare: |ctx| {
            std::fs::create_dir(ctx.dir.join("store")).unwrap();
            let stored = disk(ctx, "store/stored.raw");
            let store = ctx.path("store");
            let args: Vec<OsString> = ctx.mkimage(&["-u", "img", "--store", &store, &stored]);
            Input::new(args, &[&stored])
        },
    },
];
