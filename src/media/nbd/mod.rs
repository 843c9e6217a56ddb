//! Reading a disk image without root: `qemu-nbd` serves it on a UNIX socket
//! and we speak the NBD protocol to it ourselves.
//!
//! Kernel `/dev/nbdN` devices would need root and the `nbd` module; a socket
//! in the private work directory needs neither, and qemu-nbd reads every
//! format qemu does. [`NbdServer`] is the guard that owns the qemu-nbd
//! process; [`NbdClient`] is a minimal client: the fixed-newstyle handshake
//! with `NBD_OPT_GO`, then `NBD_CMD_READ` with simple replies, several
//! requests in flight.
//!
//! Protocol: <https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md>.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::ImageFormat;
use crate::process::command_line;
use handshake::{NBDMAGIC, be32, be64, handshake};

mod handshake;

/// Transmission-phase magic numbers and commands.
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
const NBD_CMD_READ: u16 = 0;
const NBD_CMD_DISC: u16 = 2;

/// Read requests kept in flight by one [`NbdClient::read_at`] call, so that
/// qemu-nbd reads the next piece while the previous one crosses the socket.
const PIPELINE_DEPTH: usize = 4;

/// How large each read request is, at most (and at most what the server
/// allows). Several 1 MiB requests in flight beat one large request.
const REQUEST_SIZE: usize = 1 << 20;

/// Replies during the handshake must come quickly; a server that accepts
/// but never answers (a stale socket, a wedged qemu-nbd) must not hang us.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long qemu-nbd may take to open the image and listen. Opening is
/// normally a matter of milliseconds; a slow network filesystem or a
/// loaded machine can take seconds.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const START_POLL: Duration = Duration::from_millis(10);

/// A running `qemu-nbd` serving one image read-only on a UNIX socket.
/// Dropping it kills and reaps the process and removes the socket.
#[derive(Debug)]
pub struct NbdServer {
    child: Option<Child>,
    socket: PathBuf,
    image: PathBuf,
}

impl NbdServer {
    /// Serve `image` (in qemu format `format`, never probed) on `socket`,
    /// and return once the socket accepts connections.
    pub fn start(image: &Path, format: &ImageFormat, socket: &Path) -> Result<NbdServer> {
        // qemu reads `name:rest` as a protocol prefix and `-x` as an option;
        // an absolute path is neither.
        let image = std::path::absolute(image)
            .with_context(|| format!("resolving the path of {}", image.display()))?;
        let mut log = tempfile::tempfile().context("creating a file for qemu-nbd's messages")?;
        let mut cmd = qemu_nbd_command(&image, format, socket);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone().context("sharing qemu-nbd's message file")?)
            .spawn()
            .with_context(|| format!("running `{}`", command_line(&cmd)))?;
        let mut server = NbdServer {
            child: Some(child),
            socket: socket.to_owned(),
            image,
        };
        server.wait_until_listening(&mut log)?;
        Ok(server)
    }

    /// Poll until the socket accepts a connection, or fail with qemu-nbd's
    /// own message if it exits first (bad format, locked image, …).
    fn wait_until_listening(&mut self, log: &mut File) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child_mut()?.try_wait()? {
                bail!(
                    "qemu-nbd could not serve {} ({status}): {}",
                    self.image.display(),
                    read_log(log)
                );
            }
            // qemu-nbd creates its socket before it opens the image, so a
            // connection alone proves nothing: the server is ready once it
            // greets. The probe is closed at once; `--persistent` keeps
            // qemu-nbd from taking its close as the end of the session.
            match UnixStream::connect(&self.socket) {
                Ok(probe) if greets(&probe, deadline) => return Ok(()),
                // No greeting: it is exiting (the next try_wait says why)
                // or still opening the image.
                Ok(_) if Instant::now() < deadline => {}
                Ok(_) => bail!(
                    "qemu-nbd did not answer on {} within {START_TIMEOUT:?} (serving {}): {}",
                    self.socket.display(),
                    self.image.display(),
                    read_log(log)
                ),
                Err(e) if is_not_listening_yet(&e) && Instant::now() < deadline => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "connecting to qemu-nbd on {} (serving {}): {}",
                            self.socket.display(),
                            self.image.display(),
                            read_log(log)
                        )
                    });
                }
            }
            // Not listening yet: it is still opening the image.
            std::thread::sleep(START_POLL);
        }
    }

    fn child_mut(&mut self) -> Result<&mut Child> {
        self.child.as_mut().context("qemu-nbd was already stopped")
    }

    /// Open a client connection to the export.
    pub fn connect(&self) -> Result<NbdClient> {
        NbdClient::connect(&self.socket)
            .with_context(|| format!("reading {} through qemu-nbd", self.image.display()))
    }

    /// The socket qemu-nbd listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The process id of qemu-nbd, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stop qemu-nbd and remove the socket, reporting what went wrong.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            // Read-only export: nothing to flush, so SIGKILL loses nothing.
            // It fails only if the process is already gone, which is fine.
            let _ = child.kill();
            child.wait().context("waiting for qemu-nbd to exit")?;
        }
        match std::fs::remove_file(&self.socket) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing the socket {}", self.socket.display()))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        // Best effort: an error here cannot be reported, and the process
        // and socket live in the run's work directory, removed after us.
        let _ = self.shutdown();
    }
}

/// The qemu-nbd command line; each flag is chosen on purpose.
fn qemu_nbd_command(image: &Path, format: &ImageFormat, socket: &Path) -> Command {
    let mut cmd = Command::new("qemu-nbd");
    cmd.args([
        // The export is only read; this also takes a shared image lock, so
        // a helper VM still writing the image makes qemu-nbd fail loudly.
        "--read-only",
        // Keep serving after the readiness probe disconnects.
        "--persistent",
        // The probe may still be open when the reader connects, and a
        // later step may read in parallel; the socket is in a private
        // directory, so no one else can connect.
        "--shared=4",
    ])
    .arg(format!("--format={format}"))
    .arg("--socket")
    .arg(socket)
    .arg(image);
    cmd
}

