//! Reading many small guest files out of the helper VM at once: one
//! `tar-out` of a directory instead of a round trip per file (each costs
//! about 10 ms under software emulation).
//!
//! The transfer itself is slow under emulation (a few MiB/s), so big
//! subtrees are not sent whole: a directory using more than [`BUDGET`] is
//! split (its big files and pruned children excluded, its subdirectories
//! examined the same way) down to [`MAX_DEPTH`] levels; deeper big
//! directories are left out and reported.

use std::io::BufReader;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use guestfs::Handle;

use super::appliance::gerr;
use super::tar_stream;

/// A directory using more than this is split rather than sent whole.
const BUDGET: i64 = 16 * 1024 * 1024;
/// How deep big directories are split.
const MAX_DEPTH: usize = 4;

/// What the walk decided: tar patterns to leave out, and the big
/// directories left out unread.
#[derive(Default)]
struct Excludes {
    patterns: Vec<String>,
    skipped: Vec<String>,
}

/// Call `each` with every regular file of at most `cap` bytes below `dir`
/// (not below its children named in `prune`); returns the directories
/// left out because they are too big.
pub(super) fn each_small_file(
    g: &Handle,
    dir: &str,
    cap: u64,
    prune: &[&str],
    each: &mut dyn FnMut(&str, &[u8]) -> Result<()>,
) -> Result<Vec<String>> {
    let base = dir.trim_end_matches('/');
    let mut ex = Excludes::default();
    for name in prune {
        ex.patterns.push(format!("./{}", escape(name)));
    }
    split(g, base, "", cap, prune, &mut ex)?;
    let file = tempfile::tempfile().context("creating a temporary file for the guest's files")?;
    let target = format!("/dev/fd/{}", file.as_raw_fd());
    let refs: Vec<&str> = ex.patterns.iter().map(String::as_str).collect();
    let opts = guestfs::TarOutOptArgs {
        excludes: (!refs.is_empty()).then_some(&refs[..]),
        ..Default::default()
    };
    g.tar_out(dir, &target, opts)
        .map_err(gerr(format!("reading the files under {dir}")))?;
    tar_stream::for_each_file(BufReader::new(file), cap, &mut |f| match f.data {
        Some(data) => each(&format!("{base}/{}", f.name), data),
        None => Ok(()),
    })
    .with_context(|| format!("reading the files under {dir}"))?;
    Ok(ex.skipped)
}

/// Decide what of `base/rel` to leave out. The usage of the tree counts
/// its pruned children too: one measure is cheaper than one per child.
fn split(
    g: &Handle,
    base: &str,
    rel: &str,
    cap: u64,
    prune: &[&str],
    ex: &mut Excludes,
) -> Result<()> {
    let path = format!("{base}{rel}");
    let depth = rel.matches('/').count();
    let used = g.du(&path).map_err(gerr(format!("measuring {path}")))? * 1024;
    if used <= BUDGET {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        ex.exclude(rel);
        ex.skipped.push(path);
        return Ok(());
    }
    let names = g.ls(&path).map_err(gerr(format!("listing {path}")))?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let stats = g
        .lstatnslist(&path, &refs)
        .map_err(gerr(format!("examining the entries of {path}")))?;
    for (name, st) in names.iter().zip(stats) {
        if depth == 0 && prune.contains(&name.as_str()) {
            continue;
        }
        let child = format!("{rel}/{name}");
        match st.st_mode & 0o170000 {
            0o100000 if u64::try_from(st.st_size).unwrap_or(u64::MAX) > cap => ex.exclude(&child),
            0o040000 => split(g, base, &child, cap, prune, ex)?,
            _ => {}
        }
    }
    Ok(())
}

impl Excludes {
    /// Leave out `rel` (`/a/b`, relative to the tree). A name with a
    /// newline cannot be given to tar: it is sent and dropped on arrival.
    fn exclude(&mut self, rel: &str) {
        if !rel.contains('\n') {
            self.patterns.push(format!(".{}", escape(rel)));
        }
    }
}

/// A path as a literal tar exclude pattern.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_patterns_are_literal() {
        assert_eq!(escape("a*b?[c]\\d"), "a\\*b\\?\\[c]\\\\d");
        let mut ex = Excludes::default();
        ex.exclude("/big/file");
        ex.exclude("/bad\nname");
        assert_eq!(ex.patterns, ["./big/file"]);
    }
}
