//! What the `shrink` system preparation task did, carried into the
//! metadata (`SWAP`) and the exported size.

use crate::guest::metadata::Metadata;
use crate::guest::shrink::ShrinkOutcome;

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
    use crate::media::partition::MIB;

    #[test]
    fn outcome_reaches_size_and_metadata() {
        let o = ShrinkOutcome {
            old_size: 600 * MIB,
            new_size: 300 * MIB + 1,
            swap: Some(SwapRemoved { number: 2, mib: 64 }),
            filesystem: Some("ext4".into()),
        };
        assert_eq!(
            o.size_line(),
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
