//! `snf-image-creator boot-test IMAGE`: boot an image under qemu and say
//! whether it reached a login prompt (or a given marker) in time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::console::Console;
use crate::guest::appliance::Accel;
use crate::guest::firstboot::vm::{DiskBus, QEMU};
use crate::pipeline::boot_test::{self, BootTest, Booted, LOGIN_PROMPT};
use crate::process::Cancel;

/// `snf-image-creator boot-test`: does the image start?
#[derive(Debug, Args)]
pub struct BootTestArgs {
    /// The image to boot: an exported diskdump or any disk image qemu
    /// reads. It is only read: the guest's writes are thrown away.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Wait for TEXT on the serial console instead of a login prompt
    /// ("login:").
    #[arg(long, value_name = "TEXT")]
    pub marker: Option<String>,
    /// How long to wait, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// The disk's controller: virtio, as clouds attach disks, or ide for
    /// images that name their disk /dev/sda.
    #[arg(long, value_enum, default_value_t = Bus::Virtio)]
    pub bus: Bus,
    /// The VM's memory in MiB.
    #[arg(long, value_name = "MiB", default_value_t = 1024)]
    pub mem: u64,
    /// Keep the serial console's log in FILE.
    #[arg(long, value_name = "FILE")]
    pub console: Option<PathBuf>,
    /// Where the temporary console log goes (default: $TMPDIR or /tmp).
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,
    /// Print the result as JSON (`{"boot_test": {...}}`).
    #[arg(long)]
    pub json: bool,
}

/// The disk controller, as the command line names it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Bus {
    Virtio,
    Ide,
}

impl From<Bus> for DiskBus {
    fn from(b: Bus) -> DiskBus {
        match b {
            Bus::Virtio => DiskBus::Virtio,
            Bus::Ide => DiskBus::Ide,
        }
    }
}

/// Run `boot-test`: exit 0 when the marker showed, 1 when not.
pub fn run(args: &BootTestArgs) -> ExitCode {
    let console = match Console::take_stderr(false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: cannot set up the terminal output: {e}");
            return ExitCode::from(1);
        }
    };
    let cancel = Cancel::new();
    if let Err(e) = super::watch_signals(&cancel) {
        return super::fail(&console, &e);
    }
    let tmp = args.tmpdir.clone().unwrap_or_else(std::env::temp_dir);
    let marker = args.marker.as_deref().unwrap_or(LOGIN_PROMPT);
    let test = BootTest {
        image: &args.image,
        marker,
        timeout: Duration::from_secs(args.timeout),
        bus: args.bus.into(),
        mem_mib: args.mem,
        qemu: QEMU.as_ref(),
        console: args.console.as_deref(),
        tmp: &tmp,
    };
    match boot_test::run(&test, &console, &cancel) {
        Ok(booted) => {
            print(args, marker, &booted);
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(&console, &e),
    }
}

fn print(args: &BootTestArgs, marker: &str, b: &Booted) {
    let secs = b.took.as_secs_f64();
    if args.json {
        let accel = match b.accel {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        };
        super::json::print(&json!({ "boot_test": {
            "image": args.image, "booted": true, "marker": marker,
            "seconds": (secs * 10.0).round() / 10.0, "accel": accel,
        }}));
    } else {
        println!(
            "{} booted: {marker:?} on its console after {secs:.1} s ({})",
            args.image.display(),
            b.accel
        );
    }
}
