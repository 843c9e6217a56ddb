//! The Pithos upload algorithm, over any store that speaks it: hash the
//! file, offer the hashmap, send only the blocks the store says it lacks
//! (concurrently, with bounded rounds of retries), and offer the hashmap
//! again. The local store and the Synnefo client both implement
//! [`BlockStore`], so both get the same dedupe and resume.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::error::CloudError;
use super::hashmap::{self, BLOCK_HASH, Hashmap};
use super::onepass::{self, Dest, Source};
use crate::progress::{Reporter, Unit, begin_step};

/// How many blocks are sent at once.
const PARALLEL: usize = 4;
/// Rounds of "send what is missing" that may pass without the missing set
/// shrinking before the upload is given up (kamaki allows 7 in all).
const ROUNDS: usize = 4;

/// The answer to offering a hashmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// The object now exists; its Merkle hash.
    Created(String),
    /// These blocks must be sent first.
    Missing(Vec<String>),
}

/// A container that stores objects as hashmaps of shared blocks.
pub trait BlockStore: Sync {
    /// Create the container when missing; its block size and hash.
    fn prepare(&self) -> Result<(u64, String), CloudError>;
    /// Create `name` from a hashmap, or say which blocks are missing.
    fn offer(&self, name: &str, map: &Hashmap, content_type: &str) -> Result<Offer, CloudError>;
    /// Store one block; returns its hash as the store computed it.
    fn put_block(&self, data: &[u8]) -> Result<String, CloudError>;
    /// Which of `hashes` (blocks of `block_size`) the store lacks. The
    /// default offers them as a hashmap for `name` with one more block
    /// that cannot exist, so the store lists what it lacks and never
    /// creates the object.
    fn missing(
        &self,
        name: &str,
        hashes: &[String],
        block_size: u64,
        content_type: &str,
    ) -> Result<Vec<String>, CloudError> {
        let mut probe = hashes.to_vec();
        probe.push(NO_SUCH_BLOCK.to_owned());
        let map = Hashmap {
            block_size,
            block_hash: BLOCK_HASH.into(),
            bytes: probe.len() as u64 * block_size,
            hashes: probe,
        };
        match self.offer(name, &map, content_type)? {
            Offer::Missing(m) => Ok(m.into_iter().filter(|h| h != NO_SUCH_BLOCK).collect()),
            Offer::Created(_) => Err(CloudError::Protocol(format!(
                "the server claims a block no data hashes to, offering {name}"
            ))),
        }
    }
}

/// A block hash no data has (a SHA-256 preimage of all zeros is unknown).
const NO_SUCH_BLOCK: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub bytes: u64,
    /// The Merkle hash of the object.
    pub hash: String,
    pub blocks: usize,
    /// Blocks actually sent (0 for an unchanged re-upload).
    pub blocks_sent: usize,
}

impl Transfer {
    /// An object sent whole, in one piece (not as blocks).
    pub fn whole(bytes: u64, hash: String) -> Transfer {
        Transfer {
            bytes,
            hash,
            blocks: 1,
            blocks_sent: 1,
        }
    }
}

/// Upload a file as `name`, reporting the original's two steps.
pub fn upload_file(
    store: &dyn BlockStore,
    file: &Path,
    name: &str,
    content_type: &str,
    reporter: &dyn Reporter,
) -> Result<Transfer, CloudError> {
    upload_file_md5(store, file, name, content_type, reporter, false).map(|(t, _)| t)
}

/// Upload a file as `name`, and, when `want_md5`, compute its MD5 in the
/// same pass. The first step hashes the file and sends the blocks the
/// store lacks as it goes ([`onepass`]); the second offers the hashmap
/// and sends whatever is still missing, in bounded rounds.
pub fn upload_file_md5(
    store: &dyn BlockStore,
    file: &Path,
    name: &str,
    content_type: &str,
    reporter: &dyn Reporter,
    want_md5: bool,
) -> Result<(Transfer, Option<String>), CloudError> {
    let (block_size, algo) = store.prepare()?;
    check_algo(&algo)?;
    let handle = File::open(file).map_err(|e| CloudError::io("opening", file, e))?;
    let size = handle
        .metadata()
        .map_err(|e| CloudError::io("reading the size of", file, e))?
        .len();
    let src = Source {
        file: &handle,
        path: file,
        size,
        block_size,
    };
    let step = begin_step(
        reporter,
        "(1/2)  Calculating block hashes",
        Some((size, Unit::Bytes)),
    );
    let dest = Dest {
        store,
        name,
        content_type,
        block_size,
        senders: PARALLEL,
        on_progress: &|done| step.advance(done),
    };
    let pass = onepass::run(&src, &dest, want_md5)?;
    step.done("done");
    let map = Hashmap {
        block_size,
        block_hash: BLOCK_HASH.into(),
        bytes: size,
        hashes: pass.hashes,
    };
    let step = begin_step(
        reporter,
        "(2/2)  Uploading missing blocks",
        Some((map.hashes.len() as u64, Unit::Items)),
    );
    let read = |index: usize, buf: &mut Vec<u8>| src.read(index, buf);
    let mut sent = sync(store, name, &map, content_type, &read, reporter, &|n| {
        step.advance(n)
    })?;
    sent.blocks_sent += pass.sent;
    step.done(format!("{} of {} sent", sent.blocks_sent, sent.blocks));
    Ok((sent, pass.md5))
}

