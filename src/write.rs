//! Replace `output/` with a finished build in one step: a build is staged in a
//! sibling folder and swapped in by renames only when everything succeeded.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A fresh staging folder next to `out` (same file system, so renames are atomic).
pub fn staging(out: &Path) -> Result<tempfile::TempDir> {
    let parent = parent(out);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create `{}`", parent.display()))?;
    crate::interrupt::install();
    sweep(&parent);
    let dir = tempfile::Builder::new()
        .prefix(&owned(STAGING))
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a staging folder in `{}`", parent.display()))?;
    crate::interrupt::remove_on_interrupt(dir.path().to_path_buf());
    Ok(dir)
}

const STAGING: &str = ".ocb-staging-";
const OLD: &str = ".ocb-old-";

/// A temporary name that says which process owns it: `.ocb-staging-<pid>-`.
fn owned(prefix: &str) -> String {
    format!("{prefix}{}-", std::process::id())
}

/// Remove staging and set-aside folders left by killed builds: those whose
/// owner is no longer running. A live build's folders are never touched.
pub fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(STAGING).or(name.strip_prefix(OLD)) else {
            continue;
        };
        let stale = match rest
            .split_once('-')
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        {
            Some(pid) => !crate::lock::alive(pid),
            // Named by an ocb before owners were recorded: stale once untouched for a day.
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 24 * 3600)),
        };
        if stale && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn parent(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Swap the staged build into place. The previous output is moved into
/// `trash` (emptied while the next build works, `empty`) when it is on the
/// same file system, and removed here otherwise.
pub fn replace(staged: tempfile::TempDir, out: &Path, trash: &Path) -> Result<()> {
    let staged = staged.keep();
    crate::interrupt::forget(None, Some(&staged));
    if !out.exists() {
        return std::fs::rename(&staged, out)
            .with_context(|| format!("cannot move the build into `{}`", out.display()));
    }
    let trashed = set_aside_in(trash, out, "output-");
    let old = match &trashed {
        Some(old) => old.clone(),
        None => {
            let old = tempfile::Builder::new()
                .prefix(&owned(OLD))
                .tempdir_in(parent(out))?
                .keep();
            std::fs::remove_dir(&old)?;
            std::fs::rename(out, &old)
                .with_context(|| format!("cannot move the previous `{}` aside", out.display()))?;
            old
        }
    };
    if let Err(e) = std::fs::rename(&staged, out) {
        // Put the previous output back: a failed build must leave it untouched.
        let _ = std::fs::rename(&old, out);
        return Err(e).with_context(|| format!("cannot move the build into `{}`", out.display()));
    }
    match trashed {
        Some(_) => Ok(()),
        None => remove_all(&old)
            .with_context(|| format!("cannot remove the previous output `{}`", old.display())),
    }
}

/// `out` renamed into a new folder of `trash` named `prefix…`; None when it
/// cannot be (the trash is on another file system, or cannot be made).
fn set_aside_in(trash: &Path, out: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::create_dir_all(trash).ok()?;
    let slot = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(trash)
        .ok()?
        .keep();
    std::fs::remove_dir(&slot).ok()?;
    std::fs::rename(out, &slot).ok()?;
    Some(slot)
}

/// Remove the folder `dir`: moved into `trash` (for `empty` to remove
/// while the next build works) when it can be, removed now otherwise.
pub fn discard(dir: &Path, trash: &Path, prefix: &str) -> std::io::Result<()> {
    match set_aside_in(trash, dir, prefix) {
        Some(_) => Ok(()),
        None => std::fs::remove_dir_all(dir),
    }
}

/// Where a repository's builds put what they replaced: `.ocb-cache/trash/`.
pub fn trash(root: &Path) -> PathBuf {
    root.join(".ocb-cache").join("trash")
}

/// Remove what earlier builds put in `trash`, on a thread of its own while
/// the build works: removing a month's output waits on the disk (0.1 s for
/// a million rows where freed blocks are discarded at once, 0.3 s for a
/// year), time a build spends loading on every core. Join it before the
/// build puts its own previous output there.
pub fn empty(trash: &Path, recycled: Option<&Path>) -> std::thread::JoinHandle<()> {
    let trash = trash.to_path_buf();
    let recycled = recycled.map(Path::to_path_buf);
    std::thread::spawn(move || {
        let Ok(entries) = std::fs::read_dir(&trash) else {
            return;
        };
        for entry in entries.flatten() {
            if recycled.as_deref() == Some(entry.path().as_path()) {
                // Only what cannot be recycled: files with other links.
                use std::os::unix::fs::MetadataExt;
                for e in walkdir::WalkDir::new(entry.path()).into_iter().flatten() {
                    if e.file_type().is_file() && e.metadata().is_ok_and(|m| m.nlink() > 1) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
                continue;
            }
            // Best effort: what is left is removed by the next build.
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(entry.path()),
                _ => std::fs::remove_file(entry.path()),
            };
        }
    })
}

/// `remove_dir_all`, the folder's subfolders on every core: a year's site is
/// thousands of files.
fn remove_all(dir: &Path) -> std::io::Result<()> {
    use rayon::prelude::*;
    let subfolders: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subfolders
        .par_iter()
        .try_for_each(std::fs::remove_dir_all)?;
    std::fs::remove_dir_all(dir)
}

/// Write a file, creating its folder.
pub fn file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    if same_as_live(path, bytes) {
        return Ok(());
    }
    if let Some(mut f) = recycled(path) {
        use std::io::Write;
        return f
            .write_all(bytes)
            .and_then(|()| f.set_len(bytes.len() as u64))
            .with_context(|| format!("cannot write `{}`", path.display()));
    }
    // A file with other links (output files restored from the per-period
    // cache are hard links into it, `crate::cache`) is replaced by a new
    // one, never written into.
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && std::os::unix::fs::MetadataExt::nlink(&meta) > 1
    {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot replace `{}`", path.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write `{}`", path.display()))
}

