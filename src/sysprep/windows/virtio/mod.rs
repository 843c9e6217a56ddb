//! VirtIO driver injection, offline (`--install-virtio DIR`, the `virtio`
//! parameter): the drivers of DIR that fit the guest's architecture and NT
//! version ([`inf`]) are copied to `%SystemRoot%\Drivers\VirtIO`, the
//! storage drivers also to `System32\drivers` and registered as
//! boot-critical ([`register`]), and `DevicePath` is extended so that
//! Plug and Play installs the others when their devices first appear.

pub mod inf;
mod register;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::super::{Action, Change, Ctx, Params, Task};
use super::find_ci;
use crate::guest::OsInfo;
use crate::process::UsageError;

/// Where the drivers go in the guest.
pub const GUEST_DIR: &str = "/Windows/Drivers/VirtIO";
/// The drivers that must load at boot to reach the disk.
pub const BOOT_CRITICAL: &[&str] = &["viostor", "vioscsi"];
/// The most read of one INF file or driver file.
const FILE_LIMIT: u64 = 64 << 20;

pub const INSTALL_VIRTIO: Task = Task {
    name: "install-virtio",
    message: "Installing VirtIO drivers",
    description: "When a VirtIO driver directory is given (--install-virtio DIR, the \
                  `virtio` parameter), copy the drivers that fit the guest's architecture \
                  and Windows version to %SystemRoot%\\Drivers\\VirtIO; register viostor \
                  and vioscsi as boot-critical (System32\\drivers, Services\\<driver> with \
                  Start=0, and CriticalDeviceDatabase before Windows 8 or DriverDatabase \
                  since); add the folder to DevicePath so that the other drivers install \
                  when their devices appear; set CrashControl\\AutoReboot=0 so that a driver that \
                  fails to start the disk stops on its error screen instead of rebooting \
                  in a loop. Drivers present at the same version are kept. A boot for the \
                  online tasks then waits up to virtio_timeout while Plug and Play installs \
                  the staged drivers.",
    default: true,
    params: &["virtio", "virtio_timeout"],
    action: Action::Files {
        plan: install,
        after: None,
    },
};

/// Whether the run installs VirtIO drivers: `install-virtio` is among the
/// `chosen` tasks and a driver directory is given. The boot of the online
/// phase then installs the staged drivers, and may take `virtio_timeout`
/// ([`Params::boot`]).
pub fn installs(chosen: &[&Task], params: &Params) -> bool {
    chosen.iter().any(|t| t.name == INSTALL_VIRTIO.name) && !params.text("virtio").is_empty()
}

/// A driver chosen for the guest: its INF and the folder holding it.
#[derive(Debug, Clone)]
pub struct Driver {
    pub inf_path: PathBuf,
    pub inf: inf::Inf,
    /// The decoration version it was picked for.
    pub fit: (u32, u32),
}

