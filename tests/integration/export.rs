//! The main job end to end: real Debian disk images of every layout and
//! format go through `snf-mkimage -o` on a real helper VM; the source stays
//! byte-identical, the outputs verify, the image is sparse, its metadata
//! matches what the fixture holds, and the exported images inspect as
//! Debian again. With `--no-sysprep` the image is the source disk byte for
//! byte; by default it is shrunk, and `shrink::check_shrunk` checks that.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use snf_image_creator::guest::appliance::probe_kvm;

use crate::support::*;

/// The step lines every successful export prints, in order.
const STEPS: &[&str] = &[
    "looks like an image file",
    "Snapshotting media source ... done",
    "Launching helper VM (may take a while) ... done",
    "Inspecting Operating System ... debian",
    "Collecting image metadata ... done",
    "Checking if the media contains logical volumes (LVM) ... no",
    "Dumping image file ... image file ",
    "Calculating md5sum ... ",
    "Dumping metadata file ... done",
    "Dumping md5sum file ... done",
    "Dumping sha256sum file ... done",
    "Dumping variant file ... done",
    "snf-image-creator exited without errors",
];

/// One exported image, kept until the end of the test.
pub struct Export {
    dir: tempfile::TempDir,
    pub image: PathBuf,
    pub facts: &'static Value,
}

/// What the export does to the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prep {
    /// `--no-sysprep`: the diskdump is the source, byte for byte.
    Untouched,
    /// `--no-sysprep --enable-sysprep shrink`: shrunk, every file kept.
    ShrinkOnly,
    /// The default system preparation tasks, shrink last.
    Defaults,
}

/// Export one fixture and check everything one run can show.
pub fn export(name: &str, prep: Prep) -> Export {
    let (src, facts) = fixture(name);
    let before = sha256_file(&src);
    let tmp = scratch();
    let dir = scratch();
    let image = dir.path().join("debian.diskdump");
    let extra: &[&str] = match prep {
        Prep::Untouched => &["--no-sysprep"],
        Prep::ShrinkOnly => &["--no-sysprep", "--enable-sysprep", "shrink"],
        Prep::Defaults => &[],
    };
    let r = run(mkimage()
        .arg("--tmpdir")
        .arg(tmp.path())
        .args(extra)
        .args(["--json", "-o"])
        .arg(&image)
        .arg(&src));
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    check_outcome_json(&r.stdout, &image);
    assert_steps_in_order(&r.stderr);
    let prepared = r.stderr.contains("Preparing system for image creation:");
    assert_eq!(prepared, prep != Prep::Untouched, "{name}: {}", r.stderr);
    assert_accel_said_once(&r.stderr);
    assert_eq!(sha256_file(&src), before, "{name}: the source changed");
    assert_empty_dir(tmp.path());
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    check_outputs(dir.path(), &image);
    match prep {
        Prep::Untouched => {
            assert!(!r.stderr.contains("Shrinking image"), "{}", r.stderr);
            check_content(&image, facts);
        }
        Prep::ShrinkOnly => crate::shrink::check_shrunk(&image, facts, &r.stderr),
        Prep::Defaults => crate::shrink::check_shrunk_table(&image, facts, &r.stderr),
    }
    check_metadata(&image, facts);
    Export { dir, image, facts }
}

/// The `--json` outcome names the image, its side files and checksums.
fn check_outcome_json(stdout: &str, image: &Path) {
    let doc: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let outcome = &doc["outcome"];
    assert_eq!(outcome["image"], image.to_str().unwrap(), "{stdout}");
    let md5 = std::fs::read_to_string(format!("{}.md5sum", image.display())).unwrap();
    assert!(
        md5.starts_with(outcome["md5"].as_str().unwrap()),
        "{md5} / {stdout}"
    );
    assert_eq!(outcome["sha256"], sha256_file(image), "{stdout}");
    assert_eq!(
        outcome["size"],
        std::fs::metadata(image).unwrap().len(),
        "{stdout}"
    );
    let files = outcome["files"].as_array().unwrap();
    assert!(
        files.iter().any(|f| f.as_str().unwrap().ends_with(".meta")),
        "{stdout}"
    );
    assert!(outcome["metadata"]["OSFAMILY"].is_string(), "{stdout}");
}

