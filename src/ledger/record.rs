//! What the ledger did on an issued statement, as period.yaml keeps it
//! (`statements[].ledger`): its lines, totals and fund split, in whole cents
//! written as text like the other figures there. A closed statement shows
//! this record, and the balances carry on from it, so a later edit of the
//! credits in ocb.yaml or of the allocations and splits in projects.yaml
//! changes only open periods.

use super::compute::{Line, LineKind, Share, Statement};
use super::terms::{AllocationKind, ProgramKind};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    pub usage: String,
    pub credits: String,
    pub surcharges: String,
    pub due: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RecordedLine>,
    pub split: Vec<RecordedShare>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedLine {
    pub kind: LineKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<AllocationKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramKind>,
    pub amount: String,
    pub fund: String,
    pub by_source: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedShare {
    pub fund: String,
    pub percent: String,
    pub amount: String,
}

fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

fn opt(d: Option<Decimal>) -> Option<String> {
    d.map(text)
}

/// The record of a statement the ledger produced.
pub fn record(s: &Statement) -> Recorded {
    Recorded {
        usage: text(s.usage),
        credits: text(s.credits),
        surcharges: text(s.surcharges),
        due: text(s.due),
        lines: s
            .lines
            .iter()
            .map(|l| RecordedLine {
                kind: l.kind,
                name: l.name.clone(),
                allocation: l.allocation,
                program: l.program,
                amount: text(l.amount),
                fund: l.fund.clone(),
                by_source: l
                    .by_source
                    .iter()
                    .map(|(s, a)| (s.clone(), text(*a)))
                    .collect(),
                opening: opt(l.opening),
                closing: opt(l.closing),
                remaining: opt(l.remaining),
                percent: opt(l.percent),
                base: opt(l.base),
            })
            .collect(),
        split: s
            .split
            .iter()
            .map(|sh| RecordedShare {
                fund: sh.fund.clone(),
                percent: text(sh.percent),
                amount: text(sh.amount),
            })
            .collect(),
    }
}

fn number(what: &str, t: &str) -> Result<Decimal, String> {
    Decimal::from_str(t).map_err(|_| format!("{what} `{t}` is not a decimal number"))
}

fn number_opt(what: &str, t: &Option<String>) -> Result<Option<Decimal>, String> {
    t.as_deref().map(|t| number(what, t)).transpose()
}

/// The parts of a statement the record holds: lines, totals and split.
pub struct Restored {
    pub usage: Decimal,
    pub lines: Vec<Line>,
    pub credits: Decimal,
    pub surcharges: Decimal,
    pub due: Decimal,
    pub split: Vec<Share>,
}

/// Read a record back; a value that is not a number (a hand edit) is an error
/// naming the field.
pub fn restore(r: &Recorded) -> Result<Restored, String> {
    let mut lines = Vec::new();
    for l in &r.lines {
        let mut by_source = Vec::new();
        for (s, a) in &l.by_source {
            by_source.push((s.clone(), number("by_source", a)?));
        }
        lines.push(Line {
            kind: l.kind,
            name: l.name.clone(),
            allocation: l.allocation,
            program: l.program,
            amount: number("amount", &l.amount)?,
            fund: l.fund.clone(),
            by_source,
            opening: number_opt("opening", &l.opening)?,
            closing: number_opt("closing", &l.closing)?,
            remaining: number_opt("remaining", &l.remaining)?,
            percent: number_opt("percent", &l.percent)?,
            base: number_opt("base", &l.base)?,
        });
    }
    let mut split = Vec::new();
    for s in &r.split {
        split.push(Share {
            fund: s.fund.clone(),
            percent: number("percent", &s.percent)?,
            amount: number("amount", &s.amount)?,
        });
    }
    let restored = Restored {
        usage: number("usage", &r.usage)?,
        credits: number("credits", &r.credits)?,
        surcharges: number("surcharges", &r.surcharges)?,
        due: number("due", &r.due)?,
        lines,
        split,
    };
    let credits: Decimal = restored
        .lines
        .iter()
        .filter(|l| l.kind != LineKind::Surcharge)
        .map(|l| l.amount)
        .sum();
    let surcharges: Decimal = restored
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Surcharge)
        .map(|l| l.amount)
        .sum();
    let shares: Decimal = restored.split.iter().map(|s| s.amount).sum();
    if credits != restored.credits
        || surcharges != restored.surcharges
        || restored.usage - credits + surcharges != restored.due
        || shares != restored.due
    {
        return Err(format!(
            "the recorded lines do not add up: usage {} − credits {} + surcharges {} must equal due {}, and the split's amounts must add up to it",
            r.usage, r.credits, r.surcharges, r.due
        ));
    }
    Ok(restored)
}
