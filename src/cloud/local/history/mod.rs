//! The store's history of each image name: every registration of a name
//! is a new version (`NAME@N`), never an overwrite; tags and the test and
//! production channels point at versions; each version keeps its blocks
//! (until removed and collected) and the file manifest, the installed packages and the
//! report of the run that made it, so two versions can be compared file by file.

pub mod bundle;
pub mod diff_text;
pub mod disk;
pub mod index;
pub mod manifest;
pub mod triggers;

pub use diff_text::DiffText;
pub use disk::{Collected, Side, VersionExtras};
pub use index::{Blocks, Channel, HistoryError, Index, Selector, Version};
pub use manifest::{FileDiff, FileEntry, FileKind, Manifest};
pub use triggers::{Trigger, Triggers};
