//! The cloud steps of a run: before anything else, connect to the target
//! and check the credentials and object names (so a bad token fails before
//! the media is touched); after the export, upload the image and its
//! `.md5sum`, register it, upload the registration as `.meta`, and share
//! the side files of a public image, in the container actually used.

use std::path::Path;

use anyhow::{Context, Result};

use super::Outcome;
use super::outputs::checksum_file;
use crate::cloud::local::history::VersionExtras;
use crate::cloud::request::UploadPlan;
use crate::cloud::{self, CloudBackend, Registration, RemoteImage};
use crate::guest::metadata::Metadata;
use crate::media::WorkDir;
use crate::plan::{Output, Plan, UsageError};
use crate::progress::{Reporter, begin_step};

/// A connected, authenticated target and what to do with it.
pub struct Prepared {
    backend: Box<dyn CloudBackend>,
    plan: UploadPlan,
}

/// The object names an upload writes: image, `.md5sum`, `.meta`.
fn object_names(object: &str) -> [String; 3] {
    [
        object.to_owned(),
        format!("{object}.md5sum"),
        format!("{object}.meta"),
    ]
}

/// Connect to the upload target, authenticate, and refuse to overwrite
/// existing objects without `-f`. `None` when the plan uploads nothing.
pub fn connect_planned(plan: &Plan, reporter: &dyn Reporter) -> Result<Option<Prepared>> {
    match &plan.upload {
        Some(up) => connect(up, plan.force, reporter).map(Some),
        None => Ok(None),
    }
}

/// Connect to an upload's target, authenticate, and refuse to overwrite
/// existing objects unless `force`.
pub fn connect(up: &UploadPlan, force: bool, reporter: &dyn Reporter) -> Result<Prepared> {
    let mut backend = cloud::connect(&up.target, &up.container)?;
    let what = backend.describe();
    let step = begin_step(reporter, &format!("Checking the account of {what}"), None);
    let auth = backend.authenticate();
    for note in backend.take_notes() {
        reporter.warn(&note);
    }
    auth.with_context(|| format!("checking the account of {what}"))?;
    if !force {
        for name in object_names(&up.object) {
            if backend.exists(&name)? {
                return Err(UsageError(format!(
                    "{name} already exists in container {} of {what}: use -f to overwrite it, or choose another -u",
                    up.container
                ))
                .into());
            }
        }
    }
    step.done("done");
    Ok(Prepared {
        backend,
        plan: up.clone(),
    })
}

/// Where the export goes: `-o`, or, when the image is uploaded without
/// `-o FILE`, a file in the work directory (removed with it).
pub fn export_output(plan: &Plan, workdir: &WorkDir) -> Option<Output> {
    match (&plan.output, &plan.upload) {
        (Some(Output::File(f)), _) => Some(Output::File(f.clone())),
        (_, Some(up)) => Some(Output::File(workdir.join(base_name(&up.object)))),
        (other, None) => other.clone(),
    }
}

fn base_name(object: &str) -> &str {
    object.rsplit('/').next().unwrap_or(object)
}

/// Upload the exported image, register it, and upload its side files;
/// the outcome keeps the uploaded object and the registered image.
pub fn run(
    prepared: Option<&Prepared>,
    outcome: &mut Outcome,
    reporter: &dyn Reporter,
) -> Result<()> {
    let Some(prepared) = prepared else {
        return Ok(());
    };
    let (Some(path), Some(d)) = (outcome.written.first(), &outcome.digests) else {
        anyhow::bail!("the image was not exported, so there is nothing to upload");
    };
    let uploaded = upload_image(prepared, path, Some(&d.md5), reporter)?;
    let props = &outcome.metadata;
    let kept = VersionExtras {
        manifest: outcome.manifest.take(),
        packages: outcome.packages.clone(),
        ..VersionExtras::default()
    };
    outcome.image = register_uploaded_with(prepared, &uploaded, props, kept, reporter)?;
    outcome.uploaded = Some(uploaded);
    Ok(())
}

/// Upload an image file (whose MD5 is `md5`) and its side files, and
/// register it with `properties` when the plan says so.
pub fn publish(
    prepared: &Prepared,
    image: &Path,
    md5: &str,
    properties: &Metadata,
    reporter: &dyn Reporter,
) -> Result<Option<RemoteImage>> {
    publish_with(prepared, image, Some(md5), properties, reporter)
}

/// As [`publish`], for an image whose MD5 is not known yet: it is
/// computed while the image is uploaded.
pub fn publish_file(
    prepared: &Prepared,
    image: &Path,
    properties: &Metadata,
    reporter: &dyn Reporter,
) -> Result<Option<RemoteImage>> {
    publish_with(prepared, image, None, properties, reporter)
}

fn publish_with(
    prepared: &Prepared,
    image: &Path,
    md5: Option<&str>,
    properties: &Metadata,
    reporter: &dyn Reporter,
) -> Result<Option<RemoteImage>> {
    let uploaded = upload_image(prepared, image, md5, reporter)?;
    register_uploaded(prepared, &uploaded, properties, reporter)
}