/// A file to write from its start, its folder created: written as a
/// stream (`Stream`), then ended with `finish`.
pub fn create(path: &Path) -> Result<Stream> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let to = match live_twin(path).and_then(|(live, meta)| {
        let reading = std::fs::File::open(&live).ok()?;
        Some(To::Same {
            live: reading,
            len: meta.len(),
            matched: 0,
            scratch: Vec::new(),
        })
    }) {
        Some(same) => same,
        None => To::Own(own_file(path)?),
    };
    Ok(Stream {
        path: path.to_path_buf(),
        to,
    })
}

/// A new file at `path`: the previous output's file of the same name when
/// there is one to recycle, a new one otherwise.
fn own_file(path: &Path) -> Result<std::fs::File> {
    if let Some(f) = recycled(path) {
        return Ok(f);
    }
    // Never truncated in place when it has other links (the live output's
    // file, or the cache's).
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && std::os::unix::fs::MetadataExt::nlink(&meta) > 1
    {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot replace `{}`", path.display()))?;
    }
    std::fs::File::create(path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// A file written as a stream (charges.csv: too large to hold). While its
/// bytes are those of the live output's file at the same place, they are
/// only compared with it; that file is linked in at the end if they all
/// were. The first byte that differs makes the file its own, starting
/// with the bytes that matched.
pub struct Stream {
    path: PathBuf,
    to: To,
}

enum To {
    Same {
        live: std::fs::File,
        len: u64,
        matched: u64,
        scratch: Vec<u8>,
    },
    Own(std::fs::File),
}

impl Stream {
    /// Become a file of its own, holding the bytes that matched so far.
    fn own(&mut self) -> std::io::Result<&mut std::fs::File> {
        if let To::Same { live, matched, .. } = &mut self.to {
            use std::io::Seek;
            let mut file = own_file(&self.path).map_err(std::io::Error::other)?;
            live.rewind()?;
            let copied = std::io::copy(&mut std::io::Read::take(&mut *live, *matched), &mut file)?;
            if copied != *matched {
                return Err(std::io::Error::other(format!(
                    "the previous output's `{}` changed while it was read",
                    self.path.display()
                )));
            }
            self.to = To::Own(file);
        }
        match &mut self.to {
            To::Own(file) => Ok(file),
            To::Same { .. } => Err(std::io::Error::other("a stream that is not its own file")),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let To::Same {
            live,
            len,
            matched,
            scratch,
        } = &mut self.to
            && *matched + buf.len() as u64 <= *len
        {
            scratch.resize(buf.len(), 0);
            if std::io::Read::read_exact(live, scratch).is_ok() && scratch[..] == *buf {
                *matched += buf.len() as u64;
                return Ok(buf.len());
            }
        }
        self.own()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.to {
            To::Own(file) => file.flush(),
            To::Same { .. } => Ok(()),
        }
    }
}

/// `stream`'s bytes from `produce`, written (or compared with the live
/// output's, see `create`) on a thread of their own, a megabyte at a time:
/// the producer formats the next megabyte meanwhile. charges.csv is the last
/// of a period's outputs to finish, on a core of its own.
pub fn handed_off<T>(
    stream: Stream,
    produce: impl FnOnce(&mut Handoff) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Stream)> {
    use std::io::Write;
    std::thread::scope(|s| {
        // Two chunks in flight, each returned to be filled again.
        let (send, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (back, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let writer = s.spawn(move || -> std::io::Result<Stream> {
            let mut stream = stream;
            for chunk in chunks {
                stream.write_all(&chunk)?;
                let _ = back.send(chunk);
            }
            stream.flush()?;
            Ok(stream)
        });
        let mut out = Handoff {
            send,
            spare,
            buf: Vec::with_capacity(HANDOFF),
        };
        let produced = produce(&mut out).and_then(|t| {
            out.hand()?;
            Ok(t)
        });
        // Closes the channel: the writer ends once it has written the rest.
        drop(out);
        let written = writer
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        // A failed write stops the producer too: the writer's error says why.
        let stream = written?;
        Ok((produced?, stream))
    })
}

/// Bytes handed to the writing thread at a time.
const HANDOFF: usize = 1 << 20;

/// The producer's end of `handed_off`.
pub struct Handoff {
    send: std::sync::mpsc::SyncSender<Vec<u8>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl Handoff {
    fn hand(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(HANDOFF));
        next.clear();
        let full = std::mem::replace(&mut self.buf, next);
        self.send
            .send(full)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "its writer stopped"))
    }
}

impl std::io::Write for Handoff {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= HANDOFF {
            self.hand()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand()
    }
}

/// End a file from `create`: the live output's file linked in when every
/// byte was its; otherwise ended where its writing ended (a recycled file
/// may have been longer).
pub fn finish(mut stream: Stream) -> std::io::Result<()> {
    if let To::Same { len, matched, .. } = &stream.to
        && len == matched
        && let Some((live, _)) = live_twin(&stream.path)
        && std::fs::hard_link(&live, &stream.path).is_ok()
    {
        return Ok(());
    }
    use std::io::Seek;
    let file = stream.own()?;
    let end = file.stream_position()?;
    file.set_len(end)
}

/// The live output and this build's staging folder (`recycle`): a file
/// this build writes with the bytes the live output's file at the same
/// place has is that file, linked in, not written again. Web servers and
/// `rsync` see it unchanged (same inode and time), and a build whose
/// month did not change writes nothing of it.
static LIVE: std::sync::RwLock<Option<(PathBuf, PathBuf)>> = std::sync::RwLock::new(None);

/// The live output's file at `path`'s place in staging, when it can stand
/// for it: a plain file with the mode a new file would get, and `path` not
/// yet written.
fn live_twin(path: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
    use std::os::unix::fs::MetadataExt;
    let mode = 0o666 & !*UMASK.get()?;
    let (live, staging) = {
        let r = LIVE.read().ok()?;
        let (live, staging) = r.as_ref()?;
        (live.join(path.strip_prefix(staging).ok()?), staging.clone())
    };
    let meta = std::fs::symlink_metadata(&live).ok()?;
    if !meta.is_file() || meta.mode() & 0o7777 != mode || std::fs::symlink_metadata(path).is_ok() {
        return None;
    }
    // A link cannot cross file systems (an `output/` mounted elsewhere):
    // nothing is compared that could not be linked.
    if std::fs::metadata(&staging).ok()?.dev() != meta.dev() {
        return None;
    }
    Some((live, meta))
}

/// Whether `bytes` are the live output's file at `path`'s place, now linked
/// in at `path`.
fn same_as_live(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Read;
    let Some((live, meta)) = live_twin(path) else {
        return false;
    };
    if meta.len() != bytes.len() as u64 {
        return false;
    }
    let Ok(mut file) = std::fs::File::open(&live) else {
        return false;
    };
    let mut chunk = vec![0u8; (1 << 16).min(bytes.len().max(1))];
    let mut at = 0;
    while at < bytes.len() {
        let n = chunk.len().min(bytes.len() - at);
        if file.read_exact(&mut chunk[..n]).is_err() || chunk[..n] != bytes[at..at + n] {
            return false;
        }
        at += n;
    }
    std::fs::hard_link(&live, path).is_ok()
}

/// The output the previous build replaced (in the trash) and the staging
/// folder of this one: files of the former are written over at the same
/// place in the latter, rather than removed and created anew. This
/// machine's file system (ext4 without a journal) makes each new file skip
/// every inode freed in the last minutes, and the freed blocks are
/// discarded one by one (docs/DECISIONS.md).
static RECYCLING: std::sync::RwLock<Option<(PathBuf, PathBuf)>> = std::sync::RwLock::new(None);

/// Until the guard is dropped: link into `staging` the files of `live` (the
/// output this build replaces) that it writes again unchanged (`LIVE`),
/// and recycle into it the files of the output the previous build put in
/// `trash` (the newest `output-…` there); then what is left of that folder
/// is renamed `recycled-…`, for the next build to remove.
pub fn recycle(staging: &Path, trash: &Path, live: &Path) -> Recycling {
    use std::os::unix::fs::MetadataExt;
    if let Ok(mut l) = LIVE.write() {
        *l = Some((live.to_path_buf(), staging.to_path_buf()));
    }
    let newest = std::fs::read_dir(trash).ok().and_then(|entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("output-"))
            // Set aside last: changed last (the rename).
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some(((m.ctime(), m.ctime_nsec()), e.path()))
            })
            .max()
            .map(|(_, path)| path)
    });
    if let (Some(from), Ok(mut r)) = (&newest, RECYCLING.write()) {
        *r = Some((from.clone(), staging.to_path_buf()));
    }
    Recycling {
        from: newest,
        trash: trash.to_path_buf(),
    }
}

