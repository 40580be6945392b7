//! The terms of money that carries across months, as configured: fund splits
//! and allocations (projects.yaml), credit programs and surcharges (ocb.yaml),
//! and the checks that locate what is wrong at its line and column.

use super::locate::{Step, problem};
use crate::problem::Problem;
use crate::projects::Project;
use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;

/// An amount of money or a percentage: a decimal of zero or more, checked
/// while parsing so that `-5` or `lots` is reported at its own line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        struct V;
        fn ok<E: serde::de::Error>(v: Decimal) -> Result<Amount, E> {
            if v.is_sign_negative() && !v.is_zero() {
                return Err(E::custom(format!("{v} is negative: expected 0 or more")));
            }
            Ok(Amount(v))
        }
        impl serde::de::Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of 0 or more, such as 1000 or 8.5")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                ok(Decimal::from(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                ok(Decimal::from(v))
            }
            /// Through the float's shortest text, so `99.99` is exactly 99.99.
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Amount, E> {
                let d = v
                    .to_string()
                    .parse()
                    .map_err(|_| E::custom(format!("{v} is out of range")))?;
                ok(d)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                ok(crate::money::parse(v).map_err(E::custom)?)
            }
        }
        d.deserialize_any(V)
    }
}

/// One fund's share of a project's statements.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FundShare {
    pub fund_org: String,
    pub percent: Amount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationKind {
    /// Someone else pays (a provider's research credits, a dean's award).
    Credit,
    /// The project paid up front; charges draw the balance down.
    Prepaid,
}

/// A balance that a project's charges draw down across periods.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    pub id: String,
    pub kind: AllocationKind,
    pub amount: Amount,
    /// The configured currency when absent.
    #[serde(default)]
    pub currency: Option<String>,
    pub start: NaiveDate,
    pub end: NaiveDate,
    #[serde(default)]
    pub sources: Vec<String>,
    /// Regexes on the service name.
    #[serde(default)]
    pub services: Vec<String>,
    /// Fund debited for what the allocation covers; the project's fund when absent.
    #[serde(default)]
    pub paid_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramKind {
    /// Up to `amount` in total over the holder's first `months` months.
    FirstMonths,
    /// Up to `amount` each month; unused amount does not carry over.
    MonthlyCap,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    #[default]
    Pi,
    Project,
}

/// A credit program of `ocb.yaml`, paid by `paid_by`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreditProgram {
    pub name: String,
    pub kind: ProgramKind,
    #[serde(default)]
    pub per: Per,
    pub amount: Amount,
    #[serde(default)]
    pub months: Option<u32>,
    #[serde(default)]
    pub exclude_services: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    pub paid_by: String,
}

/// A percentage added to what remains due, received by `paid_to`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Surcharge {
    pub name: String,
    pub percent: Amount,
    #[serde(default)]
    pub sources: Vec<String>,
    /// Regexes on the service name.
    #[serde(default)]
    pub services: Vec<String>,
    /// Regexes on the statement's fund/org.
    #[serde(default)]
    pub exempt_funds: Vec<String>,
    pub paid_to: String,
}

/// Check `projects.yaml`'s fund splits and allocations. `text` is the file.
pub fn check_projects(list: &[Project], text: &str, file: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let at = |rest: &[Step]| {
            let mut path = vec![Step::Index(i)];
            path.extend_from_slice(rest);
            path
        };
        if !p.funds.is_empty() {
            let sum: Decimal = p.funds.iter().map(|f| f.percent.0).sum();
            if sum != Decimal::ONE_HUNDRED {
                out.push(problem(
                    file,
                    text,
                    &at(&[Step::Key("funds")]),
                    format!(
                        "project `{}`: fund percentages sum to {}: expected exactly 100",
                        p.id,
                        sum.normalize()
                    ),
                ));
            }
            let mut seen = BTreeSet::new();
            for (k, f) in p.funds.iter().enumerate() {
                if !seen.insert(&f.fund_org) || f.fund_org.is_empty() {
                    out.push(problem(file, text, &at(&[Step::Key("funds"), Step::Index(k), Step::Key("fund_org")]), format!(
                        "project `{}`: fund `{}` is empty or listed twice: expected each fund once",
                        p.id, f.fund_org
                    )));
                }
            }
        }
        out.extend(check_allocations(p, text, file, &at));
    }
    out
}

