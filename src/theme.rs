//! The theme: the default one compiled into the binary, and a `themes/<name>/`
//! folder in the billing repository whose files win by path (like mdBook).

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

macro_rules! embed {
    ($($path:literal),* $(,)?) => { &[$(($path, include_bytes!(concat!("../themes/default/", $path)))),*] };
}

/// Default theme files by path under `themes/default/`.
pub const DEFAULT: &[(&str, &[u8])] = embed!(
    "templates/base.html",
    "templates/index.html",
    "templates/period.html",
    "templates/charges.html",
    "templates/review.html",
    "templates/statement.html",
    "templates/history.html",
    "templates/allocations.html",
    "templates/macros.html",
    "templates/email.html",
    "templates/email.txt",
    "templates/landing.html",
    "static/style.css",
    "static/theme.js",
    "static/charges.js",
);

pub struct Theme {
    /// The billing repository's theme folder, when it exists.
    dir: Option<PathBuf>,
}

impl Theme {
    /// `config_shown` names the config file in the error for a missing theme.
    pub fn new(root: &Path, name: &str, config_shown: &str) -> Result<Theme> {
        let dir = root.join("themes").join(name);
        if dir.is_dir() {
            return Ok(Theme { dir: Some(dir) });
        }
        if name != "default" {
            anyhow::bail!(
                "{config_shown}: key `site.theme`: no folder `themes/{name}` in the billing repository"
            );
        }
        Ok(Theme { dir: None })
    }

    /// A theme file's text: the repository's copy if present, else the default.
    pub fn text(&self, path: &str) -> Result<Option<String>> {
        if let Some(dir) = &self.dir {
            let p = dir.join(path);
            if p.is_file() {
                return std::fs::read_to_string(&p)
                    .map(Some)
                    .with_context(|| format!("cannot read `{}`", p.display()));
            }
        }
        Ok(DEFAULT
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned()))
    }

    /// Every static file (default ones, overridden or added by the repository's theme).
    pub fn statics(&self) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut out: BTreeMap<String, Vec<u8>> = DEFAULT
            .iter()
            .filter_map(|(p, b)| {
                p.strip_prefix("static/")
                    .map(|n| (n.to_string(), b.to_vec()))
            })
            .collect();
        if let Some(dir) = &self.dir {
            let base = dir.join("static");
            for e in walkdir::WalkDir::new(&base)
                .sort_by_file_name()
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file())
            {
                let rel = e
                    .path()
                    .strip_prefix(&base)
                    .unwrap_or(e.path())
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(
                    rel,
                    std::fs::read(e.path())
                        .with_context(|| format!("cannot read `{}`", e.path().display()))?,
                );
            }
        }
        Ok(out)
    }

    /// The file shown in template errors.
    pub fn shown(&self, path: &str) -> String {
        match &self.dir {
            Some(d) if d.join(path).is_file() => d.join(path).display().to_string(),
            _ => format!("themes/default/{path} (built in)"),
        }
    }
}
