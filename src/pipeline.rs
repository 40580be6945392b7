//! One period through the pipeline: load → attribute → flag → decide → rollup.
//! Pure data in, data out; only `load` reads files.

use crate::charge::{Charge, Interner, State};
use crate::config::Config;
use crate::discover::PeriodDir;
use crate::flag::SourceTotals;
use crate::outputs::{CurrencySummary, statement_number};
use crate::problem::Problem;
use crate::projects::Projects;
use crate::review::{self, Decision};
use crate::rollup::{self, Rollup, StatementKey};
use anyhow::{Result, bail};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A period with its charges, decisions and rollup, ready to render.
pub struct PeriodData {
    pub dir: PeriodDir,
    pub charges: Vec<Charge>,
    pub decisions: Vec<Decision>,
    pub rollup: Rollup,
    pub currencies: Vec<CurrencySummary>,
    /// Statement number of each statement.
    pub numbers: BTreeMap<StatementKey, String>,
    pub stale: Vec<String>,
    /// `open` or `closed`, from period.yaml.
    pub status: String,
}

/// Load every file of a period. Problems are returned; charges only when there are none.
/// Files load in parallel (one per core), each with its own string table:
/// strings are shared within a file, where they repeat.
pub fn load(
    dir: &PeriodDir,
    config: &Config,
    _strings: &mut Interner,
) -> (Vec<Charge>, Vec<Problem>) {
    use rayon::prelude::*;
    let loaded: Vec<crate::load::Loaded> = dir
        .files
        .par_iter()
        .map(|f| {
            let mut own = Interner::default();
            crate::load::load_file(&f.path, &f.shown, &f.source, &config.currency, &mut own)
        })
        .collect();
    let total = loaded.iter().map(|l| l.charges.len()).sum();
    let mut charges = Vec::with_capacity(total);
    let mut problems = Vec::new();
    for mut l in loaded {
        problems.append(&mut l.problems);
        charges.extend(l.charges);
    }
    if config.billing.basis == crate::config::Basis::Effective {
        // Everything downstream (flags, conservation, statements, journals)
        // reads `billed` as the amount charged: make it the effective cost.
        for c in &mut charges {
            c.billed = c.effective;
        }
    }
    problems.extend(crate::precision::check(&mut charges));
    (charges, problems)
}

/// Attribute, flag, decide and roll up a loaded period.
pub fn process(
    dir: PeriodDir,
    status: String,
    mut charges: Vec<Charge>,
    config: &Config,
    projects: &Projects,
    previous: Option<&SourceTotals>,
    strings: &mut Interner,
) -> Result<(PeriodData, Vec<Problem>)> {
    crate::attribute::attribute(&mut charges, &config.tags, projects, strings);
    // Compiled once for both the flag rules and the checks of `set:` values.
    let rules = crate::flag::Rules::new(config);
    crate::flag::flag(&mut charges, dir.period, config, &rules, projects, previous);
    let shown = dir.shown("review.yaml");
    let (decisions, mut problems) = review::load(&dir.review_path(), &shown);
    let outcome = review::decide(&mut charges, &decisions, &shown, &rules, projects, strings);
    problems.extend(outcome.problems);
    let rollup = rollup::rollup(&charges)?;
    let currencies = summarise(&charges, &rollup)?;
    let numbers = rollup
        .statements
        .iter()
        .map(|g| {
            let k = &g.key;
            let number = statement_number(dir.period, &k.currency, &k.pi, &k.project, &k.fund);
            (k.clone(), number)
        })
        .collect();
    Ok((
        PeriodData {
            dir,
            charges,
            decisions,
            rollup,
            currencies,
            numbers,
            stale: outcome.stale,
            status,
        },
        problems,
    ))
}

/// Per currency: input rows and totals (plain sums) against the rollup's
/// billed / held / rejected. Conservation is checked here on every build.
pub fn summarise(charges: &[Charge], rollup: &Rollup) -> Result<Vec<CurrencySummary>> {
    let mut inputs: BTreeMap<&str, (u64, Decimal)> = BTreeMap::new();
    for c in charges {
        let e = inputs.entry(&c.currency).or_default();
        e.0 += 1;
        e.1 += c.billed;
    }
    let mut out = Vec::new();
    for (currency, (rows, total)) in inputs {
        let [billed, held, rejected] = [State::Billed, State::Held, State::Rejected]
            .map(|s| rollup::state_total(rollup, currency, s));
        if billed.billed + held.billed + rejected.billed != total {
            bail!(
                "internal error: {currency} totals do not conserve: input {total}, billed {} + held {} + rejected {}",
                billed.billed,
                held.billed,
                rejected.billed
            );
        }
        out.push(CurrencySummary {
            currency: currency.to_string(),
            input_rows: rows,
            input_billed: total.normalize(),
            billed: billed.billed.normalize(),
            held: held.billed.normalize(),
            rejected: rejected.billed.normalize(),
            list: billed.list.normalize(),
            billed_rows: billed.count,
            held_rows: held.count,
            rejected_rows: rejected.count,
        });
    }
    Ok(out)
}
