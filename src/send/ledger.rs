//! `periods/<P>/deliveries.yaml`: every message `ocb send` delivered, so that
//! no statement is emailed twice. The file only grows, one entry per message,
//! and is replaced atomically after each one, so it is true after a crash.

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE: &str = "deliveries.yaml";

const HEADER: &str = "# Written by `ocb send`: one entry per message delivered for this period.\n# Statements listed here are not emailed again unless `ocb send --resend`.\n";

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub pi: String,
    pub recipients: Vec<String>,
    pub statements: Vec<SentStatement>,
    pub message_id: String,
    /// UTC, RFC 3339.
    pub sent_at: String,
}

/// A statement as it was attached: its number, PDF and the PDF's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentStatement {
    pub number: String,
    pub pdf: String,
    pub sha256: String,
}

/// Where a statement stands against the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    New,
    /// Delivered with exactly this PDF.
    Delivered {
        at: String,
    },
    /// Delivered, but the PDF differs now: a rebuild changed the statement.
    Changed {
        at: String,
    },
}

pub struct Ledger {
    path: PathBuf,
    shown: String,
    entries: Vec<Delivery>,
}

impl Ledger {
    /// Read `<period_dir>/deliveries.yaml`; empty when it does not exist.
    pub fn load(period_dir: &Path, shown: &str) -> Result<Ledger> {
        let path = period_dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{shown}`")),
        };
        let entries: Option<Vec<Delivery>> = serde_yaml::from_str(&text)
            .map_err(|e| anyhow!("{}", crate::problem::Problem::yaml(shown, &e)))?;
        Ok(Ledger {
            path,
            shown: shown.to_string(),
            entries: entries.unwrap_or_default(),
        })
    }

    pub fn entries(&self) -> &[Delivery] {
        &self.entries
    }

    /// The latest delivery of statement `number` decides: a PI holds what
    /// they were sent last.
    pub fn status(&self, number: &str, sha256: &str) -> Status {
        let last = self.entries.iter().rev().find_map(|d| {
            d.statements
                .iter()
                .find(|s| s.number == number)
                .map(|s| (d, s))
        });
        match last {
            None => Status::New,
            Some((d, s)) if s.sha256 == sha256 => Status::Delivered {
                at: d.sent_at.clone(),
            },
            Some((d, _)) => Status::Changed {
                at: d.sent_at.clone(),
            },
        }
    }

    /// Append one delivery and replace the file atomically (temp file, fsync,
    /// rename). The existing text is kept as it is, comments included.
    pub fn record(&mut self, delivery: Delivery) -> Result<()> {
        let mut text = match std::fs::read_to_string(&self.path) {
            Ok(t) if !matches!(t.trim(), "" | "[]") => t,
            Ok(_) => HEADER.to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HEADER.to_string(),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", self.shown)),
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&serde_yaml::to_string(std::slice::from_ref(&delivery))?);
        self.replace(text.as_bytes())
            .with_context(|| format!("cannot write `{}`", self.shown))?;
        self.entries.push(delivery);
        Ok(())
    }

    fn replace(&self, bytes: &[u8]) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".deliveries-")
            .tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(number: &str, sha: &str, at: &str) -> Delivery {
        Delivery {
            pi: "a@x.edu".into(),
            recipients: vec!["a@x.edu".into()],
            statements: vec![SentStatement {
                number: number.into(),
                pdf: "2025-01/statements/a.pdf".into(),
                sha256: sha.into(),
            }],
            message_id: "<n@x.edu>".into(),
            sent_at: at.into(),
        }
    }

    #[test]
    fn records_append_and_reload_with_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::load(dir.path(), "deliveries.yaml").unwrap();
        assert_eq!(l.status("N1", "aa"), Status::New);
        l.record(delivery("N1", "aa", "2025-02-01T00:00:00Z"))
            .unwrap();
        l.record(delivery("N2", "bb", "2025-02-01T00:00:01Z"))
            .unwrap();
        l.record(delivery("N1", "cc", "2025-02-02T00:00:00Z"))
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.starts_with("# Written by `ocb send`"), "{text}");
        let l = Ledger::load(dir.path(), "deliveries.yaml").unwrap();
        assert_eq!(l.entries().len(), 3);
        let at = |s: &str| s.to_string();
        assert_eq!(
            l.status("N1", "cc"),
            Status::Delivered {
                at: at("2025-02-02T00:00:00Z")
            }
        );
        assert_eq!(
            l.status("N1", "aa"),
            Status::Changed {
                at: at("2025-02-02T00:00:00Z")
            }
        );
        assert_eq!(
            l.status("N2", "bb"),
            Status::Delivered {
                at: at("2025-02-01T00:00:01Z")
            }
        );
    }

    #[test]
    fn a_broken_ledger_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "- pi: a\n  recipientz: []\n").unwrap();
        let err = Ledger::load(dir.path(), "periods/2025-01/deliveries.yaml")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("periods/2025-01/deliveries.yaml:2:"),
            "{err}"
        );
    }
}
