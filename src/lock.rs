//! One writer at a time per billing repository: `<root>/.ocb.lock`, held with
//! an OS file lock (released by the kernel when the holder dies, so a stale
//! lock of a dead process is simply taken over) and naming its holder.

use anyhow::{Context, Result, bail};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The lock file at the repository root (listed in the scaffold's .gitignore).
pub const FILE: &str = ".ocb.lock";

/// How long a second writer waits for the first before giving up: long enough
/// for a quick `review --write` or `close` to finish, short enough for cron.
const WAIT: Duration = Duration::from_secs(3);

/// Held while the value lives; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RepoLock {
    _file: Option<File>,
}

impl Drop for RepoLock {
    /// A lock released normally names nobody; one left with a name was held
    /// by a process that died, and the next writer says it took it over.
    fn drop(&mut self) {
        if let Some(file) = &self._file {
            let _ = file.set_len(0);
        }
    }
}

/// Take the repository's writer lock for `command` (e.g. `build`), waiting
/// briefly for another writer; refuse with a message naming the holder.
pub fn acquire(root: &Path, command: &str) -> Result<RepoLock> {
    let path = root.join(FILE);
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path);
    let mut file = match opened {
        Ok(f) => f,
        // Nobody can write into a read-only repository, so there is nothing to
        // guard; the command itself reports what it cannot write.
        Err(e) if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem => {
            return Ok(RepoLock { _file: None });
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot open the lock file `{}`", path.display()));
        }
    };
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if start.elapsed() < WAIT => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => bail!(
                "`{}`: {}; wait for it to finish (readers such as `ocb check` need no lock)",
                path.display(),
                holder(&mut file)
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock `{}`", path.display()));
            }
        }
    }
    if let Some(stale) = Holder::parse(&read(&mut file))
        && stale.pid != std::process::id()
        && !alive(stale.pid)
    {
        eprintln!(
            "ocb: took over the lock of pid {} (`ocb {}`, started {}), which is no longer running",
            stale.pid, stale.command, stale.started
        );
    }
    // The OS lock is what excludes; the holder's name only explains. On a full
    // disk it may not fit, and the command goes on to report its own failure.
    let _ = record(&mut file, command);
    Ok(RepoLock { _file: Some(file) })
}

fn read(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    text
}

fn holder(file: &mut File) -> String {
    match Holder::parse(&read(file)) {
        Some(h) => format!(
            "another ocb is writing to this repository: pid {} (`ocb {}`, started {})",
            h.pid, h.command, h.started
        ),
        None => "another ocb is writing to this repository".to_string(),
    }
}

/// Who holds the lock, as the holder wrote it.
struct Holder {
    pid: u32,
    command: String,
    started: String,
}

impl Holder {
    fn parse(text: &str) -> Option<Holder> {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
                .map(str::to_string)
        };
        Some(Holder {
            pid: field("pid")?.parse().ok()?,
            command: field("command")?,
            started: field("started")?,
        })
    }
}

fn record(file: &mut File, command: &str) -> std::io::Result<()> {
    let text = format!(
        "pid: {}\ncommand: {command}\nstarted: {}\n",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

/// A process that exists and is not a zombie waiting to be reaped.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s.get(i + 2..i + 3))
            .is_some_and(|state| state != "Z"),
        // No /proc: ask the kernel whether the pid exists.
        Err(_) if !Path::new("/proc/self").exists() => {
            // SAFETY: signal 0 only checks that the process exists.
            unsafe { libc::kill(pid as i32, 0) == 0 }
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_name() {
        let dir = tempfile::tempdir().unwrap();
        let _first = acquire(dir.path(), "build").unwrap();
        let started = Instant::now();
        let err = acquire(dir.path(), "import").unwrap_err().to_string();
        assert!(started.elapsed() >= WAIT, "it waited before refusing");
        let me = std::process::id();
        assert!(
            err.contains(&format!("pid {me} (`ocb build`, started ")),
            "{err}"
        );
    }

    #[test]
    fn a_released_lock_is_taken_and_names_the_new_holder() {
        let dir = tempfile::tempdir().unwrap();
        drop(acquire(dir.path(), "build").unwrap());
        let _second = acquire(dir.path(), "close").unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.contains("command: close\n"), "{text}");
    }

    #[test]
    fn liveness_of_processes() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX / 2));
    }
}
