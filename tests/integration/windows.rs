//! Windows guests, on the synthetic Windows disks of the fixtures
//! (`tests/fixtures/mk-windows.sh`: hand-made registry hives on NTFS,
//! inspected by the real libguestfs): the metadata read from the registry,
//! and the check a boot into Windows makes first.

use snf_image_creator::guest::appliance::Appliance;
use snf_image_creator::guest::metadata::{self, Metadata};
use snf_image_creator::guest::registry::Registry;
use snf_image_creator::guest::windows::preconditions::{self, BEFORE_BOOT, Ctx, NotReady, OFFLINE};
use snf_image_creator::progress::NullReporter;

use crate::support::*;

/// One real run per fixture (`--print-metadata --no-boot -o /dev/null`;
/// these synthetic disks cannot boot): every
/// Windows key, and the architecture the run reads for driver selection.
#[test]
fn windows_metadata_from_the_registry() {
    let cases = [
        (
            "windows-2019-gpt.raw",
            "Windows Server 2019 Datacenter",
            "10.0.17763",
            "8100000",
            "Windows NT 10.0",
            "(Windows NT 10.0, amd64)",
        ),
        (
            "windows-7-x86-mbr.raw",
            "Windows 7 Professional",
            "6.1.7601",
            "8060100",
            "Windows NT 6.1",
            "(Windows NT 6.1, x86)",
        ),
    ];
    for (name, description, version, sort, kernel, step) in cases {
        let (img, entry) = windows_fixture(name);
        let r = run(mkimage()
            .args(["--print-metadata", "--no-boot", "-o", "/dev/null"])
            .arg(&img));
        assert_eq!(r.code, 0, "{name}:\n{}", r.stderr);
        let m = printed_metadata(&r.stdout);
        let expect = |k: &str, v: &str| {
            assert_eq!(m.get(k).map(String::as_str), Some(v), "{name} {k}: {m:?}")
        };
        expect("OSFAMILY", "windows");
        expect("OS", "windows");
        expect("DESCRIPTION", description);
        expect("OSVERSION", version);
        expect("SORTORDER", sort);
        expect("GUI", "Windows");
        expect("KERNEL", kernel);
        expect("USERS", &users(entry));
        expect(
            "PARTITION_TABLE",
            entry["partition_table"].as_str().unwrap(),
        );
        expect("ROOT_PARTITION", &entry["system_partition"].to_string());
        match entry["rdp_port"].as_u64() {
            Some(port) => {
                let rdp: Vec<String> = users(entry)
                    .split(' ')
                    .map(|u| format!("rdp:port={port},user={u}"))
                    .collect();
                expect("REMOTE_CONNECTION", &rdp.join(" "));
            }
            None => assert!(!m.contains_key("REMOTE_CONNECTION"), "{name}: {m:?}"),
        }
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains(step), "{name}: no {step:?} in\n{all}");
        assert_eq!(
            entry["arch"].as_str(),
            Some(if name.contains("x86") { "x86" } else { "amd64" })
        );
    }
}

/// A generalized Windows can still be prepared offline; before a boot
/// into Windows it is refused, with one line. The real helper VM on an
/// overlay of the fixture.
#[test]
fn a_generalized_windows_is_refused_before_a_boot() {
    let (img, _) = windows_fixture("windows-2019-generalized.raw");
    let dir = scratch();
    let overlay = dir.path().join("overlay.qcow2");
    let ok = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&img)
        .arg(&overlay)
        .status()
        .unwrap();
    assert!(ok.success());
    let r = NullReporter;
    let mut vm = Appliance::launch(&overlay, "qcow2", &r).unwrap();
    let roots = vm.roots().unwrap();
    assert_eq!(roots.len(), 1, "{roots:?}");
    let os = vm.os_info(&roots[0]).unwrap();
    vm.mount(&os, true, &r).unwrap();
    let mut meta = Metadata::new();
    let facts = metadata::windows::collect(&os, &mut vm, &mut meta, &r).unwrap();
    let systemroot = vm
        .handle()
        .inspect_get_windows_systemroot(&os.root)
        .unwrap();
    let mut ctx = Ctx {
        disk: &mut vm,
        systemroot: &systemroot,
        facts: &facts,
        reporter: &r,
    };
    preconditions::check(OFFLINE, &mut ctx).unwrap();
    let err = preconditions::check(BEFORE_BOOT, &mut ctx).unwrap_err();
    assert!(err.downcast_ref::<NotReady>().is_some(), "{err:#}");
    assert_eq!(
        err.to_string(),
        "Windows was already generalized by Microsoft's System Preparation Tool \
         (ImageState is IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE): start from an image that \
         was not generalized, or leave out the tasks that run inside Windows (--no-boot)"
    );
    Registry::commit(&mut vm).unwrap();
    vm.umount_all().unwrap();
    vm.shutdown().unwrap();
}
