//! Which BSD a mounted root filesystem holds, from its files, where
//! libguestfs cannot tell or tells wrong:
//! * OpenBSD: `/bsd` is its kernel and it has no `/etc/freebsd-update.conf`
//!   (libguestfs 1.48 calls every such system FreeBSD); the version is the
//!   `OpenBSD N.M` of `/etc/motd`;
//! * NetBSD: `/netbsd`; the version from `/etc/release` (`NetBSD 9.3/amd64`);
//! * FreeBSD: `/boot/kernel/kernel` or `/etc/freebsd-update.conf`; the
//!   version from os-release's `PRETTY_NAME`, else `/etc/motd`.
//!
//! The architecture is read from `/bin/sh`'s ELF header.

use anyhow::Result;

use crate::guest::profile::BsdFlavor;
use crate::guest::{CONFIG_LIMIT, Guest, read_text};
use crate::progress::Reporter;

/// What the files of a BSD root say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub flavor: BsdFlavor,
    /// `OpenBSD 7.4`, `NetBSD 9.3`, `FreeBSD 13.2-RELEASE`.
    pub product_name: String,
    pub major: i32,
    pub minor: i32,
    /// `x86_64`, `i386`, `aarch64`, or `unknown`.
    pub arch: String,
}

/// The BSD whose files the mounted root holds, if any.
pub fn classify(g: &mut dyn Guest, reporter: &dyn Reporter) -> Result<Option<Classified>> {
    let flavor = if g.exists("/bsd")? && !g.exists("/etc/freebsd-update.conf")? {
        BsdFlavor::OpenBsd
    } else if g.exists("/netbsd")? {
        BsdFlavor::NetBsd
    } else if g.exists("/boot/kernel/kernel")? || g.exists("/etc/freebsd-update.conf")? {
        BsdFlavor::FreeBsd
    } else {
        return Ok(None);
    };
    let product_name = product_name(g, flavor, reporter)?;
    let (major, minor) = version(&product_name);
    Ok(Some(Classified {
        flavor,
        product_name,
        major,
        minor,
        arch: arch(g)?,
    }))
}

/// The product name from the files each BSD keeps it in; the system's
/// name alone when they say nothing usable.
fn product_name(g: &mut dyn Guest, flavor: BsdFlavor, reporter: &dyn Reporter) -> Result<String> {
    let name = flavor.name();
    let starts = |l: &&str| l.trim_start().starts_with(name);
    let found = match flavor {
        BsdFlavor::OpenBsd => first_line_with(g, "/etc/motd", reporter, starts)?,
        BsdFlavor::NetBsd => first_line_with(g, "/etc/release", reporter, starts)?
            .map(|l| l.split('/').next().unwrap_or_default().to_owned()),
        BsdFlavor::FreeBsd => match pretty_name(g, reporter)? {
            Some(p) => Some(p),
            None => first_line_with(g, "/etc/motd", reporter, starts)?,
        },
    };
    Ok(found
        .map(|l| match flavor {
            // "OpenBSD 7.4 (GENERIC) #1322: …" → "OpenBSD 7.4"
            BsdFlavor::OpenBsd => l.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
            _ => l.trim().to_owned(),
        })
        .unwrap_or_else(|| name.to_owned()))
}

fn first_line_with(
    g: &mut dyn Guest,
    path: &str,
    reporter: &dyn Reporter,
    want: impl Fn(&&str) -> bool,
) -> Result<Option<String>> {
    let text = read_text(g, path, CONFIG_LIMIT, reporter)?;
    Ok(text.and_then(|t| t.lines().find(|l| want(l)).map(str::to_owned)))
}

fn pretty_name(g: &mut dyn Guest, reporter: &dyn Reporter) -> Result<Option<String>> {
    let line = first_line_with(g, "/etc/os-release", reporter, |l| {
        l.starts_with("PRETTY_NAME=")
    })?;
    Ok(line.map(|l| {
        l["PRETTY_NAME=".len()..]
            .trim()
            .trim_matches(['"', '\''])
            .to_owned()
    }))
}

