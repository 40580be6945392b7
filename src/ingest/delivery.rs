//! What a path given to `ocb import` holds: one file, a plain folder of files,
//! an AWS Data Exports folder (a manifest per billing period lists its parts)
//! or an Azure Cost Management export folder (per billing range, the newest
//! run and the blobs its manifest lists). Problems in manifests and layouts
//! are located values; skipped stale files are notes, never silent.

use super::format::Format;
use crate::problem::Problem;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// One delivery: the files that together are a provider's current data.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `aws-data-exports`, `azure-cost-exports` or `files`.
    pub provider: &'static str,
    pub export: Option<String>,
    pub run: Option<String>,
    pub manifest: Option<PathBuf>,
    pub parts: Vec<PathBuf>,
}

/// Deliveries found under a path, what was skipped, and what is wrong.
#[derive(Debug, Default)]
pub struct Found {
    pub root: PathBuf,
    pub deliveries: Vec<Delivery>,
    pub notes: Vec<String>,
    pub problems: Vec<Problem>,
}

impl Found {
    /// A path as shown in messages: the given path joined with the part.
    pub fn shown(&self, p: &Path) -> String {
        p.display().to_string()
    }

    /// A path relative to the given root, for provenance.
    pub fn relative(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(r) if !r.as_os_str().is_empty() => r.display().to_string(),
            _ => p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        }
    }
}

pub fn locate(path: &Path) -> Found {
    let mut found = Found {
        root: path.to_path_buf(),
        ..Found::default()
    };
    let shown = path.display().to_string();
    if path.is_file() {
        if Format::of(path).is_none() {
            found.problems.push(Problem::file(
                shown,
                "not a file ocb reads: expected a .csv, .csv.gz or .parquet file, or a folder",
            ));
        } else {
            found.deliveries.push(plain(vec![path.to_path_buf()]));
        }
        return found;
    }
    if !path.is_dir() {
        found
            .problems
            .push(Problem::file(shown, "no such file or folder"));
        return found;
    }
    let exports = exports_in(path);
    match exports.as_slice() {
        [] => plain_folder(path, &mut found),
        [(dir, Layout::Aws)] => aws(dir, &mut found),
        [(dir, Layout::Azure)] => azure(dir, &mut found),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|(d, l)| format!("{} ({})", d.display(), l.name()))
                .collect();
            found.problems.push(Problem::file(
                shown,
                format!(
                    "holds {} exports: {}; each is one source: import them one at a time, each with its own --source",
                    many.len(),
                    list.join(", ")
                ),
            ));
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Aws,
    Azure,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Aws => "AWS Data Exports",
            Layout::Azure => "Azure cost export",
        }
    }

    fn of(dir: &Path) -> Option<Layout> {
        if dir.join("metadata").is_dir() && dir.join("data").is_dir() {
            return Some(Layout::Aws);
        }
        subdirs(dir)
            .iter()
            .any(|d| is_range(&name_of(d)))
            .then_some(Layout::Azure)
    }
}

/// The export folders at `dir` itself or one level below it.
fn exports_in(dir: &Path) -> Vec<(PathBuf, Layout)> {
    if let Some(l) = Layout::of(dir) {
        return vec![(dir.to_path_buf(), l)];
    }
    subdirs(dir)
        .into_iter()
        .filter_map(|d| Layout::of(&d).map(|l| (d, l)))
        .collect()
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !name_of(p).starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Azure's billing-range folder name: `YYYYMMDD-YYYYMMDD`.
fn is_range(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 17
        && b[8] == b'-'
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[9..].iter().all(u8::is_ascii_digit)
}

fn plain(parts: Vec<PathBuf>) -> Delivery {
    Delivery {
        provider: "files",
        export: None,
        run: None,
        manifest: None,
        parts,
    }
}

/// Every data file under the folder, in name order; other files are noted.
fn data_files(dir: &Path, notes: &mut Vec<String>) -> Vec<PathBuf> {
    let mut parts = Vec::new();
    for entry in WalkDir::new(dir).sort_by_file_name().into_iter().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type().is_file() || name.starts_with('.') {
            continue;
        }
        if Format::of(entry.path()).is_some() {
            parts.push(entry.path().to_path_buf());
        } else {
            notes.push(format!(
                "{}: skipped (not .csv, .csv.gz or .parquet)",
                entry.path().display()
            ));
        }
    }
    parts
}

