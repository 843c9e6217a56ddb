//! The libguestfs helper VM ("appliance"): launch (with a KVM that cannot
//! start detected and replaced by software emulation), inspection, mounting,
//! and the [`Guest`] facade over it.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use guestfs::Handle;

pub use super::kvm::{KvmUnusable, probe_kvm};
use super::lookup::Cache;
use super::raw::HandleRaw;
use super::{DiskInfo, Distro, EntryKind, FoundEntry, Guest, OsFamily, OsInfo};
use crate::progress::Reporter;

/// How the helper VM's CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization.
    Kvm,
    /// Software emulation (TCG): works everywhere, several times slower.
    Tcg,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG (software emulation)",
        })
    }
}

/// The text of a libguestfs error. The binding's error type only has
/// `Debug`, and its fields are private, so the message is taken from there.
pub fn describe(err: &guestfs::Error) -> String {
    let debug = format!("{err:?}");
    let Some(start) = debug.find("message: \"") else {
        return debug;
    };
    let rest = &debug[start + "message: \"".len()..];
    let end = rest.rfind("\", errno").unwrap_or(rest.len());
    rest[..end].replace("\\n", " ").replace("\\\"", "\"")
}

/// Turn a binding error into an `anyhow` error saying what we were doing.
pub(crate) fn gerr(what: impl Into<String>) -> impl FnOnce(guestfs::Error) -> anyhow::Error {
    let what = what.into();
    move |e| anyhow!("{what}: {}", describe(&e))
}

/// Whether the user already chose how libguestfs runs qemu.
fn tcg_forced_by_env() -> bool {
    std::env::var("LIBGUESTFS_BACKEND_SETTINGS").is_ok_and(|s| s.contains("force_tcg"))
}

/// qemu's minimal x86 firmware: it only loads the kernel and initrd that
/// libguestfs passes, where SeaBIOS spends seconds under software
/// emulation (about 3 s of a 25 s launch here).
const QBOOT: &str = "/usr/share/qemu/qboot.rom";

/// Boot the helper VM with [`QBOOT`] when it can: on x86_64, where
/// libguestfs passes no firmware of its own (it does for UEFI appliances,
/// on other architectures). Only under TCG: under KVM SeaBIOS is quick.
fn quick_firmware(g: &Handle) -> Result<()> {
    if std::env::consts::ARCH != "x86_64" || !Path::new(QBOOT).is_file() {
        return Ok(());
    }
    g.config("-bios", Some(QBOOT))
        .map_err(gerr("selecting the qboot firmware"))
}

/// A launched helper VM with one disk attached as `/dev/sda`.
pub struct Appliance {
    g: Handle,
    accel: Accel,
    launch_time: Duration,
    pub(crate) hives: super::registry::hivex::HiveState,
    /// What the guest answered, until something changes it.
    cache: Mutex<Cache>,
}

impl Appliance {
    /// Launch a helper VM on `disk` (opened read-write with `format`).
    /// Picks KVM when it can start a VM, else TCG, saying so once.
    pub fn launch(disk: &Path, format: &str, reporter: &dyn Reporter) -> Result<Appliance> {
        let accel = if tcg_forced_by_env() {
            Accel::Tcg
        } else {
            let qemu = Handle::create()
                .map_err(gerr("creating a libguestfs handle"))?
                .get_hv()
                .map_err(gerr("asking libguestfs for its qemu"))?;
            match probe_kvm(&qemu) {
                Ok(()) => Accel::Kvm,
                Err(why) => {
                    reporter.warn(&format!(
                        "KVM cannot start a VM on this machine ({why}); using software emulation (TCG), which is slower"
                    ));
                    Accel::Tcg
                }
            }
        };
        match Self::launch_with(disk, format, accel) {
            Err(e) if accel == Accel::Kvm => {
                reporter.warn(&format!(
                    "the helper VM failed to start with KVM ({e:#}); retrying with software emulation (TCG)"
                ));
                Self::launch_with(disk, format, Accel::Tcg)
            }
            other => other,
        }
    }

