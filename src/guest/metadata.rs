//! Image metadata ("properties"): what the image says about itself to the
//! cloud (Synnefo's image list, snf-image at deployment).
//!
//! [`collect`] derives the keys of the original's `collect_metadata` from
//! inspection results and the mounted guest:
//!
//! | key | from |
//! |---|---|
//! | `PARTITION_TABLE` | the disk's partition table type (`msdos`, `gpt`) |
//! | `BOOTSTRAP` | the boot loader in the MBR ([`super::bootloader`]) |
//! | `ROOT_PARTITION` | the partition number of the root filesystem (on LVM: of the partition holding the root LV's physical volume) |
//! | `ROOT_LV` | the root filesystem's logical volume (`vg0/root`), when it is on LVM |
//! | `OSFAMILY` | libguestfs's type (`linux`, `windows`, `freebsd`…) |
//! | `OS` | libguestfs's distro, or the type when unknown; refined per distro |
//! | `DESCRIPTION` | the product name, made readable (see `distro`, `bsd`) |
//! | `SORTORDER` | a number that sorts images by family, distro and version |
//! | `GUI` | the desktops installed (Unix), `Windows` |
//! | `OSVERSION` | Windows: the NT version and build (`10.0.17763`); BSD: major.minor (`13.2`) |
//! | `USERS` | accounts that can log in with a password, or cloud-init's; Windows: the active local accounts of the SAM |
//! | `KERNEL` | the newest kernel (Linux), `FreeBSD 13.2`, `Windows NT 10.0` |
//! | `REMOTE_CONNECTION` | `ssh:port=P,user=U`… and x2go sessions; Windows: `rdp:port=P,user=U`… when remote desktop is on |
//! | `CLOUD_INIT`, `CLOUD_INIT_DEFAULT_USER` | cloud-init on boot, its default user |
//! | `NM_NETWORKING` | `yes` when NetworkManager starts on boot |
//!
//! Linux and the BSDs get every key; GNU Hurd the base keys and `GUI`;
//! Windows the base keys, `GUI` and `KERNEL` here, and the keys read from
//! its registry through [`windows::collect`]; unsupported systems the
//! base keys only. Keys the user sets (`-m KEY=VALUE`) go through
//! [`parse_assignment`].

mod accounts;
mod bsd;
mod cloud_init;
mod desktop;
mod distro;
mod files;
mod kernel;
mod linux;
mod services;
mod sshd;
pub mod windows;

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::bootloader::mbr_bootloader;
use super::profile::Profile;
use super::{DiskInfo, Distro, Guest, OsFamily, OsInfo};
use crate::progress::Reporter;

/// Metadata keys (upper-case) and their values.
pub type Metadata = BTreeMap<String, String>;

/// Collect the metadata of the guest, whose filesystems are mounted.
pub fn collect(
    os: &OsInfo,
    disk: &DiskInfo,
    profile: &Profile,
    guest: &mut dyn Guest,
    reporter: &dyn Reporter,
) -> Result<Metadata> {
    let mut meta = base_keys(os, disk, profile, reporter);
    match profile {
        Profile::Linux(flavor) => linux::collect(os, *flavor, guest, reporter, &mut meta)?,
        Profile::Bsd(bsd) => bsd::collect(os, *bsd, guest, reporter, &mut meta)?,
        Profile::Hurd => {
            let executables = files::executables(guest).context("listing the executables")?;
            meta.insert("GUI".into(), desktop::gui(&executables));
        }
        Profile::Windows => {
            meta.insert("GUI".into(), "Windows".into());
            meta.insert(
                "KERNEL".into(),
                format!("Windows NT {}.{}", os.major, os.minor),
            );
        }
        Profile::Unsupported(_) => {}
    }
    Ok(meta)
}

/// The keys that come from inspection alone.
fn base_keys(os: &OsInfo, disk: &DiskInfo, profile: &Profile, reporter: &dyn Reporter) -> Metadata {
    let mut meta = Metadata::new();
    if let Some(table) = &disk.partition_table {
        meta.insert("PARTITION_TABLE".into(), table.clone());
    }
    meta.insert("BOOTSTRAP".into(), mbr_bootloader(&disk.boot_sector).into());
    if let Some(lv) = &disk.root_lv {
        meta.insert("ROOT_LV".into(), lv.clone());
    }
    match disk.root_partition {
        Some(n) => {
            meta.insert("ROOT_PARTITION".into(), n.to_string());
        }
        None => reporter.warn(&format!(
            "Unable to identify the partition number of the root filesystem {}",
            os.root
        )),
    }
    meta.insert("OSFAMILY".into(), os.family.to_string());
    meta.insert("OS".into(), os.display_name().to_owned());
    meta.insert("DESCRIPTION".into(), os.product_name.clone());
    meta.insert("SORTORDER".into(), sort_order(os, profile).to_string());
    meta
}

