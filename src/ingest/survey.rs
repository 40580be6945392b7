//! A Parquet part checked column by column, for `ocb import`: each distinct
//! value of a column is turned into text and checked once, with the same
//! functions the row-by-row read uses, and rows are summed by month. The
//! survey answers only "every row is good, and here are the totals". On any
//! doubt it answers nothing, and the import reads the part row by row, which
//! finds and locates the problem (so messages never depend on this path).

use super::Totals;
use super::parquet::{column_text, date_of_days, datetime_text, decimal_text, read_frame};
use crate::charge::{FastMap, Interner};
use crate::focus::{self, Field};
use crate::load::{MAX_CELL, Table};
use crate::period::Period;
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::path::Path;

/// A good part's rows, by BillingPeriodStart month.
pub struct Survey {
    /// Rows and Σ BilledCost per currency of each month.
    pub months: BTreeMap<Period, Totals>,
    /// The first ProviderName, as the row-by-row read takes it.
    pub provider: Option<String>,
}

/// Code of a missing (null) cell.
const NULL: u32 = u32::MAX;

/// A column's cells coded by distinct value: `codes[row]` indexes `texts`.
struct Coded {
    codes: Vec<u32>,
    texts: Vec<String>,
}

/// A checked column: each distinct value parsed once; `None` where the cell
/// is empty or null. An absent column has no codes.
struct Values<T> {
    codes: Vec<u32>,
    values: Vec<Option<T>>,
}

impl<T> Values<T> {
    fn get(&self, row: usize) -> Option<&T> {
        let code = *self.codes.get(row)?;
        self.values.get(code as usize)?.as_ref()
    }

    /// The row's distinct-value code, `NULL` where the cell is empty.
    fn code(&self, row: usize) -> u32 {
        match self.codes.get(row) {
            Some(&c) if self.values.get(c as usize).is_some_and(Option::is_some) => c,
            _ => NULL,
        }
    }
}

