//! Find the billing periods under `periods/`: one `YYYY-MM` folder each, its
//! FOCUS files (`.csv`, `.csv.gz`, `.parquet`; the stem names the source) and
//! its YAML sidecars. Any other file is a problem: none is skipped unsaid.

use crate::ingest::format::Format;
use crate::period::Period;
use crate::problem::Problem;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

#[derive(Debug, Clone)]
pub struct InputFile {
    pub source: String,
    pub path: PathBuf,
    /// The path as shown to people: relative to the repository root.
    pub shown: String,
}

#[derive(Debug, Clone)]
pub struct PeriodDir {
    pub period: Period,
    pub dir: PathBuf,
    pub files: Vec<InputFile>,
}

impl PeriodDir {
    pub fn review_path(&self) -> PathBuf {
        self.dir.join("review.yaml")
    }
    pub fn period_yaml(&self) -> PathBuf {
        self.dir.join("period.yaml")
    }
    pub fn deliveries_path(&self) -> PathBuf {
        self.dir.join("deliveries.yaml")
    }
    pub fn shown(&self, name: &str) -> String {
        format!("periods/{}/{name}", self.period)
    }
}

/// Sidecars that may sit next to the data files of a period (`imports.yaml`
/// is written by `ocb import`: where each source's data came from).
const SIDECARS: &[&str] = &[
    "review.yaml",
    "period.yaml",
    "deliveries.yaml",
    crate::ingest::provenance::FILE_NAME,
    crate::issued::FILE,
    "README",
    "README.md",
    "README.txt",
];

/// Notes people keep beside the month folders.
const README: &[&str] = &["README", "README.md", "README.txt"];

pub fn discover(root: &Path) -> (Vec<PeriodDir>, Vec<Problem>) {
    let base = root.join("periods");
    let mut periods = Vec::new();
    let mut problems = Vec::new();
    if !base.is_dir() {
        return (periods, problems);
    }
    // Symbolic links are followed: a month kept elsewhere is still a month.
    let walker = WalkDir::new(&base)
        .min_depth(1)
        .max_depth(1)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(Problem::file("periods", format!("cannot read: {e}")));
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || README.contains(&name.as_str()) {
            continue;
        }
        if !entry.file_type().is_dir() {
            problems.push(Problem::file(
                format!("periods/{name}"),
                "periods/ holds one folder per month, named YYYY-MM: put this file in its month's folder (or import it with `ocb import`)",
            ));
            continue;
        }
        match name.parse::<Period>() {
            Ok(period) => periods.push(read_period(period, entry.path(), &mut problems)),
            Err(e) => problems.push(Problem::file(
                format!("periods/{name}"),
                format!("folder name {e}"),
            )),
        }
    }
    (periods, problems)
}

fn read_period(period: Period, dir: &Path, problems: &mut Vec<Problem>) -> PeriodDir {
    let mut files = Vec::new();
    for entry in WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let name = e
                    .path()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                problems.push(Problem::file(
                    format!("periods/{period}/{name}"),
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().to_string();
        let shown = format!("periods/{period}/{name}");
        if name.starts_with('.') || SIDECARS.contains(&name.as_str()) {
            continue;
        }
        if !entry.file_type().is_file() {
            problems.push(Problem::file(shown, "a period folder holds files only: expected `<source>.csv`, `<source>.csv.gz` or `<source>.parquet` (import a delivery folder with `ocb import`)"));
            continue;
        }
        let Some((stem, _)) = Format::split(&name) else {
            problems.push(Problem::file(shown, format!("not a file ocb reads: expected `<source>.csv`, `<source>.csv.gz` or `<source>.parquet`, or one of {}", SIDECARS.join(", "))));
            continue;
        };
        if stem.is_empty()
            || !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problems.push(Problem::file(shown, "a source file name may use only letters, digits, `-` and `_` (the name is the source)"));
            continue;
        }
        let source = stem.to_ascii_lowercase();
        if let Some(other) = files.iter().find(|f: &&InputFile| f.source == source) {
            problems.push(Problem::file(
                shown,
                format!(
                    "source `{source}` has a second file here (also {}): keep one file per source and period",
                    other.shown
                ),
            ));
            continue;
        }
        files.push(InputFile {
            source,
            path: entry.path().to_path_buf(),
            shown,
        });
    }
    PeriodDir {
        period,
        dir: dir.to_path_buf(),
        files,
    }
}
