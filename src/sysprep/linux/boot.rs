//! Boot configuration: fstab and boot loader edits (remove-swap-entry,
//! change-bootmenu-timeout, use-persistent-block-device-names,
//! disable-predictable-network-interface-naming, disable-serial-console).
//!
//! GRUB 2 is handled in `/boot/grub/grub.cfg`, `/boot/grub2/grub.cfg` and
//! `/etc/default/grub` (text edits: the original used augeas), GRUB legacy
//! in `/boot/grub/menu.lst` and `/etc/grub.conf`, syslinux/extlinux in the
//! configurations of the original's search list.

use anyhow::Result;

use crate::sysprep::util::{edit_lines, syslinux_configs};
use crate::sysprep::{Change, Ctx};

const GRUB2_CFGS: &[&str] = &["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"];
const GRUB_LEGACY: &[&str] = &["/boot/grub/menu.lst", "/etc/grub.conf"];
const DEFAULT_GRUB: &str = "/etc/default/grub";

/// Edit each of `paths` line by line with `edit` (one line in, one out).
fn edit_each(
    cx: &mut Ctx<'_>,
    paths: &[String],
    edit: impl Fn(&str) -> String,
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for p in paths {
        changes.extend(edit_lines(cx.guest, cx.reporter, p, |l| vec![edit(l)])?);
    }
    Ok(changes)
}

fn owned(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

/// An fstab line's fields, comments stripped.
fn fstab_fields(line: &str) -> Vec<&str> {
    line.split('#')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

pub(super) fn remove_swap_entry(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    Ok(edit_lines(cx.guest, cx.reporter, "/etc/fstab", |l| {
        let f = fstab_fields(l);
        if f.len() == 6 && f[2] == "swap" {
            vec![]
        } else {
            vec![l.to_owned()]
        }
    })?
    .into_iter()
    .collect())
}

/// `KEY=VALUE` lines of `/etc/default/grub` set to `value` (quotes kept).
fn set_shell_var(line: &str, key: &str, value: &str) -> String {
    match line.split_once('=') {
        Some((k, _)) if k.trim() == key => format!("{key}={value}"),
        _ => line.to_owned(),
    }
}

/// Replace the first word after `prefix` (case-insensitively) with `value`.
fn set_word_after(line: &str, prefix: &str, value: &str) -> String {
    let trimmed = line.trim_start();
    let lead = &line[..line.len() - trimmed.len()];
    // `get`, not indexing: the prefix's length may fall inside a
    // multi-byte character of a guest's line.
    let (Some(head), Some(rest)) = (trimmed.get(..prefix.len()), trimmed.get(prefix.len()..))
    else {
        return line.to_owned();
    };
    let rest = rest.trim();
    let matches = head.eq_ignore_ascii_case(prefix)
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit() || c == '-');
    if matches {
        format!("{lead}{head}{value}")
    } else {
        line.to_owned()
    }
}

pub(super) fn change_bootmenu_timeout(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let secs = cx.params.int("bootmenu_timeout").to_string();
    let mut changes = edit_each(cx, &owned(&[DEFAULT_GRUB]), |l| {
        set_shell_var(l, "GRUB_TIMEOUT", &secs)
    })?;
    changes.extend(edit_each(cx, &owned(GRUB_LEGACY), |l| {
        set_word_after(l, "timeout ", &secs)
    })?);
    changes.extend(edit_each(cx, &owned(GRUB2_CFGS), |l| {
        set_word_after(l, "set timeout=", &secs)
    })?);
    let deci = (cx.params.int("bootmenu_timeout") * 10).to_string();
    let syslinux = syslinux_configs(cx.guest)?;
    changes.extend(edit_each(cx, &syslinux, |l| {
        set_word_after(l, "timeout ", &deci)
    })?);
    Ok(changes)
}

/// Where a kernel command line was found: a boot loader entry, or a
/// variable of `/etc/default/grub`.
type CmdlineEdit<'f> = &'f dyn Fn(Option<&str>, &[&str]) -> Vec<String>;

/// Rewrite the kernel command lines: the GRUB 2 `linux` lines, syslinux
/// `append` lines and `GRUB_CMDLINE_LINUX*` of `/etc/default/grub`.
fn edit_cmdlines(cx: &mut Ctx<'_>, f: CmdlineEdit<'_>) -> Result<Vec<Change>> {
    let kernel_line = |l: &str, keywords: &[&str]| {
        let words: Vec<&str> = l.split_whitespace().collect();
        match words.first() {
            Some(w) if keywords.iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                let lead = &l[..l.len() - l.trim_start().len()];
                let mut out = vec![words[0].to_owned()];
                out.extend(f(None, &words[1..]));
                format!("{lead}{}", out.join(" "))
            }
            _ => l.to_owned(),
        }
    };
    let mut changes = edit_each(cx, &owned(GRUB2_CFGS), |l| {
        kernel_line(l, &["linux", "linux16", "linuxefi"])
    })?;
    let syslinux = syslinux_configs(cx.guest)?;
    changes.extend(edit_each(cx, &syslinux, |l| kernel_line(l, &["append"]))?);
    changes.extend(edit_each(cx, &owned(&[DEFAULT_GRUB]), |l| {
        edit_grub_default(l, f)
    })?);
    Ok(changes)
}

