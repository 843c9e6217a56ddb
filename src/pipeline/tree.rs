//! A directory, tarball or host source: its raw disk is built in the work
//! directory, and the run works on that disk directly (it is the run's
//! own, so it needs no overlay).

use anyhow::Result;

use super::WorkDisk;
use crate::media::chain::Chain;
use crate::media::source::{Source, SourceKind};
use crate::media::tree::host::snapshot::{self, Snapshot};
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
    let method = (spec.host.as_ref())
        .filter(|_| spec.snapshot_root)
        .map(snapshot::plan)
        .transpose()?;
    plan.check_inputs_untouched(std::slice::from_ref(&plan.source))?;
    let workdir = WorkDir::create(plan.tmpdir.as_deref())?;
    if let Some(inside) = tree_relative(&root, workdir.path()) {
        spec.filter = spec.filter.with_path(&inside);
    }
    cancel.check()?;
    let snap = match (&method, &spec.host) {
        (Some(m), Some(layout)) => Some(take_snapshot(layout, m, &workdir, reporter)?),
        _ => None,
    };
    if let Some(s) = &snap {
        root = s.tree().to_owned();
        if let Some(own) = &s.own_path {
            spec.filter = spec.filter.with_path(own);
        }
    }
    let raw = workdir.join("tree.raw");
    let built = tree::build(&root, &spec, &raw, reporter, cancel)?;
    drop(snap);
    if built.source_loader {
        reporter.info("the source's boot loader (MBR boot code and GRUB's core) is copied");
    }
    if built.bootable {
        reporter.info("the tree has a kernel and an initramfs: the image boots with EXTLINUX");
    }
    Ok(describe(plan, kind, &spec, built.size, workdir, raw))
}

/// The built disk as the run's source.
fn describe(
    plan: &Plan,
    kind: SourceKind,
    spec: &TreeSpec,
    size: u64,
    workdir: WorkDir,
    raw: std::path::PathBuf,
) -> Built {
    let new = spec.layout();
    let metadata = (spec.host.iter())
        .flat_map(|h| h.swap.as_ref())
        .map(|s| {
            let n = new.swap_number(s.number);
            ("SWAP".to_owned(), format!("{n}:{}", s.bytes >> 20))
        })
        .collect();
    let source = Source {
        path: plan.source.clone(),
        kind,
        format: ImageFormat::Raw,
        size,
        chain: Chain { layers: Vec::new() },
    };
    let disk = WorkDisk {
        path: raw,
        format: ImageFormat::Raw,
    };
    Built {
        source,
        workdir,
        disk,
        metadata,
    }
}

/// Snapshot the host's root (`--snapshot-root`), saying what is copied
/// live.
fn take_snapshot(
    layout: &HostLayout,
    method: &snapshot::Method,
    workdir: &WorkDir,
    reporter: &dyn Reporter,
) -> Result<Snapshot> {
    let (what, live) = snapshot::describe(layout, method);
    let step = begin_step(reporter, &format!("Taking {what}"), None);
    let snap = Snapshot::take(layout, method, workdir.path())?;
    step.done("taken; removed at the end");
    if let Some(line) = live {
        reporter.warn(&line);
    }
    Ok(snap)
}

/// Say what the host's layout is and what the image makes of it.
fn report_layout(layout: &HostLayout, spec: &TreeSpec, reporter: &dyn Reporter) {
    if !spec.snapshot_root {
        let offer = match snapshot::offered(layout) {
            true => {
                "; the root is on LVM or btrfs: --snapshot-root bundles a snapshot of it instead"
            }
            false => "",
        };
        reporter.warn(&format!(
            "bundling the running system: it is copied while it runs, so files that change \
             meanwhile (databases, logs) may be copied half-written; stop what writes{offer}"
        ));
    }
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
