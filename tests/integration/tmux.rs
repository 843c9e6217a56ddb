//! The real binary in a real terminal: a tmux server of our own (80×24),
//! keys sent one at a time, and the screen read back until it shows what
//! the key must bring, with a deadline. No test waits a fixed time for the
//! screen to settle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

/// How long a key may take to change the screen (a redraw: no helper VM
/// involved, but the machine may be loaded).
pub(crate) const SCREEN: Duration = Duration::from_secs(30);

/// How long a step that launches or uses the helper VM may take (TCG on
/// shared cores).
pub(crate) const LAUNCH: Duration = Duration::from_secs(300);

/// A tmux server of our own, with one 80×24 window running a command.
/// Dropping it ends the server and whatever still runs in it.
pub(crate) struct Tmux {
    socket: String,
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

/// One reading of the screen: its text, and the runs drawn reversed
/// (selected menu rows and buttons) or underlined (the form field being
/// edited), one run per line at most.
pub(crate) struct Screen {
    pub(crate) text: String,
    reversed: Vec<String>,
    underlined: Vec<String>,
}

impl Screen {
    /// Whether a reversed run starts with `item` (blanks aside).
    fn selects(&self, item: &str) -> bool {
        self.reversed.iter().any(|r| r.trim().starts_with(item))
    }

    /// Whether an underlined run starts with `label` (blanks aside).
    fn edits(&self, label: &str) -> bool {
        self.underlined.iter().any(|r| r.trim().starts_with(label))
    }
}

impl Tmux {
    pub(crate) fn start(command: &str, dir: &Path) -> Tmux {
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
        let server = String::from_utf8_lossy(&tmux(&socket, &["display-message", "-p", "#{pid}"]))
            .trim()
            .to_owned();
        Tmux {
            socket,
            done,
            server,
        }
    }

    /// Run a tmux command on this server (failing the test if tmux
    /// fails); what it printed.
    pub(crate) fn command(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&tmux(&self.socket, args)).into_owned()
    }

    /// The screen's text.
    pub(crate) fn screen(&self) -> String {
        self.command(&["capture-pane", "-p"])
    }

    /// The screen's text and styles.
    fn read(&self) -> Screen {
        let styled = tmux(&self.socket, &["capture-pane", "-p", "-e"]);
        let (reversed, underlined) = styled_runs(&String::from_utf8_lossy(&styled));
        Screen {
            text: self.screen(),
            reversed,
            underlined,
        }
    }

    /// Wait until `done` holds of the screen, and return that screen; fail
    /// with `awaited` and the last screen if it does not within `limit`.
    pub(crate) fn wait_until(
        &self,
        awaited: &str,
        limit: Duration,
        done: impl Fn(&Screen) -> bool,
    ) -> Screen {
        poll(awaited, limit, || {
            let screen = self.read();
            if done(&screen) {
                Ok(screen)
            } else {
                Err(screen.text)
            }
        })
    }

    /// Wait until the screen shows `text`.
    pub(crate) fn wait_for(&self, text: &str, limit: Duration) -> String {
        let awaited = format!("the text {text:?}");
        self.wait_until(&awaited, limit, |s| s.text.contains(text))
            .text
    }

    /// Send one key (tmux's name for it), and nothing else.
    pub(crate) fn send(&self, key: &str) {
        self.command(&["send-keys", key]);
    }

    /// Send `key`, then wait until the screen shows `text`.
    pub(crate) fn press(&self, key: &str, text: &str) {
        self.send(key);
        self.wait_for(text, SCREEN);
    }

    /// Send `key`, then wait until `text` has left the screen (a notice
    /// answered: the screen beneath shows through it until then).
    pub(crate) fn dismiss(&self, key: &str, text: &str) {
        self.send(key);
        let awaited = format!("{text:?} gone after {key}");
        self.wait_until(&awaited, SCREEN, |s| !s.text.contains(text));
    }

    /// Send `key`, then wait until the selected menu row, list row or
    /// button (drawn reversed) starts with `item`.
    pub(crate) fn select(&self, key: &str, item: &str) {
        self.send(key);
        let awaited = format!("{item:?} selected after {key}");
        self.wait_until(&awaited, SCREEN, |s| s.selects(item));
    }

    /// Send `key`, then wait until the form field being edited (drawn
    /// underlined) is the one labelled `label`.
    pub(crate) fn focus(&self, key: &str, label: &str) {
        self.send(key);
        let awaited = format!("the field {label:?} edited after {key}");
        self.wait_until(&awaited, SCREEN, |s| s.edits(label));
    }

    /// Type `text` into the field being edited, and wait until the screen
    /// shows it (its end: a long value scrolls).
    pub(crate) fn type_text(&self, text: &str) {
        self.command(&["send-keys", "-l", text]);
        let chars: Vec<char> = text.chars().collect();
        let end: String = chars[chars.len().saturating_sub(24)..].iter().collect();
        self.wait_for(&end, SCREEN);
    }

