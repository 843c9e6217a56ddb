//! A directory, tarball or host source: its raw disk is built in the work
//! directory, and the run works on that disk directly (it is the run's
//! own, so it needs no overlay).

use anyhow::Result;

use super::WorkDisk;
use crate::media::chain::Chain;
use crate::media::source::{Source, SourceKind};
use crate::media::tree::host::{self, HostLayout, LiveHost};
use crate::media::tree::{self, Layout, TreeKind, TreeSpec};
use crate::media::{ImageFormat, WorkDir};
use crate::plan::{Plan, tree_relative};
use crate::process::Cancel;
use crate::progress::{Reporter, begin_step};

/// What building a tree's disk gives the run.
pub(super) struct Built {
    pub source: Source,
    pub workdir: WorkDir,
    pub disk: WorkDisk,
    /// Properties the image gets from the source (a host's `SWAP`).
    pub metadata: Vec<(String, String)>,
}

/// Examine the tree, build its disk, and describe it as the run's source.
pub(super) fn build(
    plan: &Plan,
    spec: &TreeSpec,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<Built> {
    let kind = match spec.kind {
        TreeKind::Directory => SourceKind::Tree,
        TreeKind::Tarball(_) => SourceKind::Tarball,
        TreeKind::Host => SourceKind::Host,
    };
    let step = begin_step(
        reporter,
        &format!("Examining source media `{}'", plan.source.display()),
        None,
    );
    let mut spec = spec.clone();
    let mut root = plan.source.clone();
    if kind == SourceKind::Host {
        let layout = host::plan(&LiveHost::default(), &host::host_root())?;
        step.done(kind.describe());
        report_layout(&layout, &spec, reporter);
        root = layout.root.clone();
        spec.host = Some(layout);
    } else {
        step.done(kind.describe());
    }
    plan.check_inputs_untouched(std::slice::from_ref(&plan.source))?;
    let workdir = WorkDir::create(plan.tmpdir.as_deref())?;
    if let Some(inside) = tree_relative(&root, workdir.path()) {
        spec.filter = spec.filter.with_path(&inside);
    }
    cancel.check()?;
    let raw = workdir.join("tree.raw");
    let built = tree::build(&root, &spec, &raw, reporter, cancel)?;
    if built.source_loader {
        reporter.info("the source's boot loader (MBR boot code and GRUB's core) is copied");
    }
    if built.bootable {
        reporter.info("the tree has a kernel and an initramfs: the image boots with EXTLINUX");
    }
    let numbered = spec.layout().keeps_numbers();
    let metadata = (spec.host.iter())
        .flat_map(|h| h.swap.as_ref())
        .map(|s| {
            let n = if numbered { s.number } else { 2 };
            ("SWAP".to_owned(), format!("{n}:{}", s.bytes >> 20))
        })
        .collect();
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
    Ok(Built {
        source,
        workdir,
        disk,
        metadata,
    })
}

/// Say what the host's layout is and what the image makes of it.
fn report_layout(layout: &HostLayout, spec: &TreeSpec, reporter: &dyn Reporter) {
    reporter.warn(
        "bundling the running system: it is copied while it runs, so files that change \
         meanwhile (databases, logs) may be copied half-written; stop what writes, or \
         where the root is on LVM or btrfs, snapshot it and bundle the snapshot's tree",
    );
    for line in layout.lines() {
        reporter.info(&format!("host layout: {line}"));
    }
    let new = Layout::of_host(layout, spec.table, spec.fs);
    for line in new.lines() {
        reporter.info(&line);
    }
    for line in &new.notes {
        reporter.warn(line);
    }
}
