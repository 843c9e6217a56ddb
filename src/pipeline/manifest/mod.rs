//! The file manifest step (with the installed packages): after
//! preparation (and the secret scan), every file's path, type, mode,
//! owner, size, link target and (regular files) SHA-512, for the store's
//! version.
//!
//! When every filesystem of the guest's tree is ext2/3/4 on a partition,
//! the listing is read on the host from the exported image ([`ext`]),
//! unless `SNF_MANIFEST=vm` is set. Otherwise it is taken with the guest
//! mounted read-only inside the helper VM, in few guestfs calls: one
//! `find0` for the names, one `checksums_out`, and `lstatnslist` and
//! `readlinklist` once per directory (they take names without `/`). The
//! packages are read in the helper VM either way.

mod ext;
mod survey;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use guestfs::Handle;

use crate::cloud::Target;
use crate::cloud::local::history::{FileEntry, FileKind, Manifest};
use crate::guest::OsInfo;
use crate::guest::appliance::{Appliance, describe};
use crate::guest::packages::Packages;
use crate::plan::{Plan, Work};
use crate::progress::{Reporter, Step, begin_step};
pub(super) use ext::ExtMounts;
pub use survey::survey;

/// Names per `lstatnslist`/`readlinklist` call (its answer must stay
/// under libguestfs' 4 MiB message limit).
const BATCH: usize = 2000;

/// What the store keeps of the prepared guest.
pub struct Recorded {
    pub manifest: Manifest,
    pub packages: Option<Packages>,
}

/// What the helper VM's manifest step leaves: the listing (or where to
/// read it), and the packages.
pub(super) struct InVm {
    pub listing: Listing,
    pub packages: Option<Packages>,
}

/// The file listing: taken in the helper VM, or to read on the host from
/// the exported image.
pub(super) enum Listing {
    Taken(Manifest),
    FromImage(ExtMounts),
}

impl InVm {
    /// Where to read the listing from the exported image, if there.
    pub(super) fn image_mounts(&self) -> Option<&ExtMounts> {
        match &self.listing {
            Listing::FromImage(mounts) => Some(mounts),
            Listing::Taken(_) => None,
        }
    }

    /// The listing taken in the helper VM (if it was), and the packages.
    pub(super) fn into_parts(self) -> (Option<Manifest>, Option<Packages>) {
        match self.listing {
            Listing::Taken(manifest) => (Some(manifest), self.packages),
            Listing::FromImage(_) => (None, self.packages),
        }
    }
}

/// Whether the run registers the image in the local store (the only
/// target that keeps a manifest and packages).
pub(super) fn wanted(plan: &Plan) -> bool {
    let registers_locally = plan
        .upload
        .as_ref()
        .is_some_and(|u| u.register.is_some() && matches!(u.target, Target::Local(_)));
    registers_locally && matches!(plan.work, Work::Export { .. })
}

/// Record the manifest and the packages when the run registers the
/// image in the local store, or say where to read the manifest.
pub(super) fn record(
    vm: &mut Appliance,
    os: &OsInfo,
    plan: &Plan,
    tmp: &Path,
    reporter: &dyn Reporter,
) -> Result<Option<InVm>> {
    if !wanted(plan) {
        return Ok(None);
    }
    let from_image = ext::ext_mounts(vm.handle(), os).filter(|_| !listed_in_vm());
    let step = match from_image {
        None => Some(begin_step(reporter, "Recording the file manifest", None)),
        Some(_) => None,
    };
    let (listed, packages) = list_and_read_packages(vm, os, from_image.is_none(), tmp, reporter)?;
    let listing = match (listed, from_image) {
        (Some((manifest, skipped)), _) => {
            if let Some(step) = step {
                done(step, &manifest, skipped, packages.as_ref(), reporter);
            }
            Listing::Taken(manifest)
        }
        (None, Some(mounts)) => Listing::FromImage(mounts),
        (None, None) => unreachable!("the listing is taken when it cannot be read on the host"),
    };
    Ok(Some(InVm { listing, packages }))
}

