//! A tar stream, filtered as it flows: each header is read (ustar, GNU and
//! pax, with their long-name and extended-header records), the entry is
//! kept or left out by its path, and kept entries pass through byte for
//! byte, so GNU tar on the other side restores everything the archive
//! recorded. Nothing is unpacked to a temporary tree.

use std::io::{self, Read, Write};

use anyhow::{Result, bail};

use super::Totals;
use super::filter::Filter;
use crate::process::Cancel;

const BLOCK: usize = 512;
/// Extended headers larger than this are refused (a hostile archive).
const MAX_EXTENSION: u64 = 1 << 20;

/// How a tarball is compressed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// The compression of a file that starts with `head`, if it is a
    /// tarball or a compressed stream at all.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.len() >= 263 && &head[257..262] == b"ustar" {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// The program that decompresses it to standard output.
    pub fn decompressor(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Xz => Some("xz"),
            Compression::Zstd => Some("zstd"),
        }
    }
}

/// Why a stream is not a tarball we accept.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("it is not a tar archive, or is corrupt (bad header at byte {0})")]
    BadHeader(u64),
    #[error("it ends in the middle of an entry (truncated)")]
    Truncated,
    #[error("the member {0} climbs out of the tree (`..`)")]
    Unsafe(String),
    #[error("an extended header of {0} bytes is too large")]
    Oversized(u64),
}

/// Copy the tar stream `input` to `out`, leaving out the entries `filter`
/// matches (and everything under a matching directory, and hard links to
/// what was left out). Returns what was kept. `progress` gets the bytes
/// read so far.
pub fn filter_stream(
    input: &mut dyn Read,
    out: &mut dyn Write,
    filter: &Filter,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Totals> {
    let mut s = Stream { input, offset: 0 };
    let mut totals = Totals::default();
    let mut pending: Vec<u8> = Vec::new();
    let (mut path, mut link): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut dropped: Vec<Vec<u8>> = Vec::new();
    loop {
        cancel.check()?;
        progress(s.offset);
        let Some(header) = s.header()? else {
            out.write_all(&[0u8; 2 * BLOCK])?;
            io::copy(s.input, &mut io::sink())?;
            return Ok(totals);
        };
        let size = field_number(&header[124..136]).ok_or(TarError::BadHeader(s.offset))?;
        match header[156] {
            b'x' | b'L' | b'K' => {
                if size > MAX_EXTENSION {
                    bail!(TarError::Oversized(size));
                }
                let data = s.data(size)?;
                match header[156] {
                    b'x' => pax_paths(&data[..size as usize], &mut path, &mut link),
                    b'L' => path = Some(c_string(&data)),
                    _ => link = Some(c_string(&data)),
                }
                pending.extend_from_slice(&header);
                pending.extend_from_slice(&data);
                continue;
            }
            b'g' => {
                out.write_all(&header)?;
                s.pass(size, out)?;
                continue;
            }
            _ => {}
        }
        let mut blocks = header.to_vec();
        if header[156] == b'S' && header[482] != 0 {
            s.sparse_extensions(&mut blocks)?;
        }
        let name = rooted(path.take().unwrap_or_else(|| header_name(&header)))?;
        let target = link.take().unwrap_or_else(|| c_string(&header[157..257]));
        let link_out = header[156] == b'1' && excluded(filter, &rooted(target)?, &dropped);
        let keep = !(link_out || excluded(filter, &name, &dropped));
        if keep {
            out.write_all(&pending)?;
            out.write_all(&blocks)?;
            s.pass(size, out)?;
            totals.add(&name, size);
        } else {
            s.pass(size, &mut io::sink())?;
            if header[156] == b'5' {
                dropped.push(name);
            }
        }
        pending.clear();
    }
}

/// Whether a path, or a directory above it, is left out.
fn excluded(filter: &Filter, name: &[u8], dropped: &[Vec<u8>]) -> bool {
    if name == b"/" {
        return false;
    }
    let under = |d: &Vec<u8>| name.starts_with(d) && name.get(d.len()) == Some(&b'/');
    filter.excludes(name)
        || dropped.iter().any(under)
        || (1..name.len()).any(|i| name[i] == b'/' && filter.excludes(&name[..i]))
}

/// A member name as a path from the root: `./etc/` → `/etc`.
fn rooted(name: Vec<u8>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 1);
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => bail!(TarError::Unsafe(
                String::from_utf8_lossy(&name).into_owned()
            )),
            p => {
                out.push(b'/');
                out.extend_from_slice(p);
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

fn header_name(h: &[u8]) -> Vec<u8> {
    let name = c_string(&h[..100]);
    if &h[257..263] == b"ustar\0" && h[345] != 0 {
        let mut p = c_string(&h[345..500]);
        p.push(b'/');
        p.extend_from_slice(&name);
        return p;
    }
    name
}

fn c_string(b: &[u8]) -> Vec<u8> {
    b.split(|c| *c == 0).next().unwrap_or_default().to_vec()
}

/// An octal or base-256 numeric header field.
fn field_number(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        return f[1..]
            .iter()
            .try_fold(0u64, |a, b| a.checked_mul(256)?.checked_add(u64::from(*b)));
    }
    let text = std::str::from_utf8(f).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    match text {
        "" => Some(0),
        t => u64::from_str_radix(t, 8).ok(),
    }
}

/// `path` and `linkpath` from pax records (`LEN key=value\n`).
fn pax_paths(data: &[u8], path: &mut Option<Vec<u8>>, link: &mut Option<Vec<u8>>) {
    let mut rest = data;
    while let Some(sp) = rest.iter().position(|b| *b == b' ') {
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            return;
        };
        if len <= sp || len > rest.len() {
            return;
        }
        let record = &rest[sp + 1..len - 1];
        if let Some(v) = record.strip_prefix(b"path=") {
            *path = Some(v.to_vec());
        } else if let Some(v) = record.strip_prefix(b"linkpath=") {
            *link = Some(v.to_vec());
        }
        rest = &rest[len..];
    }
}

fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    field_number(&h[148..156]) == Some(sum)
}

struct Stream<'a> {
    input: &'a mut dyn Read,
    offset: u64,
}

impl Stream<'_> {
    fn block(&mut self) -> Result<[u8; BLOCK]> {
        let mut b = [0u8; BLOCK];
        if super::read_full(self.input, &mut b)? != BLOCK {
            bail!(TarError::Truncated);
        }
        self.offset += BLOCK as u64;
        Ok(b)
    }

    /// The next header; `None` at the end-of-archive zero block.
    fn header(&mut self) -> Result<Option<[u8; BLOCK]>> {
        let at = self.offset;
        let h = self.block()?;
        if h.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        if !checksum_ok(&h) {
            bail!(TarError::BadHeader(at));
        }
        Ok(Some(h))
    }

    fn data(&mut self, size: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.pass(size, &mut v)?;
        Ok(v)
    }

    /// Copy `size` bytes of data and their padding to `out`.
    fn pass(&mut self, size: u64, out: &mut dyn Write) -> Result<()> {
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let n = io::copy(&mut self.input.take(padded), out)?;
        self.offset += n;
        if n != padded {
            bail!(TarError::Truncated);
        }
        Ok(())
    }

    /// The extension blocks of an old GNU sparse header.
    fn sparse_extensions(&mut self, blocks: &mut Vec<u8>) -> Result<()> {
        loop {
            let b = self.block()?;
            blocks.extend_from_slice(&b);
            if b[504] == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn run(tar: &[u8], filter: &[&str]) -> Result<(Vec<u8>, Totals)> {
        let f = Filter::new(filter.iter().map(|s| s.to_string()).collect()).unwrap();
        let mut out = Vec::new();
        let t = filter_stream(&mut &tar[..], &mut out, &f, &mut |_| {}, &Cancel::new())?;
        Ok((out, t))
    }

    fn listing(tar: &[u8]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.tar");
        std::fs::write(&p, tar).unwrap();
        let out = Command::new("tar").arg("-tf").arg(&p).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn make_tar(format: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().join("r");
        let long = "d".repeat(120);
        std::fs::create_dir_all(r.join("keep").join(&long)).unwrap();
        std::fs::create_dir_all(r.join("a_skip/sub")).unwrap();
        std::fs::write(r.join("keep").join(&long).join("f"), b"hello").unwrap();
        std::fs::write(r.join("a_skip/sub/x"), b"x").unwrap();
        std::fs::hard_link(r.join("a_skip/sub/x"), r.join("keep/hl")).unwrap();
        let out = Command::new("tar")
            .args(["-C"])
            .arg(&r)
            .args([
                "--sort=name",
                &format!("--format={format}"),
                "-cf",
                "-",
                ".",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn filters_each_format() {
        for format in ["gnu", "posix"] {
            let tar = make_tar(format);
            let (out, t) = run(&tar, &["/a_skip"]).unwrap();
            let names = listing(&out);
            assert!(
                names.iter().all(|n| !n.contains("skip")),
                "{format}: {names:?}"
            );
            assert!(
                names.iter().any(|n| n.ends_with("/f")),
                "{format}: {names:?}"
            );
            assert!(
                !names.iter().any(|n| n.ends_with("hl")),
                "{format}: link to a filtered file"
            );
            assert_eq!(t.bytes, 5, "{format}");
            let (all, _) = run(&tar, &[]).unwrap();
            assert_eq!(listing(&all).len(), 8, "{format}");
        }
    }

    #[test]
    fn refuses_bad_streams() {
        let tar = make_tar("posix");
        let e = run(&tar[..tar.len() / 3 / 512 * 512], &[]).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let mut bad = tar.clone();
        bad[10] ^= 0x55;
        assert!(
            run(&bad, &[])
                .unwrap_err()
                .to_string()
                .contains("bad header")
        );
        assert!(run(&vec![7u8; 1024], &[]).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(rooted(b"./etc/".to_vec()).unwrap(), b"/etc");
        assert_eq!(rooted(b"./".to_vec()).unwrap(), b"/");
        assert!(rooted(b"a/../../etc".to_vec()).is_err());
        assert_eq!(field_number(b"0000644\0"), Some(0o644));
        assert_eq!(
            field_number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
            Some(256)
        );
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
    }
}
