//! Closing a period: `period.yaml` records the sha256 of every input file and
//! of review.yaml; while closed, a build fails if any of them changed.

use crate::discover::PeriodDir;
use crate::problem::Problem;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodFile {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digests: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Event>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub action: String,
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn read(dir: &PeriodDir) -> Result<Option<PeriodFile>, Problem> {
    let shown = dir.shown("period.yaml");
    match std::fs::read_to_string(dir.period_yaml()) {
        Ok(text) => serde_yaml::from_str(&text)
            .map(Some)
            .map_err(|e| Problem::yaml(shown, &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Problem::file(shown, format!("cannot read: {e}"))),
    }
}

pub fn status(dir: &PeriodDir) -> String {
    match read(dir) {
        Ok(Some(p)) if p.status == "closed" => "closed".into(),
        _ => "open".into(),
    }
}

fn sha256(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Digests of the inputs that decide a period: its CSVs and review.yaml.
fn digests(dir: &PeriodDir) -> Result<BTreeMap<String, String>> {
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
            sha256(&path).with_context(|| format!("cannot read `{}`", path.display()))?,
        );
    }
    Ok(out)
}

/// Problems when a closed period's inputs differ from the recorded digests.
/// Also gives the period's status, so that period.yaml is read once per build.
pub fn verify(dir: &PeriodDir) -> (String, Vec<Problem>) {
    let file = match read(dir) {
        Ok(Some(f)) if f.status == "closed" => f,
        Ok(_) => return ("open".into(), vec![]),
        Err(p) => return ("open".into(), vec![p]),
    };
    let closed = || "closed".to_string();
    let now = match digests(dir) {
        Ok(d) => d,
        Err(e) => {
            return (
                closed(),
                vec![Problem::file(dir.shown("period.yaml"), format!("{e:#}"))],
            );
        }
    };
    let when = file.closed_on.as_deref().unwrap_or("?");
    let hint = format!(
        "period {} was closed on {when}; put corrections in a later period, or run `ocb reopen {} --reason \"...\"`",
        dir.period, dir.period
    );
    let mut problems = Vec::new();
    for (name, digest) in &file.digests {
        match now.get(name) {
            Some(d) if d == digest => {}
            Some(_) => problems.push(Problem::file(
                dir.shown(name),
                format!("changed since the period was closed: {hint}"),
            )),
            None => problems.push(Problem::file(
                dir.shown(name),
                format!("removed since the period was closed: {hint}"),
            )),
        }
    }
    for name in now.keys().filter(|n| !file.digests.contains_key(*n)) {
        problems.push(Problem::file(
            dir.shown(name),
            format!("added since the period was closed: {hint}"),
        ));
    }
    (closed(), problems)
}

fn who() -> Option<String> {
    std::env::var("OCB_USER")
        .or_else(|_| std::env::var("USER"))
        .ok()
        .filter(|s| !s.is_empty())
}

fn today() -> String {
    chrono::Local::now().date_naive().to_string()
}

pub fn close(dir: &PeriodDir) -> Result<PeriodFile> {
    let mut file = read(dir)
        .map_err(|p| anyhow::anyhow!("{p}"))?
        .unwrap_or_default();
    if file.status == "closed" {
        bail!(
            "period {} is already closed (on {})",
            dir.period,
            file.closed_on.as_deref().unwrap_or("?")
        );
    }
    file.status = "closed".into();
    file.closed_on = Some(today());
    file.closed_by = who();
    file.digests = digests(dir)?;
    file.history.push(Event {
        action: "closed".into(),
        date: today(),
        by: who(),
        reason: None,
    });
    save(dir, &file)?;
    Ok(file)
}

pub fn reopen(dir: &PeriodDir, reason: &str) -> Result<()> {
    let mut file = read(dir)
        .map_err(|p| anyhow::anyhow!("{p}"))?
        .unwrap_or_default();
    if file.status != "closed" {
        bail!("period {} is not closed", dir.period);
    }
    file.status = "open".into();
    file.closed_on = None;
    file.closed_by = None;
    file.digests.clear();
    file.history.push(Event {
        action: "reopened".into(),
        date: today(),
        by: who(),
        reason: Some(reason.to_string()),
    });
    save(dir, &file)
}

fn save(dir: &PeriodDir, file: &PeriodFile) -> Result<()> {
    let text = format!(
        "# written by `ocb close` / `ocb reopen`; commit it with the period\n{}",
        serde_yaml::to_string(file)?
    );
    crate::write::atomic(&dir.period_yaml(), text.as_bytes())
        .with_context(|| format!("`{}` was not changed", dir.shown("period.yaml")))
}