/// Recycling in progress (`recycle`): the folder recycled from.
pub struct Recycling {
    pub from: Option<PathBuf>,
    trash: PathBuf,
}

impl Drop for Recycling {
    fn drop(&mut self) {
        if let Ok(mut r) = RECYCLING.write() {
            *r = None;
        }
        if let Ok(mut l) = LIVE.write() {
            *l = None;
        }
        if let Some(from) = &self.from
            && let Ok(slot) = tempfile::Builder::new()
                .prefix("recycled-")
                .tempdir_in(&self.trash)
                .map(tempfile::TempDir::keep)
        {
            let _ = std::fs::remove_dir(&slot);
            let _ = std::fs::rename(from, &slot);
        }
    }
}

/// The previous output's file for `path`, moved to `path` and opened for
/// writing from its start; None when there is none, or it has other links
/// (a file the per-period cache holds too is never written into).
fn recycled(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // The mode a new file gets: a recycled one is given it too (a build
    // under another umask must not publish files the web server cannot read).
    let mode = 0o666 & !*UMASK.get()?;
    let old = {
        let r = RECYCLING.read().ok()?;
        let (from, into) = r.as_ref()?;
        from.join(path.strip_prefix(into).ok()?)
    };
    let meta = std::fs::symlink_metadata(&old).ok()?;
    if !meta.is_file() || meta.nlink() != 1 || std::fs::symlink_metadata(path).is_ok() {
        return None;
    }
    std::fs::rename(&old, path).ok()?;
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) else {
        // Not writable (its mode changed): a new file takes its place.
        let _ = std::fs::remove_file(path);
        return None;
    };
    let meta = file.metadata().ok()?;
    if meta.nlink() != 1 {
        // Linked meanwhile: left for the caller to replace.
        return None;
    }
    if meta.mode() & 0o7777 != mode
        && file
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .is_err()
    {
        let _ = std::fs::remove_file(path);
        return None;
    }
    Some(file)
}

