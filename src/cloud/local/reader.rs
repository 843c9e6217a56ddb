//! Reading a stored object back: its bytes `[pos, end)`, block by block
//! from the store, each block padded as its length says. `serve` sends
//! objects (and ranges of them) this way, and bundles read a version's
//! image this way.

use std::io::Read;

use super::history::Blocks;
use super::store::Store;

/// Bytes `[pos, end)` of the object laid out as `blocks`.
pub struct ObjectReader {
    store: Store,
    blocks: Blocks,
    pos: u64,
    end: u64,
    block: Vec<u8>,
    block_index: Option<usize>,
}

impl ObjectReader {
    pub fn new(store: Store, blocks: Blocks, pos: u64, end: u64) -> Self {
        ObjectReader {
            store,
            blocks,
            pos,
            end,
            block: Vec::new(),
            block_index: None,
        }
    }

    /// The whole object.
    pub fn whole(store: Store, blocks: Blocks) -> Self {
        let end = blocks.bytes;
        ObjectReader::new(store, blocks, 0, end)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.end || buf.is_empty() {
            return Ok(0);
        }
        let bs = self.blocks.block_size;
        let idx = (self.pos / bs) as usize;
        if self.block_index != Some(idx) {
            let len = (self.blocks.bytes - idx as u64 * bs).min(bs) as usize;
            let hash = self.blocks.hashes.get(idx).ok_or_else(|| {
                std::io::Error::other("the object's record has fewer blocks than its size")
            })?;
            self.block = self
                .store
                .read_block(hash, len)
                .map_err(std::io::Error::other)?;
            self.block_index = Some(idx);
        }
        let off = (self.pos - idx as u64 * bs) as usize;
        let n = (self.block.len() - off)
            .min(buf.len())
            .min((self.end - self.pos) as usize);
        buf[..n].copy_from_slice(&self.block[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}
