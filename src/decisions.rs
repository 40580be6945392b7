//! Appending review decisions to `review.yaml` as text: what people wrote
//! there (comments, order, spacing) stays exactly as it was.

use anyhow::{Context, Result};
use std::path::Path;

/// Append `entries` (YAML list items) under a `# <comment>` line.
pub fn append(path: &Path, comment: &str, entries: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let text = appended_text(path, comment, entries);
    // Appended by replacing the whole file: a full disk must not leave half an entry.
    crate::write::atomic(path, format!("{existing}{text}").as_bytes())
}

/// What `append` adds to the file as it is now.
pub fn appended_text(path: &Path, comment: &str, entries: &str) -> String {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("\n# {comment}\n{entries}"));
    text
}

/// Who decides: `git config user.name` in the repository, else `$USER`.
pub fn who(root: &Path) -> Option<String> {
    let git = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["config", "user.name"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    git.or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.yaml");
        std::fs::write(&path, "# ours\n- charge: aaaaaaaaaaaa\n  decision: reject").unwrap();
        append(
            &path,
            "added by test",
            "- charge: bbbbbbbbbbbb\n  decision: approve\n",
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# ours\n- charge: aaaaaaaaaaaa\n  decision: reject\n\n# added by test\n- charge: bbbbbbbbbbbb\n  decision: approve\n"
        );
    }
}
