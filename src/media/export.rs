//! Exporting the prepared disk as a raw "diskdump", reading it once.
//!
//! One pass over the first `size` bytes of the disk writes the image file
//! and computes its MD5 and SHA-256. Four threads share the work: a reader
//! fills 4 MiB buffers from the source, the calling thread writes them
//! (leaving all-zero blocks as holes), and MD5 and SHA-256 each hash on a
//! thread of their own. Buffers come from a small pool and go back to it
//! when the last thread is done with them, so memory stays bounded
//! (`POOL` × `CHUNK`) and nothing is allocated per chunk.
//!
//! MD5 is the bottleneck: it cannot be split across cores, and runs at
//! about 0.5 GB/s, where SHA-256 with SHA-NI runs at 1.5 GB/s and reading
//! through qemu-nbd at several GB/s.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use anyhow::{Context, Result, anyhow, ensure};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::media::nbd::NbdClient;
use crate::process::Cancel;

/// How much is read, hashed and written at a time.
pub const CHUNK: usize = 4 << 20;

/// The granularity of hole detection: an aligned all-zero block of this
/// size is skipped instead of written. 64 KiB is qcow2's default cluster
/// size, so unallocated clusters become holes.
const BLOCK: usize = 64 << 10;

/// Buffers in flight: enough to keep the reader ahead of the hashers
/// while the writer works, small enough to stay at 32 MiB.
const POOL: usize = 8;

/// Lower-case hexadecimal checksums of an exported image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: String,
    pub sha256: String,
}

/// A source of disk bytes at arbitrary offsets: the NBD client in
/// production, a plain file in tests.
pub trait ReadAt: Send {
    /// The size of the source in bytes.
    fn size(&self) -> Result<u64>;
    /// Fill `buf` with the bytes at `offset`; short reads are errors.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

impl ReadAt for NbdClient {
    fn size(&self) -> Result<u64> {
        Ok(NbdClient::size(self))
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        NbdClient::read_at(self, offset, buf)
    }
}

impl ReadAt for File {
    fn size(&self) -> Result<u64> {
        Ok(self.metadata().context("reading the source's size")?.len())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.read_exact_at(buf, offset)
            .with_context(|| format!("reading {} bytes at offset {offset}", buf.len()))
    }
}

/// Copy the first `size` bytes of `src` to `out` (when given) and return
/// their checksums. A regular file `out` is truncated first and written
/// sparsely; anything else (a block device) gets every byte. Calls
/// `on_progress` with the bytes done after each chunk, and stops with
/// [`crate::process::Interrupted`] soon after `cancel` is raised.
pub fn export<R: ReadAt + ?Sized>(
    src: &mut R,
    size: u64,
    out: Option<&File>,
    cancel: &Cancel,
    on_progress: &dyn Fn(u64),
) -> Result<Digests> {
    let available = src.size()?;
    ensure!(
        size <= available,
        "cannot export {size} bytes: the disk has only {available} bytes"
    );
    let sink = out.map(Sink::new).transpose()?;
    thread::scope(|s| {
        let (md5_tx, md5_rx) = sync_channel(POOL);
        let (sha_tx, sha_rx) = sync_channel(POOL);
        let (filled_tx, filled_rx) = sync_channel(POOL);
        let md5 = s.spawn(|| hash::<Md5>(md5_rx, cancel));
        let sha256 = s.spawn(|| hash::<Sha256>(sha_rx, cancel));
        let reader = s.spawn(|| read_chunks(src, size, filled_tx, cancel));
        let copied = copy_chunks(
            filled_rx,
            [md5_tx, sha_tx],
            sink.as_ref(),
            cancel,
            on_progress,
        );
        let md5 = md5.join().map_err(|_| anyhow!("the MD5 thread panicked"))?;
        let sha256 = sha256
            .join()
            .map_err(|_| anyhow!("the SHA-256 thread panicked"))?;
        reader
            .join()
            .map_err(|_| anyhow!("the reading thread panicked"))?;
        ensure!(copied? == size, "the source ended early");
        if let Some(sink) = &sink {
            sink.finish(size)?;
        }
        Ok(Digests { md5, sha256 })
    })
}

/// A pool buffer holding `len` bytes of the disk from `offset`. When the
/// last holder drops it, the buffer goes back to the pool.
struct Chunk {
    offset: u64,
    len: usize,
    data: Vec<u8>,
    home: SyncSender<Vec<u8>>,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // Fails only once the reader is gone; the buffer is freed then.
        let _ = self.home.try_send(std::mem::take(&mut self.data));
    }
}

