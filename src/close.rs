//! `periods/<P>/period.yaml`: a period's status (an enum: open or closed), the
//! digests of its inputs at close, the statements it issued (number, totals,
//! content digest), those a reissue superseded, the corrections it posted to
//! earlier periods, and the history of closes and reopens (who, when, why).

use crate::discover::PeriodDir;
use crate::problem::Problem;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A period is open or closed; anything else in `status:` is a located error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Open,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodFile {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digests: BTreeMap<String, String>,
    /// Digests of ocb.yaml and projects.yaml at close: when they change, the
    /// period is compared with what it issued although its inputs did not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
    /// The statements issued at the last close; kept while reopened, so that
    /// a rebuild knows which numbers are taken and which statements changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<Issued>,
    /// Statements replaced by a reissue (or withdrawn), still published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Issued>,
    /// Corrections to earlier closed periods issued on this period's statements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<Posted>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Event>,
}

/// One issued statement: what it said, as figures and as a content digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Issued {
    pub number: String,
    pub pi_email: String,
    pub project_id: String,
    pub fund_org: String,
    pub currency: String,
    pub list: String,
    pub billed: String,
    pub charges: u64,
    /// sha256 of what the statement says (see `content_digest`).
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// On a superseded statement: its replacement (none when withdrawn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_on: Option<String>,
    /// What the statement showed beside its lines, kept so that a closed
    /// statement reads the same after projects.yaml or a neighbour changes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pi_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub department: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Credits, allocations, surcharges and the fund split it showed (none
    /// in a period.yaml written before ocb recorded them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<crate::ledger::record::Recorded>,
}

impl Issued {
    pub fn key(&self) -> crate::rollup::StatementKey {
        crate::rollup::StatementKey {
            currency: self.currency.clone(),
            pi: self.pi_email.clone(),
            project: self.project_id.clone(),
            fund: self.fund_org.clone(),
        }
    }
}

/// Corrections to one statement of an earlier period, posted here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Posted {
    pub period: String,
    /// The corrected statement; empty for rows of a project that had none.
    pub statement: String,
    pub currency: String,
    pub billed: String,
    pub lines: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub action: String,
    /// UTC, RFC 3339 (older files: a date).
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn read(dir: &PeriodDir) -> Result<Option<PeriodFile>, Problem> {
    let shown = dir.shown("period.yaml");
    match crate::yaml_file::text(&dir.period_yaml(), &shown)? {
        Some(text) => serde_yaml::from_str(&text)
            .map(Some)
            .map_err(|e| Problem::yaml(shown, &e)),
        None => Ok(None),
    }
}

/// Open or closed; a broken period.yaml reads as closed, the safe side (the
/// build reports the problem itself).
pub fn status(dir: &PeriodDir) -> Status {
    match read(dir) {
        Ok(Some(p)) => p.status,
        Ok(None) => Status::Open,
        Err(_) => Status::Closed,
    }
}

/// Digests of the inputs that decide a period: its CSVs and review.yaml.
pub fn digests(dir: &PeriodDir) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let review = dir.review_path();
    let names = dir.files.iter().map(|f| {
        (
            f.path.clone(),
            f.path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        )
    });
    let review = review
        .exists()
        .then(|| (review.clone(), "review.yaml".to_string()));
    for (path, name) in names.chain(review) {
        out.insert(
            name,
            crate::digest::sha256(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?,
        );
    }
    Ok(out)
}

/// The files of a closed period that differ from its recorded digests
/// (changed, added or removed), as `name: what` lines for messages.
pub fn changed_inputs(dir: &PeriodDir, file: &PeriodFile) -> Result<Vec<String>> {
    let now = digests(dir)?;
    let mut out = Vec::new();
    for (name, digest) in &file.digests {
        match now.get(name) {
            Some(d) if d == digest => {}
            Some(_) => out.push(format!("{name} changed")),
            None => out.push(format!("{name} removed")),
        }
    }
    for name in now.keys().filter(|n| !file.digests.contains_key(*n)) {
        out.push(format!("{name} added"));
    }
    Ok(out)
}

