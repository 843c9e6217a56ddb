//! The KVM probe's verdict, kept until the host reboots: a file in
//! `/run/snf-image-creator` (root) or `$XDG_RUNTIME_DIR` (anyone else),
//! both cleared at boot. Its first line is the key the verdict holds for
//! (the boot id, qemu and the kernel probed), its second `ok` or
//! `unusable: WHY`. Anything else in the file is ignored, and a file that
//! cannot be read or written only means the probe runs again.

use std::path::{Path, PathBuf};

const NAME: &str = "kvm-verdict";

/// The probe's version: a verdict an older probe made is not recalled.
const PROBE: &str = "probe2";

/// What a verdict holds for, or `None` when the boot cannot be told apart
/// (then nothing is kept). qemu is named by its path, however the caller
/// named it, so that every caller shares one verdict.
pub fn key(qemu: &str, kernel: Option<&Path>) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let qemu = crate::process::find_program(qemu).unwrap_or_else(|| qemu.into());
    let kernel = kernel.map_or("-".into(), |k| k.to_string_lossy().into_owned());
    Some(format!(
        "{PROBE} {} {} {kernel}",
        boot.trim(),
        qemu.display()
    ))
}

/// The verdict kept for `key`, if any.
pub fn recalled(key: &Option<String>) -> Option<Result<(), String>> {
    let text = std::fs::read_to_string(file()?).ok()?;
    parse(&text, key.as_deref()?)
}

/// Keep `verdict` for `key` (best effort: written whole, then renamed).
pub fn remember(key: &Option<String>, verdict: Result<(), String>) {
    let (Some(key), Some(path)) = (key, file()) else {
        return;
    };
    let Some(dir) = path.parent() else { return };
    let tmp = dir.join(format!(".{NAME}.{}", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, format(key, &verdict)))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

fn file() -> Option<PathBuf> {
    if euid_is_root() {
        return Some(Path::new("/run/snf-image-creator").join(NAME));
    }
    let dir = std::env::var_os("XDG_RUNTIME_DIR")?;
    Some(Path::new(&dir).join(format!("snf-image-creator-{NAME}")))
}

fn euid_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn format(key: &str, verdict: &Result<(), String>) -> String {
    match verdict {
        Ok(()) => format!("{key}\nok\n"),
        Err(why) => format!("{key}\nunusable: {}\n", why.replace('\n', " ")),
    }
}

fn parse(text: &str, key: &str) -> Option<Result<(), String>> {
    let mut lines = text.lines();
    if lines.next()? != key {
        return None;
    }
    match lines.next()? {
        "ok" => Some(Ok(())),
        line => Some(Err(line.strip_prefix("unusable: ")?.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_holds_for_its_key_only() {
        let bad = Err("qemu did not answer within 20s".to_owned());
        for verdict in [Ok(()), bad] {
            let text = format("b1 /usr/bin/qemu /boot/vmlinuz-6.1", &verdict);
            assert_eq!(
                parse(&text, "b1 /usr/bin/qemu /boot/vmlinuz-6.1"),
                Some(verdict)
            );
            assert_eq!(parse(&text, "b2 /usr/bin/qemu /boot/vmlinuz-6.1"), None);
        }
        assert_eq!(parse("k\nsomething else\n", "k"), None);
        assert_eq!(parse("", "k"), None);
    }

    #[test]
    fn the_key_names_this_boot() {
        let key = key("/usr/bin/qemu", None).unwrap();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert_eq!(key, format!("probe2 {} /usr/bin/qemu -", boot.trim()));
        let by_name = super::key("sh", None).unwrap();
        assert!(
            by_name.ends_with("/sh -") && by_name.contains(" /"),
            "{by_name}"
        );
    }
}
