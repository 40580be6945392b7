//! Static files for `ocb serve`: a URL path is percent-decoded first, then
//! normalised, and must stay inside one of the allowed folders.

use percent_encoding::percent_decode_str;
use std::path::{Path, PathBuf};

/// The file a URL path names under `base` (a folder gives its index.html).
/// `allowed` are the folders a resolved file may really live in (symlinks
/// resolved); `base` itself is always allowed.
pub fn resolve(base: &Path, url_path: &str, allowed: &[&Path]) -> Option<PathBuf> {
    let decoded = percent_decode_str(url_path).decode_utf8().ok()?;
    // Backslashes are separators elsewhere and NUL ends C strings: neither has
    // a place in a file name of the site.
    if decoded.contains(['\\', '\0']) {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    let mut path = base.to_path_buf();
    path.extend(&parts);
    if path.is_dir() {
        path.push("index.html");
    }
    let real = path.canonicalize().ok()?;
    let inside = std::iter::once(base)
        .chain(allowed.iter().copied())
        .filter_map(|a| a.canonicalize().ok())
        .any(|a| real.starts_with(a));
    (inside && real.is_file()).then_some(real)
}

/// The Content-Type of a file, with a charset for text.
pub fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || mime.subtype() == mime_guess::mime::JSON
        || mime.subtype() == mime_guess::mime::JAVASCRIPT;
    if textual {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("output");
        std::fs::create_dir_all(out.join("2025-01")).unwrap();
        std::fs::write(out.join("index.html"), "site").unwrap();
        std::fs::write(out.join("2025-01/index.html"), "period").unwrap();
        std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
        let r = |p: &str| resolve(&out, p, &[]);
        assert!(r("/").is_some_and(|p| p.ends_with("output/index.html")));
        assert!(r("/2025-01/").is_some_and(|p| p.ends_with("2025-01/index.html")));
        assert!(r("/2025-01/../index.html").is_some());
        assert!(r("/2025%2D01/index.html").is_some());
        for bad in [
            "/../secret.txt",
            "/..%2fsecret.txt",
            "/%2e%2e/secret.txt",
            "/%2e%2e%2fsecret.txt",
            "/%252e%252e%252fsecret.txt",
            "/..%5csecret.txt",
            "/..\\secret.txt",
            "/index.html%00.png",
            "/2025-01/../../secret.txt",
            "/%ff%fe",
        ] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    #[test]
    fn symlinks_out_of_the_folder_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("output");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.txt"), out.join("link.txt")).unwrap();
        assert_eq!(resolve(&out, "/link.txt", &[]), None);
        assert!(resolve(&out, "/link.txt", &[root.path()]).is_some());
    }

    #[test]
    fn types_from_the_extension() {
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.pdf")), "application/pdf");
        assert_eq!(content_type(Path::new("a.csv")), "text/csv; charset=utf-8");
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
    }
}
