//! System preparation parameters: typed settings that tasks read
//! (`--sysprep-param NAME=VALUE`).
//!
//! Every parameter is a row of [`PARAMS`], with a type, a default and a
//! description. Values given by the user are parsed and checked here, when
//! the plan is made, so that a bad value stops the run before the media is
//! touched. Names are the documented lower-case ones (the original
//! upper-cased them and then ignored every one).

use std::collections::BTreeMap;
use std::path::Path;

use super::closest;
use crate::guest::firstboot::BootParams;
use crate::process::UsageError;

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// An integer greater than zero.
    PosInt,
    /// Any text.
    String,
    /// An existing regular file or block device on the host, or empty.
    File,
    /// An existing directory on the host, or empty.
    Dir,
    /// A comma-separated list (`\,` for a literal comma) of non-empty items
    /// of the inner type.
    List(&'static ParamKind),
}

impl ParamKind {
    /// The name shown by `--print-sysprep-params` (`posint`, `list:string`…).
    pub fn name(&self) -> String {
        match self {
            ParamKind::PosInt => "posint".into(),
            ParamKind::String => "string".into(),
            ParamKind::File => "file".into(),
            ParamKind::Dir => "dir".into(),
            ParamKind::List(inner) => format!("list:{}", inner.name()),
        }
    }
}

/// One parameter: a row of [`PARAMS`].
#[derive(Debug)]
pub struct ParamSpec {
    /// Lower-case snake-case name, as given to `--sysprep-param`.
    pub name: &'static str,
    pub kind: ParamKind,
    /// The default, written as the user would write it.
    pub default: &'static str,
    pub description: &'static str,
}

/// A parsed, checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Int(u64),
    Text(String),
    List(Vec<String>),
}

/// Every parameter a task may read.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "sensitive_userdata",
        kind: ParamKind::List(&ParamKind::String),
        default: ".history,.sh_history,.bash_history,.zsh_history,.local/share/fish/fish_history,\
                  .python_history,.mysql_history,.psql_history,.lesshst,.viminfo,.gnupg,.ssh,\
                  .kamakirc,.kamaki.history,.kamaki.log",
        description: "Files in the home directory of each user that should be removed \
                      (a directory: every file inside it)",
    },
    ParamSpec {
        name: "bootmenu_timeout",
        kind: ParamKind::PosInt,
        default: "10",
        description: "Boot menu timeout in seconds",
    },
    ParamSpec {
        name: "powerbtn_action",
        kind: ParamKind::String,
        default: "/sbin/shutdown -h now",
        description: "Action to run when the ACPI power button is pressed",
    },
    ParamSpec {
        name: "default_user",
        kind: ParamKind::String,
        default: "user",
        description: "Name of the default cloud-init user",
    },
    ParamSpec {
        name: "authorized_keys",
        kind: ParamKind::File,
        default: "",
        description: "A file of SSH public keys installed as root's authorized_keys \
                      by add-root-authorized-keys",
    },
    ParamSpec {
        name: "mem",
        kind: ParamKind::PosInt,
        default: "1024",
        description: "Memory in MiB of the VM that boots a Windows guest for its online tasks",
    },
    ParamSpec {
        name: "smp",
        kind: ParamKind::PosInt,
        default: "1",
        description: "Number of CPUs of the VM that boots a Windows guest for its online tasks",
    },
    ParamSpec {
        name: "boot_timeout",
        kind: ParamKind::PosInt,
        default: "600",
        description: "Seconds to wait for a booted Windows guest to report on its serial port",
    },
    ParamSpec {
        name: "shutdown_timeout",
        kind: ParamKind::PosInt,
        default: "300",
        description: "Seconds to wait for a booted Windows guest to power off",
    },
    ParamSpec {
        name: "virtio_timeout",
        kind: ParamKind::PosInt,
        default: "900",
        description: "Seconds a booted Windows guest may stay silent on its serial port when \
                      install-virtio staged VirtIO drivers: Plug and Play installs them during \
                      that boot, so the limit is the larger of boot_timeout and virtio_timeout",
    },
    ParamSpec {
        name: "virtio",
        kind: ParamKind::Dir,
        default: "",
        description: "A directory of VirtIO drivers for Windows (the extracted virtio-win \
                      media) to install into the guest; set by --install-virtio",
    },
];

/// The spec of a parameter, by name.
pub fn spec(name: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.name == name)
}

/// Every parameter's value: the defaults, overridden by the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<&'static str, ParamValue>,
    /// The text of each value, for `--print-sysprep-params`.
    shown: BTreeMap<&'static str, String>,
}

impl Default for Params {
    fn default() -> Self {
        let mut params = Params {
            values: BTreeMap::new(),
            shown: BTreeMap::new(),
        };
        for p in PARAMS {
            let value = parse_value(p.kind, p.default, false)
                .unwrap_or_else(|e| panic!("default of {}: {e}", p.name));
            params.values.insert(p.name, value);
            params.shown.insert(p.name, p.default.to_owned());
        }
        params
    }
}

