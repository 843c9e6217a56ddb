//! The secret rules: one static table of path globs and content patterns,
//! applied by [`super::scan`]. A rule fires on a scanned file whose path
//! matches its glob (any file when it has none) and whose content matches
//! every one of its patterns.
//!
//! Globs: `*` matches within one path component, `**/` any number of
//! directories (none included), `?` one character, `{a,b}` either
//! alternative; everything else is literal. Patterns are `regex` byte
//! patterns.

use std::sync::LazyLock;

use regex::bytes::Regex;
use serde::Serialize;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    PemPrivateKey,
    OpensshPrivateKey,
    PuttyPrivateKey,
    SharedTlsKey,
    AwsCredentials,
    GcpServiceAccount,
    AzureProfile,
    Kubeconfig,
    DockerAuth,
    Netrc,
    Pgpass,
    GitCredentials,
    NpmToken,
    PypiPassword,
    AwsAccessKeyId,
    GithubToken,
    GitlabToken,
    SlackToken,
    UsablePassword,
}

impl Kind {
    /// How the kind is shown to the user.
    pub fn describe(self) -> &'static str {
        RULES
            .iter()
            .find(|r| r.kind == self)
            .map_or("secret", |r| r.what)
    }

    /// The stable name used in JSON (`aws-access-key-id`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One row of the table.
pub struct Rule {
    pub kind: Kind,
    /// Shown with each finding.
    pub what: &'static str,
    /// The guest paths the rule looks at; `None`: every scanned file.
    pub path: Option<&'static str>,
    /// Every pattern must match the content. A capture group named
    /// `label` names what was found where that is not itself secret (the
    /// account of a password).
    pub content: &'static [&'static str],
}

const PEM_KEY: &str = r"-----BEGIN (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----";

/// The rules, in the order findings are listed for a file.
pub const RULES: &[Rule] = &[
    Rule {
        kind: Kind::SharedTlsKey,
        what: "TLS key shared by every install (snakeoil)",
        path: Some("/etc/ssl/private/ssl-cert-snakeoil.key"),
        content: &[PEM_KEY],
    },
    Rule {
        kind: Kind::PemPrivateKey,
        what: "private key (PEM)",
        path: None,
        content: &[PEM_KEY],
    },
    Rule {
        kind: Kind::OpensshPrivateKey,
        what: "private key (OpenSSH)",
        path: None,
        content: &[r"-----BEGIN OPENSSH PRIVATE KEY-----"],
    },
    Rule {
        kind: Kind::PuttyPrivateKey,
        what: "private key (PuTTY)",
        path: None,
        content: &[r"(?m)^PuTTY-User-Key-File-\d+: "],
    },
    Rule {
        kind: Kind::AwsCredentials,
        what: "AWS credentials",
        path: Some("**/.aws/credentials"),
        content: &[r"(?mi)^\s*aws_secret_access_key\s*=\s*\S"],
    },
    Rule {
        kind: Kind::GcpServiceAccount,
        what: "GCP service account key",
        path: Some("**/*.json"),
        content: &[
            r#""type"\s*:\s*"service_account""#,
            r#""private_key"\s*:\s*"-----BEGIN"#,
        ],
    },
    Rule {
        kind: Kind::AzureProfile,
        what: "Azure access tokens",
        path: Some("**/.azure/*.json"),
        content: &[
            r#"(?i)"(?:accessToken|refreshToken|refresh_token|access_token|secret)"\s*:\s*"[^"]"#,
        ],
    },
    Rule {
        kind: Kind::Kubeconfig,
        what: "Kubernetes credentials",
        path: Some("**/.kube/config"),
        content: &[r"(?m)^\s*(?:token|client-key-data|password)\s*:\s*\S"],
    },
    Rule {
        kind: Kind::DockerAuth,
        what: "Docker registry credentials",
        path: Some("**/.docker/config.json"),
        content: &[r#""auths""#, r#""auth"\s*:\s*"[^"]"#],
    },
    Rule {
        kind: Kind::Netrc,
        what: ".netrc password",
        path: Some("**/.netrc"),
        content: &[r"(?:^|\s)password\s+\S"],
    },
    Rule {
        kind: Kind::Pgpass,
        what: "PostgreSQL password file",
        path: Some("**/.pgpass"),
        content: &[r"(?m)^[^#\s][^:\n]*:[^:\n]*:[^:\n]*:[^:\n]*:[^\n]"],
    },
    Rule {
        kind: Kind::GitCredentials,
        what: "git credentials",
        path: Some("**/.git-credentials"),
        content: &[r"://[^:/@\s]+:[^@\s]+@"],
    },
    Rule {
        kind: Kind::NpmToken,
        what: "npm token",
        path: Some("**/.npmrc"),
        content: &[r"(?m)(?:_authToken|_auth|_password)\s*=\s*\S"],
    },
    Rule {
        kind: Kind::PypiPassword,
        what: "PyPI password",
        path: Some("**/.pypirc"),
        content: &[r"(?m)^\s*password\s*[=:]\s*\S"],
    },
    Rule {
        kind: Kind::AwsAccessKeyId,
        what: "AWS access key ID",
        path: None,
        content: &[r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"],
    },
    Rule {
        kind: Kind::GithubToken,
        what: "GitHub token",
        path: None,
        content: &[r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{50,})\b"],
    },
    Rule {
        kind: Kind::GitlabToken,
        what: "GitLab token",
        path: None,
        content: &[r"\bglpat-[A-Za-z0-9_-]{20,}"],
    },
    Rule {
        kind: Kind::SlackToken,
        what: "Slack token",
        path: None,
        content: &[r"\bxox[baprs]-[A-Za-z0-9-]{10,}"],
    },
    Rule {
        kind: Kind::UsablePassword,
        what: "account with a usable password (or none needed)",
        // Linux's shadow file; the BSDs' master.passwd has the same first
        // two fields (FreeBSD and NetBSD lock with `*LOCKED*`, OpenBSD
        // with `*`).
        path: Some("/etc/{shadow,master.passwd}"),
        // The hash field is empty (no password needed) or does not start
        // with `!` or `*` (locked, or no password possible).
        content: &[r"(?m)^(?P<label>[^:#\n]+):(?:[^:!*\n][^:\n]*)?:"],
    },
];

/// A rule with its glob and patterns compiled.
pub struct Compiled {
    pub rule: &'static Rule,
    path: Option<Regex>,
    content: Vec<Regex>,
}

impl Compiled {
    /// Whether the rule looks at `path`.
    pub fn wants(&self, path: &str) -> bool {
        self.path
            .as_ref()
            .is_none_or(|p| p.is_match(path.as_bytes()))
    }

    /// `None` when the rule does not fire on `data`; else the labels of
    /// what it found (empty when its patterns have none).
    pub fn fires(&self, data: &[u8]) -> Option<Vec<String>> {
        if !self.content.iter().all(|re| re.is_match(data)) {
            return None;
        }
        let labels = self
            .content
            .iter()
            .flat_map(|re| re.captures_iter(data))
            .filter_map(|c| c.name("label"))
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
            .collect();
        Some(labels)
    }
}

/// The table, compiled once.
pub fn compiled() -> &'static [Compiled] {
    static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
        RULES
            .iter()
            .map(|rule| Compiled {
                rule,
                path: rule.path.map(|g| must_compile(&glob_regex(g))),
                content: rule.content.iter().map(|p| must_compile(p)).collect(),
            })
            .collect()
    });
    &COMPILED
}

