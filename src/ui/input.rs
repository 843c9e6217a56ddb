//! The input thread: terminal keys into the event queue, and a lost
//! terminal (hang-up, end of file, read error) as a stop.
//!
//! Crossterm's reader retries a failing read at once, for ever: on a
//! terminal that has hung up it spins at 100% of a core and never returns.
//! So the thread asks poll(2) first, and hands the terminal to crossterm
//! only when it has input and has not hung up.

use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};

use super::AppEvent;
use crate::process::StopReason;

/// How long one wait for input lasts before `stop` is checked again.
const WAIT: Duration = Duration::from_millis(100);

/// What the terminal has for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    Nothing,
    Input,
    /// Hung up, closed, or failing: nothing will ever come.
    Lost,
}

/// The terminal crossterm reads: standard input when it is one, else
/// `/dev/tty` (as crossterm picks it).
enum Tty {
    Stdin(std::io::Stdin),
    Dev(File),
}

impl Tty {
    fn open() -> std::io::Result<Tty> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Ok(Tty::Stdin(stdin));
        }
        File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map(Tty::Dev)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Tty::Stdin(s) => s.as_fd(),
            Tty::Dev(f) => f.as_fd(),
        }
    }

    /// Wait up to [`WAIT`] for input.
    fn wait(&self) -> Readiness {
        let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(WAIT).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => Readiness::Nothing,
            Err(_) => Readiness::Lost,
            Ok(_) => readiness(fds[0].revents().unwrap_or(PollFlags::empty())),
        }
    }
}

/// What poll(2)'s answer means. A hung-up terminal reports POLLIN too (a
/// read would return end of file or EIO), so the hang-up wins.
fn readiness(revents: PollFlags) -> Readiness {
    if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
        Readiness::Lost
    } else if revents.contains(PollFlags::POLLIN) {
        Readiness::Input
    } else {
        Readiness::Nothing
    }
}

/// The running input thread.
pub struct Input {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Input {
    /// Start reading the terminal into `tx`.
    pub fn spawn(tx: Sender<AppEvent>) -> Input {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let lost = || {
                let _ = tx.send(AppEvent::Interrupt(StopReason::Hangup));
            };
            let Ok(tty) = Tty::open() else {
                return lost();
            };
            while !flag.load(Ordering::SeqCst) {
                match tty.wait() {
                    Readiness::Nothing => {}
                    Readiness::Lost => return lost(),
                    Readiness::Input => {
                        if forward_keys(&tx).is_err() {
                            return lost();
                        }
                    }
                }
            }
        });
        Input { stop, thread }
    }

    /// Stop the thread; wait for it a moment, and leave it behind (the
    /// process is ending) if it does not end.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let start = Instant::now();
        while !self.thread.is_finished() && start.elapsed() < 3 * WAIT {
            std::thread::sleep(WAIT / 10);
        }
        if self.thread.is_finished() {
            let _ = self.thread.join();
        }
    }
}

/// Take every event crossterm has ready and send the key presses; an
/// error means the terminal failed.
fn forward_keys(tx: &Sender<AppEvent>) -> std::io::Result<()> {
    while event::poll(Duration::ZERO)? {
        if let TermEvent::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
        {
            // The UI is gone only when the program is ending.
            let _ = tx.send(AppEvent::Key(key));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hang_up_wins_over_input() {
        assert_eq!(readiness(PollFlags::POLLIN), Readiness::Input);
        assert_eq!(readiness(PollFlags::empty()), Readiness::Nothing);
        for lost in [PollFlags::POLLHUP, PollFlags::POLLERR, PollFlags::POLLNVAL] {
            assert_eq!(readiness(PollFlags::POLLIN | lost), Readiness::Lost);
        }
    }

    /// Input whose other side closed reports the hang-up at once instead
    /// of spinning.
    #[test]
    fn a_closed_other_side_is_lost() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let tty = Tty::Dev(File::from(read));
        drop(write);
        let start = Instant::now();
        assert_eq!(tty.wait(), Readiness::Lost);
        assert!(start.elapsed() < WAIT);
    }
}