/// Families in sort order (a higher number sorts first in Synnefo's list).
const FAMILY_ORDER: &[(OsFamily, i64)] = &[
    (OsFamily::Windows, 8),
    (OsFamily::Linux, 7),
    (OsFamily::FreeBsd, 6),
    (OsFamily::NetBsd, 5),
    (OsFamily::OpenBsd, 4),
    (OsFamily::Hurd, 3),
    (OsFamily::Dos, 2),
    (OsFamily::Minix, 1),
];

/// Linux distributions in sort order.
const DISTRO_ORDER: &[(Distro, i64)] = &[
    (Distro::Ubuntu, 80),
    (Distro::LinuxMint, 75),
    (Distro::Debian, 70),
    (Distro::Rhel, 60),
    (Distro::Fedora, 58),
    (Distro::Centos, 55),
    (Distro::ScientificLinux, 50),
    (Distro::Sles, 45),
    (Distro::OpenSuse, 44),
    (Distro::Archlinux, 40),
    (Distro::Gentoo, 35),
    (Distro::Slackware, 30),
    (Distro::OracleLinux, 28),
    (Distro::Mageia, 20),
    (Distro::Mandriva, 19),
    (Distro::Cirros, 15),
    (Distro::Pardus, 10),
];

fn order_of<T: PartialEq>(table: &[(T, i64)], key: &T) -> Option<i64> {
    table.iter().find(|(k, _)| k == key).map(|&(_, o)| o)
}

/// `SORTORDER`: 1000000 × family order, plus: for Linux, 10000 × distro
/// order plus 100 × major plus minor (each capped at 99; nothing for distros
/// not in the table); for the BSDs, 100 × major plus minor; for Windows,
/// (100 × major plus minor) × 100.
pub fn sort_order(os: &OsInfo, profile: &Profile) -> i64 {
    let (major, minor) = (i64::from(os.major.max(0)), i64::from(os.minor.max(0)));
    let family = 1_000_000 * order_of(FAMILY_ORDER, &os.family).unwrap_or(0);
    family
        + match profile {
            Profile::Linux(_) => order_of(DISTRO_ORDER, &os.distro)
                .map_or(0, |d| 10_000 * d + 100 * major.min(99) + minor.min(99)),
            Profile::Bsd(_) => 100 * major + minor,
            Profile::Windows => (100 * major + minor) * 100,
            Profile::Hurd | Profile::Unsupported(_) => 0,
        }
}

/// Collect the cloud-init keys again after the configuration changed
/// (system preparation renamed the default user or added root): sets
/// `CLOUD_INIT_DEFAULT_USER` and, when cloud-init creates users, `USERS`.
/// Does nothing when the image does not run cloud-init.
pub fn recollect_cloud_init(
    guest: &mut dyn Guest,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<()> {
    if meta.get("CLOUD_INIT").map(String::as_str) != Some("yes") {
        return Ok(());
    }
    let cloud =
        cloud_init::load(guest, reporter).context("reading the cloud-init configuration")?;
    match cloud.default_user {
        Some(user) => meta.insert("CLOUD_INIT_DEFAULT_USER".into(), user),
        None => meta.remove("CLOUD_INIT_DEFAULT_USER"),
    };
    if !cloud.users.is_empty() {
        meta.insert("USERS".into(), cloud.users.join(" "));
    }
    // The ssh entries of REMOTE_CONNECTION are for USERS: make them again.
    if let (Some(remote), Some(users)) = (meta.get("REMOTE_CONNECTION"), meta.get("USERS"))
        && remote.split(' ').any(|e| e.starts_with("ssh:"))
    {
        let users: Vec<String> = users.split(' ').map(str::to_owned).collect();
        let config = sshd::load(guest, reporter).context("reading the sshd configuration")?;
        let mut entries = sshd::ssh_entries(config, &users);
        entries.extend(
            remote
                .split(' ')
                .filter(|e| !e.starts_with("ssh:"))
                .map(str::to_owned),
        );
        meta.insert("REMOTE_CONNECTION".into(), entries.join(" "));
    }
    Ok(())
}

/// The merged cloud-init configuration (`cloud.cfg`, then `cloud.cfg.d/*.cfg`
/// in name order, mappings merged key by key), and the files it came from.
pub fn cloud_init_config(
    guest: &mut dyn Guest,
    reporter: &dyn Reporter,
) -> Result<(yaml_rust2::Yaml, Vec<String>)> {
    cloud_init::merged(guest, reporter)
}

/// Set `USERS` to the space-separated users, or warn and leave it out when
/// there are none.
fn set_users(meta: &mut Metadata, users: &[String], reporter: &dyn Reporter) {
    if users.is_empty() {
        reporter.warn("No passworded users found");
        meta.remove("USERS");
    } else {
        meta.insert("USERS".into(), users.join(" "));
    }
}

/// A metadata key or assignment the user gave that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadKey {
    #[error("the metadata key is empty; keys are made of letters, digits and `_`")]
    Empty,
    #[error(
        "`{0}` is not a valid metadata key; keys may only contain the letters A-Z and a-z, \
         the digits 0-9 and `_`"
    )]
    Invalid(String),
    #[error("`{0}` is not a KEY=VALUE assignment: it has no `=`")]
    NoEquals(String),
}