fn assert_steps_in_order(stderr: &str) {
    let mut from = 0;
    for step in STEPS {
        match stderr[from..].find(step) {
            Some(i) => from += i + step.len(),
            None => panic!("step {step:?} missing or out of order in:\n{stderr}"),
        }
    }
}

/// A KVM that cannot start a VM is detected, and said once; a working one
/// is not mentioned.
fn assert_accel_said_once(stderr: &str) {
    let said = stderr
        .lines()
        .filter(|l| l.contains("using software emulation (TCG)"))
        .count();
    let qemu = guestfs::Handle::create().unwrap().get_hv().unwrap();
    let expected = usize::from(
        probe_kvm(&qemu).is_err() && std::env::var_os("LIBGUESTFS_BACKEND_SETTINGS").is_none(),
    );
    assert_eq!(said, expected, "TCG fallback lines in:\n{stderr}");
}

fn check_outputs(dir: &Path, image: &Path) {
    for suffix in [
        "",
        ".meta",
        ".md5sum",
        ".sha256sum",
        ".variant",
        ".report.json",
    ] {
        let p = PathBuf::from(format!("{}{suffix}", image.display()));
        assert!(p.is_file(), "{} is missing", p.display());
    }
    for (tool, file) in [
        ("md5sum", "debian.diskdump.md5sum"),
        ("sha256sum", "debian.diskdump.sha256sum"),
    ] {
        let out = Command::new(tool)
            .args(["-c", file])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} -c {file}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 6, "no temporary files may remain: {names:?}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("debian.diskdump.report.json")).unwrap(),
    )
    .unwrap();
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert!(
        steps.contains(&"Launching helper VM (may take a while)"),
        "{report}"
    );
    assert!(steps.contains(&"Dumping image file"), "{report}");
    assert!(report["seconds"].as_f64().unwrap() > 0.0);
    // Inspection is one call at least, and the count is the sum by name.
    let by_name = report["guestfs_calls_by_name"].as_object().unwrap();
    assert_eq!(by_name["inspect_os"], 1, "{report}");
    let sum: u64 = by_name.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(report["guestfs_calls"].as_u64(), Some(sum), "{report}");
    assert!(report["peak_rss_bytes"].as_u64().unwrap() > 0, "{report}");
}

/// Without system preparation and shrinking the diskdump is the source
/// disk, byte for byte, and it is written sparse.
fn check_content(image: &Path, facts: &Value) {
    let size = std::fs::metadata(image).unwrap().len();
    assert_eq!(
        size,
        facts["virtual_size"].as_u64().unwrap(),
        "diskdump size"
    );
    assert_eq!(
        md5_file(image),
        facts["raw_md5"].as_str().unwrap(),
        "diskdump content"
    );
    let used = allocated(image);
    assert!(
        used < size * 9 / 10,
        "not sparse: {used} of {size} bytes allocated"
    );
}

fn check_metadata(image: &Path, facts: &Value) {
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.meta", image.display())).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["disk-format"], "diskdump");
    let p = &meta["properties"];
    assert_eq!(p["OSFAMILY"], "linux");
    assert_eq!(p["OS"], "debian");
    assert_eq!(p["PARTITION_TABLE"], facts["partition_table"]);
    assert_eq!(p["ROOT_PARTITION"], facts["root_partition"].to_string());
    // The fixture runs cloud-init, so USERS is cloud-init's user list (its
    // default user), as snf-image expects; the shadow users are checked by
    // the unit tests of the metadata collector.
    let default_user = facts["cloud_init_default_user"]
        .as_str()
        .expect("cloud_init_default_user in the manifest");
    assert_eq!(p["CLOUD_INIT"], "yes");
    assert_eq!(p["CLOUD_INIT_DEFAULT_USER"], default_user);
    assert_eq!(p["USERS"], default_user);
    assert_eq!(p["KERNEL"], facts["kernel"]);
    let port = facts["sshd_port"].as_u64().unwrap();
    assert_eq!(
        p["REMOTE_CONNECTION"],
        format!("ssh:port={port},user={default_user}")
    );
    assert_eq!(p["BOOTSTRAP"], facts["bootstrap"]);
    assert!(
        p["SORTORDER"].as_str().unwrap().starts_with("7"),
        "SORTORDER {}",
        p["SORTORDER"]
    );
    assert!(p["DESCRIPTION"].as_str().unwrap().contains("Debian"));
}

