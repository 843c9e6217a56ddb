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

/// Handshake magic numbers and codes, as named in the protocol document.
const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const NBD_FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const NBD_FLAG_NO_ZEROES: u16 = 1 << 1;
const NBD_FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
const NBD_FLAG_C_NO_ZEROES: u32 = 1 << 1;
const NBD_OPT_GO: u32 = 7;
const NBD_REP_ACK: u32 = 1;
const NBD_REP_INFO: u32 = 3;
const NBD_REP_FLAG_ERROR: u32 = 1 << 31;
const NBD_INFO_EXPORT: u16 = 0;
const NBD_INFO_BLOCK_SIZE: u16 = 3;

/// Transmission-phase magic numbers and commands.
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
const NBD_CMD_READ: u16 = 0;
const NBD_CMD_DISC: u16 = 2;

/// The largest request a client may send when the server states no limit
/// (the protocol's interoperable maximum; also qemu-nbd's own limit).
const DEFAULT_MAX_REQUEST: u32 = 32 << 20;

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

/// What the server told about the export during the handshake.
#[derive(Debug, Default)]
struct ExportInfo {
    size: u64,
    max_request: usize,
}

/// The fixed-newstyle handshake, ending with `NBD_OPT_GO` on export `""`.
fn handshake(s: &mut UnixStream) -> Result<ExportInfo> {
    let mut greeting = [0u8; 18];
    s.read_exact(&mut greeting)
        .context("reading the greeting")?;
    ensure!(
        be64(&greeting[0..8]) == NBDMAGIC && be64(&greeting[8..16]) == IHAVEOPT,
        "the server does not speak the newstyle NBD protocol"
    );
    let flags = be16(&greeting[16..18]);
    ensure!(
        flags & NBD_FLAG_FIXED_NEWSTYLE != 0,
        "the server does not support fixed newstyle negotiation"
    );
    let mut client_flags = NBD_FLAG_C_FIXED_NEWSTYLE;
    if flags & NBD_FLAG_NO_ZEROES != 0 {
        client_flags |= NBD_FLAG_C_NO_ZEROES;
    }
    s.write_all(&client_flags.to_be_bytes())?;
    send_go(s)?;
    read_go_replies(s)
}

/// `NBD_OPT_GO` for the default export. It asks for no information items:
/// asking for `NBD_INFO_BLOCK_SIZE` would promise to honour the minimum
/// block size, and qemu-nbd states its maximum request size anyway.
fn send_go(s: &mut UnixStream) -> Result<()> {
    let name = b"";
    let mut data = Vec::new();
    data.extend_from_slice(&(name.len() as u32).to_be_bytes());
    data.extend_from_slice(name);
    data.extend_from_slice(&0u16.to_be_bytes());
    let mut opt = Vec::new();
    opt.extend_from_slice(&IHAVEOPT.to_be_bytes());
    opt.extend_from_slice(&NBD_OPT_GO.to_be_bytes());
    opt.extend_from_slice(&(data.len() as u32).to_be_bytes());
    opt.extend_from_slice(&data);
    s.write_all(&opt).context("sending NBD_OPT_GO")
}

/// Read `NBD_REP_INFO` replies until `NBD_REP_ACK`; the export's size is
/// required, its block sizes optional.
fn read_go_replies(s: &mut UnixStream) -> Result<ExportInfo> {
    let mut info = ExportInfo {
        size: u64::MAX,
        max_request: DEFAULT_MAX_REQUEST as usize,
    };
    loop {
        let mut head = [0u8; 20];
        s.read_exact(&mut head).context("reading an option reply")?;
        ensure!(
            be64(&head[0..8]) == OPTION_REPLY_MAGIC && be32(&head[8..12]) == NBD_OPT_GO,
            "the server sent a malformed option reply"
        );
        let kind = be32(&head[12..16]);
        let len = be32(&head[16..20]);
        ensure!(
            len <= 4096,
            "the server sent an oversized option reply ({len} bytes)"
        );
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data).context("reading an option reply")?;
        match kind {
            NBD_REP_ACK => break,
            NBD_REP_INFO => parse_info(&data, &mut info)?,
            k if k & NBD_REP_FLAG_ERROR != 0 => bail!(
                "the server refused the export (error {:#x}): {}",
                k,
                String::from_utf8_lossy(&data)
            ),
            // Unknown non-error replies must be ignored.
            _ => {}
        }
    }
    ensure!(
        info.size != u64::MAX,
        "the server did not send the export's size"
    );
    Ok(info)
}

