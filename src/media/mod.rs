//! Input media: what the source is, its format, the private work directory,
//! the overlay all work happens on, and reading the result back out.
//!
//! The original media is never written to: every step works on a qcow2
//! overlay whose backing file is the source, opened with its format given
//! explicitly (never probed after the first look).

pub mod blockio;
pub mod chain;
pub mod export;
pub mod format;
pub mod identity;
pub mod nbd;
pub mod partition;
pub mod partition_type;
pub mod qemu_img;
pub mod source;
pub mod tree;
pub mod workdir;

pub use format::ImageFormat;
pub use source::{Source, SourceKind, examine};
pub use workdir::WorkDir;
