//! Accounting journals for a period, in the configured format. Amounts are
//! rounded to the cent with the remainder allocated (money::allocate), so the
//! journal total equals the period's billed total exactly.

use crate::charge::{Charge, State};
use crate::config::{Config, JournalFormat};
use crate::ledger::{LineKind, PeriodLedger};
use crate::period::Period;
use crate::rollup::StatementKey;
use anyhow::{Context, Result};
use minijinja::value::Serde;
use regex::Regex;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// One balanced pair's half: a debit or credit on a fund and account.
#[derive(Debug, Clone, Serialize)]
pub struct GlLine {
    pub line: usize,
    pub account: String,
    pub fund_org: String,
    pub parts: Vec<String>,
    #[serde(serialize_with = "cents")]
    pub debit: Decimal,
    #[serde(serialize_with = "cents")]
    pub credit: Decimal,
    pub currency: String,
    pub source: String,
    pub description: String,
}

/// Journal amounts are always written with two decimals, also in templates.
fn cents<S: serde::Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{d:.2}"))
}

/// Spreadsheets run cells that start with these as formulas; a leading `'` stops that.
pub fn neutralise(cell: &str) -> String {
    neutralised(cell).into_owned()
}

/// `neutralise`, borrowing the cell when it is safe as it is.
pub fn neutralised(cell: &str) -> std::borrow::Cow<'_, str> {
    // By its first byte: the characters are ASCII.
    if matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The `gl` lines, from the ledger: per (currency, source, fund) a debit on
/// the PI's fund (each fund of a split its share) and a credit on the
/// source's credit fund; per credit program or allocation a debit on its
/// `paid_by` fund; per surcharge a debit on the PI's fund and a credit on its
/// `paid_to` fund. Each pair is swapped when its amount is negative.
pub fn gl_lines(ledger: &PeriodLedger, config: &Config, period: Period) -> Vec<GlLine> {
    // (currency, source, step, name, debit fund, credit fund) → amount
    type Key = (String, String, u8, String, String, String);
    let mut pairs: BTreeMap<Key, Decimal> = BTreeMap::new();
    let credit_fund = |source: &str| {
        config
            .sources
            .get(source)
            .and_then(|s| s.credit_fund_org.clone())
            .unwrap_or_default()
    };
    for s in &ledger.statements {
        for c in &s.cells {
            let key = match c.line.map(|i| &s.lines[i]) {
                None => (0, String::new(), credit_fund(&c.source)),
                Some(l) => (2, l.name.clone(), l.fund.clone()),
            };
            *pairs
                .entry((
                    s.currency.clone(),
                    c.source.clone(),
                    key.0,
                    key.1,
                    c.fund.clone(),
                    key.2,
                ))
                .or_default() += c.amount;
        }
        for l in s.lines.iter().filter(|l| l.kind != LineKind::Surcharge) {
            for (source, amount) in &l.by_source {
                *pairs
                    .entry((
                        s.currency.clone(),
                        source.clone(),
                        1,
                        l.name.clone(),
                        l.fund.clone(),
                        credit_fund(source),
                    ))
                    .or_default() += amount;
            }
        }
    }
    let splitter = config
        .journal
        .fund_org_regex
        .as_deref()
        .and_then(|r| Regex::new(r).ok());
    let mut lines = Vec::new();
    for ((currency, source, step, name, debit, credit), amount) in pairs {
        if amount.is_zero() {
            continue;
        }
        let account = config
            .sources
            .get(&source)
            .and_then(|s| s.account.clone())
            .unwrap_or_default();
        let src = config.source_name(&source);
        let mut description = match step {
            0 => format!("{src} charges {period}"),
            1 => format!("{name} for {src} charges {period}"),
            _ => format!("{name} on {src} charges {period}"),
        };
        if config.billing.basis == crate::config::Basis::Effective {
            description.push_str(" (effective cost)");
        }
        let (dr, cr) = if amount.is_sign_negative() {
            (credit, debit)
        } else {
            (debit, credit)
        };
        let abs = amount.abs();
        for (fund, debit, credit) in [(dr, abs, Decimal::ZERO), (cr, Decimal::ZERO, abs)] {
            lines.push(GlLine {
                line: lines.len() + 1,
                account: account.clone(),
                parts: split(splitter.as_ref(), &fund),
                fund_org: fund,
                debit,
                credit,
                currency: currency.clone(),
                source: source.clone(),
                description: description.clone(),
            });
        }
    }
    lines
}

/// Named groups of `journal.fund_org_regex`, in order; empty when none matches.
fn split(re: Option<&Regex>, fund: &str) -> Vec<String> {
    let Some(re) = re else { return vec![] };
    let names: Vec<&str> = re.capture_names().flatten().collect();
    match re.captures(fund) {
        Some(c) => names
            .iter()
            .map(|n| {
                c.name(n)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default()
            })
            .collect(),
        None => vec![String::new(); names.len()],
    }
}

