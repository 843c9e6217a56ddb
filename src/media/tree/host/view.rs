//! What the planner reads of the host: the mount table, `/sys/class/block`
//! and blkid's answers. A trait, so that the planner's tests read recorded
//! samples instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host as the planner sees it. Paths under `/sys` are relative to it
/// (`class/block/sda1/partition`).
pub trait HostView {
    /// The text of `/proc/self/mountinfo`.
    fn mountinfo(&self) -> std::io::Result<String>;
    /// A file under `/sys`, trimmed.
    fn sys(&self, path: &str) -> Option<String>;
    /// The names in a directory under `/sys`.
    fn sys_dir(&self, path: &str) -> Vec<String>;
    /// Where a symbolic link under `/sys` leads.
    fn sys_link(&self, path: &str) -> Option<String>;
    /// The kernel's name of a device node (`/dev/mapper/vg-root` → `dm-0`).
    fn dev_name(&self, node: &str) -> Option<String>;
    /// blkid's `KEY=value` answers about the device `/dev/NAME`.
    fn blkid(&self, name: &str) -> BTreeMap<String, String>;
}

/// The machine this runs on.
pub struct LiveHost {
    pub sys: PathBuf,
}

impl Default for LiveHost {
    fn default() -> Self {
        LiveHost {
            sys: PathBuf::from("/sys"),
        }
    }
}

impl HostView for LiveHost {
    fn mountinfo(&self) -> std::io::Result<String> {
        std::fs::read_to_string("/proc/self/mountinfo")
    }

    fn sys(&self, path: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.sys.join(path)).ok()?;
        Some(text.trim().to_owned())
    }

    fn sys_dir(&self, path: &str) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.sys.join(path)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    fn sys_link(&self, path: &str) -> Option<String> {
        let target = std::fs::read_link(self.sys.join(path)).ok()?;
        target.into_os_string().into_string().ok()
    }

    fn dev_name(&self, node: &str) -> Option<String> {
        let real = std::fs::canonicalize(node).ok()?;
        let name = real.strip_prefix("/dev").ok()?.to_str()?;
        Some(name.to_owned())
    }

    fn blkid(&self, name: &str) -> BTreeMap<String, String> {
        let dev = Path::new("/dev").join(name);
        let out = Command::new("blkid")
            .args(["-p", "-o", "export"])
            .arg(&dev)
            .output();
        match out {
            Ok(o) => parse_export(&String::from_utf8_lossy(&o.stdout)),
            Err(_) => BTreeMap::new(),
        }
    }
}

/// `blkid -o export` output: `KEY=value` lines.
pub fn parse_export(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
