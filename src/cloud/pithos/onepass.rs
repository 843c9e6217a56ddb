//! One pass over a file for the Pithos upload, so that hashing overlaps
//! sending and every block is read from the disk once: a reader thread
//! reads the blocks in order (feeding the file's MD5 when asked), the
//! calling thread hashes them a batch at a time and asks the store which
//! of the batch it lacks, and a few sender threads upload those while the
//! reader moves on. The channels between the stages are bounded, so the
//! memory held is a few batches of blocks whatever the file's size.
//!
//! A block already queued is not queued again (a file often repeats
//! blocks: every all-zero block is the same). A block whose sending fails
//! is left for the hashmap offer that follows the pass, which asks for
//! whatever is still missing.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use md5::{Digest, Md5};

use crate::cloud::error::CloudError;
use crate::cloud::pithos::hashmap::{block_count, block_hash, hex};
use crate::cloud::pithos::transfer::BlockStore;

/// Blocks per batch: one "which of these are missing?" question each.
const BATCH: usize = 4;

/// The file being uploaded.
pub struct Source<'a> {
    pub file: &'a File,
    pub path: &'a Path,
    pub size: u64,
    pub block_size: u64,
}

impl Source<'_> {
    /// The number of blocks of the file.
    pub fn blocks(&self) -> usize {
        block_count(self.size, self.block_size) as usize
    }

    /// Read block `index` into `buf` (resized to the block's length).
    pub fn read(&self, index: usize, buf: &mut Vec<u8>) -> Result<(), CloudError> {
        let off = index as u64 * self.block_size;
        buf.resize((self.size - off).min(self.block_size) as usize, 0);
        self.file
            .read_exact_at(buf, off)
            .map_err(|e| CloudError::io("reading", self.path, e))
    }
}

/// Where the pass sends blocks, and what it is told about.
pub struct Dest<'a> {
    pub store: &'a dyn BlockStore,
    /// The object's name (the missing-blocks question names it).
    pub name: &'a str,
    pub content_type: &'a str,
    pub block_size: u64,
    /// How many blocks are sent at once.
    pub senders: usize,
    /// Called with the bytes hashed so far.
    pub on_progress: &'a (dyn Fn(u64) + Sync),
}

/// What the pass did.
#[derive(Debug)]
pub struct Pass {
    /// The hash of every block, in order.
    pub hashes: Vec<String>,
    /// The file's MD5, when it was asked for.
    pub md5: Option<String>,
    /// Blocks the store took.
    pub sent: usize,
}

/// A block on its way to a sender.
struct Block {
    hash: String,
    data: Vec<u8>,
}

/// Read, hash and send what the store lacks, in one pass over `src`.
pub fn run(src: &Source<'_>, dest: &Dest<'_>, want_md5: bool) -> Result<Pass, CloudError> {
    let (batch_tx, batch_rx) = sync_channel(1);
    let (block_tx, block_rx) = sync_channel(dest.senders);
    let block_rx = Mutex::new(block_rx);
    let sent = AtomicUsize::new(0);
    let fatal: Mutex<Option<CloudError>> = Mutex::new(None);
    let (read, hashes) = std::thread::scope(|s| {
        let reader = s.spawn(|| read_batches(src, want_md5, batch_tx));
        for _ in 0..dest.senders.max(1) {
            s.spawn(|| send_blocks(dest.store, &block_rx, &sent, &fatal));
        }
        let hashes = probe_batches(dest, batch_rx, block_tx, &fatal);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(CloudError::Protocol("the reading thread failed".into())));
        (read, hashes)
    });
    let md5 = read?;
    let hashes = hashes?;
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(e);
    }
    if hashes.len() != src.blocks() {
        return Err(CloudError::Protocol(format!(
            "{} changed size while it was read",
            src.path.display()
        )));
    }
    Ok(Pass {
        hashes,
        md5,
        sent: sent.into_inner(),
    })
}

/// The reader: batches of blocks in order, and the MD5 of the whole file
/// (`None` when not asked for, or when the consumer stopped early).
fn read_batches(
    src: &Source<'_>,
    want_md5: bool,
    out: SyncSender<Vec<Vec<u8>>>,
) -> Result<Option<String>, CloudError> {
    let mut md5 = want_md5.then(Md5::new);
    let count = src.blocks();
    for first in (0..count).step_by(BATCH) {
        let mut batch = Vec::with_capacity(BATCH);
        for i in first..(first + BATCH).min(count) {
            let mut buf = Vec::new();
            src.read(i, &mut buf)?;
            if let Some(h) = &mut md5 {
                h.update(&buf);
            }
            batch.push(buf);
        }
        if out.send(batch).is_err() {
            // The consumer stopped; it reports why.
            return Ok(None);
        }
    }
    Ok(md5.map(|h| hex(&h.finalize())))
}

