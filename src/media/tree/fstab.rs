//! The bundled host's fstab, fixed for filesystems whose source device
//! the image does not have: a line that names an md array or an LVM
//! volume by its path (`/dev/mapper/vg0-root`, `/dev/vg0/root`,
//! `/dev/md0`, `/dev/md/boot`, `/dev/dm-0`) for a mount point the image
//! makes from it is rewritten to `UUID=` of the image's filesystem; a
//! swap on such a path, which the image does not have, is reported.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What a rewrite says, one line per changed or reported fstab line.
pub type Notes = Vec<String>;

/// Rewrite `TREE/etc/fstab` for these (mount point, new UUID) pairs;
/// what changed. An fstab that is not a regular file in a real `etc`
/// directory (a symlink could lead out of the tree) is left alone.
pub fn rewrite(tree: &Path, targets: &[(PathBuf, String)]) -> Result<Notes> {
    let etc = tree.join("etc");
    let path = etc.join("fstab");
    let real = |p: &Path, dir: bool| {
        std::fs::symlink_metadata(p).is_ok_and(|m| if dir { m.is_dir() } else { m.is_file() })
    };
    if targets.is_empty() || !real(&etc, true) || !real(&path, false) {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the image's {}", path.display()))?;
    let (new, notes) = rewrite_text(&text, targets);
    if new != text {
        std::fs::write(&path, new)
            .with_context(|| format!("writing the image's {}", path.display()))?;
    }
    Ok(notes)
}

/// `text` with the lines for `targets` that name a volume by its path
/// rewritten to `UUID=`, and what changed.
pub fn rewrite_text(text: &str, targets: &[(PathBuf, String)]) -> (String, Notes) {
    let mut notes = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&rewrite_line(line, targets, &mut notes));
    }
    (out, notes)
}

fn rewrite_line(line: &str, targets: &[(PathBuf, String)], notes: &mut Notes) -> String {
    let mut fields = line.split_whitespace();
    let (Some(spec), Some(point)) = (fields.next(), fields.next()) else {
        return line.to_owned();
    };
    if spec.starts_with('#') || !names_volume(spec) {
        return line.to_owned();
    }
    if fields.next() == Some("swap") {
        notes.push(format!(
            "fstab: the swap {spec} is not in the image: remove its line, or mark it nofail"
        ));
        return line.to_owned();
    }
    let point = point.replace("\\040", " ");
    let Some((_, uuid)) = targets.iter().find(|(p, _)| p == Path::new(&point)) else {
        return line.to_owned();
    };
    notes.push(format!("fstab: {spec} for {point} becomes UUID={uuid}"));
    let at = line.find(spec).unwrap_or(0);
    format!("{}UUID={uuid}{}", &line[..at], &line[at + spec.len()..])
}

/// Whether an fstab device names an md array or a device-mapper volume by
/// its path.
fn names_volume(spec: &str) -> bool {
    let Some(rest) = spec.strip_prefix("/dev/") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["mapper" | "md", _] => true,
        [name] => name.starts_with("md") || name.starts_with("dm-"),
        ["disk", _] | ["disk", _, _] => false,
        [_vg, _lv] => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FSTAB: &str = "# /etc/fstab\n\
        /dev/mapper/vg0-root /               ext4    errors=remount-ro 0       1\n\
        UUID=b00t /boot ext2 defaults 0 2\n\
        /dev/vg0/home\t/home xfs defaults 0 2\n\
        /dev/md0 /srv ext4 defaults 0 2\n\
        /dev/md/data /data ext4 defaults 0 2\n\
        /dev/mapper/vg0-swap none swap sw 0 0\n\
        /dev/sdb1 /mnt/usb auto noauto 0 0\n\
        /dev/mapper/other /mnt/other ext4 defaults 0 0\n\
        proc /proc proc defaults 0 0";

    fn targets() -> Vec<(PathBuf, String)> {
        ["/", "/home", "/srv", "/data", "/boot"]
            .iter()
            .enumerate()
            .map(|(i, p)| (PathBuf::from(p), format!("u{i}")))
            .collect()
    }

    #[test]
    fn volume_paths_become_uuids() {
        let (text, notes) = rewrite_text(FSTAB, &targets());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# /etc/fstab");
        assert_eq!(
            lines[1],
            "UUID=u0 /               ext4    errors=remount-ro 0       1"
        );
        assert_eq!(lines[2], "UUID=b00t /boot ext2 defaults 0 2");
        assert_eq!(lines[3], "UUID=u1\t/home xfs defaults 0 2");
        assert_eq!(lines[4], "UUID=u2 /srv ext4 defaults 0 2");
        assert_eq!(lines[5], "UUID=u3 /data ext4 defaults 0 2");
        assert_eq!(lines[6], "/dev/mapper/vg0-swap none swap sw 0 0");
        assert_eq!(lines[7], "/dev/sdb1 /mnt/usb auto noauto 0 0");
        assert_eq!(lines[8], "/dev/mapper/other /mnt/other ext4 defaults 0 0");
        assert!(!text.ends_with('\n'));
        assert_eq!(
            notes,
            [
                "fstab: /dev/mapper/vg0-root for / becomes UUID=u0",
                "fstab: /dev/vg0/home for /home becomes UUID=u1",
                "fstab: /dev/md0 for /srv becomes UUID=u2",
                "fstab: /dev/md/data for /data becomes UUID=u3",
                "fstab: the swap /dev/mapper/vg0-swap is not in the image: remove its line, or mark it nofail",
            ]
        );
    }

    #[test]
    fn rewrites_the_trees_fstab_but_not_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(etc.join("fstab"), FSTAB).unwrap();
        let notes = rewrite(dir.path(), &targets()).unwrap();
        assert_eq!(notes.len(), 5);
        let text = std::fs::read_to_string(etc.join("fstab")).unwrap();
        assert!(text.contains("\nUUID=u0 / "), "{text}");
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("fstab"), FSTAB).unwrap();
        std::fs::remove_file(etc.join("fstab")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("fstab"), etc.join("fstab")).unwrap();
        assert!(rewrite(dir.path(), &targets()).unwrap().is_empty());
        let kept = std::fs::read_to_string(outside.path().join("fstab")).unwrap();
        assert_eq!(kept, FSTAB);
    }
}