/// The table is static and tested: a pattern that does not compile is a
/// bug caught by the first test that scans anything.
fn must_compile(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => panic!("secret rule pattern {pattern:?} does not compile: {e}"),
    }
}

/// A path glob as an anchored regular expression.
fn glob_regex(glob: &str) -> String {
    format!("^{}$", glob_body(glob))
}

/// A glob as an unanchored regular expression.
fn glob_body(glob: &str) -> String {
    let mut re = String::new();
    let mut rest = glob;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**/") {
            re.push_str("(?:.*/)?");
            rest = after;
            continue;
        }
        if let Some((inside, after)) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
            let alternatives: Vec<String> = inside.split(',').map(glob_body).collect();
            re.push_str(&format!("(?:{})", alternatives.join("|")));
            rest = after;
            continue;
        }
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            _ => re.push_str(&regex::escape(&c.to_string())),
        }
        rest = &rest[c.len_utf8()..];
    }
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let re = |g: &str| Regex::new(&glob_regex(g)).unwrap();
        let aws = re("**/.aws/credentials");
        assert!(aws.is_match(b"/root/.aws/credentials"));
        assert!(aws.is_match(b"/var/lib/jenkins/.aws/credentials"));
        assert!(!aws.is_match(b"/root/.aws/credentials.bak"));
        assert!(!aws.is_match(b"/root/x.aws/credentials"));
        let json = re("**/*.json");
        assert!(json.is_match(b"/opt/app/sa.json"));
        assert!(!json.is_match(b"/opt/app/sa.json.txt"));
        assert!(re("/etc/a?c").is_match(b"/etc/abc"));
        let either = re("/etc/{shadow,master.passwd}");
        assert!(either.is_match(b"/etc/shadow") && either.is_match(b"/etc/master.passwd"));
        assert!(!either.is_match(b"/etc/master-passwd") && !either.is_match(b"/etc/passwd"));
        assert!(!either.is_match(b"/etc/{shadow,master.passwd}"));
        assert!(!re("/etc/a.c").is_match(b"/etc/abc"));
    }

    #[test]
    fn every_pattern_compiles_and_every_kind_has_one_rule() {
        assert_eq!(compiled().len(), RULES.len());
        for rule in RULES {
            assert_eq!(RULES.iter().filter(|r| r.kind == rule.kind).count(), 1);
            assert!(!rule.content.is_empty(), "{:?}", rule.kind);
        }
        assert_eq!(Kind::AwsAccessKeyId.name(), "aws-access-key-id");
        assert_eq!(Kind::Netrc.describe(), ".netrc password");
    }
}
