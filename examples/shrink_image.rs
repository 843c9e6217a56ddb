//! Shrink a disk image in the helper VM, on a qcow2 overlay (the image is
//! not modified), and print how long the launch and the shrink took: the
//! shrink step alone, for benchmarks (`bench/shrink.sh`).
//!
//! Usage: `shrink_image IMAGE FORMAT`; prints
//! `launch_s shrink_s old_bytes new_bytes`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use snf_image_creator::guest::appliance::Appliance;
use snf_image_creator::guest::shrink::shrink;
use snf_image_creator::media::{ImageFormat, WorkDir, qemu_img};
use snf_image_creator::progress::NullReporter;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [image, format] = args.as_slice() else {
        bail!("usage: shrink_image IMAGE FORMAT");
    };
    let work = WorkDir::create(None)?;
    let overlay = work.join("overlay.qcow2");
    qemu_img::create_overlay(Path::new(image), &ImageFormat::parse(format), &overlay)?;
    let start = Instant::now();
    let vm = Appliance::launch(&overlay, "qcow2", &NullReporter)?;
    let launched = start.elapsed();
    let start = Instant::now();
    let outcome = shrink(&vm, &NullReporter)?;
    let shrunk = start.elapsed();
    vm.shutdown()?;
    work.close()?;
    println!(
        "{:.3} {:.3} {} {}",
        launched.as_secs_f64(),
        shrunk.as_secs_f64(),
        outcome.old_size,
        outcome.new_size
    );
    Ok(())
}
