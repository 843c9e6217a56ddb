//! The pipeline: one run of a [`Plan`], as its steps: connect to the
//! upload target → examine the source → snapshot → the helper VM's steps
//! ([`helper_vm`]: launch → inspect → collect → prepare → a Windows
//! guest's online phase ([`online`]) → shrink → mount-for-UI → shutdown) → conclude → export → upload. Both front ends
//! run it with a [`Reporter`] and a [`Control`]; it never prints.
//!
//! Every resource is a guard owned by the run (work directory, helper
//! VM, NBD server, half-written outputs), so success, failure and
//! interruption all leave the machine as it was, and the source untouched.

pub mod boot_test;
pub mod doctor;
mod helper_vm;
mod host_run;
mod manifest;
pub mod mount;
mod online;
pub mod outputs;
pub mod report;
pub mod secrets;
mod sysprep;
mod tree;
pub mod upload;
mod windows;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::guest::OsInfo;
use crate::guest::metadata::Metadata;
use crate::guest::shrink::ShrinkOutcome;
use crate::media::export::Digests;
use crate::media::{self, ImageFormat, Source, WorkDir, qemu_img};
use crate::plan::{Output, Plan, Work};
use crate::process::Cancel;
use crate::progress::{Event, Reporter, begin_step};
use helper_vm::Inspected;
pub use manifest::{Recorded, survey};
use outputs::PendingFile;

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub source: Source,
    /// The operating system, when one was found.
    pub os: Option<OsInfo>,
    pub metadata: Metadata,
    /// Why the media is not supported, when it is not (it was then
    /// exported as it is, with no system preparation).
    pub unsupported: Option<String>,
    /// The size of the exported image in bytes.
    pub size: u64,
    /// Checksums of the exported image, when it was exported.
    pub digests: Option<Digests>,
    /// Files written, image first.
    pub written: Vec<PathBuf>,
    /// What each system preparation task did (or would do, in a dry run).
    pub tasks: Vec<crate::sysprep::TaskOutcome>,
    /// The image as registered, when it was.
    pub image: Option<crate::cloud::RemoteImage>,
    /// The image object as uploaded, when it was (to register it later).
    pub uploaded: Option<crate::cloud::Uploaded>,
    /// What shrinking did, when it ran.
    pub shrink: Option<ShrinkOutcome>,
    /// The secrets the scan found in the prepared guest.
    pub secrets: Vec<crate::guest::secrets::Finding>,
    /// The prepared guest's files, when the run registers in the local store.
    pub manifest: Option<crate::cloud::local::history::Manifest>,
    /// The prepared guest's installed packages (same condition).
    pub packages: Option<crate::guest::packages::Packages>,
    /// How system preparation changed the installed packages (same
    /// condition, when the guest has a package database).
    pub package_changes: Option<crate::guest::packages::PackageDiff>,
    /// Why the (Windows) image is not generalized, when it is not; its
    /// metadata then says `GENERALIZED=no`.
    pub not_generalized: Option<String>,
}

/// How a front end steers a running plan: stop it, and release the guest
/// a [`Work::Mount`] run holds mounted.
#[derive(Debug, Clone, Default)]
pub struct Control {
    pub cancel: Cancel,
    pub release: mount::Release,
}

/// The disk the helper VM works on: the overlay, or the source itself.
struct WorkDisk {
    path: PathBuf,
    format: ImageFormat,
}

/// Run a plan to the end.
pub fn run(plan: &Plan, reporter: &dyn Reporter, control: &Control) -> Result<Outcome> {
    let cancel = &control.cancel;
    let timer = report::StepTimer::new(reporter);
    // A cancel ends a helper VM at once, not after its current call.
    let _stop_vm = crate::guest::cancel::StopVmOnCancel::watch(cancel);
    let result = run_steps(plan, &timer, control)
        .and_then(|outcome| write_report(plan, &timer, outcome, reporter));
    // A signal that arrives mid-step usually makes that step fail (the
    // helper VM was stopped for it, or got the terminal's SIGINT too):
    // report the interruption, not its side effect.
    match result {
        Err(_) if cancel.is_cancelled() => Err(cancel.interrupted().into()),
        other => other,
    }
}

