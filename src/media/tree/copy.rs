//! Copying a tree into the mounted filesystem. A directory is listed by
//! the walk and archived by `tar -c` from that list; a tarball is
//! decompressed and filtered as a stream; either way one `tar -x` writes
//! the new filesystem, with numeric owners, permissions, xattrs, ACLs and
//! SELinux labels, and the stream passes through here for progress.
//!
//! GNU tar rather than own code: it already restores hard links, holes,
//! device nodes, nanosecond times and non-UTF-8 names, and `tar | tar` is
//! the speed floor this copy is measured against (`bench/tree.sh`).

use std::fs::{File, Metadata};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};

use super::tarstream::{Compression, filter_stream};
use super::walk::{Walk, walk};
use super::{Filter, Totals, TreeKind, TreeSpec};
use crate::process::{Cancel, command_line};
use crate::progress::{Reporter, Unit, begin_step};

const TAR_X: &[&str] = &[
    "--extract",
    "--file=-",
    "--numeric-owner",
    "--same-owner",
    "--preserve-permissions",
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
    "--selinux",
];

/// Reading a directory, every xattr is kept as its raw bytes: no
/// `--selinux`, whose label record GNU tar writes back with a trailing NUL
/// the source did not have. (A tarball's own label records are still
/// honoured by [`TAR_X`].)
const TAR_C: &[&str] = &[
    "--create",
    "--file=-",
    "--null",
    "--no-recursion",
    "--format=posix",
    "--pax-option=delete=atime,delete=ctime",
    "--numeric-owner",
    "--sparse",
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
];

/// A tree, measured, ready to copy.
pub enum Input<'a> {
    Dir {
        root: PathBuf,
        walk: Walk,
    },
    Tarball {
        path: PathBuf,
        compression: Compression,
        filter: &'a Filter,
        totals: Totals,
        /// The bytes of the decompressed stream.
        stream: u64,
    },
}

impl<'a> Input<'a> {
    /// Walk the directory, or read the tarball through once (which also
    /// proves it whole before anything is written).
    pub fn open(
        source: &Path,
        spec: &'a TreeSpec,
        reporter: &dyn Reporter,
        cancel: &Cancel,
    ) -> Result<Input<'a>> {
        let step = begin_step(
            reporter,
            &format!("Reading the tree `{}'", source.display()),
            None,
        );
        let input = match spec.kind {
            TreeKind::Directory | TreeKind::Host => Input::Dir {
                root: source.to_owned(),
                walk: walk(source, &spec.filter, spec.bounds(source)?.as_ref(), cancel)?,
            },
            TreeKind::Tarball(compression) => {
                let mut stream = 0;
                let totals = read_tarball(
                    source,
                    compression,
                    &spec.filter,
                    &mut std::io::sink(),
                    &mut |n| stream = n,
                    cancel,
                )?;
                Input::Tarball {
                    path: source.to_owned(),
                    compression,
                    filter: &spec.filter,
                    totals,
                    stream,
                }
            }
        };
        let t = input.totals();
        step.done(format!(
            "{} entries, {} MiB",
            t.entries,
            t.bytes.div_ceil(1 << 20)
        ));
        Ok(input)
    }

    pub fn totals(&self) -> &Totals {
        match self {
            Input::Dir { walk, .. } => &walk.totals,
            Input::Tarball { totals, .. } => totals,
        }
    }

    /// Copy the tree into `mnt`.
    pub fn copy_into(&self, mnt: &Path, reporter: &dyn Reporter, cancel: &Cancel) -> Result<()> {
        let work = mnt.parent().unwrap_or(Path::new("/"));
        let t = self.totals();
        let total = match self {
            Input::Dir { .. } => t.bytes + t.entries * 1024,
            Input::Tarball { stream, .. } => *stream,
        };
        let step = begin_step(
            reporter,
            "Copying the tree into the image",
            Some((total, Unit::Bytes)),
        );
        let mut x = Tar::spawn(TAR_X, mnt, &work.join("tar-x.err"), Stdio::piped())?;
        let mut sink = x.child.0.stdin.take().expect("piped stdin");
        let mut advance = |n: u64| step.advance(n.min(total));
        let fed = match self {
            Input::Dir { root, walk } => {
                copy_dir(root, walk, work, &mut sink, &mut advance, cancel)
            }
            Input::Tarball {
                path,
                compression,
                filter,
                ..
            } => read_tarball(path, *compression, filter, &mut sink, &mut advance, cancel)
                .map(|_| ()),
        };
        drop(sink);
        let extracted = x.finish();
        cancel.check()?;
        match (fed, extracted) {
            (_, Err(e)) | (Err(e), Ok(())) => return Err(e),
            _ => {}
        }
        if let Input::Dir { root, walk } = self {
            make_sockets(root, mnt, &walk.sockets)?;
        }
        step.done(format!(
            "{} files, {} MiB",
            t.entries,
            t.bytes.div_ceil(1 << 20)
        ));
        Ok(())
    }
}

