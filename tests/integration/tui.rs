//! The terminal UI end to end: the real binary in a real terminal (tmux,
//! 80×24), driven by keys, on a real fixture image with a real helper VM.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use crate::tmux::{LAUNCH, Pane, SCREEN, Tmux, start_ui_in};

/// The UI on `image`, with its own image store and no kamaki clouds.
fn start_ui(tmp: &Path, image: &Path, dir: &Path) -> Tmux {
    start_ui_in(tmp, image, dir, Pane::Kept)
}

/// Words only the expert mode's main menu shows (Extract's line).
const MAIN_MENU: &str = "Dump image to local file system";
const CUSTOMIZE_MENU: &str = "Image Customization Menu";
const REGISTER_MENU: &str = "Image Registration Menu";

/// From the Wizard-or-Expert question to the expert main menu.
fn open_expert(ui: &Tmux) {
    ui.select("Right", "< Expert >");
    ui.press("Enter", "Image Creator (snf-image-creator");
}

/// From the expert main menu: Esc, and Yes to leave.
fn leave(ui: &Tmux) {
    ui.press("Escape", "Do you want to exit?");
    ui.select("Left", "< Yes >");
    ui.send("Enter");
}

fn assert_exported(image: &Path) {
    let dir = image.parent().unwrap();
    let name = image.file_name().unwrap().to_str().unwrap();
    for tool in ["md5sum", "sha256sum"] {
        let out = Command::new(tool)
            .args(["-c", &format!("{name}.{tool}")])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{tool} -c of {name}");
    }
    let meta = std::fs::read_to_string(format!("{}.meta", image.display())).unwrap();
    assert!(meta.contains("\"OS\": \"debian\""), "{meta}");
}

/// The wizard: the local store, name, description, registration, a local
/// copy, confirm; the image is uploaded and registered. (Expert mode's
/// Properties and Extract are in `expert_sysprep_properties_mount_then_extract`,
/// its Esc-and-Yes exit in `register_upload_register_info_save`.)
#[test]
fn wizard_uploads_registers_and_keeps_a_local_copy() {
    let (src, _) = fixture("debian-gpt.qcow2");
    let before = sha256_file(&src);
    let tmp = scratch();
    let out = scratch();
    let work = scratch();
    let ui = start_ui(tmp.path(), &src, work.path());
    ui.press("Enter", "(1/6) Clouds");
    assert!(ui.screen().contains("The built-in local image store"));
    ui.press("Enter", "(2/6) Image Name");
    ui.press("Enter", "(3/6) Image Description");
    ui.replace("Debian from the wizard");
    ui.press("Enter", "(4/6) Registration Type");
    ui.press("Enter", "(5/6) Local Copy");
    let wizard_image = out.path().join("wizard.diskdump");
    ui.type_text(wizard_image.to_str().unwrap());
    ui.press("Enter", "All necessary information has been gathered");
    ui.send("Enter");
    ui.wait_for("Image creation finished", LAUNCH);
    assert!(
        ui.screen().contains("The image was registered as"),
        "{}",
        ui.screen()
    );
    ui.send("Enter");
    assert_eq!(ui.exit_code(Duration::from_secs(60)), 0);
    assert_exported(&wizard_image);
    let meta = std::fs::read_to_string(format!("{}.meta", wizard_image.display())).unwrap();
    assert!(
        meta.contains("\"DESCRIPTION\": \"Debian from the wizard\""),
        "{meta}"
    );
    let show = run(creator()
        .args(["images", "show", "debian"])
        .env("SNF_IMAGE_STORE", work.path().join("store")));
    assert_eq!(show.code, 0, "{}", show.stderr);
    let image: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(image["properties"]["DESCRIPTION"], "Debian from the wizard");
    assert_eq!(image["properties"]["OS"], "debian");
    assert_eq!(image["is_public"], false);
    assert_empty_dir(tmp.path());
    drop(ui);
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    assert_eq!(sha256_file(&src), before, "the source changed");
}

#[test]
fn ctrl_c_during_initialization_cleans_up() {
    let (src, _) = fixture("debian-mbr.qcow2");
    let work = scratch();
    let tmp = scratch();
    let cmd = format!(
        "{} --tmpdir {} {}",
        env!("CARGO_BIN_EXE_snf-image-creator"),
        tmp.path().display(),
        src.display()
    );
    let ui = Tmux::start(&cmd, work.path());
    ui.wait_for("Launching helper VM", Duration::from_secs(60));
    ui.send("C-c");
    assert_eq!(ui.exit_code(Duration::from_secs(120)), 130);
    assert_empty_dir(tmp.path());
    // The terminal was restored: the UI's frame went with the alternate
    // screen.
    assert!(!ui.screen().contains("Initialization"), "{}", ui.screen());
    drop(ui);
    assert_no_process_mentions(&tmp.path().to_string_lossy());
}

