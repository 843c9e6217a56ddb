//! Request bodies streamed from a file: a byte range read with `read_at`
//! (so every retry starts over on a clone of the same handle), which
//! counts what it sent and computes the range's MD5 on the way, and a
//! progress ticker for the step a long request belongs to.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};

use crate::progress::Step;

/// What a [`RangeReader`] reports: bytes read so far, and the MD5 (hex)
/// once the whole range was read. Shared with the reader, which runs on
/// the HTTP client's thread.
#[derive(Clone, Default)]
pub struct Tally {
    sent: Arc<AtomicU64>,
    md5: Arc<Mutex<Option<String>>>,
}

impl Tally {
    /// Bytes of the range read by the latest attempt.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// The MD5 of the range, once the latest attempt read all of it.
    pub fn md5(&self) -> Option<String> {
        self.md5.lock().ok().and_then(|m| m.clone())
    }
}

/// `len` bytes of a file from offset `start`.
pub struct RangeReader {
    file: Arc<File>,
    start: u64,
    pos: u64,
    len: u64,
    hasher: Option<Md5>,
    tally: Tally,
}

impl RangeReader {
    /// A reader of the range, starting `tally` over (one per attempt).
    pub fn new(file: Arc<File>, start: u64, len: u64, tally: &Tally) -> RangeReader {
        tally.sent.store(0, Ordering::SeqCst);
        if let Ok(mut m) = tally.md5.lock() {
            *m = None;
        }
        RangeReader {
            file,
            start,
            pos: 0,
            len,
            hasher: Some(Md5::new()),
            tally: tally.clone(),
        }
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (self.len - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.start + self.pos)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.pos += n as u64;
        self.tally.sent.store(self.pos, Ordering::SeqCst);
        // A sized body is not read past its length: finish at the end.
        if self.pos == self.len
            && let (Some(h), Ok(mut m)) = (self.hasher.take(), self.tally.md5.lock())
        {
            *m = Some(crate::cloud::pithos::hashmap::hex(&h.finalize()));
        }
        Ok(n)
    }
}

/// Run `send` while showing `sent()` on `step` a few times a second (a
/// streamed body is read on the HTTP client's own thread).
pub fn with_progress<T>(
    step: &Step<'_>,
    sent: &(dyn Fn() -> u64 + Sync),
    send: impl FnOnce() -> T,
) -> T {
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(Ordering::SeqCst) {
                step.advance(sent());
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let result = send();
        finished.store(true, Ordering::SeqCst);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_range_and_its_md5_anew_per_attempt() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut tmp, b"0123456789").unwrap();
        let file = Arc::new(File::open(tmp.path()).unwrap());
        let tally = Tally::default();
        for _ in 0..2 {
            let mut out = String::new();
            RangeReader::new(file.clone(), 3, 4, &tally)
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, "3456");
            assert_eq!(tally.sent(), 4);
            assert_eq!(tally.md5().unwrap(), "def7924e3199be5e18060bb3e1d547a7");
        }
        let mut short = RangeReader::new(file, 8, 5, &tally);
        assert!(
            short.read_to_end(&mut Vec::new()).is_err(),
            "a short file is an error"
        );
        assert_eq!(tally.md5(), None);
    }
}