fn edit_grub_default(line: &str, f: CmdlineEdit<'_>) -> String {
    let Some((key, value)) = line.split_once('=') else {
        return line.to_owned();
    };
    if key != "GRUB_CMDLINE_LINUX" && key != "GRUB_CMDLINE_LINUX_DEFAULT" {
        return line.to_owned();
    }
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
    let inner = quote.map_or(value, |q| value.trim_matches(q));
    let words: Vec<&str> = inner.split_whitespace().collect();
    let q = quote.map(String::from).unwrap_or_default();
    format!("{key}={q}{}{q}", f(Some(key), &words).join(" "))
}

pub(super) fn disable_ifnames(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    // GRUB_CMDLINE_LINUX_DEFAULT only has an existing value rewritten: the
    // word is added to GRUB_CMDLINE_LINUX, which every entry uses.
    let set = |key: Option<&str>, words: &[&str]| {
        let mut out: Vec<String> = words
            .iter()
            .map(|w| {
                if w.starts_with("net.ifnames=") {
                    "net.ifnames=0".into()
                } else {
                    (*w).to_owned()
                }
            })
            .collect();
        let add = key != Some("GRUB_CMDLINE_LINUX_DEFAULT");
        if add && !out.iter().any(|w| w == "net.ifnames=0") {
            out.push("net.ifnames=0".into());
        }
        out
    };
    edit_cmdlines(cx, &set)
}

pub(super) fn disable_serial_console(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let drop = |_: Option<&str>, words: &[&str]| {
        words
            .iter()
            .filter(|w| {
                !(w.starts_with("console=ttyS")
                    || w.starts_with("console=ttyU")
                    || w.starts_with("earlyprintk=serial")
                    || w.starts_with("earlyprintk=ttyS"))
            })
            .map(|w| (*w).to_owned())
            .collect()
    };
    edit_cmdlines(cx, &drop)
}

/// `/dev/sdXN`, `/dev/hdXN`, `/dev/vdXN`: a name that changes with the
/// disk bus. Returns the partition number.
fn volatile_partition(dev: &str) -> Option<u32> {
    let rest = dev.strip_prefix("/dev/")?;
    let mut chars = rest.chars();
    let bus = chars.next()?;
    let d = chars.next()?;
    let letter = chars.next()?;
    let num: String = chars.collect();
    ("hsv".contains(bus) && d == 'd' && letter.is_ascii_lowercase() && !num.is_empty())
        .then(|| num.parse().ok())
        .flatten()
}

/// The UUID for a volatile device name: the filesystem libguestfs mounted
/// at `mountpoint`, else the partition of that number on the one disk.
fn uuid_for(cx: &mut Ctx<'_>, dev: &str, mountpoint: Option<&str>) -> Result<Option<String>> {
    let Some(num) = volatile_partition(dev) else {
        return Ok(None);
    };
    let mounted = mountpoint
        .and_then(|mp| cx.os.mountpoints.iter().find(|(m, _)| m == mp))
        .map(|(_, d)| d.clone());
    let device = mounted.unwrap_or_else(|| format!("/dev/sda{num}"));
    let uuid = cx.guest.fs_uuid(&device).unwrap_or_default();
    Ok((!uuid.is_empty()).then_some(uuid))
}

