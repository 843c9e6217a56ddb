//! The terminal side of progress reporting: the original's `title ... result`
//! lines on stderr, with a progress bar on long steps when stderr is a
//! terminal and plain lines otherwise.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::progress::{Event, Reporter, StepId, Unit};

/// How often a progress bar is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 30;

/// Where our messages go.
pub struct Console {
    out: Mutex<State>,
    tty: bool,
    silent: bool,
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
    last_draw: Option<Instant>,
    screen: Screen,
}

/// What the open step's line shows right now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Screen {
    /// `title ... ` waiting for its result.
    Title,
    /// A progress bar (terminal only).
    Bar,
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
        })
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
            match step.screen {
                Screen::Bar if tty => {
                    let _ = write!(self.out, "\r\x1b[K");
                }
                Screen::Broken => {}
                _ => {
                    let _ = writeln!(self.out);
                }
            }
            step.screen = Screen::Broken;
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
            last_draw: None,
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
        if !tty || step.last_draw.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        step.last_draw = Some(Instant::now());
        step.screen = Screen::Bar;
        let line = bar_line(&step.title, done, total, unit);
        let _ = write!(self.out, "\r\x1b[K{line}");
        let _ = self.out.flush();
    }

    fn end(&mut self, id: StepId, result: &str) {
        match self.open.take() {
            Some(step) if step.id == id => {
                match step.screen {
                    Screen::Title => {}
                    Screen::Bar => {
                        let _ = write!(self.out, "\r\x1b[K{} ... ", step.title);
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

/// One progress bar line: `Dumping image file: [#####     ]  50% 512/1024 MiB`.
pub fn bar_line(title: &str, done: u64, total: u64, unit: Unit) -> String {
    let frac = if total == 0 {
        1.0
    } else {
        (done.min(total) as f64) / (total as f64)
    };
    let filled = (frac * BAR_WIDTH as f64).round() as usize;
    let amount = match unit {
        Unit::Bytes => format!("{}/{} MiB", done >> 20, total.div_ceil(1 << 20)),
        Unit::Items => format!("{done}/{total}"),
    };
    format!(
        "{title}: [{}{}] {:3.0}% {amount}",
        "#".repeat(filled),
        " ".repeat(BAR_WIDTH - filled),
        frac * 100.0
    )
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
            Event::Metadata(m) => {
                print!("{}", metadata_table(&m));
                return;
            }
            Event::Listing(text) => {
                print!("{text}");
                return;
            }
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
    fn bar() {
        assert_eq!(
            bar_line("Dumping", 512 << 20, 1 << 30, Unit::Bytes),
            format!(
                "Dumping: [{}{}]  50% 512/1024 MiB",
                "#".repeat(15),
                " ".repeat(15)
            )
        );
        assert!(bar_line("x", 0, 0, Unit::Items).contains("100%"));
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
