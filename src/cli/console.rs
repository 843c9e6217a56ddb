//! The terminal side of progress reporting: the original's `title ... result`
//! lines on stderr, with an `indicatif` progress bar on long steps when
//! stderr is a terminal and plain lines otherwise.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::progress::{Event, Reporter, StepId, Unit};

/// Where our messages go.
pub struct Console {
    out: Mutex<State>,
    tty: bool,
    silent: bool,
    /// Listings and the metadata go to standard output as JSON (`--json`).
    json: bool,
}

struct State {
    out: File,
    /// The step whose `title ... ` is on screen without its result yet.
    open: Option<OpenStep>,
}

struct OpenStep {
    id: StepId,
    title: String,
    total: Option<(u64, Unit)>,
    screen: Screen,
}

/// What the open step's line shows right now.
enum Screen {
    /// `title ... ` waiting for its result.
    Title,
    /// A progress bar (terminal only).
    Bar(ProgressBar),
    /// Another message ended the line; the result needs the title again.
    Broken,
}

impl Console {
    /// Take over stderr: our messages go to a duplicate of it, and file
    /// descriptor 2 itself is pointed at /dev/null, because libguestfs
    /// prints every error it returns (which we report ourselves, once) and
    /// its binding offers no way to stop it.
    pub fn take_stderr(silent: bool) -> std::io::Result<Console> {
        let out = File::from(std::io::stderr().as_fd().try_clone_to_owned()?);
        let null = File::options().write(true).open("/dev/null")?;
        nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 2)?;
        let tty = out.is_terminal();
        Ok(Console {
            out: Mutex::new(State { out, open: None }),
            tty,
            silent,
            json: false,
        })
    }

    /// Print listings and the metadata as JSON documents.
    pub fn with_json(mut self, json: bool) -> Console {
        self.json = json;
        self
    }

    /// Another handle on our output, for the panic hook.
    pub fn clone_output(&self) -> Option<File> {
        self.out.lock().ok()?.out.try_clone().ok()
    }

    /// Print an error line (always, even when silent).
    pub fn error(&self, msg: &str) {
        let line = if self.tty {
            format!("\x1b[1;31mError:\x1b[0m {msg}\n")
        } else {
            format!("Error: {msg}\n")
        };
        self.write_line(&line);
    }

    /// Print a line unless silent.
    pub fn line(&self, msg: &str) {
        if !self.silent {
            self.write_line(&format!("{msg}\n"));
        }
    }

    fn write_line(&self, text: &str) {
        if let Ok(mut st) = self.out.lock() {
            st.close_open_line(self.tty);
            let _ = st.out.write_all(text.as_bytes());
        }
    }

    fn warning(&self, msg: &str) {
        let line = if self.tty {
            format!("\x1b[1;33mWarning:\x1b[0m {msg}\n")
        } else {
            format!("Warning: {msg}\n")
        };
        self.write_line(&line);
    }
}

impl State {
    /// A line is about to be printed while a step is open: end the step's
    /// line so the two do not run together. The step's result then comes
    /// on a line of its own.
    fn close_open_line(&mut self, tty: bool) {
        if let Some(step) = &mut self.open {
            match std::mem::replace(&mut step.screen, Screen::Broken) {
                Screen::Bar(bar) if tty => bar.finish_and_clear(),
                Screen::Broken => {}
                _ => {
                    let _ = writeln!(self.out);
                }
            }
        }
    }

    fn begin(&mut self, id: StepId, title: &str, total: Option<(u64, Unit)>) {
        self.close_open_line(false);
        let _ = write!(self.out, "{title} ... ");
        let _ = self.out.flush();
        self.open = Some(OpenStep {
            id,
            title: title.to_owned(),
            total,
            screen: Screen::Title,
        });
    }

    fn advance(&mut self, id: StepId, done: u64, tty: bool) {
        let Some(step) = self.open.as_mut().filter(|s| s.id == id) else {
            return;
        };
        let Some((total, unit)) = step.total else {
            return;
        };
        if !tty {
            return;
        }
        if let Screen::Bar(bar) = &step.screen {
            bar.set_position(done);
            return;
        }
        let Ok(out) = self.out.try_clone() else {
            return;
        };
        let _ = write!(self.out, "\r\x1b[K");
        let bar = progress_bar(&step.title, total, unit, out);
        bar.set_position(done);
        step.screen = Screen::Bar(bar);
    }

