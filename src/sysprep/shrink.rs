//! `shrink`, the last task of every table: make the last filesystem and
//! its partition as small as they can be, drop a trailing swap partition,
//! and cut the image after the new end ([`crate::guest::shrink`]). It runs
//! on the disk itself, after the guest is unmounted.

use anyhow::Result;

use super::{Action, DeviceCtx, Task};
use crate::guest::shrink;

/// The task's row.
pub const SHRINK: Task = Task {
    name: "shrink",
    message: "Shrinking image (may take a while)",
    description: "Shrink the last filesystem (ext2/3/4, btrfs, NTFS) to its minimum plus \
                  headroom, resize its partition to fit (MBR, logical partitions and GPT, \
                  whose entries keep their type, GUID, name and attributes), remove a \
                  trailing swap partition (recorded as SWAP=<number>:<MiB> for snf-image \
                  to recreate it) and end the image after the last partition. Other \
                  filesystems are only trimmed after their partition.",
    default: true,
    params: &[],
    action: Action::Device(run),
};

/// Shrink, or in a dry run say that it would; returns the bytes saved.
fn run(cx: &mut DeviceCtx<'_>) -> Result<i64> {
    if cx.dry_run {
        cx.reporter
            .info("a real run shrinks the last filesystem and partition here");
        return Ok(0);
    }
    let outcome = shrink::shrink(cx.vm, cx.reporter)?;
    cx.reporter.info(&outcome.size_line());
    let saved = i64::try_from(outcome.saved()).unwrap_or(i64::MAX);
    cx.shrunk = Some(outcome);
    Ok(saved)
}
