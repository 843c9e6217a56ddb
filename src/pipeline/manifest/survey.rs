//! The file manifest and packages of an exported image file (`images
//! diff A FILE.diskdump`). The helper VM inspects the image (its mount
//! map) and reads the packages; the files are listed on the host from
//! the raw image when every filesystem is ext2/3/4 on a partition (as the
//! manifest step does, and unless `SNF_MANIFEST=vm` is set), and in the
//! helper VM otherwise.

use std::path::Path;

use anyhow::Result;

use super::{ExtMounts, Recorded, ext, list_and_read_packages, listed_in_vm};
use crate::cloud::local::history::Manifest;
use crate::guest::OsInfo;
use crate::guest::appliance::Appliance;
use crate::media::format::ImageFormat;
use crate::media::{WorkDir, qemu_img};
use crate::progress::{Reporter, begin_step};

/// The manifest and packages of `image`, with one helper-VM launch on a
/// throwaway overlay: the file itself is only read.
pub fn survey(image: &Path, reporter: &dyn Reporter) -> Result<Recorded> {
    let source = crate::media::examine(image, false)?;
    let work = WorkDir::create(None)?;
    let overlay = work.join("survey.qcow2");
    qemu_img::create_overlay(&source.path, &source.format, &overlay)?;
    let step = begin_step(reporter, "Launching helper VM (may take a while)", None);
    let mut vm = Appliance::launch(&overlay, "qcow2", reporter)?;
    step.done("done");
    let os = only_os(&mut vm, image, reporter)?;
    let raw_file = source.format == ImageFormat::Raw && image.is_file();
    let on_host = ext::ext_mounts(vm.handle(), &os).filter(|_| raw_file && !listed_in_vm());
    let step = begin_step(reporter, "Listing the image's files", None);
    let (listed, packages) =
        list_and_read_packages(&mut vm, &os, on_host.is_none(), work.path(), reporter)?;
    vm.shutdown()?;
    let manifest = match (listed, on_host) {
        (Some((manifest, _)), _) => manifest,
        (None, Some(mounts)) => read_on_host(image, &mounts)?,
        (None, None) => unreachable!("the files are listed in the VM when not on the host"),
    };
    step.done(format!("{} files", manifest.files.len()));
    work.close()?;
    Ok(Recorded { manifest, packages })
}

/// The one operating system of the image.
fn only_os(vm: &mut Appliance, image: &Path, reporter: &dyn Reporter) -> Result<OsInfo> {
    match crate::guest::bsd::inspect(vm, reporter)?.as_slice() {
        [os] => Ok(os.clone()),
        found => anyhow::bail!(
            "{}: {} operating systems found, so its files cannot be listed (one is needed)",
            image.display(),
            found.len()
        ),
    }
}

fn read_on_host(image: &Path, mounts: &ExtMounts) -> Result<Manifest> {
    ext::read(image, mounts).map(|(manifest, _)| manifest)
}
