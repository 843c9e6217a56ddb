use std::collections::BTreeMap;

use super::*;
use crate::guest::registry::mem::MemRegistry;
use crate::guest::windows::ntfs::tests::{boot_sector, volume};
use crate::guest::windows::{WinArch, WindowsFacts};
use crate::progress::RecordingReporter;

/// A disk in memory: guest files (looked up without regard to case) and
/// partitions' bytes.
#[derive(Default)]
struct MemDisk {
    files: BTreeMap<String, Vec<u8>>,
    parts: Vec<(String, Vec<u8>)>,
    registry: MemRegistry,
}

impl MemDisk {
    fn file(mut self, path: &str, data: &[u8]) -> Self {
        self.files.insert(path.to_ascii_lowercase(), data.to_vec());
        self
    }

    /// A partition holding a boot sector and, for NTFS, `$Volume`'s record
    /// where the boot sector says it is.
    fn part(mut self, boot: Vec<u8>, volume_flags: Option<u16>) -> Self {
        let mut bytes = boot;
        if let Some(flags) = volume_flags {
            let (offset, _, _) = ntfs::volume_record(&bytes).unwrap();
            bytes.resize(offset as usize, 0);
            bytes.extend(volume(flags));
        }
        let dev = format!("/dev/sda{}", self.parts.len() + 1);
        self.parts.push((dev, bytes));
        self
    }

    /// The disk of a Windows that is ready: a FAT ESP, a clean NTFS C:, an
    /// empty hibernation file, clean hives.
    fn ready() -> Self {
        let mut fat = vec![0u8; 512];
        fat[3..11].copy_from_slice(b"mkfs.fat");
        let mut d = MemDisk {
            registry: registry(),
            ..MemDisk::default()
        }
        .part(fat, None)
        .part(boot_sector(NTFS_OEM_ID), Some(0))
        .file("/hiberfil.sys", &[0; 16]);
        for hive in ["SYSTEM", "SOFTWARE", "SAM", "SECURITY", "DEFAULT"] {
            d = d.file(&format!("/Windows/System32/config/{hive}"), &regf(7, 7));
        }
        d
    }
}

fn regf(primary: u32, secondary: u32) -> Vec<u8> {
    let mut h = b"regf".to_vec();
    h.extend(primary.to_le_bytes());
    h.extend(secondary.to_le_bytes());
    h.extend([0u8; 20]);
    h
}

impl Disk for MemDisk {
    fn registry(&mut self) -> &mut dyn Registry {
        &mut self.registry
    }

    fn file_head(&mut self, path: &str, len: usize) -> Result<Option<Vec<u8>>> {
        Ok(self
            .files
            .get(&path.to_ascii_lowercase())
            .map(|d| d[..len.min(d.len())].to_vec()))
    }

    fn partitions(&mut self) -> Result<Vec<String>> {
        Ok(self.parts.iter().map(|(d, _)| d.clone()).collect())
    }

    fn read_device(&mut self, device: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let (_, bytes) = self.parts.iter().find(|(d, _)| d == device).unwrap();
        let start = (offset as usize).min(bytes.len());
        let mut out = bytes[start..(start + len).min(bytes.len())].to_vec();
        out.resize(len, 0);
        Ok(out)
    }
}

fn facts(major: u32, minor: u32) -> WindowsFacts {
    WindowsFacts {
        arch: Some(WinArch::Amd64),
        nt: NtVersion { major, minor },
        build: None,
        users: Vec::new(),
        rdp_port: None,
    }
}

fn registry() -> MemRegistry {
    MemRegistry::new()
        .with(Hive::System, "Select", "Current", RegValue::Dword(1))
        .with(
            Hive::System,
            r"ControlSet001\Control\Session Manager\Power",
            "HiberbootEnabled",
            RegValue::Dword(0),
        )
        .with(
            Hive::Software,
            r"Microsoft\Windows\CurrentVersion\Setup\State",
            "ImageState",
            RegValue::Sz("IMAGE_STATE_COMPLETE".into()),
        )
        .with(
            Hive::System,
            r"ControlSet001\Services\viostor",
            "Start",
            RegValue::Dword(0),
        )
        .with(
            Hive::System,
            r"ControlSet001\Services\netkvm",
            "Start",
            RegValue::Dword(3),
        )
}

/// The error of a table on a disk (None when it passes).
fn run(table: &[(&str, Check)], disk: &mut MemDisk, f: &WindowsFacts) -> Option<String> {
    let r = RecordingReporter::default();
    let mut ctx = Ctx {
        disk,
        systemroot: "/Windows",
        facts: f,
        reporter: &r,
    };
    check(table, &mut ctx).err().map(|e| {
        assert!(e.downcast_ref::<NotReady>().is_some(), "{e:#}");
        let line = e.to_string();
        assert!(!line.contains('\n'), "{line}");
        line
    })
}

#[test]
fn a_ready_windows_passes_every_check() {
    let f = facts(10, 0);
    assert_eq!(run(OFFLINE, &mut MemDisk::ready(), &f), None);
    assert_eq!(run(BEFORE_BOOT, &mut MemDisk::ready(), &f), None);
}

