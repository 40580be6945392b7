//! Reading the repository's YAML files (ocb.yaml, projects.yaml, review.yaml,
//! period.yaml, imports.yaml) the same way: a file that is absent, empty or
//! only comments means "nothing yet", as `ocb init` writes them; a file that
//! cannot be read is a problem naming it.

use crate::problem::Problem;
use std::path::Path;

/// The file's text, or `None` when there is nothing in it yet.
pub fn text(path: &Path, shown: &str) -> Result<Option<String>, Problem> {
    match std::fs::read(path) {
        Ok(bytes) => text_of(bytes, shown),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Problem::file(shown, format!("cannot read: {e}"))),
    }
}

/// `text` of bytes already read.
pub fn text_of(bytes: Vec<u8>, shown: &str) -> Result<Option<String>, Problem> {
    // The words `read_to_string` uses.
    let text = String::from_utf8(bytes)
        .map_err(|_| Problem::file(shown, "cannot read: stream did not contain valid UTF-8"))?;
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    Ok((!blank).then_some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_empty_and_comment_only_files_are_nothing_yet() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.yaml");
        assert_eq!(text(&p, "x.yaml"), Ok(None));
        for blank in ["", "\n  \n", "# a comment\n  # another\n"] {
            std::fs::write(&p, blank).unwrap();
            assert_eq!(text(&p, "x.yaml"), Ok(None), "{blank:?}");
        }
        std::fs::write(&p, "# c\n- id: a\n").unwrap();
        assert_eq!(text(&p, "x.yaml"), Ok(Some("# c\n- id: a\n".into())));
        let err = text(dir.path(), "x.yaml").unwrap_err();
        assert!(err.to_string().starts_with("x.yaml: cannot read"), "{err}");
    }
}
