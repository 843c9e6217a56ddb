//! The built-in local store: upload, dedupe, registration and `images`,
//! with no server at all.

use super::lab::*;
use crate::support::*;
use snf_image_creator::cloud::local::store::Store;

/// Six blocks: four distinct random ones, a zero block and a repeat, plus
/// a short tail: five distinct blocks to send the first time.
fn sample(path: &std::path::Path) {
    use Fill::*;
    make_file(
        path,
        &[Random(1), Zero, Random(2), Random(1), Random(3)],
        12_345,
    );
}

#[test]
fn upload_dedupes_registers_and_lists() {
    let dir = scratch();
    let img = dir.path().join("debian.diskdump");
    sample(&img);
    std::fs::write(
        dir.path().join("debian.diskdump.meta"),
        r#"{"properties": {"OSFAMILY": "linux", "OS": "debian"}, "disk-format": "diskdump"}"#,
    )
    .unwrap();
    let store = store_dir(dir.path());
    let r = upload(&[
        s(&img),
        "-r",
        "Debian 12",
        "-d",
        "My Debian",
        "-m",
        "extra=1",
        "--store",
        s(&store),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(blocks_sent(&r.stderr), (5, 6), "{}", r.stderr);
    let reg = json(&r.stdout);
    assert_eq!(reg["name"], "Debian 12");
    assert_eq!(reg["properties"]["OSFAMILY"], "linux");
    assert_eq!(reg["properties"]["DESCRIPTION"], "My Debian");
    assert_eq!(reg["properties"]["EXTRA"], "1");
    assert_eq!(reg["is_public"], false);
    assert_eq!(reg["size"], std::fs::metadata(&img).unwrap().len());

    // The object reads back byte for byte, and its side files are there.
    let st = Store::open(&store).unwrap();
    let obj = st
        .object(st.owner(), "images", "debian.diskdump")
        .unwrap()
        .unwrap();
    let mut back = Vec::new();
    st.read_object(&obj, &mut back).unwrap();
    assert!(back == std::fs::read(&img).unwrap(), "stored bytes differ");
    let md5 = st
        .object(st.owner(), "images", "debian.diskdump.md5sum")
        .unwrap()
        .unwrap();
    let mut text = Vec::new();
    st.read_object(&md5, &mut text).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        format!("{}  debian.diskdump\n", md5_file(&img))
    );
    assert!(
        st.object(st.owner(), "images", "debian.diskdump.meta")
            .unwrap()
            .is_some()
    );

    // Uploading it again without -f is refused before anything is sent.
    let again = upload(&[s(&img), "-r", "Debian 12", "--store", s(&store)]);
    again.assert_error(2, "debian.diskdump already exists in container images");

    // With -f nothing is sent again, and the image keeps its id.
    let forced = upload(&[s(&img), "-r", "Debian 12", "-f", "--store", s(&store)]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(blocks_sent(&forced.stderr), (0, 6));
    assert_eq!(json(&forced.stdout)["id"], reg["id"]);

    let list = run(creator().args(["images", "list", "--store", s(&store)]));
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(
        list.stdout.contains("Debian 12") && list.stdout.contains("private"),
        "{}",
        list.stdout
    );
    let listed = run(creator().args(["images", "list", "--json", "--store", s(&store)]));
    assert_eq!(json(&listed.stdout)["images"][0], json(&forced.stdout));
    let show = run(creator().args(["images", "show", "Debian 12", "--store", s(&store)]));
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(json(&show.stdout), json(&forced.stdout));
    let missing = run(creator().args(["images", "show", "nope", "--store", s(&store)]));
    missing.assert_error(1, "no image named");
}

#[test]
fn public_image_shares_side_files_in_its_container() {
    let dir = scratch();
    let img = dir.path().join("x.img");
    sample(&img);
    let store = store_dir(dir.path());
    let r = upload(&[
        s(&img),
        "-u",
        "os/x.diskdump",
        "-r",
        "X",
        "--public",
        "--container",
        "mine",
        "--store",
        s(&store),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Sharing md5sum file ... done"),
        "{}",
        r.stderr
    );
    let st = Store::open(&store).unwrap();
    for name in [
        "os/x.diskdump",
        "os/x.diskdump.md5sum",
        "os/x.diskdump.meta",
    ] {
        let o = st.object(st.owner(), "mine", name).unwrap().unwrap();
        assert!(o.is_world_readable(), "{name} should be shared");
    }
    assert!(
        !st.container_exists(st.owner(), "images"),
        "only the named container is used"
    );
    assert_eq!(json(&r.stdout)["is_public"], true);
    assert!(
        json(&r.stdout)["location"]
            .as_str()
            .unwrap()
            .ends_with("/mine/os/x.diskdump")
    );
}
