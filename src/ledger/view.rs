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
    pub has_credits: bool,
    pub has_surcharges: bool,
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
                        "paid by {}; {} {}",
                        l.fund,
                        format(l.remaining.unwrap_or_default(), c),
                        match l.program {
                            Some(super::terms::ProgramKind::MonthlyCap) => {
                                "remains this month (unused amounts do not carry over)"
                            }
                            _ => "remains for the rest of the first months",
                        }
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
        has_credits: !s.credits.is_zero(),
        has_surcharges: !s.surcharges.is_zero(),
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
    let last_day = period_end.pred_opt().unwrap_or(period_end);
    let days = (a.end - last_day).num_days();
    if a.remaining > Decimal::ZERO && (0..=END_WARNING_DAYS).contains(&days) {
        let when = match days {
            0 => "at the end of this period".to_string(),
            1 => "in 1 day".to_string(),
            n => format!("in {n} days"),
        };
        out.push(format!(
            "Allocation {} ({}) ends on {}, {when}; its unused balance of {} will not be drawn after that.",
            a.id,
            a.project,
            a.end,
            format(a.remaining, c)
        ));
    }
    out
}

/// When the allocation runs out at its average draw over the last three
/// calendar months up to the latest period (a month without a period draws
/// nothing; months before the allocation starts are not counted), or why
/// it will not. `draws` are (period, drawn) in order.
pub fn projection(a: &AllocationState, draws: &[(Period, Decimal)]) -> String {
    let Some(&(last, _)) = draws.last() else {
        return "no periods yet".into();
    };
    if a.remaining <= Decimal::ZERO {
        return "used up".into();
    }
    let mut month = last;
    let (mut sum, mut n) = (Decimal::ZERO, 0u32);
    for _ in 0..3 {
        if month.next().first_day() > a.start {
            sum += draws
                .iter()
                .find(|d| d.0 == month)
                .map_or(Decimal::ZERO, |d| d.1);
            n += 1;
        }
        month = month.prev();
    }
    let average = if n == 0 {
        Decimal::ZERO
    } else {
        sum / Decimal::from(n)
    };
    if average <= Decimal::ZERO {
        return "not drawn in the last three months".into();
    }
    let months = (a.remaining / average).ceil();
    let mut at = last;
    let mut k = Decimal::ZERO;
    while k < months && at.first_day() <= a.end {
        at = at.next();
        k += Decimal::ONE;
    }
    let rate = format(average, &a.currency);
    if at.first_day() > a.end {
        format!("lasts past its end ({}) at {rate} a month", a.end)
    } else {
        format!("{} at {rate} a month", at.long_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::terms::AllocationKind;

    fn state(amount: &str, used: &str, end: &str) -> AllocationState {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        AllocationState {
            project: "p".into(),
            id: "a".into(),
            kind: AllocationKind::Credit,
            currency: "USD".into(),
            amount: d(amount),
            start: "2025-01-01".parse().unwrap(),
            end: end.parse().unwrap(),
            drawn: Decimal::ZERO,
            used: d(used),
            remaining: d(amount) - d(used),
        }
    }

    #[test]
    fn warns_at_80_percent_used_and_30_days_before_the_end() {
        let dec: Period = "2025-12".parse().unwrap();
        let nov: Period = "2025-11".parse().unwrap();
        let w = warnings(&state("1000", "850", "2026-01-20"), dec);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("is 85.0% used: $150.00 of $1,000.00 remains"),
            "{w:?}"
        );
        assert!(w[1].contains("ends on 2026-01-20, in 20 days"), "{w:?}");
        assert!(warnings(&state("1000", "790", "2026-06-30"), nov).is_empty());
        let w = warnings(&state("1000", "1000", "2026-06-30"), nov);
        assert!(w[0].contains("is used up"), "{w:?}");
    }

    #[test]
    fn projects_exhaustion_from_the_last_three_calendar_months() {
        let p = |s: &str| s.parse::<Period>().unwrap();
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // Oct and Nov have no period: (0 + 0 + 300) / 3 = 100 a month; 250 left → 3 months.
        let draws = [(p("2025-01"), d("450")), (p("2025-12"), d("300"))];
        assert_eq!(
            projection(&state("1000", "750", "2026-12-31"), &draws),
            "March 2026 at $100.00 a month"
        );
        assert_eq!(
            projection(&state("1000", "750", "2026-01-31"), &draws),
            "lasts past its end (2026-01-31) at $100.00 a month"
        );
    }
}
