//! The terminal UI end to end: the real binary in a real terminal (tmux,
//! 80×24), driven by keys, on a real fixture image with a real helper VM.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

/// A tmux server of our own, with one 80×24 window running a command.
/// Dropping it ends the server and whatever still runs in it.
pub(crate) struct Tmux {
    pub(crate) socket: String,
    done: PathBuf,
    /// The server's process, whose command line names the UI's.
    server: String,
}

/// What the pane's shell does around the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pane {
    /// Stays after the command (sleeping), so its screen can be read.
    Kept,
    /// Outlives the hang-up of its terminal (SIGHUP trapped) just long
    /// enough to record the command's exit code, then ends.
    Losable,
}

impl Tmux {
    fn start(command: &str, dir: &Path) -> Tmux {
        Tmux::start_in(command, dir, Pane::Kept)
    }

    pub(crate) fn start_in(command: &str, dir: &Path, pane: Pane) -> Tmux {
        // One server per UI: tests run side by side in one process.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "snf-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let done = dir.join("exit-code");
        // A kept pane outlives the program, so the screen it leaves behind
        // can be read.
        let script = match pane {
            Pane::Kept => format!("{command}; echo $? > {}; exec sleep 600", done.display()),
            Pane::Losable => format!("trap : HUP; {command}; echo $? > {}", done.display()),
        };
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "80", "-y", "24"])
            .arg(script)
            .env("TERM", "xterm-256color")
            .status()
            .expect("running tmux (package tmux)");
        assert!(status.success(), "tmux could not start");
        let pid = Command::new("tmux")
            .args(["-L", &socket, "display-message", "-p", "#{pid}"])
            .output()
            .expect("asking tmux for its server's pid");
        let server = String::from_utf8_lossy(&pid.stdout).trim().to_owned();
        Tmux {
            socket,
            done,
            server,
        }
    }

    pub(crate) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let status = Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", k])
                .status()
                .unwrap();
            assert!(status.success());
            // One key at a time, as a person types: the UI redraws between.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Wait until the screen shows `text`; fail with the screen if it does
    /// not within `limit`.
    pub(crate) fn wait_for(&self, text: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{text:?} did not appear within {limit:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Wait for the program to end and return its exit code.
    pub(crate) fn exit_code(&self, limit: Duration) -> i32 {
        let start = Instant::now();
        while !self.done.exists() {
            assert!(
                start.elapsed() < limit,
                "the UI did not exit; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        std::fs::read_to_string(&self.done)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        // kill-server returns before the server has exited.
        let proc = Path::new("/proc").join(&self.server);
        let start = Instant::now();
        while proc.exists() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub(crate) const LAUNCH: Duration = Duration::from_secs(300);

/// The UI on `image`, with its own image store and no kamaki clouds.
fn start_ui(tmp: &Path, image: &Path, dir: &Path) -> Tmux {
    start_ui_in(tmp, image, dir, Pane::Kept)
}

/// [`start_ui`] in a pane of either kind.
pub(crate) fn start_ui_in(tmp: &Path, image: &Path, dir: &Path, pane: Pane) -> Tmux {
    let cmd = format!(
        "env SNF_IMAGE_STORE={} KAMAKI_CONFIG={} {} --tmpdir {} {}",
        dir.join("store").display(),
        dir.join("no-kamakirc").display(),
        env!("CARGO_BIN_EXE_snf-image-creator"),
        tmp.display(),
        image.display()
    );
    let ui = Tmux::start_in(&cmd, dir, pane);
    ui.wait_for("Initialization", Duration::from_secs(30));
    ui.wait_for("Would you like to run a wizard", LAUNCH);
    assert!(
        ui.screen().contains("OS: linux, Distro: debian, Size: "),
        "status line:\n{}",
        ui.screen()
    );
    ui
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

#[test]
fn expert_extract_and_wizard_in_a_terminal() {
    let (src, _) = fixture("debian-gpt.qcow2");
    let before = sha256_file(&src);
    let work = scratch();
    let tmp = scratch();
    let out = scratch();

    // Expert: add a property, then Extract.
    let ui = start_ui(tmp.path(), &src, work.path());
    ui.keys(&["Right", "Enter"]);
    ui.wait_for("Image Creator (snf-image-creator", Duration::from_secs(10));
    ui.keys(&["Enter", "Down", "Down", "Down", "Enter", "Tab", "Enter"]);
    ui.wait_for("Name (letters, digits and _)", Duration::from_secs(10));
    ui.text("build_id");
    ui.keys(&["Enter"]);
    ui.text("42");
    ui.keys(&["Enter"]);
    ui.wait_for("BUILD_ID", Duration::from_secs(10));
    ui.keys(&["Tab", "Tab", "Tab", "Enter", "Tab", "Enter"]);
    ui.wait_for("Dump image to local file system", Duration::from_secs(10));
    let expert_image = out.path().join("expert.diskdump");
    ui.keys(&["Down", "Down", "Enter", "C-u"]);
    ui.text(expert_image.to_str().unwrap());
    ui.keys(&["Enter"]);
    ui.wait_for("Image Extraction", Duration::from_secs(10));
    ui.wait_for("The image was extracted", LAUNCH);
    ui.keys(&["Enter", "Escape"]);
    ui.wait_for("Do you want to exit?", Duration::from_secs(10));
    ui.keys(&["Left", "Enter"]);
    assert_eq!(ui.exit_code(Duration::from_secs(60)), 0);
    assert_exported(&expert_image);
    let meta = std::fs::read_to_string(format!("{}.meta", expert_image.display())).unwrap();
    assert!(meta.contains("\"BUILD_ID\": \"42\""), "{meta}");
    assert_empty_dir(tmp.path());
    drop(ui);

    // Wizard: the local store, name, description, registration, a local
    // copy, confirm; the image is uploaded and registered.
    let work = scratch();
    let ui = start_ui(tmp.path(), &src, work.path());
    ui.keys(&["Enter"]);
    ui.wait_for("(1/6) Clouds", Duration::from_secs(10));
    assert!(ui.screen().contains("The built-in local image store"));
    ui.keys(&["Enter"]);
    ui.wait_for("(2/6) Image Name", Duration::from_secs(10));
    ui.keys(&["Enter", "C-u"]);
    ui.text("Debian from the wizard");
    ui.keys(&["Enter", "Enter"]);
    ui.wait_for("(5/6) Local Copy", Duration::from_secs(10));
    let wizard_image = out.path().join("wizard.diskdump");
    ui.text(wizard_image.to_str().unwrap());
    ui.keys(&["Enter"]);
    ui.wait_for(
        "All necessary information has been gathered",
        Duration::from_secs(10),
    );
    ui.keys(&["Enter"]);
    ui.wait_for("Image creation finished", LAUNCH);
    assert!(
        ui.screen().contains("The image was registered as"),
        "{}",
        ui.screen()
    );
    ui.keys(&["Enter"]);
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
    ui.keys(&["C-c"]);
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

    // Expert → Register → Upload into the test's own local store.
    let ui = start_ui(tmp.path(), &src, work.path());
    ui.keys(&["Right", "Enter"]);
    ui.wait_for("Image Creator (snf-image-creator", Duration::from_secs(10));
    ui.keys(&["Down", "Enter"]);
    ui.wait_for("Image Registration Menu", Duration::from_secs(10));
    ui.keys(&["Down", "Enter"]);
    ui.wait_for("Object name", Duration::from_secs(10));
    ui.keys(&["C-u"]);
    ui.text("tui-register.diskdump");
    ui.keys(&["Enter"]);
    ui.wait_for("The image was uploaded to the local image store", LAUNCH);
    // Register it, private, with a name and a description.
    ui.keys(&["Enter", "Down", "Enter"]);
    ui.wait_for("Registration name", Duration::from_secs(10));
    ui.keys(&["C-u"]);
    ui.text("Debian from Register");
    ui.keys(&["Down", "C-u"]);
    ui.text("Registered in expert mode");
    ui.keys(&["Enter"]);
    ui.wait_for("Make the image public", Duration::from_secs(10));
    ui.keys(&["Enter"]);
    ui.wait_for("The image was registered with", Duration::from_secs(60));
    // Info, saved to a file.
    ui.keys(&["Enter", "Down", "Enter"]);
    ui.wait_for(
        "\"object\": \"tui-register.diskdump\"",
        Duration::from_secs(10),
    );
    assert!(ui.screen().contains("\"image_id\": \""), "{}", ui.screen());
    ui.keys(&["Tab", "Enter", "C-u"]);
    ui.text(info.to_str().unwrap());
    ui.keys(&["Enter"]);
    ui.wait_for("The information was saved", Duration::from_secs(10));
    ui.keys(&["Enter", "Escape", "Escape"]);
    ui.wait_for("Do you want to exit?", Duration::from_secs(10));
    ui.keys(&["Left", "Enter"]);
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

/// Expert Sysprep (one default task unticked, one parameter set), then
/// Mount (a file written into the mounted guest from outside), then
/// Extract: the image carries the choices and the file. Then Mount again
/// and Ctrl-C: the source is untouched and nothing is left behind (mount,
/// session overlay, processes).
#[test]
fn expert_sysprep_and_mount_then_extract() {
    let (src, facts) = fixture("debian-gpt.qcow2");
    let before = sha256_file(&src);
    let (work, tmp, out) = (scratch(), scratch(), scratch());
    let ui = start_ui(tmp.path(), &src, work.path());
    ui.keys(&["Right", "Enter"]);
    ui.wait_for("Image Creator (snf-image-creator", Duration::from_secs(10));
    // Customize → Sysprep: untick cleanup-tmp; bootmenu_timeout=3.
    ui.keys(&["Enter", "Down", "Down", "Enter"]);
    ui.wait_for("[X] cleanup-tmp", Duration::from_secs(10));
    ui.keys(&["Down", "Space", "Tab", "Tab", "Enter"]);
    ui.wait_for("System Preparation Parameters", Duration::from_secs(10));
    ui.keys(&["Down", "Enter"]);
    ui.wait_for("Parameter bootmenu_timeout", Duration::from_secs(10));
    ui.keys(&["C-u"]);
    ui.text("3");
    ui.keys(&["Enter"]);
    ui.wait_for("bootmenu_timeout    3", Duration::from_secs(10));
    ui.keys(&["Tab", "Enter"]);
    ui.wait_for("[ ] cleanup-tmp", Duration::from_secs(10));
    ui.keys(&["BTab", "BTab", "Enter"]);
    ui.wait_for("Image Customization Menu", Duration::from_secs(10));
    // Mount, write a file into the guest from outside, unmount.
    ui.keys(&["Up", "Up", "Enter"]);
    ui.wait_for("< Unmount >", LAUNCH);
    let dir = mounted_dir(&ui.screen(), tmp.path());
    assert!(
        dir.join("etc/hostname").is_file(),
        "{} does not hold the guest",
        dir.display()
    );
    std::fs::write(dir.join("etc/written-through-mount"), "from the host\n").unwrap();
    ui.keys(&["Enter"]);
    ui.wait_for("The guest was unmounted", Duration::from_secs(120));
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(tmp.path().to_str().unwrap()), "{mounts}");
    // Back to the main menu, Extract.
    ui.keys(&["Enter", "Escape", "Down", "Down", "Enter", "C-u"]);
    let image = out.path().join("custom.diskdump");
    ui.text(image.to_str().unwrap());
    ui.keys(&["Enter"]);
    ui.wait_for("The image was extracted", LAUNCH);
    // Mount again and leave with Ctrl-C: unmounted, overlay deleted.
    ui.keys(&["Enter", "Up", "Up", "Enter"]);
    ui.wait_for("Image Customization Menu", Duration::from_secs(10));
    ui.keys(&["Enter"]);
    ui.wait_for("< Unmount >", LAUNCH);
    ui.keys(&["C-c"]);
    assert_eq!(ui.exit_code(Duration::from_secs(120)), 130);
    drop(ui);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(tmp.path().to_str().unwrap()), "{mounts}");
    assert_exported(&image);
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