/// The reading thread: fill pool buffers in order and pass them on,
/// stopping at the first error, on cancel, or when the consumer is gone.
fn read_chunks<R: ReadAt + ?Sized>(
    src: &mut R,
    size: u64,
    filled: SyncSender<Result<Chunk>>,
    cancel: &Cancel,
) {
    let (home, pool) = sync_channel(POOL);
    for _ in 0..POOL {
        let _ = home.send(vec![0u8; CHUNK]);
    }
    let mut offset = 0;
    while offset < size {
        if let Err(e) = cancel.check() {
            let _ = filled.send(Err(e.into()));
            return;
        }
        let Ok(mut data) = pool.recv() else { return };
        let len = (size - offset).min(CHUNK as u64) as usize;
        let read = src.read_at(offset, &mut data[..len]);
        let failed = read.is_err();
        let chunk = read.map(|()| Chunk {
            offset,
            len,
            data,
            home: home.clone(),
        });
        if filled.send(chunk).is_err() || failed {
            return;
        }
        offset += len as u64;
    }
}

/// The calling thread's part: hand each chunk to the hashers, write it,
/// report progress. Returns the bytes done.
fn copy_chunks(
    filled: Receiver<Result<Chunk>>,
    hashers: [SyncSender<Arc<Chunk>>; 2],
    sink: Option<&Sink>,
    cancel: &Cancel,
    on_progress: &dyn Fn(u64),
) -> Result<u64> {
    let mut done = 0;
    for chunk in filled {
        cancel.check()?;
        let chunk = Arc::new(chunk?);
        for hasher in &hashers {
            // A hasher stops early only when cancelled.
            hasher
                .send(chunk.clone())
                .map_err(|_| cancel.interrupted())?;
        }
        if let Some(sink) = sink {
            sink.write(chunk.offset, chunk.bytes())?;
        }
        done += chunk.len as u64;
        on_progress(done);
    }
    Ok(done)
}

