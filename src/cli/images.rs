//! `snf-image-creator images`: what is registered, in the local store or
//! a cloud; and, in the local store, each name's history: versions, tags,
//! channels, file manifests and diffs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use super::bundle;
use super::cloud::{AccountArgs, parse_channel, report};
mod diff;

use crate::cloud::local::history::{Channel, HistoryError, Index, Version};
use crate::cloud::local::store::Store;
use crate::cloud::{self, DEFAULT_CONTAINER, RemoteImage, Target};
use crate::process::UsageError;
use crate::progress::NullReporter;

/// `snf-image-creator images`: what is registered.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,

    /// Print JSON (`list`: `{"images": [...], "names": [...]}`; `show`
    /// always does).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub account: AccountArgs,
}

/// The `images` subcommands. IMAGE is NAME (its latest version),
/// NAME@N (version N), NAME:TAG or NAME:CHANNEL.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// List the registered images (the local store: each name with its
    /// latest version, version count, channels and tags).
    List {
        /// Only the versions in this channel (local store).
        #[arg(long, value_name = "CHANNEL", value_parser = parse_channel)]
        channel: Option<Channel>,
    },
    /// Show one image (IMAGE, or an id) as JSON, properties included.
    Show {
        #[arg(value_name = "IMAGE")]
        name: String,
    },
    /// Point TAG at a version (moving it if it pointed at another).
    Tag {
        #[arg(value_name = "IMAGE")]
        image: String,
        #[arg(value_name = "TAG")]
        tag: String,
    },
    /// Move a channel to a version; production takes a version that was
    /// in test unless --skip-test.
    Promote {
        #[arg(value_name = "IMAGE")]
        image: String,
        #[arg(long, value_name = "CHANNEL", value_parser = parse_channel, required = true)]
        channel: Channel,
        #[arg(long)]
        skip_test: bool,
    },
    /// Remove a version (one a tag or channel points at only with --force).
    Rm {
        #[arg(value_name = "NAME@N")]
        image: String,
        #[arg(long)]
        force: bool,
    },
    /// Delete the blocks and manifests no object or version references.
    Gc,
    /// List a version's files as `imagetool show` does (mode, uid, gid,
    /// size, SHA-512 or link target, path); only paths matching REGEX.
    Files {
        #[arg(value_name = "IMAGE")]
        image: String,
        #[arg(value_name = "REGEX")]
        regex: Option<String>,
    },
    /// The files and packages added, removed and changed from A to B, and
    /// the size delta. A or B may be an exported image file (a diskdump):
    /// its files and packages are read with one helper-VM launch.
    Diff {
        #[arg(value_name = "A")]
        from: String,
        #[arg(value_name = "B")]
        to: String,
        /// Also name the services whose triggers (B's, as given with
        /// --triggers when it was registered) match a changed path, in
        /// the order of the triggers.
        #[arg(long)]
        triggers: bool,
    },
    /// A version's run report: each step's time, bytes freed and size
    /// change, and how preparation changed the packages.
    Report {
        #[arg(value_name = "IMAGE")]
        image: String,
    },
    /// Write a version as one tar: manifest.json (name, version,
    /// properties, checksums, file manifest, extras), the diskdump, its
    /// side files and the extras.
    Export {
        #[arg(value_name = "IMAGE")]
        image: String,
        /// The bundle to write.
        #[arg(short = 'o', long = "output", value_name = "FILE.tar")]
        output: PathBuf,
        /// Add a host file as extras/DST (DST: SRC's file name by default).
        #[arg(short = 'e', long = "extra", value_name = "SRC[:DST]", value_parser = bundle::parse_extra)]
        extras: Vec<bundle::Extra>,
    },
    /// Verify a bundle and register its image as a new version (of its
    /// own name, or NEWNAME); nothing changes when a member does not verify.
    Import {
        #[arg(value_name = "FILE.tar")]
        file: PathBuf,
        #[arg(long = "as", value_name = "NEWNAME")]
        rename: Option<String>,
        /// Write the bundle's extras under DIR.
        #[arg(long, value_name = "DIR")]
        extras_to: Option<PathBuf>,
    },
}

/// Run an `images` subcommand.
pub fn run(args: &ImagesArgs) -> ExitCode {
    report(inner(args).map_err(usage_or_not))
}