fn run_steps(plan: &Plan, reporter: &dyn Reporter, control: &Control) -> Result<Outcome> {
    let cancel = &control.cancel;
    let cloud = upload::connect_planned(plan, reporter)?;
    let (source, workdir, disk, bundled) = match &plan.tree {
        Some(spec) => {
            let b = tree::build(plan, spec, reporter, cancel)?;
            (b.source, b.workdir, b.disk, b.metadata)
        }
        None => {
            let source = examine(plan, reporter)?;
            cancel.check()?;
            let workdir = WorkDir::create(plan.tmpdir.as_deref())?;
            let disk = snapshot(plan, &source, &workdir, reporter)?;
            (source, workdir, disk, Vec::new())
        }
    };
    cancel.check()?;
    let inspected = helper_vm::run(&helper_vm::Session {
        disk: &disk,
        tmp: workdir.path(),
        plan,
        reporter,
        control,
    })?;
    let from_image = (inspected.recorded.as_ref())
        .and_then(manifest::InVm::image_mounts)
        .cloned();
    let mut outcome = conclude(plan, source, inspected, reporter)?;
    for (key, value) in bundled {
        outcome.metadata.entry(key).or_insert(value);
    }
    if let Work::Export { .. } = plan.work {
        if let Some(output) = &upload::export_output(plan, &workdir) {
            cancel.check()?;
            outputs::export(output, &disk, &workdir, &mut outcome, reporter, cancel)?;
        }
        cancel.check()?;
        if let Some(mounts) = from_image {
            outcome.manifest = Some(manifest_from_image(&mounts, &outcome, reporter)?);
        }
        upload::run(cloud.as_ref(), &mut outcome, reporter)?;
    }
    workdir.close()?;
    Ok(outcome)
}

/// The manifest, read on the host from the exported image.
fn manifest_from_image(
    mounts: &manifest::ExtMounts,
    outcome: &Outcome,
    reporter: &dyn Reporter,
) -> Result<crate::cloud::local::history::Manifest> {
    match outcome.written.first() {
        Some(image) => manifest::read_image(image, mounts, reporter),
        None => bail!("the image was not exported, so its file manifest cannot be read"),
    }
}

/// What the helper VM found, checked against the plan: refuse unsupported
/// media unless allowed, refuse secrets where they must not go, apply the
/// user's metadata and print it when asked.
fn conclude(
    plan: &Plan,
    source: Source,
    inspected: Inspected,
    reporter: &dyn Reporter,
) -> Result<Outcome> {
    let mut meta = inspected.metadata;
    let mut size = inspected.disk.as_ref().map_or(source.size, |d| d.size);
    if let Some(shrunk) = &inspected.shrunk {
        shrunk.apply(&mut meta, &mut size);
    }
    if let Some(reason) = &inspected.unsupported {
        accept_unsupported(plan, reason, &mut meta, reporter)?;
    }
    if inspected.os.is_none() && matches!(plan.work, Work::Export { .. }) {
        reporter.warn("no operating system was found, so the image was not scanned for secrets");
    }
    secrets::check(&inspected.secrets, plan, reporter)?;
    if let Some(reason) = &inspected.not_generalized {
        reporter.warn(&format!(
            "the image is not generalized ({reason}): VMs started from it keep this \
             machine's identity (security identifier, computer name); GENERALIZED=no \
             is in its metadata"
        ));
        meta.insert("GENERALIZED".into(), "no".into());
    }
    edit_metadata(plan, &mut meta, reporter);
    let (manifest, packages) = inspected
        .recorded
        .map_or((None, None), manifest::InVm::into_parts);
    let package_changes = match (&inspected.packages_before, &packages) {
        (Some(a), Some(b)) => Some(crate::guest::packages::diff(a, b)),
        _ => None,
    };
    Ok(Outcome {
        source,
        os: inspected.os,
        metadata: meta,
        unsupported: inspected.unsupported,
        size,
        digests: None,
        written: Vec::new(),
        tasks: inspected.tasks,
        image: None,
        uploaded: None,
        shrink: inspected.shrunk,
        secrets: inspected.secrets,
        manifest,
        packages,
        package_changes,
        not_generalized: inspected.not_generalized,
    })
}

