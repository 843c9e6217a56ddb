//! Filters in Dominator's format: one regular expression per line, matched
//! against the whole path from the tree's root (`/etc/ssh/ssh_host_.*`),
//! `#` comments and blank lines ignored. A matching file or directory is
//! left out; a matching directory takes everything under it along.

use std::path::Path;

use regex::bytes::RegexSet;

use crate::process::UsageError;

/// The built-in filter: what no image should carry from the tree it is
/// made of (pseudo and runtime filesystems' contents, temporary files, swap
/// files). The directories themselves stay, empty, with their modes.
pub const DEFAULTS: &[&str] = &[
    "/proc/.+",
    "/sys/.+",
    "/dev/.+",
    "/run/.+",
    "/tmp/.+",
    "/var/tmp/.+",
    "/swapfile",
    "/swap\\.img",
];

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    lines: Vec<String>,
    set: RegexSet,
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.lines == other.lines
    }
}
impl Eq for Filter {}

impl Filter {
    /// A filter of these expressions (anchored at both ends).
    pub fn new(lines: Vec<String>) -> Result<Filter, regex::Error> {
        let set = RegexSet::new(lines.iter().map(|l| format!("(?s-u)^(?:{l})$")))?;
        Ok(Filter { lines, set })
    }

    /// The filter of a run: the defaults unless `no_defaults`, then the
    /// lines of `file`. A bad expression is a usage error naming its line.
    pub fn load(file: Option<&Path>, no_defaults: bool) -> Result<Filter, UsageError> {
        let mut lines: Vec<String> = match no_defaults {
            true => Vec::new(),
            false => DEFAULTS.iter().map(|s| (*s).to_owned()).collect(),
        };
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| UsageError(format!("--filter {}: {e}", file.display())))?;
            lines.extend(parse(&text).map_err(|(n, e)| {
                UsageError(format!(
                    "--filter {} line {n}: not a regular expression: {}",
                    file.display(),
                    e.lines().last().unwrap_or_default().trim()
                ))
            })?);
        }
        Filter::new(lines).map_err(|e| UsageError(format!("filter: {e}")))
    }

    /// Add the exact path `path` (the work directory, an output).
    pub fn with_path(self, path: &Path) -> Filter {
        let mut lines = self.lines;
        lines.push(regex::escape(&path.to_string_lossy()));
        Filter::new(lines).expect("an escaped path is a valid expression")
    }

    /// Add the work directories this tool makes in `parent` (a host's
    /// bundle must not hold its own work in progress).
    pub fn with_work_dirs(self, parent: &Path) -> Filter {
        let mut lines = self.lines;
        let dir = regex::escape(&parent.to_string_lossy());
        lines.push(format!(
            "{}/\\.snf_image_creator\\..*",
            dir.trim_end_matches('/')
        ));
        Filter::new(lines).expect("an escaped path is a valid expression")
    }

    /// Whether the path (from the tree's root, `/` first) is left out.
    pub fn excludes(&self, path: &[u8]) -> bool {
        !self.lines.is_empty() && self.set.is_match(path)
    }

    /// The expressions, one a line (`--print-filter`).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// The expressions of a filter file, or the number of the first bad line.
fn parse(text: &str) -> Result<Vec<String>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        regex::bytes::Regex::new(line).map_err(|e| (i + 1, e.to_string()))?;
        out.push(line.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_path_matches() {
        let f = Filter::new(vec!["/etc/ssh/ssh_host_.*".into(), "/home".into()]).unwrap();
        assert!(f.excludes(b"/etc/ssh/ssh_host_rsa_key"));
        assert!(!f.excludes(b"/x/etc/ssh/ssh_host_rsa_key"));
        assert!(f.excludes(b"/home"));
        assert!(!f.excludes(b"/home2"));
        assert!(!f.excludes(b"/home/u"), "children are pruned by the walk");
        assert!(f.excludes(b"/etc/ssh/ssh_host_\xff"));
    }

    #[test]
    fn defaults_keep_the_directories() {
        let f = Filter::new(DEFAULTS.iter().map(|s| s.to_string()).collect()).unwrap();
        assert!(!f.excludes(b"/tmp") && f.excludes(b"/tmp/x"));
        assert!(!f.excludes(b"/proc") && f.excludes(b"/proc/1"));
        assert!(f.excludes(b"/swapfile") && !f.excludes(b"/etc/swapfile"));
        assert!(!Filter::new(vec![]).unwrap().excludes(b"/anything"));
    }

    #[test]
    fn file_with_comments_and_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("filter");
        std::fs::write(&p, "# comment\n\n/var/cache/.*\n").unwrap();
        let f = Filter::load(Some(&p), true).unwrap();
        assert_eq!(f.lines(), ["/var/cache/.*"]);
        let f = Filter::load(Some(&p), false).unwrap();
        assert_eq!(f.lines().len(), DEFAULTS.len() + 1);
        std::fs::write(&p, "/ok\n# c\n/bad(\n").unwrap();
        let e = Filter::load(Some(&p), false).unwrap_err().0;
        assert!(e.contains("line 3"), "{e}");
        let e = Filter::load(Some(&dir.path().join("none")), false)
            .unwrap_err()
            .0;
        assert!(e.contains("--filter"), "{e}");
    }

    #[test]
    fn exact_paths_are_escaped() {
        let f = Filter::new(vec![])
            .unwrap()
            .with_path(Path::new("/var/tmp/.snf+x"));
        assert!(f.excludes(b"/var/tmp/.snf+x"));
        assert!(!f.excludes(b"/var/tmp/.snfx"));
    }
}
