//! The libguestfs calls behind the helper VM facade's lookup cache.

use anyhow::Result;
use guestfs::Handle;

use super::EntryKind;
use super::appliance::{gerr, kind_of_mode};
use super::lookup::{Raw, Stat};

/// The most one `pread` asks for: well under the protocol's 4 MiB message.
const PREAD_CHUNK: u64 = 2 << 20;

/// The libguestfs calls behind the facade's [`super::lookup::Cache`].
pub(super) struct HandleRaw<'a>(pub(super) &'a Handle);

fn stat_of(st: &guestfs::StatNS) -> Stat {
    Stat {
        size: u64::try_from(st.st_size).unwrap_or(0),
        mode: (st.st_mode & 0o177777) as u32,
    }
}

impl Raw for HandleRaw<'_> {
    fn list(&mut self, dir: &str) -> Result<Vec<(String, EntryKind)>> {
        let entries = self
            .0
            .readdir(dir)
            .map_err(gerr(format!("listing {dir}")))?;
        let mut list = Vec::with_capacity(entries.len());
        let mut untyped = Vec::new();
        for e in entries {
            let kind = match e.ftyp as u8 {
                _ if e.name == "." || e.name == ".." => continue,
                b'r' => EntryKind::File,
                b'd' => EntryKind::Dir,
                b'l' => EntryKind::Symlink,
                b'u' | b'?' => {
                    untyped.push(e.name);
                    continue;
                }
                _ => EntryKind::Other,
            };
            list.push((e.name, kind));
        }
        if !untyped.is_empty() {
            let refs: Vec<&str> = untyped.iter().map(String::as_str).collect();
            let stats = self.lstats(dir, &refs)?;
            list.extend(
                untyped
                    .into_iter()
                    .zip(stats)
                    .map(|(n, st)| (n, kind_of_mode(st.mode.into()))),
            );
        }
        Ok(list)
    }

    fn lstats(&mut self, dir: &str, names: &[&str]) -> Result<Vec<Stat>> {
        let stats = self
            .0
            .lstatnslist(dir, names)
            .map_err(gerr(format!("examining the entries of {dir}")))?;
        Ok(stats.iter().map(stat_of).collect())
    }

    fn read_links(&mut self, dir: &str, names: &[&str]) -> Result<Vec<String>> {
        self.0
            .readlinklist(dir, names)
            .map_err(gerr(format!("reading the links in {dir}")))
    }

    fn stat(&mut self, path: &str) -> Result<Stat> {
        let st = self
            .0
            .statns(path)
            .map_err(gerr(format!("examining {path}")))?;
        Ok(stat_of(&st))
    }

    fn read_link(&mut self, path: &str) -> Result<String> {
        self.0
            .readlink(path)
            .map_err(gerr(format!("reading the link {path}")))
    }

    /// In `pread` calls, not libguestfs's `read_file`: that is a download
    /// through a host temporary file, about 130 ms under software
    /// emulation, where a `pread` is one plain call of about 20 ms (an
    /// empty file costs none). Reading stops at `size` or at the end of
    /// the file, whichever comes first.
    fn read_file(&mut self, path: &str, size: u64) -> Result<Vec<u8>> {
        let mut data = Vec::with_capacity(size.min(PREAD_CHUNK) as usize);
        while (data.len() as u64) < size {
            let want = (size - data.len() as u64).min(PREAD_CHUNK);
            let chunk = (self.0)
                .pread(path, want as i32, data.len() as i64)
                .map_err(gerr(format!("reading {path}")))?;
            if chunk.is_empty() {
                break;
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    }

    fn exists(&mut self, path: &str) -> Result<bool> {
        self.0
            .exists(path)
            .map_err(gerr(format!("looking for {path}")))
    }

    fn is_file(&mut self, path: &str) -> Result<bool> {
        let opts = guestfs::IsFileOptArgs {
            followsymlinks: Some(true),
        };
        self.0
            .is_file(path, opts)
            .map_err(gerr(format!("examining {path}")))
    }

    fn is_dir(&mut self, path: &str) -> Result<bool> {
        let opts = guestfs::IsDirOptArgs {
            followsymlinks: Some(true),
        };
        self.0
            .is_dir(path, opts)
            .map_err(gerr(format!("examining {path}")))
    }
}
