//! Command-line arguments. Doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::plan::{Request, SysprepRequest};

/// Make a clean cloud image from a disk image, a block device, a directory
/// tree, a tarball or the running host.
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
    /// Disk image file (raw, qcow2, vmdk, vhd, vdi, vhdx…), block device,
    /// directory tree, or tarball of a tree (.tar, .tar.gz, .tar.xz,
    /// .tar.zst; streamed, never unpacked first), or `/` for the running
    /// host (its layout planned from the mount table). A tree is copied
    /// into a new disk in the work directory, which the run then works on.
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

    /// Print what goes to standard output as JSON documents: the run's
    /// outcome, and the --print-metadata, --print-syspreps,
    /// --print-sysprep-params and --dry-run listings (see the README).
    #[arg(long)]
    pub json: bool,

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

    /// Use an image that has a backing file (a qcow2 overlay…): what the
    /// image does not hold is read from it, so it ends up in the output.
    /// Devices, FIFOs, /proc and /sys, network backing files, external
    /// data files and backing files of unrecorded format are refused even
    /// so.
    #[arg(long)]
    pub allow_backing_file: bool,
    /// Upload and register the image even when the secret scan finds
    /// private keys, credentials, tokens or usable passwords in it.
    #[arg(long)]
    pub allow_secrets: bool,

    #[command(flatten)]
    pub sysprep: SysprepArgs,

    #[command(flatten)]
    pub tree: TreeArgs,

    /// Run SCRIPT on this machine before system preparation, with the
    /// guest mounted read-write as its working directory and the metadata
    /// in SNF_IMAGE_CREATOR_METADATA_<KEY> variables. Not jailed: the
    /// guest's symlinks lead to this machine's files for the script.
    /// Repeatable; a script that fails stops the run.
    #[arg(long = "host-run", value_name = "SCRIPT")]
    pub host_run: Vec<PathBuf>,

    #[command(flatten)]
    pub cloud: super::cloud::CloudArgs,
}

/// Options of a directory or tarball source.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Leave out the paths that FILE's regular expressions match (one per
    /// line, matched against the whole path from the tree's root, `#`
    /// comments), on top of the built-in ones. A matching directory is
    /// left out with everything under it.
    #[arg(long, value_name = "FILE")]
    pub filter: Option<PathBuf>,

    /// Drop the built-in filter (see --print-filter).
    #[arg(long)]
    pub no_default_filter: bool,

    /// Print the filter the tree would be copied with, and stop.
    #[arg(long)]
    pub print_filter: bool,

    /// The partition table of a tree's disk (default: gpt).
    #[arg(long, value_name = "TYPE")]
    pub partition_table: Option<crate::media::tree::TableType>,

    /// The root filesystem of a tree's disk (default: ext4).
    #[arg(long, value_name = "FS")]
    pub fs_type: Option<crate::media::tree::FsType>,

    /// Bundle a snapshot of the running host's root filesystem instead
    /// of the live root (`/` on LVM or btrfs), removed at the end. The
    /// root tree's other filesystems are copied live.
    #[arg(long)]
    pub snapshot_root: bool,
}

impl TreeArgs {
    fn request(&self) -> crate::plan::TreeRequest {
        crate::plan::TreeRequest {
            filter: self.filter.clone(),
            no_default_filter: self.no_default_filter,
            print_filter: self.print_filter,
            table: self.partition_table,
            fs: self.fs_type,
            snapshot_root: self.snapshot_root,
        }
    }
}

/// System preparation options.
#[derive(Debug, Args)]
pub struct SysprepArgs {
    /// Do not prepare the system (no cleanup tasks at all).
    #[arg(long)]
    pub no_sysprep: bool,

    /// Run a system preparation task that is off by default. Repeatable.
    #[arg(long = "enable-sysprep", value_name = "NAME")]
    pub enable_sysprep: Vec<String>,

    /// Do not run a system preparation task. Repeatable.
    #[arg(long = "disable-sysprep", value_name = "NAME")]
    pub disable_sysprep: Vec<String>,

    /// Set a system preparation parameter (lists: comma-separated, `\,` for
    /// a comma). Repeatable; see --print-sysprep-params.
    #[arg(long = "sysprep-param", value_name = "NAME=VALUE")]
    pub sysprep_param: Vec<String>,

    /// Prepare the image offline only: never boot the guest. Tasks that
    /// must run inside the running guest (Windows' microsoft-sysprep,
    /// kms-client-setup) are skipped with a warning each, and the image
    /// is not generalized.
    #[arg(long)]
    pub no_boot: bool,

