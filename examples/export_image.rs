//! Export a disk image as a raw diskdump through qemu-nbd and print its
//! checksums: the export step alone, for benchmarks (`bench/export.sh`).
//!
//! Usage: `export_image IMAGE FORMAT OUT`, where OUT `-` computes the
//! checksums without writing.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use snf_image_creator::media::ImageFormat;
use snf_image_creator::media::export::export;
use snf_image_creator::media::nbd::NbdServer;
use snf_image_creator::process::Cancel;

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
    let [image, format, out] = args.as_slice() else {
        bail!("usage: export_image IMAGE FORMAT OUT (OUT `-`: checksums only)");
    };
    let dir = tempfile::tempdir().context("creating a directory for the socket")?;
    let server = NbdServer::start(
        Path::new(image),
        &ImageFormat::parse(format),
        &dir.path().join("nbd.sock"),
    )?;
    let mut client = server.connect()?;
    let out = match out.as_str() {
        "-" => None,
        path => Some(File::create(path).with_context(|| format!("creating {path}"))?),
    };
    let size = client.size();
    let start = Instant::now();
    let digests = export(&mut client, size, out.as_ref(), &Cancel::new(), &|_| {})?;
    let secs = start.elapsed().as_secs_f64();
    println!("md5     {}", digests.md5);
    println!("sha256  {}", digests.sha256);
    eprintln!(
        "exported {size} bytes in {secs:.2} s ({:.0} MB/s)",
        size as f64 / secs / 1e6
    );
    Ok(())
}
