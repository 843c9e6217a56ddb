//! Accounts that can log in with a password: the `USERS` key before
//! cloud-init has its say. snf-image resets the password of each of them
//! when it deploys the image.
//!
//! Linux reads `/etc/shadow`, the BSDs `/etc/master.passwd`; both start each
//! line with `name:password:`. A password field that holds a hash, or is
//! empty (login without a password), makes the account usable. One that is
//! locked (`!` before a hash, or FreeBSD's `*LOCKED*`) is skipped with a
//! warning, since someone gave that account a password and may wonder where
//! it went. Accounts that never had a password (`*`, `!`, `!!`, `!*`: the
//! system accounts) are skipped silently: warning about each of them would
//! bury the warnings that matter.

use anyhow::Result;

use super::files;
use crate::guest::Guest;
use crate::progress::Reporter;

/// What a password field says about logging in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Password {
    /// A hash, or empty: the account can log in.
    Usable,
    /// A hash behind a lock: the account had a password.
    Locked,
    /// No password was ever set (`*`, `!`, `!!`…).
    Unset,
}

/// Classify a `/etc/shadow` or `/etc/master.passwd` password field.
pub(super) fn classify(field: &str) -> Password {
    if field.is_empty() {
        return Password::Usable;
    }
    if let Some(rest) = field.strip_prefix("*LOCKED*") {
        return if rest.is_empty() || rest.starts_with('*') {
            Password::Unset
        } else {
            Password::Locked
        };
    }
    let behind_lock = field.trim_start_matches('!');
    if behind_lock.len() < field.len() {
        if behind_lock.is_empty() || behind_lock.starts_with('*') {
            Password::Unset
        } else {
            Password::Locked
        }
    } else if field.starts_with('*') {
        Password::Unset
    } else {
        Password::Usable
    }
}

/// The accounts of a password database, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Accounts {
    pub usable: Vec<String>,
    pub locked: Vec<String>,
}

/// Parse `/etc/shadow` or `/etc/master.passwd` text. Blank lines, `#`
/// comments and lines without a password field are skipped.
pub(super) fn parse(text: &str) -> Accounts {
    let mut accounts = Accounts::default();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(password)) = (fields.next(), fields.next()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        match classify(password) {
            Password::Usable => accounts.usable.push(name.to_owned()),
            Password::Locked => accounts.locked.push(name.to_owned()),
            Password::Unset => {}
        }
    }
    accounts
}

/// The usable accounts in `path`, warning about locked ones; `root_first`
/// moves root to the front (the BSD order). A missing database is warned
/// about and yields no users.
pub(super) fn usable_users(
    guest: &mut dyn Guest,
    path: &str,
    root_first: bool,
    reporter: &dyn Reporter,
) -> Result<Vec<String>> {
    let Some(text) = files::read_text(guest, path, reporter)? else {
        reporter.warn(&format!("Unable to collect user info: {path} is missing"));
        return Ok(Vec::new());
    };
    let accounts = parse(&text);
    for name in &accounts.locked {
        reporter.warn(&format!("Ignoring locked {name} account"));
    }
    let mut users = accounts.usable;
    if root_first && let Some(pos) = users.iter().position(|u| u == "root") {
        let root = users.remove(pos);
        users.insert(0, root);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::progress::RecordingReporter;

    const SHADOW: &str = "\
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:$6$salt$hash:19000:0:99999:7:::
bob:!$6$salt$hash:19000:0:99999:7:::
carol::19000:0:99999:7:::
sshd:!!:19000::::::
tss:!*:19000::::::
dave:!:19000:0:99999:7:::

broken-line
";

    #[test]
    fn password_fields() {
        assert_eq!(classify("$6$x$y"), Password::Usable);
        assert_eq!(classify(""), Password::Usable);
        assert_eq!(classify("!$6$x$y"), Password::Locked);
        assert_eq!(classify("!!$6$x$y"), Password::Locked);
        assert_eq!(classify("*LOCKED*$6$x$y"), Password::Locked);
        for unset in ["*", "!", "!!", "!*", "*LOCKED*", "*LOCKED**"] {
            assert_eq!(classify(unset), Password::Unset, "{unset}");
        }
    }

    #[test]
    fn shadow_accounts() {
        let accounts = parse(SHADOW);
        assert_eq!(accounts.usable, ["alice", "carol"]);
        assert_eq!(accounts.locked, ["bob"]);
    }

    #[test]
    fn locked_accounts_are_warned_about() {
        let mut g = MemGuest::new().file("/etc/shadow", SHADOW);
        let r = RecordingReporter::default();
        let users = usable_users(&mut g, "/etc/shadow", false, &r).unwrap();
        assert_eq!(users, ["alice", "carol"]);
        assert_eq!(r.warnings(), ["Ignoring locked bob account"]);
    }

    #[test]
    fn bsd_puts_root_first() {
        let master = "# $FreeBSD$\n\
            user:$6$a:1001:1001::0:0:User:/home/user:/bin/sh\n\
            root:$6$b:0:0::0:0:Charlie &:/root:/bin/csh\n\
            toor:*:0:0::0:0:Bourne-again Superuser:/root:\n";
        let mut g = MemGuest::new().file("/etc/master.passwd", master);
        let r = RecordingReporter::default();
        let users = usable_users(&mut g, "/etc/master.passwd", true, &r).unwrap();
        assert_eq!(users, ["root", "user"]);
    }

    #[test]
    fn missing_database() {
        let r = RecordingReporter::default();
        let users = usable_users(&mut MemGuest::new(), "/etc/shadow", false, &r).unwrap();
        assert!(users.is_empty());
        assert_eq!(
            r.warnings(),
            ["Unable to collect user info: /etc/shadow is missing"]
        );
    }
}
