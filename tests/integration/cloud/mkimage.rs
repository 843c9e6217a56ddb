//! The main job into the default target: `snf-mkimage -u … -r …` on a
//! real Debian image prepares and shrinks it, exports it into the work
//! directory, uploads it into the local store and registers it with its
//! metadata.

use super::lab::*;
use crate::support::*;
use snf_image_creator::cloud::local::store::Store;

#[test]
fn mkimage_uploads_and_registers_into_the_local_store() {
    let (src, facts) = fixture("debian-mbr.qcow2");
    let before = sha256_file(&src);
    let dir = scratch();
    let tmp = scratch();
    let store = store_dir(dir.path());
    let r = run(mkimage()
        .env("SNF_IMAGE_STORE", &store)
        .args([
            "-u",
            "debian.diskdump",
            "-r",
            "Debian 12",
            "-d",
            "Debian 12 test image",
        ])
        .arg("--tmpdir")
        .arg(tmp.path())
        .arg(&src));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Credentials are checked before the media is even examined.
    let checked = r
        .stderr
        .find("Checking the account of the local image store")
        .unwrap();
    assert!(
        checked < r.stderr.find("Examining source media").unwrap(),
        "{}",
        r.stderr
    );
    for step in [
        "Preparing system for image creation:",
        "Shrinking image (may take a while) ... done",
        "Uploading missing blocks ...",
        "Uploading md5sum file ... done",
        "Registering private image with the compute service ... done",
        "Uploading metadata file ... done",
    ] {
        assert!(r.stderr.contains(step), "{step} missing:\n{}", r.stderr);
    }
    // The prepared fixture holds no secret: the scan finds none, so the
    // upload goes on without --allow-secrets.
    assert!(
        r.stderr.contains("Scanning for secrets ... none in "),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("secret left"), "{}", r.stderr);
    let reg = json(&r.stdout);
    assert_eq!(reg["name"], "Debian 12");
    assert_eq!(reg["properties"]["OSFAMILY"], "linux");
    assert_eq!(reg["properties"]["OS"], "debian");
    assert_eq!(reg["properties"]["DESCRIPTION"], "Debian 12 test image");
    assert_eq!(
        reg["properties"]["ROOT_PARTITION"],
        facts["root_partition"].to_string()
    );
    let size = reg["size"].as_u64().unwrap();
    assert!(
        size < facts["virtual_size"].as_u64().unwrap(),
        "the registered image is the shrunk one: {size} bytes"
    );

    // What the store holds is the exported disk: its MD5 is the .md5sum's.
    let st = Store::open(&store).unwrap();
    let obj = st
        .object(st.owner(), "images", "debian.diskdump")
        .unwrap()
        .unwrap();
    let mut md5 = Md5Writer::default();
    st.read_object(&obj, &mut md5).unwrap();
    let side = st
        .object(st.owner(), "images", "debian.diskdump.md5sum")
        .unwrap()
        .unwrap();
    let mut text = Vec::new();
    st.read_object(&side, &mut text).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        format!("{}  debian.diskdump\n", md5.hex())
    );
    assert_eq!(obj.bytes, size, "the object is the registered size");
    assert_ne!(
        md5.hex(),
        facts["raw_md5"].as_str().unwrap(),
        "the default tasks changed the disk"
    );

    // The export went into the work directory, which is gone.
    assert_empty_dir(tmp.path());
    assert_eq!(sha256_file(&src), before, "the source changed");
    let show = run(creator()
        .args(["images", "show", "Debian 12"])
        .env("SNF_IMAGE_STORE", &store));
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(json(&show.stdout)["id"], reg["id"]);
}

/// A writer that only hashes.
#[derive(Default)]
struct Md5Writer(md5::Md5);

impl Md5Writer {
    fn hex(&self) -> String {
        use md5::Digest;
        self.0
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::io::Write for Md5Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        use md5::Digest;
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
