//! Network identity: things that pin the network configuration to the
//! machine the image came from (MAC addresses, leases, hostnames, IPv6
//! temporary addresses).

use anyhow::Result;
use yaml_rust2::{Yaml, YamlEmitter};

use crate::guest::EntryKind;
use crate::sysprep::util::{
    children, delete_children, delete_present, edit_lines, read_text, rewrite,
};
use crate::sysprep::{Change, Ctx};

pub(super) fn remove_persistent_net_rules(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_present(cx.guest, &["/etc/udev/rules.d/70-persistent-net.rules"])
}

pub(super) fn remove_nm_connections(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    delete_children(
        cx.guest,
        "/etc/NetworkManager/system-connections",
        |_, kind| kind == EntryKind::File,
    )
}

pub(super) fn cleanup_dhcp_leases(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let lease = |name: &str, kind: EntryKind| kind == EntryKind::File && name.contains("lease");
    let mut changes = Vec::new();
    for dir in [
        "/var/lib/dhcp",
        "/var/lib/dhclient",
        "/var/lib/NetworkManager",
        "/var/lib/dhcpcd",
        "/var/lib/wicked",
    ] {
        changes.extend(delete_children(cx.guest, dir, lease)?);
    }
    changes.extend(delete_children(
        cx.guest,
        "/var/lib/systemd/netif/leases",
        |_, _| true,
    )?);
    Ok(changes)
}

/// netplan: drop `macaddress` from each interface's `match` (and the
/// `match`/`set-name` pair when nothing else is matched, which netplan
/// requires). systemd-networkd: drop `MACAddress=` from `[Match]` of
/// `.network` files (matching any Ethernet name instead when nothing else
/// is matched) and remove `.link` files that rename by MAC. ifupdown:
/// drop `hwaddress` lines. ifcfg (RHEL): drop `HWADDR=`/`MACADDR=`.
pub(super) fn remove_mac_pinning(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for (path, kind) in children(cx.guest, "/etc/netplan")? {
        if kind == EntryKind::File && path.ends_with(".yaml") {
            let Some(text) = read_text(cx.guest, cx.reporter, &path)? else {
                continue;
            };
            match crate::untrusted::load_yaml(&text) {
                Ok(docs) => {
                    if let Some(new) = netplan_without_macs(docs) {
                        changes.extend(rewrite(&path, &text, new));
                    }
                }
                Err(e) => cx.reporter.warn(&format!(
                    "remove-network-mac-pinning: ignoring {path}, which is not valid YAML: {e}"
                )),
            }
        }
    }
    for (path, kind) in children(cx.guest, "/etc/systemd/network")? {
        if kind != EntryKind::File {
            continue;
        }
        let Some(text) = read_text(cx.guest, cx.reporter, &path)? else {
            continue;
        };
        if path.ends_with(".network") {
            changes.extend(rewrite(&path, &text, networkd_without_macs(&text)));
        } else if path.ends_with(".link") && networkd_without_macs(&text) != text {
            changes.push(Change::Delete(path));
        }
    }
    changes.extend(ifupdown_ifcfg_without_macs(cx)?);
    Ok(changes)
}

/// ifupdown's `hwaddress` and ifcfg's `HWADDR=`/`MACADDR=` lines dropped.
fn ifupdown_ifcfg_without_macs(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let drop_words = |l: &str, keys: &[&str]| {
        let first = l.trim_start().split(['=', ' ', '\t']).next().unwrap_or("");
        if keys.iter().any(|k| first.eq_ignore_ascii_case(k)) {
            vec![]
        } else {
            vec![l.to_owned()]
        }
    };
    changes.extend(edit_lines(
        cx.guest,
        cx.reporter,
        "/etc/network/interfaces",
        |l| drop_words(l, &["hwaddress"]),
    )?);
    for (path, _) in children(cx.guest, "/etc/network/interfaces.d")? {
        changes.extend(edit_lines(cx.guest, cx.reporter, &path, |l| {
            drop_words(l, &["hwaddress"])
        })?);
    }
    for (path, _) in children(cx.guest, "/etc/sysconfig/network-scripts")? {
        if path
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("ifcfg-"))
        {
            changes.extend(edit_lines(cx.guest, cx.reporter, &path, |l| {
                drop_words(l, &["HWADDR", "MACADDR"])
            })?);
        }
    }
    Ok(changes)
}