    /// Print the system preparation tasks for the media's OS, enabled and
    /// disabled (on standard output).
    #[arg(long)]
    pub print_syspreps: bool,

    /// Print the system preparation parameters and their values.
    #[arg(long)]
    pub print_sysprep_params: bool,

    /// Inspect the media and list, per task, every file it would change or
    /// delete and the bytes it would free; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Inject the VirtIO drivers of DIR (the extracted virtio-win media)
    /// into a Windows guest, offline; the storage drivers are registered
    /// to load at boot.
    #[arg(long, value_name = "DIR")]
    pub install_virtio: Option<PathBuf>,
}

impl SysprepArgs {
    fn request(&self) -> SysprepRequest {
        SysprepRequest {
            no_sysprep: self.no_sysprep,
            enable: self.enable_sysprep.clone(),
            disable: self.disable_sysprep.clone(),
            params: self.sysprep_param.clone(),
            no_boot: self.no_boot,
            print_syspreps: self.print_syspreps,
            print_params: self.print_sysprep_params,
            dry_run: self.dry_run,
            install_virtio: self.install_virtio.clone(),
        }
    }
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
            allow_backing_file: self.allow_backing_file,
            overlay_of: None,
            allow_secrets: self.allow_secrets,
            print_metadata: self.print_metadata,
            metadata: self.metadata.clone(),
            sysprep: self.sysprep.request(),
            host_run: self.host_run.clone(),
            cloud: self.cloud.request(),
            unset: Vec::new(),
            mount: None,
            tree: self.tree.request(),
        }
    }
}

/// snf-image-creator: make clean cloud images from disk images.
///
/// Without a subcommand, the terminal UI: pick the media (or give it as
/// MEDIA), then let the wizard guide you or use the expert menus.
#[derive(Debug, Parser)]
#[command(
    name = "snf-image-creator",
    version,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
pub struct CreatorCli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub ui: UiArgs,
}

/// The options of the terminal UI.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// Disk image file or block device to open; without it a file browser
    /// is shown.
    #[arg(value_name = "MEDIA")]
    pub media: Option<PathBuf>,

    /// Append the log of every step (and the helper VM's messages) to FILE.
    #[arg(short = 'l', long, value_name = "FILE")]
    pub logfile: Option<PathBuf>,

    /// Directory for the work directory (as for mkimage).
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,

    /// Work directly on the media instead of an overlay. THIS ALTERS THE
    /// ORIGINAL MEDIA.
    #[arg(long)]
    pub no_snapshot: bool,
}

impl UiArgs {
    /// The UI's options.
    pub fn options(&self) -> crate::ui::UiOptions {
        crate::ui::UiOptions {
            media: self.media.clone(),
            tmpdir: self.tmpdir.clone(),
            no_snapshot: self.no_snapshot,
            logfile: self.logfile.clone(),
        }
    }
}

/// What `snf-image-creator` can do besides its terminal UI.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum Command {
    /// The non-interactive front end: same as `snf-mkimage`.
    Mkimage(MkimageArgs),
    /// Check that this machine can run the tool, and say what to fix.
    Doctor {
        /// The directory whose free space to check (as for mkimage).
        #[arg(long, value_name = "DIR")]
        tmpdir: Option<PathBuf>,
        /// Print the checks as JSON (`{"checks": [...], "problems": N}`).
        #[arg(long)]
        json: bool,
    },
    /// List or show the images registered in the local store or a cloud.
    Images(super::images::ImagesArgs),
    /// Serve the local image store over the Synnefo APIs (Astakos, Pithos,
    /// Plankton), for kamaki and for snf-mkimage -a URL -t TOKEN.
    Serve(super::cloud::ServeArgs),
    /// Upload (and register) an image exported before with -o.
    Upload(super::cloud::UploadArgs),
    /// List, add, remove or pick the default of the Synnefo clouds saved in
    /// kamaki's configuration (~/.kamakirc, or $KAMAKI_CONFIG).
    Accounts(super::accounts::AccountsArgs),
    /// Boot an image under qemu (KVM, else software emulation) and say
    /// whether it reached a login prompt, or --marker TEXT, on its serial
    /// console in time (exit 0), or not (exit 1).
    BootTest(super::boot_test::BootTestArgs),
    /// Write the man pages (snf-mkimage.1, snf-image-creator.1 and one per
    /// subcommand) into DIR.
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the completion script of SHELL for snf-image-creator (or, with
    /// --mkimage, for snf-mkimage).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
        /// The script for snf-mkimage.
        #[arg(long)]
        mkimage: bool,
    },
}
