//! The pipeline: open → snapshot → launch → inspect → collect metadata →
//! export. Both front ends run it with a [`Plan`] and a [`Reporter`]; it
//! never prints.
//!
//! Every resource is a guard owned by the run (work directory, helper
//! VM, NBD server, half-written outputs), so success, failure and
//! interruption all leave the machine as it was, and the source untouched.

pub mod doctor;
mod host_run;
pub mod mount;
pub mod outputs;
pub mod report;
pub mod secrets;
mod sysprep;
pub mod upload;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::guest::appliance::Appliance;
use crate::guest::metadata::{self, Metadata};
use crate::guest::profile::{Profile, profile_for};
use crate::guest::shrink::ShrinkOutcome;
use crate::guest::{DiskInfo, Distro, OsInfo};
use crate::media::export::{Digests, export};
use crate::media::nbd::NbdServer;
use crate::media::{self, ImageFormat, Source, WorkDir, qemu_img};
use crate::plan::{Output, Plan};
use crate::process::Cancel;
use crate::progress::{Event, Reporter, Unit, begin_step};
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
}

/// The disk the helper VM works on: the overlay, or the source itself.
struct WorkDisk {
    path: PathBuf,
    format: ImageFormat,
}

/// What inspection concluded.
struct Inspected {
    os: Option<OsInfo>,
    disk: Option<DiskInfo>,
    unsupported: Option<String>,
    metadata: Metadata,
    /// What each system preparation task did.
    tasks: Vec<crate::sysprep::TaskOutcome>,
    shrunk: Option<ShrinkOutcome>,
    secrets: Vec<crate::guest::secrets::Finding>,
}

/// Run a plan to the end.
pub fn run(plan: &Plan, reporter: &dyn Reporter, cancel: &Cancel) -> Result<Outcome> {
    let timer = report::StepTimer::new(reporter);
    // A cancel ends a helper VM at once, not after its current call.
    let _stop_vm = crate::guest::cancel::StopVmOnCancel::watch(cancel);
    let result = run_inner(plan, &timer, cancel)
        .and_then(|outcome| write_report(plan, &timer, outcome, reporter));
    // A signal that arrives mid-step usually makes that step fail (the
    // helper VM was stopped for it, or got the terminal's SIGINT too):
    // report the interruption, not its side effect.
    match result {
        Err(_) if cancel.is_cancelled() => Err(cancel.interrupted().into()),
        other => other,
    }
}

fn run_inner(plan: &Plan, reporter: &dyn Reporter, cancel: &Cancel) -> Result<Outcome> {
    let cloud = upload::prepare(plan, reporter)?;
    let source = examine(plan, reporter)?;
    cancel.check()?;
    let workdir = WorkDir::create(plan.tmpdir.as_deref())?;
    let disk = prepare_disk(plan, &source, &workdir, reporter)?;
    cancel.check()?;
    let inspected = inspect(&disk, plan, reporter, cancel)?;
    let mut meta = inspected.metadata;
    let mut size = inspected.disk.as_ref().map_or(source.size, |d| d.size);
    if let Some(shrunk) = &inspected.shrunk {
        shrunk.apply(&mut meta, &mut size);
    }
    if let Some(reason) = &inspected.unsupported {
        if !plan.allow_unsupported {
            bail!(
                "the media is not supported: {reason} (use --allow-unsupported to export it without system preparation)"
            );
        }
        reporter.warn(&format!("the media is not supported: {reason}"));
        reporter.warn("system preparation is disabled for unsupported media");
        // The exported image says so itself, beside the task exclusion.
        meta.insert("UNSUPPORTED".into(), reason.clone());
        meta.insert("EXCLUDE_ALL_TASKS".into(), "yes".into());
    }
    if inspected.os.is_none() && plan.exports() {
        reporter.warn("no operating system was found, so the image was not scanned for secrets");
    }
    secrets::check(&inspected.secrets, plan, reporter)?;
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
    let mut outcome = Outcome {
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
    };
    if plan.sysprep.dry_run {
        workdir.close()?;
        return Ok(outcome);
    }
    if let Some(output) = &upload::export_output(plan, &workdir) {
        cancel.check()?;
        write_outputs(output, &disk, &workdir, &mut outcome, reporter, cancel)?;
    }
    cancel.check()?;
    upload::run(cloud.as_ref(), &mut outcome, reporter)?;
    workdir.close()?;
    Ok(outcome)
}