fn netplan_without_macs(mut docs: Vec<Yaml>) -> Option<String> {
    let doc = docs.first_mut()?;
    let key = |s: &str| Yaml::String(s.into());
    let mut changed = false;
    let Yaml::Hash(top) = doc else { return None };
    let Some(Yaml::Hash(network)) = top.get_mut(&key("network")) else {
        return None;
    };
    for kind in ["ethernets", "wifis", "bonds", "bridges", "vlans"] {
        let Some(Yaml::Hash(ifaces)) = network.get_mut(&key(kind)) else {
            continue;
        };
        for (_, iface) in ifaces.iter_mut() {
            let Yaml::Hash(iface) = iface else { continue };
            let Some(Yaml::Hash(m)) = iface.get_mut(&key("match")) else {
                continue;
            };
            if m.remove(&key("macaddress")).is_none() {
                continue;
            }
            changed = true;
            if m.is_empty() {
                iface.remove(&key("match"));
                iface.remove(&key("set-name"));
            }
        }
    }
    if !changed {
        return None;
    }
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(doc).ok()?;
    out.push('\n');
    Some(out)
}

fn networkd_without_macs(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut section = String::new();
    let mut match_start = None;
    let mut match_keys = 0;
    let mut dropped = false;
    let finish = |out: &mut Vec<String>, start: Option<usize>, keys: usize, dropped: bool| {
        if let Some(i) = start.filter(|_| keys == 0 && dropped) {
            out.insert(i + 1, "Name=en* eth*".to_owned());
        }
    };
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            finish(&mut out, match_start.take(), match_keys, dropped);
            section = t.to_owned();
            if section == "[Match]" {
                match_start = Some(out.len());
                match_keys = 0;
                dropped = false;
            }
        } else if section == "[Match]" && t.contains('=') && !t.starts_with('#') {
            if t.split('=')
                .next()
                .is_some_and(|k| k.trim() == "MACAddress" || k.trim() == "PermanentMACAddress")
            {
                dropped = true;
                continue;
            }
            match_keys += 1;
        }
        out.push(line.to_owned());
    }
    finish(&mut out, match_start, match_keys, dropped);
    let mut new = out.join("\n");
    if text.ends_with('\n') {
        new.push('\n');
    }
    new
}

/// Drop the guest's own names from `/etc/hosts` (cloud-init or the
/// hostname service writes the new machine's); a line left without names
/// goes. localhost lines are kept.
pub(super) fn remove_hostname_from_hosts(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let Some(hostname) = read_text(cx.guest, cx.reporter, "/etc/hostname")? else {
        return Ok(Vec::new());
    };
    let host = hostname.trim().to_owned();
    if host.is_empty() || host == "localhost" {
        return Ok(Vec::new());
    }
    let short = host.split('.').next().unwrap_or(&host).to_owned();
    let is_ours = |name: &str| {
        name == host || name == short || name.split('.').next() == Some(short.as_str())
    };
    Ok(edit_lines(cx.guest, cx.reporter, "/etc/hosts", |line| {
        let body = line.split('#').next().unwrap_or("");
        let words: Vec<&str> = body.split_whitespace().collect();
        if words.len() < 2 || !words[1..].iter().any(|w| is_ours(w)) {
            return vec![line.to_owned()];
        }
        let kept: Vec<&str> = words[1..].iter().copied().filter(|w| !is_ours(w)).collect();
        if kept.is_empty() {
            vec![]
        } else {
            vec![format!("{}\t{}", words[0], kept.join(" "))]
        }
    })?
    .into_iter()
    .collect())
}

const TEMPADDR_KEYS: [&str; 2] = [
    "net.ipv6.conf.default.use_tempaddr",
    "net.ipv6.conf.all.use_tempaddr",
];

pub(super) fn disable_ipv6_privacy(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut files = vec!["/etc/sysctl.conf".to_owned()];
    files.extend(
        children(cx.guest, "/etc/sysctl.d")?
            .into_iter()
            .filter(|(_, k)| *k == EntryKind::File)
            .map(|(p, _)| p),
    );
    let mut seen = [false; 2];
    let mut changes = Vec::new();
    for file in &files {
        changes.extend(edit_lines(cx.guest, cx.reporter, file, |line| {
            let key = line
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .replace('/', ".");
            match TEMPADDR_KEYS.iter().position(|k| *k == key) {
                Some(i) if !line.trim_start().starts_with(['#', ';']) => {
                    seen[i] = true;
                    vec![format!("{key} = 0")]
                }
                _ => vec![line.to_owned()],
            }
        })?);
    }
    if seen.iter().all(|s| *s) {
        return Ok(changes);
    }
    add_missing_tempaddr(cx, changes, seen)
}

