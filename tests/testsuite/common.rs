//! Helpers shared by the integration tests.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh copy of a fixture repository in a temporary folder.
pub fn repo(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture(name), dir.path());
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk fixture");
        let rel = entry.path().strip_prefix(from).expect("inside fixture");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// `ocb --root <root> <args…>`.
pub fn ocb(root: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ocb").expect("ocb binary");
    cmd.arg("--root").arg(root);
    cmd
}

pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.as_ref().display()))
}

/// Parse a CSV file into a header and rows.
pub fn csv_rows(path: impl AsRef<Path>) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path.as_ref()).expect("csv");
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = r
        .records()
        .map(|x| x.expect("record").iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// True when Chromium tests must run: always in CI, else when a browser exists.
pub fn chromium_available() -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return true;
    }
    let found = ocb::pdf::find_chrome(None).is_ok();
    if !found {
        eprintln!(
            "skipping: Chromium not found (install `chromium`; in CI these tests never skip)"
        );
    }
    found
}

/// Every file under `dir` with its bytes, for "nothing changed" and
/// "byte-identical" checks.
pub fn snapshot_dir(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("read");
            (
                e.path().strip_prefix(dir).expect("inside").to_path_buf(),
                bytes,
            )
        })
        .collect()
}