/// Print the per-step report and write it next to the image.
fn write_report(
    plan: &Plan,
    timer: &report::StepTimer<'_>,
    mut outcome: Outcome,
    reporter: &dyn Reporter,
) -> Result<Outcome> {
    let Some(Output::File(image)) = &plan.output else {
        return Ok(outcome);
    };
    if plan.sysprep.dry_run {
        return Ok(outcome);
    }
    let rows = timer.rows(&outcome.tasks);
    reporter.section("Report:");
    reporter.info(report::table(&rows).trim_end());
    let path = crate::plan::with_suffix(image, ".report.json");
    let pending = PendingFile::create(&path)?;
    std::io::Write::write_all(
        &mut pending.file(),
        report::json(&rows, &outcome.secrets).as_bytes(),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    outcome.written.push(pending.commit()?);
    Ok(outcome)
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

fn prepare_disk(
    plan: &Plan,
    source: &Source,
    workdir: &WorkDir,
    reporter: &dyn Reporter,
) -> Result<WorkDisk> {
    if !plan.snapshot {
        // A mount works on the disk it is given on purpose (the UI's
        // session overlay); the UI warns when that is the original.
        if plan.mount.is_none() {
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

fn inspect(
    disk: &WorkDisk,
    plan: &Plan,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<Inspected> {
    let step = begin_step(reporter, "Launching helper VM (may take a while)", None);
    let mut vm = Appliance::launch(&disk.path, disk.format.as_str(), reporter)?;
    step.done("done");
    cancel.check()?;
    let step = begin_step(reporter, "Inspecting Operating System", None);
    let roots = vm.roots()?;
    let root = match roots.as_slice() {
        [root] => root.clone(),
        [] => {
            step.done("no operating system found");
            return Ok(unsupported("no operating system was found on the media"));
        }
        many => {
            step.done("more than one operating system found");
            return Ok(unsupported(&format!(
                "{} operating systems were found on the media; only one is supported",
                many.len()
            )));
        }
    };
    let os = vm.os_info(&root)?;
    step.done(match os.distro {
        Distro::Unknown => format!("found a(n) {} system", os.family),
        ref distro => distro.to_string(),
    });
    let disk_info = vm.disk_info(&root)?;
    let profile = profile_for(&os);
    let step = begin_step(reporter, "Collecting image metadata", None);
    vm.mount(&os, true, reporter)?;
    let mut metadata = metadata::collect(&os, &disk_info, &profile, &mut vm, reporter)?;
    vm.umount_all()?;
    step.done("done");
    let unsupported = support_checks(&vm, &profile, reporter)?;
    let (tasks, shrunk) = match unsupported {
        None => sysprep::prepare(&mut vm, &os, &profile, &mut metadata, plan, reporter)?,
        Some(_) => (Vec::new(), None),
    };
    let secrets = secrets::scan(&mut vm, &os, plan, &tasks, reporter)?;
    mount::serve(&vm, &os, plan, reporter, cancel)?;
    cancel.check()?;
    let step = begin_step(reporter, "Shutting down helper VM", None);
    vm.shutdown()?;
    step.done("done");
    Ok(Inspected {
        os: Some(os),
        disk: Some(disk_info),
        unsupported,
        metadata,
        tasks,
        shrunk,
        secrets,
    })
}

fn unsupported(reason: &str) -> Inspected {
    Inspected {
        os: None,
        disk: None,
        unsupported: Some(reason.to_owned()),
        metadata: Metadata::new(),
        tasks: Vec::new(),
        shrunk: None,
        secrets: Vec::new(),
    }
}

/// The checks that can make media unsupported once an OS was found.
fn support_checks(
    vm: &Appliance,
    profile: &Profile,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    if let Profile::Unsupported(reason) = profile {
        return Ok(Some(reason.clone()));
    }
    reporter.section("Running OS inspection:");
    let step = begin_step(
        reporter,
        "Checking if the media contains logical volumes (LVM)",
        None,
    );
    let lvs = vm.logical_volumes()?;
    if lvs.is_empty() {
        step.done("no");
        Ok(None)
    } else {
        step.done("yes");
        Ok(Some(format!(
            "the media contains logical volumes (LVM: {}), which are not supported yet",
            lvs.join(", ")
        )))
    }
}

fn write_outputs(
    output: &Output,
    disk: &WorkDisk,
    workdir: &WorkDir,
    outcome: &mut Outcome,
    reporter: &dyn Reporter,
    cancel: &Cancel,
) -> Result<()> {
    let server = NbdServer::start(&disk.path, &disk.format, &workdir.join("nbd.sock"))?;
    let mut client = server.connect()?;
    let image = match output {
        Output::File(path) => Some((path.clone(), PendingFile::create(path)?)),
        Output::Discard => {
            reporter.warn("not writing the image to /dev/null: only its checksums are computed");
            None
        }
    };
    let step = begin_step(
        reporter,
        "Dumping image file",
        Some((outcome.size, Unit::Bytes)),
    );
    let digests = export(
        &mut client,
        outcome.size,
        image.as_ref().map(|(_, p)| p.file()),
        cancel,
        &|done| step.advance(done),
    )?;
    drop(client);
    drop(server);
    let Some((path, pending)) = image else {
        step.done("done");
        report_digests(&digests, reporter);
        outcome.digests = Some(digests);
        return Ok(());
    };
    step.done(format!(
        "image file {} was successfully created",
        path.display()
    ));
    report_digests(&digests, reporter);
    let sides = outputs::side_files(&path, &outcome.metadata, &digests.md5, &digests.sha256)?;
    cancel.check()?;
    outcome.written.push(pending.commit()?);
    for (what, file) in sides {
        let step = begin_step(reporter, &format!("Dumping {what} file"), None);
        outcome.written.push(file.commit()?);
        step.done("done");
    }
    outcome.digests = Some(digests);
    Ok(())
}

fn report_digests(d: &Digests, reporter: &dyn Reporter) {
    begin_step(reporter, "Calculating md5sum", None).done(d.md5.clone());
    begin_step(reporter, "Calculating sha256sum", None).done(d.sha256.clone());
}