/// Survey one part; `None` when any row would have a problem, or when the
/// part holds something this path does not judge.
pub fn survey(path: &Path, shown: &str, source: &str, currency: &str) -> Option<Survey> {
    let df = read_frame(path).ok()?;
    if df.height() == 0 {
        return None;
    }
    let names: csv::ByteRecord = df
        .get_column_names()
        .iter()
        .map(|n| n.as_str().as_bytes())
        .collect();
    let table = Table::new(&names, shown, source, currency, &mut Interner::default()).ok()?;
    let columns: Vec<&Series> = df
        .columns()
        .iter()
        .map(|c| c.as_materialized_series())
        .collect();
    let of = |f: Field| table.column(f).map(|i| columns[i]);
    // Every cell: at most MAX_CELL bytes of text and no NUL byte.
    if !columns.iter().all(|s| cells_fit(s)) {
        return None;
    }
    let month = values(of(Field::BillingPeriodStart), |t| {
        focus::parse_date(t).map(Period::of)
    })?;
    values(of(Field::ChargePeriodStart), focus::parse_date)?;
    let currencies = values(of(Field::BillingCurrency), |t| {
        let c = t.trim();
        if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(c.to_string())
        } else {
            Err(String::new())
        }
    })?;
    if let Some(tags) = of(Field::Tags)
        && !tags_parse(tags)
    {
        return None;
    }
    // As the import's splitter reads it: the first column named ProviderName
    // (or an alias), and its first non-empty value.
    let provider = match names
        .iter()
        .position(|n| focus::field(&String::from_utf8_lossy(n)) == Some(Field::ProviderName))
    {
        Some(i) => {
            let c = coded(columns[i])?;
            c.codes
                .iter()
                .find(|&&code| code != NULL && !focus::is_null(&c.texts[code as usize]))
                .map(|&code| c.texts[code as usize].trim().to_string())
        }
        None => None,
    };

    // Rows and billed per (month code, currency code); absolute sums per
    // month code for the precision limit (missing costs count as billed,
    // as in `precision::Checker`). Amounts are read a batch of rows at a time.
    let costs = [
        Field::BilledCost,
        Field::ListCost,
        Field::ContractedCost,
        Field::EffectiveCost,
        Field::ConsumedQuantity,
    ]
    .map(of);
    let mut cells: [Vec<Option<Decimal>>; 5] = Default::default();
    let mut memo = Memo::new();
    let mut sums = Sums::default();
    const BATCH: usize = 1 << 16;
    for start in (0..df.height()).step_by(BATCH) {
        let len = BATCH.min(df.height() - start);
        for (column, out) in costs.iter().zip(cells.iter_mut()) {
            out.clear();
            match column {
                Some(s) => amounts(&s.slice(start as i64, len), out, &mut memo)?,
                None => out.resize(len, None),
            }
        }
        let [billed, list, contracted, effective, quantity] = &cells;
        for i in 0..len {
            let row = start + i;
            let b = billed[i]?;
            month.get(row)?;
            let s = sums.of((month.code(row), currencies.code(row)));
            s.rows += 1;
            s.billed += b;
            let a = &mut s.abs;
            a[0] = a[0].saturating_add(b.abs());
            if let Some(v) = list[i] {
                a[1] = a[1].saturating_add(v.abs());
            }
            a[2] = a[2].saturating_add(contracted[i].unwrap_or(b).abs());
            a[3] = a[3].saturating_add(effective[i].unwrap_or(b).abs());
            if let Some(v) = quantity[i] {
                a[4] = a[4].saturating_add(v.abs());
            }
        }
    }
    let mut per_month: BTreeMap<Period, [Decimal; 5]> = BTreeMap::new();
    let mut months: BTreeMap<Period, Totals> = BTreeMap::new();
    for ((m, c), sum) in sums.keys.into_iter().zip(sums.sums) {
        let period = *month.values[m as usize].as_ref()?;
        let p = per_month.entry(period).or_default();
        for (t, v) in p.iter_mut().zip(sum.abs) {
            *t = t.saturating_add(v);
        }
        let currency = match currencies.values.get(c as usize) {
            Some(Some(c)) => c.clone(),
            _ => currency.to_string(),
        };
        let t = months.entry(period).or_default();
        t.rows += sum.rows;
        *t.billed.entry(currency).or_default() += sum.billed;
    }
    let limit = crate::precision::max_total();
    if per_month.values().flatten().any(|t| *t >= limit) {
        return None;
    }
    Some(Survey { months, provider })
}

/// Sums per (month code, currency code): rows, billed, and the absolute
/// values of each cost column. Rows come in long runs of one key.
#[derive(Default)]
struct Sums {
    keys: Vec<(u32, u32)>,
    sums: Vec<Sum>,
    index: FastMap<(u32, u32), usize>,
    last: usize,
}

#[derive(Default)]
struct Sum {
    rows: u64,
    billed: Decimal,
    abs: [Decimal; 5],
}

impl Sums {
    fn of(&mut self, key: (u32, u32)) -> &mut Sum {
        if self.keys.get(self.last) != Some(&key) {
            self.last = *self.index.entry(key).or_insert_with(|| {
                self.keys.push(key);
                self.sums.push(Sum::default());
                self.keys.len() - 1
            });
        }
        &mut self.sums[self.last]
    }
}

