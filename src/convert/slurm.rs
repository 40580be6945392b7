//! `ocb convert slurm`: price each Slurm job's allocation for the time it ran
//! inside the period, and write one FOCUS row per job (or per account,
//! partition and day).

use super::output::{FocusRow, round6};
use super::sacct::{self, Job, Tres};
use super::slurm_rates::{Rate, SlurmRates};
use super::{Context, Converted, Sink};
use crate::problem::Problem;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Columns after the FOCUS ones: who ran the job, its state, how many jobs a
/// row holds, and the GPU-hours that ConsumedQuantity (core-hours) leaves out.
pub const EXTRA: &[&str] = &["x_SlurmUser", "x_SlurmState", "x_Jobs", "x_GpuHours"];

const SECONDS_PER_HOUR: i64 = 3600;

/// A job with its time clipped to the period and its hourly price.
struct Priced {
    job: Job,
    start: NaiveDateTime,
    end: NaiveDateTime,
    tres: Tres,
    /// List price of one hour of the whole allocation.
    per_hour: Decimal,
    /// Share of the list price the PI pays: 1 − subsidy/100.
    pays: Decimal,
}

/// Why a job gave no row; counted for the summary.
enum Outcome {
    Billed(Box<Priced>),
    NotBilled(String),
    NoTime,
}

/// What a conversion tallies while it streams through the file: rows go out
/// as soon as a job is priced (or into `days` with `--group day`), so memory
/// does not grow with the number of jobs.
struct Run<'a, 's> {
    rates: &'a SlurmRates,
    cx: &'a Context<'a>,
    file: &'a str,
    days: Option<Days>,
    sink: Sink<'s>,
    jobs: u64,
    not_billed: BTreeMap<String, u64>,
    no_time: u64,
    problems: Vec<Problem>,
}

impl Run<'_, '_> {
    fn job(&mut self, job: Job) {
        match price(job, self.rates, self.cx, self.file) {
            Ok(Outcome::Billed(p)) => {
                self.jobs += 1;
                match &mut self.days {
                    Some(days) => add_days(days, &p),
                    None => (self.sink)(job_row(&p, self.rates, self.cx)),
                }
            }
            Ok(Outcome::NotBilled(state)) => *self.not_billed.entry(state).or_default() += 1,
            Ok(Outcome::NoTime) => self.no_time += 1,
            Err(p) => self.problems.push(p),
        }
    }

    /// One line per kind of job that gave no row, for the command's summary.
    fn notes(&self, steps: u64) -> Vec<String> {
        let mut notes = vec![format!("{} job{} billed", self.jobs, plural(self.jobs))];
        notes.extend(self.not_billed.iter().map(|(state, n)| {
            format!(
                "{n} {} job{} skipped (state not in bill_states)",
                if state.is_empty() { "stateless" } else { state },
                plural(*n)
            )
        }));
        if self.no_time > 0 {
            notes.push(format!(
                "{} job{} skipped (no run time in {})",
                self.no_time,
                plural(self.no_time),
                self.cx.period
            ));
        }
        if steps > 0 {
            notes.push(format!(
                "{steps} job step line{} skipped (each job is billed once, from its allocation line; export with -X)",
                plural(steps)
            ));
        }
        notes
    }
}