/// Unsupported media go on only with `--allow-unsupported`, unprepared.
fn accept_unsupported(
    plan: &Plan,
    reason: &str,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<()> {
    if !plan.allow_unsupported {
        bail!(
            "the media is not supported: {reason} (use --allow-unsupported to export it without system preparation)"
        );
    }
    reporter.warn(&format!("the media is not supported: {reason}"));
    reporter.warn("system preparation is disabled for unsupported media");
    meta.insert("UNSUPPORTED".into(), reason.to_owned());
    meta.insert("EXCLUDE_ALL_TASKS".into(), "yes".into());
    Ok(())
}

/// The user's removals and additions, then `--print-metadata`.
fn edit_metadata(plan: &Plan, meta: &mut Metadata, reporter: &dyn Reporter) {
    for k in &plan.unset {
        meta.remove(k);
    }
    for (k, v) in &plan.metadata {
        meta.insert(k.clone(), v.clone());
    }
    if plan.print_metadata {
        reporter.emit(Event::Metadata(
            meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ));
    }
}

/// Print the per-step report, write it next to the image, and keep it
/// with the version the run registered in the local store.
fn write_report(
    plan: &Plan,
    timer: &report::StepTimer<'_>,
    mut outcome: Outcome,
    reporter: &dyn Reporter,
) -> Result<Outcome> {
    if !matches!(plan.work, Work::Export { .. }) {
        return Ok(outcome);
    }
    let rows = timer.rows(&outcome.tasks);
    let calls = timer.guestfs_calls();
    let notes: Vec<String> = (outcome.not_generalized.iter())
        .map(|reason| format!("not generalized: {reason}"))
        .collect();
    let packages = package_report(&outcome);
    let json = report::json(&rows, &calls, &outcome.secrets, &notes, packages);
    keep_report(plan, &outcome, &json)?;
    let Some(Output::File(image)) = &plan.output else {
        return Ok(outcome);
    };
    reporter.section("Report:");
    reporter.info(report::table(&rows, &calls).trim_end());
    if let Some(p) = &outcome.package_changes {
        reporter.info(&format!("Packages (system preparation): {}", p.summary()));
    }
    for note in &notes {
        reporter.info(&format!("Note: {note}"));
    }
    let path = crate::plan::with_suffix(image, ".report.json");
    let pending = PendingFile::create(&path)?;
    let text = format!("{}\n", serde_json::to_string_pretty(&json)?);
    std::io::Write::write_all(&mut pending.file(), text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    outcome.written.push(pending.commit()?);
    Ok(outcome)
}

/// The installed packages after the run and how preparation changed
/// them (`{"after": N, "added": [...], "removed": [...], "changed": [...]}`).
fn package_report(outcome: &Outcome) -> Option<serde_json::Value> {
    let after = outcome.packages.as_ref()?.packages.len();
    let mut v =
        (outcome.package_changes.as_ref()).map_or_else(|| serde_json::json!({}), |p| p.to_json());
    v["after"] = serde_json::json!(after);
    Some(v)
}

/// Keep the report with the version the run registered in the local store.
fn keep_report(plan: &Plan, outcome: &Outcome, json: &serde_json::Value) -> Result<()> {
    let root = match plan.upload.as_ref().map(|u| &u.target) {
        Some(crate::cloud::Target::Local(root)) => root,
        _ => return Ok(()),
    };
    let Some(img) = &outcome.image else {
        return Ok(());
    };
    let Some(n) = img.properties.get("VERSION").and_then(|n| n.parse().ok()) else {
        return Ok(());
    };
    let store = crate::cloud::local::store::Store::open(root)?;
    store
        .attach_report(&img.name, n, json)
        .with_context(|| format!("keeping the report of {}@{n}", img.name))
}

/// Examine the source and its backing chain before anything opens it, and
/// check that no output is one of the files it reads.
fn examine(plan: &Plan, reporter: &dyn Reporter) -> Result<Source> {
    let original = plan.overlay_of.as_deref().unwrap_or(&plan.source);
    let step = begin_step(
        reporter,
        &format!("Examining source media `{}'", original.display()),
        None,
    );
    let mut source = media::examine(original, plan.allow_backing_file)?;
    if plan.overlay_of.is_some() {
        source = media::source::own_overlay(&plan.source, source)?;
    }
    step.done(source.describe());
    plan.check_inputs_untouched(&source.inputs())?;
    Ok(source)
}

/// The disk the run works on: a qcow2 overlay of the source, unless the
/// plan says to work on the source itself.
fn snapshot(
    plan: &Plan,
    source: &Source,
    workdir: &WorkDir,
    reporter: &dyn Reporter,
) -> Result<WorkDisk> {
    if !plan.snapshot {
        // A mount works on the disk it is given on purpose (the UI's
        // session overlay); the UI warns when that is the original.
        if !matches!(plan.work, Work::Mount { .. }) {
            reporter.warn(&format!(
                "--no-snapshot: working directly on {}. THIS WILL ALTER THE ORIGINAL MEDIA!",
                source.path.display()
            ));
        }
        return Ok(WorkDisk {
            path: source.path.clone(),
            format: source.format.clone(),
        });
    }
    let step = begin_step(reporter, "Snapshotting media source", None);
    let overlay = workdir.join("snapshot.qcow2");
    qemu_img::create_overlay(&source.path, &source.format, &overlay)?;
    step.done("done");
    Ok(WorkDisk {
        path: overlay,
        format: ImageFormat::Qcow2,
    })
}
