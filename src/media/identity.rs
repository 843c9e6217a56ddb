//! Whether two paths name the same file: the check that keeps every output
//! of a run off every file it reads.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An output that is one of the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    pub output: PathBuf,
    pub input: PathBuf,
}

/// Whether `a` and `b` are the same file: the same device and inode once
/// symlinks are followed (so hard links and symlinks count), or, when
/// either does not exist, the same absolute path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => absolute(a) == absolute(b),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// The first output that is the same file as an input.
pub fn find_clash(outputs: &[PathBuf], inputs: &[PathBuf]) -> Option<Clash> {
    outputs.iter().find_map(|o| {
        inputs.iter().find(|i| same_file(o, i)).map(|i| Clash {
            output: o.clone(),
            input: i.clone(),
        })
    })
}

/// The first input that lies inside the directory `dir` (symlinks
/// resolved).
pub fn inside<'a>(dir: &Path, inputs: &'a [PathBuf]) -> Option<&'a PathBuf> {
    let dir = fs::canonicalize(dir).ok()?;
    inputs.iter().find(|i| {
        fs::canonicalize(i)
            .or_else(|_| std::path::absolute(i))
            .is_ok_and(|real| real.starts_with(&dir))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let src = d.join("disk.img");
        fs::write(&src, b"x").unwrap();
        fs::hard_link(&src, d.join("hard")).unwrap();
        std::os::unix::fs::symlink(&src, d.join("soft")).unwrap();
        fs::write(d.join("other"), b"x").unwrap();
        assert!(same_file(&src, &d.join("hard")));
        assert!(same_file(&d.join("soft"), &src));
        assert!(same_file(&d.join("./disk.img"), &src));
        assert!(!same_file(&d.join("other"), &src));
        assert!(same_file(&d.join("new"), &d.join("./new")));
        assert!(!same_file(&d.join("new"), &src));
        let inputs = vec![src.clone()];
        let outputs = vec![d.join("out"), d.join("soft")];
        assert_eq!(
            find_clash(&outputs, &inputs),
            Some(Clash {
                output: d.join("soft"),
                input: src.clone()
            })
        );
        assert_eq!(inside(d, &inputs), Some(&src));
        assert_eq!(inside(&d.join("nope"), &inputs), None);
    }
}