/// A batch of a cost column's cells as amounts, as `money::parse` and
/// `precision::fit` read their text; `None` if any cell does not read.
fn amounts(s: &Series, out: &mut Vec<Option<Decimal>>, memo: &mut Memo) -> Option<()> {
    let money = |t: &str| -> Option<Option<Decimal>> {
        if focus::is_null(t) {
            return Some(None);
        }
        let mut v = crate::money::parse(t).ok()?;
        crate::precision::fit(&mut v).ok()?;
        Some(Some(v))
    };
    match s.dtype() {
        // A finite double's text is its shortest round-trip decimal in plain
        // digits (never an exponent), which `money::parse` reads exactly as
        // `from_str_exact` does: the text is made without an allocation.
        DataType::Float64 => {
            for v in s.f64().ok()?.iter() {
                out.push(match v {
                    None => None,
                    Some(v) => Some(memo.f64(v)?),
                });
            }
        }
        DataType::Float32 => {
            for v in s.f32().ok()?.iter() {
                out.push(match v {
                    None => None,
                    Some(v) => Some(finite(v.is_finite(), |t| write!(t, "{v}"), &mut memo.text)?),
                });
            }
        }
        DataType::String => {
            for v in s.str().ok()?.iter() {
                out.push(money(v.unwrap_or(""))?);
            }
        }
        DataType::Null => out.resize(s.len(), None),
        dt if dt.is_nested() => return None,
        _ => {
            let t = column_text(s).ok()?;
            for i in 0..s.len() {
                out.push(money(t.get(i))?);
            }
        }
    }
    Some(())
}

/// Doubles read as amounts: the digits of their shortest round-trip
/// decimal, as the row-by-row read takes them from the double's Display text.
/// ryu finds them several times faster. Up to 15 significant digits only one
/// decimal of that length round-trips (doubles hold 15.9 digits), so ryu's
/// and Display's agree; beyond, they may pick different neighbours (found by
/// the test below), and the Display text is read instead.
struct Memo {
    ryu: ryu::Buffer,
    text: String,
}

impl Memo {
    fn new() -> Memo {
        Memo {
            ryu: ryu::Buffer::new(),
            text: String::new(),
        }
    }

    /// The amount `money::parse` and `precision::fit` make of the double's
    /// text, or `None` where they would refuse it or the period's sum of
    /// absolute values would (one value of 10^15 or more reaches the limit).
    fn f64(&mut self, v: f64) -> Option<Decimal> {
        if !v.is_finite() {
            return None;
        }
        match shortest(self.ryu.format_finite(v)) {
            Ok(d) => d,
            Err(Ambiguous) => finite(true, |t| write!(t, "{v}"), &mut self.text)
                .filter(|d| d.abs() < crate::precision::max_total()),
        }
    }
}

/// More than 15 significant digits: ryu's choice may not be Display's.
struct Ambiguous;

/// `[-]digits[.digits][e[-]exp]` (ryu's forms) as a decimal of at most
/// `MAX_SCALE` places and below 10^15 (`None` otherwise).
fn shortest(text: &str) -> Result<Option<Decimal>, Ambiguous> {
    Ok(shortest_within(text)?
        .and_then(|(signed, scale)| Decimal::try_from_i128_with_scale(signed, scale).ok()))
}

fn shortest_within(text: &str) -> Result<Option<(i128, u32)>, Ambiguous> {
    let Some((mantissa, exp)) = (match text.split_once('e') {
        Some((m, e)) => e.parse::<i32>().ok().map(|e| (m, e)),
        None => Some((text, 0)),
    }) else {
        return Err(Ambiguous);
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        if !b.is_ascii_digit() || digits >= 1 << 100 {
            return Err(Ambiguous);
        }
        digits = digits * 10 + u128::from(b - b'0');
    }
    let mut scale = frac.len() as i64 - i64::from(exp);
    while digits != 0 && digits.is_multiple_of(10) {
        digits /= 10;
        scale -= 1;
    }
    if digits >= 10u128.pow(15) {
        return Err(Ambiguous);
    }
    if digits == 0 {
        return Ok(Some((0, 0)));
    }
    // Below 10^15 (so at most 15 digits before the point) with at most MAX_SCALE after it.
    if scale < -15 || scale > i64::from(crate::precision::MAX_SCALE) {
        return Ok(None);
    }
    if scale < 0 {
        digits *= 10u128.pow(scale.unsigned_abs() as u32);
        scale = 0;
    }
    let scale = scale as u32;
    if digits >= 10u128.pow(15 + scale) {
        return Ok(None);
    }
    let signed = digits as i128;
    Ok(Some((if negative { -signed } else { signed }, scale)))
}

