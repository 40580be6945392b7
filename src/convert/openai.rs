//! `ocb convert openai`: the ChatGPT Edu workspace usage export (credits per
//! user, day and usage type) to one FOCUS row per user, day and usage type,
//! priced per credit from the rates file and attributed by `users:` in
//! projects.yaml.

use super::output::{FocusRow, round6};
use super::rates::{self, Currency, Positive, Price};
use super::snapshots::{Lines, csv_problem};
use super::{Context, Converted, Sink};
use crate::problem::{Problem, shown};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The usage type (messages, a model, a tool), and the export's own usage
/// count and unit, kept beside the credits that are billed.
pub const EXTRA: &[&str] = &["x_UsageType", "x_UsageQuantity", "x_UsageUnits"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiRates {
    pub currency: Currency,
    #[serde(default = "default_provider")]
    pub provider: String,
    /// BillingAccountId on every row; the source name when absent.
    #[serde(default)]
    pub billing_account: Option<String>,
    #[serde(default = "default_service")]
    pub service: String,
    /// The price of one credit…
    #[serde(default)]
    pub credit_price: Option<Price>,
    /// …or a pool bought at once: price = amount / credits.
    #[serde(default)]
    pub credit_pool: Option<Pool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub credits: Positive,
    pub amount: Price,
}

fn default_provider() -> String {
    "OpenAI".into()
}

fn default_service() -> String {
    "ChatGPT Edu".into()
}

impl OpenAiRates {
    pub fn load(path: &Path, shown_as: &str) -> Result<(OpenAiRates, Decimal), Problem> {
        let r: OpenAiRates = rates::load(path, shown_as)?;
        let price = match (&r.credit_price, &r.credit_pool) {
            (Some(p), None) => p.0,
            // Exact decimal division: 1000.00 / 20000 = 0.05.
            (None, Some(pool)) => pool.amount.0 / pool.credits.0,
            _ => {
                return Err(Problem::file(
                    shown_as,
                    "expected exactly one of `credit_price: 0.05` or `credit_pool: {credits: 20000, amount: 1000.00}`",
                ));
            }
        };
        Ok((r, price))
    }
}

/// The export's columns, found by name; the first four are required.
const COLUMNS: [&str; 7] = [
    "date_partition",
    "email",
    "usage_type",
    "usage_credits",
    "name",
    "usage_quantity",
    "usage_units",
];

/// One user's usage of one type on one day (export lines added up).
#[derive(Default)]
struct Usage {
    name: String,
    credits: Decimal,
    quantity: Option<Decimal>,
    units: String,
}

type Key = (NaiveDate, String, String);

pub fn convert(
    input: &Path,
    input_shown: &str,
    rates_path: &Path,
    rates_shown: &str,
    cx: &Context,
    sink: Sink,
) -> Result<Converted, Vec<Problem>> {
    let rates = OpenAiRates::load(rates_path, rates_shown);
    let (usage, outside, mut problems) = read(input, input_shown, cx);
    let (rates, price) = match rates {
        Ok(r) => r,
        Err(p) => {
            problems.insert(0, p);
            return Err(problems);
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut unmapped = BTreeSet::new();
    for ((date, email, kind), u) in &usage {
        let project = cx.projects.by_user(email);
        if project.is_none() {
            unmapped.insert(email.as_str());
        }
        sink(row(date, email, kind, u, project, &rates, price, cx));
    }
    let mut notes = vec![format!(
        "{} user-day-type row{}, {} per credit",
        usage.len(),
        if usage.len() == 1 { "" } else { "s" },
        price.normalize()
    )];
    if outside > 0 {
        notes.push(format!(
            "{} outside {} skipped",
            super::count(outside as usize, "line"),
            cx.period
        ));
    }
    if !unmapped.is_empty() {
        notes.push(format!(
            "{} in no project's `users:` in projects.yaml: their rows are held for review",
            super::count(unmapped.len(), "user")
        ));
    }
    Ok(Converted {
        currency: rates.currency.0.clone(),
        notes,
        warnings: Vec::new(),
    })
}

/// The period's usage, summed per user, day and type; lines outside the
/// period are counted.
fn read(input: &Path, file: &str, cx: &Context) -> (BTreeMap<Key, Usage>, u64, Vec<Problem>) {
    let mut usage = BTreeMap::new();
    let (mut outside, mut problems) = (0, Vec::new());
    let bytes = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            return (
                usage,
                0,
                vec![Problem::file(file, format!("cannot read: {e}"))],
            );
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut record = csv::StringRecord::new();
    let index = match reader.read_record(&mut record) {
        Ok(true) => header(&record, file),
        Ok(false) => Err(Problem::file(
            file,
            "empty file: expected the ChatGPT Edu usage export's header line",
        )),
        Err(e) => Err(csv_problem(file, &e)),
    };
    let index = match index {
        Ok(i) => i,
        Err(p) => return (usage, 0, vec![p]),
    };
    let mut lines = Lines::new(&bytes);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                problems.push(csv_problem(file, &e));
                break;
            }
        }
        let line = lines.at(record.position().map_or(0, |p| p.byte() as usize));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |i: usize| index[i].and_then(|c| record.get(c)).unwrap_or("").trim();
        match line_usage(&cell, file, line) {
            Ok((date, ..)) if !cx.period.contains(date) => outside += 1,
            Ok((date, email, kind, u)) => {
                let e: &mut Usage = usage.entry((date, email, kind)).or_default();
                add(e, u);
            }
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    (usage, outside, problems)
}

fn add(into: &mut Usage, u: Usage) {
    into.credits += u.credits;
    into.quantity = match (into.quantity, u.quantity) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    if into.name.is_empty() {
        into.name = u.name;
    }
    if into.units.is_empty() {
        into.units = u.units;
    }
}

fn header(record: &csv::StringRecord, file: &str) -> Result<[Option<usize>; 7], Problem> {
    let names: HashMap<String, usize> = record
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.trim_start_matches('\u{feff}').trim().to_ascii_lowercase(),
                i,
            )
        })
        .collect();
    let index = COLUMNS.map(|c| names.get(c).copied());
    let missing: Vec<&str> = COLUMNS[..4]
        .iter()
        .zip(&index)
        .filter(|(_, i)| i.is_none())
        .map(|(c, _)| *c)
        .collect();
    if missing.is_empty() {
        return Ok(index);
    }
    Err(Problem::at(
        file,
        1,
        format!(
            "header lacks {}: expected the ChatGPT Edu usage export (date_partition,account_id,account_user_id,email,name,public_id,usage_type,usage_credits,usage_quantity,usage_units)",
            missing.join(", ")
        ),
    ))
}