/// Convert a sacct export, handing each FOCUS row to `sink`. Rows may reach
/// the sink before a later line turns out to be bad: the caller keeps them
/// only when this returns Ok.
pub fn convert(
    input: &Path,
    input_shown: &str,
    rates_path: &Path,
    rates_shown: &str,
    cx: &Context,
    by_day: bool,
    sink: Sink,
) -> Result<Converted, Vec<Problem>> {
    let rates = match SlurmRates::load(rates_path, rates_shown) {
        Ok(r) => r,
        Err(p) => {
            // Read the export anyway, to report its problems in the same run.
            let read = sacct::read(input, input_shown, &mut |_| {});
            return Err(std::iter::once(p).chain(read.problems).collect());
        }
    };
    let mut run = Run {
        rates: &rates,
        cx,
        file: input_shown,
        days: by_day.then(Days::new),
        sink,
        jobs: 0,
        not_billed: BTreeMap::new(),
        no_time: 0,
        problems: Vec::new(),
    };
    let read = sacct::read(input, input_shown, &mut |job| run.job(job));
    let mut problems = read.problems;
    problems.append(&mut run.problems);
    if !problems.is_empty() {
        problems.sort();
        return Err(problems);
    }
    if let Some(days) = run.days.take() {
        day_rows(days, &rates, cx, run.sink);
    }
    Ok(Converted {
        currency: rates.currency.0.clone(),
        warnings: Vec::new(),
        notes: run.notes(read.steps),
    })
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Clip a job to the period, find its rate and price one hour of it.
fn price(job: Job, rates: &SlurmRates, cx: &Context, file: &str) -> Result<Outcome, Problem> {
    if !rates.bills(&job.state) {
        return Ok(Outcome::NotBilled(job.state));
    }
    let (period_start, period_end) = cx.bounds();
    let Some(start) = job.start else {
        return Ok(Outcome::NoTime);
    };
    // A running job has no End yet: it is charged up to the end of the period.
    let end = job.end.unwrap_or(period_end).min(period_end);
    let start = start.max(period_start);
    if end <= start {
        return Ok(Outcome::NoTime);
    }
    let at = |column: &str, msg: String| Problem::cell(file, job.line, column, msg);
    let tres = sacct::parse_tres(&job.tres).map_err(|m| at("AllocTRES", m))?;
    let rate = rates
        .rate(&job.partition, start.date())
        .map_err(|(column, m)| at(column, m))?;
    let per_hour = hourly(&tres, rate).map_err(|m| at("AllocTRES", m))?;
    let pays = rate.subsidy_percent.remainder();
    Ok(Outcome::Billed(Box::new(Priced {
        job,
        start,
        end,
        tres,
        per_hour,
        pays,
    })))
}

/// List price of one hour of an allocation. Checked arithmetic, because an
/// absurd AllocTRES or price must be an error, not an overflow panic; no real
/// job costs 10^15 an hour, and the bound keeps every later sum in range.
fn hourly(tres: &Tres, rate: &Rate) -> Result<Decimal, String> {
    let too_big = || "costs more than 10^15 an hour: check AllocTRES and the rates".to_string();
    let mut total = Decimal::from(tres.cpus)
        .checked_mul(rate.cpu_hour.0)
        .and_then(|c| c.checked_add(tres.mem_gb.checked_mul(rate.mem_gb_hour.0)?))
        .ok_or_else(too_big)?;
    for (kind, n) in &tres.gpus {
        let price = rate.gpu_price(kind)?;
        total = Decimal::from(*n)
            .checked_mul(price)
            .and_then(|g| total.checked_add(g))
            .ok_or_else(too_big)?;
    }
    if total > Decimal::from(1_000_000_000_000_000u64) {
        return Err(too_big());
    }
    Ok(total)
}

fn hours(start: NaiveDateTime, end: NaiveDateTime) -> Decimal {
    Decimal::from((end - start).num_seconds()) / Decimal::from(SECONDS_PER_HOUR)
}

fn gpu_count(t: &Tres) -> u64 {
    t.gpus.values().sum()
}

/// `job 1234: 16 cores, 64 GB, 2 a100 GPUs for 10.5 h`.
fn describe(p: &Priced) -> String {
    let mut parts = vec![
        format!("{} core{}", p.tres.cpus, plural(p.tres.cpus)),
        format!("{} GB", crate::money::quantity(p.tres.mem_gb)),
    ];
    for (kind, n) in &p.tres.gpus {
        let kind = if kind.is_empty() {
            String::new()
        } else {
            format!("{kind} ")
        };
        parts.push(format!("{n} {kind}GPU{}", plural(*n)));
    }
    format!(
        "job {}: {} for {} h",
        p.job.id,
        parts.join(", "),
        crate::money::quantity(hours(p.start, p.end))
    )
}

/// One row for one job: ListCost = hourly price × hours, rounded to six decimals;
/// BilledCost = that ListCost × (1 − subsidy/100).
fn job_row(p: &Priced, rates: &SlurmRates, cx: &Context) -> FocusRow {
    let h = hours(p.start, p.end);
    let list = round6(p.per_hour * h);
    let core_hours = Decimal::from(p.tres.cpus) * h;
    let job = &p.job;
    FocusRow {
        resource_id: job.id.clone(),
        resource_name: format!("{}@{}", job.user, job.partition),
        charge_start: p.start,
        charge_end: p.end,
        description: describe(p),
        consumed: core_hours,
        pricing: core_hours,
        list,
        billed: round6(list * p.pays),
        extra: vec![
            job.user.clone(),
            job.state.clone(),
            "1".into(),
            super::output::quantity_text(Decimal::from(gpu_count(&p.tres)) * h),
        ],
        ..base_row(&job.account, &job.partition, rates, cx)
    }
}

/// What every row of an account and partition shares.
fn base_row(account: &str, partition: &str, rates: &SlurmRates, cx: &Context) -> FocusRow {
    FocusRow {
        billing_account_id: rates
            .billing_account
            .clone()
            .unwrap_or_else(|| cx.source.to_string()),
        currency: rates.currency.0.clone(),
        period: cx.period,
        charge_start: NaiveDateTime::MIN,
        charge_end: NaiveDateTime::MIN,
        description: String::new(),
        service_category: "Compute",
        service_name: format!("HPC {partition}"),
        provider: rates.provider.clone(),
        resource_id: String::new(),
        resource_name: String::new(),
        sub_account_id: account.to_string(),
        consumed: Decimal::ZERO,
        consumed_unit: "Core-Hours",
        pricing: Decimal::ZERO,
        pricing_unit: "Core-Hours",
        list: Decimal::ZERO,
        billed: Decimal::ZERO,
        tags: cx.tags(cx.projects.by_account(account), ("slurm_account", account)),
        extra: Vec::new(),
    }
}

/// One day's share of the jobs of an account on a partition. Amounts stay
/// unrounded until the row is written, so a day's total is not the sum of
/// rounded pieces.
#[derive(Default)]
struct Day {
    list: Decimal,
    billed: Decimal,
    core_hours: Decimal,
    gpu_hours: Decimal,
    jobs: u64,
    users: BTreeSet<String>,
}

type Days = BTreeMap<(String, String, NaiveDate), Day>;

/// `--group day`: split a job at midnights and add each piece to its
/// (account, partition, day), priced at the job's rate so that the month's
/// total matches the per-job conversion.
fn add_days(days: &mut Days, p: &Priced) {
    let mut from = p.start;
    while from < p.end {
        let midnight = (from.date() + TimeDelta::days(1)).and_time(chrono::NaiveTime::MIN);
        let to = p.end.min(midnight);
        let h = hours(from, to);
        let key = (p.job.account.clone(), p.job.partition.clone(), from.date());
        let day = days.entry(key).or_default();
        day.list += p.per_hour * h;
        day.billed += p.per_hour * h * p.pays;
        day.core_hours += Decimal::from(p.tres.cpus) * h;
        day.gpu_hours += Decimal::from(gpu_count(&p.tres)) * h;
        // Each piece is on a different day, so a job counts once per day.
        day.jobs += 1;
        day.users.insert(p.job.user.clone());
        from = to;
    }
}

fn day_rows(days: Days, rates: &SlurmRates, cx: &Context, sink: Sink) {
    for ((account, partition, date), d) in days {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        let users: Vec<&str> = d.users.iter().map(String::as_str).collect();
        sink(FocusRow {
            resource_id: format!("{account}/{partition}/{date}"),
            resource_name: format!("{account}@{partition}"),
            charge_start: midnight,
            charge_end: midnight + TimeDelta::days(1),
            description: format!(
                "{} job{} on {partition} by {}",
                d.jobs,
                plural(d.jobs),
                users.join(", ")
            ),
            consumed: d.core_hours,
            pricing: d.core_hours,
            list: round6(d.list),
            billed: round6(d.billed),
            extra: vec![
                users.join(";"),
                String::new(),
                d.jobs.to_string(),
                super::output::quantity_text(d.gpu_hours),
            ],
            ..base_row(&account, &partition, rates, cx)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::output::cost_text;
    use super::*;
    use crate::config::TagKeys;
    use crate::projects::Projects;

    const RATES: &str = "currency: USD
rates:
  - {partition: \"*\", from: 2024-01-01, cpu_hour: 0.01, mem_gb_hour: 0.001, gpu_hour: {default: 1}, subsidy_percent: 40}
";

    fn run(sacct: &str, by_day: bool) -> Result<(Converted, Vec<FocusRow>), Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.yaml"), RATES).unwrap();
        std::fs::write(dir.path().join("j.sacct"), sacct).unwrap();
        let projects = Projects::default();
        let keys = TagKeys::default();
        let cx = Context {
            period: "2025-01".parse().unwrap(),
            source: "hpc",
            projects: &projects,
            tag_keys: &keys,
        };
        let (j, r) = (dir.path().join("j.sacct"), dir.path().join("r.yaml"));
        let mut rows = Vec::new();
        convert(&j, "j.sacct", &r, "r.yaml", &cx, by_day, &mut |row| {
            rows.push(row)
        })
        .map(|c| (c, rows))
        .map_err(|ps| ps.iter().map(|p| p.to_string()).collect())
    }

    fn total(rows: &[FocusRow]) -> (Decimal, Decimal) {
        rows.iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(l, b), r| {
                (l + r.list, b + r.billed)
            })
    }

    const JOBS: &str = "JobID|Account|User|Partition|State|Start|End|AllocTRES
1|a|u|cpu|COMPLETED|2024-12-31T23:00:00|2025-01-01T02:00:00|cpu=10,mem=100G
2|a|u|cpu|RUNNING|2025-01-31T12:00:00|Unknown|cpu=1,gres/gpu=1
3|a|u|cpu|PENDING|Unknown|Unknown|
4|a|u|cpu|COMPLETED|2024-12-01T00:00:00|2024-12-02T00:00:00|cpu=1
4.batch|a||cpu|COMPLETED|2024-12-01T00:00:00|2024-12-02T00:00:00|cpu=1
";

    #[test]
    fn clips_jobs_to_the_period_and_prices_them() {
        let (c, rows) = run(JOBS, false).unwrap();
        let got: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.resource_id.clone(),
                    cost_text(r.list),
                    cost_text(r.billed),
                )
            })
            .collect();
        // Job 1: 2 h in January × (10 × 0.01 + 100 × 0.001) = 0.40; pays 60%.
        // Job 2: 12 h to the period end × (0.01 + 1) = 12.12.
        assert_eq!(
            got,
            [
                ("1".into(), "0.400000".into(), "0.240000".into()),
                ("2".into(), "12.120000".into(), "7.272000".into())
            ]
        );
        assert_eq!(
            c.notes,
            [
                "2 jobs billed",
                "1 PENDING job skipped (state not in bill_states)",
                "1 job skipped (no run time in 2025-01)",
                "1 job step line skipped (each job is billed once, from its allocation line; export with -X)"
            ]
        );
        assert_eq!(
            rows[0].tags.get("slurm_account").map(String::as_str),
            Some("a")
        );
        assert_eq!(rows[1].charge_end.to_string(), "2025-02-01 00:00:00");
    }

    #[test]
    fn days_split_at_midnight_and_keep_the_month_total() {
        let (_, rows) = run(JOBS, true).unwrap();
        let days: Vec<(&str, String)> = rows
            .iter()
            .map(|r| (r.resource_id.as_str(), cost_text(r.list)))
            .collect();
        assert_eq!(
            days,
            [
                ("a/cpu/2025-01-01", "0.400000".into()),
                ("a/cpu/2025-01-31", "12.120000".into())
            ]
        );
        let (_, per_job) = run(JOBS, false).unwrap();
        assert_eq!(total(&rows), total(&per_job));
    }
}
