//! What kind of filesystem a mount is, by its type and source.

use super::mountinfo::Mount;

/// The kinds of mount the planner tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// On a block device (btrfs's anonymous device included).
    Block,
    /// Pseudo or in-memory.
    Pseudo,
    Network,
    /// Overlay, aufs, FUSE: a container's root or a user-space filesystem.
    Container,
}

const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "9p",
    "lustre",
    "afs",
    "ncpfs",
    "davfs",
    "virtiofs",
    "gfs2",
    "ocfs2",
];
const CONTAINER: &[&str] = &["overlay", "aufs", "shiftfs", "fuse-overlayfs"];

impl Class {
    /// How a refusal names the class.
    pub fn describe(self, fstype: &str) -> String {
        match self {
            Class::Block => format!("a {fstype} filesystem"),
            Class::Pseudo => format!("a {fstype} filesystem, not on a disk"),
            Class::Network => format!("on the network ({fstype})"),
            Class::Container => format!("a {fstype} filesystem (a container's root?)"),
        }
    }
}

/// The class of a mount.
pub fn class_of(m: &Mount) -> Class {
    let t = m.fstype.as_str();
    if NETWORK.contains(&t) || t.starts_with("nfs") {
        Class::Network
    } else if CONTAINER.contains(&t) || t.starts_with("fuse") {
        Class::Container
    } else if m.dev.0 != 0 || (t == "btrfs" && m.source.starts_with("/dev/")) {
        Class::Block
    } else {
        Class::Pseudo
    }
}
