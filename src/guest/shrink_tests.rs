use super::*;

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
    let mut meta = crate::guest::metadata::Metadata::new();
    let mut size = 600 * MIB;
    o.apply(&mut meta, &mut size);
    assert_eq!(size, 300 * MIB + 1);
    assert_eq!(meta.get("SWAP").map(String::as_str), Some("2:64"));
}

#[test]
fn swap_property() {
    let s = SwapRemoved { number: 3, mib: 64 };
    assert_eq!(s.property(), "3:64");
}

#[test]
fn syslinux_boot_sectors() {
    let mut vbr = vec![0u8; 512];
    assert!(!is_syslinux_vbr(&vbr));
    vbr[3..11].copy_from_slice(b"EXTLINUX");
    assert!(is_syslinux_vbr(&vbr));
}
