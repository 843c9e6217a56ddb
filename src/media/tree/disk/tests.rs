//! The sfdisk script of a layout with logical partitions.

use super::super::layout::NewFs;
use super::*;

fn fs_slot(number: u32, point: &str) -> Slot {
    let nf = NewFs {
        fs: FsType::Ext4,
        uuid: None,
        label: None,
        mounts: vec![(PathBuf::from(point), None)],
        fstab_uuid: false,
    };
    Slot {
        number,
        ty: "83".into(),
        part_uuid: None,
        name: None,
        bootable: number == 1,
        content: Content::Fs(nf),
    }
}

#[test]
fn logical_partitions_follow_their_extended_one_in_the_script() {
    let mut ext = fs_slot(2, "");
    (ext.ty, ext.content) = ("5".into(), Content::Extended);
    let layout = Layout {
        table: TableType::Msdos,
        label_id: Some("5eed1234".into()),
        first: MIB,
        slots: vec![
            fs_slot(1, "/"),
            ext,
            fs_slot(5, "/var"),
            fs_slot(6, "/home"),
        ],
        boot_from: None,
        numbers_kept: true,
        notes: Vec::new(),
    };
    let (places, size) = layout.place(&[100 * MIB, 0, 50 * MIB, 20 * MIB]);
    assert_eq!(size, 174 * MIB);
    let script = sfdisk_script(Path::new("d.img"), &layout, &places);
    assert_eq!(
        script,
        "label: dos\nlabel-id: 0x5eed1234\n\
         d.img1 : start=2048, size=204800, type=83, bootable\n\
         d.img2 : start=206848, size=147456, type=5\n\
         d.img5 : start=208896, size=102400, type=83\n\
         d.img6 : start=313344, size=40960, type=83\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("d.img");
    File::create(&disk).unwrap().set_len(size).unwrap();
    let script = sfdisk_script(&disk, &layout, &places);
    run_with_input(
        Command::new("sfdisk").arg("-q").arg(&disk),
        script.as_bytes(),
    )
    .unwrap();
    let dump = Command::new("sfdisk")
        .arg("-d")
        .arg(&disk)
        .run_capture()
        .unwrap();
    let d = disk.display();
    for line in [
        format!("{d}2 : start=      206848, size=      147456, type=5"),
        format!("{d}6 : start=      313344, size=       40960, type=83"),
    ] {
        assert!(dump.contains(&line), "{line:?} not in {dump}");
    }
}