/// The process's umask, read once before any thread starts (reading it
/// means setting it); without it no file is recycled.
static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Read the umask (`main`, before any thread: umask is read by setting it).
pub fn note_umask() {
    // SAFETY: umask only swaps the process's file mode mask; it is set back
    // at once, before any other thread exists to create a file meanwhile.
    let mask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    let _ = UMASK.set(mask);
}

/// Create a folder (and its parents) and give it back.
pub fn ensure_dir(dir: &Path) -> Result<&Path> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    Ok(dir)
}

/// Replace a file people keep in the repository (period.yaml, review.yaml)
/// in one step: a temporary file beside it, synced, then renamed over it. On
/// a full or read-only disk the error names the file and the old one stays.
pub fn atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = parent(path);
    let write = || -> std::io::Result<()> {
        // Temporary files are private (0600); these are ordinary files.
        let mut tmp = tempfile::Builder::new()
            .prefix(".ocb-tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(&dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bytes_handed_off_are_written_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("charges.csv");
        let mut expected = Vec::new();
        let (rows, stream) = handed_off(create(&path).unwrap(), |out| {
            // Five megabytes in writes of every size, as a CSV writer makes them.
            let mut rows = 0;
            while expected.len() < 5 << 20 {
                let line = format!("{rows},{}\n", "x".repeat(rows % 3000));
                out.write_all(line.as_bytes())?;
                expected.extend_from_slice(line.as_bytes());
                rows += 1;
            }
            out.flush()?;
            Ok(rows)
        })
        .unwrap();
        finish(stream).unwrap();
        assert!(rows > 1000);
        assert!(
            std::fs::read(&path).unwrap() == expected,
            "the file differs"
        );
    }

    #[test]
    fn a_failed_write_or_product_is_an_error() {
        // The device that is always full: the writer's error is the one told.
        let full = Path::new("/dev/full");
        if full.exists() {
            let e = handed_off(create(full).unwrap(), |out| {
                for _ in 0..64 {
                    out.write_all(&[b'x'; 1 << 16])?;
                }
                Ok(())
            })
            .err()
            .expect("a full device");
            assert!(e.to_string().contains("No space left"), "{e:#}");
        }
        let dir = tempfile::tempdir().unwrap();
        let e = handed_off(
            create(&dir.path().join("a.csv")).unwrap(),
            |out| -> Result<()> {
                out.write_all(b"a,b\n")?;
                anyhow::bail!("a row could not be formatted")
            },
        )
        .err()
        .expect("the producer's error");
        assert_eq!(e.to_string(), "a row could not be formatted");
    }
}