    fn end(&mut self, id: StepId, result: &str) {
        match self.open.take() {
            Some(step) if step.id == id => {
                match step.screen {
                    Screen::Title => {}
                    Screen::Bar(bar) => {
                        bar.finish_and_clear();
                        let _ = write!(self.out, "{} ... ", step.title);
                    }
                    Screen::Broken => {
                        let _ = write!(self.out, "{} ... ", step.title);
                    }
                }
                let _ = writeln!(self.out, "{result}");
            }
            other => self.open = other,
        }
    }
}

/// The bar of a long step: `Dumping image file: [#####     ]  50% 512 MiB/1 GiB`.
fn progress_bar(title: &str, total: u64, unit: Unit, out: File) -> ProgressBar {
    let amount = match unit {
        Unit::Bytes => "{binary_bytes}/{binary_total_bytes}",
        Unit::Items => "{pos}/{len}",
    };
    let template = format!("{{msg}}: [{{bar:30}}] {{percent:>3}}% {amount}");
    let style = ProgressStyle::with_template(&template)
        .expect("a valid progress template")
        .progress_chars("## ");
    let target = ProgressDrawTarget::term_like(Box::new(Stderr(Mutex::new(out))));
    ProgressBar::with_draw_target(Some(total), target)
        .with_style(style)
        .with_message(title.to_owned())
}

/// Our duplicate of stderr as the terminal `indicatif` draws on (file
/// descriptor 2 itself points at /dev/null while we run).
#[derive(Debug)]
struct Stderr(Mutex<File>);

impl Stderr {
    /// Move the cursor `n` cells (`CSI 0 A` would move it one).
    fn move_by(&self, n: usize, code: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}{code}"))
    }

    fn put(&self, text: &str) -> std::io::Result<()> {
        let mut out = self.0.lock().map_err(|_| std::io::ErrorKind::Other)?;
        out.write_all(text.as_bytes())
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        ratatui::crossterm::terminal::size().map_or(80, |(w, _)| w)
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.move_by(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.move_by(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.move_by(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.move_by(n, 'D')
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        let mut out = self.0.lock().map_err(|_| std::io::ErrorKind::Other)?;
        out.flush()
    }
}

/// The metadata table of `--print-metadata`.
pub fn metadata_table(meta: &[(String, String)]) -> String {
    let width = meta.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::from("Detected image metadata:\n");
    for (k, v) in meta {
        text.push_str(&format!("  {k:<width$}  {v}\n"));
    }
    text
}

impl Reporter for Console {
    fn emit(&self, event: Event) {
        match event {
            Event::Warning(w) => return self.warning(&w),
            Event::Metadata(m) if self.json => {
                return super::json::print(&super::json::metadata(&m));
            }
            Event::Metadata(m) => return print!("{}", metadata_table(&m)),
            Event::Listing(listing) if self.json => return super::json::print(&listing.json),
            Event::Listing(listing) => return print!("{}", listing.text),
            _ if self.silent => return,
            _ => {}
        }
        let Ok(mut st) = self.out.lock() else {
            return;
        };
        match event {
            Event::Section(title) => {
                st.close_open_line(self.tty);
                let _ = writeln!(st.out, "\n{title}");
            }
            Event::Begin { id, title, total } => st.begin(id, &title, total),
            Event::Advance { id, done } => st.advance(id, done, self.tty),
            Event::End { id, result } => st.end(id, &result),
            Event::Info(msg) => {
                st.close_open_line(self.tty);
                let _ = writeln!(st.out, "{msg}");
            }
            Event::Mounted(dir) => {
                st.close_open_line(self.tty);
                let _ = writeln!(st.out, "The guest is mounted on {}", dir.display());
            }
            Event::Warning(_) | Event::Metadata(_) | Event::Listing(_) | Event::Secrets(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_draws_title_fill_and_amount() {
        let file = tempfile::tempfile().unwrap();
        let bar = progress_bar("Dumping", 1 << 30, Unit::Bytes, file.try_clone().unwrap());
        bar.set_position(512 << 20);
        bar.finish();
        let mut text = String::new();
        let mut file = file;
        std::io::Seek::rewind(&mut file).unwrap();
        std::io::Read::read_to_string(&mut file, &mut text).unwrap();
        assert!(text.contains("Dumping: [###"), "{text:?}");
        assert!(text.contains("/1.00 GiB"), "{text:?}");
    }

    #[test]
    fn table_aligns_keys() {
        let t = metadata_table(&[
            ("OS".into(), "debian".into()),
            ("OSFAMILY".into(), "linux".into()),
        ]);
        assert_eq!(
            t,
            "Detected image metadata:\n  OS        debian\n  OSFAMILY  linux\n"
        );
    }
}
