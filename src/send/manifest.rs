//! What `ocb build` left for sending: `output/<P>/statements.json` and the PDF
//! statements it names, grouped into one recipient list per PI.

use crate::period::Period;
use anyhow::{Result, anyhow, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `output/<P>/statements.json` as written by the site renderer.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub period: String,
    #[serde(default)]
    pub held_charges: usize,
    pub statements: Vec<Statement>,
}

/// One statement; amounts are already formatted for display, and the exact
/// decimal strings are kept for totals.
#[derive(Debug, Clone, Deserialize)]
pub struct Statement {
    pub number: String,
    pub pi_email: String,
    #[serde(default)]
    pub pi_name: String,
    pub project_id: String,
    #[serde(default)]
    pub project_name: String,
    #[serde(default)]
    pub fund_org: String,
    pub currency: String,
    /// Relative to the output folder.
    pub pdf: String,
    pub amounts: Amounts,
    pub list_cost: String,
    pub discount: String,
    pub billed_cost: String,
    /// After credits, allocations and surcharges (exact and formatted); older
    /// manifests without them mean the billed cost is due.
    #[serde(default)]
    pub due: Option<String>,
    #[serde(default)]
    pub due_text: Option<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub pi_href: String,
    /// The statement this one reissues (after `ocb reopen`).
    #[serde(default)]
    pub replaces: Option<String>,
    /// Credits, allocations and surcharges between the billed cost and the
    /// due, and the fund split, formatted as the statement shows them.
    #[serde(default)]
    pub ledger: Option<LedgerText>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct LedgerText {
    pub usage: String,
    #[serde(default)]
    pub lines: Vec<LedgerLine>,
    #[serde(default)]
    pub split: Vec<LedgerShare>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct LedgerLine {
    pub label: String,
    pub detail: String,
    pub amount: String,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct LedgerShare {
    pub fund: String,
    pub percent: String,
    pub amount: String,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct Amounts {
    pub list: String,
    pub discount: String,
    #[serde(default)]
    pub discount_pct: String,
    pub billed: String,
}

/// All statements of one PI in the period: the unit of one email.
#[derive(Debug, Clone)]
pub struct PiGroup {
    pub email: String,
    pub name: String,
    /// The PI's page on the published site, relative to the site root.
    pub href: String,
    pub statements: Vec<Statement>,
}

impl PiGroup {
    /// The PI first, then every `cc` of their projects, each address once.
    pub fn recipients(&self) -> Vec<String> {
        let mut out = vec![self.email.clone()];
        for cc in self.statements.iter().flat_map(|s| &s.cc) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(cc)) {
                out.push(cc.clone());
            }
        }
        out
    }
}

fn not_built(period: Period, detail: String) -> anyhow::Error {
    anyhow!(detail).context(format!(
        "statements for {period} were not built: run `ocb build`"
    ))
}

/// Read the manifest and check that every PDF it names exists.
pub fn load(out: &Path, period: Period) -> Result<Manifest> {
    let path = out.join(period.to_string()).join("statements.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| not_built(period, format!("cannot read `{}`: {e}", path.display())))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| anyhow!("`{}`: {e}", path.display()))?;
    if manifest.period != period.to_string() {
        bail!(
            "`{}` is for period {}, not {period}",
            path.display(),
            manifest.period
        );
    }
    for s in &manifest.statements {
        let pdf = out.join(&s.pdf);
        if !pdf.is_file() {
            return Err(not_built(
                period,
                format!(
                    "statement {} has no PDF `{}`; was it built with --no-pdf?",
                    s.number,
                    pdf.display()
                ),
            ));
        }
    }
    Ok(manifest)
}

/// Statements grouped by PI (by address, case-insensitively), in address order.
pub fn by_pi(statements: &[Statement]) -> Vec<PiGroup> {
    let mut groups: BTreeMap<String, PiGroup> = BTreeMap::new();
    for s in statements {
        let g = groups
            .entry(s.pi_email.to_lowercase())
            .or_insert_with(|| PiGroup {
                email: s.pi_email.clone(),
                name: s.pi_name.clone(),
                href: s.pi_href.clone(),
                statements: Vec::new(),
            });
        g.statements.push(s.clone());
    }
    groups.into_values().collect()
}

/// Keep only the PIs named by `--to`; naming a PI without statements is an
/// error, so that a typo does not silently send nothing.
pub fn select(groups: Vec<PiGroup>, to: &[String], period: Period) -> Result<Vec<PiGroup>> {
    if to.is_empty() {
        return Ok(groups);
    }
    for t in to {
        if !groups.iter().any(|g| g.email.eq_ignore_ascii_case(t)) {
            bail!("--to {t}: no statements for this PI in {period}");
        }
    }
    Ok(groups
        .into_iter()
        .filter(|g| to.iter().any(|t| g.email.eq_ignore_ascii_case(t)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(pi: &str, project: &str, cc: &[&str]) -> Statement {
        Statement {
            number: format!("N-{project}"),
            pi_email: pi.into(),
            pi_name: String::new(),
            project_id: project.into(),
            project_name: String::new(),
            fund_org: String::new(),
            currency: "USD".into(),
            pdf: format!("{project}.pdf"),
            amounts: Amounts::default(),
            list_cost: "0".into(),
            discount: "0".into(),
            billed_cost: "0".into(),
            due: None,
            due_text: None,
            ledger: None,
            cc: cc.iter().map(|c| c.to_string()).collect(),
            pi_href: String::new(),
            replaces: None,
        }
    }

    #[test]
    fn groups_by_pi_and_merges_cc_once() {
        let s = [
            stmt("b@x.edu", "p3", &[]),
            stmt("a@x.edu", "p1", &["m@x.edu"]),
            stmt("A@x.edu", "p2", &["m@x.edu", "a@x.edu", "n@x.edu"]),
        ];
        let g = by_pi(&s);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].statements.len(), 2);
        assert_eq!(g[0].recipients(), ["a@x.edu", "m@x.edu", "n@x.edu"]);
        assert_eq!(g[1].recipients(), ["b@x.edu"]);
    }

    #[test]
    fn select_refuses_unknown_addresses() {
        let p: Period = "2025-01".parse().unwrap();
        let g = by_pi(&[stmt("a@x.edu", "p1", &[]), stmt("b@x.edu", "p2", &[])]);
        let kept = select(g.clone(), &["B@x.edu".into()], p).unwrap();
        assert_eq!(kept.len(), 1);
        let err = select(g, &["c@x.edu".into()], p).unwrap_err().to_string();
        assert!(err.contains("--to c@x.edu"), "{err}");
    }
}