    /// Empty the field being edited (Ctrl-U) and type `text` into it.
    pub(crate) fn replace(&self, text: &str) {
        self.send("C-u");
        self.type_text(text);
    }

    /// Wait for the program to end and return its exit code.
    pub(crate) fn exit_code(&self, limit: Duration) -> i32 {
        // The shell creates the file before it writes the code: wait for
        // the number, not for the file. The server may be gone (a killed
        // session ends it) while the shell still has to write it: the
        // screen is then only a note, never a failure.
        poll("the UI's exit", limit, || {
            let text = std::fs::read_to_string(&self.done).unwrap_or_default();
            text.trim().parse().map_err(|_| self.last_screen())
        })
    }

    /// The screen, or why it cannot be read (the server has ended).
    fn last_screen(&self) -> String {
        match Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
        {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
            _ => format!("(no screen: the tmux server {} has ended)", self.server),
        }
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

/// The UI on `image` in a pane of either kind, with its own image store
/// (under `dir`) and no kamaki clouds, once it asks Wizard or Expert.
pub(crate) fn start_ui_in(tmp: &Path, image: &Path, dir: &Path, pane: Pane) -> Tmux {
    let cmd = format!(
        "env SNF_IMAGE_STORE={} KAMAKI_CONFIG={} OS_CLIENT_CONFIG_FILE={} XDG_CONFIG_HOME={} {} --tmpdir {} {}",
        dir.join("store").display(),
        dir.join("no-kamakirc").display(),
        dir.join("clouds.yaml").display(),
        dir.join("config").display(),
        env!("CARGO_BIN_EXE_snf-image-creator"),
        tmp.display(),
        image.display()
    );
    let ui = Tmux::start_in(&cmd, dir, pane);
    ui.wait_for("Initialization", SCREEN);
    ui.wait_for("Would you like to run a wizard", LAUNCH);
    assert!(
        ui.screen().contains("OS: linux, Distro: debian, Size: "),
        "status line:\n{}",
        ui.screen()
    );
    ui
}

/// Run one tmux command on the server at `socket`; its standard output.
fn tmux(socket: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .expect("running tmux");
    assert!(out.status.success(), "tmux {args:?} failed");
    out.stdout
}

/// The reversed and the underlined runs of a screen captured with its
/// escape sequences (SGR only: what `capture-pane -e` writes). Styles carry
/// over from one line to the next; runs do not.
fn styled_runs(styled: &str) -> (Vec<String>, Vec<String>) {
    let (mut reversed, mut underlined) = (Vec::new(), Vec::new());
    let (mut rev, mut under) = (false, false);
    for line in styled.lines() {
        let (mut r, mut u) = (String::new(), String::new());
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            if let Some(sgr) = rest.strip_prefix("\x1b[") {
                let end = sgr.find('m').unwrap_or(sgr.len());
                apply_sgr(&sgr[..end], &mut rev, &mut under);
                flush(&mut r, &mut reversed, rev);
                flush(&mut u, &mut underlined, under);
                rest = &sgr[(end + 1).min(sgr.len())..];
                continue;
            }
            if rev {
                r.push(c);
            }
            if under {
                u.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut r, &mut reversed, false);
        flush(&mut u, &mut underlined, false);
    }
    (reversed, underlined)
}

/// End the run being collected unless its style still holds.
fn flush(run: &mut String, runs: &mut Vec<String>, holds: bool) {
    if !holds && !run.is_empty() {
        runs.push(std::mem::take(run));
    }
}

/// Apply one SGR parameter list to the reversed and underlined flags.
fn apply_sgr(params: &str, rev: &mut bool, under: &mut bool) {
    let mut it = params.split(';');
    while let Some(p) = it.next() {
        match p {
            "" | "0" => (*rev, *under) = (false, false),
            "7" => *rev = true,
            "27" => *rev = false,
            "24" => *under = false,
            // Colours by index or by RGB: skip their arguments.
            "38" | "48" | "58" => {
                let skip = if it.next() == Some("2") { 3 } else { 1 };
                it.by_ref().take(skip).for_each(drop);
            }
            p if p == "4" || p.starts_with("4:") => *under = p != "4:0",
            _ => {}
        }
    }
}

/// What the waits rest on: a real tmux reports the reversed row and the
/// underlined field of a screen, and the exit code of what ran in it.
#[test]
fn tmux_screen_reports_selection_and_focus() {
    let work = scratch();
    let ui = Tmux::start(
        r"printf 'x\033[7m Customize  Customize image \033[0m y\n\033[4;7m Name  ab_\033[24m more\033[0m z'",
        work.path(),
    );
    assert_eq!(ui.exit_code(SCREEN), 0);
    let screen = ui.wait_until("the printed lines", SCREEN, |s| s.text.contains('z'));
    assert_eq!(
        screen.reversed,
        [" Customize  Customize image ", " Name  ab_ more"]
    );
    assert_eq!(screen.underlined, [" Name  ab_"]);
    assert!(screen.selects("Customize") && screen.selects("Name"));
    assert!(screen.edits("Name") && !screen.edits("Customize"));
}
