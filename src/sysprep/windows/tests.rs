//! The Windows table on an in-memory guest and registry.

use super::super::runner::{enabled, run_files};
use super::super::{Options, Selection, TaskOutcome, tasks_for};
use super::network::{PING_RULE, PING_RULE_TEXT};
use crate::guest::memfs::MemGuest;
use crate::guest::metadata::Metadata;
use crate::guest::profile::Profile;
use crate::guest::registry::mem::MemRegistry;
use crate::guest::registry::{Hive, RegValue, Registry};
use crate::guest::{Guest, OsInfo};
use crate::progress::RecordingReporter;

pub(crate) fn windows_guest() -> MemGuest {
    MemGuest::new()
        .file("/pagefile.sys", vec![0u8; 4096])
        .file("/HIBERFIL.SYS", vec![0u8; 2048])
        .file("/Windows/System32/config/SYSTEM", "regf")
        .file("/Windows/TEMP/a.tmp", "123")
        .file("/Windows/TEMP/b/c.tmp", "45")
        .file("/Users/alice/AppData/Local/Temp/x", "6789")
        .file("/Users/alice/AppData/Local/keep", "k")
        .file("/Windows/MEMORY.DMP", "dump")
        .file("/Windows/Minidump/1.dmp", "d")
        .file("/Windows/System32/winevt/Logs/System.evtx", "evtx")
        .file("/Windows/System32/winevt/Logs/keep.xml", "x")
        .file("/Windows/SoftwareDistribution/Download/kb/1.cab", "cab")
        .with_registry(MemRegistry::new())
}

pub(crate) fn run(g: &mut MemGuest, opts: &Options, r: &RecordingReporter) -> Vec<TaskOutcome> {
    let tasks = tasks_for(&Profile::Windows);
    let chosen = enabled(&tasks, opts);
    let os = OsInfo::default();
    let mut meta = Metadata::new();
    run_files(&chosen, opts, g, &os, &mut meta, r).unwrap()
}

fn opts(dry_run: bool) -> Options {
    Options {
        run: true,
        dry_run,
        selection: Selection::default(),
        ..Options::default()
    }
}

#[test]
fn offline_tasks_clean_files_and_set_registry_values() {
    let mut g = windows_guest();
    let r = RecordingReporter::default();
    let dry = run(&mut g, &opts(true), &r);
    assert_eq!(
        g.paths(),
        windows_guest().paths(),
        "a dry run changed files"
    );
    let reg = g.mem_registry().unwrap().clone();
    assert_eq!(reg.commits, dry.len(), "every task closes the hive");
    let real = run(&mut g, &opts(false), &RecordingReporter::default());
    let listed = |o: &[TaskOutcome]| -> Vec<String> {
        o.iter()
            .flat_map(|t| t.changes.iter().map(|c| c.path.clone()))
            .collect()
    };
    assert_eq!(listed(&dry), listed(&real));
    for gone in [
        "/pagefile.sys",
        "/HIBERFIL.SYS",
        "/Windows/TEMP/a.tmp",
        "/Windows/TEMP/b",
        "/Users/alice/AppData/Local/Temp/x",
        "/Windows/MEMORY.DMP",
        "/Windows/Minidump/1.dmp",
        "/Windows/System32/winevt/Logs/System.evtx",
        "/Windows/SoftwareDistribution/Download/kb",
    ] {
        assert!(!g.exists(gone).unwrap(), "{gone} is still there");
    }
    for kept in [
        "/Users/alice/AppData/Local/keep",
        "/Windows/Minidump",
        "/Windows/System32/winevt/Logs/keep.xml",
        "/Windows/System32/config/SYSTEM",
    ] {
        assert!(g.exists(kept).unwrap(), "{kept} was removed");
    }
    let reg = g.registry().unwrap();
    let value = |reg: &mut dyn Registry, hive, key, name| reg.value(hive, key, name).unwrap();
    let tz = "ControlSet001\\Control\\TimeZoneInformation";
    assert_eq!(
        value(reg, Hive::System, tz, "RealTimeIsUniversal"),
        Some(RegValue::Dword(1))
    );
    let v6 = "Policies\\Microsoft\\Windows\\TCPIP\\v6Transition";
    for name in ["Teredo_State", "ISATAP_State"] {
        let v = value(reg, Hive::Software, v6, name);
        assert_eq!(v, Some(RegValue::Sz("Disabled".into())), "{name}");
    }
    let rules =
        "CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules";
    assert_eq!(
        value(reg, Hive::System, rules, PING_RULE),
        Some(RegValue::Sz(PING_RULE_TEXT.into()))
    );
}

#[test]
fn online_tasks_warn_and_a_second_run_changes_nothing() {
    let mut g = windows_guest();
    let r = RecordingReporter::default();
    let no_boot = Options {
        no_boot: true,
        ..opts(false)
    };
    run(&mut g, &no_boot, &r);
    let warnings = r.warnings().join("\n");
    assert!(
        warnings.contains("microsoft-sysprep: runs inside"),
        "{warnings}"
    );
    assert!(
        warnings.contains("disable-ipv6-privacy-extensions"),
        "{warnings}"
    );
    assert!(
        !warnings.contains("kms-client-setup"),
        "off by default: {warnings}"
    );
    let again = run(&mut g, &opts(false), &RecordingReporter::default());
    assert!(again.iter().all(|t| t.changes.is_empty()), "{again:?}");
}

/// Without `--no-boot` the online phase runs the online tasks: the
/// offline pass says nothing of them, and a dry run says where they run.
#[test]
fn online_tasks_are_left_to_the_online_phase() {
    let r = RecordingReporter::default();
    run(&mut windows_guest(), &opts(false), &r);
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
    let r = RecordingReporter::default();
    run(&mut windows_guest(), &opts(true), &r);
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
    let ends: Vec<String> = (r.events().into_iter())
        .filter_map(|e| match e {
            crate::progress::Event::End { result, .. } => Some(result),
            _ => None,
        })
        .collect();
    let online = ends.iter().filter(|e| *e == "would run inside the guest");
    assert_eq!(online.count(), 2, "{ends:?}");
}
