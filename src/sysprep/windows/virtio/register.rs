//! The registry side of driver injection, as virt-v2v does it: a boot-
//! critical driver gets its service key (Type=1 kernel driver, Start=0
//! boot, Group "SCSI miniport", ErrorControl=1) and its devices bound to
//! it, through `Control\CriticalDeviceDatabase` when SYSTEM has no
//! `DriverDatabase` key (NT 6.1 and older) or through `DriverDatabase`
//! (NT 6.2 and newer); `DevicePath` gains the drivers' folder.

use anyhow::Result;

use super::super::super::{Change, Ctx, RegSet};
use super::super::registry;
use super::{BOOT_CRITICAL, Driver};
use crate::guest::registry::{Hive, RegValue};

/// The storage controllers' device class (SCSIAdapter).
const SCSI_CLASS: &str = "{4D36E97B-E325-11CE-BFC1-08002BE10318}";
const CURRENT_VERSION: &str = "Microsoft\\Windows\\CurrentVersion";
/// `DevicePath`'s entry for the drivers' folder.
pub const DEVICE_PATH_ENTRY: &str = "%SystemRoot%\\Drivers\\VirtIO";

fn dword(n: u32) -> RegValue {
    RegValue::Dword(n)
}

fn sz(s: &str) -> RegValue {
    RegValue::Sz(s.to_owned())
}

/// The registry changes of one driver (none unless boot-critical).
pub fn changes(cx: &mut Ctx<'_>, d: &Driver) -> Result<Vec<Change>> {
    let name = d.inf.driver.as_str();
    if !BOOT_CRITICAL.contains(&name) {
        return Ok(Vec::new());
    }
    let service = format!("CurrentControlSet\\Services\\{name}");
    let image = RegValue::ExpandSz(format!("system32\\drivers\\{name}.sys"));
    let values = [
        ("Type", dword(1)),
        ("Start", dword(0)),
        ("Group", sz("SCSI miniport")),
        ("ErrorControl", dword(1)),
        ("ImagePath", image),
    ];
    let mut out: Vec<Change> = values
        .into_iter()
        .map(|(n, v)| RegSet::change(Hive::System, &service, n, v))
        .collect();
    let modern = registry(cx.guest)?.has_key(Hive::System, "DriverDatabase")?;
    out.extend(match modern {
        true => driver_database(d),
        false => critical_device_database(d),
    });
    Ok(out)
}

/// `CurrentControlSet\Control\CriticalDeviceDatabase\pci#ven_1af4&dev_…`
/// for every hardware id of the driver.
fn critical_device_database(d: &Driver) -> Vec<Change> {
    let mut out = Vec::new();
    for id in d.inf.models.iter().flat_map(|m| m.hardware_ids.iter()) {
        let key = format!(
            "CurrentControlSet\\Control\\CriticalDeviceDatabase\\{}",
            id.to_ascii_lowercase().replace('\\', "#")
        );
        out.push(RegSet::change(
            Hive::System,
            &key,
            "Service",
            sz(&d.inf.driver),
        ));
        out.push(RegSet::change(
            Hive::System,
            &key,
            "ClassGUID",
            sz(SCSI_CLASS),
        ));
    }
    out
}

/// `DriverDatabase\DriverInfFiles`, `DeviceIds` and `DriverPackages`
/// entries binding the driver's hardware ids to its package.
fn driver_database(d: &Driver) -> Vec<Change> {
    let inf = d.inf_name().to_ascii_lowercase();
    let arch = d
        .inf
        .targets
        .iter()
        .find(|t| t.version == d.fit)
        .map_or("amd64", |t| t.arch.as_str());
    let package = format!("{inf}_{arch}_virtio");
    let sys =
        |key: String, name: &str, value: RegValue| RegSet::change(Hive::System, &key, name, value);
    let db = "DriverDatabase";
    let mut out = vec![
        sys(
            format!("{db}\\DriverInfFiles\\{inf}"),
            "",
            RegValue::MultiSz(vec![package.clone()]),
        ),
        sys(
            format!("{db}\\DriverInfFiles\\{inf}"),
            "Active",
            sz(&package),
        ),
        sys(format!("{db}\\DriverPackages\\{package}"), "", sz(&inf)),
        sys(
            format!("{db}\\DriverPackages\\{package}"),
            "Version",
            sz(&d.inf.driver_ver),
        ),
    ];
    let mut sections: Vec<&str> = d.inf.models.iter().map(|m| m.section.as_str()).collect();
    sections.sort_unstable();
    sections.dedup();
    for section in sections {
        let config = format!("{db}\\DriverPackages\\{package}\\Configurations\\{section}");
        out.push(sys(config.clone(), "Service", sz(&d.inf.driver)));
        out.push(sys(config, "ConfigFlags", dword(0)));
    }
    for m in &d.inf.models {
        for id in &m.hardware_ids {
            let id = id.to_ascii_uppercase();
            out.push(sys(
                format!("{db}\\DeviceIds\\{id}"),
                &inf,
                RegValue::Binary(vec![1, 0xff, 0, 0]),
            ));
            let desc = format!("{db}\\DriverPackages\\{package}\\Descriptors\\{id}");
            out.push(sys(desc, "Configuration", sz(&m.section)));
        }
    }
    out
}

/// `DevicePath` with the drivers' folder appended, unless it is there.
pub fn device_path(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let reg = registry(cx.guest)?;
    let old = reg.value(Hive::Software, CURRENT_VERSION, "DevicePath")?;
    let old = old
        .as_ref()
        .and_then(RegValue::as_str)
        .unwrap_or("%SystemRoot%\\inf");
    if old
        .split(';')
        .any(|p| p.eq_ignore_ascii_case(DEVICE_PATH_ENTRY))
    {
        return Ok(Vec::new());
    }
    let new = RegValue::ExpandSz(format!("{old};{DEVICE_PATH_ENTRY}"));
    Ok(vec![RegSet::change(
        Hive::Software,
        CURRENT_VERSION,
        "DevicePath",
        new,
    )])
}

/// `CrashControl\AutoReboot=0`: a guest that cannot start its disk with
/// the new drivers stops on its stop screen, which the console shows,
/// instead of rebooting in a loop (as virt-v2v sets it).
pub fn no_auto_reboot() -> Change {
    RegSet::change(
        Hive::System,
        "CurrentControlSet\\Control\\CrashControl",
        "AutoReboot",
        dword(0),
    )
}