/// Add the keys no file set to `/etc/sysctl.conf` (on top of its rewrite,
/// when it had one of them).
fn add_missing_tempaddr(
    cx: &mut Ctx<'_>,
    mut changes: Vec<Change>,
    seen: [bool; 2],
) -> Result<Vec<Change>> {
    let old = read_text(cx.guest, cx.reporter, "/etc/sysctl.conf")?.unwrap_or_default();
    let base = changes
        .iter()
        .find_map(|c| match c {
            Change::Write(p, d) if p == "/etc/sysctl.conf" => {
                Some(String::from_utf8_lossy(d).into_owned())
            }
            _ => None,
        })
        .unwrap_or_else(|| old.clone());
    let mut new = base;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    for (i, key) in TEMPADDR_KEYS.iter().enumerate() {
        if !seen[i] {
            new.push_str(&format!("{key} = 0\n"));
        }
    }
    changes.retain(|c| c.path() != "/etc/sysctl.conf");
    changes.extend(rewrite("/etc/sysctl.conf", &old, new));
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use yaml_rust2::YamlLoader;

    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::sysprep::unix::tests::{plan, written_text};

    const NETPLAN: &str = "network:\n    version: 2\n    ethernets:\n        eth0:\n            dhcp4: true\n            match:\n                macaddress: 52:54:00:12:34:56\n            set-name: eth0\n";

    #[test]
    fn mac_pinning() {
        let mut g = MemGuest::new()
            .file("/etc/netplan/50-cloud-init.yaml", NETPLAN)
            .file(
                "/etc/systemd/network/10-eth0.network",
                "[Match]\nMACAddress=52:54:00:12:34:56\n\n[Network]\nDHCP=yes\n",
            )
            .file(
                "/etc/systemd/network/20-lan.network",
                "[Match]\nName=eth1\nMACAddress=aa\n",
            )
            .file(
                "/etc/systemd/network/10-lan.link",
                "[Match]\nMACAddress=aa\n[Link]\nName=lan0\n",
            )
            .file(
                "/etc/network/interfaces",
                "auto eth0\niface eth0 inet dhcp\n    hwaddress ether aa\n",
            );
        let c = plan("remove-network-mac-pinning", &mut g);
        let get = |p: &str| written_text(&c, p);
        let np = &YamlLoader::load_from_str(&get("/etc/netplan/50-cloud-init.yaml")).unwrap()[0];
        assert_eq!(
            np["network"]["ethernets"]["eth0"]["dhcp4"].as_bool(),
            Some(true)
        );
        assert!(np["network"]["ethernets"]["eth0"]["match"].is_badvalue());
        assert!(np["network"]["ethernets"]["eth0"]["set-name"].is_badvalue());
        assert_eq!(
            get("/etc/systemd/network/10-eth0.network"),
            "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"
        );
        assert_eq!(
            get("/etc/systemd/network/20-lan.network"),
            "[Match]\nName=eth1\n"
        );
        assert!(c.contains(&Change::Delete("/etc/systemd/network/10-lan.link".into())));
        assert_eq!(
            get("/etc/network/interfaces"),
            "auto eth0\niface eth0 inet dhcp\n"
        );
    }

    #[test]
    fn hosts() {
        let mut g = MemGuest::new().file("/etc/hostname", "testvm\n").file(
            "/etc/hosts",
            "127.0.0.1\tlocalhost\n127.0.1.1\ttestvm.example.org\ttestvm\n10.0.0.5 testvm db\n::1 localhost\n",
        );
        let c = plan("remove-hostname-from-hosts", &mut g);
        assert_eq!(
            c,
            [Change::Write(
                "/etc/hosts".into(),
                b"127.0.0.1\tlocalhost\n10.0.0.5\tdb\n::1 localhost\n".to_vec()
            )]
        );
    }

    #[test]
    fn ipv6_privacy() {
        let mut g = MemGuest::new()
            .file(
                "/etc/sysctl.d/10-ipv6-privacy.conf",
                "net.ipv6.conf.all.use_tempaddr = 2\n",
            )
            .file("/etc/sysctl.conf", "# sysctl\n");
        let c = plan("disable-ipv6-privacy-extensions", &mut g);
        assert_eq!(
            c,
            [
                Change::Write(
                    "/etc/sysctl.d/10-ipv6-privacy.conf".into(),
                    b"net.ipv6.conf.all.use_tempaddr = 0\n".to_vec()
                ),
                Change::Write(
                    "/etc/sysctl.conf".into(),
                    b"# sysctl\nnet.ipv6.conf.default.use_tempaddr = 0\n".to_vec()
                ),
            ]
        );
    }

    #[test]
    fn leases() {
        let mut g = MemGuest::new()
            .file("/var/lib/dhcp/dhclient.eth0.leases", "x")
            .file("/var/lib/dhcp/other", "x")
            .file("/var/lib/NetworkManager/internal-x-eth0.lease", "x");
        let c = plan("cleanup-dhcp-leases", &mut g);
        assert_eq!(c.len(), 2, "{c:?}");
    }
}
