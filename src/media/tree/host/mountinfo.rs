//! `/proc/self/mountinfo`, parsed: one [`Mount`] a line.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The device's major and minor numbers (major 0: no block device,
    /// or btrfs's anonymous device).
    pub dev: (u32, u32),
    /// The directory of the filesystem mounted here (`/` unless a bind
    /// mount of a subdirectory or a btrfs subvolume).
    pub root: PathBuf,
    pub point: PathBuf,
    pub fstype: String,
    /// What was mounted (`/dev/sda1`, `server:/export`, `proc`).
    pub source: String,
}

/// The mounts of `text`, in order; lines that do not parse are left out.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    let (maj, min) = f.get(2)?.split_once(':')?;
    let mut r = right.split(' ');
    Some(Mount {
        dev: (maj.parse().ok()?, min.parse().ok()?),
        root: unescape(f.get(3)?),
        point: unescape(f.get(4)?),
        fstype: r.next()?.to_owned(),
        source: r.next().unwrap_or("").to_owned(),
    })
}

/// Undo the kernel's octal escapes (`\040` for a space).
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let text = "36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw\n\
                    garbage\n\
                    22 1 0:21 / /proc rw,nosuid - proc proc rw\n";
        let m = parse(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].dev, (98, 0));
        assert_eq!(m[0].root, PathBuf::from("/mnt1"));
        assert_eq!(m[0].point, PathBuf::from("/mnt x"));
        assert_eq!(m[0].fstype, "ext3");
        assert_eq!(m[0].source, "/dev/root");
        assert_eq!(m[1].fstype, "proc");
    }
}