/// Major and minor version of the first `N.M` word of a product name.
fn version(product: &str) -> (i32, i32) {
    product
        .split_whitespace()
        .find_map(|w| {
            let (major, rest) = w.split_once('.')?;
            let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
            Some((major.parse().ok()?, minor.parse().ok()?))
        })
        .unwrap_or((0, 0))
}

/// The architecture of `/bin/sh`, from its ELF header's `e_machine`.
fn arch(g: &mut dyn Guest) -> Result<String> {
    if !crate::guest::is_file(g, "/bin/sh")? || g.file_size("/bin/sh")? < 20 {
        return Ok("unknown".into());
    }
    let head = g.read_limited("/bin/sh", 64 << 20)?;
    let machine = match head.get(..20) {
        Some(h) if h.starts_with(b"\x7fELF") => u16::from_le_bytes([h[18], h[19]]),
        _ => 0,
    };
    Ok(match machine {
        0x3e => "x86_64",
        0x03 => "i386",
        0xb7 => "aarch64",
        0x28 => "arm",
        _ => "unknown",
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::NullReporter;

    fn elf() -> Vec<u8> {
        let mut h = b"\x7fELF\x02\x01\x01\x0c".to_vec();
        h.resize(64, 0);
        h[18] = 0x3e;
        h
    }

    #[test]
    fn openbsd_from_bsd_and_motd() {
        let mut g = MemGuest::new()
            .file("/bsd", "k")
            .file("/bin/sh", elf())
            .file(
                "/etc/motd",
                "OpenBSD 7.4 (GENERIC) #1322: Tue Oct 10 09:08:09 MDT 2023\n\nWelcome\n",
            );
        let c = classify(&mut g, &NullReporter).unwrap().unwrap();
        assert_eq!(c.flavor, BsdFlavor::OpenBsd);
        assert_eq!(c.product_name, "OpenBSD 7.4");
        assert_eq!((c.major, c.minor), (7, 4));
        assert_eq!(c.arch, "x86_64");
    }

    #[test]
    fn freebsd_with_a_bsd_file_is_still_freebsd() {
        let mut g = MemGuest::new()
            .file("/bsd", "k")
            .file("/etc/freebsd-update.conf", "")
            .file(
                "/etc/os-release",
                "NAME=FreeBSD\nPRETTY_NAME=\"FreeBSD 13.2-RELEASE\"\n",
            );
        let c = classify(&mut g, &NullReporter).unwrap().unwrap();
        assert_eq!(c.flavor, BsdFlavor::FreeBsd);
        assert_eq!(c.product_name, "FreeBSD 13.2-RELEASE");
        assert_eq!((c.major, c.minor, c.arch.as_str()), (13, 2, "unknown"));
    }

    #[test]
    fn netbsd_and_strangers() {
        let mut g = MemGuest::new()
            .file("/netbsd", "k")
            .file("/etc/release", "NetBSD 9.3/amd64\n\nPath: /usr/src\n");
        let c = classify(&mut g, &NullReporter).unwrap().unwrap();
        assert_eq!(
            (c.flavor, c.product_name.as_str()),
            (BsdFlavor::NetBsd, "NetBSD 9.3")
        );
        assert_eq!((c.major, c.minor), (9, 3));
        // A motd that says nothing: the name alone, version 0.0.
        let mut g = MemGuest::new()
            .file("/bsd", "k")
            .file("/etc/motd", "\u{0}junk");
        let c = classify(&mut g, &NullReporter).unwrap().unwrap();
        assert_eq!((c.product_name.as_str(), c.major), ("OpenBSD", 0));
        let mut linux = MemGuest::new().file("/etc/os-release", "ID=debian\n");
        assert_eq!(classify(&mut linux, &NullReporter).unwrap(), None);
    }
}
