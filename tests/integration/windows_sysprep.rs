//! The Windows task table and VirtIO injection on the synthetic Windows
//! Server 2019 disk: one dry run (its listing), one real run with
//! `--install-virtio`, and the exported image read back with guestfish and
//! hivexget: every offline task's effect, the amd64 driver files, the
//! DriverDatabase registration and DevicePath.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const VIRTIO_ARGS: [&str; 1] = ["--install-virtio"];

/// One value of a hive file on the host, as hivexget prints it.
fn hivexget(hive: &Path, key: &str, name: &str) -> String {
    hivexget_opt(hive, key, name).unwrap_or_else(|| panic!("hivexget {key} {name}: no value"))
}

/// A key exported as .reg text by hivexregedit.
fn export_key(hive: &Path, key: &str) -> String {
    let out = Command::new("hivexregedit")
        .arg("--export")
        .arg(hive)
        .arg(key)
        .output()
        .expect("running hivexregedit");
    assert!(out.status.success(), "hivexregedit --export {key}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn windows_2019_offline_tasks_and_virtio() {
    let src = fixture_file("windows-2019-gpt.raw");
    let tree = fixture_file("virtio-win");
    let before = sha256_file(&src);
    let dir = scratch();
    let out = dir.path().join("win.diskdump");

    // 1. The dry run's listing.
    let dry = run(mkimage()
        .args(VIRTIO_ARGS)
        .arg(&tree)
        .args(["--dry-run", "--json", "--no-boot", "-o"])
        .arg(&out)
        .arg(&src));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(
            "the image is not generalized (--no-boot skips microsoft-sysprep, which runs inside the running guest)"
        ),
        "{}",
        dry.stderr
    );
    assert!(!out.exists(), "a dry run wrote the image");
    let json: Value = serde_json::from_str(&dry.stdout).expect("the dry run's JSON");
    let listed: Vec<String> = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["changes"].as_array().unwrap().iter())
        .map(|c| c["path"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        "TimeZoneInformation\\RealTimeIsUniversal = REG_DWORD 0x1",
        "/pagefile.sys",
        "/Windows/Drivers/VirtIO/viostor.sys",
        "HKLM\\SYSTEM\\DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001",
    ] {
        assert!(
            listed.iter().any(|p| p.contains(want)),
            "{want} not in {listed:#?}"
        );
    }

    // 2. The real run, timed (offline only: this Windows cannot boot).
    let start = std::time::Instant::now();
    let real = run(mkimage()
        .args(VIRTIO_ARGS)
        .arg(&tree)
        .args(["--no-boot", "-o"])
        .arg(&out)
        .arg(&src));
    eprintln!(
        "offline run on windows-2019-gpt.raw: {:.1?}",
        start.elapsed()
    );
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert_eq!(sha256_file(&src), before, "the source changed");
    assert!(
        real.stderr
            .contains("Found 4 VirtIO drivers for Windows amd64 10.0"),
        "{}",
        real.stderr
    );
    for online in ["microsoft-sysprep", "disable-ipv6-privacy-extensions"] {
        assert!(
            real.stderr
                .contains(&format!("Warning: {online}: runs inside")),
            "{}",
            real.stderr
        );
    }

    // Never unprepared by accident: the run, its metadata and its report
    // say the image is not generalized.
    assert!(
        real.stderr
            .contains("the image is not generalized (--no-boot skips microsoft-sysprep"),
        "{}",
        real.stderr
    );
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.meta", out.display())).unwrap())
            .unwrap();
    assert_eq!(meta["properties"]["GENERALIZED"], "no", "{meta}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.report.json", out.display())).unwrap(),
    )
    .unwrap();
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("not generalized: --no-boot skips microsoft-sysprep"),
        "{notes}"
    );

    // 3. The image read back.
    let hives = dir.path();
    let text = guestfish(
        &out,
        "--ro",
        &format!(
            "ls /\nls /Windows/Temp\nls /Windows/System32/winevt/Logs\nls /Windows/Minidump\n\
             ls /Windows/SoftwareDistribution/Download\nls /Windows/Drivers/VirtIO\n\
             cat /Windows/Drivers/VirtIO/viostor.sys\ncat /Windows/System32/drivers/viostor.sys\n\
             is-file /Windows/MEMORY.DMP\nis-file /Windows/System32/drivers/netkvm.sys\n\
             download /Windows/System32/config/SYSTEM {0}/SYSTEM\n\
             download /Windows/System32/config/SOFTWARE {0}/SOFTWARE\n",
            hives.display()
        ),
    );
    check_files(&text);
    check_registry(&hives.join("SYSTEM"), &hives.join("SOFTWARE"));
}

