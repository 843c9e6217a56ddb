//! The text of a diff between two versions: one formatting for
//! `images diff` and the terminal UI's Images page.

use super::FileDiff;
use crate::guest::packages::PackageDiff;

/// What a diff says, borrowed from where it was computed.
pub struct DiffText<'a> {
    /// The two sides' names (`NAME@N` or a file).
    pub names: (&'a str, &'a str),
    pub files: &'a FileDiff,
    /// The package changes, when both sides have a package list.
    pub packages: Option<&'a PackageDiff>,
    /// The image's size, new minus old.
    pub image_delta: i64,
    /// The services the changed files trigger, when asked for.
    pub services: Option<&'a [String]>,
}

impl DiffText<'_> {
    /// `---`/`+++` names, a line per file then per package, the counts
    /// and size deltas, and `Triggers: SERVICE…` (or `none`).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("--- {}", self.names.0),
            format!("+++ {}", self.names.1),
        ];
        lines.extend(self.files.lines());
        lines.extend(self.packages.iter().flat_map(|p| p.lines()));
        lines.push(self.files.summary(self.image_delta));
        if let Some(p) = self.packages {
            lines.push(format!("packages: {}", p.summary()));
        }
        if let Some(s) = self.services {
            let s = if s.is_empty() {
                "none".into()
            } else {
                s.join(" ")
            };
            lines.push(format!("Triggers: {s}"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_files_packages_sizes_and_triggers() {
        let files = FileDiff {
            added: vec!["/etc/new".into()],
            size_delta: 4,
            ..FileDiff::default()
        };
        let packages = PackageDiff {
            changed: vec![("bash".into(), "5.1".into(), "5.2".into())],
            ..PackageDiff::default()
        };
        let services = ["sshd".to_owned()];
        let none: [String; 0] = [];
        let mut t = DiffText {
            names: ("D@1", "D@2"),
            files: &files,
            packages: Some(&packages),
            image_delta: -512,
            services: Some(&services),
        };
        let want = [
            "--- D@1",
            "+++ D@2",
            "+ /etc/new",
            "~ package bash 5.1 -> 5.2",
            "1 added, 0 removed, 0 changed; files +4 bytes, image -512 bytes",
            "packages: +0 -0 ~1",
            "Triggers: sshd",
        ];
        assert_eq!(t.lines(), want);
        (t.packages, t.services) = (None, Some(&none[..]));
        assert_eq!(t.lines()[3..], [want[4], "Triggers: none"]);
    }
}
