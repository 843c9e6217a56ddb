//! `doctor`: check that this machine can run the pipeline, and say what to
//! fix when it cannot (a short `libguestfs-test-tool`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use guestfs::Handle;

use crate::guest::appliance::{describe, probe_kvm};
use crate::media::workdir::{default_parent, free_space};
use crate::process::{CommandExt, on_path};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// What was found (`qemu-img version 10.0.2`, `started in 14.1 s`…).
    pub found: String,
    /// What to do about it, when something is wrong.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &str, found: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            found: found.into(),
            fix: None,
        }
    }

    fn problem(name: &str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The free space below which the work directory is reported as too small.
const MIN_FREE: u64 = 2 << 30;
const SETUP_HINT: &str =
    "run scripts/setup.sh (Debian: apt-get install qemu-utils libguestfs-tools)";

/// Run every check. The appliance check launches a helper VM (seconds to
/// tens of seconds).
pub fn run(tmpdir: Option<&Path>) -> Vec<Check> {
    let mut checks = vec![tool_version("qemu-img"), tool_version("qemu-nbd")];
    checks.push(kvm());
    checks.push(appliance());
    checks.push(ufs_appliance());
    checks.push(work_space(tmpdir));
    checks
}

fn tool_version(tool: &str) -> Check {
    if !on_path(tool) {
        return Check::problem(tool, "not found on PATH", SETUP_HINT);
    }
    match Command::new(tool).arg("--version").run_capture() {
        Ok(out) => Check::ok(tool, out.lines().next().unwrap_or("").trim().to_owned()),
        Err(e) => Check::problem(tool, format!("{e:#}"), SETUP_HINT),
    }
}

fn kvm() -> Check {
    let qemu = Handle::create().and_then(|g| g.get_hv());
    match qemu {
        Err(e) => Check::problem("KVM", describe(&e), SETUP_HINT),
        Ok(qemu) => match probe_kvm(&qemu) {
            Ok(()) => Check::ok("KVM", "usable: the helper VM runs at native speed"),
            Err(why) => Check::ok(
                "KVM",
                format!("not usable ({why}): the helper VM runs under TCG, several times slower"),
            ),
        },
    }
}

fn appliance() -> Check {
    let fix = "run `libguestfs-test-tool` for the full story; on Debian, `apt-get install --reinstall linux-image-amd64` and remove /var/tmp/.guestfs-$(id -u) if the appliance is stale";
    let result = (|| {
        let g = Handle::create()?;
        if std::env::var_os("LIBGUESTFS_BACKEND").is_none() {
            g.set_backend("direct")?;
        }
        if probe_kvm(&g.get_hv()?).is_err() {
            g.set_backend_setting("force_tcg", "1")?;
        }
        g.add_drive_scratch(16 << 20, Default::default())?;
        let start = Instant::now();
        g.launch()?;
        let took = start.elapsed();
        let version = g.version()?;
        g.shutdown()?;
        Ok::<_, guestfs::Error>((took, version))
    })();
    match result {
        Ok((took, v)) => Check::ok(
            "helper VM",
            format!(
                "libguestfs {}.{}.{} started in {:.1} s",
                v.major,
                v.minor,
                v.release,
                took.as_secs_f64()
            ),
        ),
        Err(e) => Check::problem("helper VM", describe(&e), fix),
    }
}

/// Whether BSD guests can be prepared: the helper VM whose kernel writes
/// UFS (`scripts/ufs-appliance.sh`).
fn ufs_appliance() -> Check {
    use crate::guest::ufs::{ApplianceState, appliance_dir, appliance_state};
    let name = "UFS writing";
    let fix = "run scripts/setup.sh as root (it runs scripts/ufs-appliance.sh); until then \
               BSD guests are refused unless exported with --no-sysprep";
    match appliance_state(&appliance_dir(), Path::new("/boot")) {
        ApplianceState::Current(dir) => Check::ok(
            name,
            format!("the helper VM in {} writes UFS (BSD guests)", dir.display()),
        ),
        ApplianceState::Missing(dir) => Check::problem(
            name,
            format!("no UFS-writing helper VM in {}", dir.display()),
            fix,
        ),
        ApplianceState::Stale { built_for, newest } => Check::problem(
            name,
            format!("the UFS-writing helper VM was built for kernel {built_for}, not {newest}"),
            fix,
        ),
    }
}

fn work_space(tmpdir: Option<&Path>) -> Check {
    let dir = match tmpdir.map(Path::to_owned).or_else(default_parent) {
        Some(d) => d,
        None => {
            return Check::problem(
                "work space",
                "none of /var/tmp, $HOME, /mnt is writable",
                "give a writable directory with --tmpdir",
            );
        }
    };
    match free_space(&dir) {
        Ok(free) if free >= MIN_FREE => Check::ok(
            "work space",
            format!("{}: {} MiB free", dir.display(), free >> 20),
        ),
        Ok(free) => Check::problem(
            "work space",
            format!("{}: only {} MiB free", dir.display(), free >> 20),
            "free some space or point --tmpdir at a larger filesystem (the overlay can grow to the disk's size)",
        ),
        Err(e) => Check::problem(
            "work space",
            format!("{e:#}"),
            "give a writable directory with --tmpdir",
        ),
    }
}
