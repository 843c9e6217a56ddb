//! The NBD fixed-newstyle handshake, as far as a read-only client of
//! qemu-nbd needs it: the greeting, `NBD_OPT_GO` on the default export and
//! its `NBD_REP_INFO` replies.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use anyhow::{Context, Result, bail, ensure};

/// The largest request a client may send when the server states no limit
/// (the protocol's interoperable maximum; also qemu-nbd's own limit).
const DEFAULT_MAX_REQUEST: u32 = 32 << 20;

/// Handshake magic numbers and codes, as named in the protocol document.
pub(super) const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
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

/// What the server told about the export during the handshake.
#[derive(Debug, Default)]
pub(super) struct ExportInfo {
    pub(super) size: u64,
    pub(super) max_request: usize,
}

/// The fixed-newstyle handshake, ending with `NBD_OPT_GO` on export `""`.
pub(super) fn handshake(s: &mut UnixStream) -> Result<ExportInfo> {
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

pub(super) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

pub(super) fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}
