//! A device of the helper VM read and written as a file: `Read`, `Write`
//! and `Seek` over libguestfs's `pread_device`/`pwrite_device`, one
//! message (at most 1 MiB) per call. Wrap it in a
//! [`crate::media::blockio::PageCache`] for small reads and writes.

use std::io::{self, Read, Seek, SeekFrom, Write};

use guestfs::Handle;

use super::appliance::describe;

/// A device of the helper VM as a seekable byte device.
pub struct Device<'a> {
    g: &'a Handle,
    dev: &'a str,
    pos: u64,
}

impl<'a> Device<'a> {
    /// `dev` (`/dev/sda`…) of the helper VM behind `g`, from its start.
    pub fn new(g: &'a Handle, dev: &'a str) -> Self {
        Device { g, dev, pos: 0 }
    }
}

fn to_io(e: guestfs::Error) -> io::Error {
    io::Error::other(describe(&e))
}

impl Read for Device<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // libguestfs caps one message at a few MiB.
        let count = buf.len().min(1 << 20) as i32;
        let data = self
            .g
            .pread_device(self.dev, count, self.pos as i64)
            .map_err(to_io)?;
        buf[..data.len()].copy_from_slice(&data);
        self.pos += data.len() as u64;
        Ok(data.len())
    }
}

impl Write for Device<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let chunk = &buf[..buf.len().min(1 << 20)];
        let n = self
            .g
            .pwrite_device(self.dev, chunk, self.pos as i64)
            .map_err(to_io)?;
        self.pos += n as u64;
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.g.sync().map_err(to_io)
    }
}

impl Seek for Device<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match to {
            SeekFrom::Start(p) => self.pos = p,
            SeekFrom::Current(d) => {
                self.pos = self.pos.checked_add_signed(d).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek before the disk start")
                })?
            }
            SeekFrom::End(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "seek from the end of the helper VM's disk",
                ));
            }
        }
        Ok(self.pos)
    }
}
