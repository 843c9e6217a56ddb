//! `OS` and `DESCRIPTION` refinements of Linux distributions.
//!
//! * `DESCRIPTION` starts as libguestfs's product name. For Debian that is
//!   the content of `/etc/debian_version` (`12.5`), which says little in an
//!   image list, so Debian, and any distribution whose product name has no
//!   letter in it or is `unknown`, uses `PRETTY_NAME` from
//!   `/etc/os-release` (or `/usr/lib/os-release`, its fallback location)
//!   when that exists: "Debian GNU/Linux 12 (bookworm)".
//! * Ubuntu: an installed `kubuntu-desktop`, `lubuntu-desktop` or
//!   `xubuntu-desktop` package (per `/var/lib/dpkg/status`; the first in
//!   that order when several are) makes `OS` that variant and its name
//!   replaces "Ubuntu" in `DESCRIPTION`. A `/opt/bitnami` directory makes
//!   `OS` `bitnami`; when `/opt/bitnami/README.txt` has a first line, it
//!   becomes `DESCRIPTION` and the previous description `OSVERSION`.
//! * RHEL: `/etc/oracle-release` makes `OS` `oraclelinux`, with its first
//!   line as `DESCRIPTION`.

use anyhow::Result;

use super::{Metadata, files};
use crate::guest::profile::LinuxFlavor;
use crate::guest::{DATABASE_LIMIT, Distro, Guest, OsInfo};
use crate::progress::Reporter;

const OS_RELEASE: &[&str] = &["/etc/os-release", "/usr/lib/os-release"];
const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const UBUNTU_VARIANTS: &[(&str, &str, &str)] = &[
    ("kubuntu-desktop", "kubuntu", "Kubuntu"),
    ("lubuntu-desktop", "lubuntu", "Lubuntu"),
    ("xubuntu-desktop", "xubuntu", "Xubuntu"),
];

/// Apply the refinements of `flavor` (and the description rule) to `meta`,
/// which already holds the base `OS` and `DESCRIPTION`.
pub(super) fn refine(
    os: &OsInfo,
    flavor: LinuxFlavor,
    guest: &mut dyn Guest,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<()> {
    if wants_pretty_name(os)
        && let Some(pretty) = pretty_name(guest, reporter)?
    {
        meta.insert("DESCRIPTION".into(), pretty);
    }
    match flavor {
        LinuxFlavor::Ubuntu => {
            ubuntu_variant(guest, meta, reporter)?;
            bitnami(guest, meta, reporter)
        }
        LinuxFlavor::Rhel => oracle(guest, meta, reporter),
        _ => Ok(()),
    }
}

fn wants_pretty_name(os: &OsInfo) -> bool {
    let name = os.product_name.trim();
    os.distro == Distro::Debian
        || name.eq_ignore_ascii_case("unknown")
        || !name.chars().any(char::is_alphabetic)
}

fn pretty_name(guest: &mut dyn Guest, reporter: &dyn Reporter) -> Result<Option<String>> {
    for path in OS_RELEASE {
        if let Some(text) = files::read_text(guest, path, reporter)? {
            return Ok(os_release_value(&text, "PRETTY_NAME").filter(|v| !v.is_empty()));
        }
    }
    Ok(None)
}

/// A variable of an os-release file, unquoted (shell-style quoting with
/// `"`, `'` and backslash escapes, as os-release(5) allows).
pub(super) fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| unquote(v.trim()))
        .next_back()
}

fn unquote(value: &str) -> String {
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
    let Some(q) = quote else {
        return value.to_owned();
    };
    let inner = value[1..].strip_suffix(q).unwrap_or(&value[1..]);
    if q == '\'' {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether each of `packages` is installed, per a dpkg status database.
pub(super) fn installed_packages(status: &str, packages: &[&str]) -> Vec<bool> {
    let mut installed = vec![false; packages.len()];
    for stanza in status.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                .map(str::trim)
        };
        let ok = field("Status").is_some_and(|s| s.ends_with(" installed"));
        if ok
            && let Some(name) = field("Package")
            && let Some(i) = packages.iter().position(|p| *p == name)
        {
            installed[i] = true;
        }
    }
    installed
}

