use super::*;
use crate::guest::registry::mem::MemRegistry;
use crate::guest::{Distro, OsFamily};
use crate::progress::RecordingReporter;

fn f_value(rid: u32, acb: u16) -> RegValue {
    let mut f = vec![0u8; 0x50];
    f[F_RID..F_RID + 4].copy_from_slice(&rid.to_le_bytes());
    f[F_ACB..F_ACB + 2].copy_from_slice(&acb.to_le_bytes());
    RegValue::Binary(f)
}

fn v_value(name: &str) -> RegValue {
    let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut v = vec![0u8; 0xCC];
    v[0x0C..0x10].copy_from_slice(&0u32.to_le_bytes());
    v[0x10..0x14].copy_from_slice(&(utf16.len() as u32).to_le_bytes());
    v.extend(utf16);
    RegValue::Binary(v)
}

/// The SAM with `name` under Names (whose default value's type is the RID
/// in a real SAM; its value is empty).
fn named(reg: MemRegistry, name: &str) -> MemRegistry {
    let key = format!(r"{USERS}\Names\{name}");
    reg.with(Hive::Sam, &key, "", RegValue::Binary(Vec::new()))
}

/// A SAM with the accounts (name, RID, ACB flags), all listed under Names.
fn sam(reg: MemRegistry, accounts: &[(&str, u32, u16)]) -> MemRegistry {
    accounts.iter().fold(reg, |reg, &(name, rid, acb)| {
        let key = format!(r"{USERS}\{rid:08X}");
        named(reg, name)
            .with(Hive::Sam, &key, "F", f_value(rid, acb))
            .with(Hive::Sam, &key, "V", v_value(name))
    })
}

fn rdp(reg: MemRegistry, deny: u32, port: Option<u32>) -> MemRegistry {
    let reg = reg
        .with(Hive::System, "Select", "Current", RegValue::Dword(2))
        .with(
            Hive::System,
            r"ControlSet002\Control\Terminal Server",
            "fDenyTSConnections",
            RegValue::Dword(deny),
        );
    match port {
        Some(p) => reg.with(
            Hive::System,
            r"ControlSet002\Control\Terminal Server\WinStations\RDP-Tcp",
            "PortNumber",
            RegValue::Dword(p),
        ),
        None => reg,
    }
}

fn server_2019(arch: &str) -> OsInfo {
    OsInfo {
        root: "/dev/sda3".into(),
        family: OsFamily::Windows,
        distro: Distro::Windows,
        product_name: "Windows Server 2019 Datacenter".into(),
        major: 10,
        minor: 0,
        arch: arch.into(),
        mountpoints: vec![("/".into(), "/dev/sda3".into())],
    }
}

const ACCOUNTS: &[(&str, u32, u16)] = &[
    ("bob", 1002, 0x0211),
    ("Administrator", 500, 0x0210),
    ("Guest", 501, 0x0210),
    ("DefaultAccount", 503, 0x0215),
    ("alice", 1001, 0x0210),
];

#[test]
fn users_and_remote_desktop_of_a_server() {
    let mut reg = rdp(sam(MemRegistry::new(), ACCOUNTS), 0, Some(3390)).with(
        Hive::Software,
        r"Microsoft\Windows NT\CurrentVersion",
        "CurrentBuildNumber",
        RegValue::Sz("17763".into()),
    );
    let mut meta = Metadata::new();
    let r = RecordingReporter::default();
    let facts = collect(&server_2019("x86_64"), &mut reg, &mut meta, &r).unwrap();
    assert_eq!(meta["USERS"], "Administrator alice");
    assert_eq!(
        meta["REMOTE_CONNECTION"],
        "rdp:port=3390,user=Administrator rdp:port=3390,user=alice"
    );
    assert_eq!(meta["OSVERSION"], "10.0.17763");
    assert_eq!(facts.arch, Some(WinArch::Amd64));
    assert_eq!(
        facts.nt,
        NtVersion {
            major: 10,
            minor: 0
        }
    );
    assert_eq!(facts.build, Some(17763));
    assert_eq!(facts.rdp_port, Some(3390));
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
}

#[test]
fn remote_desktop_off_or_without_a_port() {
    let r = RecordingReporter::default();
    let mut meta = Metadata::new();
    let mut off = rdp(sam(MemRegistry::new(), ACCOUNTS), 1, Some(3390));
    let facts = collect(&server_2019("i386"), &mut off, &mut meta, &r).unwrap();
    assert!(!meta.contains_key("REMOTE_CONNECTION"));
    assert_eq!((facts.rdp_port, facts.arch), (None, Some(WinArch::X86)));
    assert_eq!(meta["OSVERSION"], "10.0");

    let mut nobody = rdp(sam(MemRegistry::new(), &ACCOUNTS[..1]), 0, None);
    let mut meta = Metadata::new();
    collect(&server_2019("x86_64"), &mut nobody, &mut meta, &r).unwrap();
    assert_eq!(meta["REMOTE_CONNECTION"], "rdp:port=3389");
    assert!(!meta.contains_key("USERS"));
    assert_eq!(r.warnings(), ["No passworded users found"]);
}

#[test]
fn odd_sam_entries_are_skipped_with_a_warning() {
    let reg = sam(MemRegistry::new(), ACCOUNTS)
        .with(
            Hive::Sam,
            r"SAM\Domains\Account\Users\000003EB",
            "F",
            f_value(1003, 0x10),
        )
        .with(
            Hive::Sam,
            r"SAM\Domains\Account\Users\000003EB",
            "V",
            v_value("carol"),
        )
        .with(
            Hive::Sam,
            r"SAM\Domains\Account\Users\000003EC",
            "F",
            RegValue::Binary(vec![1, 2]),
        );
    let reg = named(reg, "dave");
    let mut reg = rdp(reg, 1, None);
    let r = RecordingReporter::default();
    let mut meta = Metadata::new();
    let facts = collect(&server_2019("aarch64"), &mut reg, &mut meta, &r).unwrap();
    assert_eq!(facts.users, ["Administrator", "alice"]);
    assert_eq!(facts.arch, None);
    let w = r.warnings();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("aarch64"), "{w:?}");
    assert!(w[1].contains("carol") && w[1].contains("Names"), "{w:?}");
    assert!(w[2].contains("000003EC"), "{w:?}");
}

#[test]
fn v_names() {
    let RegValue::Binary(v) = v_value("Ünïcode") else {
        unreachable!()
    };
    assert_eq!(v_name(&v).as_deref(), Some("Ünïcode"));
    assert_eq!(v_name(&v[..0xCC]), None);
    assert_eq!(v_name(&[0u8; 4]), None);
}
