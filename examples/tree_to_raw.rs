//! Build the raw disk of a tree (a directory or a tarball) with the
//! built-in filter, GPT and ext4: the tree step alone, for benchmarks
//! (`bench/tree.sh`). The disk's work files go next to OUT. Prints the
//! time of each step (`step SECONDS TITLE`) and the total on stderr.
//!
//! Usage: `tree_to_raw TREE OUT.raw`

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use snf_image_creator::media::tree::{self, Filter, TreeSpec};
use snf_image_creator::pipeline::report::StepTimer;
use snf_image_creator::process::Cancel;
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
    let [source, out] = args.as_slice() else {
        bail!("usage: tree_to_raw TREE OUT.raw");
    };
    let source = Path::new(source);
    let spec = TreeSpec {
        kind: tree::kind_of(source).context("not a directory or a tarball")?,
        filter: Filter::load(None, false)?,
        table: Default::default(),
        fs: Default::default(),
        host: None,
        snapshot_root: false,
    };
    let start = Instant::now();
    let timer = StepTimer::new(&NullReporter);
    let built = tree::build(source, &spec, Path::new(out), &timer, &Cancel::new())?;
    for row in timer.rows(&[]) {
        eprintln!("step {:.3} {}", row.seconds, row.step);
    }
    eprintln!(
        "{} bytes in {:.2} s",
        built.size,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
