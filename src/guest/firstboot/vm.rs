//! The guest VM of the online phase and of `boot-test`:
//! `qemu-system-x86_64` booting a disk (virtio, or IDE), with user-mode
//! networking that forwards no host port (or none), no display, and its
//! first serial port written to a file. A
//! [`BootVm`] owns the process: dropping it kills and reaps qemu.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::FirstbootError;
use crate::guest::appliance::Accel;
use crate::media::format::ImageFormat;
use crate::process::Cancel;

/// How often a console is read.
const POLL: Duration = Duration::from_millis(100);

/// The emulator: an x86 guest (32 or 64 bits) on any host qemu runs on.
pub const QEMU: &str = "qemu-system-x86_64";

/// What the VM boots and how big it is.
#[derive(Debug, Clone)]
pub struct VmConfig<'a> {
    /// The disk, attached read-write: what the guest changes stays.
    pub disk: &'a Path,
    pub format: &'a ImageFormat,
    /// RAM in MiB.
    pub mem_mib: u64,
    pub smp: u64,
    pub accel: Accel,
    /// Where the first serial port (COM1, ttyS0) is written.
    pub serial: &'a Path,
    /// Where qemu's own messages go.
    pub stderr: &'a Path,
    /// How the disk is attached.
    pub bus: DiskBus,
    /// Throw the guest's writes away (qemu `snapshot=on`): the disk is
    /// only read.
    pub snapshot: bool,
    /// Give the guest user-mode networking (outgoing connections only).
    pub network: bool,
}

/// The controller the disk hangs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiskBus {
    /// virtio-blk, as clouds attach disks.
    #[default]
    Virtio,
    /// An IDE disk (`/dev/sda` in a Linux guest), for images that name
    /// their disk that way.
    Ide,
}

impl DiskBus {
    fn as_qemu(self) -> &'static str {
        match self {
            DiskBus::Virtio => "virtio",
            DiskBus::Ide => "ide",
        }
    }
}

/// The qemu command line for `cfg`.
pub fn command(program: &Path, cfg: &VmConfig) -> Command {
    let mut cmd = Command::new(program);
    match cfg.accel {
        Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => cmd.args(["-accel", "tcg", "-cpu", "max"]),
    };
    cmd.args(["-name", "snf-image-creator-firstboot"])
        .args(["-m", &cfg.mem_mib.to_string()])
        .args(["-smp", &cfg.smp.to_string()])
        // A reboot ends qemu: the runner powers off when it is done, so a
        // reboot before that is a failure, not a second run.
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        // Outgoing connections only: no hostfwd, nothing listens here.
        .args([
            "-nic",
            if cfg.network {
                "user,model=e1000"
            } else {
                "none"
            },
        ])
        .arg("-drive")
        .arg(format!(
            "file={},format={},if={},cache=unsafe{}",
            escape_option(cfg.disk),
            cfg.format.as_str(),
            cfg.bus.as_qemu(),
            if cfg.snapshot { ",snapshot=on" } else { "" }
        ))
        .arg("-serial")
        .arg(format!("file:{}", cfg.serial.display()));
    // qemu keeps `snapshot=on`'s writes in a temporary file of $TMPDIR,
    // which stays behind when qemu is killed: keep it in the VM's own
    // directory (where its stderr goes), removed with that directory.
    if let Some(dir) = cfg.stderr.parent().filter(|_| cfg.snapshot) {
        cmd.env("TMPDIR", dir);
    }
    cmd
}

