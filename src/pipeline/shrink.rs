//! The shrink step of the pipeline: run [`guest::shrink`] on the helper VM
//! (guest unmounted, before it shuts down), say the new size, and carry the
//! result into the metadata (`SWAP`) and the exported size.

use anyhow::Result;

use crate::guest::appliance::Appliance;
use crate::guest::metadata::Metadata;
use crate::guest::shrink::{self as guest, ShrinkOutcome};
use crate::media::partition::MIB;
use crate::progress::{Reporter, begin_step};

/// Shrink when `enabled` (the plan asks for it and the media is
/// supported); `None` when the step did not run.
pub fn run(
    vm: &mut Appliance,
    enabled: bool,
    reporter: &dyn Reporter,
) -> Result<Option<ShrinkOutcome>> {
    if !enabled {
        return Ok(None);
    }
    let step = begin_step(reporter, "Shrinking image (may take a while)", None);
    let outcome = guest::shrink(vm, reporter)?;
    step.done("done");
    reporter.info(&size_line(&outcome));
    Ok(Some(outcome))
}

/// The original's `Image size is N MB` line, with the size before and the
/// bytes saved.
pub fn size_line(o: &ShrinkOutcome) -> String {
    format!(
        "Image size is {} MB (was {} MB; {} bytes saved)",
        o.new_size.div_ceil(MIB),
        o.old_size.div_ceil(MIB),
        o.saved()
    )
}

/// Put what the shrink did into the metadata and the exported size.
pub fn apply(outcome: Option<&ShrinkOutcome>, meta: &mut Metadata, size: &mut u64) {
    let Some(o) = outcome else { return };
    *size = o.new_size;
    if let Some(swap) = o.swap {
        meta.insert("SWAP".into(), swap.property());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::shrink::SwapRemoved;

    #[test]
    fn outcome_reaches_size_and_metadata() {
        let o = ShrinkOutcome {
            old_size: 600 * MIB,
            new_size: 300 * MIB + 1,
            swap: Some(SwapRemoved { number: 2, mib: 64 }),
            filesystem: Some("ext4".into()),
        };
        assert_eq!(
            size_line(&o),
            format!(
                "Image size is 301 MB (was 600 MB; {} bytes saved)",
                300 * MIB - 1
            )
        );
        let mut meta = Metadata::new();
        let mut size = 600 * MIB;
        apply(Some(&o), &mut meta, &mut size);
        assert_eq!(size, 300 * MIB + 1);
        assert_eq!(meta.get("SWAP").map(String::as_str), Some("2:64"));
        apply(None, &mut meta, &mut size);
        assert_eq!(size, 300 * MIB + 1);
    }
}
