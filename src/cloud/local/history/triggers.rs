//! Dominator's triggers: a JSON list of `{"MatchLines": [regex…],
//! "Service": name}` kept with a version; the services whose lines match
//! a changed path, in the order of the list (as Dominator's subd runs
//! them). As in Dominator, each line is a regular expression anchored at
//! the start of the path (`^` + line).

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::FileDiff;

/// One trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(rename = "MatchLines")]
    pub match_lines: Vec<String>,
    #[serde(rename = "Service")]
    pub service: String,
    #[serde(rename = "DoReboot", default, skip_serializing_if = "is_false")]
    pub do_reboot: bool,
    #[serde(rename = "HighImpact", default, skip_serializing_if = "is_false")]
    pub high_impact: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A version's triggers, in their file's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Triggers(pub Vec<Trigger>);

impl Triggers {
    /// Parse a triggers file; the error says what is wrong in it.
    pub fn parse(data: &[u8]) -> Result<Triggers, String> {
        let t: Triggers = serde_json::from_slice(data).map_err(|e| {
            format!(
                "{e} (expected Dominator's [{{\"MatchLines\": [REGEX…], \"Service\": NAME}}, …])"
            )
        })?;
        for (i, tr) in t.0.iter().enumerate() {
            if tr.service.trim().is_empty() {
                return Err(format!("trigger {} has no Service", i + 1));
            }
            for line in &tr.match_lines {
                anchored(line).map_err(|e| {
                    // The regex crate's message spans lines; keep its last.
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default();
                    let why = why.trim().trim_start_matches("error: ");
                    format!(
                        "trigger {} ({}): bad regex `{line}': {why}",
                        i + 1,
                        tr.service
                    )
                })?;
            }
        }
        Ok(t)
    }

    /// The services whose lines match one of `paths`, each once, in the
    /// order of the triggers.
    pub fn matching<'a>(&self, paths: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for tr in &self.0 {
            let res: Vec<Regex> = tr
                .match_lines
                .iter()
                .filter_map(|l| anchored(l).ok())
                .collect();
            let hit = paths
                .clone()
                .into_iter()
                .any(|p| res.iter().any(|r| r.is_match(p)));
            if hit && !out.contains(&tr.service) {
                out.push(tr.service.clone());
            }
        }
        out
    }
}

impl Triggers {
    /// The services whose lines match a path `d` adds, removes or
    /// changes, in the order of the triggers.
    pub fn for_diff(&self, d: &FileDiff) -> Vec<String> {
        let changed = d.changed.iter().map(|(p, _)| p);
        let paths = d.added.iter().chain(&d.removed).chain(changed);
        self.matching(paths.map(String::as_str))
    }
}

fn anchored(line: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{line})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_match_in_the_order_of_the_list() {
        let t = Triggers::parse(
            br#"[{"MatchLines": ["/etc/ssh/.*"], "Service": "sshd"},
                 {"MatchLines": ["/etc/motd", "/etc/issue.*"], "Service": "motd"},
                 {"MatchLines": ["/etc/planted\\.conf"], "Service": "planted", "HighImpact": true},
                 {"MatchLines": ["/etc/motd"], "Service": "motd"}]"#,
        )
        .unwrap();
        let paths = ["/etc/planted.conf", "/etc/motd", "/var/etc/ssh/x"];
        assert_eq!(t.matching(paths), ["motd", "planted"]);
        assert!(
            t.matching(["/usr/etc/motd"]).is_empty(),
            "anchored at the start"
        );
        assert_eq!(
            t.matching(["/etc/motd.d/x"]),
            ["motd"],
            "a prefix, as in Dominator"
        );
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |s: &str| Triggers::parse(s.as_bytes()).unwrap_err();
        assert!(err("{").contains("expected Dominator's"), "{}", err("{"));
        assert_eq!(
            err(r#"[{"MatchLines": ["("], "Service": "x"}]"#),
            "trigger 1 (x): bad regex `(': unclosed group"
        );
        assert_eq!(
            err(r#"[{"MatchLines": [], "Service": " "}]"#),
            "trigger 1 has no Service"
        );
        assert!(err(r#"[{"Match": [], "Service": "x"}]"#).contains("unknown field"));
        assert!(!err("[1]").contains('\n'));
    }
}
