//! The plan: a validated, front-end-neutral description of one run. The
//! command line and the terminal UI both build one and hand it to the run
//! that carries it out; everything checkable without touching the media is
//! checked here, so that a bad request fails before anything starts. What
//! the run does with the guest is decided here too, once ([`Work`]).

use std::path::{Path, PathBuf};

use crate::guest::metadata::{parse_assignment, validate_key};
pub use crate::media::tree::TreeSpec;
use crate::sysprep;

mod work;
pub use work::Work;

pub use crate::process::UsageError;

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Where the diskdump goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write it (and its side files) here.
    File(PathBuf),
    /// `/dev/null`: run everything and compute the checksums, write nothing.
    Discard,
}

/// The side files written next to a diskdump, by suffix.
pub const SIDE_FILES: &[&str] = &[".meta", ".md5sum", ".sha256sum", ".variant", ".report.json"];

/// What the user asked for, before validation.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub source: PathBuf,
    pub outfile: Option<PathBuf>,
    pub force: bool,
    pub tmpdir: Option<PathBuf>,
    pub no_snapshot: bool,
    pub allow_unsupported: bool,
    /// Use an image that has a backing file.
    pub allow_backing_file: bool,
    /// The source is the product's own overlay of this (examined) original.
    pub overlay_of: Option<PathBuf>,
    /// Upload and register an image the secret scan found secrets in.
    pub allow_secrets: bool,
    pub print_metadata: bool,
    /// `KEY=VALUE` strings as typed.
    pub metadata: Vec<String>,
    /// System preparation choices, as typed.
    pub sysprep: SysprepRequest,
    /// `--host-run` scripts, in order.
    pub host_run: Vec<PathBuf>,
    /// Upload and registration options.
    pub cloud: crate::cloud::request::UploadRequest,
    /// Detected properties to leave out (the UI's Properties → Delete).
    pub unset: Vec<String>,
    /// Mount the guest on this (existing, empty) host directory until
    /// the front end releases it (the UI's Mount).
    pub mount: Option<PathBuf>,
    /// How to make a disk of a directory or tarball source.
    pub tree: TreeRequest,
}

/// The options of a tree source (a directory or a tarball), before
/// validation.
#[derive(Debug, Clone, Default)]
pub struct TreeRequest {
    /// `--filter FILE`: expressions of paths to leave out.
    pub filter: Option<PathBuf>,
    /// `--no-default-filter`: drop the built-in expressions.
    pub no_default_filter: bool,
    /// `--print-filter`: print the filter and stop.
    pub print_filter: bool,
    pub table: Option<crate::media::tree::TableType>,
    pub fs: Option<crate::media::tree::FsType>,
    /// `--snapshot-root`: bundle a snapshot of the host's root.
    pub snapshot_root: bool,
}

impl TreeRequest {
    fn given(&self) -> Option<&'static str> {
        [
            (self.filter.is_some(), "--filter"),
            (self.no_default_filter, "--no-default-filter"),
            (self.print_filter, "--print-filter"),
            (self.table.is_some(), "--partition-table"),
            (self.fs.is_some(), "--fs-type"),
        ]
        .into_iter()
        .find_map(|(on, name)| on.then_some(name))
    }

    /// The tree spec for `source`, when it is a tree; options of trees
    /// given for a disk image are refused.
    pub fn validate(
        &self,
        source: &Path,
        output: Option<&Path>,
        tmpdir: Option<&Path>,
    ) -> Result<Option<TreeSpec>, UsageError> {
        use crate::media::tree::{self, Filter, TreeKind};
        if self.snapshot_root && source != Path::new("/") {
            return Err(usage(format!(
                "--snapshot-root applies to the running host (snf-mkimage /), and {} is not /",
                source.display()
            )));
        }
        let kind = match tree::kind_of(source) {
            Some(_) if source == Path::new("/") => TreeKind::Host,
            Some(k) => k,
            None => {
                return match self.given() {
                    Some(opt) => Err(usage(format!(
                        "{opt} applies to a directory or tarball source, and {} is neither",
                        source.display()
                    ))),
                    None => Ok(None),
                };
            }
        };
        let mut filter = Filter::load(self.filter.as_deref(), self.no_default_filter)?;
        if let Some(inside) = output.and_then(|o| tree_relative(source, o)) {
            filter = filter.with_path(&inside);
        }
        let parent = tmpdir.map(Path::to_owned);
        if let (TreeKind::Host, Some(p)) =
            (kind, parent.or_else(crate::media::workdir::default_parent))
        {
            filter = filter.with_work_dirs(&p);
        }
        Ok(Some(TreeSpec {
            kind,
            filter,
            table: self.table.unwrap_or_default(),
            fs: self.fs.unwrap_or_default(),
            host: None,
            snapshot_root: self.snapshot_root,
        }))
    }
}

