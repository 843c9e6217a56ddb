//! snf-image-creator: turn a disk image, a block device or the running host
//! into a clean, small cloud image.
//!
//! Dependencies run one way: `cli`/`ui` → `plan` → `pipeline` →
//! `media`/`guest`/`sysprep`/`cloud` → `process`/`progress`. Only the front
//! ends print.

pub mod cli;
pub mod cloud;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod guest;
pub mod media;
pub mod name_table;
pub mod pipeline;
pub mod plan;
pub mod process;
pub mod progress;
pub mod sysprep;
pub mod ui;
pub mod untrusted;
