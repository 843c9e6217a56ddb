//! What inspection names the operating system: its family (libguestfs's
//! inspection type) and its distribution, parsed once from libguestfs's
//! strings where the appliance reads them.
//!
//! Each enum keeps libguestfs's exact name through `as_str()` (the image
//! metadata's `OSFAMILY` and `OS` values, which snf-image reads), and a
//! value libguestfs may add later is kept as `Other` rather than lost.

use std::fmt;

use crate::name_table::{name_of, value_of};

/// Operating system families, as libguestfs's inspection types name them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum OsFamily {
    Linux,
    Windows,
    FreeBsd,
    NetBsd,
    OpenBsd,
    Hurd,
    Dos,
    Minix,
    /// libguestfs could not tell (`unknown`).
    #[default]
    Unknown,
    /// A type this product does not know, as libguestfs spelt it.
    Other(String),
}

const FAMILIES: &[(&str, OsFamily)] = &[
    ("linux", OsFamily::Linux),
    ("windows", OsFamily::Windows),
    ("freebsd", OsFamily::FreeBsd),
    ("netbsd", OsFamily::NetBsd),
    ("openbsd", OsFamily::OpenBsd),
    ("hurd", OsFamily::Hurd),
    ("dos", OsFamily::Dos),
    ("minix", OsFamily::Minix),
    ("unknown", OsFamily::Unknown),
];

impl OsFamily {
    /// The family of a libguestfs inspection type (`linux`, `freebsd`…);
    /// an empty type is `Unknown`.
    pub fn parse(os_type: &str) -> Self {
        parse(FAMILIES, os_type, OsFamily::Unknown, OsFamily::Other)
    }

    /// libguestfs's name of this family (the `OSFAMILY` metadata value).
    pub fn as_str(&self) -> &str {
        match self {
            OsFamily::Other(name) => name,
            known => name_of(FAMILIES, known).unwrap_or("unknown"),
        }
    }

    /// How the family reads in a sentence (`FreeBSD`, `GNU/Hurd`).
    pub fn title(&self) -> &str {
        match self {
            OsFamily::Linux => "Linux",
            OsFamily::FreeBsd => "FreeBSD",
            OsFamily::NetBsd => "NetBSD",
            OsFamily::OpenBsd => "OpenBSD",
            OsFamily::Hurd => "GNU/Hurd",
            other => other.as_str(),
        }
    }
}

/// Distributions, as libguestfs's inspection names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Distro {
    Debian,
    Ubuntu,
    LinuxMint,
    Fedora,
    Centos,
    Rhel,
    AlmaLinux,
    Rocky,
    OracleLinux,
    ScientificLinux,
    OpenSuse,
    Sles,
    Archlinux,
    AlpineLinux,
    Gentoo,
    Slackware,
    Mageia,
    Mandriva,
    Cirros,
    Pardus,
    FreeBsd,
    NetBsd,
    OpenBsd,
    Windows,
    /// libguestfs could not tell (`unknown`).
    #[default]
    Unknown,
    /// A distribution this product does not know, as libguestfs spelt it.
    Other(String),
}

const DISTROS: &[(&str, Distro)] = &[
    ("debian", Distro::Debian),
    ("ubuntu", Distro::Ubuntu),
    ("linuxmint", Distro::LinuxMint),
    ("fedora", Distro::Fedora),
    ("centos", Distro::Centos),
    ("rhel", Distro::Rhel),
    ("almalinux", Distro::AlmaLinux),
    ("rocky", Distro::Rocky),
    ("oraclelinux", Distro::OracleLinux),
    ("scientificlinux", Distro::ScientificLinux),
    ("opensuse", Distro::OpenSuse),
    ("sles", Distro::Sles),
    ("archlinux", Distro::Archlinux),
    ("alpinelinux", Distro::AlpineLinux),
    ("gentoo", Distro::Gentoo),
    ("slackware", Distro::Slackware),
    ("mageia", Distro::Mageia),
    ("mandriva", Distro::Mandriva),
    ("cirros", Distro::Cirros),
    ("pardus", Distro::Pardus),
    ("freebsd", Distro::FreeBsd),
    ("netbsd", Distro::NetBsd),
    ("openbsd", Distro::OpenBsd),
    ("windows", Distro::Windows),
    ("unknown", Distro::Unknown),
];

impl Distro {
    /// The distribution of a libguestfs inspection name (`debian`…); an
    /// empty name is `Unknown`.
    pub fn parse(distro: &str) -> Self {
        parse(DISTROS, distro, Distro::Unknown, Distro::Other)
    }

    /// libguestfs's name of this distribution (the `OS` metadata value).
    pub fn as_str(&self) -> &str {
        match self {
            Distro::Other(name) => name,
            known => name_of(DISTROS, known).unwrap_or("unknown"),
        }
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Distro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value named `name` in `table`, compared case-insensitively with
/// `-` and `_` taken alike, as the original did; `unknown` for an empty
/// name, `other` of the name as given for one not in the table.
fn parse<T: Clone>(table: &[(&str, T)], name: &str, unknown: T, other: fn(String) -> T) -> T {
    let key = name.trim().to_ascii_lowercase().replace('-', "_");
    if key.is_empty() {
        return unknown;
    }
    value_of(table, &key).unwrap_or_else(|| other(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_parse_and_keep_their_names() {
        for (name, family) in FAMILIES {
            assert_eq!(OsFamily::parse(name), *family);
            assert_eq!(family.as_str(), *name);
        }
        assert_eq!(OsFamily::parse("Linux"), OsFamily::Linux);
        assert_eq!(OsFamily::parse(""), OsFamily::Unknown);
        let plan9 = OsFamily::parse("plan9");
        assert_eq!(plan9, OsFamily::Other("plan9".into()));
        assert_eq!(plan9.to_string(), "plan9");
        assert_eq!(OsFamily::Hurd.title(), "GNU/Hurd");
        assert_eq!(OsFamily::Windows.title(), "windows");
    }

    #[test]
    fn distros_parse_and_keep_their_names() {
        for (name, distro) in DISTROS {
            assert_eq!(Distro::parse(name), *distro);
            assert_eq!(distro.as_str(), *name);
        }
        assert_eq!(Distro::parse("Ubuntu"), Distro::Ubuntu);
        assert_eq!(Distro::parse(" "), Distro::Unknown);
        let void = Distro::parse("voidlinux");
        assert_eq!(void, Distro::Other("voidlinux".into()));
        assert_eq!(void.to_string(), "voidlinux");
        assert_eq!(
            Distro::parse("redhat-based"),
            Distro::Other("redhat-based".into())
        );
    }
}
