//! The Pithos upload algorithm, over any store that speaks it: hash the
//! file and send the blocks the store says it lacks as it goes (one pass,
//! [`onepass`]), then offer the hashmap, send whatever is still missing
//! (concurrently, with bounded rounds of retries), and offer it again. The local store and the Synnefo client both implement
//! [`BlockStore`], so both get the same dedupe and resume.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cloud::error::CloudError;
use crate::cloud::parallel;
use crate::cloud::pithos::hashmap::{self, BLOCK_HASH, Hashmap};
use crate::cloud::pithos::onepass::{self, Dest, Source};
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

/// An object on its way into a block store.
struct Object<'a> {
    store: &'a dyn BlockStore,
    name: &'a str,
    content_type: &'a str,
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
    let obj = Object {
        store,
        name,
        content_type,
    };
    let pass = hash_and_send(&obj, &src, want_md5, reporter)?;
    let t = finish(&obj, &src, pass.hashes, pass.sent, reporter)?;
    Ok((t, pass.md5))
}

/// The first step: one pass over the file.
fn hash_and_send(
    obj: &Object<'_>,
    src: &Source<'_>,
    want_md5: bool,
    reporter: &dyn Reporter,
) -> Result<onepass::Pass, CloudError> {
    let total = Some((src.size, Unit::Bytes));
    let step = begin_step(reporter, "(1/2)  Calculating block hashes", total);
    let dest = Dest {
        store: obj.store,
        name: obj.name,
        content_type: obj.content_type,
        block_size: src.block_size,
        senders: PARALLEL,
        on_progress: &|done| step.advance(done),
    };
    let pass = onepass::run(src, &dest, want_md5)?;
    step.done("done");
    Ok(pass)
}

/// The second step: offer the hashmap and send what is still missing
/// (`sent` blocks were sent by the first).
fn finish(
    obj: &Object<'_>,
    src: &Source<'_>,
    hashes: Vec<String>,
    sent: usize,
    reporter: &dyn Reporter,
) -> Result<Transfer, CloudError> {
    let map = Hashmap {
        block_size: src.block_size,
        block_hash: BLOCK_HASH.into(),
        bytes: src.size,
        hashes,
    };
    let total = Some((map.hashes.len() as u64, Unit::Items));
    let step = begin_step(reporter, "(2/2)  Uploading missing blocks", total);
    let read = |index: usize, buf: &mut Vec<u8>| src.read(index, buf);
    let mut t = sync(obj, &map, &read, reporter, &|n| step.advance(n))?;
    t.blocks_sent += sent;
    step.done(format!("{} of {} sent", t.blocks_sent, t.blocks));
    Ok(t)
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
    let obj = Object {
        store,
        name,
        content_type,
    };
    sync(&obj, &map, &read, reporter, &|_| {})
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
/// store takes it, or until [`ROUNDS`] rounds in a row left as many
/// blocks missing as before.
fn sync(
    obj: &Object<'_>,
    map: &Hashmap,
    read: &ReadBlock<'_>,
    reporter: &dyn Reporter,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<Transfer, CloudError> {
    let mut sent = 0usize;
    let mut stalled = 0usize;
    let mut last_missing = usize::MAX;
    loop {
        let missing = match obj.store.offer(obj.name, map, obj.content_type)? {
            Offer::Created(hash) => {
                on_progress(map.hashes.len() as u64);
                let blocks = map.hashes.len();
                return Ok(Transfer {
                    bytes: map.bytes,
                    hash,
                    blocks,
                    blocks_sent: sent,
                });
            }
            Offer::Missing(m) => m,
        };
        if missing.len() >= last_missing {
            stalled += 1;
            check_stalled(obj.name, missing.len(), stalled, reporter)?;
        }
        last_missing = missing.len();
        let present = map.hashes.len().saturating_sub(missing.len()) as u64;
        on_progress(present);
        let todo = indices_of(map, &missing)?;
        sent += send_blocks(obj.store, map, &todo, read, &|n| on_progress(present + n))?;
    }
}

/// Give up after [`ROUNDS`] rounds without progress; warn before that.
fn check_stalled(
    name: &str,
    missing: usize,
    stalled: usize,
    reporter: &dyn Reporter,
) -> Result<(), CloudError> {
    if stalled >= ROUNDS {
        return Err(CloudError::Protocol(format!(
            "{missing} blocks of {name} failed to upload after {ROUNDS} rounds"
        )));
    }
    reporter.warn(&format!(
        "{missing} blocks of {name} are still missing on the server; sending them again"
    ));
    Ok(())
}

/// Where in the object the blocks the store asks for are.
fn indices_of(map: &Hashmap, missing: &[String]) -> Result<Vec<usize>, CloudError> {
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (i, h) in map.hashes.iter().enumerate() {
        index_of.entry(h.as_str()).or_insert(i);
    }
    missing
        .iter()
        .map(|h| {
            index_of.get(h.as_str()).copied().ok_or_else(|| {
                CloudError::Protocol(format!(
                    "the server asked for block {h}, which is not in the object"
                ))
            })
        })
        .collect()
}

/// Send blocks `todo` on a few threads; returns how many the store took.
/// A block that fails after the HTTP layer's own retries is left for the
/// next round, unless the failure is one that retrying cannot fix.
fn send_blocks(
    store: &dyn BlockStore,
    map: &Hashmap,
    todo: &[usize],
    read: &ReadBlock<'_>,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<usize, CloudError> {
    let done = AtomicU64::new(0);
    parallel::for_each(todo.len(), PARALLEL, &|k| {
        let i = todo[k];
        let mut buf = Vec::new();
        match read(i, &mut buf).and_then(|_| store.put_block(&buf)) {
            Ok(hash) if hash == map.hashes[i] => {
                on_progress(done.fetch_add(1, Ordering::SeqCst) + 1);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Ok(()),
            Err(e) => Err(e),
        }
    })?;
    Ok(done.into_inner() as usize)
}
