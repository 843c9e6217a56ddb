//! Byte-level access to a disk for the partition-table code: a write-back
//! page cache over any `Read + Write + Seek` device.
//!
//! The partition-table crates read and write their structures field by
//! field (a few bytes per call). Over the helper VM every call is a round
//! trip to the appliance, so the table code works on a [`PageCache`]: reads
//! fetch whole pages once, writes land in the cache, and
//! [`PageCache::flush_pages`] writes back, in offset order, only the byte
//! range of each page that was written (so bytes merely read are never
//! written back, even if the device changed underneath in between).

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Cache granularity: large enough to hold an MBR plus a whole GPT array
/// (34 sectors) in one fetch.
const PAGE: u64 = 64 * 1024;

/// One cached page: its bytes and the range of them that was written.
struct Page {
    data: Vec<u8>,
    dirty: Option<(usize, usize)>,
}

/// A write-back page cache over a device of known length.
pub struct PageCache<D> {
    inner: D,
    len: u64,
    pos: u64,
    pages: BTreeMap<u64, Page>,
}

impl<D: Read + Write + Seek> PageCache<D> {
    /// Wrap `inner`, whose length is `len` bytes. Seeks from the end are
    /// relative to `len`.
    pub fn new(inner: D, len: u64) -> Self {
        PageCache {
            inner,
            len,
            pos: 0,
            pages: BTreeMap::new(),
        }
    }

    /// The device's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the device is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn page(&mut self, index: u64) -> io::Result<&mut Page> {
        if !self.pages.contains_key(&index) {
            let start = index * PAGE;
            let size = PAGE.min(self.len.saturating_sub(start)) as usize;
            let mut buf = vec![0; size];
            self.inner.seek(SeekFrom::Start(start))?;
            self.inner.read_exact(&mut buf)?;
            self.pages.insert(
                index,
                Page {
                    data: buf,
                    dirty: None,
                },
            );
        }
        Ok(self.pages.get_mut(&index).expect("page just inserted"))
    }

    /// Write every dirty page back to the device and flush it.
    pub fn flush_pages(&mut self) -> io::Result<()> {
        for (index, page) in self.pages.iter_mut() {
            if let Some((lo, hi)) = page.dirty.take() {
                self.inner.seek(SeekFrom::Start(index * PAGE + lo as u64))?;
                self.inner.write_all(&page.data[lo..hi])?;
            }
        }
        self.inner.flush()
    }

    /// The device underneath (reads and writes through it bypass the cache).
    pub fn get_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Flush and give the device back.
    pub fn into_inner(mut self) -> io::Result<D> {
        self.flush_pages()?;
        Ok(self.inner)
    }
}

impl<D: Read + Write + Seek> Read for PageCache<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let (index, off) = (self.pos / PAGE, (self.pos % PAGE) as usize);
        let page = &self.page(index)?.data;
        let n = buf.len().min(page.len() - off);
        buf[..n].copy_from_slice(&page[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: Read + Write + Seek> Write for PageCache<D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("write at {} past the end of the device", self.pos),
            ));
        }
        let (index, off) = (self.pos / PAGE, (self.pos % PAGE) as usize);
        let page = self.page(index)?;
        let n = buf.len().min(page.data.len() - off);
        page.data[off..off + n].copy_from_slice(&buf[..n]);
        page.dirty = Some(match page.dirty {
            Some((lo, hi)) => (lo.min(off), hi.max(off + n)),
            None => (off, off + n),
        });
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_pages()
    }
}

impl<D> Seek for PageCache<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the device start")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn writes_reach_the_device_only_on_flush() {
        let mut cache = PageCache::new(Cursor::new(vec![7u8; 3 * PAGE as usize]), 3 * PAGE);
        cache.seek(SeekFrom::Start(PAGE - 2)).unwrap();
        cache.write_all(&[1, 2, 3, 4]).unwrap();
        let mut back = [0u8; 6];
        cache.seek(SeekFrom::Start(PAGE - 3)).unwrap();
        cache.read_exact(&mut back).unwrap();
        assert_eq!(back, [7, 1, 2, 3, 4, 7]);
        assert_eq!(cache.seek(SeekFrom::End(-1)).unwrap(), 3 * PAGE - 1);
        let mut dev = cache.into_inner().unwrap();
        // Bytes only read are not written back over later changes.
        let mut cache = PageCache::new(&mut dev, 3 * PAGE);
        cache.read_exact(&mut back).unwrap();
        cache.get_mut().get_mut()[0] = 9;
        cache.seek(SeekFrom::Start(3)).unwrap();
        cache.write_all(&[5]).unwrap();
        cache.flush_pages().unwrap();
        let dev = dev.into_inner();
        assert_eq!(&dev[..4], &[9, 7, 7, 5]);
        assert_eq!(
            &dev[PAGE as usize - 3..PAGE as usize + 3],
            &[7, 1, 2, 3, 4, 7]
        );
    }

    #[test]
    fn the_end_is_the_given_length() {
        let mut cache = PageCache::new(Cursor::new(vec![0u8; 1000]), 600);
        cache.seek(SeekFrom::Start(598)).unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(cache.read(&mut buf).unwrap(), 2);
        cache.seek(SeekFrom::Start(598)).unwrap();
        assert_eq!(cache.write(&[1, 2, 3]).unwrap(), 2);
        assert!(cache.write(&[1]).is_err());
    }
}