/// The calling thread: hash each batch, ask which blocks the store lacks,
/// and queue those not queued before. Returns every block's hash.
fn probe_batches(
    dest: &Dest<'_>,
    batches: Receiver<Vec<Vec<u8>>>,
    out: SyncSender<Block>,
    fatal: &Mutex<Option<CloudError>>,
) -> Result<Vec<String>, CloudError> {
    let mut hashes: Vec<String> = Vec::new();
    let mut queued: HashSet<String> = HashSet::new();
    let mut done = 0u64;
    for batch in batches {
        if failed(fatal) {
            break;
        }
        let batch_hashes: Vec<String> = batch.iter().map(|b| block_hash(b)).collect();
        let missing: HashSet<String> = dest
            .store
            .missing(dest.name, &batch_hashes, dest.block_size, dest.content_type)?
            .into_iter()
            .collect();
        for (data, hash) in batch.into_iter().zip(&batch_hashes) {
            done += data.len() as u64;
            if missing.contains(hash) && queued.insert(hash.clone()) {
                let block = Block {
                    hash: hash.clone(),
                    data,
                };
                if out.send(block).is_err() {
                    break;
                }
            }
        }
        hashes.extend(batch_hashes);
        (dest.on_progress)(done);
    }
    Ok(hashes)
}

/// A sender: put queued blocks until the queue closes. After a failure
/// that retrying cannot fix, it only drains the queue.
fn send_blocks(
    store: &dyn BlockStore,
    queue: &Mutex<Receiver<Block>>,
    sent: &AtomicUsize,
    fatal: &Mutex<Option<CloudError>>,
) {
    loop {
        let next = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(block) = next else {
            return;
        };
        if failed(fatal) {
            continue;
        }
        match store.put_block(&block.data) {
            Ok(hash) if hash == block.hash => {
                sent.fetch_add(1, Ordering::SeqCst);
            }
            // A different hash, or a failure the HTTP layer's retries
            // could not fix: the offer after the pass asks again.
            Ok(_) => {}
            Err(e) if e.is_transient() => {}
            Err(e) => {
                if let Ok(mut f) = fatal.lock() {
                    f.get_or_insert(e);
                }
            }
        }
    }
}

fn failed(fatal: &Mutex<Option<CloudError>>) -> bool {
    fatal.lock().map(|f| f.is_some()).unwrap_or(true)
}

/// The MD5 of a file, read on its own.
pub fn md5_file(path: &Path) -> Result<String, CloudError> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| CloudError::io("opening", path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| CloudError::io("reading", path, e))?;
        if n == 0 {
            return Ok(hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::cloud::pithos::hashmap::{self, BLOCK_HASH, Hashmap, merkle};
    use crate::cloud::pithos::transfer::Offer;

    /// An in-memory block store with Pithos' answers.
    #[derive(Default)]
    struct Memory {
        blocks: Mutex<HashMap<String, Vec<u8>>>,
        objects: Mutex<Vec<String>>,
        puts: AtomicUsize,
    }

    impl BlockStore for Memory {
        fn prepare(&self) -> Result<(u64, String), CloudError> {
            Ok((4096, BLOCK_HASH.into()))
        }

        fn offer(&self, name: &str, map: &Hashmap, _: &str) -> Result<Offer, CloudError> {
            let blocks = self.blocks.lock().unwrap();
            let missing: Vec<String> = map
                .hashes
                .iter()
                .filter(|h| !blocks.contains_key(*h))
                .cloned()
                .collect();
            if missing.is_empty() {
                self.objects.lock().unwrap().push(name.to_owned());
                return Ok(Offer::Created(merkle(&map.hashes)));
            }
            Ok(Offer::Missing(missing))
        }

        fn put_block(&self, data: &[u8]) -> Result<String, CloudError> {
            self.puts.fetch_add(1, Ordering::SeqCst);
            let h = block_hash(data);
            self.blocks.lock().unwrap().insert(h.clone(), data.to_vec());
            Ok(h)
        }
    }

    fn pass(store: &Memory, path: &Path) -> Pass {
        let file = File::open(path).unwrap();
        let src = Source {
            file: &file,
            path,
            size: file.metadata().unwrap().len(),
            block_size: 4096,
        };
        let dest = Dest {
            store,
            name: "obj",
            content_type: "x",
            block_size: 4096,
            senders: 3,
            on_progress: &|_| {},
        };
        run(&src, &dest, true).unwrap()
    }

    #[test]
    fn one_pass_hashes_sends_each_missing_block_once_and_computes_the_md5() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        // 13 blocks: five distinct ones (one all zeros) and a short tail.
        let mut data = Vec::new();
        for i in [1u8, 2, 0, 1, 3, 0, 0, 2, 1, 4, 0, 1, 2] {
            data.extend(std::iter::repeat_n(i, 4096));
        }
        data.extend(b"tail");
        std::fs::write(&p, &data).unwrap();
        let store = Memory::default();
        let first = pass(&store, &p);
        assert_eq!(first.hashes, hashmap::hash_bytes(&data, 4096).hashes);
        assert_eq!(first.md5.unwrap(), hex(&Md5::digest(&data)));
        assert_eq!(first.sent, 6);
        assert_eq!(store.puts.load(Ordering::SeqCst), 6);
        // The questions about missing blocks never create the object.
        assert!(store.objects.lock().unwrap().is_empty());
        assert_eq!(pass(&store, &p).sent, 0);
        assert_eq!(store.puts.load(Ordering::SeqCst), 6);
    }
}