/// One helper VM with every exported image attached read-only: each must
/// inspect as Debian again.
pub fn inspect_exports(exports: &[Export]) {
    let g = guestfs::Handle::create().unwrap();
    g.set_backend("direct").unwrap();
    if probe_kvm(&g.get_hv().unwrap()).is_err() {
        g.set_backend_setting("force_tcg", "1").unwrap();
    }
    for e in exports {
        let opts = guestfs::AddDriveOptArgs {
            readonly: Some(true),
            format: Some("raw"),
            ..Default::default()
        };
        g.add_drive(e.image.to_str().unwrap(), opts).unwrap();
    }
    g.launch().unwrap();
    let roots = g.inspect_os().unwrap();
    assert_eq!(roots.len(), exports.len(), "roots found: {roots:?}");
    for root in roots {
        assert_eq!(g.inspect_get_distro(&root).unwrap(), "debian", "{root}");
        assert_eq!(g.inspect_get_type(&root).unwrap(), "linux");
        check_default_tasks(&g, &root);
    }
    g.shutdown().unwrap();
    for e in exports {
        assert!(e.dir.path().exists() && !e.facts.is_null());
    }
}

/// On a prepared image, a default task ran (passwords locked) and tasks
/// that are off by default did not (accounts and mailboxes kept); on an
/// unprepared one nothing changed.
fn check_default_tasks(g: &guestfs::Handle, root: &str) {
    g.mount_ro(root, "/").unwrap();
    let shadow = String::from_utf8(g.read_file("/etc/shadow").unwrap()).unwrap();
    let passwd = String::from_utf8(g.read_file("/etc/passwd").unwrap()).unwrap();
    let prepared = !g.exists("/etc/ssh/ssh_host_ed25519_key").unwrap();
    let hashes = shadow
        .lines()
        .filter(|l| l.split(':').nth(1).is_some_and(|p| p.contains('$')))
        .count();
    if prepared {
        assert_eq!(hashes, 0, "{root}: passwords left:\n{shadow}");
        assert!(
            g.exists("/var/mail/user").unwrap(),
            "{root}: cleanup-mail is off by default"
        );
        let fstab = String::from_utf8(g.read_file("/etc/fstab").unwrap()).unwrap();
        assert!(
            !fstab.contains("/dev/sda"),
            "{root}: fstab still names devices:\n{fstab}"
        );
    } else {
        assert!(hashes >= 3, "{root}: {shadow}");
    }
    assert!(
        passwd.contains("\nalice:x:1001:"),
        "{root}: remove-user-accounts is off by default"
    );
    g.umount_all().unwrap();
}

/// Every layout with ext4 filesystems, shrunk (the default), checked by
/// `shrink::check_shrunk`; and the two formats no layout comes in (VHD,
/// whose size qemu rounds, and VHDX) exported untouched, byte for byte.
/// Every export must inspect as Debian again, all in one helper VM.
#[test]
fn every_layout_and_format() {
    let shrunk = [
        "debian-mbr.raw",
        "debian-gpt.qcow2",
        "debian-mbr-swap.vmdk",
        "debian-mbr-boot.vdi",
        "debian-gpt-boot.qcow2",
        "debian-mbr-logical.raw",
    ]
    .map(|name| export(name, Prep::ShrinkOnly));
    let untouched = ["debian-mbr.vhd", "debian-mbr.vhdx"].map(|name| export(name, Prep::Untouched));
    let exports: Vec<Export> = shrunk.into_iter().chain(untouched).collect();
    inspect_exports(&exports);
}
