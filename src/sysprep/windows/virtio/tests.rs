//! INF parsing, driver choice and the injection's changes, on a small
//! driver tree and an in-memory guest.

use std::path::Path;

use super::inf::{self, Target};
use super::{GUEST_DIR, choose};
use crate::guest::registry::mem::MemRegistry;
use crate::guest::registry::{Hive, RegValue};
use crate::guest::{Guest, OsInfo};
use crate::process::UsageError;
use crate::progress::RecordingReporter;
use crate::sysprep::windows::tests::windows_guest;
use crate::sysprep::{Options, Params};

const VIOSTOR: &str = "; comment\r\n[Version]\r\nSignature = \"$WINDOWS NT$\"\r\n\
    DriverVer = %VER%\r\nCatalogFile.NTamd64 = viostor.cat\r\n\
    [Manufacturer]\r\n%RH% = rh, NTamd64.10.0, NTamd64.6.1 ; two targets\r\n\
    [rh.NTamd64.10.0]\r\n%D% = viostor_inst, \\\r\n  PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00\r\n\
    [rh.NTamd64.6.1]\r\n%D% = viostor_inst, PCI\\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01\r\n\
    [Strings]\r\nVER = \"08/30/2023,100.94\"\r\nRH = \"Red Hat\"\r\n";