pub(super) fn persistent_block_names(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = fstab_uuids(cx)?;
    changes.extend(cmdline_uuids(cx)?);
    Ok(changes)
}

/// fstab entries by UUID; an entry whose filesystem is gone is commented
/// out.
fn fstab_uuids(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    if let Some(fstab) = crate::sysprep::util::read_text(cx.guest, cx.reporter, "/etc/fstab")? {
        let mut new = String::new();
        for line in fstab.lines() {
            let f = fstab_fields(line);
            let edited = match f.as_slice() {
                [dev, mp, ..] if volatile_partition(dev).is_some() => {
                    match uuid_for(cx, dev, Some(mp))? {
                        Some(uuid) => line.replacen(dev, &format!("UUID={uuid}"), 1),
                        None => format!("#{line}"),
                    }
                }
                _ => line.to_owned(),
            };
            new.push_str(&edited);
            new.push('\n');
        }
        changes.extend(crate::sysprep::util::rewrite("/etc/fstab", &fstab, new));
    }
    Ok(changes)
}

/// The partition numbers that `root=`, `resume=` and `RESUME=` name with
/// a volatile device name in the files [`cmdline_uuids`] edits.
fn referenced_partitions(cx: &mut Ctx<'_>) -> Result<std::collections::BTreeSet<u32>> {
    let mut files = owned(GRUB2_CFGS);
    files.extend(owned(GRUB_LEGACY));
    files.push(DEFAULT_GRUB.into());
    files.push("/etc/initramfs-tools/conf.d/resume".into());
    files.extend(syslinux_configs(cx.guest)?);
    let mut found = std::collections::BTreeSet::new();
    for f in files {
        let Some(text) = crate::sysprep::util::read_text(cx.guest, cx.reporter, &f)? else {
            continue;
        };
        for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            let dev = ["root=", "resume=", "RESUME="]
                .iter()
                .find_map(|p| word.strip_prefix(p));
            found.extend(dev.and_then(volatile_partition));
        }
    }
    Ok(found)
}

