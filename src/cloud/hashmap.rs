//! Pithos block hashing, shared by the client, the local store and the
//! server: fixed-size blocks, each hashed with its trailing NUL bytes
//! stripped (so every all-zero block is the hash of nothing and is stored
//! once), and the object's Merkle hash over the block hashes.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::CloudError;

/// Synnefo's default block size.
pub const DEFAULT_BLOCK_SIZE: u64 = 4 * 1024 * 1024;
/// The only block hash algorithm Synnefo uses, and the only one we speak.
pub const BLOCK_HASH: &str = "sha256";

/// The list of block hashes that describes an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashmap {
    pub block_size: u64,
    pub block_hash: String,
    pub bytes: u64,
    pub hashes: Vec<String>,
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The hash of one block: SHA-256 of the block without its trailing NULs.
pub fn block_hash(block: &[u8]) -> String {
    hex(&Sha256::digest(strip_zeros(block)))
}

/// A block without its trailing NUL bytes (what the stores keep).
pub fn strip_zeros(block: &[u8]) -> &[u8] {
    let end = block.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &block[..end]
}

/// Whether a string looks like a SHA-256 hex digest (so it can name a file).
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The object hash: a Merkle tree over the block digests, padded with zero
/// digests to a power of two (Pithos' `X-Object-Hash`).
pub fn merkle(hashes: &[String]) -> String {
    let mut level: Vec<[u8; 32]> = hashes.iter().map(|h| unhex32(h)).collect();
    match level.len() {
        0 => return hex(&Sha256::digest(b"")),
        1 => return hex(&level[0]),
        _ => {}
    }
    level.resize(level.len().next_power_of_two(), [0; 32]);
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let mut h = Sha256::new();
                h.update(pair[0]);
                h.update(pair[1]);
                h.finalize().into()
            })
            .collect();
    }
    hex(&level[0])
}

fn unhex32(h: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = h
            .get(2 * i..2 * i + 2)
            .and_then(|b| u8::from_str_radix(b, 16).ok())
            .unwrap_or(0);
    }
    out
}

/// Hash a file block by block on a few threads (hashing is the upload's
/// CPU cost), reporting the bytes done.
pub fn hash_file(
    path: &Path,
    block_size: u64,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<Hashmap, CloudError> {
    let file = File::open(path).map_err(|e| CloudError::io("opening", path, e))?;
    let bytes = file
        .metadata()
        .map_err(|e| CloudError::io("reading the size of", path, e))?
        .len();
    let count = block_count(bytes, block_size) as usize;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let mut hashes = vec![String::new(); count];
    let results: Vec<Result<Vec<(usize, String)>, CloudError>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(count.max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let mut buf = vec![0u8; block_size as usize];
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= count {
                            return Ok(out);
                        }
                        let off = i as u64 * block_size;
                        let n = (bytes - off).min(block_size) as usize;
                        file.read_exact_at(&mut buf[..n], off)
                            .map_err(|e| CloudError::io("reading", path, e))?;
                        out.push((i, block_hash(&buf[..n])));
                        on_progress(done.fetch_add(n as u64, Ordering::SeqCst) + n as u64);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("hashing thread"))
            .collect()
    });
    for r in results {
        for (i, h) in r? {
            hashes[i] = h;
        }
    }
    Ok(Hashmap {
        block_size,
        block_hash: BLOCK_HASH.into(),
        bytes,
        hashes,
    })
}

/// Hash bytes held in memory.
pub fn hash_bytes(data: &[u8], block_size: u64) -> Hashmap {
    Hashmap {
        block_size,
        block_hash: BLOCK_HASH.into(),
        bytes: data.len() as u64,
        hashes: data.chunks(block_size as usize).map(block_hash).collect(),
    }
}

/// The number of blocks an object of `bytes` has.
pub fn block_count(bytes: u64, block_size: u64) -> u64 {
    bytes.div_ceil(block_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn zero_blocks_hash_as_empty() {
        assert_eq!(block_hash(&[0; 4096]), EMPTY);
        assert_eq!(block_hash(b"a\0\0"), block_hash(b"a"));
        assert_ne!(block_hash(b"\0a"), block_hash(b"a"));
        assert_eq!(strip_zeros(&[0, 1, 0, 0]), &[0, 1]);
    }

    #[test]
    fn merkle_shapes() {
        assert_eq!(merkle(&[]), EMPTY);
        let a = block_hash(b"a");
        assert_eq!(merkle(std::slice::from_ref(&a)), a);
        // Three leaves are padded to four with a zero digest.
        let b = block_hash(b"b");
        let c = block_hash(b"c");
        let pair = |x: &[u8], y: &[u8]| -> Vec<u8> {
            let mut h = Sha256::new();
            h.update(x);
            h.update(y);
            h.finalize().to_vec()
        };
        let left = pair(&unhex32(&a), &unhex32(&b));
        let right = pair(&unhex32(&c), &[0; 32]);
        assert_eq!(merkle(&[a, b, c]), hex(&pair(&left, &right)));
    }

    #[test]
    fn file_and_bytes_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let hm = hash_file(&p, 4096, &|_| {}).unwrap();
        assert_eq!(hm, hash_bytes(&data, 4096));
        assert_eq!(hm.hashes.len() as u64, block_count(10_000, 4096));
        assert!(is_hash(&hm.hashes[0]));
    }
}
