//! What statements and pages show of the ledger: formatted lines, balances,
//! fund shares, and warnings about allocations running out or ending.

use super::{AllocationState, LineKind, Statement};
use crate::money::format;
use crate::period::Period;
use rust_decimal::Decimal;
use serde::Serialize;

/// Warn when this share of an allocation is used, and this many days before its end.
pub const USED_WARNING_PERCENT: i64 = 80;
pub const END_WARNING_DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize)]
pub struct ViewLine {
    pub kind: LineKind,
    pub label: String,
    pub detail: String,
    /// Signed for reading: `− $100.00` for credits, `+ $8.50` for surcharges.
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewShare {
    pub fund: String,
    pub percent: String,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementLedger {
    pub usage: String,
    pub lines: Vec<ViewLine>,
    pub credits: String,
    pub surcharges: String,
    pub due: String,
    /// Shown when the due is split across more than one fund.
    pub split: Vec<ViewShare>,
}

pub fn statement(s: &Statement) -> StatementLedger {
    let c = &s.currency;
    let lines = s
        .lines
        .iter()
        .map(|l| {
            let (label, detail, sign) = match l.kind {
                LineKind::CreditProgram => (
                    format!("Credit: {}", l.name),
                    format!(
                        "paid by {}; {} remains for you under this program",
                        l.fund,
                        format(l.remaining.unwrap_or_default(), c)
                    ),
                    "−",
                ),
                LineKind::Allocation => (
                    format!(
                        "{} allocation {}",
                        match l.allocation {
                            Some(super::terms::AllocationKind::Prepaid) => "Prepaid",
                            _ => "Credit",
                        },
                        l.name
                    ),
                    format!(
                        "opening balance {}, drawn {}, closing balance {}",
                        format(l.opening.unwrap_or_default(), c),
                        format(l.amount, c),
                        format(l.closing.unwrap_or_default(), c)
                    ),
                    "−",
                ),
                LineKind::Surcharge => (
                    format!("Surcharge: {}", l.name),
                    format!(
                        "{}% of {}, received by {}",
                        l.percent.unwrap_or_default().normalize(),
                        format(l.base.unwrap_or_default(), c),
                        l.fund
                    ),
                    "+",
                ),
            };
            ViewLine {
                kind: l.kind,
                label,
                detail,
                amount: format!("{sign} {}", format(l.amount, c)),
            }
        })
        .collect();
    StatementLedger {
        usage: format(s.usage, c),
        lines,
        credits: format(s.credits, c),
        surcharges: format(s.surcharges, c),
        due: format(s.due, c),
        split: if s.split.len() > 1 {
            s.split
                .iter()
                .map(|x| ViewShare {
                    fund: x.fund.clone(),
                    percent: format!("{}%", x.percent.normalize()),
                    amount: format(x.amount, c),
                })
                .collect()
        } else {
            vec![]
        },
    }
}

/// Warnings about an allocation at the end of `period`: 80 % used, used up,
/// or an end date within 30 days.
pub fn warnings(a: &AllocationState, period: Period) -> Vec<String> {
    let mut out = Vec::new();
    let c = &a.currency;
    let period_end = period.next().first_day();
    if a.start >= period_end || a.amount.is_zero() {
        return out;
    }
    if a.remaining <= Decimal::ZERO {
        out.push(format!(
            "Allocation {} ({}) is used up: all of {} has been drawn; further charges are due in full.",
            a.id, a.project, format(a.amount, c)
        ));
    } else if a.used * Decimal::ONE_HUNDRED >= a.amount * Decimal::from(USED_WARNING_PERCENT) {
        out.push(format!(
            "Allocation {} ({}) is {} used: {} of {} remains.",
            a.id,
            a.project,
            crate::money::percent(a.used, a.amount),
            format(a.remaining, c),
            format(a.amount, c)
        ));
    }
    let days = (a.end - period_end).num_days() + 1;
    if a.remaining > Decimal::ZERO && (0..=END_WARNING_DAYS).contains(&days) {
        out.push(format!(
            "Allocation {} ({}) ends on {}, in {days} days; its unused balance of {} will not be drawn after that.",
            a.id, a.project, a.end, format(a.remaining, c)
        ));
    }
    out
}

/// When the allocation runs out at the average draw of its last three
/// periods (`draws`, oldest first), or why it will not.
pub fn projection(a: &AllocationState, draws: &[(Period, Decimal)]) -> String {
    let Some(&(last, _)) = draws.last() else {
        return "no periods yet".into();
    };
    if a.remaining <= Decimal::ZERO {
        return "used up".into();
    }
    let recent: Vec<Decimal> = draws.iter().rev().take(3).map(|d| d.1).collect();
    let average: Decimal = recent.iter().sum::<Decimal>() / Decimal::from(recent.len());
    if average <= Decimal::ZERO {
        return "not drawn recently".into();
    }
    let months = (a.remaining / average).ceil();
    let mut at = last;
    let mut n = Decimal::ZERO;
    while n < months && at.first_day() <= a.end {
        at = at.next();
        n += Decimal::ONE;
    }
    if at.first_day() > a.end {
        format!(
            "lasts past its end ({}) at {} a month",
            a.end,
            format(average, &a.currency)
        )
    } else {
        format!(
            "{} at {} a month",
            at.long_name(),
            format(average, &a.currency)
        )
    }
}