/// Send the image itself; its MD5, computed on the way when not known and
/// the target keeps an `.md5sum` next to it.
fn send_image(
    backend: &dyn CloudBackend,
    image: &Path,
    object: &str,
    md5: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<(cloud::Uploaded, String)> {
    let context = || format!("uploading {} as {object}", image.display());
    match md5 {
        Some(m) => {
            let up = backend
                .upload(image, object, reporter)
                .with_context(context)?;
            Ok((up, m.to_owned()))
        }
        None if !backend.keeps_side_files() => {
            let up = backend
                .upload(image, object, reporter)
                .with_context(context)?;
            Ok((up, String::new()))
        }
        None => {
            let (up, m) = backend
                .upload_md5(image, object, reporter)
                .with_context(context)?;
            begin_step(reporter, "Calculating md5sum", None).done(m.clone());
            Ok((up, m))
        }
    }
}

/// Upload an image file and its `.md5sum` (the MD5 is computed on the way
/// when `md5` is not known).
pub fn upload_image(
    prepared: &Prepared,
    image: &Path,
    md5: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<cloud::Uploaded> {
    let Prepared { backend, plan } = prepared;
    let [object, md5_name, _] = object_names(&plan.object);
    reporter.section("Uploading image to the storage service:");
    let (uploaded, md5) = send_image(backend.as_ref(), image, &object, md5, reporter)?;
    if backend.keeps_side_files() {
        let text = checksum_file(&md5, Path::new(base_name(&object)));
        put_side_file(
            backend.as_ref(),
            "md5sum",
            &md5_name,
            &text,
            "text/plain",
            reporter,
        )?;
    }
    Ok(uploaded)
}

/// Register an uploaded object when the plan names a registration, then
/// upload the registration as `.meta` and share the side files of a public
/// image. No helper VM is involved: this is all a later registration of
/// an earlier upload needs.
pub fn register_uploaded(
    prepared: &Prepared,
    uploaded: &cloud::Uploaded,
    properties: &Metadata,
    reporter: &dyn Reporter,
) -> Result<Option<RemoteImage>> {
    register_uploaded_with(
        prepared,
        uploaded,
        properties,
        VersionExtras::default(),
        reporter,
    )
}

/// As [`register_uploaded`], with the file manifest and packages the
/// local store keeps with the version (`kept`; the plan adds its channel
/// and triggers).
fn register_uploaded_with(
    prepared: &Prepared,
    uploaded: &cloud::Uploaded,
    properties: &Metadata,
    kept: VersionExtras,
    reporter: &dyn Reporter,
) -> Result<Option<RemoteImage>> {
    let Prepared { backend, plan } = prepared;
    let [_, md5_name, meta_name] = object_names(&plan.object);
    let Some(name) = &plan.register else {
        return Ok(None);
    };
    let reg = Registration {
        name: name.clone(),
        public: plan.public,
        properties: properties.clone(),
        history: VersionExtras {
            channel: plan.channel,
            triggers: plan.triggers.clone(),
            ..kept
        },
    };
    let registered = register(backend.as_ref(), &reg, uploaded, reporter)?;
    if !backend.keeps_side_files() {
        return Ok(Some(registered));
    }
    let json = serde_json::to_string_pretty(&registered)? + "\n";
    put_side_file(
        backend.as_ref(),
        "metadata",
        &meta_name,
        &json,
        "application/json",
        reporter,
    )?;
    if plan.public {
        share_side_files(
            backend.as_ref(),
            &[("md5sum", &md5_name), ("metadata", &meta_name)],
            reporter,
        )?;
    }
    Ok(Some(registered))
}

/// Register an object uploaded by an earlier run (`uploaded`, as that run's
/// outcome kept it) as `plan` says, with `properties` and the plan's
/// description.
pub fn register_existing(
    plan: &UploadPlan,
    uploaded: &cloud::Uploaded,
    properties: &Metadata,
    reporter: &dyn Reporter,
) -> Result<RemoteImage> {
    let prepared = connect(plan, true, reporter)?;
    let mut properties = properties.clone();
    if let Some(d) = &plan.description {
        properties.insert("DESCRIPTION".into(), d.clone());
    }
    register_uploaded(&prepared, uploaded, &properties, reporter)?
        .ok_or_else(|| anyhow::anyhow!("no registration name was given"))
}

/// Share the side files of a public image, in the container used.
fn share_side_files(
    backend: &dyn CloudBackend,
    files: &[(&str, &str)],
    reporter: &dyn Reporter,
) -> Result<()> {
    for (what, name) in files {
        let step = begin_step(reporter, &format!("Sharing {what} file"), None);
        backend
            .share(name)
            .with_context(|| format!("sharing {name}"))?;
        step.done("done");
    }
    Ok(())
}

/// Upload one side file as the step "Uploading WHAT file".
fn put_side_file(
    backend: &dyn CloudBackend,
    what: &str,
    name: &str,
    text: &str,
    content_type: &str,
    reporter: &dyn Reporter,
) -> Result<()> {
    let step = begin_step(reporter, &format!("Uploading {what} file"), None);
    backend
        .upload_bytes(name, text.as_bytes(), content_type, reporter)
        .with_context(|| format!("uploading {name}"))?;
    step.done("done");
    Ok(())
}

fn register(
    backend: &dyn CloudBackend,
    reg: &Registration,
    uploaded: &cloud::Uploaded,
    reporter: &dyn Reporter,
) -> Result<RemoteImage> {
    let kind = if reg.public { "public" } else { "private" };
    let step = begin_step(
        reporter,
        &format!("Registering {kind} image with the compute service"),
        None,
    );
    let image = backend
        .register(uploaded, reg)
        .with_context(|| format!("registering {} as `{}'", uploaded.location, reg.name))?;
    step.done("done");
    Ok(image)
}

/// The properties in an exported image's `.meta` file, if it has one.
pub fn properties_of(image: &Path) -> Result<Metadata> {
    let meta = crate::plan::with_suffix(image, ".meta");
    let text = match crate::untrusted::read_text(&meta, crate::untrusted::CONFIG_LIMIT) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Metadata::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", meta.display())),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", meta.display()))?;
    let props = v["properties"].as_object().cloned().unwrap_or_default();
    Ok(props
        .into_iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k, v)
        })
        .collect())
}
