//! A reader of the tar streams the helper VM's `tar-out` sends: GNU and
//! POSIX (ustar/pax) headers, long names, regular files, everything else
//! skipped. The names and sizes come from the guest, so a malformed stream
//! is an error, never a panic, and no entry is read into memory past the
//! caller's cap.

use std::io::Read;

use anyhow::{Result, bail};

const BLOCK: usize = 512;
/// Long names and pax headers larger than this are not plausible.
const MAX_META: u64 = 64 * 1024;

/// One regular file of the stream.
pub struct TarFile<'a> {
    /// The member name without the leading `./`.
    pub name: &'a str,
    /// Its content, when the file is at most the cap.
    pub data: Option<&'a [u8]>,
}

/// Call `each` for every regular file in the stream; files larger than
/// `cap` are skipped over (`data` is `None`).
pub fn for_each_file(
    mut input: impl Read,
    cap: u64,
    each: &mut dyn FnMut(TarFile<'_>) -> Result<()>,
) -> Result<()> {
    let mut long_name: Option<String> = None;
    let mut header = [0u8; BLOCK];
    let mut buf = Vec::new();
    loop {
        if !read_block(&mut input, &mut header)? || header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let size = octal(&header[124..136])?;
        match header[156] {
            b'L' | b'x' => {
                if size > MAX_META {
                    bail!("a tar header of {size} bytes is not plausible");
                }
                read_data(&mut input, size, &mut buf)?;
                long_name = if header[156] == b'L' {
                    Some(c_string(&buf))
                } else {
                    pax_path(&buf)
                };
            }
            b'0' | 0 | b'7' => {
                let name = long_name.take().unwrap_or_else(|| header_name(&header));
                let name = name.trim_start_matches("./");
                if size <= cap {
                    read_data(&mut input, size, &mut buf)?;
                    each(TarFile {
                        name,
                        data: Some(&buf),
                    })?;
                } else {
                    skip_data(&mut input, size)?;
                    each(TarFile { name, data: None })?;
                }
            }
            _ => {
                long_name = None;
                skip_data(&mut input, size)?;
            }
        }
    }
}

/// Fill one block; `false` at a clean end of the stream.
fn read_block(input: &mut impl Read, block: &mut [u8; BLOCK]) -> Result<bool> {
    let mut got = 0;
    while got < BLOCK {
        match input.read(&mut block[got..])? {
            0 if got == 0 => return Ok(false),
            0 => bail!("the tar stream ends inside a header"),
            n => got += n,
        }
    }
    Ok(true)
}

/// The padded size of `size` bytes of data.
fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64
}

fn read_data(input: &mut impl Read, size: u64, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    let want = padded(size);
    input.take(want).read_to_end(buf)?;
    if (buf.len() as u64) < want {
        bail!("the tar stream ends inside a file");
    }
    buf.truncate(size as usize);
    Ok(())
}

fn skip_data(input: &mut impl Read, size: u64) -> Result<()> {
    let want = padded(size);
    let skipped = std::io::copy(&mut input.take(want), &mut std::io::sink())?;
    if skipped < want {
        bail!("the tar stream ends inside a file");
    }
    Ok(())
}

/// A size field: octal digits, or GNU base-256 when the top bit is set.
fn octal(field: &[u8]) -> Result<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| anyhow::anyhow!("a tar size does not fit in 64 bits"))?;
        }
        return Ok(v);
    }
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let digits = text.trim_matches(' ');
    if digits.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(digits, 8).map_err(|_| anyhow::anyhow!("bad tar size field {text:?}"))
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The name in a header: POSIX ustar joins `prefix/name`; GNU keeps other
/// fields where the prefix would be.
fn header_name(h: &[u8; BLOCK]) -> String {
    let name = c_string(&h[0..100]);
    if &h[257..263] == b"ustar\0" {
        let prefix = c_string(&h[345..500]);
        if !prefix.is_empty() {
            return format!("{prefix}/{name}");
        }
    }
    name
}

/// The `path` record of a pax extended header (`LEN path=VALUE\n`).
fn pax_path(records: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(records);
    let mut rest: &str = &text;
    while let Some((len, after)) = rest.split_once(' ') {
        let len: usize = len.parse().ok()?;
        let body_len = len.checked_sub(len.to_string().len() + 1)?;
        let body = after.get(..body_len)?;
        if let Some(path) = body.strip_prefix("path=") {
            return Some(path.trim_end_matches('\n').to_owned());
        }
        rest = after.get(body_len..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: usize, kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let s = format!("{size:011o}");
        h[124..135].copy_from_slice(s.as_bytes());
        h[156] = kind;
        h[257..265].copy_from_slice(b"ustar  \0");
        h
    }

    fn entry(name: &str, data: &[u8], kind: u8) -> Vec<u8> {
        let mut v = header(name, data.len(), kind);
        v.extend_from_slice(data);
        v.resize(
            v.len() + (padded(data.len() as u64) as usize - data.len()),
            0,
        );
        v
    }

    fn files(stream: &[u8], cap: u64) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        let mut out = Vec::new();
        for_each_file(stream, cap, &mut |f| {
            out.push((f.name.to_owned(), f.data.map(<[u8]>::to_vec)));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_files_long_names_and_skips_the_rest() {
        let long = format!("./{}/key", "d".repeat(150));
        let mut s = entry("./", b"", b'5');
        s.extend(entry("./a", b"hello", b'0'));
        s.extend(entry("./link", b"", b'2'));
        s.extend(entry("././@LongLink", format!("{long}\0").as_bytes(), b'L'));
        s.extend(entry("./ddd", b"secret", b'0'));
        s.extend(entry("./big", &[7u8; 1000], b'0'));
        s.extend(entry("./pax", b"19 path=./p/x.json\n", b'x'));
        s.extend(entry("./ignored", b"{}", b'0'));
        s.extend(vec![0u8; 2 * BLOCK]);
        let got = files(&s, 100).unwrap();
        assert_eq!(
            got,
            vec![
                ("a".into(), Some(b"hello".to_vec())),
                (long[2..].into(), Some(b"secret".to_vec())),
                ("big".into(), None),
                ("p/x.json".into(), Some(b"{}".to_vec())),
            ]
        );
    }

    #[test]
    fn malformed_streams_are_errors() {
        let mut s = entry("./a", b"hello", b'0');
        s.truncate(BLOCK + 3);
        assert!(files(&s, 100).is_err());
        let mut h = header("./a", 0, b'0');
        h[124..136].copy_from_slice(b"99999999999z");
        assert!(files(&h, 100).is_err());
        assert!(files(&h[..100], 100).is_err());
        let huge = header("././@LongLink", 1 << 30, b'L');
        assert!(files(&huge, 100).is_err());
        assert!(files(&[], 100).unwrap().is_empty());
        assert_eq!(
            octal(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap(),
            256
        );
    }
}