fn check_allocations(
    p: &Project,
    text: &str,
    file: &str,
    at: &dyn Fn(&[Step]) -> Vec<Step>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let key =
        |j: usize, k: &'static str| at(&[Step::Key("allocations"), Step::Index(j), Step::Key(k)]);
    for (j, a) in p.allocations.iter().enumerate() {
        if a.end < a.start {
            out.push(problem(
                file,
                text,
                &key(j, "end"),
                format!(
                    "allocation `{}`: ends on {} before it starts on {}",
                    a.id, a.end, a.start
                ),
            ));
        }
        if let Some(c) = &a.currency
            && (c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            out.push(problem(
                file,
                text,
                &key(j, "currency"),
                format!(
                    "allocation `{}`: `{c}` is not an ISO 4217 code such as USD",
                    a.id
                ),
            ));
        }
        for (k, pattern) in a.services.iter().enumerate() {
            if let Err(e) = Regex::new(pattern) {
                let path = at(&[
                    Step::Key("allocations"),
                    Step::Index(j),
                    Step::Key("services"),
                    Step::Index(k),
                ]);
                out.push(problem(
                    file,
                    text,
                    &path,
                    format!("invalid regex `{pattern}`: {}", first_line(&e)),
                ));
            }
        }
        for (k, b) in p.allocations.iter().enumerate().take(j) {
            if b.id == a.id && b.start <= a.end && a.start <= b.end {
                let line = super::locate::locate(text, &key(k, "id")).map_or(0, |l| l.0);
                out.push(problem(file, text, &key(j, "id"), format!(
                    "allocation `{}` overlaps the allocation with the same id at line {line}: an id may repeat only for periods that do not overlap",
                    a.id
                )));
            }
        }
    }
    out
}

/// Each entry of `list` that is not a known source, located at `path(j)`.
fn unknown_sources(
    list: &[String],
    sources: &BTreeSet<String>,
    file: &str,
    text: &str,
    path: &dyn Fn(usize) -> Vec<Step>,
) -> Vec<Problem> {
    let known: Vec<&str> = sources.iter().map(String::as_str).collect();
    list.iter()
        .enumerate()
        .filter(|(_, s)| !sources.contains(*s))
        .map(|(j, s)| {
            problem(
                file,
                text,
                &path(j),
                format!(
                    "unknown source `{s}`: expected one of {}",
                    if known.is_empty() {
                        "the sources in periods/".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
        .collect()
}

/// Check `projects.yaml`'s allocations: the sources they cover must be known,
/// like those of ocb.yaml's credit programs (a misspelt source would draw
/// nothing, silently).
pub fn check_allocation_sources(
    projects: &crate::projects::Projects,
    text: &str,
    file: &str,
    sources: &BTreeSet<String>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, p) in projects.all().iter().enumerate() {
        for (j, a) in p.allocations.iter().enumerate() {
            out.extend(unknown_sources(&a.sources, sources, file, text, &|k| {
                vec![
                    Step::Index(i),
                    Step::Key("allocations"),
                    Step::Index(j),
                    Step::Key("sources"),
                    Step::Index(k),
                ]
            }));
        }
    }
    out
}

/// Check `ocb.yaml`'s credit programs and surcharges: sources must be known
/// (configured or found in `periods/`), regexes must compile.
pub fn check_config(
    config: &crate::config::Config,
    text: &str,
    file: &str,
    sources: &BTreeSet<String>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut source_list = |list: &[String], path: &dyn Fn(usize) -> Vec<Step>| {
        out.extend(unknown_sources(list, sources, file, text, path));
    };
    for (i, c) in config.credits.iter().enumerate() {
        source_list(&c.sources, &|j| {
            vec![
                Step::Key("credits"),
                Step::Index(i),
                Step::Key("sources"),
                Step::Index(j),
            ]
        });
    }
    for (i, s) in config.surcharges.iter().enumerate() {
        source_list(&s.sources, &|j| {
            vec![
                Step::Key("surcharges"),
                Step::Index(i),
                Step::Key("sources"),
                Step::Index(j),
            ]
        });
    }
    for (i, c) in config.credits.iter().enumerate() {
        let item = |k: &'static str| vec![Step::Key("credits"), Step::Index(i), Step::Key(k)];
        out.extend(regexes(
            &c.exclude_services,
            file,
            text,
            &item("exclude_services"),
        ));
        if c.kind == ProgramKind::FirstMonths && c.months.unwrap_or(0) == 0 {
            out.push(problem(file, text, &item("kind"), format!(
                "credit program `{}`: `first_months` needs `months`: the number of months (1 or more) it lasts",
                c.name
            )));
        }
    }
    for (i, s) in config.surcharges.iter().enumerate() {
        let item = |k: &'static str| vec![Step::Key("surcharges"), Step::Index(i), Step::Key(k)];
        out.extend(regexes(&s.services, file, text, &item("services")));
        out.extend(regexes(&s.exempt_funds, file, text, &item("exempt_funds")));
    }
    out
}

fn regexes(list: &[String], file: &str, text: &str, path: &[Step]) -> Vec<Problem> {
    let mut out = Vec::new();
    for (k, pattern) in list.iter().enumerate() {
        if let Err(e) = Regex::new(pattern) {
            let mut p = path.to_vec();
            p.push(Step::Index(k));
            out.push(problem(
                file,
                text,
                &p,
                format!("invalid regex `{pattern}`: {}", first_line(&e)),
            ));
        }
    }
    out
}

/// regex errors draw the pattern over several lines; a problem is one line.
fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string())
        .unwrap_or(text)
}

/// Compiled patterns; an invalid one was reported by the checks and matches nothing.
pub fn compile(list: &[String]) -> Vec<Regex> {
    list.iter().filter_map(|p| Regex::new(p).ok()).collect()
}