fn ubuntu_variant(
    guest: &mut dyn Guest,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<()> {
    let Some(status) = crate::guest::read_text(guest, DPKG_STATUS, DATABASE_LIMIT, reporter)?
    else {
        return Ok(());
    };
    let packages: Vec<&str> = UBUNTU_VARIANTS.iter().map(|v| v.0).collect();
    let installed = installed_packages(&status, &packages);
    let Some(&(_, os, name)) = UBUNTU_VARIANTS
        .iter()
        .zip(installed)
        .find(|(_, i)| *i)
        .map(|(v, _)| v)
    else {
        return Ok(());
    };
    meta.insert("OS".into(), os.into());
    if let Some(description) = meta.get_mut("DESCRIPTION") {
        *description = description.replace("Ubuntu", name);
    }
    Ok(())
}

fn bitnami(guest: &mut dyn Guest, meta: &mut Metadata, reporter: &dyn Reporter) -> Result<()> {
    if !files::is_dir(guest, "/opt/bitnami")? {
        return Ok(());
    }
    meta.insert("OS".into(), "bitnami".into());
    if let Some(line) = files::first_line(guest, "/opt/bitnami/README.txt", reporter)?
        && let Some(previous) = meta.insert("DESCRIPTION".into(), line)
    {
        meta.insert("OSVERSION".into(), previous);
    }
    Ok(())
}

fn oracle(guest: &mut dyn Guest, meta: &mut Metadata, reporter: &dyn Reporter) -> Result<()> {
    const RELEASE: &str = "/etc/oracle-release";
    if !files::is_file(guest, RELEASE)? {
        return Ok(());
    }
    meta.insert("OS".into(), "oraclelinux".into());
    if let Some(line) = files::first_line(guest, RELEASE, reporter)? {
        meta.insert("DESCRIPTION".into(), line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::OsFamily;
    use crate::guest::memfs::MemGuest;

    const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
        NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";

    fn os(distro: &str, product: &str) -> OsInfo {
        OsInfo {
            family: OsFamily::Linux,
            distro: Distro::parse(distro),
            product_name: product.into(),
            ..OsInfo::default()
        }
    }

    fn base(os: &OsInfo) -> Metadata {
        Metadata::from([
            ("OS".to_owned(), os.distro.to_string()),
            ("DESCRIPTION".to_owned(), os.product_name.clone()),
        ])
    }

    fn refined(os: &OsInfo, flavor: LinuxFlavor, g: &mut MemGuest) -> Metadata {
        let mut meta = base(os);
        refine(os, flavor, g, &mut meta, &crate::progress::NullReporter).unwrap();
        meta
    }

    #[test]
    fn os_release_quoting() {
        assert_eq!(
            os_release_value(DEBIAN_OS_RELEASE, "ID").as_deref(),
            Some("debian")
        );
        let text = "PRETTY_NAME='Single quoted'\nX=\"a \\\"b\\\" \\$c\"\n";
        assert_eq!(
            os_release_value(text, "PRETTY_NAME").as_deref(),
            Some("Single quoted")
        );
        assert_eq!(os_release_value(text, "X").as_deref(), Some("a \"b\" $c"));
        assert_eq!(os_release_value(text, "MISSING"), None);
    }

    #[test]
    fn debian_uses_pretty_name() {
        let debian = os("debian", "12.5");
        let mut g = MemGuest::new().file("/usr/lib/os-release", DEBIAN_OS_RELEASE);
        let meta = refined(&debian, LinuxFlavor::Generic, &mut g);
        assert_eq!(meta["DESCRIPTION"], "Debian GNU/Linux 12 (bookworm)");
        // Without os-release the product name stays.
        let meta = refined(&debian, LinuxFlavor::Generic, &mut MemGuest::new());
        assert_eq!(meta["DESCRIPTION"], "12.5");
    }

    #[test]
    fn good_product_names_stay() {
        let fedora = os("fedora", "Fedora Linux 39 (Cloud Edition)");
        let mut g = MemGuest::new().file("/etc/os-release", "PRETTY_NAME=\"Fedora\"\n");
        let meta = refined(&fedora, LinuxFlavor::Generic, &mut g);
        assert_eq!(meta["DESCRIPTION"], "Fedora Linux 39 (Cloud Edition)");
    }

    const STATUS: &str = "Package: xubuntu-desktop\nStatus: deinstall ok config-files\n\n\
        Package: lubuntu-desktop\nStatus: install ok installed\nVersion: 1\n\n\
        Package: bash\nStatus: install ok installed\n";

    #[test]
    fn dpkg_status() {
        let got = installed_packages(
            STATUS,
            &[
                "kubuntu-desktop",
                "lubuntu-desktop",
                "xubuntu-desktop",
                "bash",
            ],
        );
        assert_eq!(got, [false, true, false, true]);
    }

    #[test]
    fn ubuntu_variants() {
        let ubuntu = os("ubuntu", "Ubuntu 22.04.3 LTS");
        let mut g = MemGuest::new().file(DPKG_STATUS, STATUS);
        let meta = refined(&ubuntu, LinuxFlavor::Ubuntu, &mut g);
        assert_eq!(meta["OS"], "lubuntu");
        assert_eq!(meta["DESCRIPTION"], "Lubuntu 22.04.3 LTS");
        let meta = refined(&ubuntu, LinuxFlavor::Ubuntu, &mut MemGuest::new());
        assert_eq!(meta["OS"], "ubuntu");
    }

    #[test]
    fn bitnami_images() {
        let ubuntu = os("ubuntu", "Ubuntu 14.04 LTS");
        let mut g = MemGuest::new().file(
            "/opt/bitnami/README.txt",
            "  Bitnami LAMP Stack 5.6  \nmore\n",
        );
        let meta = refined(&ubuntu, LinuxFlavor::Ubuntu, &mut g);
        assert_eq!(meta["OS"], "bitnami");
        assert_eq!(meta["DESCRIPTION"], "Bitnami LAMP Stack 5.6");
        assert_eq!(meta["OSVERSION"], "Ubuntu 14.04 LTS");
    }

    #[test]
    fn oracle_linux() {
        let rhel = os("rhel", "Red Hat Enterprise Linux Server release 7.9");
        let mut g =
            MemGuest::new().file("/etc/oracle-release", "Oracle Linux Server release 7.9\n");
        let meta = refined(&rhel, LinuxFlavor::Rhel, &mut g);
        assert_eq!(meta["OS"], "oraclelinux");
        assert_eq!(meta["DESCRIPTION"], "Oracle Linux Server release 7.9");
        let meta = refined(&rhel, LinuxFlavor::Generic, &mut g);
        assert_eq!(meta["OS"], "rhel", "only the RHEL flavour checks");
    }
}