/// Archive the walked entries of `root` into `sink`.
fn copy_dir(
    root: &Path,
    walk: &Walk,
    work: &Path,
    sink: &mut dyn Write,
    advance: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<()> {
    let list = work.join("tree.list");
    std::fs::write(&list, &walk.list).with_context(|| format!("writing {}", list.display()))?;
    let mut args: Vec<String> = TAR_C.iter().map(|s| (*s).to_owned()).collect();
    args.push(format!("--files-from={}", list.display()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = Tar::spawn(&args, root, &work.join("tar-c.err"), Stdio::null())?;
    let mut out = c.child.0.stdout.take().expect("piped stdout");
    let relayed = relay(&mut out, sink, advance, cancel);
    drop(out);
    let created = c.finish();
    relayed?;
    created
}

fn relay(
    from: &mut ChildStdout,
    to: &mut dyn Write,
    advance: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        cancel.check()?;
        let n = from
            .read(&mut buf)
            .context("reading the tree's archive from tar")?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])
            .context("writing the tree into the image")?;
        done += n as u64;
        advance(done);
    }
}

/// Decompress and filter a tarball into `out`.
fn read_tarball(
    path: &Path,
    compression: Compression,
    filter: &Filter,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
    cancel: &Cancel,
) -> Result<Totals> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let why = |e: anyhow::Error| e.context(format!("{} is not a usable tarball", path.display()));
    let Some(program) = compression.decompressor() else {
        return filter_stream(
            &mut std::io::BufReader::new(file),
            out,
            filter,
            progress,
            cancel,
        )
        .map_err(why);
    };
    let mut child = Guard(
        Command::new(program)
            .args(["-dc"])
            .stdin(file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {program}"))?,
    );
    let mut stdout =
        std::io::BufReader::with_capacity(1 << 20, child.0.stdout.take().expect("piped"));
    let result = filter_stream(&mut stdout, out, filter, progress, cancel);
    drop(stdout);
    let status = child.0.wait()?;
    if !status.success() && result.is_ok() {
        let mut err = String::new();
        child
            .0
            .stderr
            .take()
            .map(|mut e| e.read_to_string(&mut err));
        bail!(
            "{} is not a usable tarball: {program}: {}",
            path.display(),
            err.trim()
        );
    }
    result.map_err(why)
}

/// Sockets, which tar skips: made again with their owners, modes and times.
fn make_sockets(root: &Path, mnt: &Path, sockets: &[(PathBuf, Metadata)]) -> Result<()> {
    use nix::sys::stat::{Mode, SFlag, mknod};
    for (rel, meta) in sockets {
        let p = mnt.join(rel);
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        mknod(&p, SFlag::S_IFSOCK, mode, 0)
            .and_then(|_| nix::unistd::chown(&p, Some(meta.uid().into()), Some(meta.gid().into())))
            .and_then(|_| {
                nix::sys::stat::fchmodat(
                    None,
                    &p,
                    mode,
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
            })
            .with_context(|| {
                format!("making the socket {} of {}", rel.display(), root.display())
            })?;
        let t = |s: i64, ns: i64| nix::sys::time::TimeSpec::new(s, ns);
        nix::sys::stat::utimensat(
            None,
            &p,
            &t(meta.atime(), meta.atime_nsec()),
            &t(meta.mtime(), meta.mtime_nsec()),
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .with_context(|| format!("setting the times of {}", p.display()))?;
    }
    Ok(())
}

/// A child process killed and reaped when dropped before it finished.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// One GNU tar, its stderr kept in a file.
struct Tar {
    child: Guard,
    line: String,
    err: PathBuf,
    create: bool,
}

impl Tar {
    fn spawn(args: &[&str], dir: &Path, err: &Path, stdin: Stdio) -> Result<Tar> {
        let mut cmd = Command::new("tar");
        cmd.arg("--directory").arg(dir).args(args);
        let create = args.contains(&"--create");
        let line = command_line(&cmd);
        let errf = File::create(err).with_context(|| format!("creating {}", err.display()))?;
        let stdin = if create { stdin } else { Stdio::piped() };
        let child = cmd
            .stdin(stdin)
            .stdout(if create {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(errf)
            .spawn()
            .with_context(|| format!("running `{line}`"))?;
        Ok(Tar {
            child: Guard(child),
            line,
            err: err.to_owned(),
            create,
        })
    }

    /// Wait; `tar -c`'s exit 1 (a file changed while read) is not an error.
    fn finish(&mut self) -> Result<()> {
        let status = self
            .child
            .0
            .wait()
            .with_context(|| format!("waiting for `{}`", self.line))?;
        let tolerated = self.create && status.code() == Some(1);
        if status.success() || tolerated {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.err).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("`{}` failed ({status}): {}", self.line, tail.join(" / "));
    }
}
