//! Man pages and shell completions, generated from the same clap
//! definitions the parser uses, so they name every option there is:
//! `snf-image-creator man DIR` writes `snf-mkimage.1`,
//! `snf-image-creator.1` and one page per subcommand
//! (`snf-image-creator-images.1`…); `snf-image-creator completions SHELL
//! [--mkimage]` prints a completion script. `scripts/setup.sh --install`
//! installs both.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use super::args::{CreatorCli, MkimageCli};

/// The two programs' command definitions, `snf-mkimage` first.
pub fn programs() -> [clap::Command; 2] {
    [MkimageCli::command(), CreatorCli::command()]
}

/// Write every man page into `dir` (created if missing); the pages
/// written, sorted (only those: `dir` may hold other programs' pages).
pub fn write_man_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut pages = Vec::new();
    for cmd in programs() {
        let name = cmd.get_name().to_owned();
        // As clap_mangen::generate_to does, keeping the paths it writes.
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        man_pages(cmd, dir, &mut pages)
            .with_context(|| format!("writing the man pages of {name} into {}", dir.display()))?;
    }
    pages.sort();
    Ok(pages)
}

/// The page of `cmd` and of each of its visible subcommands.
fn man_pages(cmd: clap::Command, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        man_pages(sub, dir, out)?;
    }
    out.push(clap_mangen::Man::new(cmd).generate_to(dir)?);
    Ok(())
}

/// Write the completion script of `shell` for `snf-image-creator`, or for
/// `snf-mkimage` when `mkimage`.
pub fn write_completions(shell: Shell, mkimage: bool, out: &mut dyn Write) {
    let [mk, creator] = programs();
    let mut cmd = if mkimage { mk } else { creator };
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_its_page() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("other.1"), "another program's page").unwrap();
        let pages = write_man_pages(dir.path()).unwrap();
        assert!(!pages.iter().any(|p| p.ends_with("other.1")), "{pages:?}");
        let names: Vec<String> = (pages.iter())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"snf-mkimage.1".to_owned()), "{names:?}");
        assert!(
            names.contains(&"snf-image-creator.1".to_owned()),
            "{names:?}"
        );
        for sub in CreatorCli::command().get_subcommands() {
            let page = format!("snf-image-creator-{}.1", sub.get_name());
            assert!(names.contains(&page), "{page} missing from {names:?}");
        }
    }

    #[test]
    fn completions_name_the_program() {
        for (shell, needle) in [
            (Shell::Bash, "complete -F _snf__mkimage"),
            (Shell::Zsh, "#compdef snf-mkimage"),
            (Shell::Fish, "complete -c snf-mkimage"),
        ] {
            let mut out = Vec::new();
            write_completions(shell, true, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(needle), "{shell}: {text}");
            assert!(text.contains("print-syspreps"), "{shell}");
        }
    }
}
