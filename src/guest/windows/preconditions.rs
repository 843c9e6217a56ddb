//! The state a Windows disk must be in before the product writes to it.
//! Each check is a row of a table and, when it fails, says in one line what
//! is wrong and what to do. [`OFFLINE`] runs before anything is written;
//! [`BEFORE_BOOT`] before the guest is booted to run a task inside Windows.

use anyhow::{Context, Result};

use super::ntfs::{self, BITLOCKER_OEM_ID, NTFS_OEM_ID};
use super::{NtVersion, WindowsFacts};
use crate::guest::appliance::{Appliance, gerr};
use crate::guest::registry::{Hive, RegValue, Registry};
use crate::progress::Reporter;

/// A Windows disk the product must not prepare as it is: the one line
/// saying why and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(pub String);

/// Where the checks read the disk and its registry: the helper VM, or
/// memory in unit tests.
pub trait Disk {
    /// The guest's registry.
    fn registry(&mut self) -> &mut dyn Registry;
    /// The first `len` bytes (or fewer) of the guest file at `path` (looked
    /// up without regard to case); `None` when there is no such file.
    fn file_head(&mut self, path: &str, len: usize) -> Result<Option<Vec<u8>>>;
    /// The disk's partitions (`/dev/sda1`…).
    fn partitions(&mut self) -> Result<Vec<String>>;
    /// `len` bytes of a partition from byte `offset`.
    fn read_device(&mut self, device: &str, offset: u64, len: usize) -> Result<Vec<u8>>;
}

/// What a check looks at: the disk, and what is known of the guest.
pub struct Ctx<'a> {
    pub disk: &'a mut dyn Disk,
    /// The system root in the mounted guest (`/Windows`).
    pub systemroot: &'a str,
    pub facts: &'a WindowsFacts,
    pub reporter: &'a dyn Reporter,
}

/// A check: the line saying why the disk is not ready, or `None`.
type Check = fn(&mut Ctx) -> Result<Option<String>>;

/// The checks made before anything is written to the disk.
pub const OFFLINE: &[(&str, Check)] = &[
    ("BitLocker", |c| encrypted_partition(c.disk)),
    ("hibernation", hibernated),
    ("Fast Startup", fast_startup),
    ("NTFS dirty flag", dirty_ntfs),
    ("registry hives", dirty_hives),
];

/// The checks made before the guest is booted to run tasks inside Windows.
/// (After the offline tasks, so that drivers injected by this run count.)
pub const BEFORE_BOOT: &[(&str, Check)] = &[
    ("generalization", generalized),
    ("VirtIO drivers", virtio_drivers),
];

/// Run a table of checks; the first that fails is a [`NotReady`] error.
pub fn check(table: &[(&str, Check)], ctx: &mut Ctx) -> Result<()> {
    for (name, check) in table {
        if let Some(why) = check(ctx).with_context(|| format!("checking the {name}"))? {
            return Err(NotReady(why).into());
        }
    }
    Ok(())
}

/// The first partition encrypted with BitLocker, as the line saying so
/// (also what explains a disk on which inspection found no system).
pub fn encrypted_partition(disk: &mut dyn Disk) -> Result<Option<String>> {
    for dev in disk.partitions()? {
        let boot = disk.read_device(&dev, 0, 512)?;
        if ntfs::oem_id(&boot) == Some(BITLOCKER_OEM_ID) {
            return Ok(Some(format!(
                "partition {dev} is encrypted with BitLocker: decrypt it in Windows \
                 (`manage-bde -off C:`, for each encrypted drive) and try again"
            )));
        }
    }
    Ok(None)
}

/// The hibernation file's first bytes, when it holds a hibernation image.
fn hibernation_image(disk: &mut dyn Disk) -> Result<Option<Vec<u8>>> {
    Ok(disk
        .file_head("/hiberfil.sys", 4)?
        .filter(|head| head.eq_ignore_ascii_case(b"hibr")))
}

fn hibernated(c: &mut Ctx) -> Result<Option<String>> {
    Ok(hibernation_image(c.disk)?.map(|_| {
        "Windows is hibernated (hiberfil.sys holds a hibernation image): start it, \
         shut it down fully (`shutdown /s /t 0`) and try again"
            .to_owned()
    }))
}

/// Fast Startup (NT 6.2 and later) ends a session by hibernating the
/// kernel: with it on and a hibernation file present, the disk may hold
/// state Windows restores over any change made here.
fn fast_startup(c: &mut Ctx) -> Result<Option<String>> {
    if c.facts.nt < (NtVersion { major: 6, minor: 2 }) {
        return Ok(None);
    }
    let key = r"CurrentControlSet\Control\Session Manager\Power";
    let on = c
        .disk
        .registry()
        .value(Hive::System, key, "HiberbootEnabled")?
        == Some(RegValue::Dword(1));
    let file = c.disk.file_head("/hiberfil.sys", 1)?.is_some();
    Ok((on && file).then(|| {
        "Windows has Fast Startup on and a hibernation file: start it, turn Fast Startup \
         off (`powercfg /h off`), shut it down and try again"
            .to_owned()
    }))
}