/// A history change refused for want of a flag is a usage error (2).
fn usage_or_not(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<HistoryError>() {
        Some(HistoryError::Refused(m)) => UsageError(m.clone()).into(),
        _ => e,
    }
}

fn inner(args: &ImagesArgs) -> Result<()> {
    let target = args.account.request().target()?;
    let Target::Local(root) = &target else {
        return remote(args, &target);
    };
    let store = Store::open(root)?;
    let json = args.json;
    match &args.command {
        ImagesCommand::List { channel } => list(&store, *channel, json),
        ImagesCommand::Show { name } => show(&store, name),
        ImagesCommand::Tag { image, tag } => tag_version(&store, image, tag),
        ImagesCommand::Promote {
            image,
            channel,
            skip_test,
        } => promote(&store, image, *channel, *skip_test),
        ImagesCommand::Rm { image, force } => rm(&store, image, *force),
        ImagesCommand::Gc => {
            let c = store.collect_garbage()?;
            println!(
                "Removed {} blocks ({} bytes) and {} manifests",
                c.blocks, c.bytes, c.manifests
            );
            Ok(())
        }
        ImagesCommand::Files { image, regex } => files(&store, image, regex.as_deref(), json),
        ImagesCommand::Diff { from, to, triggers } => {
            diff::run(&store, (from, to), *triggers, json, &NullReporter)
        }
        ImagesCommand::Report { image } => report_of(&store, image, json),
        ImagesCommand::Export {
            image,
            output,
            extras,
        } => bundle::export(&store, image, output, extras),
        ImagesCommand::Import {
            file,
            rename,
            extras_to,
        } => bundle::import(&store, file, rename.as_deref(), extras_to.as_deref()),
    }
}

/// `list` and `show` on a cloud (no history there).
fn remote(args: &ImagesArgs, target: &Target) -> Result<()> {
    let mut backend = cloud::connect(target, DEFAULT_CONTAINER)?;
    backend.authenticate()?;
    let images = backend.images()?;
    match &args.command {
        ImagesCommand::List { channel: None } if args.json => {
            super::json::print(&super::json::images(&images))
        }
        ImagesCommand::List { channel: None } => print_plain(&images),
        ImagesCommand::Show { name } => {
            let img = cloud::find_image(&images, name)?;
            println!("{}", serde_json::to_string_pretty(img)?);
        }
        _ => {
            return Err(UsageError::new(
                "versions, tags, channels, files and diffs are kept by the local image store only (--store DIR)",
            )
            .into());
        }
    }
    Ok(())
}

fn print_plain(images: &[RemoteImage]) {
    if images.is_empty() {
        println!("No images registered.");
        return;
    }
    let width = images
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<36}  {:<width$}  {:>10}  VISIBILITY",
        "ID", "NAME", "SIZE (MiB)"
    );
    for i in images {
        let vis = if i.is_public { "public" } else { "private" };
        let mib = i.size.div_ceil(1024 * 1024);
        println!("{:<36}  {:<width$}  {mib:>10}  {vis}", i.id, i.name);
    }
}

/// The version a name's row shows: the channel's, or the latest.
fn row_version(ix: &Index, channel: Option<Channel>) -> Option<&Version> {
    match channel {
        Some(c) => ix
            .channels
            .get(&c)
            .and_then(|n| ix.versions.iter().find(|v| v.version == *n)),
        None => ix.latest(),
    }
}

