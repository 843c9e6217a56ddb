//! UFS, the BSDs' filesystem, in the helper VM.
//!
//! Debian's kernel reads UFS but is built without `CONFIG_UFS_FS_WRITE`:
//! asked for a read-write mount, it mounts read-only without a word, and
//! every write then fails. `scripts/ufs-appliance.sh` (run by
//! `scripts/setup.sh`) builds a libguestfs *fixed appliance* whose
//! `ufs.ko` writes, for the newest kernel in `/boot`; the helper VM boots
//! it whenever it is current ([`writable_appliance`]). Whatever boots, a
//! read-write mount the kernel turned read-only is caught
//! ([`check_writable`]) and becomes one clear error.
//!
//! The flavour (`ufstype=`) comes from the superblock's magic number:
//! UFS2 at 64 KiB (`ufs2`), UFS1 at 8 KiB (`44bsd`, as the BSDs make it).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use guestfs::Handle;

use super::appliance::{describe, gerr};

/// Where `scripts/ufs-appliance.sh` installs the UFS-writing appliance.
pub const DEFAULT_APPLIANCE: &str = "/var/lib/snf-image-creator/appliance";

/// The directory of the UFS-writing appliance (`$SNF_APPLIANCE`, else
/// [`DEFAULT_APPLIANCE`]).
pub fn appliance_dir() -> PathBuf {
    std::env::var_os("SNF_APPLIANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_APPLIANCE))
}

/// Whether the UFS-writing appliance can be used, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplianceState {
    /// Built for the kernel libguestfs boots.
    Current(PathBuf),
    /// Not built.
    Missing(PathBuf),
    /// Built for another kernel than the newest in `/boot`.
    Stale { built_for: String, newest: String },
}

/// The state of the UFS-writing appliance in `dir`, given the kernels in
/// `boot`.
pub fn appliance_state(dir: &Path, boot: &Path) -> ApplianceState {
    let built = std::fs::read_to_string(dir.join("kernel-version"));
    let Ok(built) = built.map(|s| s.trim().to_owned()) else {
        return ApplianceState::Missing(dir.to_owned());
    };
    if !dir.join("README.fixed").is_file() {
        return ApplianceState::Missing(dir.to_owned());
    }
    match newest_kernel(boot) {
        Some(newest) if newest == built => ApplianceState::Current(dir.to_owned()),
        newest => ApplianceState::Stale {
            built_for: built,
            newest: newest.unwrap_or_default(),
        },
    }
}

/// The newest kernel version of `boot` (`vmlinuz-VERSION`), by version
/// order, as supermin and libguestfs pick it.
fn newest_kernel(boot: &Path) -> Option<String> {
    let mut versions: Vec<String> = std::fs::read_dir(boot)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_owned))
        .collect();
    versions.sort_by_key(|v| version_key(v));
    versions.pop()
}

fn version_key(v: &str) -> Vec<(u64, String)> {
    v.split(['.', '-', '+'])
        .map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse().unwrap_or(0), p[digits.len()..].to_owned())
        })
        .collect()
}

/// The UFS-writing appliance to boot, when it is current.
pub fn writable_appliance() -> Option<PathBuf> {
    match appliance_state(&appliance_dir(), Path::new("/boot")) {
        ApplianceState::Current(dir) => Some(dir),
        _ => None,
    }
}

/// The two UFS flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Ufs1,
    Ufs2,
}

const UFS1_MAGIC: u32 = 0x0001_1954;
const UFS2_MAGIC: u32 = 0x1954_0119;
/// The superblock's `fs_magic` field.
const MAGIC_AT: u64 = 1372;

impl Flavor {
    /// Linux's `ufstype=` for it.
    pub fn ufstype(self) -> &'static str {
        match self {
            Flavor::Ufs1 => "44bsd",
            Flavor::Ufs2 => "ufs2",
        }
    }

    /// The flavour whose superblock magic is at its place in `read(at)`.
    pub fn detect(mut read: impl FnMut(u64) -> Option<[u8; 4]>) -> Option<Flavor> {
        let at = |read: &mut dyn FnMut(u64) -> Option<[u8; 4]>, sb: u64| {
            read(sb + MAGIC_AT).map(u32::from_le_bytes)
        };
        if at(&mut read, 65536) == Some(UFS2_MAGIC) {
            Some(Flavor::Ufs2)
        } else if at(&mut read, 8192) == Some(UFS1_MAGIC) {
            Some(Flavor::Ufs1)
        } else {
            None
        }
    }
}