fn check_files(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for gone in [
        "pagefile.sys",
        "hiberfil.sys",
        "swapfile.sys",
        "junk.tmp",
        "System.evtx",
    ] {
        assert!(!lines.contains(&gone), "{gone} is still there:\n{text}");
    }
    for file in [
        "viostor.inf",
        "viostor.cat",
        "vioscsi.sys",
        "netkvm.inf",
        "balloon.sys",
    ] {
        assert!(
            lines.contains(&file),
            "{file} missing from Drivers\\VirtIO:\n{text}"
        );
    }
    assert!(
        !lines.contains(&"viorng.inf"),
        "a driver without its catalog was installed"
    );
    let amd64 = "MZ viostor 2k19 amd64";
    assert_eq!(lines.iter().filter(|l| **l == amd64).count(), 2, "{text}");
    assert!(
        !text.contains("MZ viostor w7"),
        "Windows 7 driver files were installed:\n{text}"
    );
    // is-file MEMORY.DMP, then netkvm.sys in System32\drivers: both absent.
    assert_eq!(lines.iter().filter(|l| **l == "false").count(), 2, "{text}");
}

fn check_registry(system: &Path, software: &Path) {
    let cs = "ControlSet001";
    let tz = format!("{cs}\\Control\\TimeZoneInformation");
    assert_eq!(hivexget(system, &tz, "RealTimeIsUniversal"), "1");
    let v6 = "Policies\\Microsoft\\Windows\\TCPIP\\v6Transition";
    assert_eq!(hivexget(software, v6, "Teredo_State"), "Disabled");
    assert_eq!(hivexget(software, v6, "ISATAP_State"), "Disabled");
    let rules = format!("{cs}\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules");
    let rule = hivexget(system, &rules, "snf-image-creator-ICMP4-ERQ-In");
    assert!(
        rule.contains("Action=Allow") && rule.contains("ICMP4=8:*"),
        "{rule}"
    );
    for driver in ["viostor", "vioscsi"] {
        let service = format!("{cs}\\Services\\{driver}");
        assert_eq!(hivexget(system, &service, "Start"), "0", "{driver}");
        assert_eq!(hivexget(system, &service, "Type"), "1", "{driver}");
        assert_eq!(
            hivexget(system, &service, "Group"),
            "SCSI miniport",
            "{driver}"
        );
    }
    let ids = export_key(system, "DriverDatabase\\DeviceIds\\PCI").replace('\r', "");
    let bound = "[\\DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00]\n\
                 \"viostor.inf\"=hex(3):01,ff,00,00";
    assert!(ids.contains(bound), "{ids}");
    let cdd = export_key(system, &format!("{cs}\\Control"));
    assert!(
        !cdd.contains("CriticalDeviceDatabase\\pci#ven_1af4"),
        "NT 10 uses the DriverDatabase"
    );
    let path = hivexget(software, "Microsoft\\Windows\\CurrentVersion", "DevicePath");
    assert!(path.ends_with(";%SystemRoot%\\Drivers\\VirtIO"), "{path}");
    let crash = format!("{cs}\\Control\\CrashControl");
    assert_eq!(hivexget(system, &crash, "AutoReboot"), "0");
}

/// Windows 7 x86 (NT 6.1, no DriverDatabase): `--install-virtio` alone
/// (`--no-sysprep`) copies the x86 drivers and binds the storage devices
/// through the CriticalDeviceDatabase; `--print-syspreps` lists the
/// Windows table.
#[test]
fn windows_7_x86_virtio_through_the_critical_device_database() {
    let src = fixture_file("windows-7-x86-mbr.raw");
    let tree = fixture_file("virtio-win");
    let dir = scratch();
    let out = dir.path().join("win7.diskdump");
    let real = run(mkimage()
        .args(VIRTIO_ARGS)
        .arg(&tree)
        .args(["--no-sysprep", "--print-syspreps", "-o"])
        .arg(&out)
        .arg(&src));
    assert_eq!(real.code, 0, "{}", real.stderr);
    for task in [
        "microsoft-sysprep:",
        "enable-pings:",
        "kms-client-setup:",
        "install-virtio:",
    ] {
        assert!(
            real.stdout.contains(task),
            "{task} not listed:\n{}",
            real.stdout
        );
    }
    assert!(
        real.stderr
            .contains("Found 4 VirtIO drivers for Windows x86 6.1"),
        "{}",
        real.stderr
    );
    let hives = dir.path();
    let text = guestfish(
        &out,
        "--ro",
        &format!(
            "cat /Windows/Drivers/VirtIO/viostor.sys\n\
             download /Windows/System32/config/SYSTEM {}/SYSTEM\n",
            hives.display()
        ),
    );
    assert!(text.contains("MZ viostor w7 x86"), "{text}");
    let system = hives.join("SYSTEM");
    let cdd = "ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1001&subsys_00021af4&rev_00";
    assert_eq!(hivexget(&system, cdd, "Service"), "viostor");
    assert_eq!(
        hivexget(&system, cdd, "ClassGUID"),
        "{4D36E97B-E325-11CE-BFC1-08002BE10318}"
    );
    assert_eq!(
        hivexget(&system, "ControlSet001\\Services\\viostor", "Start"),
        "0"
    );
    // --no-sysprep: no other task ran.
    let tz = "ControlSet001\\Control\\TimeZoneInformation";
    assert_ne!(
        hivexget_opt(&system, tz, "RealTimeIsUniversal").as_deref(),
        Some("1")
    );
}

/// Like [`hivexget`], `None` when the value is missing.
fn hivexget_opt(hive: &Path, key: &str, name: &str) -> Option<String> {
    let out = Command::new("hivexget")
        .arg(hive)
        .arg(key)
        .arg(name)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