impl Driver {
    pub fn inf_name(&self) -> String {
        file_name(&self.inf_path)
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The guest's architecture as driver folders name it, and its NT version.
pub fn guest_target(os: &OsInfo) -> (&'static str, (u32, u32)) {
    let arch = match os.arch.as_str() {
        "i386" | "i486" | "i586" | "i686" | "x86" => "x86",
        _ => "amd64",
    };
    let v = |n: i32| u32::try_from(n).unwrap_or(0);
    (arch, (v(os.major), v(os.minor)))
}

/// Every INF file below `dir` (sorted, two levels of folders per driver
/// and OS at most four deep).
fn inf_files(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() && depth < 4 {
            inf_files(&p, depth + 1, out)?;
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("inf")) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_host(path: &Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= FILE_LIMIT,
        "{} is bigger than {FILE_LIMIT} bytes",
        path.display()
    );
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The best driver of each name in `dir` for the guest: a VirtIO INF with
/// a decoration for `arch` up to `version` whose catalog file is present.
/// None is a usage error naming what was looked for.
pub fn choose(dir: &Path, arch: &str, version: (u32, u32)) -> Result<Vec<Driver>> {
    let mut infs = Vec::new();
    inf_files(dir, 0, &mut infs)?;
    let mut chosen: Vec<Driver> = Vec::new();
    for path in infs {
        let text = String::from_utf8_lossy(&read_host(&path)?).into_owned();
        let Some(parsed) = inf::parse(&text) else {
            continue;
        };
        let folder = path.parent().unwrap_or(dir);
        let has_catalog = parsed
            .catalog
            .as_ref()
            .is_some_and(|c| folder.join(c).is_file());
        let Some(fit) = parsed.fits(arch, version).filter(|_| has_catalog) else {
            continue;
        };
        let driver = Driver {
            inf_path: path.clone(),
            inf: parsed,
            fit,
        };
        match chosen
            .iter_mut()
            .find(|d| d.inf.driver == driver.inf.driver)
        {
            Some(old) if old.fit < fit => *old = driver,
            Some(_) => {}
            None => chosen.push(driver),
        }
    }
    if chosen.is_empty() {
        let (major, minor) = version;
        return Err(UsageError(format!(
            "--install-virtio {}: no VirtIO driver for this guest (looked for INF files with \
             PCI\\VEN_1AF4 hardware ids, a TargetOSVersion NT{arch} up to {major}.{minor} and \
             their CatalogFile next to them)",
            dir.display()
        ))
        .into());
    }
    Ok(chosen)
}

/// Whether `dir` holds at least one VirtIO driver (an INF file with a
/// VirtIO hardware id), for any guest: the check made before a run.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    let mut infs = Vec::new();
    inf_files(dir, 0, &mut infs).map_err(|e| format!("{e:#}"))?;
    for path in &infs {
        let text = read_host(path).map_err(|e| format!("{e:#}"))?;
        if inf::parse(&String::from_utf8_lossy(&text)).is_some() {
            return Ok(());
        }
    }
    Err(format!(
        "no VirtIO driver found (looked at {} INF files for PCI\\VEN_1AF4 hardware ids)",
        infs.len()
    ))
}

fn install(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let dir = cx.params.text("virtio");
    if dir.is_empty() {
        return Ok(Vec::new());
    }
    let (arch, version) = guest_target(cx.os);
    let drivers = choose(Path::new(dir), arch, version)?;
    cx.reporter.info(&format!(
        "Found {} VirtIO drivers for Windows {arch} {}.{}",
        drivers.len(),
        version.0,
        version.1
    ));
    let windows = find_ci(cx.guest, "/Windows")?.context("the guest has no Windows folder")?;
    let drivers_dir = find_ci(cx.guest, &format!("{windows}/System32/drivers"))?
        .unwrap_or_else(|| format!("{windows}/System32/drivers"));
    let mut changes = Vec::new();
    for d in &drivers {
        if same_version_installed(cx, d)? {
            cx.reporter.warn(&format!(
                "{}: the same version ({}) is already installed; kept",
                d.inf.driver, d.inf.driver_ver
            ));
            continue;
        }
        changes.extend(copy_files(d, &windows, &drivers_dir)?);
        changes.extend(register::changes(cx, d)?);
    }
    changes.extend(register::device_path(cx)?);
    changes.push(register::no_auto_reboot());
    Ok(changes)
}

/// Whether the guest's copy of the driver's INF has the same DriverVer.
fn same_version_installed(cx: &mut Ctx<'_>, d: &Driver) -> Result<bool> {
    let guest_inf = format!("{GUEST_DIR}/{}", d.inf_name());
    let Some(path) = find_ci(cx.guest, &guest_inf)? else {
        return Ok(false);
    };
    let text = cx.guest.read_to_string(&path, FILE_LIMIT)?;
    Ok(inf::parse(&text).is_some_and(|old| old.driver_ver == d.inf.driver_ver))
}

/// The driver's folder into `Drivers\VirtIO`; a boot-critical driver's
/// `.sys` also into `System32\drivers`.
fn copy_files(d: &Driver, windows: &str, drivers_dir: &str) -> Result<Vec<Change>> {
    let folder = d.inf_path.parent().context("an INF file has no folder")?;
    let mut changes = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let guest_dir = GUEST_DIR.replacen("/Windows", windows, 1);
    for p in entries {
        let data = read_host(&p)?;
        let name = file_name(&p);
        let sys = format!("{}.sys", d.inf.driver);
        if BOOT_CRITICAL.contains(&d.inf.driver.as_str()) && name.eq_ignore_ascii_case(&sys) {
            changes.push(Change::Write(format!("{drivers_dir}/{sys}"), data.clone()));
        }
        changes.push(Change::Write(format!("{guest_dir}/{name}"), data));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests;
