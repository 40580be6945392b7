//! Files' sha256 digests, remembered by stamp (size, inode, and change and
//! modification times to the nanosecond): within a process (a build, or
//! `ocb serve` across its rebuilds), and across builds in
//! `.ocb-cache/digests.msgpack`, so an unchanged year is not read again to
//! find that it is unchanged.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A file replaced by a rename (as ocb writes them) is a new inode; any write
/// changes the change time, which no tool can set back.
type Stamp = (u64, u64, i64, i64, i64, i64);
type Seen = HashMap<PathBuf, (Stamp, String)>;

fn seen() -> &'static Mutex<Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    (
        meta.len(),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

/// A file's sha256, streamed (a month's CSV need not fit in memory twice).
pub fn sha256(path: &Path) -> std::io::Result<String> {
    let now = stamp(&std::fs::metadata(path)?);
    if let Some((known, digest)) = seen().lock().ok().and_then(|m| m.get(path).cloned())
        && known == now
    {
        return Ok(digest);
    }
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let digest = hex::encode(hasher.finalize());
    if let Ok(mut m) = seen().lock() {
        m.insert(path.to_path_buf(), (now, digest.clone()));
    }
    Ok(digest)
}

/// Take the digests an earlier build remembered (a missing or unreadable
/// file is no memory). Each is used only while its file's stamp is the same.
pub fn recall(file: &Path) {
    let Ok(bytes) = std::fs::read(file) else {
        return;
    };
    let Ok(saved) = rmp_serde::from_slice::<Vec<(PathBuf, Stamp, String)>>(&bytes) else {
        return;
    };
    if let Ok(mut m) = seen().lock() {
        for (path, stamp, digest) in saved {
            m.entry(path).or_insert((stamp, digest));
        }
    }
}

/// Remember the digests of files under `under` for the next build. A file
/// changed less than two seconds before it was hashed is left out: a write
/// in the same clock tick as the hashing could leave its stamp unchanged
/// (git's "racy" entries), and it is simply hashed again next time.
pub fn remember(file: &Path, under: &Path) -> anyhow::Result<()> {
    let nanos = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
    let safe_before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128 - 2_000_000_000)
        .unwrap_or(0);
    let mut saved: Vec<(PathBuf, Stamp, String)> = match seen().lock() {
        Ok(m) => m
            .iter()
            .filter(|(path, (stamp, _))| {
                path.starts_with(under) && nanos(stamp.4, stamp.5) < safe_before
            })
            .map(|(path, (stamp, digest))| (path.clone(), *stamp, digest.clone()))
            .collect(),
        Err(_) => return Ok(()),
    };
    saved.sort();
    let bytes = rmp_serde::to_vec(&saved)?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::write::file(file, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_digest_is_used_only_while_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.csv");
        std::fs::write(&f, "one").unwrap();
        let first = sha256(&f).unwrap();
        // A digest remembered for this stamp is believed (here: a wrong one,
        // to show it is not read again) ...
        let wrong = "0".repeat(64);
        let now = stamp(&std::fs::metadata(&f).unwrap());
        seen()
            .lock()
            .unwrap()
            .insert(f.clone(), (now, wrong.clone()));
        assert_eq!(sha256(&f).unwrap(), wrong);
        // ... and any write changes the stamp, so the file is read again.
        std::fs::write(&f, "two").unwrap();
        let second = sha256(&f).unwrap();
        assert_ne!(second, wrong);
        assert_ne!(second, first);
        assert_eq!(second, hex::encode(Sha256::digest(b"two")));
    }

    #[test]
    fn only_files_changed_over_two_seconds_ago_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old.csv"), dir.path().join("new.csv"));
        std::fs::write(&old, "old").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2100));
        std::fs::write(&new, "new").unwrap();
        sha256(&old).unwrap();
        sha256(&new).unwrap();
        let file = dir.path().join(".ocb-cache/digests.msgpack");
        remember(&file, dir.path()).unwrap();
        let saved: Vec<(PathBuf, Stamp, String)> =
            rmp_serde::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let paths: Vec<&PathBuf> = saved.iter().map(|(p, _, _)| p).collect();
        assert_eq!(
            paths,
            [&old],
            "a file written just now could still change unseen"
        );
        assert_eq!(saved[0].2, hex::encode(Sha256::digest(b"old")));
    }
}
