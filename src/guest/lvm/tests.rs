use super::*;

/// What the helper VM's lvm reports for the debian-lvm-mbr fixture.
const PVS: &str = r#"  {
      "report": [
          {
              "pv": [
                  {"pv_name":"/dev/sda2", "vg_name":"vg0", "pv_uuid":"b21RWM-w4HL-jm4L-MW5T-z1YQ-5W17-UtI4KQ", "pe_start":"1048576", "vg_extent_size":"4194304", "pv_pe_count":"168"}
              ]
          }
      ]
  }"#;

const SEGS: &str = r#"  {
      "report": [
          {
              "seg": [
                  {"vg_name":"vg0", "lv_name":"home", "lv_attr":"-wi-a-----", "segtype":"linear", "lv_size":"67108864", "seg_pe_ranges":"/dev/sda2:128-143"},
                  {"vg_name":"vg0", "lv_name":"root", "lv_attr":"-wi-a-----", "segtype":"linear", "lv_size":"536870912", "seg_pe_ranges":"/dev/sda2:0-127"},
                  {"vg_name":"vg0", "lv_name":"swap", "lv_attr":"-wi-a-----", "segtype":"linear", "lv_size":"67108864", "seg_pe_ranges":"/dev/sda2:144-159"}
              ]
          }
      ]
  }"#;

fn fixture() -> Layout {
    let mut l = Layout::parse(PVS, SEGS).unwrap();
    for lv in &mut l.lvs {
        lv.fs = if lv.name == "swap" { "swap" } else { "ext4" }.into();
    }
    l
}

fn seg(vg: &str, lv: &str, attr: &str, ty: &str, ranges: &str) -> String {
    format!(
        r#"{{"vg_name":"{vg}", "lv_name":"{lv}", "lv_attr":"{attr}", "segtype":"{ty}", "lv_size":"4194304", "seg_pe_ranges":"{ranges}"}}"#
    )
}

fn with_segs(extra: &[String]) -> Layout {
    let mut rows = vec![seg(
        "vg0",
        "root",
        "-wi-a-----",
        "linear",
        "/dev/sda2:0-127",
    )];
    rows.extend_from_slice(extra);
    let segs = format!(r#"{{"report": [{{"seg": [{}]}}]}}"#, rows.join(","));
    Layout::parse(PVS, &segs).unwrap()
}

#[test]
fn parses_the_fixture_layout() {
    let l = fixture();
    assert_eq!(l.pvs.len(), 1);
    assert_eq!(l.pvs[0].pe_start, MIB);
    assert_eq!(l.pvs[0].extent, 4 * MIB);
    let names: Vec<String> = l.lvs.iter().map(Lv::path).collect();
    assert_eq!(names, ["vg0/home", "vg0/root", "vg0/swap"]);
    assert_eq!(l.used_end("/dev/sda2"), 160);
    assert_eq!(l.pv_of_device("/dev/vg0/root"), Some("/dev/sda2"));
    assert_eq!(l.pv_of_device("/dev/sda1"), None);
    let order: Vec<&str> = (l.by_end_on("/dev/sda2").iter())
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(order, ["swap", "home", "root"]);
    assert_eq!(l.refusal("/dev/sda2"), None);
}

#[test]
fn summary_lists_each_volume_group() {
    assert_eq!(
        fixture().summary(),
        [
            "vg0 on /dev/sda2: root 512 MiB (ext4), home 64 MiB (ext4), swap 64 MiB (swap); 32 MiB free"
        ]
    );
}

#[test]
fn a_volume_group_on_two_pvs_is_refused() {
    let pvs = r#"{"report": [{"pv": [
        {"pv_name":"/dev/sda2", "vg_name":"vg0", "pv_uuid":"b21RWM-w4HL-jm4L-MW5T-z1YQ-5W17-UtI4KQ", "pe_start":"1048576", "vg_extent_size":"4194304", "pv_pe_count":"128"},
        {"pv_name":"/dev/sda3", "vg_name":"vg0", "pv_uuid":"b21RWM-w4HL-jm4L-MW5T-z1YQ-5W17-UtI4KQ", "pe_start":"1048576", "vg_extent_size":"4194304", "pv_pe_count":"40"}]}]}"#;
    let l = Layout::parse(pvs, SEGS).unwrap();
    let why = l.refusal("/dev/sda3").unwrap();
    assert_eq!(why.to_string(), "volume group vg0 spans 2 physical volumes");
}

#[test]
fn thin_snapshot_raid_and_mirror_volumes_are_refused() {
    let cases = [
        (
            seg("vg0", "pool", "twi-aotz--", "thin-pool", "pool_tdata:0-9"),
            "thin pool or thin volume",
        ),
        (
            seg("vg0", "thin", "Vwi-a-tz--", "thin", ""),
            "thin pool or thin volume",
        ),
        (
            seg("vg0", "snap", "swi-a-s---", "linear", "/dev/sda2:130-131"),
            "snapshot",
        ),
        (
            seg(
                "vg0",
                "r1",
                "rwi-a-r---",
                "raid1",
                "r1_rimage_0:0-1 r1_rimage_1:0-1",
            ),
            "RAID volume",
        ),
        (
            seg("vg0", "m", "mwi-a-m---", "mirror", "m_mimage_0:0-1"),
            "mirrored volume",
        ),
    ];
    for (row, kind) in cases {
        let l = with_segs(std::slice::from_ref(&row));
        let why = l.refusal("/dev/sda2").expect(kind).to_string();
        assert!(why.ends_with(&format!("is a {kind}")), "{why}");
    }
}

#[test]
fn hidden_sub_volumes_keep_their_name_without_brackets() {
    let l = with_segs(&[seg(
        "vg0",
        "[pool_tdata]",
        "Twi-ao----",
        "linear",
        "/dev/sda2:130-139",
    )]);
    assert!(l.lvs.iter().any(|l| l.name == "pool_tdata" && l.hidden));
    assert_eq!(l.used_end("/dev/sda2"), 140);
    // Counted as used, not listed.
    assert_eq!(l.summary(), ["vg0 on /dev/sda2: root 4 MiB; 120 MiB free"]);
}

#[test]
fn luks_under_or_over_lvm_is_refused() {
    let mut l = fixture();
    l.luks = vec!["/dev/vg0/home".into()];
    assert_eq!(
        l.refusal("/dev/sda2").unwrap().to_string(),
        "/dev/vg0/home holds a LUKS encrypted volume"
    );
}

#[test]
fn bad_reports_are_errors() {
    assert!(Layout::parse("not json", SEGS).is_err());
    let bad = PVS.replace("\"168\"", "\"many\"");
    let err = Layout::parse(&bad, SEGS).unwrap_err().to_string();
    assert!(err.contains("pv_pe_count"), "{err}");
}

#[test]
fn pv_names_follow_the_api() {
    let raw = PVS.replace("/dev/sda2", "/dev/sdb2");
    let segs = SEGS.replace("/dev/sda2", "/dev/sdb2");
    let mut l = Layout::parse(&raw, &segs).unwrap();
    let names = HashMap::from([(
        "b21RWMw4HLjm4LMW5Tz1YQ5W17UtI4KQ".to_owned(),
        "/dev/sda2".to_owned(),
    )]);
    l.translate(&names);
    assert_eq!(l.pvs[0].name, "/dev/sda2");
    assert_eq!(l.used_end("/dev/sda2"), 160);
    assert_eq!(l.pv_of_device("/dev/vg0/root"), Some("/dev/sda2"));
}