fn part_names(config: &Config) -> Vec<String> {
    config
        .journal
        .fund_org_regex
        .as_deref()
        .and_then(|r| Regex::new(r).ok())
        .map(|re| re.capture_names().flatten().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Render the journal file for a period.
pub fn render(
    charges: &[Charge],
    ledger: &PeriodLedger,
    config: &Config,
    period: Period,
    statements: &BTreeMap<StatementKey, String>,
    root: &std::path::Path,
) -> Result<Vec<u8>> {
    match config.journal.format {
        JournalFormat::Gl => gl_csv(&gl_lines(ledger, config, period), config, period),
        JournalFormat::Detail => detail_csv(charges, period),
        JournalFormat::Summary => summary_csv(ledger, period, statements),
        JournalFormat::Template => template(charges, ledger, config, period, root),
    }
}

fn gl_csv(lines: &[GlLine], config: &Config, period: Period) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let parts = part_names(config);
    let mut header: Vec<String> = ["journal", "period", "line", "account", "fund_org"]
        .map(String::from)
        .to_vec();
    header.extend(parts.iter().cloned());
    header.extend(["debit", "credit", "currency", "source", "description"].map(String::from));
    w.write_record(&header)?;
    let journal = format!("OCB-{}", period.to_string().replace('-', ""));
    for l in lines {
        let mut row = vec![
            journal.clone(),
            period.to_string(),
            l.line.to_string(),
            neutralise(&l.account),
            neutralise(&l.fund_org),
        ];
        row.extend(l.parts.iter().map(|p| neutralise(p)));
        row.extend([
            fixed(l.debit),
            fixed(l.credit),
            l.currency.clone(),
            neutralise(&l.source),
            neutralise(&l.description),
        ]);
        w.write_record(&row)?;
    }
    Ok(w.into_inner()?)
}

fn fixed(d: Decimal) -> String {
    format!("{d:.2}")
}

fn detail_csv(charges: &[Charge], period: Period) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "period",
        "charge",
        "source",
        "pi_email",
        "project_id",
        "fund_org",
        "cost_center",
        "service_name",
        "resource_id",
        "reference_1",
        "reference_2",
        "amount",
        "currency",
    ])?;
    let mut by_currency: BTreeMap<&str, Vec<&Charge>> = BTreeMap::new();
    for c in charges.iter().filter(|c| c.state == State::Billed) {
        by_currency.entry(&c.currency).or_default().push(c);
    }
    for (currency, list) in by_currency {
        let amounts: Vec<Decimal> = list.iter().map(|c| c.billed).collect();
        for (c, amount) in list.iter().zip(crate::money::allocate(&amounts, currency)) {
            let a = &c.attribution;
            let text = [
                &c.source,
                &a.pi_email,
                &a.project_id,
                &a.fund_org,
                &a.cost_center,
                &c.dims.service_name,
                &c.dims.resource_id,
                &a.reference_1,
                &a.reference_2,
            ]
            .map(|s| neutralise(s));
            let mut row = vec![period.to_string(), c.id.to_string()];
            row.extend(text);
            row.extend([fixed(amount), currency.to_string()]);
            w.write_record(&row)?;
        }
    }
    Ok(w.into_inner()?)
}

/// One line per statement: what it says is due (after credits, allocations
/// and surcharges), on the statement's fund.
fn summary_csv(
    ledger: &PeriodLedger,
    period: Period,
    statements: &BTreeMap<StatementKey, String>,
) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "period",
        "statement",
        "pi_email",
        "project_id",
        "fund_org",
        "amount",
        "currency",
    ])?;
    for s in &ledger.statements {
        let number = statements.get(&s.key()).cloned().unwrap_or_default();
        w.write_record([
            period.to_string(),
            number,
            neutralise(&s.pi),
            neutralise(&s.project),
            neutralise(&s.fund),
            fixed(s.due),
            s.currency.clone(),
        ])?;
    }
    Ok(w.into_inner()?)
}

#[derive(Serialize)]
struct TemplateCharge<'a> {
    id: &'a str,
    source: &'a str,
    pi_email: &'a str,
    project_id: &'a str,
    fund_org: &'a str,
    cost_center: &'a str,
    service_name: &'a str,
    resource_id: &'a str,
    reference_1: &'a str,
    reference_2: &'a str,
    billed: String,
    currency: &'a str,
}

/// A user's minijinja template; `lines` (gl) and `charges` (billed) are given,
/// amounts as strings, and `csv` escapes a cell.
fn template(
    charges: &[Charge],
    ledger: &PeriodLedger,
    config: &Config,
    period: Period,
    root: &std::path::Path,
) -> Result<Vec<u8>> {
    let rel = config.journal.template.as_deref().unwrap_or_default();
    let path = root.join(rel);
    let source = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read journal template `{rel}`"))?;
    let mut env = crate::templates::environment([(rel.to_string(), source, rel.to_string())])?;
    env.add_filter("csv", |s: String| {
        let s = neutralise(&s);
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    });
    let lines = gl_lines(ledger, config, period);
    let billed: Vec<TemplateCharge> = charges
        .iter()
        .filter(|c| c.state == State::Billed)
        .map(|c| TemplateCharge {
            id: &c.id,
            source: &c.source,
            pi_email: &c.attribution.pi_email,
            project_id: &c.attribution.project_id,
            fund_org: &c.attribution.fund_org,
            cost_center: &c.attribution.cost_center,
            service_name: &c.dims.service_name,
            resource_id: &c.dims.resource_id,
            reference_1: &c.attribution.reference_1,
            reference_2: &c.attribution.reference_2,
            billed: c.billed.to_string(),
            currency: &c.currency,
        })
        .collect();
    let ctx = minijinja::context! { period => period.to_string(), lines => Serde(lines), charges => Serde(billed) };
    let out = env
        .get_template(rel)?
        .render(ctx)
        .map_err(|e| anyhow::anyhow!("{rel}:{}: {e}", e.line().unwrap_or(0)))?;
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_formula_cells() {
        assert_eq!(neutralise("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(neutralise("@x"), "'@x");
        assert_eq!(neutralise("NSF-1"), "NSF-1");
    }
}
