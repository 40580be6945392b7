//! `output/<P>/audit.json`: what a period was built from — the digest of each
//! input, the ocb version, and the billing repository's git commit and dirty
//! state — so that any published statement can be traced to its sources.

use crate::pipeline::PeriodData;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The billing repository as git sees it, read once per build.
#[derive(Debug, Clone, Serialize)]
pub struct Repository {
    /// False when the billing repository is not in a git work tree.
    pub git: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Uncommitted changes under the repository root (outside output/ and .ocb-cache/).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
}

impl Repository {
    pub fn read(root: &Path) -> Repository {
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let Some(commit) = git(&["rev-parse", "--verify", "-q", "HEAD"]) else {
            let inside = git(&["rev-parse", "--is-inside-work-tree"]).is_some_and(|s| s == "true");
            return Repository {
                git: inside,
                commit: None,
                dirty: inside.then_some(true),
            };
        };
        let status = git(&[
            "status",
            "--porcelain",
            "--",
            ".",
            ":(exclude)output",
            ":(exclude).ocb-cache",
            ":(exclude).ocb-staging-*",
            // The repository lock of the running build itself.
            ":(exclude).ocb.lock",
        ]);
        Repository {
            git: true,
            commit: Some(commit),
            dirty: status.map(|s| !s.is_empty()),
        }
    }

    /// One line for the period page.
    pub fn describe(&self) -> String {
        match (&self.commit, self.dirty) {
            (Some(c), Some(true)) => format!("commit {} with uncommitted changes", short(c)),
            (Some(c), _) => format!("commit {}", short(c)),
            (None, _) if self.git => "a git repository with no commit yet".into(),
            _ => "a folder that is not a git repository".into(),
        }
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub period: String,
    pub status: crate::close::Status,
    pub ocb_version: String,
    pub repository: Repository,
    /// File name in the period folder (and `ocb.yaml`, `projects.yaml`) → sha256.
    pub inputs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    pub history: Vec<crate::close::Event>,
}

pub fn audit(
    data: &PeriodData,
    root: &Path,
    config_path: &Path,
    repository: &Repository,
) -> Result<Audit> {
    let dir = &data.dir;
    let mut inputs = crate::close::digests(dir)?;
    for name in ["period.yaml", crate::issued::FILE] {
        if let Ok(d) = crate::digest::sha256(&dir.dir.join(name)) {
            inputs.insert(name.to_string(), d);
        }
    }
    for (name, d) in crate::close::settings(root, config_path) {
        inputs.insert(name, d);
    }
    Ok(Audit {
        period: dir.period.to_string(),
        status: data.status,
        ocb_version: env!("CARGO_PKG_VERSION").to_string(),
        repository: repository.clone(),
        inputs,
        closed_on: data.file.closed_on.clone(),
        closed_by: data.file.closed_by.clone(),
        history: data.file.history.clone(),
    })
}

pub fn json(a: &Audit) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(a)?;
    v.push(b'\n');
    Ok(v)
}
