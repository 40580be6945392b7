//! Shared by the fuzz targets: the parsers read files, so each input is
//! written to a private file in memory (/dev/shm) first.

use std::path::PathBuf;

/// A folder for this fuzzing process, created once.
pub fn dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("ocb-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("fuzz scratch folder");
    dir
}

/// Write `data` to `name` in the scratch folder and give back its path.
pub fn file(name: &str, data: &[u8]) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, data).expect("fuzz scratch file");
    path
}