fn line_usage<'r>(
    cell: &dyn Fn(usize) -> &'r str,
    file: &str,
    line: u64,
) -> Result<(NaiveDate, String, String, Usage), Vec<Problem>> {
    let mut problems = Vec::new();
    let date = parse_date(cell(0))
        .map_err(|m| problems.push(Problem::cell(file, line, "date_partition", m)))
        .ok();
    let email = cell(1).to_lowercase();
    if email.is_empty() {
        problems.push(Problem::cell(
            file,
            line,
            "email",
            "empty: expected the user's email",
        ));
    }
    let credits = number(cell(3), "credits")
        .map_err(|m| problems.push(Problem::cell(file, line, "usage_credits", m)))
        .ok();
    let quantity = match cell(5) {
        "" => None,
        q => number(q, "usage count")
            .map_err(|m| problems.push(Problem::cell(file, line, "usage_quantity", m)))
            .ok(),
    };
    match (date, credits) {
        (Some(date), Some(credits)) if problems.is_empty() => Ok((
            date,
            email,
            cell(2).to_string(),
            Usage {
                name: cell(4).to_string(),
                credits,
                quantity,
                units: cell(6).to_string(),
            },
        )),
        _ => Err(problems),
    }
}

fn number(cell: &str, what: &str) -> Result<Decimal, String> {
    crate::money::parse(cell).map_err(|_| format!("{} is not a number of {what}", shown(cell)))
}