impl Params {
    /// The defaults with `NAME=VALUE` assignments applied, each checked.
    pub fn from_assignments(assignments: &[String]) -> Result<Params, UsageError> {
        let mut params = Params::default();
        for a in assignments {
            let Some((name, value)) = a.split_once('=') else {
                return Err(UsageError(format!(
                    "--sysprep-param {a}: expected NAME=VALUE (see --print-sysprep-params)"
                )));
            };
            let Some(p) = spec(name) else {
                let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
                let hint = closest(name, &names)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                return Err(UsageError(format!(
                    "--sysprep-param {a}: unknown parameter `{name}`{hint} (see --print-sysprep-params)"
                )));
            };
            let parsed = parse_value(p.kind, value, true)
                .map_err(|e| UsageError(format!("--sysprep-param {a}: {e}")))?;
            params.values.insert(p.name, parsed);
            params.shown.insert(p.name, value.to_owned());
        }
        Ok(params)
    }

    /// Set the directory parameter `name` to `dir`, which the caller
    /// checked (`--install-virtio DIR` sets `virtio`).
    pub fn set_dir(&mut self, name: &str, dir: &Path) -> Result<(), UsageError> {
        let Some(p) = spec(name).filter(|p| p.kind == ParamKind::Dir) else {
            panic!("parameter {name} is not a directory");
        };
        let Some(text) = dir.to_str() else {
            return Err(UsageError(format!(
                "{}: the path is not valid UTF-8: rename the directory",
                dir.display()
            )));
        };
        self.values
            .insert(p.name, ParamValue::Text(text.to_owned()));
        self.shown.insert(p.name, text.to_owned());
        Ok(())
    }

    /// A positive integer parameter.
    pub fn int(&self, name: &str) -> u64 {
        match self.values.get(name) {
            Some(ParamValue::Int(n)) => *n,
            other => panic!("parameter {name} is not an integer: {other:?}"),
        }
    }

    /// A string, file or directory parameter.
    pub fn text(&self, name: &str) -> &str {
        match self.values.get(name) {
            Some(ParamValue::Text(s)) => s,
            other => panic!("parameter {name} is not text: {other:?}"),
        }
    }

    /// A list parameter.
    pub fn list(&self, name: &str) -> &[String] {
        match self.values.get(name) {
            Some(ParamValue::List(l)) => l,
            other => panic!("parameter {name} is not a list: {other:?}"),
        }
    }

    /// The online phase's VM size and limits: the parameters `mem`,
    /// `smp`, `boot_timeout` and `shutdown_timeout` where [`PARAMS`] has
    /// them (the Windows tasks that boot the guest read them), else
    /// [`BootParams::default`]'s. A boot that `installs_drivers` (VirtIO
    /// drivers staged for Plug and Play) may stay silent up to the larger
    /// of `boot_timeout` and `virtio_timeout`.
    pub fn boot(&self, installs_drivers: bool) -> BootParams {
        let d = BootParams::default();
        let int = |name: &str, default: u64| match self.values.get(name) {
            Some(ParamValue::Int(n)) => *n,
            _ => default,
        };
        let boot = (d.boot_param, int(d.boot_param, d.boot_timeout));
        let virtio = ("virtio_timeout", int("virtio_timeout", 0));
        let (boot_param, boot_timeout) = if installs_drivers && virtio.1 > boot.1 {
            virtio
        } else {
            boot
        };
        BootParams {
            mem_mib: int("mem", d.mem_mib),
            smp: int("smp", d.smp),
            boot_timeout,
            boot_param,
            shutdown_timeout: int("shutdown_timeout", d.shutdown_timeout),
        }
    }

    /// The value as the user wrote it (or the default).
    pub fn shown(&self, name: &str) -> &str {
        self.shown.get(name).map_or("", String::as_str)
    }
}

/// Why a parameter's value is refused.
#[derive(Debug, thiserror::Error)]
pub enum BadValue {
    #[error("`{0}` is not a positive integer")]
    NotPositive(String),
    #[error("`{0}` has an empty item")]
    EmptyItem(String),
    #[error("lists of lists are not supported")]
    NestedList,
    #[error("{path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is not a directory")]
    NotDir(String),
    #[error("{0} is not a regular file or a block device")]
    NotFile(String),
}

/// Parse and check one value. Host paths are checked only for user values
/// (`check_paths`), defaults being empty.
fn parse_value(kind: ParamKind, text: &str, check_paths: bool) -> Result<ParamValue, BadValue> {
    match kind {
        ParamKind::PosInt => match text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(ParamValue::Int(n)),
            _ => Err(BadValue::NotPositive(text.to_owned())),
        },
        ParamKind::String => Ok(ParamValue::Text(text.to_owned())),
        ParamKind::File | ParamKind::Dir => {
            if check_paths {
                check_path(kind, text)?;
            }
            Ok(ParamValue::Text(text.to_owned()))
        }
        ParamKind::List(inner) => {
            let items = split_list(text);
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if item.is_empty() {
                    return Err(BadValue::EmptyItem(text.to_owned()));
                }
                match parse_value(*inner, &item, check_paths)? {
                    ParamValue::Text(t) => out.push(t),
                    ParamValue::Int(n) => out.push(n.to_string()),
                    ParamValue::List(_) => return Err(BadValue::NestedList),
                }
            }
            Ok(ParamValue::List(out))
        }
    }
}