fn dirty_ntfs(c: &mut Ctx) -> Result<Option<String>> {
    for dev in c.disk.partitions()? {
        let boot = c.disk.read_device(&dev, 0, 512)?;
        if ntfs::oem_id(&boot) != Some(NTFS_OEM_ID) {
            continue;
        }
        let dirty = ntfs::volume_record(&boot).and_then(|(offset, size, sector)| {
            ntfs::is_dirty(&c.disk.read_device(&dev, offset, size)?, sector)
        });
        match dirty {
            Ok(false) => {}
            Ok(true) => {
                return Ok(Some(format!(
                    "the NTFS filesystem on {dev} is marked dirty (Windows was not shut down \
                     cleanly, or a disk check is pending): run `chkdsk /f` on it in Windows, \
                     shut Windows down and try again"
                )));
            }
            Err(e) => c.reporter.warn(&format!(
                "cannot tell whether the NTFS filesystem on {dev} is clean: {e:#}"
            )),
        }
    }
    Ok(None)
}

/// The hives whose transaction logs hold changes not yet in the hive
/// (the regf header's primary and secondary sequence numbers differ):
/// hivex reads the hive alone, so it would see, and write, a stale registry.
fn dirty_hives(c: &mut Ctx) -> Result<Option<String>> {
    for hive in [
        Hive::System,
        Hive::Software,
        Hive::Sam,
        Hive::Security,
        Hive::Default,
    ] {
        let path = format!("{}/System32/config/{}", c.systemroot, hive.file_name());
        let Some(head) = c.disk.file_head(&path, 12)? else {
            continue;
        };
        if let Some((primary, secondary)) = sequence_numbers(&head)
            && primary != secondary
        {
            return Ok(Some(format!(
                "the registry hive {path} has changes still in its transaction logs \
                 (sequence numbers {primary} and {secondary} differ): start Windows, \
                 shut it down cleanly and try again"
            )));
        }
    }
    Ok(None)
}

/// The primary and secondary sequence numbers of a regf header.
fn sequence_numbers(head: &[u8]) -> Option<(u32, u32)> {
    if head.len() < 12 || &head[..4] != b"regf" {
        return None;
    }
    let at = |o: usize| u32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    Some((at(4), at(8)))
}

/// Microsoft's System Preparation Tool already ran (NT 6 and later keep
/// `ImageState`): generalizing again would fail, or lose the first run's
/// settings.
pub fn generalized(c: &mut Ctx) -> Result<Option<String>> {
    if c.facts.nt.major < 6 {
        return Ok(None);
    }
    Ok(match image_state(c.disk.registry())? {
        Some(state) if state != IMAGE_STATE_COMPLETE => Some(format!(
            "Windows was already generalized by Microsoft's System Preparation Tool \
             (ImageState is {state}): start from an image that was not generalized, or \
             leave out the tasks that run inside Windows (--no-boot)"
        )),
        _ => None,
    })
}

/// The `ImageState` of a Windows that was never generalized.
pub const IMAGE_STATE_COMPLETE: &str = "IMAGE_STATE_COMPLETE";

/// Windows' `ImageState` (NT 6 and later), when it is set.
pub fn image_state(reg: &mut dyn Registry) -> Result<Option<String>> {
    let key = r"Microsoft\Windows\CurrentVersion\Setup\State";
    Ok(match reg.value(Hive::Software, key, "ImageState")? {
        Some(RegValue::Sz(state)) => Some(state),
        _ => None,
    })
}

/// The guest VM boots its disk on VirtIO and VMs made from the image run
/// with a VirtIO network card: the storage driver (viostor) must be
/// installed, and the network driver (netkvm) installed or staged for
/// Plug and Play (both are, after `--install-virtio`).
fn virtio_drivers(c: &mut Ctx) -> Result<Option<String>> {
    let service = |name: &str| format!(r"CurrentControlSet\Services\{name}");
    let reg = c.disk.registry();
    let viostor = reg.has_key(Hive::System, &service("viostor"))?;
    let netkvm = reg.has_key(Hive::System, &service("netkvm"))?
        || (c.disk)
            .file_head(&format!("{}/Drivers/VirtIO/netkvm.inf", c.systemroot), 1)?
            .is_some();
    let missing: Vec<&str> = [("viostor", viostor), ("netkvm", netkvm)]
        .iter()
        .filter(|(_, there)| !there)
        .map(|(name, _)| *name)
        .collect();
    Ok((!missing.is_empty()).then(|| {
        format!(
            "Windows has no VirtIO driver {} installed, which booting it in a VM needs: \
             give the virtio-win drivers with --install-virtio DIR, or use --no-boot to \
             prepare the image offline only",
            missing.join(" nor ")
        )
    }))
}

impl Disk for Appliance {
    fn registry(&mut self) -> &mut dyn Registry {
        self
    }

    fn file_head(&mut self, path: &str, len: usize) -> Result<Option<Vec<u8>>> {
        let g = self.handle();
        // An error here is a missing directory on the way.
        let Ok(real) = g.case_sensitive_path(path) else {
            return Ok(None);
        };
        if !g
            .exists(&real)
            .map_err(gerr(format!("looking for {real}")))?
            || !g
                .is_file(&real, Default::default())
                .map_err(gerr(format!("examining {real}")))?
        {
            return Ok(None);
        }
        let count = i32::try_from(len).context("reading too much at once")?;
        g.pread(&real, count, 0)
            .map(Some)
            .map_err(gerr(format!("reading {real}")))
    }

    fn partitions(&mut self) -> Result<Vec<String>> {
        self.handle()
            .list_partitions()
            .map_err(gerr("listing the partitions"))
    }

    fn read_device(&mut self, device: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let count = i32::try_from(len).context("reading too much at once")?;
        let at = i64::try_from(offset).context("an offset out of range")?;
        self.handle()
            .pread_device(device, count, at)
            .map_err(gerr(format!("reading {device}")))
    }
}

#[cfg(test)]
#[path = "preconditions_tests.rs"]
mod tests;