    fn launch_with(disk: &Path, format: &str, accel: Accel) -> Result<Appliance> {
        let g = Handle::create().map_err(gerr("creating a libguestfs handle"))?;
        super::calls::count(&g)?;
        if std::env::var_os("LIBGUESTFS_BACKEND").is_none() {
            // Always run qemu directly, never through libvirt (the
            // original's issue #38: a missing libvirt daemon broke launches).
            g.set_backend("direct")
                .map_err(gerr("selecting the direct backend"))?;
        }
        if let Some(dir) = super::ufs::writable_appliance() {
            // The same appliance as libguestfs's own, with a ufs.ko that
            // writes (scripts/ufs-appliance.sh).
            g.set_path(dir.to_str())
                .map_err(gerr("selecting the UFS-writing helper VM"))?;
        }
        if accel == Accel::Tcg {
            g.set_backend_setting("force_tcg", "1")
                .map_err(gerr("selecting software emulation"))?;
            quick_firmware(&g)?;
        }
        let path = disk.to_str().context("the disk path is not valid UTF-8")?;
        g.add_drive(
            path,
            guestfs::AddDriveOptArgs {
                readonly: Some(false),
                format: Some(format),
                ..Default::default()
            },
        )
        .map_err(gerr(format!(
            "attaching {} to the helper VM",
            disk.display()
        )))?;
        let start = Instant::now();
        g.launch().map_err(gerr(
            "launching the helper VM failed (run `snf-image-creator doctor` to see why)",
        ))?;
        Ok(Appliance {
            g,
            accel,
            launch_time: start.elapsed(),
            hives: Default::default(),
            cache: Mutex::default(),
        })
    }

    /// How the VM runs.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// How long the launch took.
    pub fn launch_time(&self) -> Duration {
        self.launch_time
    }

    /// The raw handle, for modules that need calls the facade lacks.
    /// What the facade remembers is forgotten: the caller may change the
    /// guest.
    pub fn handle(&self) -> &Handle {
        self.forget();
        &self.g
    }

    /// Forget what the guest answered (its mounts or files changed).
    fn forget(&self) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Tell the cache `path` was written (or that something failed).
    fn changed(&mut self, path: &str, ok: bool) {
        let (cache, mut raw) = self.cached();
        if ok {
            cache.wrote(&mut raw, path)
        } else {
            cache.clear()
        }
    }

    /// The cache and the calls it stands in front of.
    fn cached(&mut self) -> (&mut Cache, HandleRaw<'_>) {
        let cache = self.cache.get_mut().unwrap_or_else(PoisonError::into_inner);
        (cache, HandleRaw(&self.g))
    }

    /// Find the operating systems on the disk.
    pub fn roots(&self) -> Result<Vec<String>> {
        self.g
            .inspect_os()
            .map_err(gerr("inspecting the disk for operating systems"))
    }

    /// What inspection says of one root.
    pub fn os_info(&self, root: &str) -> Result<OsInfo> {
        let g = &self.g;
        let get = |what: &str, r: Result<String, guestfs::Error>| {
            r.map_err(gerr(format!("reading the {what} of {root}")))
        };
        let mut mountpoints: Vec<(String, String)> = g
            .inspect_get_mountpoints(root)
            .map_err(gerr(format!("reading the mount points of {root}")))?
            .into_iter()
            .collect();
        mountpoints.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
        Ok(OsInfo {
            root: root.to_owned(),
            family: OsFamily::parse(&get("type", g.inspect_get_type(root))?),
            distro: Distro::parse(&get("distribution", g.inspect_get_distro(root))?),
            product_name: get("product name", g.inspect_get_product_name(root))?,
            major: g.inspect_get_major_version(root).unwrap_or(0),
            minor: g.inspect_get_minor_version(root).unwrap_or(0),
            arch: get("architecture", g.inspect_get_arch(root))?,
            mountpoints,
        })
    }

