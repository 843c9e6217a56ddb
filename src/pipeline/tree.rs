//! A directory or tarball source: its raw disk is built in the work
//! directory, and the run works on that disk directly (it is the run's
//! own, so it needs no overlay).

use anyhow::Result;

use super::WorkDisk;
use crate::media::chain::Chain;
use crate::media::source::{Source, SourceKind};
use crate::media::tree::{self, TreeKind, TreeSpec};
use crate::media::{ImageFormat, WorkDir};
use crate::plan::{Plan, tree_relative};
use crate::process::Cancel;
use crate::progress::{Reporter, begin_step};

/// Examine the tree, build its disk, and describe it as the run's source.
pub(super) fn build(
    plan: &Plan,
    spec: &TreeSpec,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<(Source, WorkDir, WorkDisk)> {
    let kind = match spec.kind {
        TreeKind::Directory => SourceKind::Tree,
        TreeKind::Tarball(_) => SourceKind::Tarball,
    };
    let step = begin_step(
        reporter,
        &format!("Examining source media `{}'", plan.source.display()),
        None,
    );
    step.done(kind.describe());
    plan.check_inputs_untouched(std::slice::from_ref(&plan.source))?;
    let workdir = WorkDir::create(plan.tmpdir.as_deref())?;
    let mut spec = spec.clone();
    if let Some(inside) = tree_relative(&plan.source, workdir.path()) {
        spec.filter = spec.filter.with_path(&inside);
    }
    cancel.check()?;
    let raw = workdir.join("tree.raw");
    let built = tree::build(&plan.source, &spec, &raw, reporter, cancel)?;
    if built.bootable {
        reporter.info("the tree has a kernel and an initramfs: the image boots with EXTLINUX");
    }
    let source = Source {
        path: plan.source.clone(),
        kind,
        format: ImageFormat::Raw,
        size: built.size,
        chain: Chain { layers: Vec::new() },
    };
    let disk = WorkDisk {
        path: raw,
        format: ImageFormat::Raw,
    };
    Ok((source, workdir, disk))
}