fn list(store: &Store, channel: Option<Channel>, json: bool) -> Result<()> {
    let all = store.histories()?;
    let rows: Vec<(&Index, &Version)> = all
        .iter()
        .filter_map(|ix| Some((ix, row_version(ix, channel)?)))
        .collect();
    if json {
        let images: Vec<RemoteImage> = match channel {
            Some(_) => rows.iter().map(|(ix, v)| ix.image_of(v)).collect(),
            None => store.images(None)?,
        };
        let names: Vec<_> = rows.iter().map(|(ix, v)| name_json(ix, v)).collect();
        super::json::print(&json!({ "images": images, "names": names }));
        return Ok(());
    }
    if rows.is_empty() {
        println!("No images registered.");
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|(ix, _)| ix.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:>7}  {:>8}  {:>10}  {:<10}  {:<18}  TAGS",
        "NAME", "VERSION", "VERSIONS", "SIZE (MiB)", "VISIBILITY", "CHANNELS"
    );
    for (ix, v) in rows {
        let (tags, chans) = pointers(ix, v.version);
        let vis = if v.image.is_public {
            "public"
        } else {
            "private"
        };
        let mib = v.image.size.div_ceil(1024 * 1024);
        println!(
            "{:<width$}  {:>7}  {:>8}  {mib:>10}  {vis:<10}  {:<18}  {}",
            ix.name,
            v.version,
            ix.versions.len(),
            or_dash(&chans),
            or_dash(&tags)
        );
    }
    Ok(())
}

fn name_json(ix: &Index, v: &Version) -> serde_json::Value {
    json!({
        "name": ix.name, "version": v.version, "versions": ix.versions.len(),
        "channels": ix.channels, "tags": ix.tags,
    })
}

/// The tags and channels at version `n`, comma-separated.
fn pointers(ix: &Index, n: u64) -> (String, String) {
    let (tags, chans) = ix.pointers(n);
    let chans: Vec<&str> = chans.iter().map(|c| c.name()).collect();
    (tags.join(","), chans.join(","))
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn show(store: &Store, name: &str) -> Result<()> {
    let image = match store.resolve(name) {
        Ok((ix, v)) => ix.image_of(&v),
        Err(HistoryError::NotFound(m)) => {
            let images = store.images(None)?;
            match cloud::find_image(&images, name) {
                Ok(img) => img.clone(),
                Err(_) => return Err(HistoryError::NotFound(m).into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", serde_json::to_string_pretty(&image)?);
    Ok(())
}

fn tag_version(store: &Store, image: &str, tag: &str) -> Result<()> {
    let (ix, v) = store.resolve(image)?;
    store.change_history(&ix.name, false, |ix| ix.tag(v.version, tag))?;
    eprintln!("{}@{} is tagged {tag}", ix.name, v.version);
    Ok(())
}

fn promote(store: &Store, image: &str, channel: Channel, skip_test: bool) -> Result<()> {
    let (ix, v) = store.resolve(image)?;
    let n = v.version;
    store.change_history(&ix.name, false, |ix| ix.promote(n, channel, skip_test))?;
    eprintln!("{}@{n} is in the {channel} channel", ix.name);
    Ok(())
}

fn rm(store: &Store, image: &str, force: bool) -> Result<()> {
    let (ix, v) = store.resolve(image)?;
    if !image.ends_with(&format!("@{}", v.version)) {
        return Err(UsageError(format!(
            "give the version to remove as NAME@N (`{image}' is {}@{})",
            ix.name, v.version
        ))
        .into());
    }
    store.remove_version(&ix.name, v.version, force)?;
    eprintln!(
        "Removed {}@{}; `snf-image-creator images gc' frees its blocks",
        ix.name, v.version
    );
    Ok(())
}

fn files(store: &Store, image: &str, regex: Option<&str>, json: bool) -> Result<()> {
    let re = match regex.map(regex::Regex::new) {
        Some(Err(e)) => return Err(UsageError(format!("bad REGEX: {e}")).into()),
        Some(Ok(re)) => Some(re),
        None => None,
    };
    let (ix, v) = store.resolve(image)?;
    let m = store.manifest(&ix.name, v.version)?;
    let shown = m
        .files
        .iter()
        .filter(|f| re.as_ref().is_none_or(|r| r.is_match(&f.path)));
    if json {
        let shown: Vec<_> = shown.collect();
        super::json::print(&json!({ "files": shown }));
        return Ok(());
    }
    for f in shown {
        println!("{}", f.line());
    }
    Ok(())
}

fn report_of(store: &Store, image: &str, json: bool) -> Result<()> {
    let (ix, v) = store.resolve(image)?;
    let r = store.report(&ix.name, v.version)?;
    if json {
        super::json::print(&json!({ "name": ix.name, "version": v.version, "report": r }));
        return Ok(());
    }
    println!("{}@{}", ix.name, v.version);
    print!("{}", crate::pipeline::report::table_of(&r));
    Ok(())
}
