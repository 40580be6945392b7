//! `ocb review`, `ocb close`, `ocb reopen`: the review workflow's commands.

use super::{INVALID, parse_period};
use crate::charge::{Charge, State};
use crate::cli::Global;
use crate::money::format;
use crate::pipeline::PeriodData;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

pub fn run(g: &Global, period: Option<&str>, write: bool) -> Result<u8> {
    let only = period.map(parse_period).transpose()?;
    let _lock = write
        .then(|| crate::lock::acquire(&g.root, "review --write"))
        .transpose()?;
    let repo = crate::build::open(&g.root, &g.config_path())?;
    if let Some(p) = only
        && !repo.periods.iter().any(|d| d.period == p)
    {
        bail!("no period {p} under periods/");
    }
    let mut problems = repo.problems.clone();
    let mut written = 0;
    let each = |data: &mut crate::pipeline::PeriodData| {
        if only.is_some_and(|p| p != data.dir.period) {
            return Ok(());
        }
        print_held(data);
        if write {
            written += append_pending(data)?;
        }
        Ok(())
    };
    match only {
        // Other periods are restored from the cache where they can be.
        Some(p) => crate::build::each_period_for(&repo, &mut problems, Some(p), g.verbose, each)?,
        None => crate::build::each_period(&repo, &mut problems, each)?,
    };
    if write && !g.quiet {
        println!(
            "appended {written} pending decision{} to review.yaml",
            super::plural(written)
        );
    }
    if !problems.is_empty() {
        super::report_problems(&problems, "fix them, then review again");
        return Ok(INVALID);
    }
    Ok(0)
}

/// The charges a person can still decide: for a closed period, those of its
/// inputs held now (what it issued cannot change).
fn reviewable(data: &PeriodData) -> &[Charge] {
    if data.status == crate::close::Status::Closed {
        &data.held_now
    } else {
        &data.charges
    }
}

fn print_held(data: &PeriodData) {
    let held: Vec<&Charge> = reviewable(data)
        .iter()
        .filter(|c| c.state == State::Held)
        .collect();
    let mut totals: BTreeMap<&str, rust_decimal::Decimal> = BTreeMap::new();
    for c in &held {
        *totals.entry(&c.currency).or_default() += c.billed;
    }
    let total = totals
        .iter()
        .map(|(cur, t)| format(*t, cur))
        .collect::<Vec<_>>()
        .join(" + ");
    println!(
        "{}: {} charge{} held{}",
        data.dir.period,
        held.len(),
        super::plural(held.len()),
        if held.is_empty() {
            String::new()
        } else {
            format!(", {total}")
        }
    );
    let mut by_flag: BTreeMap<&str, Vec<&Charge>> = BTreeMap::new();
    for c in &held {
        let code = c
            .flags
            .iter()
            .find(|f| f.holds)
            .map(|f| f.code.as_str())
            .unwrap_or("pending");
        by_flag.entry(code).or_default().push(c);
    }
    for (code, list) in by_flag {
        let sum: rust_decimal::Decimal = list.iter().map(|c| c.billed).sum();
        println!(
            "  {code} ({}, {})",
            list.len(),
            format(sum, &list[0].currency)
        );
        println!("    to resolve: {}", crate::hints::hint(code));
        for c in list {
            let a = &c.attribution;
            let dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.to_string()
                }
            };
            println!(
                "    {}  {:<8} {}:{}  {:>12}  pi={} project={} fund={}  {}",
                c.id,
                c.source,
                c.file,
                c.line,
                format(c.billed, &c.currency),
                dash(&a.pi_email),
                dash(&a.project_id),
                dash(&a.fund_org),
                c.dims.service_name
            );
        }
    }
}

/// Append undecided held charges as `decision: pending`, keeping the file as is.
fn append_pending(data: &PeriodData) -> Result<usize> {
    let undecided: Vec<&Charge> = reviewable(data)
        .iter()
        .filter(|c| c.state == State::Held && c.decision.is_none())
        .collect();
    if undecided.is_empty() {
        return Ok(0);
    }
    let entries: String = undecided
        .iter()
        .map(|c| crate::review::pending_entry(c))
        .collect();
    let comment = format!(
        "added by `ocb review --write` on {}",
        chrono::Local::now().date_naive()
    );
    crate::decisions::append(&data.dir.review_path(), &comment, &entries)?;
    Ok(undecided.len())
}

fn find_dir(g: &Global, period: &str) -> Result<crate::discover::PeriodDir> {
    let p = parse_period(period)?;
    let (periods, _) = crate::discover::discover(&g.root);
    periods
        .into_iter()
        .find(|d| d.period == p)
        .with_context(|| format!("no period {p} under periods/"))
}

pub fn close(g: &Global, period: &str) -> Result<u8> {
    let _lock = crate::lock::acquire(&g.root, "close")?;
    let p = parse_period(period)?;
    let done = crate::closing::close(&g.root, &g.config_path(), p)?;
    if !done.problems.is_empty() {
        super::report_problems(&done.problems, &format!("{p} was not closed"));
        return Ok(INVALID);
    }
    if !g.quiet {
        println!(
            "closed {p}: {} statement{} issued, {} rows recorded in periods/{p}/{}, {} input digest{} in periods/{p}/period.yaml",
            done.statements,
            super::plural(done.statements),
            done.rows,
            crate::issued::FILE,
            done.digests,
            super::plural(done.digests),
        );
        if done.corrections > 0 {
            println!(
                "  including {} correction row{} to earlier closed periods",
                done.corrections,
                super::plural(done.corrections)
            );
        }
    }
    Ok(0)
}

pub fn reopen(g: &Global, period: &str, reason: &str) -> Result<u8> {
    if reason.trim().is_empty() {
        bail!("--reason must say why the period is reopened");
    }
    let _lock = crate::lock::acquire(&g.root, "reopen")?;
    let dir = find_dir(g, period)?;
    crate::close::refuse_if_corrected_later(&g.root, &dir)?;
    crate::close::reopen(&dir, &g.root, reason.trim())?;
    if !g.quiet {
        println!(
            "reopened {}: rebuild to reissue the statements that change (they get -R numbers); close it again when done",
            dir.period
        );
    }
    Ok(0)
}
