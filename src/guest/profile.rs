//! OS profiles: which family of behaviour (metadata, system preparation,
//! mounting) applies to the operating system inspection found.
//!
//! This is the original's `distro_cls(distro, osfamily)` lookup as a static
//! table: Ubuntu, RHEL, Arch Linux and Slackware are Linux flavours with
//! their own refinements, every other Linux distribution is generic Linux,
//! the three BSDs, GNU Hurd and Windows have their own profiles, and
//! anything else is unsupported. The original raised a fatal error for
//! types it had no class for (`dos`, `minix`…); here they are unsupported
//! media with a reason that names the type.

use super::{Distro, OsFamily, OsInfo};

/// Linux distributions that refine the generic Linux behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinuxFlavor {
    /// Every distribution without refinements (Debian, Fedora, openSUSE…).
    Generic,
    /// Ubuntu: Kubuntu/Lubuntu/Xubuntu and Bitnami detection.
    Ubuntu,
    /// Red Hat Enterprise Linux: Oracle Linux detection.
    Rhel,
    /// Arch Linux: the kernel version comes from the pacman database.
    Archlinux,
    /// Slackware: services are enabled by making their rc script executable,
    /// and `/var/log/packages` is the package database.
    Slackware,
}

/// The BSDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BsdFlavor {
    FreeBsd,
    NetBsd,
    OpenBsd,
}

impl BsdFlavor {
    /// The family this BSD belongs to.
    pub fn family(self) -> OsFamily {
        match self {
            BsdFlavor::FreeBsd => OsFamily::FreeBsd,
            BsdFlavor::NetBsd => OsFamily::NetBsd,
            BsdFlavor::OpenBsd => OsFamily::OpenBsd,
        }
    }

    /// The name as the original's `KERNEL` key spells it (`FreeBSD`).
    pub fn name(self) -> &'static str {
        match self {
            BsdFlavor::FreeBsd => "FreeBSD",
            BsdFlavor::NetBsd => "NetBSD",
            BsdFlavor::OpenBsd => "OpenBSD",
        }
    }
}

/// The behaviour that applies to an inspected operating system.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Profile {
    Linux(LinuxFlavor),
    Bsd(BsdFlavor),
    Hurd,
    Windows,
    /// Nothing can be done with this system; the text says why.
    Unsupported(String),
}

impl Profile {
    /// The family of a supported profile.
    pub fn family(&self) -> Option<OsFamily> {
        match self {
            Profile::Linux(_) => Some(OsFamily::Linux),
            Profile::Bsd(bsd) => Some(bsd.family()),
            Profile::Hurd => Some(OsFamily::Hurd),
            Profile::Windows => Some(OsFamily::Windows),
            Profile::Unsupported(_) => None,
        }
    }

    /// Whether the profile belongs to a Unix-like system.
    pub fn is_unix(&self) -> bool {
        matches!(self, Profile::Linux(_) | Profile::Bsd(_) | Profile::Hurd)
    }
}

/// Which inspection results a table row matches: a family, and a
/// distribution or `None` for any.
struct Row {
    family: OsFamily,
    distro: Option<Distro>,
    profile: Profile,
}

/// The profile table, most specific rows first; the first match wins.
const PROFILES: &[Row] = &[
    linux(Distro::Ubuntu, LinuxFlavor::Ubuntu),
    linux(Distro::Rhel, LinuxFlavor::Rhel),
    linux(Distro::Archlinux, LinuxFlavor::Archlinux),
    linux(Distro::Slackware, LinuxFlavor::Slackware),
    any(OsFamily::Linux, Profile::Linux(LinuxFlavor::Generic)),
    any(OsFamily::FreeBsd, Profile::Bsd(BsdFlavor::FreeBsd)),
    any(OsFamily::NetBsd, Profile::Bsd(BsdFlavor::NetBsd)),
    any(OsFamily::OpenBsd, Profile::Bsd(BsdFlavor::OpenBsd)),
    any(OsFamily::Hurd, Profile::Hurd),
    any(OsFamily::Windows, Profile::Windows),
];