fn plain_folder(dir: &Path, found: &mut Found) {
    let parts = data_files(dir, &mut found.notes);
    if parts.is_empty() {
        found.problems.push(Problem::file(
            dir.display().to_string(),
            "empty delivery: no .csv, .csv.gz or .parquet file in this folder",
        ));
        return;
    }
    found.deliveries.push(plain(parts));
}

/// A manifest's JSON, or a problem naming it.
fn manifest_json(path: &Path, problems: &mut Vec<Problem>) -> Option<Value> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem::file(shown, format!("cannot read: {e}")));
            return None;
        }
    };
    match serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) {
        Ok(v) if v.is_object() => Some(v),
        Ok(_) => {
            problems.push(Problem::file(shown, "manifest is not a JSON object"));
            None
        }
        Err(e) => {
            problems.push(Problem::at(
                shown,
                e.line() as u64,
                format!("manifest is not valid JSON: {e}"),
            ));
            None
        }
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// AWS Data Exports: `metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`
/// lists the current parts under `data/BILLING_PERIOD=YYYY-MM/`.
fn aws(dir: &Path, found: &mut Found) {
    let periods: Vec<PathBuf> = subdirs(&dir.join("data"));
    if periods.is_empty() {
        found.problems.push(Problem::file(
            dir.join("data").display().to_string(),
            "empty delivery: no BILLING_PERIOD=YYYY-MM folder",
        ));
    }
    for data in periods {
        let partition = name_of(&data);
        let meta = dir.join("metadata").join(&partition);
        let manifests: Vec<PathBuf> = std::fs::read_dir(&meta)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| name_of(p).ends_with("Manifest.json"))
                    .collect()
            })
            .unwrap_or_default();
        let [manifest] = manifests.as_slice() else {
            found.problems.push(Problem::file(
                meta.display().to_string(),
                format!(
                    "expected one `<export>-Manifest.json` for {partition}, found {}: the manifest says which parts are current",
                    manifests.len()
                ),
            ));
            continue;
        };
        aws_period(manifest, &data, found);
    }
}

fn aws_period(manifest: &Path, data: &Path, found: &mut Found) {
    let shown = manifest.display().to_string();
    let Some(json) = manifest_json(manifest, &mut found.problems) else {
        return;
    };
    let Some(files) = json.get("dataFiles").and_then(Value::as_array) else {
        found.problems.push(Problem::file(
            shown,
            "manifest has no `dataFiles` list: expected AWS Data Exports' Manifest.json",
        ));
        return;
    };
    let partition = name_of(data);
    let mut parts = Vec::new();
    for f in files {
        let Some(uri) = f.as_str() else {
            found.problems.push(Problem::file(
                &shown,
                "`dataFiles` holds a value that is not a string",
            ));
            continue;
        };
        // s3://bucket/prefix/<export>/data/BILLING_PERIOD=…/<file>: the part
        // after the partition is where the file sits under the local folder.
        let Some(rel) = uri.split_once(&format!("/{partition}/")).map(|(_, r)| r) else {
            found.problems.push(Problem::file(
                &shown,
                format!("`dataFiles` names `{uri}`, which is not under {partition}"),
            ));
            continue;
        };
        let local = data.join(rel);
        if !local.is_file() {
            found.problems.push(Problem::file(
                &shown,
                format!(
                    "lists part `{uri}`, which is missing: expected it at {} (copy the whole export folder)",
                    local.display()
                ),
            ));
            continue;
        }
        parts.push(local);
    }
    for f in data_files(data, &mut found.notes) {
        if !parts.contains(&f) {
            found.notes.push(format!(
                "{}: skipped, a stale part (not in {})",
                f.display(),
                shown
            ));
        }
    }
    parts.sort();
    found.deliveries.push(Delivery {
        provider: "aws-data-exports",
        export: text(&json, "exportName"),
        run: text(&json, "executionId"),
        manifest: Some(manifest.to_path_buf()),
        parts,
    });
}