/// A finite float's amount from its text.
fn finite(
    is_finite: bool,
    write: impl FnOnce(&mut String) -> std::fmt::Result,
    text: &mut String,
) -> Option<Decimal> {
    if !is_finite {
        return None;
    }
    text.clear();
    write(text).ok()?;
    let mut v = Decimal::from_str_exact(text).ok()?;
    crate::precision::fit(&mut v).ok()?;
    Some(v)
}

/// A column checked value by value: `None` if any value does not parse.
fn values<T>(s: Option<&Series>, parse: impl Fn(&str) -> Result<T, String>) -> Option<Values<T>> {
    let Some(s) = s else {
        return Some(Values {
            codes: Vec::new(),
            values: Vec::new(),
        });
    };
    let c = coded(s)?;
    let mut values = Vec::with_capacity(c.texts.len());
    for t in &c.texts {
        values.push(if focus::is_null(t) {
            None
        } else {
            Some(parse(t).ok()?)
        });
    }
    Some(Values {
        codes: c.codes,
        values,
    })
}

/// A column coded by distinct value, each value's text as the row-by-row
/// read writes it (`parquet::column_text`). `None` for nested columns.
fn coded(s: &Series) -> Option<Coded> {
    Some(match s.dtype() {
        DataType::String => by_value(s.str().ok()?.iter(), str::to_string),
        DataType::Float64 => by_value(s.f64().ok()?.iter().map(|v| v.map(f64::to_bits)), |b| {
            f64::from_bits(b).to_string()
        }),
        DataType::Float32 => by_value(s.f32().ok()?.iter().map(|v| v.map(f32::to_bits)), |b| {
            f32::from_bits(b).to_string()
        }),
        DataType::Decimal(_, scale) => {
            let scale = *scale;
            by_value(s.decimal().ok()?.physical().iter(), |v| {
                decimal_text(v, scale)
            })
        }
        DataType::Date => by_value(s.date().ok()?.physical().iter(), |d| {
            date_of_days(d)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        }),
        DataType::Datetime(unit, tz) => {
            let (unit, utc) = (*unit, tz.is_some());
            by_value(s.datetime().ok()?.physical().iter(), |v| {
                datetime_text(v, unit, utc).unwrap_or_default()
            })
        }
        DataType::Null => Coded {
            codes: vec![NULL; s.len()],
            texts: Vec::new(),
        },
        dt if dt.is_nested() => return None,
        _ => {
            let text = s.cast(&DataType::String).ok()?;
            by_value(text.str().ok()?.iter(), str::to_string)
        }
    })
}

fn by_value<K: Hash + Eq + Copy>(
    cells: impl Iterator<Item = Option<K>>,
    text: impl Fn(K) -> String,
) -> Coded {
    let mut seen: FastMap<K, u32> = FastMap::default();
    let mut texts = Vec::new();
    let codes = cells
        .map(|v| match v {
            None => NULL,
            Some(k) => *seen.entry(k).or_insert_with(|| {
                texts.push(text(k));
                (texts.len() - 1) as u32
            }),
        })
        .collect();
    Coded { codes, texts }
}

/// Whether every cell's text is at most `MAX_CELL` bytes with no NUL byte
/// (numbers, dates and times are short and have none).
fn cells_fit(s: &Series) -> bool {
    match s.dtype() {
        DataType::String => s.str().is_ok_and(|ca| {
            ca.iter()
                .flatten()
                .all(|v| v.len() <= MAX_CELL && memchr::memchr(0, v.as_bytes()).is_none())
        }),
        dt if dt.is_primitive_numeric()
            || dt.is_temporal()
            || matches!(
                dt,
                DataType::Boolean | DataType::Null | DataType::Decimal(..)
            ) =>
        {
            true
        }
        dt if dt.is_nested() && map_fits(s).is_some() => map_fits(s) == Some(true),
        // Anything else as the row-by-row read writes it, exactly.
        _ => column_text(s).is_ok_and(|t| {
            (0..s.len()).all(|i| {
                let v = t.get(i);
                v.len() <= MAX_CELL && memchr::memchr(0, v.as_bytes()).is_none()
            })
        }),
    }
}