/// `1/15/2026` as the export writes it (month first), or `2026-01-15`.
pub fn parse_date(cell: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(cell, "%m/%d/%Y")
        .or_else(|_| NaiveDate::parse_from_str(cell, "%Y-%m-%d"))
        .map_err(|_| {
            format!(
                "{} is not a date: expected M/D/YYYY such as 1/15/2026",
                shown(cell)
            )
        })
}

#[allow(clippy::too_many_arguments)]
fn row(
    date: &NaiveDate,
    email: &str,
    kind: &str,
    u: &Usage,
    project: Option<&crate::projects::Project>,
    rates: &OpenAiRates,
    price: Decimal,
    cx: &Context,
) -> FocusRow {
    let cost = round6(u.credits * price);
    let start = date.and_time(chrono::NaiveTime::MIN);
    FocusRow {
        billing_account_id: rates
            .billing_account
            .clone()
            .unwrap_or_else(|| cx.source.to_string()),
        currency: rates.currency.0.clone(),
        period: cx.period,
        charge_start: start,
        charge_end: start + chrono::TimeDelta::days(1),
        description: format!(
            "{} on {date}: {} credits of {}",
            email,
            crate::money::quantity(u.credits),
            if kind.is_empty() { "usage" } else { kind }
        ),
        service_category: "AI and Machine Learning",
        service_name: rates.service.clone(),
        provider: rates.provider.clone(),
        resource_id: email.to_string(),
        resource_name: if u.name.is_empty() {
            email.to_string()
        } else {
            u.name.clone()
        },
        sub_account_id: project.map_or(String::new(), |p| p.id.clone()),
        consumed: u.credits,
        consumed_unit: "Credits",
        pricing: u.credits,
        pricing_unit: "Credits",
        list: cost,
        // Subsidies are ocb's credit programs, applied at build time.
        billed: cost,
        tags: cx.tags(project, ("openai_user", email)),
        extra: vec![
            kind.to_string(),
            u.quantity
                .map_or(String::new(), super::output::quantity_text),
            u.units.clone(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_the_export_writes_them() {
        assert_eq!(parse_date("1/5/2026").unwrap().to_string(), "2026-01-05");
        assert_eq!(parse_date("01/15/2026").unwrap().to_string(), "2026-01-15");
        assert_eq!(parse_date("2026-01-15").unwrap().to_string(), "2026-01-15");
        assert_eq!(
            parse_date("15/1/2026").unwrap_err(),
            "`15/1/2026` is not a date: expected M/D/YYYY such as 1/15/2026"
        );
    }

    #[test]
    fn a_pool_prices_credits_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.yaml");
        std::fs::write(
            &p,
            "currency: USD\ncredit_pool: {credits: 20000, amount: 1000.00}\n",
        )
        .unwrap();
        assert_eq!(
            OpenAiRates::load(&p, "r.yaml").unwrap().1.to_string(),
            "0.05"
        );
        std::fs::write(
            &p,
            "currency: USD\ncredit_pool:\n  credits: 0\n  amount: 1000\n",
        )
        .unwrap();
        assert_eq!(
            OpenAiRates::load(&p, "r.yaml").unwrap_err().to_string(),
            "r.yaml:3:12: credit_pool.credits: 0 is not greater than 0"
        );
        std::fs::write(
            &p,
            "currency: USD\ncredit_price: 0.05\ncredit_pool: {credits: 1, amount: 1}\n",
        )
        .unwrap();
        assert!(
            OpenAiRates::load(&p, "r.yaml")
                .unwrap_err()
                .to_string()
                .contains("exactly one of")
        );
    }
}