fn parse_info(data: &[u8], info: &mut ExportInfo) -> Result<()> {
    ensure!(data.len() >= 2, "the server sent an empty NBD_REP_INFO");
    match be16(&data[0..2]) {
        NBD_INFO_EXPORT => {
            ensure!(
                data.len() == 12,
                "the server sent a malformed NBD_INFO_EXPORT"
            );
            info.size = be64(&data[2..10]);
        }
        NBD_INFO_BLOCK_SIZE => {
            ensure!(
                data.len() == 14,
                "the server sent a malformed NBD_INFO_BLOCK_SIZE"
            );
            let max = be32(&data[10..14]) as usize;
            // A maximum below 4 KiB is nonsense; keep the default then.
            if max >= 4096 {
                info.max_request = max;
            }
        }
        _ => {}
    }
    Ok(())
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::CommandExt;

    /// A 4 MiB qcow2 with 64 KiB of 0xab at 1 MiB and zeros elsewhere.
    fn fixture(dir: &Path) -> PathBuf {
        let img = dir.join("disk.qcow2");
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&img)
            .arg("4M")
            .run_checked()
            .unwrap();
        Command::new("qemu-io")
            .args(["-f", "qcow2", "-c", "write -P 0xab 1M 64k"])
            .arg(&img)
            .run_checked()
            .unwrap();
        img
    }

    fn serve(dir: &Path) -> NbdServer {
        let img = fixture(dir);
        NbdServer::start(&img, &ImageFormat::Qcow2, &dir.join("nbd.sock")).unwrap()
    }

    fn expected_byte(at: usize) -> u8 {
        if ((1 << 20)..(1 << 20) + (64 << 10)).contains(&at) {
            0xab
        } else {
            0
        }
    }

    #[test]
    fn reads_back_what_qemu_io_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(dir.path());
        let mut client = server.connect().unwrap();
        assert_eq!(client.size(), 4 << 20);
        let mut buf = vec![0x55u8; 72 << 10];
        client.read_at((1 << 20) - 4096, &mut buf).unwrap();
        for (i, &b) in buf.iter().enumerate() {
            assert_eq!(b, expected_byte((1 << 20) - 4096 + i), "byte {i}");
        }
    }

    #[test]
    fn splits_and_pipelines_large_reads() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(dir.path());
        let mut client = server.connect().unwrap();
        // Small requests, so one read becomes many pieces, more than the
        // pipeline depth, with a short last one.
        client.max_request = 48 << 10;
        let mut whole = vec![0x55u8; 4 << 20];
        client.read_at(0, &mut whole).unwrap();
        assert!(
            whole
                .iter()
                .enumerate()
                .all(|(i, &b)| b == expected_byte(i))
        );
        // The connection stays usable after a multi-piece read.
        let mut one = [0u8; 1];
        client.read_at(1 << 20, &mut one).unwrap();
        assert_eq!(one[0], 0xab);
    }

    #[test]
    fn reading_past_the_end_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(dir.path());
        let mut client = server.connect().unwrap();
        let err = client.read_at((4 << 20) - 10, &mut [0u8; 20]).unwrap_err();
        assert!(
            format!("{err:#}").contains("the export has 4194304 bytes"),
            "{err:#}"
        );
        client.read_at(0, &mut [0u8; 10]).unwrap();
    }

    #[test]
    fn two_clients_in_turn_and_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(dir.path());
        drop(server.connect().unwrap());
        let mut a = server.connect().unwrap();
        let mut b = server.connect().unwrap();
        let (mut x, mut y) = ([0u8; 4], [0u8; 4]);
        a.read_at(1 << 20, &mut x).unwrap();
        b.read_at(1 << 20, &mut y).unwrap();
        assert_eq!((x, y), ([0xab; 4], [0xab; 4]));
    }

    #[test]
    fn drop_leaves_no_process_and_no_socket() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(dir.path());
        let _client = server.connect().unwrap();
        let pid = server.pid().unwrap();
        let socket = server.socket().to_owned();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(server);
        // Reaped, not a zombie: the pid no longer exists at all.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "qemu-nbd {pid} is still there"
        );
        assert!(!socket.exists(), "{} is still there", socket.display());
    }

    #[test]
    fn early_exit_reports_qemu_nbd_message() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("not.qcow2");
        std::fs::write(&raw, vec![0u8; 65536]).unwrap();
        let sock = dir.path().join("nbd.sock");
        let err = NbdServer::start(&raw, &ImageFormat::Qcow2, &sock).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("qemu-nbd could not serve"), "{msg}");
        assert!(msg.contains("qcow2"), "{msg}");
        assert!(!sock.exists());
    }

    #[test]
    fn stop_reports_success() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(dir.path());
        let socket = server.socket().to_owned();
        server.stop().unwrap();
        assert!(!socket.exists());
    }
}
