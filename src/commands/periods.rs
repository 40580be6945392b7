//! `ocb periods`: one line per period with rows, sources, totals (billed,
//! held, rejected; credits, surcharges and due after the ledger) and status.

use super::INVALID;
use crate::cli::Global;
use crate::money::format;
use crate::period::Period;
use anyhow::Result;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

pub fn run(g: &Global) -> Result<u8> {
    let repo = crate::build::open(&g.root, &g.config_path())?;
    let mut problems = repo.problems.clone();
    let mut rows: Vec<[String; 12]> = Vec::new();
    // The list price of every row (billed, held and rejected alike): a month
    // that is all held must not look like it costs nothing.
    // From the rollup, not the charges: months unchanged since the last
    // build are restored from its cache, and nothing of them is loaded.
    let mut list_all: BTreeMap<(Period, String), Decimal> = BTreeMap::new();
    let done = crate::build::each_period_for(&repo, &mut problems, None, g.verbose, |data| {
        for s in &data.rollup.states {
            *list_all
                .entry((data.dir.period, s.key.currency.clone()))
                .or_default() += s.sums.list;
        }
        Ok(())
    })?;
    for d in &done {
        let sources = d
            .dir
            .files
            .iter()
            .map(|f| f.source.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let status = d.status.as_str().to_string();
        for c in &d.currencies {
            let f = |v| format(v, &c.currency);
            rows.push([
                d.dir.period.to_string(),
                c.input_rows.to_string(),
                sources.clone(),
                c.currency.clone(),
                f(list_all
                    .get(&(d.dir.period, c.currency.clone()))
                    .copied()
                    .unwrap_or_default()),
                f(c.billed),
                f(c.held),
                f(c.rejected),
                f(c.credits),
                f(c.surcharges),
                f(c.due),
                status.clone(),
            ]);
        }
        if d.currencies.is_empty() {
            rows.push([
                d.dir.period.to_string(),
                "0".into(),
                sources,
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                status,
            ]);
        }
    }
    for dir in repo
        .periods
        .iter()
        .filter(|p| !done.iter().any(|d| d.dir.period == p.period))
    {
        rows.push([
            dir.period.to_string(),
            "?".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            "invalid".into(),
        ]);
    }
    rows.sort();
    let header = [
        "period",
        "rows",
        "sources",
        "currency",
        "list",
        "billed",
        "held",
        "rejected",
        "credits",
        "surcharges",
        "due",
        "status",
    ]
    .map(String::from);
    print_table(&header, &rows);
    if !problems.is_empty() {
        super::report_problems(&problems, "see `ocb check`");
        return Ok(INVALID);
    }
    Ok(0)
}

/// Columns padded to their widest cell; numbers right-aligned.
pub fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let mut width = [0usize; N];
    for r in std::iter::once(header).chain(rows) {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    for r in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let numeric = c
                    .starts_with(|ch: char| ch.is_ascii_digit() || ch == '$' || ch == '-')
                    && i > 0;
                if numeric {
                    format!("{c:>w$}", w = width[i])
                } else {
                    format!("{c:<w$}", w = width[i])
                }
            })
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
