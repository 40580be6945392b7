//! The precision ocb supports for amounts and quantities, checked cell by
//! cell after loading: beyond it a located problem, never a silent rounding
//! and never an unlocated overflow later in the rollup (docs/RELIABILITY.md).

use crate::charge::Charge;
use crate::problem::Problem;
use rust_decimal::Decimal;

/// Digits after the decimal point a cost or quantity may have (a millionth
/// of a millionth: far below any provider's price steps).
pub const MAX_SCALE: u32 = 12;

/// Exclusive bound on a period's sum of absolute values, per column. With
/// `MAX_SCALE` this keeps every rollup sum within 27 digits, inside the
/// 28–29 digits that `rust_decimal` holds exactly.
pub fn max_total() -> Decimal {
    Decimal::from(1_000_000_000_000_000u64)
}

/// The cells of a charge that are summed, with the FOCUS column each came from.
fn cells(c: &mut Charge) -> [(&'static str, Option<&mut Decimal>); 5] {
    let list = c.has_list.then_some(&mut c.list);
    [
        ("BilledCost", Some(&mut c.billed)),
        ("ListCost", list),
        ("ContractedCost", Some(&mut c.contracted)),
        ("EffectiveCost", Some(&mut c.effective)),
        ("ConsumedQuantity", c.consumed_quantity.as_mut()),
    ]
}

/// Check every summed cell of a period (or a file): at most `MAX_SCALE`
/// decimals, and column totals below `max_total()`. Trailing zeros beyond
/// the scale are dropped (the value is unchanged). One problem per row.
pub fn check(charges: &mut [Charge]) -> Vec<Problem> {
    // Each row's cells are fitted on every core, with each part's column
    // totals. Only when a total reaches the limit is the period checked again
    // row by row, to find the row where it does (fitting is idempotent).
    use rayon::prelude::*;
    let parts: Vec<(Vec<Problem>, [i128; 5])> = charges
        .par_chunks_mut(1 << 16)
        .map(|part| {
            let mut totals = [0i128; 5];
            let problems = part
                .iter_mut()
                .filter_map(|c| fitted(c, &mut totals))
                .collect();
            (problems, totals)
        })
        .collect();
    let mut totals = [0i128; 5];
    for (_, t) in &parts {
        for (sum, part) in totals.iter_mut().zip(t) {
            *sum = sum.saturating_add(*part);
        }
    }
    if totals.iter().any(|&t| t >= LIMIT) {
        let mut checker = Checker::default();
        return charges.iter_mut().filter_map(|c| checker.row(c)).collect();
    }
    parts.into_iter().flat_map(|(p, _)| p).collect()
}

/// A row's cells fitted and added to `totals` up to its first that does
/// not fit: that cell's problem. What `Checker::row` does but for the
/// totals' limit, which the caller checks.
fn fitted(c: &mut Charge, totals: &mut [i128; 5]) -> Option<Problem> {
    let mut found = None;
    for (i, (column, cell)) in cells(c).into_iter().enumerate() {
        let Some(value) = cell else { continue };
        if let Err(message) = fit(value) {
            found = Some((column, message));
            break;
        }
        totals[i] = totals[i].saturating_add(units(value));
    }
    let (column, message) = found?;
    Some(Problem::cell(c.file.as_ref(), c.line, column, message))
}

/// A fitted value's absolute size in units of 10^-`MAX_SCALE`.
fn units(value: &Decimal) -> i128 {
    value
        .mantissa()
        .saturating_abs()
        .saturating_mul(10i128.pow(MAX_SCALE - value.scale()))
}

/// The same check row by row, for `ocb import`, which streams a delivery
/// into months without keeping its charges: one checker per month.
#[derive(Default)]
pub struct Checker {
    /// Sums of absolute values in units of 10^-`MAX_SCALE` (exact: every
    /// value that fits has at most `MAX_SCALE` decimals).
    totals: [i128; 5],
    over: [bool; 5],
}

/// `max_total()` in units of 10^-`MAX_SCALE`.
const LIMIT: i128 = 10i128.pow(15 + MAX_SCALE);

impl Checker {
    /// The row's problem, if any (the first cell out of range).
    pub fn row(&mut self, c: &mut Charge) -> Option<Problem> {
        let (column, message) = self.cells(c)?;
        Some(Problem::cell(c.file.as_ref(), c.line, column, message))
    }

    fn cells(&mut self, c: &mut Charge) -> Option<(&'static str, String)> {
        cells(c)
            .into_iter()
            .enumerate()
            .find_map(|(i, (column, cell))| {
                let message = self.value(i, column, cell?)?;
                Some((column, message))
            })
    }

    /// Fit the `i`th summed cell of a row and add it to its column's total;
    /// what is wrong with it, if anything.
    fn value(&mut self, i: usize, column: &str, value: &mut Decimal) -> Option<String> {
        if let Err(message) = fit(value) {
            return Some(message);
        }
        self.totals[i] = self.totals[i].saturating_add(units(value));
        if self.totals[i] >= LIMIT && !self.over[i] {
            self.over[i] = true;
            return Some(format!(
                "the period's {column} values add up to {} or more here (absolute values); ocb supports totals below 10^15 per period",
                max_total()
            ));
        }
        None
    }
}

/// Bring a value to at most `MAX_SCALE` decimals without changing it, or say why not.
pub fn fit(value: &mut Decimal) -> Result<(), String> {
    if value.scale() <= MAX_SCALE {
        return Ok(());
    }
    let exact = value.normalize();
    if exact.scale() <= MAX_SCALE {
        *value = exact;
        return Ok(());
    }
    Err(format!(
        "`{value}` has {} digits after the decimal point; ocb supports at most {MAX_SCALE} and never rounds silently: round it in the export",
        exact.scale()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn more_than_twelve_decimals_is_refused_and_trailing_zeros_are_not() {
        let mut v = d("0.1234567890123456789012345678");
        let e = fit(&mut v).unwrap_err();
        assert!(e.starts_with("`0.1234567890123456789012345678` has 28 digits after the decimal point; ocb supports at most 12"), "{e}");
        let mut v = d("1.500000000000000000");
        fit(&mut v).unwrap();
        assert_eq!(v.to_string(), "1.5");
        let mut v = d("0.000000000001");
        fit(&mut v).unwrap();
        assert_eq!(v.scale(), 12);
    }

    #[test]
    fn a_period_checked_in_parts_finds_what_row_by_row_finds() {
        // Parts of 65,536 rows: a refused cell in the first and the last,
        // and, in a second file, a column whose total reaches the limit in
        // its third part.
        let dir = tempfile::tempdir().unwrap();
        let mut strings = crate::charge::Interner::default();
        let mut load = |name: &str, rows: usize, cell: &dyn Fn(usize) -> String| {
            let mut text = String::from("BillingPeriodStart,BilledCost,ListCost\n");
            for i in 0..rows {
                text.push_str(&format!("2025-01-01,{},1.5\n", cell(i)));
            }
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            crate::load::load_file(&path, name, "aws", "USD", &mut strings).charges
        };
        let mut fine = load("a.csv", 150_000, &|i| match i {
            7 | 149_000 => "0.1234567890123".to_string(),
            _ => "1.500000000000000".to_string(),
        });
        let row_by_row = |charges: &[Charge]| {
            let mut copy = charges.to_vec();
            let mut checker = Checker::default();
            let found: Vec<String> = copy
                .iter_mut()
                .filter_map(|c| checker.row(c))
                .map(|p| p.to_string())
                .collect();
            (found, copy)
        };
        let (expected, fitted) = row_by_row(&fine);
        let found: Vec<String> = check(&mut fine).iter().map(ToString::to_string).collect();
        assert_eq!(found, expected);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[1].contains("a.csv:149002"), "{found:?}");
        assert!(
            fine.iter()
                .zip(&fitted)
                .all(|(a, b)| a.billed.scale() == b.billed.scale())
        );
        let mut large = load("b.csv", 200_000, &|_| "9000000000.25".to_string());
        let (expected, _) = row_by_row(&large);
        let found: Vec<String> = check(&mut large).iter().map(ToString::to_string).collect();
        assert_eq!(found, expected);
        // ContractedCost and EffectiveCost are BilledCost where absent: each
        // reaches the limit too, each reported on the next row.
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("b.csv:111113"), "{found:?}");
    }

    #[test]
    fn the_limit_in_units_is_the_largest_supported_sum() {
        assert_eq!(Decimal::from_i128_with_scale(LIMIT, MAX_SCALE), max_total());
        let mut checker = Checker::default();
        // Just below the limit, then a millionth of a millionth more; negative
        // amounts count by their absolute value; each column on its own.
        assert_eq!(
            checker.value(0, "BilledCost", &mut d("-999999999999999.999999999999")),
            None
        );
        assert_eq!(checker.value(1, "ListCost", &mut d("1.5")), None);
        let message = checker
            .value(0, "BilledCost", &mut d("0.000000000001"))
            .unwrap();
        assert!(
            message.starts_with(
                "the period's BilledCost values add up to 1000000000000000 or more here"
            ),
            "{message}"
        );
        // Said once per column.
        assert_eq!(checker.value(0, "BilledCost", &mut d("1")), None);
    }

    #[test]
    fn the_largest_supported_sum_fits_at_the_largest_scale() {
        // What the rollup does: every value as an integer count of 10^-12.
        let top = max_total() * Decimal::from(1_000_000_000_000u64);
        assert!(Decimal::try_from_i128_with_scale(top.mantissa(), MAX_SCALE).is_ok());
    }
}
