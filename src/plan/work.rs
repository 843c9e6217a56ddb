//! What a run does with the guest: decided once, when the request is
//! validated, from its flags.

use std::path::PathBuf;

use super::{SysprepRequest, UsageError, usage};

/// What a run does with the guest, decided once from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Inspect it and print what was asked for; change nothing.
    Inspect,
    /// List what system preparation would change: the tasks work on a view in memory, no script runs, nothing is
    /// written, even with `-o`.
    DryRun,
    /// Mount it read-write on the host directory `on` until the front end
    /// releases it; nothing is prepared or written.
    Mount { on: PathBuf },
    /// Prepare it (the tasks when `tasks`, the `--host-run` scripts), scan
    /// it for secrets, and export it (to a file, to upload it, or both).
    Export { tasks: bool },
}

impl Work {
    /// Decide from a request whose system preparation flags were checked:
    /// whether it mounts, exports (`-o` or `-u`) or prints anything.
    pub(super) fn decide(
        mount: Option<PathBuf>,
        exports: bool,
        prints: bool,
        sysprep: &SysprepRequest,
    ) -> Result<Work, UsageError> {
        match (mount, sysprep.dry_run, exports) {
            (Some(_), true, _) | (Some(_), _, true) => Err(usage(
                "a mount only serves the guest on the host: it cannot go with -o, -u or --dry-run",
            )),
            (Some(on), false, false) => Ok(Work::Mount { on }),
            (None, true, _) => Ok(Work::DryRun),
            (None, false, true) => Ok(Work::Export {
                // `--no-sysprep` runs only the tasks named with
                // --enable-sysprep (and install-virtio for --install-virtio).
                tasks: !sysprep.no_sysprep
                    || !sysprep.enable.is_empty()
                    || sysprep.install_virtio.is_some(),
            }),
            (None, false, false) if prints => Ok(Work::Inspect),
            (None, false, false) => Err(usage(
                "nothing to do: give -o FILE to export the image, -u NAME to upload it, or --print-metadata",
            )),
        }
    }

    /// Whether the guest is only looked at, its changes kept in memory.
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Work::DryRun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The work decided for a mount, an export, printing, and the system
    /// preparation flags `edit` sets.
    pub(super) fn decide(
        mount: Option<&str>,
        exports: bool,
        prints: bool,
        edit: fn(&mut SysprepRequest),
    ) -> Result<Work, UsageError> {
        let mut sysprep = SysprepRequest::default();
        edit(&mut sysprep);
        Work::decide(mount.map(PathBuf::from), exports, prints, &sysprep)
    }

    #[test]
    fn flags_decide_the_work() {
        let export = |edit: fn(&mut SysprepRequest)| decide(None, true, false, edit);
        assert_eq!(export(|_| {}), Ok(Work::Export { tasks: true }));
        let none = |s: &mut SysprepRequest| s.no_sysprep = true;
        assert_eq!(export(none), Ok(Work::Export { tasks: false }));
        let shrink_only = |s: &mut SysprepRequest| {
            s.no_sysprep = true;
            s.enable = vec!["shrink".into()];
        };
        assert_eq!(export(shrink_only), Ok(Work::Export { tasks: true }));
        let dry = |s: &mut SysprepRequest| s.dry_run = true;
        assert_eq!(decide(None, false, false, dry), Ok(Work::DryRun));
        assert_eq!(
            export(dry),
            Ok(Work::DryRun),
            "a dry run writes nothing, even with -o"
        );
        assert_eq!(decide(None, false, true, |_| {}), Ok(Work::Inspect));
        let nothing = decide(None, false, false, |_| {}).unwrap_err().0;
        assert!(nothing.contains("nothing to do"), "{nothing}");
    }

    #[test]
    fn a_mount_is_data_and_does_nothing_else() {
        let on = PathBuf::from("/mnt/guest");
        let mount = |exports, edit: fn(&mut SysprepRequest)| {
            decide(Some("/mnt/guest"), exports, false, edit)
        };
        assert_eq!(mount(false, |_| {}), Ok(Work::Mount { on }));
        let dry = |s: &mut SysprepRequest| s.dry_run = true;
        assert!(mount(false, dry).unwrap_err().0.contains("cannot go with"));
        assert!(
            mount(true, |_| {})
                .unwrap_err()
                .0
                .contains("cannot go with")
        );
    }
}
