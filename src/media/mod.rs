//! Input media: what the source is, its format, the overlay all work happens
//! on, and reading the result back out.

pub mod export;
pub mod nbd;