/// Tags that every row's read accepts: JSON objects of scalar values as
/// text, or a MAP of strings (always an object of strings).
fn tags_parse(s: &Series) -> bool {
    match s.dtype() {
        DataType::Null => true,
        dt if dt.is_nested() => {
            if map_fits(s).is_some() {
                return map_fits(s) == Some(true);
            }
            let Ok(t) = column_text(s) else {
                return false;
            };
            let mut seen: crate::charge::FastSet<&str> = Default::default();
            (0..s.len()).all(|i| {
                let v = t.get(i);
                !seen.insert(v) || focus::is_null(v) || focus::parse_tags(v).is_ok()
            })
        }
        _ => values(Some(s), focus::parse_tags).is_some(),
    }
}

/// For a MAP<string, string> column (a list of key/value structs): whether
/// every row's JSON object is at most `MAX_CELL` bytes, bounded from above by
/// its strings' lengths (JSON escapes a byte in at most 6). `None` for any
/// other type.
fn map_fits(s: &Series) -> Option<bool> {
    use polars_arrow::array::{StructArray, Utf8ViewArray};
    let DataType::List(inner) = s.dtype() else {
        return None;
    };
    let DataType::Struct(fields) = inner.as_ref() else {
        return None;
    };
    if fields.len() != 2
        || fields[0].name().as_str() != "key"
        || fields[1].name().as_str() != "value"
        || fields.iter().any(|f| f.dtype() != &DataType::String)
    {
        return None;
    }
    for list in s.list().ok()?.downcast_iter() {
        let entries = list.values().as_any().downcast_ref::<StructArray>()?;
        let strings = |i: usize| entries.values()[i].as_any().downcast_ref::<Utf8ViewArray>();
        let (keys, values) = (strings(0)?, strings(1)?);
        let sizes: Vec<u64> = keys
            .len_iter()
            .zip(values.len_iter())
            .map(|(k, v)| 6 * u64::from(k + v) + 16)
            .collect();
        for w in list.offsets().as_slice().windows(2) {
            let (a, b) = (usize::try_from(w[0]).ok()?, usize::try_from(w[1]).ok()?);
            let row: u64 = sizes.get(a..b)?.iter().sum::<u64>() + 2;
            if row > MAX_CELL as u64 {
                return Some(false);
            }
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the row-by-row read makes of a double: its Display text, parsed.
    fn by_text(v: f64) -> Option<Decimal> {
        let mut d = crate::money::parse(&v.to_string()).ok()?;
        crate::precision::fit(&mut d).ok()?;
        (d.abs() < Decimal::from(1_000_000_000_000_000u64)).then_some(d)
    }

    #[test]
    fn doubles_read_as_their_text_reads() {
        let mut memo = Memo::new();
        let mut check = |v: f64| {
            let fast = memo.f64(v);
            match by_text(v) {
                Some(d) => assert_eq!(
                    fast.map(|f| (f, f.scale())),
                    Some((d, d.normalize().scale())),
                    "{v}"
                ),
                None => assert_eq!(fast, None, "{v}"),
            }
        };
        for v in [
            0.0,
            -0.0,
            0.1,
            0.2,
            0.1 + 0.2,
            1e-7,
            1e-12,
            1.5e-12,
            1e-13,
            12.345,
            100.0,
            1e14,
            999_999_999_999_999.9,
            1e15,
            1e16,
            1e22,
            1e300,
            5e-324,
            f64::MAX,
            -2.5,
            0.30000000000000004,
            123456.789012,
            7.0e-5,
        ] {
            check(v);
        }
        // Money-like values and raw bit patterns, deterministically spread.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check((x % 100_000_000) as f64 / 10f64.powi((i % 13) as i32));
            check((x % 1_000_000_007) as f64 * 0.000_001);
            check(f64::from_bits(x) % 1e9);
        }
        check(f64::NAN);
        check(f64::INFINITY);
    }
}