/// A hashing thread: digest the chunks in the order they come.
fn hash<D: Digest>(chunks: Receiver<Arc<Chunk>>, cancel: &Cancel) -> String {
    let mut hasher = D::new();
    for chunk in chunks {
        if cancel.is_cancelled() {
            break;
        }
        hasher.update(chunk.bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the image goes: a regular file written sparsely, or a device
/// written in full (a device's unwritten blocks keep old data).
struct Sink<'a> {
    file: &'a File,
    sparse: bool,
}

impl<'a> Sink<'a> {
    fn new(file: &'a File) -> Result<Sink<'a>> {
        let meta = file.metadata().context("reading the output file's type")?;
        let sparse = meta.file_type().is_file();
        if sparse {
            // Holes must read as zeros, so no old content may remain.
            file.set_len(0).context("truncating the output file")?;
        }
        Ok(Sink { file, sparse })
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<()> {
        let runs = if self.sparse {
            data_runs(data)
        } else {
            std::iter::once(0..data.len()).collect()
        };
        for run in runs {
            let at = offset + run.start as u64;
            self.file
                .write_all_at(&data[run.clone()], at)
                .with_context(|| format!("writing {} bytes at offset {at}", run.len()))?;
        }
        Ok(())
    }

    /// Give the file its full length, so a trailing zero run is a hole.
    fn finish(&self, size: u64) -> Result<()> {
        if self.sparse {
            self.file
                .set_len(size)
                .context("setting the output file's size")?;
        }
        Ok(())
    }
}

/// The ranges of `data` to write: consecutive [`BLOCK`]s that are not all
/// zero, merged into one write each.
fn data_runs(data: &[u8]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (i, block) in data.chunks(BLOCK).enumerate() {
        if is_zero(block) {
            continue;
        }
        let range = i * BLOCK..i * BLOCK + block.len();
        match runs.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => runs.push(range),
        }
    }
    runs
}

/// Whether every byte is zero. OR-ing 64 bytes at a time lets the compiler
/// use vector instructions; data blocks exit after their first 64 bytes.
fn is_zero(block: &[u8]) -> bool {
    let mut words = block.chunks_exact(64);
    let words_zero = words
        .by_ref()
        .all(|w| w.iter().fold(0u8, |acc, &b| acc | b) == 0);
    words_zero && words.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::CommandExt;
    use std::cell::Cell;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    use std::process::Command;

    /// Deterministic bytes that do not compress and are never zero.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8 | 1
            })
            .collect()
    }

    /// A source file: zeros at the start, data, a zero gap, data, zeros
    /// at the end, and a length that is not a multiple of a chunk.
    fn mixed_source(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let mut bytes = vec![0u8; 3 * CHUNK + 12345];
        let ranges = [
            (CHUNK / 2, CHUNK / 2 + 100_000),
            (2 * CHUNK + 7, 2 * CHUNK + BLOCK),
        ];
        for (n, (start, end)) in ranges.into_iter().enumerate() {
            bytes[start..end].copy_from_slice(&noise(end - start, n as u64 + 1));
        }
        let path = dir.join("source.raw");
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    fn tool_digest(tool: &str, path: &Path) -> String {
        let out = Command::new(tool).arg(path).run_capture().unwrap();
        out.split_whitespace().next().unwrap().to_owned()
    }

    fn run_export(src: &Path, size: u64, out: Option<&File>) -> Result<Digests> {
        let mut src = File::open(src).unwrap();
        export(&mut src, size, out, &Cancel::new(), &|_| {})
    }

    #[test]
    fn copies_exactly_and_hashes_like_the_tools() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bytes) = mixed_source(dir.path());
        let dest = dir.path().join("out.raw");
        let out = File::create(&dest).unwrap();
        let digests = run_export(&src, bytes.len() as u64, Some(&out)).unwrap();
        drop(out);
        assert!(std::fs::read(&dest).unwrap() == bytes, "content differs");
        assert_eq!(digests.md5, tool_digest("md5sum", &src));
        assert_eq!(digests.sha256, tool_digest("sha256sum", &src));
    }

    #[test]
    fn exports_a_prefix_only() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bytes) = mixed_source(dir.path());
        let size = CHUNK + 4096;
        let prefix = dir.path().join("prefix.raw");
        std::fs::write(&prefix, &bytes[..size]).unwrap();
        let dest = dir.path().join("out.raw");
        let out = File::create(&dest).unwrap();
        let digests = run_export(&src, size as u64, Some(&out)).unwrap();
        assert!(std::fs::read(&dest).unwrap() == bytes[..size]);
        assert_eq!(digests.md5, tool_digest("md5sum", &prefix));
    }

    #[test]
    fn checksums_without_output_and_of_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bytes) = mixed_source(dir.path());
        let digests = run_export(&src, bytes.len() as u64, None).unwrap();
        assert_eq!(digests.sha256, tool_digest("sha256sum", &src));
        let empty = run_export(&src, 0, None).unwrap();
        assert_eq!(empty.md5, "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn output_is_sparse_and_old_content_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let size = 64 << 20;
        let mut bytes = vec![0u8; size];
        bytes[CHUNK..CHUNK + BLOCK].copy_from_slice(&noise(BLOCK, 9));
        let src = dir.path().join("mostly-zero.raw");
        std::fs::write(&src, &bytes).unwrap();
        let dest = dir.path().join("out.raw");
        std::fs::write(&dest, vec![0xffu8; size]).unwrap();
        let out = std::fs::OpenOptions::new().write(true).open(&dest).unwrap();
        run_export(&src, size as u64, Some(&out)).unwrap();
        let meta = out.metadata().unwrap();
        assert_eq!(meta.len(), size as u64);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "{} blocks allocated",
            meta.blocks()
        );
        assert!(std::fs::read(&dest).unwrap() == bytes);
    }

    #[test]
    fn refuses_a_size_beyond_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bytes) = mixed_source(dir.path());
        let err = run_export(&src, bytes.len() as u64 + 1, None).unwrap_err();
        assert!(format!("{err:#}").contains("the disk has only"), "{err:#}");
    }

    #[test]
    fn cancel_stops_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let size = 64 * CHUNK as u64;
        let src_path = dir.path().join("big.raw");
        File::create(&src_path).unwrap().set_len(size).unwrap();
        let mut src = File::open(&src_path).unwrap();
        let cancel = Cancel::new();
        let last = Cell::new(0);
        let on_progress = |done| {
            last.set(done);
            if done >= 2 * CHUNK as u64 {
                cancel.cancel();
            }
        };
        let err = export(&mut src, size, None, &cancel, &on_progress).unwrap_err();
        assert!(
            err.downcast_ref::<crate::process::Interrupted>().is_some(),
            "{err:#}"
        );
        assert_eq!(last.get(), 2 * CHUNK as u64);
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0u8; 1000]));
        let mut b = vec![0u8; 1000];
        b[999] = 1;
        assert!(!is_zero(&b));
        b[999] = 0;
        b[3] = 1;
        assert!(!is_zero(&b));
        let mut data = vec![0u8; 5 * BLOCK + 10];
        data[BLOCK] = 1;
        data[2 * BLOCK + 5] = 1;
        data[5 * BLOCK + 9] = 1;
        assert_eq!(
            data_runs(&data),
            vec![BLOCK..3 * BLOCK, 5 * BLOCK..5 * BLOCK + 10]
        );
    }
}