/// A listing taken in the helper VM, with how many names were left out
/// (not UTF-8).
type Listed = (Manifest, usize);

/// With the guest mounted read-only: its listing (when `listing`; with
/// the count of names left out) and its packages.
fn list_and_read_packages(
    vm: &mut Appliance,
    os: &OsInfo,
    listing: bool,
    tmp: &Path,
    reporter: &dyn Reporter,
) -> Result<(Option<Listed>, Option<Packages>)> {
    vm.mount(os, true, reporter)?;
    let listed = match listing {
        true => list(vm.handle(), tmp).map(Some),
        false => Ok(None),
    };
    let packages = listed
        .is_ok()
        .then(|| read_packages(vm, reporter))
        .flatten();
    vm.umount_all()?;
    Ok((listed?, packages))
}

/// Whether `SNF_MANIFEST=vm` asks for the listing to be taken in the
/// helper VM even when the host could read it.
fn listed_in_vm() -> bool {
    std::env::var_os("SNF_MANIFEST").is_some_and(|v| v == "vm")
}

/// Read the manifest from the exported raw `image`.
pub(super) fn read_image(
    image: &Path,
    mounts: &ExtMounts,
    reporter: &dyn Reporter,
) -> Result<Manifest> {
    let step = begin_step(reporter, "Recording the file manifest", None);
    let (manifest, skipped) = ext::read(image, mounts)?;
    done(step, &manifest, skipped, None, reporter);
    Ok(manifest)
}

fn done(
    step: Step<'_>,
    manifest: &Manifest,
    skipped: usize,
    packages: Option<&Packages>,
    reporter: &dyn Reporter,
) {
    let count = packages.map(|p| p.packages.len());
    step.done(match count {
        Some(n) => format!("{} files, {n} packages", manifest.files.len()),
        None => format!("{} files", manifest.files.len()),
    });
    if skipped > 0 {
        reporter.warn(&format!(
            "{skipped} files with names that are not UTF-8 are not in the manifest"
        ));
    }
}

/// The mounted guest's installed packages; a database that cannot be
/// read (too big, unreadable) is a warning, not a failed run.
pub(super) fn read_packages(vm: &mut Appliance, reporter: &dyn Reporter) -> Option<Packages> {
    match crate::guest::packages::read(vm, reporter) {
        Ok(p) => p,
        Err(e) => {
            reporter.warn(&format!("the guest's packages are not recorded: {e:#}"));
            None
        }
    }
}

/// Every file under `/`; and how many names were left out (not UTF-8).
fn list(g: &Handle, tmp: &Path) -> Result<(Manifest, usize)> {
    let names_file = tmp.join("manifest.names");
    let sums_file = tmp.join("manifest.sha512");
    let (names, skipped) = find_names(g, &names_file)?;
    let mut sums = checksums(g, &sums_file)?;
    let mut files = Vec::with_capacity(names.len());
    for (dir, base) in by_directory(&names) {
        for chunk in base.chunks(BATCH) {
            files.extend(stat_chunk(g, &dir, chunk, &mut sums)?);
        }
    }
    Ok((Manifest::new(files), skipped))
}

/// The names grouped by their directory (`lstatnslist` takes base names).
fn by_directory(names: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in names {
        let (dir, base) = n.rsplit_once('/').unwrap_or(("", n));
        out.entry(format!("/{dir}"))
            .or_default()
            .push(base.to_owned());
    }
    out
}