    /// Facts about the disk itself, given the root filesystem's device.
    pub fn disk_info(&self, root: &str) -> Result<DiskInfo> {
        let g = &self.g;
        let size = g
            .blockdev_getsize64("/dev/sda")
            .map_err(gerr("reading the disk size"))?;
        let boot_sector = g
            .pread_device("/dev/sda", 512, 0)
            .map_err(gerr("reading the boot sector"))?;
        let lvm = super::lvm::Layout::read(g)?;
        let root_lv = lvm.lv_of_device(root).map(|lv| lv.path());
        let root_part = lvm.pv_of_device(root).unwrap_or(root);
        Ok(DiskInfo {
            // A disk without a partition table makes parted fail: not an error.
            partition_table: g.part_get_parttype("/dev/sda").ok(),
            boot_sector,
            root_partition: g
                .part_to_partnum(root_part)
                .ok()
                .map(|n| super::bsd::containing_slice(g, n).unwrap_or(n)),
            root_lv,
            lvm,
            size: u64::try_from(size).unwrap_or(0),
        })
    }

    /// Mount the guest's filesystems (shortest mount point first). Failing
    /// to mount a filesystem the tasks need is an error; others are warned
    /// about and skipped.
    pub fn mount(&self, os: &OsInfo, read_only: bool, reporter: &dyn Reporter) -> Result<()> {
        const ESSENTIAL: &[&str] = &["/", "/etc", "/root", "/home", "/var", "/usr"];
        self.forget();
        let opts = if read_only { "ro" } else { "rw" };
        for (mp, dev) in &os.mountpoints {
            if let Some(flavor) = super::ufs::flavor(&self.g, dev) {
                super::ufs::mount(&self.g, flavor, dev, mp, read_only)?;
                continue;
            }
            if let Err(e) = self.g.mount_options(opts, dev, mp) {
                let why = describe(&e);
                if ESSENTIAL.contains(&mp.as_str()) {
                    bail!("mounting {dev} on {mp} ({opts}) failed: {why}");
                }
                reporter.warn(&format!("mounting {dev} on {mp} failed (ignored): {why}"));
            }
        }
        Ok(())
    }

    /// Unmount everything and flush the disk.
    pub fn umount_all(&self) -> Result<()> {
        self.forget();
        self.release_hive()?;
        self.g.umount_all().map_err(gerr("unmounting the guest"))?;
        self.g.sync().map_err(gerr("flushing the guest's disk"))
    }

    /// Stop the VM cleanly, so that every write has reached the overlay.
    pub fn shutdown(self) -> Result<()> {
        self.g
            .shutdown()
            .map_err(gerr("shutting the helper VM down"))
    }
}

