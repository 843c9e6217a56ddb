use std::io::Read;
use std::path::Path;

use super::*;
use crate::cloud::local::history::VersionExtras;
use crate::cloud::local::history::manifest::{FileEntry, FileKind};
use crate::cloud::local::registry::ImageRequest;
use crate::cloud::pithos::plankton::location;

fn manifest() -> Manifest {
    Manifest::new(vec![FileEntry {
        path: "/etc/motd".into(),
        kind: FileKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 3,
        link: None,
        sha512: Some("ab".into()),
    }])
}

/// A store with two versions of "Debian", the second with a manifest.
fn store_with_versions(dir: &Path) -> Store {
    let s = Store::open(dir).unwrap();
    let me = s.owner().to_owned();
    s.create_container(&me, "images").unwrap();
    for (data, files) in [(&b"one"[..], None), (&b"two\0\0x"[..], Some(manifest()))] {
        s.put_data(&me, "images", "d.diskdump", &mut &data[..], "x")
            .unwrap();
        let req = ImageRequest {
            name: "Debian".into(),
            location: location(&me, "images", "d.diskdump"),
            properties: [("OSFAMILY".to_owned(), "linux".to_owned())].into(),
            ..Default::default()
        };
        let triggers = files
            .is_some()
            .then(|| Triggers::parse(br#"[{"MatchLines": ["/etc/"], "Service": "x"}]"#).unwrap());
        let extras = VersionExtras {
            manifest: files,
            triggers,
            ..Default::default()
        };
        s.register_version(&me, &req, &extras).unwrap();
    }
    s.change_history("Debian", false, |ix| ix.tag(2, "candidate"))
        .unwrap();
    s
}

fn bundle_of(s: &Store, dir: &Path) -> Vec<u8> {
    let extra = dir.join("readme");
    std::fs::write(&extra, "hello").unwrap();
    let mut out = Vec::new();
    let extras = [Extra {
        src: extra,
        dst: "notes/readme.txt".into(),
    }];
    export(s, "Debian:candidate", &extras, &mut out).unwrap();
    out
}

/// Every file under the store, with its content.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_bundle_round_trips_into_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = store_with_versions(&dir.path().join("a"));
    let tar = bundle_of(&a, dir.path());
    let b = Store::open(&dir.path().join("b")).unwrap();
    let got = dir.path().join("got");
    let done = import(&b, &tar[..], None, Some(&got)).unwrap();
    assert_eq!(done.image.properties["VERSION"], "2");
    assert_eq!(
        std::fs::read_to_string(got.join("notes/readme.txt")).unwrap(),
        "hello"
    );
    let (_, va) = a.resolve("Debian@2").unwrap();
    let (_, vb) = b.resolve("Debian@2").unwrap();
    assert_eq!(
        (&va.image.properties, va.image.size, &va.image.checksum),
        (&vb.image.properties, vb.image.size, &vb.image.checksum)
    );
    assert_eq!(b.manifest("Debian", 2).unwrap(), manifest());
    assert_eq!(vb.triggers, va.triggers);
    assert!(vb.triggers.is_some());
    let again = import(&b, &tar[..], Some("Copy"), None).unwrap();
    assert_eq!(again.image.name, "Copy");
    assert!(again.image.location.ends_with("/d.diskdump.1"));
}

/// One member: its name, entry type and data.
type Raw = (Vec<u8>, tar::EntryType, Vec<u8>);

/// The members of a bundle.
fn members(tar: &[u8]) -> Vec<Raw> {
    let mut ar = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((e.path_bytes().into_owned(), e.header().entry_type(), data));
    }
    out
}

/// A tar of `members`, names written raw (the tar crate would refuse
/// `..`).
fn raw_tar(members: &[Raw]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in members {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn bad_bundles_are_refused_with_the_member_named_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let a = store_with_versions(&dir.path().join("a"));
    let good = bundle_of(&a, dir.path());
    let m = members(&good);
    let edit = |f: &dyn Fn(&mut Vec<Raw>)| {
        let mut m = m.clone();
        f(&mut m);
        raw_tar(&m)
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            edit(&|m| m[1].2[0] ^= 1),
            "member `d.diskdump' does not match its SHA-256",
        ),
        (
            edit(&|m| m[3].0 = b"../x".to_vec()),
            "member `../x' has a name",
        ),
        (
            edit(&|m| m[3].0 = b"/etc/passwd".to_vec()),
            "member `/etc/passwd' has a name",
        ),
        (
            edit(&|m| m[2].1 = tar::EntryType::Symlink),
            "member `d.diskdump.meta' is not a regular file",
        ),
        (
            edit(&|m| m[3] = m[2].clone()),
            "member `d.diskdump.meta' appears twice",
        ),
        (edit(&|m| m.swap(0, 1)), "the first member is `d.diskdump'"),
        (
            edit(&|m| m[0].2[0] = b'['),
            "manifest.json is not a bundle manifest",
        ),
        (
            edit(&|m| m.truncate(3)),
            "is missing (the bundle is truncated?)",
        ),
        (good[..good.len() / 2].to_vec(), "truncated"),
        (b"not a tar at all".repeat(100), "not a readable tar"),
    ];
    let b = Store::open(&dir.path().join("b")).unwrap();
    let before = snapshot(&dir.path().join("b"));
    for (tar, want) in cases {
        let e = import(&b, &tar[..], None, None).unwrap_err();
        assert!(
            matches!(&e, HistoryError::BadBundle(msg) if msg.contains(want)),
            "{e} (wanted {want})"
        );
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(
            snapshot(&dir.path().join("b")) == before,
            "{want}: the store changed"
        );
    }
}

#[test]
fn an_oversized_manifest_is_refused_before_it_is_read() {
    let mut h = tar::Header::new_gnu();
    h.set_path(MANIFEST).unwrap();
    h.set_size(MAX_MANIFEST + 1);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend([b'{'; 512]);
    let dir = tempfile::tempdir().unwrap();
    let b = Store::open(dir.path()).unwrap();
    let e = import(&b, &tar[..], None, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("manifest.json is 268435457 bytes"),
        "{e}"
    );
}

#[test]
fn member_names_must_stay_inside() {
    for ok in ["a", "extras/x/y.txt", "d.diskdump.meta"] {
        assert!(safe_member(ok), "{ok}");
    }
    for bad in ["", "/a", "a/../b", "..", "./a", "a//b", "a\\b", "a/"] {
        assert!(!safe_member(bad), "{bad}");
    }
}