fn find_names(g: &Handle, out: &Path) -> Result<(Vec<String>, usize)> {
    let path = out.to_string_lossy();
    g.find0("/", &path)
        .map_err(|e| anyhow::anyhow!("listing the guest's files: {}", describe(&e)))?;
    let data = std::fs::read(out).with_context(|| format!("reading {}", out.display()))?;
    let _ = std::fs::remove_file(out);
    let mut names = Vec::new();
    let mut skipped = 0;
    for raw in data.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        match std::str::from_utf8(raw) {
            Ok(n) => names.push(
                n.trim_start_matches("./")
                    .trim_start_matches('/')
                    .to_owned(),
            ),
            Err(_) => skipped += 1,
        }
    }
    Ok((names, skipped))
}

/// The SHA-512 of every regular file, by path relative to `/`.
fn checksums(g: &Handle, out: &Path) -> Result<HashMap<String, String>> {
    g.checksums_out("sha512", "/", &out.to_string_lossy())
        .map_err(|e| anyhow::anyhow!("computing the guest's checksums: {}", describe(&e)))?;
    let text = std::fs::read(out).with_context(|| format!("reading {}", out.display()))?;
    let _ = std::fs::remove_file(out);
    Ok(parse_sums(&String::from_utf8_lossy(&text)))
}

/// `sha512sum` lines (`HASH  ./PATH`; a name with a backslash or newline
/// is written `\HASH  ./ESCAPED`).
fn parse_sums(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((hash, path)) = line.split_once("  ") else {
            continue;
        };
        let path = path.trim_start_matches("./").trim_start_matches('/');
        let path = if escaped {
            path.replace("\\n", "\n").replace("\\\\", "\\")
        } else {
            path.to_owned()
        };
        out.insert(path, hash.to_owned());
    }
    out
}

/// The entries of `names` in directory `dir`.
fn stat_chunk(
    g: &Handle,
    dir: &str,
    names: &[String],
    sums: &mut HashMap<String, String>,
) -> Result<Vec<FileEntry>> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let stats = g
        .lstatnslist(dir, &refs)
        .map_err(|e| anyhow::anyhow!("reading the guest's file attributes: {}", describe(&e)))?;
    let links: Vec<&str> = (refs.iter().zip(&stats))
        .filter(|(_, s)| {
            s.st_ino != -1 && FileKind::from_mode(s.st_mode as u32) == FileKind::Symlink
        })
        .map(|(n, _)| *n)
        .collect();
    let mut targets = if links.is_empty() {
        Vec::new()
    } else {
        g.readlinklist(dir, &links)
            .map_err(|e| anyhow::anyhow!("reading the guest's symlinks: {}", describe(&e)))?
    }
    .into_iter();
    let mut out = Vec::with_capacity(names.len());
    for (name, st) in names.iter().zip(stats) {
        if st.st_ino == -1 {
            continue;
        }
        let kind = FileKind::from_mode(st.st_mode as u32);
        let path = match dir {
            "/" => format!("/{name}"),
            _ => format!("{dir}/{name}"),
        };
        let sha512 = (kind == FileKind::File)
            .then(|| sums.remove(&path[1..]))
            .flatten();
        out.push(FileEntry {
            path,
            kind,
            mode: (st.st_mode & 0o7777) as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: st.st_size.max(0) as u64,
            link: (kind == FileKind::Symlink).then(|| targets.next().unwrap_or_default()),
            sha512,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_group_by_directory() {
        let names = ["etc", "etc/passwd", "etc/ssh/sshd_config", "bin"].map(String::from);
        let g = by_directory(&names);
        assert_eq!(g["/"], ["etc", "bin"]);
        assert_eq!(g["/etc"], ["passwd"]);
        assert_eq!(g["/etc/ssh"], ["sshd_config"]);
    }

    #[test]
    fn checksum_lines_parse() {
        let text = "ab  ./etc/hostname\n\\cd  ./odd\\nname\\\\x\nef  ./a  b\n";
        let sums = parse_sums(text);
        assert_eq!(sums["etc/hostname"], "ab");
        assert_eq!(sums["odd\nname\\x"], "cd");
        assert_eq!(sums["a  b"], "ef");
    }
}