#[test]
fn register_upload_register_info_save() {
    let (src, _) = fixture("debian-gpt.qcow2");
    let work = scratch();
    let tmp = scratch();
    let info = work.path().join("info.json");
    // An OpenStack cloud and an S3 bucket, in the files `--cloud` reads.
    let clouds = "clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n";
    std::fs::write(work.path().join("clouds.yaml"), clouds).unwrap();
    let s3 = work.path().join("config/snf-image-creator");
    std::fs::create_dir_all(&s3).unwrap();
    std::fs::write(
        s3.join("s3.ini"),
        "[images]\nendpoint_url = http://127.0.0.1:8333\n",
    )
    .unwrap();

    // Expert → Register → Cloud lists every kind; back, then Upload into
    // the test's own local store.
    let ui = start_ui(tmp.path(), &src, work.path());
    open_expert(&ui);
    ui.select("Down", "Register");
    ui.press("Enter", REGISTER_MENU);
    ui.press(
        "Enter",
        "openstack:lab  OpenStack: http://127.0.0.1:5000/v3",
    );
    assert!(
        ui.screen()
            .contains("s3:images      S3: http://127.0.0.1:8333"),
        "{}",
        ui.screen()
    );
    ui.press("Escape", REGISTER_MENU);
    ui.select("Down", "Upload");
    ui.press("Enter", "Object name");
    ui.replace("tui-register.diskdump");
    ui.send("Enter");
    ui.wait_for("The image was uploaded to the local image store", LAUNCH);
    // Register it, private, with a name and a description.
    ui.dismiss("Enter", "The image was uploaded");
    ui.select("Down", "Register");
    ui.press("Enter", "Registration name");
    ui.replace("Debian from Register");
    ui.focus("Down", "Description");
    ui.replace("Registered in expert mode");
    ui.press("Enter", "Make the image public");
    ui.send("Enter");
    ui.wait_for("The image was registered with", Duration::from_secs(60));
    // Info, saved to a file.
    ui.dismiss("Enter", "The image was registered with");
    ui.select("Down", "Info");
    ui.press("Enter", "\"object\": \"tui-register.diskdump\"");
    assert!(ui.screen().contains("\"image_id\": \""), "{}", ui.screen());
    ui.select("Tab", "< Save >");
    ui.press("Enter", "Save the information as:");
    ui.replace(info.to_str().unwrap());
    ui.press("Enter", "The information was saved");
    ui.dismiss("Enter", "The information was saved");
    ui.press("Escape", MAIN_MENU);
    // Images: the store's history has the registration as version 1.
    ui.select("Down", "Extract");
    ui.select("Down", "Images");
    ui.press("Enter", "Debian from Register  @1  1 version");
    ui.press("Enter", "Select a version, then an action.");
    ui.press("Enter", "Name: Debian from Register@1");
    assert!(
        ui.screen()
            .contains("DESCRIPTION = Registered in expert mode"),
        "{}",
        ui.screen()
    );
    ui.dismiss("Enter", "Name: Debian from Register@1");
    ui.press("Escape", "Debian from Register  @1  1 version");
    ui.press("Escape", MAIN_MENU);
    leave(&ui);
    assert_eq!(ui.exit_code(Duration::from_secs(60)), 0);

    let show = run(creator()
        .args(["images", "show", "Debian from Register"])
        .env("SNF_IMAGE_STORE", work.path().join("store")));
    assert_eq!(show.code, 0, "{}", show.stderr);
    let image: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(
        image["properties"]["DESCRIPTION"],
        "Registered in expert mode"
    );
    assert_eq!(image["properties"]["OS"], "debian");
    assert_eq!(image["is_public"], false);
    assert!(
        image["location"]
            .as_str()
            .unwrap()
            .ends_with("/images/tui-register.diskdump"),
        "{image}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    assert_eq!(saved["image"]["id"], image["id"]);
    assert_empty_dir(tmp.path());
    drop(ui);
    assert_no_process_mentions(&tmp.path().to_string_lossy());
}

/// The directory the Mount screen names (under the UI's `--tmpdir`).
fn mounted_dir(screen: &str, tmp: &Path) -> PathBuf {
    let prefix = tmp.to_str().unwrap();
    let line = screen
        .lines()
        .find(|l| l.contains(prefix) && l.contains("/guest"))
        .unwrap_or_else(|| panic!("no mount point on the screen:\n{screen}"));
    let start = line.find(prefix).unwrap();
    let path: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '│')
        .collect();
    PathBuf::from(path)
}

/// Customize → Properties, from the Sysprep entry: add BUILD_ID=42 and
/// come back to the Customize menu on Properties.
fn add_build_id(ui: &Tmux) {
    ui.select("Down", "Properties");
    ui.press("Enter", "Image Properties");
    ui.select("Tab", "< Add >");
    ui.press("Enter", "Name (letters, digits and _)");
    ui.type_text("build_id");
    ui.press("Enter", "Value of BUILD_ID:");
    ui.type_text("42");
    ui.dismiss("Enter", "Value of BUILD_ID:");
    ui.wait_for("BUILD_ID", SCREEN);
    for button in ["< Add >", "< Delete >", "< Back >"] {
        ui.select("Tab", button);
    }
    ui.press("Enter", CUSTOMIZE_MENU);
}