/// Azure: `<YYYYMMDD-YYYYMMDD>/<run>/manifest.json` with its part files; per
/// billing range the run submitted last is the current one.
fn azure(dir: &Path, found: &mut Found) {
    for range in subdirs(dir).into_iter().filter(|d| is_range(&name_of(d))) {
        let mut runs = Vec::new();
        for run in subdirs(&range) {
            let manifest = run.join("manifest.json");
            if !manifest.is_file() {
                found.problems.push(Problem::file(
                    run.display().to_string(),
                    "run folder without manifest.json: cannot tell which files belong to the run",
                ));
                continue;
            }
            if let Some(json) = manifest_json(&manifest, &mut found.problems) {
                runs.push((run, manifest, json));
            }
        }
        if let Some(newest) = newest_run(&range, &runs, found) {
            let (run, manifest, json) = &runs[newest];
            azure_run(run, manifest, json, found);
        }
    }
    if found.deliveries.is_empty() && found.problems.is_empty() {
        found.problems.push(Problem::file(
            dir.display().to_string(),
            "empty delivery: no run with a manifest.json",
        ));
    }
}

fn submitted(json: &Value) -> Option<DateTime<Utc>> {
    let s = json.get("runInfo")?.get("submittedTime")?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// The index of the newest run, or a problem when two cannot be ordered.
fn newest_run(
    range: &Path,
    runs: &[(PathBuf, PathBuf, Value)],
    found: &mut Found,
) -> Option<usize> {
    let times: Vec<Option<DateTime<Utc>>> = runs.iter().map(|r| submitted(&r.2)).collect();
    if runs.len() > 1 {
        let mut sorted: Vec<_> = times.iter().flatten().collect();
        sorted.sort();
        let tie = sorted.windows(2).any(|w| w[0] == w[1]);
        if times.iter().any(Option::is_none) || tie {
            let names: Vec<String> = runs.iter().map(|r| name_of(&r.0)).collect();
            found.problems.push(Problem::file(
                range.display().to_string(),
                format!(
                    "{} runs ({}) with no way to tell which is newer: each manifest.json needs a distinct runInfo.submittedTime; remove the runs that are not current",
                    runs.len(),
                    names.join(", ")
                ),
            ));
            return None;
        }
    }
    let newest = (0..runs.len()).max_by_key(|&i| times[i])?;
    for (i, r) in runs.iter().enumerate() {
        if i != newest {
            found.notes.push(format!(
                "{}: skipped, an older run than {}",
                r.0.display(),
                name_of(&runs[newest].0)
            ));
        }
    }
    Some(newest)
}

fn azure_run(run: &Path, manifest: &Path, json: &Value, found: &mut Found) {
    let shown = manifest.display().to_string();
    let Some(blobs) = json.get("blobs").and_then(Value::as_array) else {
        found.problems.push(Problem::file(
            shown,
            "manifest has no `blobs` list: expected a Cost Management export manifest.json",
        ));
        return;
    };
    let mut parts = Vec::new();
    for b in blobs {
        let Some(name) = b.get("blobName").and_then(Value::as_str) else {
            found
                .problems
                .push(Problem::file(&shown, "a blob without `blobName`"));
            continue;
        };
        let file = name.rsplit('/').next().unwrap_or(name);
        let local = run.join(file);
        if !local.is_file() {
            found.problems.push(Problem::file(
                &shown,
                format!(
                    "lists blob `{name}`, which is missing: expected it at {}",
                    local.display()
                ),
            ));
            continue;
        }
        parts.push(local);
    }
    for f in data_files(run, &mut found.notes) {
        if !parts.contains(&f) {
            found
                .notes
                .push(format!("{}: skipped, not listed in {}", f.display(), shown));
        }
    }
    parts.sort();
    let config = json.get("exportConfig").cloned().unwrap_or(Value::Null);
    let run_id = json
        .get("runInfo")
        .and_then(|r| text(r, "runId"))
        .or_else(|| Some(name_of(run)));
    found.deliveries.push(Delivery {
        provider: "azure-cost-exports",
        export: text(&config, "exportName"),
        run: run_id,
        manifest: Some(manifest.to_path_buf()),
        parts,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_names() {
        assert!(is_range("20250101-20250131"));
        assert!(!is_range("2025-01"));
        assert!(!is_range("20250101_20250131"));
    }
}
