//! The OpenSSH server configuration, for the `REMOTE_CONNECTION` key.
//!
//! `/etc/ssh/sshd_config` is read the way sshd reads it, as far as the port
//! and root logins go: keywords are case-insensitive and may be followed by
//! `=`, `#` starts a comment, the first value of a keyword wins, `Include`
//! files (with `*`/`?` wildcards in their last component, relative to
//! `/etc/ssh`) are read where they appear, and a `Match` block ends the
//! global settings of its file. Debian and Ubuntu put their overrides in
//! `/etc/ssh/sshd_config.d/*.conf`, included at the top of the main file.
//!
//! `PermitRootLogin no` drops root from the ssh entries. The original meant
//! to do that but compared a list with a string, so root always stayed.

use anyhow::Result;

use super::files;
use crate::guest::Guest;
use crate::progress::Reporter;

/// The main configuration file.
pub(super) const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// sshd's limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;
/// The most files read for one configuration: a file that includes itself
/// twice would otherwise be read 2^16 times.
const MAX_FILES: usize = 256;

/// What `REMOTE_CONNECTION` needs from the sshd configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SshdConfig {
    pub port: u16,
    pub root_login: bool,
}

impl Default for SshdConfig {
    fn default() -> Self {
        Self {
            port: 22,
            root_login: true,
        }
    }
}

/// One `Keyword arguments` line, with the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Directive {
    pub file: String,
    /// Lower-cased.
    pub keyword: String,
    pub args: String,
}

/// Split a configuration line into a lower-cased keyword and its
/// arguments; `None` for blank and comment lines.
pub(super) fn parse_line(line: &str) -> Option<(String, String)> {
    let line = files::strip_comment(line);
    if line.is_empty() {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let args = rest.strip_prefix('=').unwrap_or(rest).trim();
    Some((keyword.to_ascii_lowercase(), args.to_owned()))
}

/// The settings that the directives, in order, amount to.
pub(super) fn settings(directives: &[Directive], reporter: &dyn Reporter) -> SshdConfig {
    let mut config = SshdConfig::default();
    let (mut port_seen, mut root_seen) = (false, false);
    for d in directives {
        let value = d.args.split_whitespace().next().unwrap_or("");
        match d.keyword.as_str() {
            "port" if !port_seen => match value.parse::<u16>() {
                Ok(port) if port > 0 => {
                    config.port = port;
                    port_seen = true;
                }
                _ => reporter.warn(&format!("Ignoring invalid Port `{}` in {}", d.args, d.file)),
            },
            "permitrootlogin" if !root_seen => {
                config.root_login = !value.eq_ignore_ascii_case("no");
                root_seen = true;
            }
            _ => {}
        }
    }
    config
}

/// Read the sshd configuration of the guest (defaults when it has none).
pub(super) fn load(guest: &mut dyn Guest, reporter: &dyn Reporter) -> Result<SshdConfig> {
    let mut directives = Vec::new();
    let mut files = 0;
    read_directives(
        guest,
        SSHD_CONFIG,
        (0, &mut files),
        &mut directives,
        reporter,
    )?;
    Ok(settings(&directives, reporter))
}

/// Read the directives of `path`, `depth` includes down, `files` files
/// having been read so far.
fn read_directives(
    guest: &mut dyn Guest,
    path: &str,
    (depth, files): (usize, &mut usize),
    out: &mut Vec<Directive>,
    reporter: &dyn Reporter,
) -> Result<()> {
    *files += 1;
    if *files > MAX_FILES {
        if *files == MAX_FILES + 1 {
            reporter.warn(&format!(
                "Ignoring Include of {path} and after: more than {MAX_FILES} sshd configuration files"
            ));
        }
        return Ok(());
    }
    let Some(text) = files::read_text(guest, path, reporter)? else {
        return Ok(());
    };
    for (keyword, args) in text.lines().filter_map(parse_line) {
        match keyword.as_str() {
            "match" => break,
            "include" if depth >= MAX_INCLUDE_DEPTH => {
                reporter.warn(&format!("Ignoring Include in {path}: too deeply nested"));
            }
            "include" => {
                for pattern in args.split_whitespace() {
                    for file in expand_include(guest, pattern)? {
                        read_directives(guest, &file, (depth + 1, &mut *files), out, reporter)?;
                    }
                }
            }
            _ => out.push(Directive {
                file: path.to_owned(),
                keyword,
                args,
            }),
        }
    }
    Ok(())
}

/// The files an `Include` argument names, sorted as sshd's glob sorts them.
fn expand_include(guest: &mut dyn Guest, pattern: &str) -> Result<Vec<String>> {
    let pattern = if pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        format!("/etc/ssh/{pattern}")
    };
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", &pattern));
    if !name.contains(['*', '?']) {
        return Ok(vec![pattern.clone()]);
    }
    let dir = if dir.is_empty() { "/" } else { dir };
    let mut found: Vec<String> = files::list_dir(guest, dir)?
        .into_iter()
        .filter(|(entry, _)| wildcard_match(name, entry))
        .map(|(entry, _)| files::join(dir, &entry))
        .collect();
    found.sort();
    Ok(found)
}

/// Shell-style matching of `*` and `?` (no brackets); like glob(3), a
/// wildcard does not match a leading dot.
pub(super) fn wildcard_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &n)
}