/// The UFS flavour of a device of the helper VM, or `None` for another
/// filesystem.
pub fn flavor(g: &Handle, dev: &str) -> Option<Flavor> {
    Flavor::detect(|at| {
        let data = g.pread_device(dev, 4, at as i64).ok()?;
        data.get(..4)?.try_into().ok()
    })
}

/// Mount a UFS device with its flavour's `ufstype`.
pub fn mount(g: &Handle, flavor: Flavor, dev: &str, mp: &str, read_only: bool) -> Result<()> {
    let opts = format!(
        "{},ufstype={}",
        if read_only { "ro" } else { "rw" },
        flavor.ufstype()
    );
    g.mount_vfs(&opts, "ufs", dev, mp)
        .map_err(gerr(format!("mounting the UFS filesystem {dev} on {mp}")))?;
    if !read_only {
        check_writable(g, dev, mp)?;
    }
    Ok(())
}

/// `ST_RDONLY` of statvfs's flags.
const ST_RDONLY: i64 = 1;

/// Refuse a read-write mount the kernel made read-only.
fn check_writable(g: &Handle, dev: &str, mp: &str) -> Result<()> {
    let st = g
        .statvfs(mp)
        .map_err(|e| anyhow::anyhow!("examining the mount of {dev}: {}", describe(&e)))?;
    if st.flag & ST_RDONLY != 0 {
        let _ = g.umount(mp, Default::default());
        bail!(
            "the helper VM can only read the UFS filesystem {dev} (its kernel does not write \
             UFS): run scripts/setup.sh as root to build the helper VM that does \
             (scripts/ufs-appliance.sh), or export without system preparation (--no-sysprep)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(at: u64, magic: u32) -> impl FnMut(u64) -> Option<[u8; 4]> {
        move |off| {
            Some(if off == at {
                magic.to_le_bytes()
            } else {
                [0; 4]
            })
        }
    }

    #[test]
    fn flavours_from_the_superblock() {
        assert_eq!(
            Flavor::detect(image(65536 + 1372, UFS2_MAGIC)),
            Some(Flavor::Ufs2)
        );
        assert_eq!(
            Flavor::detect(image(8192 + 1372, UFS1_MAGIC)),
            Some(Flavor::Ufs1)
        );
        // A UFS1 magic where UFS2's superblock is is no UFS2.
        assert_eq!(Flavor::detect(image(65536 + 1372, UFS1_MAGIC)), None);
        assert_eq!(Flavor::detect(|_| None), None);
        assert_eq!(Flavor::Ufs1.ufstype(), "44bsd");
    }

    #[test]
    fn appliance_states() {
        let boot = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for k in ["6.1.0-9-amd64", "6.1.0-57-amd64", "6.1.0-10-amd64"] {
            std::fs::write(boot.path().join(format!("vmlinuz-{k}")), "").unwrap();
        }
        assert_eq!(
            newest_kernel(boot.path()).as_deref(),
            Some("6.1.0-57-amd64")
        );
        let state = || appliance_state(dir.path(), boot.path());
        assert!(matches!(state(), ApplianceState::Missing(_)));
        std::fs::write(dir.path().join("kernel-version"), "6.1.0-10-amd64\n").unwrap();
        std::fs::write(dir.path().join("README.fixed"), "").unwrap();
        assert_eq!(
            state(),
            ApplianceState::Stale {
                built_for: "6.1.0-10-amd64".into(),
                newest: "6.1.0-57-amd64".into()
            }
        );
        std::fs::write(dir.path().join("kernel-version"), "6.1.0-57-amd64\n").unwrap();
        assert_eq!(state(), ApplianceState::Current(dir.path().to_owned()));
    }
}
