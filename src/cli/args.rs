//! Command-line arguments. Doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::plan::Request;

/// snf-mkimage: make a clean cloud image from a disk image or block device.
///
/// The source is never modified: all work happens on a qcow2 overlay in a
/// private work directory that is removed when the run ends.
#[derive(Debug, Parser)]
#[command(name = "snf-mkimage", version, max_term_width = 100)]
pub struct MkimageCli {
    #[command(flatten)]
    pub args: MkimageArgs,
}

/// The options of `snf-mkimage` (also `snf-image-creator mkimage`).
#[derive(Debug, Args)]
pub struct MkimageArgs {
    /// Disk image file (raw, qcow2, vmdk, vhd, vdi, vhdx…) or block device.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,

    /// Export the image to FILE, with FILE.meta, FILE.md5sum, FILE.sha256sum
    /// and FILE.variant beside it. `-o /dev/null` computes the checksums
    /// and writes nothing.
    #[arg(short = 'o', long = "outfile", value_name = "FILE")]
    pub outfile: Option<PathBuf>,

    /// Overwrite existing output files.
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Print only errors.
    #[arg(short = 's', long)]
    pub silent: bool,

    /// Directory for the work directory (overlay, sockets). Default: the one
    /// of /var/tmp, $HOME and /mnt with the most free space.
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,

    /// Work directly on the source instead of an overlay. THIS ALTERS THE
    /// ORIGINAL MEDIA.
    #[arg(long)]
    pub no_snapshot: bool,

    /// Print the detected image metadata (on standard output).
    #[arg(long)]
    pub print_metadata: bool,

    /// Add or override an image property; KEY is letters, digits and `_`,
    /// and is upper-cased. Repeatable.
    #[arg(short = 'm', long = "metadata", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,

    /// Go on when the media is not supported: no system preparation, and
    /// EXCLUDE_ALL_TASKS=yes in the metadata.
    #[arg(long)]
    pub allow_unsupported: bool,

    /// Do not shrink the image (export the disk at its full size).
    #[arg(long)]
    pub no_shrink: bool,
}

impl MkimageArgs {
    /// The front-end-neutral request these options describe.
    pub fn request(&self) -> Request {
        Request {
            source: self.source.clone(),
            outfile: self.outfile.clone(),
            force: self.force,
            tmpdir: self.tmpdir.clone(),
            no_snapshot: self.no_snapshot,
            allow_unsupported: self.allow_unsupported,
            print_metadata: self.print_metadata,
            metadata: self.metadata.clone(),
            no_shrink: self.no_shrink,
        }
    }
}

/// snf-image-creator: make clean cloud images from disk images.
#[derive(Debug, Parser)]
#[command(name = "snf-image-creator", version, max_term_width = 100)]
pub struct CreatorCli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `snf-image-creator` can do besides its terminal UI.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The non-interactive front end: same as `snf-mkimage`.
    Mkimage(MkimageArgs),
    /// Check that this machine can run the tool, and say what to fix.
    Doctor {
        /// The directory whose free space to check (as for mkimage).
        #[arg(long, value_name = "DIR")]
        tmpdir: Option<PathBuf>,
    },
}
