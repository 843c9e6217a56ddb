//! Entry points for the coverage-guided fuzz targets in `fuzz/` (and for
//! the unit test that runs every committed seed through them). Each takes
//! arbitrary bytes and drives one parser of guest or user data the way the
//! product does; a panic (or an overflow in a debug build) is a bug.
//!
//! Guest files are planted in an in-memory Debian-like guest, which then
//! goes through metadata collection and every default system preparation
//! task: the real code paths, not the parsers alone.

use std::io::Cursor;

use crate::cloud::config::clouds_yaml;
use crate::cloud::config::kamakirc::KamakiConfig;
use crate::guest::memfs::MemGuest;
use crate::guest::metadata;
use crate::guest::profile::profile_for;
use crate::guest::{DiskInfo, Distro, OsFamily, OsInfo};
use crate::media::partition::PartitionTable;
use crate::media::qemu_img;
use crate::progress::NullReporter;
use crate::sysprep::{self, Options, runner};

/// A fuzz target: its name and what it runs on one input.
pub type Target = (&'static str, fn(&[u8]));

/// The fuzz targets. `fuzz/fuzz_targets/NAME.rs` calls `run(NAME, data)`.
pub const TARGETS: &[Target] = &[
    ("os_release", |d| guest_files(&["/etc/os-release"], d)),
    ("accounts", |d| {
        guest_files(&["/etc/passwd", "/etc/shadow", "/etc/group"], d)
    }),
    ("fstab", |d| guest_files(&["/etc/fstab"], d)),
    ("sshd_config", |d| guest_files(&["/etc/ssh/sshd_config"], d)),
    ("cloud_cfg", |d| guest_files(&["/etc/cloud/cloud.cfg"], d)),
    ("grub", |d| {
        guest_files(
            &[
                "/etc/default/grub",
                "/boot/grub/grub.cfg",
                "/boot/grub/menu.lst",
                "/boot/extlinux/extlinux.conf",
            ],
            d,
        )
    }),
    ("kamakirc", kamakirc),
    ("clouds_yaml", clouds_yaml),
    ("qemu_img_info", qemu_img_info),
    ("pithos_hashmap", pithos_hashmap),
    ("serve_request", serve_request),
    ("partition_table", partition_table),
];

/// Run target `name` on `data`.
///
/// # Panics
/// When there is no such target (a typo in a fuzz target's source).
pub fn run(name: &str, data: &[u8]) {
    let (_, f) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"));
    f(data);
}

fn debian() -> OsInfo {
    OsInfo {
        root: "/dev/sda1".into(),
        family: OsFamily::Linux,
        distro: Distro::Debian,
        product_name: "12.5".into(),
        major: 12,
        minor: 5,
        arch: "x86_64".into(),
        mountpoints: vec![("/".into(), "/dev/sda1".into())],
    }
}

/// A small Debian-like tree: sshd and cloud-init start on boot, so that
/// their configurations are read.
fn skeleton() -> MemGuest {
    const WANTS: &str = "/etc/systemd/system/multi-user.target.wants";
    MemGuest::new()
        .symlink("/lib", "usr/lib")
        .file(
            "/usr/lib/systemd/system/ssh.service",
            "[Service]\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\n",
        )
        .symlink(
            &format!("{WANTS}/ssh.service"),
            "/lib/systemd/system/ssh.service",
        )
        .file(
            "/usr/lib/systemd/system-generators/cloud-init-generator",
            "",
        )
        .file("/etc/hostname", "debian\n")
        .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
        .file("/etc/shadow", "root:$6$x:19000:0:99999:7:::\n")
        .file("/etc/group", "root:x:0:\n")
        .file("/boot/config-6.1.0-18-amd64", "")
        .fs_uuid_of("/dev/sda1", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
}

/// Plant `data` at each of `paths`, then collect the metadata and run the
/// default system preparation tasks on the guest.
fn guest_files(paths: &[&str], data: &[u8]) {
    let mut guest = paths.iter().fold(skeleton(), |g, p| g.file(p, data));
    let os = debian();
    let disk = DiskInfo {
        partition_table: Some("msdos".into()),
        boot_sector: vec![0; 512],
        root_partition: Some(1),
        size: 1 << 30,
        ..DiskInfo::default()
    };
    let profile = profile_for(&os);
    let reporter = NullReporter;
    let Ok(mut meta) = metadata::collect(&os, &disk, &profile, &mut guest, &reporter) else {
        return;
    };
    let opts = Options {
        run: true,
        ..Options::default()
    };
    let tasks = sysprep::tasks_for(&profile);
    let enabled = runner::enabled(&tasks, &opts);
    let _ = runner::run_files(&enabled, &opts, &mut guest, &os, &mut meta, &reporter);
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `~/.kamakirc`: parse, query every cloud, and check that what is rendered
/// parses back to the same clouds.
fn kamakirc(data: &[u8]) {
    let Some(cfg) = text(data).and_then(|t| KamakiConfig::parse(t).ok()) else {
        return;
    };
    let names = cfg.cloud_names();
    for name in &names {
        let _ = cfg.cloud(name);
        let _ = cfg.cloud_summary(name);
    }
    let _ = cfg.default_cloud();
    let again = KamakiConfig::parse(&cfg.render()).expect("a rendered kamakirc parses");
    assert_eq!(again.cloud_names(), names, "rendering changed the clouds");
}

/// `clouds.yaml`: a few cloud names, present or not.
fn clouds_yaml(data: &[u8]) {
    if let Some(t) = text(data) {
        for name in ["openstack", "a", ""] {
            let _ = clouds_yaml::parse(t, name);
        }
    }
}

/// `qemu-img info --output=json`.
fn qemu_img_info(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = qemu_img::parse_info(t);
    }
}

/// The JSON body of a Pithos `PUT ?hashmap` to `serve`.
fn pithos_hashmap(data: &[u8]) {
    let _ = crate::cloud::local::serve::parse_hashmap(data);
}

/// A `serve` request target (`/path?query`) on the first line, a `Range`
/// header on the second.
fn serve_request(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let (target, range) = t.split_once('\n').unwrap_or((t, ""));
    let _ = crate::cloud::local::serve::parse_target(target);
    for size in [0, 1, 4096, u64::MAX] {
        if let Some((start, end)) = crate::cloud::local::serve::parse_range(range, size) {
            assert!(start < end && end <= size, "range {start}..{end} of {size}");
        }
    }
}

/// A disk that starts with `data`: read its partition table, fit the last
/// partition and the disk to the data, write the table back and read it
/// again: the partitions must come back as written.
fn partition_table(data: &[u8]) {
    let mut disk = Cursor::new(data.to_vec());
    let Ok(mut table) = PartitionTable::read(&mut disk) else {
        return;
    };
    let len = data.len() as u64;
    let _ = table.partitions();
    let fitted = table.fitted_len(len);
    if let Some(last) = table.last() {
        let ss = table.sector_size();
        let end = (last.start / ss + 1) * ss;
        let _ = table.resize(last.number, end);
    }
    if table.write(&mut disk, fitted.max(len)).is_err() {
        return;
    }
    let written = table.partitions();
    if let Ok(again) = PartitionTable::read(&mut disk) {
        assert_eq!(again.partitions(), written, "the table did not read back");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every committed seed (`fuzz/seeds/TARGET/*`) goes through its target:
    /// what CI runs without cargo-fuzz.
    #[test]
    fn every_seed_runs_through_its_target() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let mut ran = 0;
        for (name, f) in super::TARGETS {
            let dir = seeds.join(name);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .collect::<Vec<_>>();
            assert!(!entries.is_empty(), "no seeds for {name}");
            for path in entries {
                let data = std::fs::read(&path).unwrap();
                f(&data);
                ran += 1;
            }
        }
        assert!(ran >= super::TARGETS.len());
    }
}