fn check_path(kind: ParamKind, text: &str) -> Result<(), BadValue> {
    if text.is_empty() {
        return Ok(());
    }
    let path = Path::new(text);
    let meta = std::fs::metadata(path).map_err(|source| BadValue::Unreadable {
        path: text.to_owned(),
        source,
    })?;
    let ok = match kind {
        ParamKind::Dir => meta.is_dir(),
        _ => {
            use std::os::unix::fs::FileTypeExt;
            meta.is_file() || meta.file_type().is_block_device()
        }
    };
    if ok {
        Ok(())
    } else if kind == ParamKind::Dir {
        Err(BadValue::NotDir(text.to_owned()))
    } else {
        Err(BadValue::NotFile(text.to_owned()))
    }
}

/// Split on commas, `\,` being a literal comma.
fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                cur.push(',');
            }
            ',' => items.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    items.push(cur);
    items.into_iter().map(|s| s.trim().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let p = Params::default();
        assert_eq!(p.int("bootmenu_timeout"), 10);
        assert_eq!(p.text("default_user"), "user");
        assert!(
            p.list("sensitive_userdata")
                .contains(&".bash_history".to_owned())
        );
        assert!(
            p.list("sensitive_userdata")
                .contains(&".local/share/fish/fish_history".to_owned())
        );
    }

    #[test]
    fn user_values() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::write(&keys, "ssh-ed25519 AAAA x\n").unwrap();
        let p = Params::from_assignments(&[
            "bootmenu_timeout=3".into(),
            "default_user=cloud".into(),
            r"sensitive_userdata=.a\,b, .c".into(),
            format!("authorized_keys={}", keys.display()),
        ])
        .unwrap();
        assert_eq!(p.int("bootmenu_timeout"), 3);
        assert_eq!(p.text("default_user"), "cloud");
        assert_eq!(p.list("sensitive_userdata"), [".a,b", ".c"]);
        assert_eq!(p.shown("bootmenu_timeout"), "3");
    }

    #[test]
    fn bad_values() {
        let err = |a: &str| Params::from_assignments(&[a.into()]).unwrap_err().0;
        assert!(err("bootmenu_timeout=0").contains("not a positive integer"));
        assert!(err("bootmenu_timeout=ten").contains("`ten`"));
        assert!(err("BOOTMENU_TIMEOUT=3").contains("did you mean `bootmenu_timeout`"));
        assert!(err("default_usr=x").contains("did you mean `default_user`"));
        assert!(err("sensitive_userdata=.a,,.b").contains("empty item"));
        assert!(err("authorized_keys=/nonexistent/keys").contains("/nonexistent/keys"));
        assert!(err("authorized_keys=/tmp").contains("not a regular file"));
        assert!(err("noequals").contains("NAME=VALUE"));
        assert!(parse_value(ParamKind::Dir, "/etc/passwd", true).is_err());
        assert!(parse_value(ParamKind::Dir, "/tmp", true).is_ok());
    }

    #[test]
    fn boot_params() {
        let mut p = Params::default();
        assert_eq!(p.boot(false), BootParams::default());
        p.values.insert("boot_timeout", ParamValue::Int(30));
        p.values.insert("mem", ParamValue::Int(2048));
        let b = p.boot(false);
        assert_eq!(
            (b.mem_mib, b.boot_timeout, b.boot_param, b.shutdown_timeout),
            (2048, 30, "boot_timeout", 300)
        );
    }

    #[test]
    fn a_boot_that_installs_drivers_waits_up_to_virtio_timeout() {
        let p = Params::default();
        let b = p.boot(true);
        assert_eq!((b.boot_timeout, b.boot_param), (900, "virtio_timeout"));
        assert_eq!(p.boot(false).boot_timeout, 600, "no drivers: boot_timeout");
        // The larger of the two applies, named when it runs out.
        let p = Params::from_assignments(&["boot_timeout=1200".into()]).unwrap();
        let b = p.boot(true);
        assert_eq!((b.boot_timeout, b.boot_param), (1200, "boot_timeout"));
        let p = Params::from_assignments(&["virtio_timeout=5".into()]).unwrap();
        assert_eq!(p.boot(true).boot_timeout, 600);
    }

    #[test]
    fn kind_names() {
        assert_eq!(ParamKind::List(&ParamKind::String).name(), "list:string");
        assert_eq!(ParamKind::PosInt.name(), "posint");
    }
}