impl Guest for Appliance {
    fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        let (cache, mut raw) = self.cached();
        cache.read_file(&mut raw, path)
    }

    fn exists(&mut self, path: &str) -> Result<bool> {
        let (cache, mut raw) = self.cached();
        cache.exists(&mut raw, path)
    }

    fn is_file(&mut self, path: &str) -> Result<bool> {
        let (cache, mut raw) = self.cached();
        cache.is_file(&mut raw, path)
    }

    fn is_dir(&mut self, path: &str) -> Result<bool> {
        let (cache, mut raw) = self.cached();
        cache.is_dir(&mut raw, path)
    }

    fn read_dir(&mut self, path: &str) -> Result<Vec<(String, EntryKind)>> {
        let (cache, mut raw) = self.cached();
        cache.read_dir(&mut raw, path)
    }

    fn read_link(&mut self, path: &str) -> Result<String> {
        let (cache, mut raw) = self.cached();
        cache.read_link(&mut raw, path)
    }

    fn size(&mut self, path: &str) -> Result<u64> {
        let (cache, mut raw) = self.cached();
        Ok(cache.lstat(&mut raw, path)?.size)
    }

    fn file_size(&mut self, path: &str) -> Result<u64> {
        let (cache, mut raw) = self.cached();
        Ok(cache.stat(&mut raw, path)?.size)
    }

    fn download(&mut self, path: &str, dest: &Path, limit: u64) -> Result<()> {
        let size = self.file_size(path)?;
        if size > limit {
            return Err(super::TooLarge::new(path, size, limit).into());
        }
        let to = dest.to_str().context("a host path that is not UTF-8")?;
        (self.g.download(path, to)).map_err(gerr(format!("copying {path} out of the guest")))?;
        let copied = std::fs::metadata(dest)?.len();
        if copied > limit {
            return Err(super::TooLarge::new(path, copied, limit).into());
        }
        Ok(())
    }

    fn find(&mut self, dir: &str) -> Result<Vec<FoundEntry>> {
        let names = self.g.find(dir).map_err(gerr(format!("listing {dir}")))?;
        let base = dir.trim_end_matches('/');
        // lstatnslist takes plain names in one directory: group the found
        // paths by their directory (find lists a directory's entries
        // together, right after it).
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for rel in &names {
            // libguestfs's find gives `/sub/name`, relative to `dir`.
            let rel = rel.trim_start_matches('/');
            let (parent, name) = match rel.rsplit_once('/') {
                Some((p, n)) => (format!("{base}/{p}"), n),
                None => (base.to_owned(), rel),
            };
            match groups.iter_mut().find(|(p, _)| *p == parent) {
                Some((_, list)) => list.push(name),
                None => groups.push((parent, vec![name])),
            }
        }
        let mut found = Vec::with_capacity(names.len());
        for (parent, list) in groups {
            let stats = self
                .g
                .lstatnslist(&parent, &list)
                .map_err(gerr(format!("examining the entries of {parent}")))?;
            found.extend(list.iter().zip(stats).map(|(name, st)| FoundEntry {
                path: format!("{parent}/{name}"),
                kind: kind_of_mode(st.st_mode),
                size: u64::try_from(st.st_size).unwrap_or(0),
            }));
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    fn fs_uuid(&mut self, device: &str) -> Result<String> {
        self.g
            .vfs_uuid(device)
            .map_err(gerr(format!("reading the filesystem UUID of {device}")))
    }

    fn write(&mut self, path: &str, content: &[u8]) -> Result<()> {
        let done = self.g.write(path, content);
        self.changed(path, done.is_ok());
        done.map_err(gerr(format!("writing {path}")))
    }

    fn truncate(&mut self, path: &str) -> Result<()> {
        let done = self.g.truncate(path);
        self.changed(path, done.is_ok());
        done.map_err(gerr(format!("truncating {path}")))
    }

    fn remove_all(&mut self, path: &str) -> Result<()> {
        // `rm_rf` starts `rm -rf` in the helper VM, a process each time;
        // what is not a directory is unlinked by the daemon itself.
        let (cache, mut raw) = self.cached();
        let removed = match cache.kind(&mut raw, path) {
            Some(EntryKind::Dir) | None => self.g.rm_rf(path),
            Some(_) => self.g.rm(path),
        };
        let done = removed.map_err(gerr(format!("removing {path}")));
        match done {
            Ok(()) => {
                let (cache, mut raw) = self.cached();
                cache.removed(&mut raw, path);
            }
            Err(_) => self.cached().0.clear(),
        }
        done
    }

    fn mkdir_p(&mut self, path: &str) -> Result<()> {
        self.cached().0.clear();
        self.g
            .mkdir_p(path)
            .map_err(gerr(format!("creating the directory {path}")))
    }

    fn each_small_file(
        &mut self,
        dir: &str,
        cap: u64,
        prune: &[&str],
        each: &mut dyn FnMut(&str, &[u8]) -> Result<()>,
    ) -> Result<Vec<String>> {
        super::tree_out::each_small_file(&self.g, dir, cap, prune, each)
    }

    fn registry(&mut self) -> Option<&mut dyn super::registry::Registry> {
        Some(self)
    }

    fn mode(&mut self, path: &str) -> Result<Option<u32>> {
        let (cache, mut raw) = self.cached();
        Ok(Some(cache.stat(&mut raw, path)?.mode & 0o7777))
    }
}

pub(super) fn kind_of_mode(mode: i64) -> EntryKind {
    match mode & 0o170000 {
        0o100000 => EntryKind::File,
        0o040000 => EntryKind::Dir,
        0o120000 => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(kind_of_mode(0o100644), EntryKind::File);
        assert_eq!(kind_of_mode(0o040755), EntryKind::Dir);
        assert_eq!(kind_of_mode(0o120777), EntryKind::Symlink);
        assert_eq!(kind_of_mode(0o020666), EntryKind::Other);
    }

    #[test]
    fn error_text_comes_out_clean() {
        let g = Handle::create().unwrap();
        let err = g
            .add_drive("/nonexistent/disk.img", Default::default())
            .unwrap_err();
        assert_eq!(
            describe(&err),
            "/nonexistent/disk.img: No such file or directory"
        );
    }
}
