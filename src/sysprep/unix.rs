//! The Unix table: tasks every Unix-like guest gets (Linux, the BSDs, GNU
//! Hurd), from the original's `distro/unix.py`.

use anyhow::Result;

use super::util::{children, delete_children, files_under, join};
use super::{Action, Change, Ctx, Task};
use crate::guest::{Distro, EntryKind};

/// The Unix tasks, in the order they run.
pub const TASKS: &[Task] = &[
    Task {
        name: "cleanup-cache",
        message: "Removing files under /var/cache",
        description: "Remove every regular file under /var/cache (directories are kept).",
        default: true,
        params: &[],
        action: Action::Files {
            plan: cleanup_cache,
            after: None,
        },
    },
    Task {
        name: "cleanup-tmp",
        message: "Removing files under /tmp and /var/tmp",
        description: "Remove everything in /tmp and /var/tmp.",
        default: true,
        params: &[],
        action: Action::Files {
            plan: cleanup_tmp,
            after: None,
        },
    },
    Task {
        name: "cleanup-log",
        message: "Emptying all files under /var/log",
        description: "Truncate to zero bytes every regular file under /var/log, except the \
                      binary systemd journal (see cleanup-journal) and Slackware's package \
                      database in /var/log/packages.",
        default: true,
        params: &[],
        action: Action::Files {
            plan: cleanup_log,
            after: None,
        },
    },
    Task {
        name: "cleanup-mail",
        message: "Removing files under /var/mail and /var/spool/mail",
        description: "Remove every mailbox in /var/spool/mail and /var/mail.",
        default: false,
        params: &[],
        action: Action::Files {
            plan: cleanup_mail,
            after: None,
        },
    },
    Task {
        name: "cleanup-userdata",
        message: "Removing sensitive user data",
        description: "Remove the files named by the sensitive_userdata parameter (shell \
                      histories, .ssh, .gnupg...) from /root and from every home directory \
                      under /home; for a directory, every regular file inside it.",
        default: true,
        params: &["sensitive_userdata"],
        action: Action::Files {
            plan: cleanup_userdata,
            after: None,
        },
    },
];

fn cleanup_cache(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    Ok(files_under(cx.guest, "/var/cache")?
        .into_iter()
        .map(|e| Change::Delete(e.path))
        .collect())
}

fn cleanup_tmp(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut changes = delete_children(cx.guest, "/tmp", |_, _| true)?;
    changes.extend(delete_children(cx.guest, "/var/tmp", |_, _| true)?);
    Ok(changes)
}

fn cleanup_log(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let slackware = cx.os.distro == Distro::Slackware;
    Ok(files_under(cx.guest, "/var/log")?
        .into_iter()
        .filter(|e| !e.path.starts_with("/var/log/journal/"))
        .filter(|e| !(slackware && e.path.starts_with("/var/log/packages/")))
        .map(|e| Change::Truncate(e.path))
        .collect())
}

fn cleanup_mail(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    // `children` skips a directory that is a symlink (Debian's
    // /var/spool/mail -> ../mail), so no mailbox is listed twice.
    let mut changes = delete_children(cx.guest, "/var/spool/mail", |_, _| true)?;
    changes.extend(delete_children(cx.guest, "/var/mail", |_, _| true)?);
    Ok(changes)
}

fn cleanup_userdata(cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    let mut homes = vec!["/root".to_owned()];
    homes.extend(
        children(cx.guest, "/home")?
            .into_iter()
            .filter(|(_, kind)| *kind == EntryKind::Dir)
            .map(|(p, _)| p),
    );
    let names = cx.params.list("sensitive_userdata").to_vec();
    let mut changes = Vec::new();
    for home in &homes {
        // One listing per home answers for the names without a `/`.
        let listing = children(cx.guest, home)?;
        for name in &names {
            let path = join(home, name.trim_start_matches('/'));
            let kind = if name.trim_start_matches('/').contains('/') {
                super::util::entry_kind(cx.guest, &path)?
            } else {
                listing.iter().find(|(p, _)| *p == path).map(|(_, k)| *k)
            };
            match kind {
                None => {}
                Some(EntryKind::Dir) => changes.extend(
                    files_under(cx.guest, &path)?
                        .into_iter()
                        .map(|e| Change::Delete(e.path)),
                ),
                Some(_) => changes.push(Change::Delete(path)),
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::guest::memfs::MemGuest;
    use crate::guest::metadata::Metadata;
    use crate::guest::{Guest, OsInfo};
    use crate::progress::NullReporter;
    use crate::sysprep::Params;

    pub(crate) fn plan(task: &str, g: &mut MemGuest) -> Vec<Change> {
        plan_with(task, g, &Params::default(), &mut Metadata::new())
    }

    pub(crate) fn plan_with(
        task: &str,
        g: &mut MemGuest,
        params: &Params,
        meta: &mut Metadata,
    ) -> Vec<Change> {
        let t = crate::sysprep::TABLES
            .iter()
            .flat_map(|t| t.iter())
            .find(|t| t.name == task)
            .unwrap();
        let Action::Files { plan, .. } = t.action else {
            panic!()
        };
        let os = OsInfo {
            distro: Distro::Debian,
            ..OsInfo::default()
        };
        let mut cx = Ctx {
            guest: g,
            os: &os,
            params,
            meta,
            reporter: &NullReporter,
        };
        plan(&mut cx).unwrap()
    }

    /// The new text of `path` among `changes` (which must rewrite it).
    pub(crate) fn written_text(changes: &[Change], path: &str) -> String {
        changes
            .iter()
            .find_map(|c| match c {
                Change::Write(p, d) if p == path => Some(String::from_utf8(d.clone()).unwrap()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{path} not rewritten: {changes:?}"))
    }

    fn paths(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{c:?}").split('(').next().unwrap().to_owned() + " " + c.path())
            .collect()
    }

    #[test]
    fn cleanups() {
        let mut g = MemGuest::new()
            .file("/var/cache/man/index.db", "x")
            .dir("/var/cache/empty")
            .file("/tmp/a", "")
            .file("/tmp/d/b", "")
            .file("/var/tmp/c", "")
            .file("/var/log/syslog", "x")
            .file("/var/log/journal/id/system.journal", "x")
            .symlink("/var/spool/mail", "../mail")
            .file("/var/mail/user", "x");
        assert_eq!(
            paths(&plan("cleanup-cache", &mut g)),
            ["Delete /var/cache/man/index.db"]
        );
        assert_eq!(
            paths(&plan("cleanup-tmp", &mut g)),
            ["Delete /tmp/a", "Delete /tmp/d", "Delete /var/tmp/c"]
        );
        assert_eq!(
            paths(&plan("cleanup-log", &mut g)),
            ["Truncate /var/log/syslog"]
        );
        assert_eq!(
            paths(&plan("cleanup-mail", &mut g)),
            ["Delete /var/mail/user"]
        );
    }

    #[test]
    fn userdata() {
        let mut g = MemGuest::new()
            .file("/root/.bash_history", "x")
            .file("/home/u/.ssh/id_ed25519", "k")
            .file("/home/u/.ssh/sub/k2", "k")
            .file("/home/u/.gitconfig", "keep")
            .file("/home/u/.local/share/fish/fish_history", "x");
        assert_eq!(
            paths(&plan("cleanup-userdata", &mut g)),
            [
                "Delete /root/.bash_history",
                "Delete /home/u/.local/share/fish/fish_history",
                "Delete /home/u/.ssh/id_ed25519",
                "Delete /home/u/.ssh/sub/k2",
            ]
        );
        assert!(g.exists("/home/u/.gitconfig").unwrap());
    }
}