fn tree(dir: &Path) {
    let put = |p: &str, text: &str| {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("viostor/2k19/amd64/viostor.inf", VIOSTOR);
    put("viostor/2k19/amd64/viostor.cat", "cat");
    put("viostor/2k19/amd64/viostor.sys", "amd64 sys");
    let x86 = VIOSTOR.replace("NTamd64", "NTx86");
    put("viostor/w7/x86/viostor.inf", &x86);
    put("viostor/w7/x86/viostor.cat", "cat");
    put("viostor/w7/x86/viostor.sys", "x86 sys");
    let net = VIOSTOR
        .replace("viostor", "netkvm")
        .replace("DEV_1001", "DEV_1000");
    put(
        "netkvm/2k19/amd64/netkvm.inf",
        &net.replace("DEV_1042", "DEV_1041"),
    );
    put("netkvm/2k19/amd64/netkvm.cat", "cat");
    put("rng/rng.inf", &VIOSTOR.replace("DEV_1001", "DEV_1005"));
}

#[test]
fn inf_files_are_read_with_the_original_rules() {
    let inf = inf::parse(VIOSTOR).unwrap();
    assert_eq!(inf.driver, "viostor");
    assert_eq!(inf.driver_ver, "08/30/2023,100.94");
    assert_eq!(inf.catalog.as_deref(), Some("viostor.cat"));
    let amd64 = |v| Target {
        arch: "amd64".into(),
        version: v,
    };
    assert_eq!(inf.targets, [amd64((10, 0)), amd64((6, 1))]);
    assert_eq!(
        inf.models[0].hardware_ids,
        ["PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00"]
    );
    assert_eq!(inf.fits("amd64", (10, 0)), Some((10, 0)));
    assert_eq!(inf.fits("amd64", (6, 3)), Some((6, 1)));
    assert_eq!(inf.fits("amd64", (6, 0)), None);
    assert_eq!(inf.fits("x86", (10, 0)), None);
    let undecorated = VIOSTOR
        .replace(", NTamd64.10.0, NTamd64.6.1", "")
        .replace("rh.NTamd64.10.0", "rh");
    assert_eq!(inf::parse(&undecorated).unwrap().targets[0].arch, "x86");
    assert!(inf::parse(&VIOSTOR.replace("1AF4", "8086")).is_none());
}

#[test]
fn drivers_are_chosen_by_architecture_version_and_catalog() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let names = |arch, v| -> Vec<String> {
        let mut d: Vec<String> = choose(dir.path(), arch, v)
            .unwrap()
            .iter()
            .map(|d| {
                d.inf_path
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        d.sort();
        d
    };
    // rng has no catalog file; netkvm's is there.
    assert_eq!(
        names("amd64", (10, 0)),
        [
            "netkvm/2k19/amd64/netkvm.inf",
            "viostor/2k19/amd64/viostor.inf"
        ]
    );
    assert_eq!(names("x86", (6, 1)), ["viostor/w7/x86/viostor.inf"]);
    let err = choose(dir.path(), "x86", (6, 0)).unwrap_err();
    assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
    assert!(err.to_string().contains("NTx86 up to 6.0"), "{err}");
}

fn install_on(reg: MemRegistry, os: &OsInfo, dir: &Path) -> crate::guest::memfs::MemGuest {
    let mut g = windows_guest().with_registry(reg);
    let params = Params::from_assignments(&[format!("virtio={}", dir.display())]).unwrap();
    let opts = Options {
        run: true,
        params,
        ..Options::default()
    };
    let tasks = crate::sysprep::tasks_for(&crate::guest::profile::Profile::Windows);
    let chosen: Vec<_> = tasks
        .into_iter()
        .filter(|t| t.name == "install-virtio")
        .collect();
    let mut meta = crate::guest::metadata::Metadata::new();
    let r = RecordingReporter::default();
    crate::sysprep::runner::run_files(&chosen, &opts, &mut g, os, &mut meta, &r).unwrap();
    g
}

#[test]
fn storage_drivers_are_registered_for_each_nt_family() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let os = |arch: &str, major, minor| OsInfo {
        arch: arch.into(),
        major,
        minor,
        ..OsInfo::default()
    };
    let modern = MemRegistry::new().with(Hive::System, "DriverDatabase", "x", RegValue::Dword(0));
    let mut g = install_on(modern, &os("x86_64", 10, 0), dir.path());
    assert_eq!(
        g.contents(&format!("{GUEST_DIR}/viostor.sys")),
        Some(&b"amd64 sys"[..])
    );
    assert_eq!(
        g.contents("/Windows/System32/drivers/viostor.sys"),
        Some(&b"amd64 sys"[..])
    );
    assert!(g.contents(&format!("{GUEST_DIR}/netkvm.inf")).is_some());
    assert!(g.contents("/Windows/System32/drivers/netkvm.sys").is_none());
    let reg = g.registry().unwrap();
    let start = reg
        .value(
            Hive::System,
            "CurrentControlSet\\Services\\viostor",
            "Start",
        )
        .unwrap();
    assert_eq!(start, Some(RegValue::Dword(0)));
    let ids = reg
        .subkeys(Hive::System, "DriverDatabase\\DeviceIds\\PCI")
        .unwrap();
    assert!(
        ids.contains(&"VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00".to_owned()),
        "{ids:?}"
    );
    let path = reg
        .value(
            Hive::Software,
            "Microsoft\\Windows\\CurrentVersion",
            "DevicePath",
        )
        .unwrap();
    assert_eq!(
        path,
        Some(RegValue::ExpandSz(
            "%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO".into()
        ))
    );
    let auto_reboot = reg
        .value(
            Hive::System,
            "CurrentControlSet\\Control\\CrashControl",
            "AutoReboot",
        )
        .unwrap();
    assert_eq!(auto_reboot, Some(RegValue::Dword(0)));
    assert!(
        !reg.has_key(
            Hive::System,
            "ControlSet001\\Control\\CriticalDeviceDatabase"
        )
        .unwrap()
    );

    let mut g = install_on(MemRegistry::new(), &os("i386", 6, 1), dir.path());
    assert_eq!(
        g.contents(&format!("{GUEST_DIR}/viostor.sys")),
        Some(&b"x86 sys"[..])
    );
    let reg = g.registry().unwrap();
    let cdd = "ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1001&subsys_00021af4&rev_00";
    assert_eq!(
        reg.value(Hive::System, cdd, "Service").unwrap(),
        Some(RegValue::Sz("viostor".into()))
    );
    assert!(!reg.has_key(Hive::System, "DriverDatabase").unwrap());
}

#[test]
fn a_directory_without_virtio_drivers_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("other.inf"),
        VIOSTOR.replace("1AF4", "8086"),
    )
    .unwrap();
    let err = super::check_dir(dir.path()).unwrap_err();
    assert!(
        err.contains("no VirtIO driver found (looked at 1 INF files"),
        "{err}"
    );
    let request = crate::plan::SysprepRequest {
        install_virtio: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let err = request.validate().unwrap_err();
    assert!(err.0.starts_with("--install-virtio "), "{}", err.0);
    tree(dir.path());
    assert!(super::check_dir(dir.path()).is_ok());
    let opts = request.validate().unwrap();
    assert!(opts.selection.enable.contains(&"install-virtio".to_owned()));
    assert_eq!(opts.params.text("virtio"), dir.path().to_str().unwrap());
}

#[test]
fn installs_only_with_the_task_and_a_directory() {
    use crate::sysprep::windows::{MICROSOFT_SYSPREP, virtio::INSTALL_VIRTIO, virtio::installs};
    let with_dir = Params::from_assignments(&["virtio=/tmp".into()]).unwrap();
    let chosen = [&INSTALL_VIRTIO, &MICROSOFT_SYSPREP];
    assert!(installs(&chosen, &with_dir));
    assert!(!installs(&chosen, &Params::default()), "no directory");
    assert!(!installs(&[&MICROSOFT_SYSPREP], &with_dir), "task disabled");
}
