//! INI files as the AWS tools write them (`[section]`, `key = value`, `#`
//! and `;` comments), read and edited line by line: an edit changes or
//! adds the lines of one key and keeps every other line (comments, other
//! sections, other keys) as it was.

use std::path::Path;

use crate::cloud::error::CloudError;

/// The lines of an INI file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    lines: Vec<String>,
}

/// The section a `[name]` line opens.
fn section_of(line: &str) -> Option<&str> {
    let line = line.trim();
    line.strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .map(str::trim)
}

/// The key and value of a `key = value` line (not a comment).
fn entry_of(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.starts_with(['#', ';']) {
        return None;
    }
    line.split_once('=').map(|(k, v)| (k.trim(), v.trim()))
}

impl Ini {
    pub fn parse(text: &str) -> Ini {
        Ini {
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    /// Read a file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<Ini, CloudError> {
        match crate::untrusted::read_text(path, crate::untrusted::CONFIG_LIMIT) {
            Ok(text) => Ok(Ini::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ini::default()),
            Err(e) => Err(CloudError::io("reading", path, e)),
        }
    }

    /// The sections, in file order, each once.
    pub fn sections(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.lines.iter().filter_map(|l| section_of(l)) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        out
    }

    /// The line numbers of `section`'s body, each with its key and value.
    fn entries(&self, section: &str) -> Vec<(usize, &str, &str)> {
        let mut current = None;
        let mut out = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            if let Some(s) = section_of(line) {
                current = Some(s);
            } else if current == Some(section)
                && let Some((k, v)) = entry_of(line)
            {
                out.push((i, k, v));
            }
        }
        out
    }

    /// `key` of `[section]` (the last one given).
    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        let entries = self.entries(section);
        let found = entries.iter().rev().find(|(_, k, _)| *k == key);
        found.map(|(_, _, v)| (*v).to_owned())
    }

    /// Set `key` of `[section]`: its line is replaced, else a line is added
    /// at the end of the section (a new section at the end of the file).
    pub fn set(&mut self, section: &str, key: &str, value: &str) {
        let line = format!("{key} = {value}");
        let entries = self.entries(section);
        let found = entries.iter().rev().find(|(_, k, _)| *k == key);
        if let Some(i) = found.map(|(i, _, _)| *i) {
            self.lines[i] = line;
            return;
        }
        match self.section_end(section) {
            Some(end) => self.lines.insert(end, line),
            None => {
                if self.lines.last().is_some_and(|l| !l.trim().is_empty()) {
                    self.lines.push(String::new());
                }
                self.lines.push(format!("[{section}]"));
                self.lines.push(line);
            }
        }
    }

    /// Remove `key` from `[section]`.
    pub fn unset(&mut self, section: &str, key: &str) {
        let drop: Vec<usize> = (self.entries(section).into_iter())
            .filter(|(_, k, _)| *k == key)
            .map(|(i, _, _)| i)
            .collect();
        for i in drop.into_iter().rev() {
            self.lines.remove(i);
        }
    }

    /// Where a line added to `section` goes: after its last setting (a
    /// comment before the next section stays with that section). `None` when there is no such section.
    fn section_end(&self, section: &str) -> Option<usize> {
        let start = self
            .lines
            .iter()
            .position(|l| section_of(l) == Some(section))?;
        let mut end = start + 1;
        for (i, line) in self.lines.iter().enumerate().skip(start + 1) {
            if section_of(line).is_some() {
                break;
            }
            if entry_of(line).is_some() {
                end = i + 1;
            }
        }
        Some(end)
    }

    pub fn render(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_other_lines() {
        let text = "# keys\n[default]\naws_access_key_id = A\n\n; other\n[work]\nx = 1\n";
        let mut ini = Ini::parse(text);
        assert_eq!(ini.sections(), vec!["default", "work"]);
        assert_eq!(
            ini.get("default", "aws_access_key_id").as_deref(),
            Some("A")
        );
        ini.set("default", "aws_access_key_id", "B");
        ini.set("default", "aws_secret_access_key", "S");
        ini.set("new", "k", "v");
        ini.unset("work", "x");
        assert_eq!(
            ini.render(),
            "# keys\n[default]\naws_access_key_id = B\naws_secret_access_key = S\n\n; other\n[work]\n\n[new]\nk = v\n"
        );
        assert_eq!(ini.get("work", "x"), None);
    }
}