/// Expert Sysprep (one default task unticked, one parameter set), then
/// Properties (one added), then Mount (a file written into the mounted
/// guest from outside), then Extract: the image carries the choices, the
/// property and the file. Then Mount again and Ctrl-C: the source is
/// untouched and nothing is left behind (mount, session overlay,
/// processes).
#[test]
fn expert_sysprep_properties_mount_then_extract() {
    let (src, facts) = fixture("debian-gpt.qcow2");
    let before = sha256_file(&src);
    let (work, tmp, out) = (scratch(), scratch(), scratch());
    let ui = start_ui(tmp.path(), &src, work.path());
    open_expert(&ui);
    // Customize → Sysprep: untick cleanup-tmp; bootmenu_timeout=3.
    ui.press("Enter", CUSTOMIZE_MENU);
    ui.select("Down", "VirtIO");
    ui.select("Down", "Sysprep");
    ui.press("Enter", "[X] cleanup-tmp");
    ui.select("Down", "[X] cleanup-tmp");
    ui.select("Space", "[ ] cleanup-tmp");
    ui.select("Tab", "< Preview >");
    ui.select("Tab", "< Params >");
    ui.press("Enter", "System Preparation Parameters");
    ui.select("Down", "bootmenu_timeout");
    ui.press("Enter", "Parameter bootmenu_timeout");
    ui.replace("3");
    ui.press("Enter", "bootmenu_timeout    3");
    ui.select("Tab", "< Back >");
    ui.press("Enter", "[ ] cleanup-tmp");
    ui.select("BTab", "< Preview >");
    ui.select("BTab", "< OK >");
    ui.press("Enter", CUSTOMIZE_MENU);
    add_build_id(&ui);
    // Mount, write a file into the guest from outside, unmount.
    ui.select("Up", "Sysprep");
    ui.select("Up", "VirtIO");
    ui.select("Up", "Mount");
    // Out through the Back button and in again, still on Mount.
    ui.select("Tab", "< Back >");
    ui.press("Enter", MAIN_MENU);
    ui.press("Enter", CUSTOMIZE_MENU);
    ui.send("Enter");
    ui.wait_for("< Unmount >", LAUNCH);
    let dir = mounted_dir(&ui.screen(), tmp.path());
    assert!(
        dir.join("etc/hostname").is_file(),
        "{} does not hold the guest",
        dir.display()
    );
    std::fs::write(dir.join("etc/written-through-mount"), "from the host\n").unwrap();
    ui.send("Enter");
    ui.wait_for("The guest was unmounted", Duration::from_secs(120));
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(tmp.path().to_str().unwrap()), "{mounts}");
    // Back to the main menu, Extract.
    ui.dismiss("Enter", "The guest was unmounted");
    ui.press("Escape", MAIN_MENU);
    ui.select("Down", "Register");
    ui.select("Down", "Extract");
    ui.press("Enter", "Save image as:");
    let image = out.path().join("custom.diskdump");
    ui.replace(image.to_str().unwrap());
    ui.press("Enter", "Image Extraction");
    ui.wait_for("The image was extracted", LAUNCH);
    // Mount again and leave with Ctrl-C: unmounted, overlay deleted.
    ui.dismiss("Enter", "The image was extracted");
    ui.select("Up", "Register");
    ui.select("Up", "Customize");
    ui.press("Enter", CUSTOMIZE_MENU);
    ui.send("Enter");
    ui.wait_for("< Unmount >", LAUNCH);
    ui.send("C-c");
    assert_eq!(ui.exit_code(Duration::from_secs(120)), 130);
    drop(ui);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(tmp.path().to_str().unwrap()), "{mounts}");
    assert_exported(&image);
    let meta = std::fs::read_to_string(format!("{}.meta", image.display())).unwrap();
    assert!(meta.contains("\"BUILD_ID\": \"42\""), "{meta}");
    assert_empty_dir(tmp.path());
    assert_no_process_mentions(&tmp.path().to_string_lossy());
    assert_eq!(sha256_file(&src), before, "the source changed");

    let files = work.path().join("tree");
    let t = crate::sysprep::tree(&image, crate::sysprep::root_offset(facts), &files);
    assert!(t.contains_key("/tmp/junk.txt"), "cleanup-tmp ran");
    assert!(
        !t.contains_key("/var/cache/man/index.db"),
        "cleanup-cache did not run"
    );
    let grub = crate::sysprep::read(&files, "/etc/default/grub");
    assert!(grub.contains("GRUB_TIMEOUT=3\n"), "{grub}");
    assert_eq!(
        crate::sysprep::read(&files, "/etc/written-through-mount"),
        "from the host\n"
    );
}