#[test]
fn each_offline_check_names_what_to_do() {
    let f = facts(10, 0);
    let hibernated = MemDisk::ready().file("/HIBERFIL.SYS", b"HIBRxxxx");
    let lower = MemDisk::ready().file("/hiberfil.sys", b"hibrxxxx");
    let dirty_ntfs = MemDisk {
        parts: Vec::new(),
        ..MemDisk::ready()
    }
    .part(boot_sector(NTFS_OEM_ID), Some(1));
    let bitlocker = MemDisk::ready().part(boot_sector(BITLOCKER_OEM_ID), None);
    let dirty_hive = MemDisk::ready().file("/Windows/System32/config/SAM", &regf(9, 8));
    for (mut disk, expect) in [
        (hibernated, "hibernated"),
        (lower, "`shutdown /s /t 0`"),
        (dirty_ntfs, "on /dev/sda1 is marked dirty"),
        (bitlocker, "partition /dev/sda3 is encrypted with BitLocker"),
        (
            dirty_hive,
            "config/SAM has changes still in its transaction logs",
        ),
    ] {
        let err = run(OFFLINE, &mut disk, &f).unwrap_or_default();
        assert!(err.contains(expect), "{expect:?} not in {err:?}");
        assert!(err.contains("try again"), "{err}");
    }
}

impl MemDisk {
    /// The ready disk with one more registry value.
    fn ready_with(hive: Hive, key: &str, name: &str, value: RegValue) -> Self {
        let mut d = MemDisk::ready();
        d.registry = d.registry.with(hive, key, name, value);
        d
    }
}

#[test]
fn fast_startup_needs_the_flag_a_hibernation_file_and_nt_6_2() {
    let on = || {
        MemDisk::ready_with(
            Hive::System,
            r"ControlSet001\Control\Session Manager\Power",
            "HiberbootEnabled",
            RegValue::Dword(1),
        )
    };
    let err = run(OFFLINE, &mut on(), &facts(10, 0)).unwrap();
    assert!(
        err.contains("Fast Startup") && err.contains("powercfg /h off"),
        "{err}"
    );
    let mut no_file = on();
    no_file.files.remove("/hiberfil.sys");
    assert_eq!(run(OFFLINE, &mut no_file, &facts(10, 0)), None);
    assert_eq!(run(OFFLINE, &mut on(), &facts(6, 1)), None);
}

#[test]
fn a_generalized_windows_is_refused_before_booting_only() {
    let generalized = || {
        MemDisk::ready_with(
            Hive::Software,
            r"Microsoft\Windows\CurrentVersion\Setup\State",
            "ImageState",
            RegValue::Sz("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE".into()),
        )
    };
    let f = facts(10, 0);
    assert_eq!(run(OFFLINE, &mut generalized(), &f), None);
    let err = run(BEFORE_BOOT, &mut generalized(), &f).unwrap();
    assert!(
        err.contains("already generalized")
            && err.contains("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE")
            && err.contains("--no-boot"),
        "{err}"
    );
    assert_eq!(run(BEFORE_BOOT, &mut generalized(), &facts(5, 2)), None);
}

#[test]
fn a_boot_needs_viostor_and_netkvm_installed_or_staged() {
    let f = facts(10, 0);
    let without = |driver: &str| {
        let mut d = MemDisk::ready();
        let key = format!(r"CurrentControlSet\Services\{driver}");
        d.registry.delete_key(Hive::System, &key).unwrap();
        d
    };
    let err = run(BEFORE_BOOT, &mut without("viostor"), &f).unwrap();
    assert!(
        err.contains("no VirtIO driver viostor installed")
            && err.contains("--install-virtio DIR")
            && err.contains("--no-boot"),
        "{err}"
    );
    assert_eq!(run(OFFLINE, &mut without("viostor"), &f), None);
    let err = run(BEFORE_BOOT, &mut without("netkvm"), &f).unwrap();
    assert!(err.contains("no VirtIO driver netkvm installed"), "{err}");
    // netkvm staged for Plug and Play is enough.
    let mut staged = without("netkvm").file("/Windows/Drivers/VirtIO/netkvm.inf", b"[Version]");
    assert_eq!(run(BEFORE_BOOT, &mut staged, &f), None);
}

#[test]
fn an_unreadable_ntfs_is_a_warning() {
    let mut odd = boot_sector(NTFS_OEM_ID);
    odd[0x40] = 0;
    let mut disk = MemDisk {
        parts: Vec::new(),
        ..MemDisk::ready()
    }
    .part(odd, None);
    let r = RecordingReporter::default();
    let f = facts(10, 0);
    let mut ctx = Ctx {
        disk: &mut disk,
        systemroot: "/Windows",
        facts: &f,
        reporter: &r,
    };
    check(OFFLINE, &mut ctx).unwrap();
    assert_eq!(r.warnings().len(), 1, "{:?}", r.warnings());
    assert!(r.warnings()[0].contains("/dev/sda1"));
}

#[test]
fn sequence_numbers_of_a_regf_header() {
    assert_eq!(sequence_numbers(&regf(3, 4)), Some((3, 4)));
    assert_eq!(sequence_numbers(b"regf"), None);
    assert_eq!(sequence_numbers(&[0u8; 12]), None);
}
