//! Pithos block hashing, shared by the client, the local store and the
//! server: fixed-size blocks, each hashed with its trailing NUL bytes
//! stripped (so every all-zero block is the hash of nothing and is stored
//! once), and the object's Merkle hash over the block hashes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
}
