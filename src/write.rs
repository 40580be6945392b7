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
    let dir = tempfile::Builder::new()
        .prefix(".ocb-staging-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a staging folder in `{}`", parent.display()))?;
    crate::interrupt::remove_on_interrupt(dir.path().to_path_buf());
    Ok(dir)
}

fn parent(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Swap the staged build into place; the previous output is removed only after.
pub fn replace(staged: tempfile::TempDir, out: &Path) -> Result<()> {
    let staged = staged.keep();
    crate::interrupt::forget(None, Some(&staged));
    if !out.exists() {
        return std::fs::rename(&staged, out)
            .with_context(|| format!("cannot move the build into `{}`", out.display()));
    }
    let old = tempfile::Builder::new()
        .prefix(".ocb-old-")
        .tempdir_in(parent(out))?
        .keep();
    std::fs::remove_dir(&old)?;
    std::fs::rename(out, &old)
        .with_context(|| format!("cannot move the previous `{}` aside", out.display()))?;
    if let Err(e) = std::fs::rename(&staged, out) {
        // Put the previous output back: a failed build must leave it untouched.
        let _ = std::fs::rename(&old, out);
        return Err(e).with_context(|| format!("cannot move the build into `{}`", out.display()));
    }
    std::fs::remove_dir_all(&old)
        .with_context(|| format!("cannot remove the previous output `{}`", old.display()))
}

/// Write a file, creating its folder.
pub fn file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write `{}`", path.display()))
}

/// Create a folder (and its parents) and give it back.
pub fn ensure_dir(dir: &Path) -> Result<&Path> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    Ok(dir)
}
