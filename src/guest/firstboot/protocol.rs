//! The serial protocol between the guest's first-boot runner and the host.
//!
//! The runner writes, on its first serial port, `TOKEN start` once it
//! runs, `TOKEN task NAME RC` after each step (RC its exit code), then
//! `TOKEN done`, and powers the machine off. It stops at the first step
//! that fails (the steps after it are not run) and still writes `done`.
//! `TOKEN` is random for each run, so output of an earlier boot or of
//! anything else on the console is never taken for a report. Lines not
//! holding the token are ignored; the token may follow other text on a
//! line (a console shared with the kernel).

use std::io::Read;

/// A random word the guest's reports begin with, new for each run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 16 random hexadecimal digits (from the kernel's random source).
    pub fn random() -> std::io::Result<Token> {
        let mut bytes = [0u8; 8];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The token as the guest writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One report of the guest's runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The runner runs: the guest has booted.
    Start,
    /// A step ended with this exit code.
    Task { name: String, rc: i32 },
    /// Every step ran (or one failed); the guest powers off next.
    Done,
}

/// The report a console line holds, if it holds one with `token`.
pub fn parse_line(line: &str, token: &Token) -> Option<Report> {
    let at = line.find(token.as_str())?;
    let rest = &line[at + token.as_str().len()..];
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        ["start"] => Some(Report::Start),
        ["done"] => Some(Report::Done),
        ["task", name, rc] => Some(Report::Task {
            name: (*name).to_owned(),
            rc: rc.parse().ok()?,
        }),
        _ => None,
    }
}

/// Whether `name` can travel as one word of a report: letters, digits,
/// `-`, `_` and `.`.
pub fn valid_step_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Splits console bytes, arriving in pieces, into whole lines.
#[derive(Debug, Default)]
pub struct LineBuffer {
    partial: Vec<u8>,
}

impl LineBuffer {
    /// The lines `bytes` completes (without their `\r\n` or `\n`).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            lines.push(text.trim_end_matches(['\r', '\n']).to_owned());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token("0123abcd4567ef89".into())
    }

    #[test]
    fn reads_reports() {
        let t = token();
        let line = |s: &str| parse_line(s, &t);
        assert_eq!(line("0123abcd4567ef89 start"), Some(Report::Start));
        assert_eq!(line("0123abcd4567ef89 done\r"), Some(Report::Done));
        assert_eq!(
            line("[  12.3] x 0123abcd4567ef89 task disable-teredo 0"),
            Some(Report::Task {
                name: "disable-teredo".into(),
                rc: 0
            })
        );
        assert_eq!(
            line("0123abcd4567ef89 task sysprep -1073741819"),
            Some(Report::Task {
                name: "sysprep".into(),
                rc: -1073741819
            })
        );
    }

    #[test]
    fn ignores_other_lines() {
        let t = token();
        for noise in [
            "start",
            "ffffffffffffffff start",
            "0123abcd4567ef89 task name",
            "0123abcd4567ef89 task name x",
            "0123abcd4567ef89 started",
            "",
        ] {
            assert_eq!(parse_line(noise, &t), None, "{noise:?}");
        }
    }

    #[test]
    fn random_tokens_differ() {
        let (a, b) = (Token::random().unwrap(), Token::random().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn step_names() {
        assert!(valid_step_name("microsoft-sysprep"));
        assert!(valid_step_name("kms_client.setup2"));
        for bad in ["", "two words", "a\tb", "x;y", "é"] {
            assert!(!valid_step_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn lines_come_whole() {
        let mut b = LineBuffer::default();
        assert!(b.feed(b"abc").is_empty());
        assert_eq!(b.feed(b"def\r\nxy\nz"), ["abcdef", "xy"]);
        assert_eq!(b.feed(b"\n"), ["z"]);
    }
}
