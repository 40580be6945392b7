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
use crate::rollup::{self, Rollup};
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
    /// (currency, pi, project, fund) → statement number.
    pub numbers: BTreeMap<(String, String, String, String), String>,
    pub stale: Vec<String>,
    /// `open` or `closed`, from period.yaml.
    pub status: String,
}

/// Load every file of a period. Problems are returned; charges only when there are none.
pub fn load(
    dir: &PeriodDir,
    config: &Config,
    strings: &mut Interner,
) -> (Vec<Charge>, Vec<Problem>) {
    let mut charges = Vec::new();
    let mut problems = Vec::new();
    for f in &dir.files {
        let mut loaded =
            crate::load::load_file(&f.path, &f.shown, &f.source, &config.currency, strings);
        problems.append(&mut loaded.problems);
        if charges.is_empty() {
            // Take the first file's charges as they are: appending would copy them.
            charges = std::mem::take(&mut loaded.charges);
        } else {
            charges.append(&mut loaded.charges);
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
            (
                (k[0].clone(), k[1].clone(), k[2].clone(), k[3].clone()),
                statement_number(dir.period, &k[0], &k[1], &k[2], &k[3]),
            )
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
fn summarise(charges: &[Charge], rollup: &Rollup) -> Result<Vec<CurrencySummary>> {
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