/// root=/dev/sdXN on every kernel command line, and RESUME= of the
/// initramfs: the UUID of the same partition.
fn cmdline_uuids(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut uuids = std::collections::BTreeMap::new();
    for n in referenced_partitions(cx)? {
        let uuid = cx
            .guest
            .fs_uuid(&format!("/dev/sda{n}"))
            .unwrap_or_default();
        if !uuid.is_empty() {
            uuids.insert(n, uuid);
        }
    }
    let fix = |w: &str| -> String {
        for prefix in ["root=", "resume=", "RESUME="] {
            if let Some(dev) = w.strip_prefix(prefix)
                && let Some(uuid) = volatile_partition(dev).and_then(|n| uuids.get(&n))
            {
                return format!("{prefix}UUID={uuid}");
            }
        }
        w.to_owned()
    };
    let map_words =
        |_: Option<&str>, words: &[&str]| words.iter().map(|w| fix(w)).collect::<Vec<String>>();
    let mut changes = edit_cmdlines(cx, &map_words)?;
    let legacy = |l: &str| {
        let t = l.trim_start();
        if t.starts_with("kernel") {
            l.split(' ').map(&fix).collect::<Vec<_>>().join(" ")
        } else {
            l.to_owned()
        }
    };
    changes.extend(edit_each(cx, &owned(GRUB_LEGACY), legacy)?);
    changes.extend(edit_each(
        cx,
        &owned(&["/etc/initramfs-tools/conf.d/resume"]),
        fix,
    )?);
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use crate::guest::memfs::MemGuest;
    use crate::guest::metadata::Metadata;
    use crate::sysprep::Params;
    use crate::sysprep::unix::tests::{plan, plan_with, written_text as text};

    const GRUB_CFG: &str = "set timeout=5\nmenuentry 'D' {\n\tlinux\t/vmlinuz root=/dev/sda2 ro console=tty0 console=ttyS0,115200n8 quiet\n}\n";
    const DEFAULT: &str = "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8 root=/dev/sda2\"\n";

    fn guest() -> MemGuest {
        MemGuest::new()
            .file("/boot/grub/grub.cfg", GRUB_CFG)
            .file("/etc/default/grub", DEFAULT)
            .file("/boot/grub/menu.lst", "timeout 5\nkernel /boot/vmlinuz root=/dev/sda2 ro\n")
            .file("/boot/extlinux/extlinux.conf", "TIMEOUT 50\nLABEL l\n  APPEND root=/dev/sda2 net.ifnames=1\n")
            .file("/etc/fstab", "/dev/sda2\t/\text4\tdefaults\t0\t1\n/dev/sda3\tnone\tswap\tsw\t0\t0\n/dev/sr0 /media/cdrom0 udf user 0 0\n")
            .fs_uuid_of("/dev/sda2", "1111-root")
            .fs_uuid_of("/dev/sda3", "3333-swap")
    }

    /// Fuzzing (grub): a multi-byte character where the prefix ends
    /// panicked on a slice inside it.
    #[test]
    fn multibyte_line_does_not_panic() {
        let line = "G\u{fffd}\u{fffd}\u{fffd}INE_LINUX=\"root=/dev/sda1\"";
        assert_eq!(super::set_word_after(line, "timeout ", "5"), line);
        assert_eq!(
            super::set_word_after("  TIMEOUT 50", "timeout ", "5"),
            "  TIMEOUT 5"
        );
        assert_eq!(
            super::set_word_after("timeout ", "timeout ", "5"),
            "timeout "
        );
    }

    #[test]
    fn timeout() {
        let params = Params::from_assignments(&["bootmenu_timeout=3".into()]).unwrap();
        let c = plan_with(
            "change-bootmenu-timeout",
            &mut guest(),
            &params,
            &mut Metadata::new(),
        );
        assert!(text(&c, "/etc/default/grub").starts_with("GRUB_TIMEOUT=3\n"));
        assert!(text(&c, "/boot/grub/grub.cfg").starts_with("set timeout=3\n"));
        assert!(text(&c, "/boot/grub/menu.lst").starts_with("timeout 3\n"));
        assert!(text(&c, "/boot/extlinux/extlinux.conf").starts_with("TIMEOUT 30\n"));
    }

    #[test]
    fn serial_and_ifnames() {
        let c = plan("disable-serial-console", &mut guest());
        assert!(
            text(&c, "/boot/grub/grub.cfg")
                .contains("\tlinux /vmlinuz root=/dev/sda2 ro console=tty0 quiet\n")
        );
        assert!(
            text(&c, "/etc/default/grub")
                .contains("GRUB_CMDLINE_LINUX=\"console=tty0 root=/dev/sda2\"")
        );
        let c = plan("disable-predictable-network-interface-naming", &mut guest());
        assert!(text(&c, "/boot/grub/grub.cfg").contains("quiet net.ifnames=0\n"));
        assert!(
            text(&c, "/boot/extlinux/extlinux.conf")
                .contains("APPEND root=/dev/sda2 net.ifnames=0\n")
        );
        let d = text(&c, "/etc/default/grub");
        assert!(d.contains("GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"), "{d}");
        assert!(d.contains("root=/dev/sda2 net.ifnames=0\"\n"), "{d}");
    }

    #[test]
    fn persistent_names_and_swap() {
        let mut g = guest();
        let c = plan("use-persistent-block-device-names", &mut g);
        let fstab = text(&c, "/etc/fstab");
        assert!(fstab.starts_with("UUID=1111-root\t/\text4"), "{fstab}");
        assert!(fstab.contains("UUID=3333-swap\tnone\tswap"), "{fstab}");
        assert!(fstab.contains("/dev/sr0 /media/cdrom0"), "{fstab}");
        assert!(text(&c, "/boot/grub/grub.cfg").contains("root=UUID=1111-root ro"));
        assert!(text(&c, "/etc/default/grub").contains("root=UUID=1111-root\""));
        assert!(
            text(&c, "/boot/grub/menu.lst").contains("kernel /boot/vmlinuz root=UUID=1111-root ro")
        );
        let c = plan("remove-swap-entry", &mut g);
        assert!(!text(&c, "/etc/fstab").contains("swap"));
    }
}
