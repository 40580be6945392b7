//! What closed books add to the pages: the correction sections of a
//! statement (row by row, against the statement they correct), the reissue
//! and superseded notes, and the notices of a closed period's page.

use crate::charge::Charge;
use crate::money::format;
use crate::period::Period;
use crate::pipeline::PeriodData;
use crate::site::StatementRef;
use minijinja::value::Serde;
use minijinja::{Value, context};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// Correction lines shown per corrected statement; the rest are summed.
pub const LINES_PER_SECTION: usize = 25;

/// What a statement shows beside its lines; a closed period's come from
/// period.yaml, so that they read as issued.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Shown {
    pub pi_name: String,
    pub department: String,
    pub project_name: String,
    pub previous: Option<Decimal>,
    pub warnings: Vec<String>,
}

impl Shown {
    pub fn or_recorded(self, data: &PeriodData, number: &str) -> Shown {
        if data.status != crate::close::Status::Closed {
            return self;
        }
        match data.file.statements.iter().find(|s| s.number == number) {
            Some(s) => Shown {
                pi_name: s.pi_name.clone(),
                department: s.department.clone(),
                project_name: s.project_name.clone(),
                previous: s.previous.as_deref().and_then(|p| p.parse().ok()),
                warnings: s.warnings.clone(),
            },
            None => self,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CorrectionLine {
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    pub source: String,
    pub service: String,
    pub resource: String,
    pub was: String,
    pub now: String,
    pub delta: String,
    pub negative: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorrectionSection {
    pub title: String,
    pub period: String,
    pub statement: String,
    pub lines: Vec<CorrectionLine>,
    /// Lines not shown, summed in `more_delta`.
    pub more: usize,
    pub more_delta: String,
    pub subtotal: String,
    pub negative: bool,
}

/// What identifies "the same row" across a re-delivery: all but amounts.
fn identity(c: &Charge) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{}\u{1f}{}",
        c.source,
        c.dims.service_name,
        c.dims.resource_id,
        c.dims.resource_name,
        c.dims.charge_category,
        c.charge_period_start,
        c.dims.sub_account_id,
        c.dims.description
    )
}

/// Sections "Corrections to <month> (statement <number>)", one per corrected
/// statement; a taken-back row and an added row of the same identity show as
/// one changed line.
pub fn sections(
    posted: &[&Charge],
    currency: &str,
    source_name: &dyn Fn(&str) -> String,
) -> Vec<CorrectionSection> {
    let mut groups: BTreeMap<(Period, String), Vec<&Charge>> = BTreeMap::new();
    for c in posted {
        if let Some(o) = c.origin.as_deref() {
            groups
                .entry((o.period, o.statement.clone()))
                .or_default()
                .push(c);
        }
    }
    groups
        .into_iter()
        .map(|((period, statement), list)| section(period, statement, &list, currency, source_name))
        .collect()
}

fn section(
    period: Period,
    statement: String,
    list: &[&Charge],
    currency: &str,
    source_name: &dyn Fn(&str) -> String,
) -> CorrectionSection {
    let removed: Vec<&Charge> = list.iter().copied().filter(|c| is_removed(c)).collect();
    let mut added: Vec<Option<&Charge>> = list
        .iter()
        .copied()
        .filter(|c| !is_removed(c))
        .map(Some)
        .collect();
    let mut lines: Vec<(Decimal, CorrectionLine)> = Vec::new();
    for r in removed {
        let id = identity(r);
        let pair = added
            .iter_mut()
            .find(|a| a.is_some_and(|a| identity(a) == id))
            .and_then(Option::take);
        lines.push(line(Some(r), pair, currency, source_name));
    }
    for a in added.into_iter().flatten() {
        lines.push(line(None, Some(a), currency, source_name));
    }
    let total: Decimal = lines.iter().map(|(d, _)| *d).sum();
    let more = lines.len().saturating_sub(LINES_PER_SECTION);
    let more_delta: Decimal = lines.iter().skip(LINES_PER_SECTION).map(|(d, _)| *d).sum();
    let title = if statement.is_empty() {
        format!(
            "Corrections to {} (no statement was issued for this project)",
            period.long_name()
        )
    } else {
        format!(
            "Corrections to {} (statement {statement})",
            period.long_name()
        )
    };
    CorrectionSection {
        title,
        period: period.to_string(),
        statement,
        lines: lines
            .into_iter()
            .take(LINES_PER_SECTION)
            .map(|(_, l)| l)
            .collect(),
        more,
        more_delta: signed(more_delta, currency),
        subtotal: signed(total, currency),
        negative: total.is_sign_negative() && !total.is_zero(),
    }
}

fn is_removed(c: &Charge) -> bool {
    c.origin.as_deref().is_some_and(|o| o.removed)
}

fn signed(d: Decimal, currency: &str) -> String {
    if d > Decimal::ZERO {
        format!("+{}", format(d, currency))
    } else {
        format(d, currency)
    }
}

fn line(
    removed: Option<&Charge>,
    added: Option<&Charge>,
    currency: &str,
    source_name: &dyn Fn(&str) -> String,
) -> (Decimal, CorrectionLine) {
    let any = removed.or(added).expect("a correction line has a row");
    let was = removed.map(|r| -r.billed);
    let now = added.map(|a| a.billed);
    let delta = now.unwrap_or_default() - was.unwrap_or_default();
    let own_row = added.is_some_and(|a| a.origin.as_deref().is_some_and(|o| o.target.is_empty()));
    let change = match (removed, added) {
        (Some(_), Some(_)) => "changed",
        (Some(_), None) => "removed",
        // A row of this period's own inputs that belongs to the closed month.
        (None, Some(a)) if own_row && a.is_correction() => "correction",
        (None, Some(_)) if own_row => "late row",
        _ => "added",
    };
    let resource = if any.dims.resource_id.is_empty() {
        any.dims.resource_name.to_string()
    } else {
        any.dims.resource_id.to_string()
    };
    let money = |d: Option<Decimal>| d.map(|d| format(d, currency)).unwrap_or_else(|| "—".into());
    (
        delta,
        CorrectionLine {
            change,
            source: source_name(&any.source),
            service: crate::view::display(&any.dims.service_name, "(no service name)"),
            resource,
            was: money(was),
            now: money(now),
            delta: signed(delta, currency),
            negative: delta.is_sign_negative() && !delta.is_zero(),
        },
    )
}

/// The statement's extra context: its correction sections and what it replaces.
pub fn statement_extra(
    data: &PeriodData,
    stmt: &StatementRef,
    posted: &[&Charge],
    source_name: &dyn Fn(&str) -> String,
) -> Value {
    let replaced_on = stmt.replaces.as_ref().and_then(|_| {
        data.file
            .history
            .iter()
            .rev()
            .find(|e| e.action == "reopened")
            .map(|e| {
                (
                    e.date.get(..10).unwrap_or(&e.date).to_string(),
                    e.reason.clone().unwrap_or_default(),
                )
            })
    });
    context! {
        corrections => Serde(sections(posted, &stmt.currency, source_name)),
        replaces => &stmt.replaces,
        replaces_href => stmt.replaces.as_ref().map(|n| format!("{}superseded/{}.html", up(&stmt.html), crate::slug::slugify(n))),
        reissued_on => replaced_on.as_ref().map(|r| r.0.clone()),
        reissue_reason => replaced_on.map(|r| r.1),
        superseded_by => Value::from(()),
    }
}

/// `../` from a statement's folder to its period folder.
fn up(html: &str) -> String {
    "../".repeat(html.matches('/').count().saturating_sub(1))
}

/// The closed-books notices of a period page.
pub fn period_extra(
    data: &PeriodData,
    audit: Option<&crate::audit::Audit>,
    describe: String,
    superseded: &[StatementRef],
) -> Value {
    let held: BTreeMap<String, (usize, Decimal)> =
        data.held_now.iter().fold(BTreeMap::new(), |mut m, c| {
            let e = m
                .entry(c.currency.to_string())
                .or_insert((0, Decimal::ZERO));
            e.0 += 1;
            e.1 += c.billed;
            m
        });
    let file = &data.file;
    context! {
        corrected_in => data.corrected_in.iter().map(|p| context! { period => p.to_string(), name => p.long_name() }).collect::<Vec<_>>(),
        held_now => held.iter().map(|(cur, (n, t))| context! { count => n, total => format(*t, cur) }).collect::<Vec<_>>(),
        closed_on => &file.closed_on,
        closed_by => &file.closed_by,
        history => file.history.iter().map(|e| context! { action => &e.action, date => &e.date, by => &e.by, reason => &e.reason }).collect::<Vec<_>>(),
        superseded => superseded.iter().map(|s| {
            let by = data.superseded.iter().find(|x| x.issued.number == s.number).and_then(|x| x.issued.superseded_by.clone());
            context! { number => &s.number, pi => &s.pi, project => &s.project, html => s.html.split_once('/').map(|x| x.1).unwrap_or(""), pdf => s.pdf.split_once('/').map(|x| x.1).unwrap_or(""), superseded_by => by, amounts => Serde(crate::view::Amounts::new(&s.sums, &s.currency)) }
        }).collect::<Vec<_>>(),
        audit => audit.map(|a| context! { version => &a.ocb_version, repository => describe, commit => &a.repository.commit, dirty => a.repository.dirty, inputs => a.inputs.iter().map(|(k, v)| context! { name => k, sha256 => v }).collect::<Vec<_>>() }),
    }
}