/// `path` as seen from the root of the tree `root`, when it lies inside.
pub fn tree_relative(root: &Path, path: &Path) -> Option<PathBuf> {
    let root = std::fs::canonicalize(root).ok()?;
    let parent = std::fs::canonicalize(path.parent()?).ok()?;
    let abs = parent.join(path.file_name()?);
    abs.strip_prefix(&root)
        .ok()
        .map(|rel| Path::new("/").join(rel))
}

/// The system preparation options, before validation.
#[derive(Debug, Clone, Default)]
pub struct SysprepRequest {
    pub no_sysprep: bool,
    pub enable: Vec<String>,
    pub disable: Vec<String>,
    /// `NAME=VALUE` strings as typed.
    pub params: Vec<String>,
    /// `--no-boot`: prepare offline only.
    pub no_boot: bool,
    pub print_syspreps: bool,
    pub print_params: bool,
    pub dry_run: bool,
    /// `--install-virtio DIR`: the VirtIO drivers to inject into Windows.
    pub install_virtio: Option<PathBuf>,
}

impl SysprepRequest {
    /// Check task names and parameter values.
    pub fn validate(&self) -> Result<sysprep::Options, UsageError> {
        if self.no_sysprep && self.dry_run {
            return Err(usage(
                "--dry-run lists what system preparation would do: it cannot go with --no-sysprep",
            ));
        }
        let mut enable = self.enable.clone();
        let mut params = sysprep::Params::from_assignments(&self.params)?;
        if let Some(dir) = &self.install_virtio {
            let virtio = &sysprep::windows::virtio::INSTALL_VIRTIO;
            sysprep::windows::virtio::check_dir(dir)
                .map_err(|e| usage(format!("--install-virtio {}: {e}", dir.display())))?;
            enable.push(virtio.name.to_owned());
            params.set_dir("virtio", dir)?;
        }
        Ok(sysprep::Options {
            run: !self.no_sysprep,
            selection: sysprep::Selection::new(&enable, &self.disable)?,
            params,
            no_boot: self.no_boot,
            print_tasks: self.print_syspreps,
            print_params: self.print_params,
            dry_run: self.dry_run,
        })
    }
}

/// A validated run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub source: PathBuf,
    pub output: Option<Output>,
    /// Overwrite existing outputs.
    pub force: bool,
    pub tmpdir: Option<PathBuf>,
    /// Work on an overlay (always, unless the user insists otherwise).
    pub snapshot: bool,
    pub allow_unsupported: bool,
    /// Use an image that has a backing file (whose links all pass the
    /// rules of [`crate::media::chain`]).
    pub allow_backing_file: bool,
    /// The source is the product's own qcow2 overlay (the UI's session
    /// overlay) of this original: the chain rules apply to the original,
    /// not to the overlay's link to it.
    pub overlay_of: Option<PathBuf>,
    /// Upload and register an image the secret scan found secrets in.
    pub allow_secrets: bool,
    pub print_metadata: bool,
    /// User metadata, keys upper-cased, in the order given.
    pub metadata: Vec<(String, String)>,
    pub sysprep: sysprep::Options,
    /// Scripts run on the host with the guest mounted, before the tasks.
    pub host_run: Vec<PathBuf>,
    /// Where to upload (and register) the image, if anywhere.
    pub upload: Option<crate::cloud::request::UploadPlan>,
    /// Keys (upper-cased) removed from the detected metadata before the
    /// user's are added.
    pub unset: Vec<String>,
    /// What the run does with the guest.
    pub work: Work,
    /// How to make a disk of the source, when it is a tree.
    pub tree: Option<TreeSpec>,
    /// Print the tree's filter (`--print-filter`) and stop.
    pub print_filter: bool,
}

impl Plan {
    /// Refuse the run when an output is one of `inputs` (the source and
    /// its backing chain, once examined).
    pub fn check_inputs_untouched(&self, inputs: &[PathBuf]) -> Result<(), UsageError> {
        let out = match &self.output {
            Some(Output::File(out)) => Some(out.as_path()),
            _ => None,
        };
        check_inputs_untouched(out, self.upload.as_ref(), inputs)
    }
}

/// No output may be an input, even with -f: the diskdump and each side
/// file are compared with every input (device and inode, or path), and no
/// input may lie in the local store an upload writes to.
fn check_inputs_untouched(
    output: Option<&Path>,
    upload: Option<&crate::cloud::request::UploadPlan>,
    inputs: &[PathBuf],
) -> Result<(), UsageError> {
    use crate::media::identity::{find_clash, inside};
    if let Some(out) = output
        && let Some(c) = find_clash(&output_paths(out), inputs)
    {
        return Err(usage(format!(
            "-o {}: {} is the same file as the input {}, which must never be written to (refused even with -f): choose another -o",
            out.display(),
            c.output.display(),
            c.input.display()
        )));
    }
    if let Some(crate::cloud::Target::Local(root)) = upload.map(|u| &u.target)
        && let Some(input) = inside(root, inputs)
    {
        return Err(usage(format!(
            "the input {} is inside the local image store {}, which the upload writes to: move it out of the store, or give another --store",
            input.display(),
            root.display()
        )));
    }
    Ok(())
}