/// The ssh entries of `REMOTE_CONNECTION`: one per user allowed to log in,
/// or a bare `ssh:port=N` when there is none.
pub(super) fn ssh_entries(config: SshdConfig, users: &[String]) -> Vec<String> {
    let port = config.port;
    let entries: Vec<String> = users
        .iter()
        .filter(|u| config.root_login || u.as_str() != "root")
        .map(|u| format!("ssh:port={port},user={u}"))
        .collect();
    if entries.is_empty() {
        vec![format!("ssh:port={port}")]
    } else {
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::{NullReporter, RecordingReporter};

    fn load_from(g: &mut MemGuest) -> SshdConfig {
        load(g, &NullReporter).unwrap()
    }

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn lines() {
        assert_eq!(
            parse_line("Port 2222 # custom"),
            Some(("port".into(), "2222".into()))
        );
        assert_eq!(
            parse_line("  port=2200"),
            Some(("port".into(), "2200".into()))
        );
        assert_eq!(
            parse_line("Port = 2201"),
            Some(("port".into(), "2201".into()))
        );
        assert_eq!(parse_line("#Port 22"), None);
        assert_eq!(parse_line("   "), None);
    }

    /// Fuzzing (sshd_config) timed out on a file that includes itself
    /// twice: 2^16 reads. The files read are now capped.
    #[test]
    fn a_file_including_itself_is_read_a_bounded_number_of_times() {
        let mut g = MemGuest::new().file(
            SSHD_CONFIG,
            "Port=2222\nInclude sshd_config\nInclude sshd_config\nPort 23\n",
        );
        let r = RecordingReporter::default();
        assert_eq!(load(&mut g, &r).unwrap().port, 2222);
        let warnings = r.warnings();
        let limit = format!(
            "Ignoring Include of {SSHD_CONFIG} and after: more than {MAX_FILES} sshd configuration files"
        );
        assert_eq!(warnings.iter().filter(|w| **w == limit).count(), 1);
        assert!(warnings.len() <= MAX_FILES + 1, "{}", warnings.len());
    }

    #[test]
    fn defaults_without_a_config() {
        assert_eq!(load_from(&mut MemGuest::new()), SshdConfig::default());
    }

    #[test]
    fn port_with_comments_and_first_value_wins() {
        let mut g = MemGuest::new().file(
            SSHD_CONFIG,
            "#Port 22\nPort 2222   # moved\nPort 2223\nPermitRootLogin no\nPermitRootLogin yes\n",
        );
        let c = load_from(&mut g);
        assert_eq!(
            c,
            SshdConfig {
                port: 2222,
                root_login: false
            }
        );
    }

    #[test]
    fn includes_come_first_and_match_blocks_are_skipped() {
        let mut g = MemGuest::new()
            .file(
                SSHD_CONFIG,
                "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n\
                 Match User backup\n  PermitRootLogin no\n",
            )
            .file("/etc/ssh/sshd_config.d/50-cloud.conf", "Port 2022\n")
            .file("/etc/ssh/sshd_config.d/10-first.conf", "# nothing\n")
            .file("/etc/ssh/sshd_config.d/README", "Port 1\n");
        assert_eq!(
            load_from(&mut g),
            SshdConfig {
                port: 2022,
                root_login: true
            }
        );
    }

    #[test]
    fn relative_includes() {
        let mut g = MemGuest::new()
            .file(SSHD_CONFIG, "Include extra.conf\n")
            .file("/etc/ssh/extra.conf", "PermitRootLogin=no\n");
        assert!(!load_from(&mut g).root_login);
    }

    #[test]
    fn self_include_stops() {
        let mut g = MemGuest::new().file(SSHD_CONFIG, "Include /etc/ssh/sshd_config\n");
        let r = RecordingReporter::default();
        assert_eq!(load(&mut g, &r).unwrap(), SshdConfig::default());
        assert_eq!(r.warnings().len(), 1);
    }

    #[test]
    fn invalid_port_is_warned_about() {
        let mut g = MemGuest::new().file(SSHD_CONFIG, "Port ssh\nPort 70000\n");
        let r = RecordingReporter::default();
        assert_eq!(load(&mut g, &r).unwrap().port, 22);
        assert_eq!(
            r.warnings()[0],
            "Ignoring invalid Port `ssh` in /etc/ssh/sshd_config"
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "50-cloud.conf"));
        assert!(!wildcard_match("*.conf", "50-cloud.conf.bak"));
        assert!(!wildcard_match("*.conf", ".hidden.conf"));
        assert!(wildcard_match("1?-x", "10-x"));
    }

    #[test]
    fn entries() {
        let c = SshdConfig {
            port: 2222,
            root_login: false,
        };
        assert_eq!(
            ssh_entries(c, &users(&["root", "alice"])),
            ["ssh:port=2222,user=alice"]
        );
        assert_eq!(ssh_entries(c, &users(&["root"])), ["ssh:port=2222"]);
        let open = SshdConfig::default();
        assert_eq!(
            ssh_entries(open, &users(&["root", "alice"])),
            ["ssh:port=22,user=root", "ssh:port=22,user=alice"]
        );
        assert_eq!(ssh_entries(open, &[]), ["ssh:port=22"]);
    }
}