const fn linux(distro: Distro, flavor: LinuxFlavor) -> Row {
    Row {
        family: OsFamily::Linux,
        distro: Some(distro),
        profile: Profile::Linux(flavor),
    }
}

const fn any(family: OsFamily, profile: Profile) -> Row {
    Row {
        family,
        distro: None,
        profile,
    }
}

/// The reason given for an `unknown` inspection type (the original's words).
pub const UNKNOWN_OS: &str = "Unknown Operating System";

/// The profile for what inspection found.
pub fn profile_for(os: &OsInfo) -> Profile {
    let matches =
        |r: &&Row| r.family == os.family && r.distro.as_ref().is_none_or(|d| *d == os.distro);
    if let Some(row) = PROFILES.iter().find(matches) {
        return row.profile.clone();
    }
    match &os.family {
        OsFamily::Unknown => Profile::Unsupported(UNKNOWN_OS.to_owned()),
        other => Profile::Unsupported(format!(
            "operating systems of type `{other}` are not supported"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(os_type: &str, distro: &str) -> OsInfo {
        OsInfo {
            family: OsFamily::parse(os_type),
            distro: Distro::parse(distro),
            ..OsInfo::default()
        }
    }

    #[test]
    fn linux_flavours() {
        let cases = [
            ("ubuntu", LinuxFlavor::Ubuntu),
            ("rhel", LinuxFlavor::Rhel),
            ("archlinux", LinuxFlavor::Archlinux),
            ("slackware", LinuxFlavor::Slackware),
            ("debian", LinuxFlavor::Generic),
            ("fedora", LinuxFlavor::Generic),
            ("centos", LinuxFlavor::Generic),
            ("linuxmint", LinuxFlavor::Generic),
            ("opensuse", LinuxFlavor::Generic),
            ("unknown", LinuxFlavor::Generic),
        ];
        for (distro, flavor) in cases {
            assert_eq!(
                profile_for(&os("linux", distro)),
                Profile::Linux(flavor),
                "{distro}"
            );
        }
        assert_eq!(
            profile_for(&os("Linux", "Ubuntu")),
            Profile::Linux(LinuxFlavor::Ubuntu)
        );
    }

    #[test]
    fn other_families() {
        let bsd = |b| Profile::Bsd(b);
        assert_eq!(
            profile_for(&os("freebsd", "unknown")),
            bsd(BsdFlavor::FreeBsd)
        );
        assert_eq!(
            profile_for(&os("netbsd", "unknown")),
            bsd(BsdFlavor::NetBsd)
        );
        assert_eq!(
            profile_for(&os("openbsd", "unknown")),
            bsd(BsdFlavor::OpenBsd)
        );
        assert_eq!(profile_for(&os("hurd", "debian")), Profile::Hurd);
        assert_eq!(profile_for(&os("windows", "windows")), Profile::Windows);
    }

    #[test]
    fn unknown_and_unsupported_types() {
        assert_eq!(
            profile_for(&os("unknown", "unknown")),
            Profile::Unsupported(UNKNOWN_OS.into())
        );
        for t in ["dos", "minix"] {
            let Profile::Unsupported(reason) = profile_for(&os(t, "unknown")) else {
                panic!("{t} should be unsupported");
            };
            assert!(reason.contains(&format!("`{t}`")), "{reason}");
        }
    }

    #[test]
    fn profile_families() {
        assert_eq!(
            Profile::Bsd(BsdFlavor::NetBsd).family(),
            Some(OsFamily::NetBsd)
        );
        assert_eq!(Profile::Unsupported("x".into()).family(), None);
        assert!(Profile::Hurd.is_unix());
        assert!(!Profile::Windows.is_unix());
    }
}