impl Request {
    /// Check everything that can be checked without opening the media.
    pub fn validate(self) -> Result<Plan, UsageError> {
        if !crate::media::source::exists(&self.source) {
            return Err(usage(format!(
                "{} does not exist: give the path of a disk image or a block device",
                self.source.display()
            )));
        }
        let sysprep = self.sysprep.validate()?;
        let tree = (self.tree).validate(
            &self.source,
            self.outfile.as_deref(),
            self.tmpdir.as_deref(),
        )?;
        let prints = self.print_metadata
            || sysprep.print_tasks
            || sysprep.print_params
            || self.tree.print_filter;
        let upload = self.cloud.clone().validate()?;
        let exports = self.outfile.is_some() || upload.is_some();
        let work = Work::decide(self.mount, exports, prints, &self.sysprep)?;
        if let Some(dir) = &self.tmpdir {
            check_writable_dir(dir, "--tmpdir")?;
        }
        for script in &self.host_run {
            check_script(script)?;
        }
        let mut inputs = vec![self.source.clone()];
        inputs.extend(self.overlay_of.clone());
        check_inputs_untouched(self.outfile.as_deref(), upload.as_ref(), &inputs)?;
        let output = self
            .outfile
            .as_deref()
            .map(|o| check_output(o, self.force))
            .transpose()?;
        let mut metadata: Vec<(String, String)> = self
            .metadata
            .iter()
            .map(|m| parse_assignment(m).map_err(|e| usage(format!("-m {m}: {e}"))))
            .collect::<Result<_, _>>()?;
        if let Some(d) = upload.as_ref().and_then(|u| u.description.clone()) {
            metadata.push(("DESCRIPTION".into(), d));
        }
        let unset = self
            .unset
            .iter()
            .map(|k| validate_key(k).map_err(|e| usage(format!("{k}: {e}"))))
            .collect::<Result<_, _>>()?;
        Ok(Plan {
            source: self.source,
            output,
            force: self.force,
            tmpdir: self.tmpdir,
            snapshot: !self.no_snapshot,
            allow_unsupported: self.allow_unsupported,
            allow_backing_file: self.allow_backing_file,
            overlay_of: self.overlay_of,
            allow_secrets: self.allow_secrets,
            print_metadata: self.print_metadata,
            metadata,
            sysprep,
            host_run: self.host_run,
            upload,
            unset,
            work,
            tree,
            print_filter: self.tree.print_filter,
        })
    }
}

/// A `--host-run` script must be an executable regular file.
fn check_script(script: &Path) -> Result<(), UsageError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(script) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(m) if m.is_file() => Err(usage(format!(
            "--host-run {}: the script is not executable (chmod +x it)",
            script.display()
        ))),
        Ok(_) => Err(usage(format!(
            "--host-run {}: not a regular file",
            script.display()
        ))),
        Err(e) => Err(usage(format!("--host-run {}: {e}", script.display()))),
    }
}

fn check_writable_dir(dir: &Path, what: &str) -> Result<(), UsageError> {
    if !dir.is_dir() {
        return Err(usage(format!(
            "{what} {}: no such directory (create it or name another)",
            dir.display()
        )));
    }
    if nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_err()
    {
        return Err(usage(format!(
            "{what} {}: the directory is not writable",
            dir.display()
        )));
    }
    Ok(())
}

/// The diskdump's path plus the path of each side file.
pub fn output_paths(out: &Path) -> Vec<PathBuf> {
    let mut paths = vec![out.to_owned()];
    paths.extend(SIDE_FILES.iter().map(|s| with_suffix(out, s)));
    paths
}

/// `out` with `suffix` appended to its file name.
pub fn with_suffix(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn check_output(out: &Path, force: bool) -> Result<Output, UsageError> {
    if out == Path::new("/dev/null") {
        return Ok(Output::Discard);
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    check_writable_dir(parent, "output directory")?;
    if out.is_dir() {
        return Err(usage(format!(
            "-o {}: is a directory; give a file name",
            out.display()
        )));
    }
    let existing = output_paths(out).into_iter().find(|p| p.exists());
    if let Some(existing) = existing.filter(|_| !force) {
        return Err(usage(format!(
            "{} already exists: use -f to overwrite it, or choose another -o",
            existing.display()
        )));
    }
    Ok(Output::File(out.to_owned()))
}

#[cfg(test)]
mod tests;