/// Check a metadata key given by the user (`[A-Za-z0-9_]+`) and return it
/// upper-cased, as keys are stored.
pub fn validate_key(key: &str) -> Result<String, BadKey> {
    if key.is_empty() {
        return Err(BadKey::Empty);
    }
    if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(BadKey::Invalid(key.to_owned()));
    }
    Ok(key.to_ascii_uppercase())
}

/// Parse a `KEY=VALUE` assignment: the key is validated and upper-cased;
/// the value is everything after the first `=` (it may contain `=` and may
/// be empty).
pub fn parse_assignment(s: &str) -> Result<(String, String), BadKey> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| BadKey::NoEquals(s.to_owned()))?;
    Ok((validate_key(key)?, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::guest::profile::{BsdFlavor, LinuxFlavor, profile_for};
    use crate::progress::RecordingReporter;

    fn os(os_type: &str, distro: &str, product: &str, major: i32, minor: i32) -> OsInfo {
        OsInfo {
            root: "/dev/sda1".into(),
            family: OsFamily::parse(os_type),
            distro: Distro::parse(distro),
            product_name: product.into(),
            major,
            minor,
            arch: "x86_64".into(),
            mountpoints: vec![("/".into(), "/dev/sda1".into())],
        }
    }

    fn disk() -> DiskInfo {
        let mut boot_sector = vec![0u8; 512];
        boot_sector[..3].copy_from_slice(&[0xeb, 0x63, 0x90]);
        DiskInfo {
            partition_table: Some("msdos".into()),
            boot_sector,
            root_partition: Some(1),
            size: 2 << 30,
            ..DiskInfo::default()
        }
    }

    #[test]
    fn sort_orders() {
        let linux = Profile::Linux(LinuxFlavor::Generic);
        assert_eq!(
            sort_order(&os("linux", "debian", "", 12, 5), &linux),
            7_700_000 + 1205
        );
        assert_eq!(
            sort_order(&os("linux", "ubuntu", "", 22, 4), &linux),
            7_800_000 + 2204
        );
        assert_eq!(
            sort_order(&os("linux", "fedora", "", 100, 150), &linux),
            7_580_000 + 9999
        );
        assert_eq!(
            sort_order(&os("linux", "alpine", "", 3, 18), &linux),
            7_000_000
        );
        let bsd = Profile::Bsd(BsdFlavor::FreeBsd);
        assert_eq!(
            sort_order(&os("freebsd", "freebsd", "", 13, 2), &bsd),
            6_001_302
        );
        assert_eq!(
            sort_order(&os("windows", "windows", "", 10, 0), &Profile::Windows),
            8_100_000
        );
        assert_eq!(
            sort_order(&os("hurd", "debian", "", 0, 0), &Profile::Hurd),
            3_000_000
        );
        let dos = Profile::Unsupported("x".into());
        assert_eq!(sort_order(&os("dos", "msdos", "", 6, 22), &dos), 2_000_000);
        assert_eq!(sort_order(&os("plan9", "unknown", "", 4, 0), &dos), 0);
    }

    #[test]
    fn base_keys_of_a_debian_guest() {
        let debian = os("linux", "debian", "12.5", 12, 5);
        let mut g = MemGuest::new()
            .file(
                "/etc/os-release",
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
            )
            .file("/etc/shadow", "root:*:1::::::\n");
        let r = RecordingReporter::default();
        let meta = collect(&debian, &disk(), &profile_for(&debian), &mut g, &r).unwrap();
        let expected = [
            ("BOOTSTRAP", "grub2"),
            ("DESCRIPTION", "Debian GNU/Linux 12 (bookworm)"),
            ("GUI", "No GUI"),
            ("OS", "debian"),
            ("OSFAMILY", "linux"),
            ("PARTITION_TABLE", "msdos"),
            ("ROOT_PARTITION", "1"),
            ("SORTORDER", "7701205"),
        ];
        let expected: Metadata = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(meta, expected);
        assert!(
            meta.keys()
                .all(|k| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        );
    }

    #[test]
    fn windows_gets_base_keys() {
        let win = os("windows", "windows", "Windows Server 2019 Standard", 10, 0);
        let mut d = disk();
        d.root_partition = None;
        let r = RecordingReporter::default();
        let meta = collect(&win, &d, &Profile::Windows, &mut MemGuest::new(), &r).unwrap();
        assert_eq!(meta["OS"], "windows");
        assert_eq!(meta["GUI"], "Windows");
        assert_eq!(meta["KERNEL"], "Windows NT 10.0");
        assert_eq!(meta["SORTORDER"], "8100000");
        assert!(!meta.contains_key("ROOT_PARTITION"));
        assert_eq!(
            r.warnings(),
            ["Unable to identify the partition number of the root filesystem /dev/sda1"]
        );
    }

    #[test]
    fn unknown_distro_and_unsupported() {
        let dos = os("dos", "unknown", "MS-DOS", 6, 22);
        let mut d = disk();
        d.partition_table = None;
        d.boot_sector = vec![0; 512];
        let r = RecordingReporter::default();
        let meta = collect(&dos, &d, &profile_for(&dos), &mut MemGuest::new(), &r).unwrap();
        assert_eq!(meta["OS"], "dos");
        assert_eq!(meta["BOOTSTRAP"], "none");
        assert!(!meta.contains_key("PARTITION_TABLE"));
        assert_eq!(meta.len(), 6, "{meta:?}");
    }

    #[test]
    fn names_libguestfs_does_not_list_here_are_kept() {
        let r = RecordingReporter::default();
        for (os_type, distro, family, name) in [
            ("plan9", "unknown", "plan9", "plan9"),
            ("linux", "voidlinux", "linux", "voidlinux"),
            ("linux", "", "linux", "linux"),
        ] {
            let o = os(os_type, distro, "", 1, 0);
            let meta = collect(&o, &disk(), &profile_for(&o), &mut MemGuest::new(), &r).unwrap();
            assert_eq!(
                (meta["OSFAMILY"].as_str(), meta["OS"].as_str()),
                (family, name)
            );
        }
    }

    #[test]
    fn hurd_gets_gui() {
        let hurd = os("hurd", "debian", "Debian GNU/Hurd", 0, 0);
        let mut g = MemGuest::new()
            .file("/usr/bin/startx", "")
            .file("/usr/bin/twm", "");
        let r = RecordingReporter::default();
        let meta = collect(&hurd, &disk(), &Profile::Hurd, &mut g, &r).unwrap();
        assert_eq!(meta["GUI"], "twm");
        assert!(!meta.contains_key("USERS"));
    }

    #[test]
    fn keys() {
        assert_eq!(
            validate_key("exclude_task_FixPartitionTable"),
            Ok("EXCLUDE_TASK_FIXPARTITIONTABLE".into())
        );
        assert_eq!(validate_key("A1_b2"), Ok("A1_B2".into()));
        assert_eq!(validate_key(""), Err(BadKey::Empty));
        for bad in ["KEY-1", "KEY 1", "KÉY", "a.b"] {
            assert_eq!(validate_key(bad), Err(BadKey::Invalid(bad.into())), "{bad}");
        }
        let msg = validate_key("KEY-1").unwrap_err().to_string();
        assert!(
            msg.contains("`KEY-1`") && msg.contains("A-Z") && msg.contains('_'),
            "{msg}"
        );
    }

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("os=debian"),
            Ok(("OS".into(), "debian".into()))
        );
        assert_eq!(
            parse_assignment("X=a=b=c"),
            Ok(("X".into(), "a=b=c".into()))
        );
        assert_eq!(
            parse_assignment("EMPTY="),
            Ok(("EMPTY".into(), String::new()))
        );
        assert_eq!(
            parse_assignment("NOVALUE"),
            Err(BadKey::NoEquals("NOVALUE".into()))
        );
        assert_eq!(parse_assignment("=x"), Err(BadKey::Empty));
        assert_eq!(
            parse_assignment("bad key=x"),
            Err(BadKey::Invalid("bad key".into()))
        );
        let msg = parse_assignment("NOVALUE").unwrap_err().to_string();
        assert!(
            msg.contains("`NOVALUE`") && msg.contains("KEY=VALUE"),
            "{msg}"
        );
    }
}