/// Upload bytes held in memory (the small side files).
pub fn upload_bytes(
    store: &dyn BlockStore,
    name: &str,
    data: &[u8],
    content_type: &str,
    reporter: &dyn Reporter,
) -> Result<Transfer, CloudError> {
    let (block_size, algo) = store.prepare()?;
    check_algo(&algo)?;
    let map = hashmap::hash_bytes(data, block_size);
    let read = |index: usize, buf: &mut Vec<u8>| -> Result<(), CloudError> {
        let from = index * block_size as usize;
        let to = (from + block_size as usize).min(data.len());
        buf.clear();
        buf.extend_from_slice(&data[from..to]);
        Ok(())
    };
    sync(store, name, &map, content_type, &read, reporter, &|_| {})
}

fn check_algo(algo: &str) -> Result<(), CloudError> {
    if algo.eq_ignore_ascii_case(BLOCK_HASH) {
        Ok(())
    } else {
        Err(CloudError::Protocol(format!(
            "the container hashes blocks with {algo}; only {BLOCK_HASH} is supported"
        )))
    }
}

type ReadBlock<'a> = dyn Fn(usize, &mut Vec<u8>) -> Result<(), CloudError> + Sync + 'a;

/// Offer the hashmap, send what is missing, and offer it again until the
/// store takes it.
fn sync(
    store: &dyn BlockStore,
    name: &str,
    map: &Hashmap,
    content_type: &str,
    read: &ReadBlock<'_>,
    reporter: &dyn Reporter,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<Transfer, CloudError> {
    let mut sent = 0usize;
    let mut stalled = 0usize;
    let mut last_missing = usize::MAX;
    loop {
        let missing = match store.offer(name, map, content_type)? {
            Offer::Created(hash) => {
                on_progress(map.hashes.len() as u64);
                return Ok(Transfer {
                    bytes: map.bytes,
                    hash,
                    blocks: map.hashes.len(),
                    blocks_sent: sent,
                });
            }
            Offer::Missing(m) => m,
        };
        if missing.len() >= last_missing {
            stalled += 1;
            if stalled >= ROUNDS {
                return Err(CloudError::Protocol(format!(
                    "{} blocks of {name} failed to upload after {ROUNDS} rounds",
                    missing.len()
                )));
            }
            reporter.warn(&format!(
                "{} blocks of {name} are still missing on the server; sending them again",
                missing.len()
            ));
        }
        last_missing = missing.len();
        let present = map.hashes.len().saturating_sub(missing.len()) as u64;
        on_progress(present);
        sent += send_missing(store, map, &missing, read, &|n| on_progress(present + n))?;
    }
}

/// Send the missing blocks on a few threads; returns how many were sent.
/// A block that fails after the HTTP layer's own retries is left for the
/// next round, unless the failure is one that retrying cannot fix.
fn send_missing(
    store: &dyn BlockStore,
    map: &Hashmap,
    missing: &[String],
    read: &ReadBlock<'_>,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<usize, CloudError> {
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (i, h) in map.hashes.iter().enumerate() {
        index_of.entry(h.as_str()).or_insert(i);
    }
    let mut todo: Vec<usize> = Vec::new();
    for h in missing {
        match index_of.get(h.as_str()) {
            Some(&i) => todo.push(i),
            None => {
                return Err(CloudError::Protocol(format!(
                    "the server asked for block {h}, which is not in the object"
                )));
            }
        }
    }
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let fatal: Mutex<Option<CloudError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(todo.len()) {
            s.spawn(|| {
                let mut buf = Vec::new();
                while let Some(&i) = todo.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    match read(i, &mut buf).and_then(|_| store.put_block(&buf)) {
                        Ok(hash) if hash == map.hashes[i] => {
                            on_progress(done.fetch_add(1, Ordering::SeqCst) + 1);
                        }
                        Ok(_) => {}
                        Err(e) if e.is_transient() => {}
                        Err(e) => {
                            if let Ok(mut f) = fatal.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(done.into_inner() as usize)
}