/// Whether the server on `probe` sends its 18-byte greeting before
/// `deadline`.
fn greets(mut probe: &UnixStream, deadline: Instant) -> bool {
    let wait = deadline.saturating_duration_since(Instant::now());
    let mut greeting = [0u8; 18];
    probe
        .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
        .is_ok()
        && probe.read_exact(&mut greeting).is_ok()
        && be64(&greeting[0..8]) == NBDMAGIC
}

fn is_not_listening_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// What qemu-nbd wrote to stderr, on one line.
fn read_log(log: &mut File) -> String {
    let mut text = String::new();
    let _ = log.rewind();
    let _ = log.read_to_string(&mut text);
    let text = text.trim().replace('\n', " / ");
    if text.is_empty() {
        "no message".to_owned()
    } else {
        text
    }
}

/// A connection to an NBD export, in the transmission phase.
#[derive(Debug)]
pub struct NbdClient {
    stream: UnixStream,
    socket: PathBuf,
    size: u64,
    max_request: usize,
    next_cookie: u64,
    /// Set after a failed read, when replies may still be on their way and
    /// the stream can no longer be trusted.
    broken: bool,
}

impl NbdClient {
    /// Connect to the default export (`""`, qemu-nbd's default name) on
    /// `socket` and negotiate with `NBD_OPT_GO`.
    pub fn connect(socket: &Path) -> Result<NbdClient> {
        let mut stream = UnixStream::connect(socket)
            .with_context(|| format!("connecting to the NBD socket {}", socket.display()))?;
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let export = handshake(&mut stream)
            .with_context(|| format!("negotiating with the NBD server on {}", socket.display()))?;
        stream.set_read_timeout(None)?;
        Ok(NbdClient {
            stream,
            socket: socket.to_owned(),
            size: export.size,
            max_request: export.max_request.min(REQUEST_SIZE),
            next_cookie: 1,
            broken: false,
        })
    }

    /// The size of the export in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fill `buf` with the export's bytes from `offset`, splitting it into
    /// requests the server accepts and keeping several in flight.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        ensure!(!self.broken, "the NBD connection failed earlier");
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.size) {
            bail!(
                "cannot read {} bytes at offset {offset}: the export has {} bytes",
                buf.len(),
                self.size
            );
        }
        self.broken = true;
        self.read_pieces(offset, buf).with_context(|| {
            format!(
                "reading {} bytes at offset {offset} from {}",
                buf.len(),
                self.socket.display()
            )
        })?;
        self.broken = false;
        Ok(())
    }

    /// Send the pieces' requests, at most [`PIPELINE_DEPTH`] ahead, and
    /// take each reply's data into its piece. qemu-nbd handles requests
    /// concurrently, so replies may come in any order: the cookie says
    /// which piece a reply is for.
    fn read_pieces(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let piece = self.max_request;
        let mut slots: Vec<Option<&mut [u8]>> = buf.chunks_mut(piece).map(Some).collect();
        let base = self.next_cookie;
        self.next_cookie += slots.len() as u64;
        let (mut sent, mut received) = (0, 0);
        while received < slots.len() {
            while sent < slots.len() && sent - received < PIPELINE_DEPTH {
                let len = slots[sent].as_ref().map_or(0, |s| s.len());
                let at = offset + (sent * piece) as u64;
                self.send_request(NBD_CMD_READ, base + sent as u64, at, len as u32)?;
                sent += 1;
            }
            let cookie = self.read_reply()?;
            let slot = cookie
                .checked_sub(base)
                .and_then(|i| slots[..sent].get_mut(i as usize))
                .and_then(Option::take);
            let Some(dst) = slot else {
                bail!("the server answered an unknown or finished request (cookie {cookie})");
            };
            self.stream.read_exact(dst).context("receiving read data")?;
            received += 1;
        }
        Ok(())
    }

    fn send_request(&mut self, command: u16, cookie: u64, offset: u64, len: u32) -> Result<()> {
        let mut req = [0u8; 28];
        req[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        // Bytes 4..6 are the command flags: none.
        req[6..8].copy_from_slice(&command.to_be_bytes());
        req[8..16].copy_from_slice(&cookie.to_be_bytes());
        req[16..24].copy_from_slice(&offset.to_be_bytes());
        req[24..28].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&req).context("sending a request")
    }

    /// Read a simple reply's header and return its cookie, or the error
    /// the server reported.
    fn read_reply(&mut self) -> Result<u64> {
        let mut head = [0u8; 16];
        self.stream
            .read_exact(&mut head)
            .context("receiving a reply (did qemu-nbd exit?)")?;
        let magic = be32(&head[0..4]);
        ensure!(
            magic == SIMPLE_REPLY_MAGIC,
            "the server sent a reply with magic {magic:#x}, not a simple reply"
        );
        let error = be32(&head[4..8]);
        if error != 0 {
            let why = io::Error::from_raw_os_error(error as i32);
            bail!("the server failed the request: {why}");
        }
        Ok(be64(&head[8..16]))
    }
}

impl Drop for NbdClient {
    fn drop(&mut self) {
        // A polite NBD_CMD_DISC lets qemu-nbd end the connection cleanly;
        // after a failed read the stream may be mid-reply, so just close.
        if !self.broken {
            let _ = self.send_request(NBD_CMD_DISC, 0, 0, 0);
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests;
