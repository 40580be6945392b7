//! Links to PDF statements only where the PDF exists: a `--no-pdf` build, or a
//! `--period` build whose other months have no cached PDF, must not publish
//! broken links. Pages are rendered before printing, so this pass runs last.

use anyhow::{Context, Result};
use std::path::Path;

/// How the templates link a statement's PDF: `<a href="….pdf">PDF</a>`,
/// after a ` · ` separator that goes with it.
const OPEN: &str = "<a href=\"";
const CLOSE: &str = "\">PDF</a>";
const SEPARATOR: &str = " · ";

/// Remove every PDF link whose target is missing from the HTML pages under
/// `out`; returns how many links were removed.
pub fn unlink_missing(out: &Path) -> Result<usize> {
    use rayon::prelude::*;
    let pages: Vec<std::path::PathBuf> = walkdir::WalkDir::new(out)
        .into_iter()
        .flatten()
        .map(walkdir::DirEntry::into_path)
        .filter(|path| path.extension().is_some_and(|x| x == "html"))
        .collect();
    // A year's site is thousands of pages: read and rewritten on every core.
    pages
        .par_iter()
        .map(|path| -> Result<usize> {
            let html = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            if !html.contains(CLOSE) {
                return Ok(0);
            }
            let folder = path.parent().unwrap_or(out);
            let (kept, n) = unlink(&html, |href| folder.join(href).is_file());
            if n > 0 {
                crate::write::file(path, kept.as_bytes())?;
            }
            Ok(n)
        })
        .try_reduce(|| 0, |a, b| Ok(a + b))
}

/// The page without the PDF links for which `exists` says no.
fn unlink(html: &str, exists: impl Fn(&str) -> bool) -> (String, usize) {
    let mut out = String::with_capacity(html.len());
    let mut removed = 0;
    let mut rest = html;
    while let Some(end) = rest.find(CLOSE) {
        let before = &rest[..end];
        let link = before
            .rfind(OPEN)
            .map(|start| (start, &before[start + OPEN.len()..]))
            .filter(|(_, href)| href.ends_with(".pdf") && !href.contains(['"', '<', '>']));
        match link {
            Some((start, href)) if !exists(&decode(href)) => {
                let kept = &before[..start];
                out.push_str(kept.strip_suffix(SEPARATOR).unwrap_or(kept));
                removed += 1;
            }
            _ => out.push_str(&rest[..end + CLOSE.len()]),
        }
        rest = &rest[end + CLOSE.len()..];
    }
    out.push_str(rest);
    (out, removed)
}

/// Undo the HTML escaping the templates apply to attribute values.
fn decode(href: &str) -> String {
    href.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_pdfs_lose_their_link_and_separator_and_present_ones_keep_them() {
        let html = r#"<td><a href="a.html">S-1</a> · <a href="s&#x2f;a.pdf">PDF</a></td><td><a href="b.html">S-2</a> · <a href="b.pdf">PDF</a></td>"#;
        let (kept, n) = unlink(html, |href| href == "b.pdf");
        assert_eq!(n, 1);
        assert_eq!(
            kept,
            r#"<td><a href="a.html">S-1</a></td><td><a href="b.html">S-2</a> · <a href="b.pdf">PDF</a></td>"#
        );
    }

    #[test]
    fn other_links_named_pdf_are_left_alone() {
        let html = r#"<a href="guide.html">PDF</a>"#;
        assert_eq!(unlink(html, |_| false), (html.to_string(), 0));
    }
}