/// A path as a value inside a qemu `-drive` option (commas doubled).
fn escape_option(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// A running guest VM, killed and reaped when dropped.
pub struct BootVm {
    child: Child,
    stderr: PathBuf,
}

impl BootVm {
    /// Start qemu as `program` with `cfg`.
    pub fn start(program: &Path, cfg: &VmConfig) -> Result<BootVm, FirstbootError> {
        let no_qemu = |why: String| FirstbootError::NoQemu {
            program: program.display().to_string(),
            why,
        };
        let stderr = File::create(cfg.stderr).map_err(|e| no_qemu(e.to_string()))?;
        let child = command(program, cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| no_qemu(e.to_string()))?;
        Ok(BootVm {
            child,
            stderr: cfg.stderr.to_owned(),
        })
    }

    /// qemu's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How qemu ended, once it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last line qemu wrote on its standard error, if any.
    pub fn last_complaint(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.stderr).ok()?;
        let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
        Some(line.trim().to_owned())
    }

    /// Read the console log `serial` as it grows until `poll` returns a
    /// result or the run is cancelled. `poll` gets each new piece of the
    /// console and, once qemu has ended, how it ended; it must then decide.
    /// The status is taken before reading, so that what the guest wrote
    /// before it stopped is seen with it.
    pub fn follow<T>(
        &mut self,
        serial: &Path,
        cancel: &Cancel,
        mut poll: impl FnMut(&[u8], Option<ExitStatus>, &BootVm) -> Result<Option<T>>,
    ) -> Result<T> {
        let mut console =
            File::open(serial).with_context(|| format!("opening {}", serial.display()))?;
        let mut bytes = Vec::new();
        loop {
            cancel.check()?;
            let exited = self.exited();
            bytes.clear();
            console
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading the guest console {}", serial.display()))?;
            if let Some(done) = poll(&bytes, exited, self)? {
                return Ok(done);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// A directory of its own in `tmp`, named `prefix…` (removed when
/// dropped), and the console log: `keep` when given (it outlives the
/// run), else a file in that directory. The log is created empty.
pub fn console_file(
    tmp: &Path,
    prefix: &str,
    keep: Option<&Path>,
) -> Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(tmp)
        .with_context(|| format!("creating a directory in {}", tmp.display()))?;
    let serial = keep.map_or_else(|| dir.path().join("serial.log"), Path::to_owned);
    File::create(&serial).with_context(|| format!("creating {}", serial.display()))?;
    Ok((dir, serial))
}

impl Drop for BootVm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_boots_virtio_without_host_ports() {
        let format = ImageFormat::Qcow2;
        let cfg = VmConfig {
            disk: Path::new("/w/a,b.qcow2"),
            format: &format,
            mem_mib: 2048,
            smp: 2,
            accel: Accel::Tcg,
            serial: Path::new("/w/t/serial.log"),
            stderr: Path::new("/w/t/qemu.err"),
            bus: DiskBus::Virtio,
            snapshot: false,
            network: true,
        };
        let line = crate::process::command_line(&command(Path::new(QEMU), &cfg));
        for part in [
            "-accel tcg -cpu max",
            "-m 2048 -smp 2",
            "-display none",
            "-no-reboot",
            "file=/w/a,,b.qcow2,format=qcow2,if=virtio",
            "-serial 'file:/w/t/serial.log'",
            "-nic user,model=e1000",
        ] {
            assert!(line.contains(part), "{part:?} in {line}");
        }
        assert!(!line.contains("hostfwd"), "{line}");
        assert!(!line.contains("snapshot"), "{line}");
    }

    #[test]
    fn a_boot_test_reads_an_ide_disk_without_network() {
        let format = ImageFormat::Raw;
        let cfg = VmConfig {
            disk: Path::new("/w/img"),
            format: &format,
            mem_mib: 1024,
            smp: 1,
            accel: Accel::Kvm,
            serial: Path::new("/w/s"),
            stderr: Path::new("/w/e"),
            bus: DiskBus::Ide,
            snapshot: true,
            network: false,
        };
        let cmd = command(Path::new(QEMU), &cfg);
        let line = crate::process::command_line(&cmd);
        for part in [
            "file=/w/img,format=raw,if=ide,cache=unsafe,snapshot=on",
            "-nic none",
        ] {
            assert!(line.contains(part), "{part:?} in {line}");
        }
        let tmpdir = cmd.get_envs().find(|(k, _)| *k == "TMPDIR");
        assert_eq!(tmpdir, Some(("TMPDIR".as_ref(), Some("/w".as_ref()))));
    }

    /// Dropping the guard ends the process at once.
    #[test]
    fn dropping_the_guard_kills_the_vm() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("qemu-system-test");
        crate::guest::firstboot::tests::write_exec(&fake, "#!/bin/sh\nexec sleep 60\n");
        let format = ImageFormat::Raw;
        let cfg = VmConfig {
            disk: Path::new("/nonexistent"),
            format: &format,
            mem_mib: 1,
            smp: 1,
            accel: Accel::Tcg,
            serial: &dir.path().join("serial"),
            stderr: &dir.path().join("err"),
            bus: DiskBus::Ide,
            snapshot: true,
            network: false,
        };
        let mut vm = BootVm::start(&fake, &cfg).unwrap();
        assert!(vm.exited().is_none());
        let proc = PathBuf::from(format!("/proc/{}", vm.pid()));
        assert!(proc.exists());
        drop(vm);
        assert!(!proc.exists(), "the VM process is still there");
    }
}