/// Digests of the repository files that also decide a period's statements.
pub fn settings(root: &std::path::Path, config: &std::path::Path) -> BTreeMap<String, String> {
    [
        ("ocb.yaml", config.to_path_buf()),
        ("projects.yaml", root.join("projects.yaml")),
    ]
    .into_iter()
    .filter_map(|(name, path)| {
        crate::digest::sha256(&path)
            .ok()
            .map(|d| (name.to_string(), d))
    })
    .collect()
}

/// The period file (default when absent) and its problems; read once per build.
pub fn load(dir: &PeriodDir) -> (PeriodFile, Vec<Problem>) {
    match read(dir) {
        Ok(f) => (f.unwrap_or_default(), vec![]),
        // Unreadable: treated as closed with nothing issued, so that nothing is
        // built from it; the problem fails the build.
        Err(p) => (
            PeriodFile {
                status: Status::Closed,
                ..PeriodFile::default()
            },
            vec![p],
        ),
    }
}

/// Who runs a close or reopen: `OCB_USER`, then `git config user.name`, then `$USER`.
pub fn who(root: &std::path::Path) -> Option<String> {
    let git = || {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["config", "user.name"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    std::env::var("OCB_USER")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Reopen a closed period: its issued statements stay recorded (a rebuild
/// reissues those that change), the digests go, the reason is kept.
pub fn reopen(dir: &PeriodDir, root: &std::path::Path, reason: &str) -> Result<()> {
    let mut file = read(dir)
        .map_err(|p| anyhow::anyhow!("{p}"))?
        .unwrap_or_default();
    if file.status != Status::Closed {
        bail!("period {} is not closed", dir.period);
    }
    file.status = Status::Open;
    file.closed_on = None;
    file.closed_by = None;
    file.digests.clear();
    file.history.push(Event {
        action: "reopened".into(),
        date: now(),
        by: who(root),
        reason: Some(reason.to_string()),
    });
    save(dir, &file)
}

pub fn save(dir: &PeriodDir, file: &PeriodFile) -> Result<()> {
    let text = format!(
        "# written by `ocb close` / `ocb reopen`; commit it with the period (see docs/CLOSING.md)\n{}",
        serde_yaml::to_string(file)?
    );
    crate::write::atomic(&dir.period_yaml(), text.as_bytes())
        .with_context(|| format!("`{}` was not changed", dir.shown("period.yaml")))
}

/// The line of `number: N` in period.yaml, to locate a statement's problem.
pub fn line_of(dir: &PeriodDir, number: &str) -> Option<u64> {
    let text = std::fs::read_to_string(dir.period_yaml()).ok()?;
    let needle = format!("number: {number}");
    text.lines()
        .position(|l| l.trim_start().trim_start_matches("- ") == needle)
        .map(|i| i as u64 + 1)
}

/// A period whose corrections a later closed period already issued cannot be
/// reopened: the later period would then count them twice.
pub fn refuse_if_corrected_later(
    root: &std::path::Path,
    dir: &crate::discover::PeriodDir,
) -> anyhow::Result<()> {
    let (periods, _) = crate::discover::discover(root);
    for later in periods.iter().filter(|d| d.period > dir.period) {
        let Ok(Some(file)) = read(later) else {
            continue;
        };
        let target = dir.period.to_string();
        if file.status == Status::Closed && file.corrections.iter().any(|c| c.period == target) {
            anyhow::bail!(
                "{}: closed period {} issued corrections to {}; reopen {} first, or correct {} again in the open period",
                later.shown("period.yaml"),
                later.period,
                dir.period,
                later.period,
                dir.period
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_status_is_a_located_error() {
        let err = serde_yaml::from_str::<PeriodFile>("# x\nstatus: frozen\n").unwrap_err();
        let p = Problem::yaml("periods/2025-01/period.yaml", &err);
        assert_eq!(p.line, Some(2));
        assert!(p.message.contains("unknown variant `frozen`"), "{p}");
        assert!(
            p.message.contains("open") && p.message.contains("closed"),
            "{p}"
        );
        let f: PeriodFile = serde_yaml::from_str("status: closed\n").unwrap();
        assert_eq!(f.status, Status::Closed);
    }
}
