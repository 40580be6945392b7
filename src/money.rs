//! Money: exact parsing of cost cells, display with the currency, and rounding
//! to the cent with the remainder allocated so totals reconcile exactly.

use rust_decimal::{Decimal, RoundingStrategy};

/// Parse a cost cell exactly. Plain decimals and E-notation are accepted;
/// currency symbols, thousands separators and decimal commas are refused with
/// a message saying so, because guessing would change amounts silently.
pub fn parse(cell: &str) -> Result<Decimal, String> {
    let s = crate::focus::trim(cell);
    if let Some(d) = plain_decimal(s) {
        return Ok(d);
    }
    if s.is_empty() {
        return Err("empty value: expected a decimal number such as 12.50".into());
    }
    if s.starts_with(['$', '€', '£', '¥']) || s.ends_with(['$', '€', '£', '¥']) {
        return Err(format!(
            "`{s}` has a currency symbol: write the plain number (e.g. 10.00) and put the currency in BillingCurrency"
        ));
    }
    if s.contains(',') {
        return Err(
            if s.matches(',').count() == 1
                && !s.contains('.')
                && s.split(',').nth(1).is_some_and(|d| d.len() != 3)
            {
                format!(
                    "`{s}` uses a decimal comma: expected a point, e.g. {}",
                    s.replace(',', ".")
                )
            } else {
                format!(
                    "`{s}` has a thousands separator or comma: expected a plain number such as 1000.00"
                )
            },
        );
    }
    let lower = s.to_ascii_lowercase();
    if [
        "nan",
        "+nan",
        "-nan",
        "inf",
        "+inf",
        "-inf",
        "infinity",
        "-infinity",
    ]
    .contains(&lower.as_str())
    {
        return Err(format!("`{s}` is not a number: expected a finite decimal"));
    }
    let valid_chars = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !valid_chars {
        return Err(format!(
            "`{}` is not a decimal number",
            crate::problem::shown(s).trim_matches('`')
        ));
    }
    if lower.contains('e') {
        return Decimal::from_scientific(s).map_err(|_| {
            format!("`{s}` is out of range: amounts must have at most 28 significant digits")
        });
    }
    Decimal::from_str_exact(s).map_err(|e| match e {
        rust_decimal::Error::Underflow => format!("`{s}` has more than 28 decimal places"),
        rust_decimal::Error::ExceedsMaximumPossibleValue
        | rust_decimal::Error::LessThanMinimumPossibleValue => {
            format!("`{s}` is out of range: amounts must have at most 28 significant digits")
        }
        _ => format!("`{s}` is not a decimal number"),
    })
}

/// A plain decimal (an optional `-`, digits, then `.` and digits; at most
/// 18 digits): nearly every cost cell, read without the general parser, to
/// the same value and scale. Anything else is left to `parse`.
fn plain_decimal(s: &str) -> Option<Decimal> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    if !digits.first()?.is_ascii_digit() || digits.len() > 19 {
        return None;
    }
    let (mut mantissa, mut scale, mut point) = (0i64, 0u32, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i64::from(c - b'0');
                scale += u32::from(point);
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    // At most 18 digits fit an i64; `1.` and `-0` are the parser's to judge.
    if digits.len() - usize::from(point) > 18
        || (point && scale == 0)
        || (negative && mantissa == 0)
    {
        return None;
    }
    Some(Decimal::new(
        if negative { -mantissa } else { mantissa },
        scale,
    ))
}

/// Round to the currency's minor unit, half away from zero (what accountants expect).
pub fn round(amount: Decimal, currency: &str) -> Decimal {
    amount.round_dp_with_strategy(
        minor_units(currency),
        RoundingStrategy::MidpointAwayFromZero,
    )
}

/// Digits after the point for an ISO 4217 code.
pub fn minor_units(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XAF" | "XOF" | "UGX" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
        _ => 2,
    }
}

fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CAD" => "CA$",
        "AUD" => "A$",
        "CHF" => "CHF ",
        "INR" => "₹",
        "CNY" => "CN¥",
        _ => return None,
    })
}

/// `$1,234.50`, `-$12.00`, `1,234.50 NOK`: rounded to the minor unit, with separators.
pub fn format(amount: Decimal, currency: &str) -> String {
    let mut out = String::new();
    format_into(&mut out, amount, currency);
    out
}

/// `format`, appended to `out`. A million rows of the charge browser are
/// formatted without an allocation each.
pub fn format_into(out: &mut String, amount: Decimal, currency: &str) {
    let dp = minor_units(currency);
    // Most amounts round in 64-bit integers, without `Decimal`'s rounding
    // and rescaling (a sixth of the charge browser's time): the same text.
    let Some((negative, units)) = rounded_units(amount, dp) else {
        return format_exact_into(out, amount, currency);
    };
    if negative {
        out.push('-');
    }
    let sym = symbol(currency);
    if let Some(sym) = sym {
        out.push_str(sym);
    }
    let (digits, start) = u64_digits(units);
    grouped_into(out, &digits, start, dp as usize, dp > 0);
    if sym.is_none() {
        out.push(' ');
        out.push_str(currency);
    }
}

/// `amount` rounded half away from zero to `dp` decimals, as whether it
/// is below zero and how many 10^-dp its size is; None when that takes
/// more than 64 bits.
fn rounded_units(amount: Decimal, dp: u32) -> Option<(bool, u64)> {
    let m = amount.mantissa();
    let size = u64::try_from(m.unsigned_abs()).ok()?;
    let scale = amount.scale();
    let units = if scale >= dp {
        let unit = 10u64.checked_pow(scale - dp)?;
        let (whole, rest) = (size / unit, size % unit);
        // Half or more of a unit rounds away from zero.
        whole + u64::from(rest >= unit - rest)
    } else {
        size.checked_mul(10u64.checked_pow(dp - scale)?)?
    };
    Some((m < 0 && units != 0, units))
}

/// `format_into` by `Decimal`'s own rounding: amounts of more than 64 bits.
fn format_exact_into(out: &mut String, amount: Decimal, currency: &str) {
    let rounded = round(amount, currency);
    if rounded.is_sign_negative() && !rounded.is_zero() {
        out.push('-');
    }
    let sym = symbol(currency);
    if let Some(sym) = sym {
        out.push_str(sym);
    }
    digits_into(out, rounded.abs(), minor_units(currency));
    if sym.is_none() {
        out.push(' ');
        out.push_str(currency);
    }
}

/// Append `n` in decimal: a line number on each of a million rows, the
/// codes of the charge browser's cells (nine a row).
pub fn integer_into(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Append `d` as its `Display` writes it (every digit of its scale kept,
/// `-` for a negative sign), without the formatter: a million rows' amounts.
pub fn decimal_into(out: &mut String, d: Decimal) {
    let (negative, digits, whole, fraction) = decimal_parts(d);
    let text = |r: std::ops::Range<usize>| std::str::from_utf8(&digits[r]).unwrap_or_default();
    if negative {
        out.push('-');
    }
    out.push_str(text(whole));
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(text(fraction));
    }
}

/// `decimal_into`, appended to bytes (charges.csv's rows: four amounts a row).
pub fn decimal_bytes_into(out: &mut Vec<u8>, d: Decimal) {
    let (negative, digits, whole, fraction) = decimal_parts(d);
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[whole]);
    if !fraction.is_empty() {
        out.push(b'.');
        out.extend_from_slice(&digits[fraction]);
    }
}

/// What `Display` writes for `d`, in parts: its sign, then its digits with
/// where the whole part lies in them (`0` when it has none) and where the
/// fraction lies (empty at scale 0).
fn decimal_parts(
    d: Decimal,
) -> (
    bool,
    [u8; 40],
    std::ops::Range<usize>,
    std::ops::Range<usize>,
) {
    let (digits, start) = mantissa_digits(d);
    let scale = d.scale() as usize;
    // Zeros before the digits, up to the scale (0.05 is 5 at scale 2).
    let whole = digits.len() - scale;
    let start = start.min(whole);
    // Without whole digits, the zero before the fraction: the digits are
    // zeros before `start` (and the scale is at most 28).
    let whole_part = if start == whole {
        whole - 1..whole
    } else {
        start..whole
    };
    (
        d.is_sign_negative(),
        digits,
        whole_part,
        whole..digits.len(),
    )
}

pub fn format_whole(amount: Decimal, currency: &str) -> String {
    let text = format(amount.round(), currency);
    match text.find('.') {
        Some(i) if minor_units(currency) > 0 => {
            let end = i + 1 + minor_units(currency) as usize;
            format!("{}{}", &text[..i], &text[end.min(text.len())..])
        }
        _ => text,
    }
}

/// The decimal digits of `d`'s mantissa (without its sign), right-aligned,
/// and where they start: zeros before it.
fn mantissa_digits(d: Decimal) -> ([u8; 40], usize) {
    let m = d.mantissa().unsigned_abs();
    let mut digits = [b'0'; 40];
    let mut start = digits.len();
    // Most amounts fit 64 bits, whose division is a machine instruction.
    match u64::try_from(m) {
        Ok(m) => return u64_digits(m),
        Err(_) => {
            let mut m = m;
            while m > 0 {
                start -= 1;
                digits[start] = b'0' + (m % 10) as u8;
                m /= 10;
            }
        }
    }
    (digits, start)
}

/// `mantissa_digits` of a 64-bit integer.
fn u64_digits(mut m: u64) -> ([u8; 40], usize) {
    let mut digits = [b'0'; 40];
    let mut start = digits.len();
    while m > 0 {
        start -= 1;
        digits[start] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    (digits, start)
}

/// A non-negative amount with thousands separators and exactly `dp` decimals.
fn plain(amount: Decimal, dp: u32) -> String {
    let mut out = String::new();
    digits_into(&mut out, amount, dp);
    out
}

/// `plain`, appended to `out`: the digits `Display` writes for the amount
/// at `dp` decimals, read from its mantissa, with separators.
fn digits_into(out: &mut String, amount: Decimal, dp: u32) {
    let mut fixed = amount;
    fixed.rescale(dp);
    let (digits, start) = mantissa_digits(fixed);
    grouped_into(out, &digits, start, fixed.scale() as usize, dp > 0);
}

/// Right-aligned digits (`mantissa_digits`) with `scale` of them after the
/// point, written with thousands separators (the point when asked for,
/// even with no digits after it: `Decimal` could not reach the scale).
fn grouped_into(out: &mut String, digits: &[u8; 40], start: usize, scale: usize, point: bool) {
    // At least one digit before the point (0.05 is 5 at scale 2).
    let whole = digits.len() - scale;
    let start = start.min(whole - 1);
    for (i, &c) in digits[start..whole].iter().enumerate() {
        if i > 0 && (whole - start - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(char::from(c));
    }
    if point {
        out.push('.');
        out.extend(digits[whole..].iter().map(|&c| char::from(c)));
    }
}

/// A quantity for display: up to 2 decimals, separators, no trailing zeros.
pub fn quantity(q: Decimal) -> String {
    let r = q
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    let dp = r.scale();
    let sign = if r.is_sign_negative() && !r.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{}", plain(r.abs(), dp))
}

/// Percentage with one decimal: `12.5%`; empty when the base is zero.
pub fn percent(part: Decimal, whole: Decimal) -> String {
    if whole.is_zero() {
        return String::new();
    }
    let p = (part * Decimal::ONE_HUNDRED / whole)
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    format!("{p:.1}%")
}

/// Round each amount to the minor unit so that the rounded amounts add up to
/// the rounded total exactly (largest remainder method, ties by position).
pub fn allocate(amounts: &[Decimal], currency: &str) -> Vec<Decimal> {
    let dp = minor_units(currency);
    let unit = Decimal::new(1, dp);
    let total = round(amounts.iter().sum(), currency);
    let floors: Vec<Decimal> = amounts
        .iter()
        .map(|a| a.round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity))
        .collect();
    let floor_sum: Decimal = floors.iter().sum();
    let mut missing = ((total - floor_sum) / unit)
        .round()
        .to_string()
        .parse::<usize>()
        .unwrap_or(0);
    let mut order: Vec<usize> = (0..amounts.len()).collect();
    // Stable sort: equal remainders keep their order, so the result is deterministic.
    order.sort_by(|&a, &b| (amounts[b] - floors[b]).cmp(&(amounts[a] - floors[a])));
    let mut out = floors;
    for i in order {
        if missing == 0 {
            break;
        }
        out[i] += unit;
        missing -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_rounded_in_integers_read_as_decimal_rounds_them() {
        use rust_decimal::Decimal;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut amounts: Vec<Decimal> = [
            "0",
            "-0",
            "0.004",
            "0.005",
            "-0.005",
            "0.015",
            "-0.0049999",
            "2.675",
            "999.995",
            "-999.995",
            "1234567.125",
            "0.5",
            "1.5",
            "-2.5",
            "0.0005",
            "12",
            "-7",
            "18446744073709551615",
            "18446744073709551616",
            "-18446744073709551615",
            "184467440737095516.15",
            "1844674407370955161.5",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        for _ in 0..20_000 {
            let r = next();
            let mantissa = (next() >> (r % 64)) as i64;
            let amount = Decimal::new(
                if r & 1 == 1 { -mantissa } else { mantissa },
                (r >> 8) as u32 % 13,
            );
            amounts.push(amount);
        }
        for amount in amounts {
            for currency in ["USD", "JPY", "KWD", "CHF", "XYZ"] {
                let mut fast = String::new();
                super::format_into(&mut fast, amount, currency);
                let mut exact = String::new();
                super::format_exact_into(&mut exact, amount, currency);
                assert_eq!(fast, exact, "{amount} {currency}");
            }
        }
    }

    #[test]
    fn amounts_are_written_with_separators_and_their_decimals_as_display_writes_them() {
        use rust_decimal::Decimal;
        // What `Display` writes for the amount at `dp` decimals, with a
        // comma every three digits of its whole part.
        let by_display = |amount: Decimal, dp: u32| {
            let mut fixed = amount;
            fixed.rescale(dp);
            let text = fixed.to_string();
            let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
            let mut out = String::new();
            for (i, c) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            if dp > 0 {
                out.push('.');
                out.push_str(frac);
            }
            out
        };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut amounts: Vec<Decimal> = [
            "0",
            "0.005",
            "0.05",
            "1",
            "999.995",
            "1000",
            "123456789.987654",
            "79228162514264337593543950335",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            amounts.push(Decimal::new((seed >> 20) as i64, (seed % 9) as u32));
        }
        for amount in amounts {
            for dp in [0, 2, 3] {
                assert_eq!(
                    super::plain(amount, dp),
                    by_display(amount, dp),
                    "{amount} at {dp}"
                );
            }
        }
        assert_eq!(
            super::format("1234567.891".parse().unwrap(), "USD"),
            "$1,234,567.89"
        );
        assert_eq!(super::format("-0.004".parse().unwrap(), "USD"), "$0.00");
        assert_eq!(super::format("-12.5".parse().unwrap(), "JPY"), "-¥13");
        assert_eq!(
            super::format("1234.5".parse().unwrap(), "XYZ"),
            "1,234.50 XYZ"
        );
    }

    #[test]
    fn plain_decimals_read_as_the_parser_reads_them() {
        use rust_decimal::Decimal;
        let mut cells: Vec<String> = [
            "0",
            "00",
            "007",
            "0.0",
            "0.00",
            "1",
            "-1",
            "1.5",
            "-1.50",
            "0.217606",
            "123456789012345678",
            "12345678901234567.8",
            "1234567890123456789",
            "-0",
            "-0.00",
            "1.",
            ".5",
            "-",
            "",
            "1e3",
            "+1",
            "1..2",
            "1.2.3",
            "0.000000000001",
            "999999999999999.999",
            "-.5",
            "--1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 1_000_000_000_000_000_000).to_string();
            let at = (x >> 3) as usize % (digits.len() + 1);
            let sign = if x & 1 == 1 { "-" } else { "" };
            cells.push(format!(
                "{sign}{}.{}",
                &digits[..at.max(1).min(digits.len())],
                &digits[at.max(1).min(digits.len())..]
            ));
            cells.push(format!("{sign}{digits}"));
        }
        // What the fast path reads, the parser would have read the same,
        // to the scale (the checks before it refuse nothing plain).
        let mut read = 0;
        for cell in &cells {
            if let Some(d) = super::plain_decimal(cell) {
                let exact = Decimal::from_str_exact(cell).unwrap();
                assert_eq!(
                    (d, d.scale(), d.to_string()),
                    (exact, exact.scale(), exact.to_string()),
                    "{cell}"
                );
                read += 1;
            }
        }
        assert!(read > 15_000, "{read}");
        for left in [
            "-0",
            "-0.00",
            "1.",
            ".5",
            "1e3",
            "+1",
            "1234567890123456789",
        ] {
            assert_eq!(super::plain_decimal(left), None, "{left}");
        }
    }

    #[test]
    fn decimals_are_written_as_display_writes_them() {
        use rust_decimal::Decimal;
        let mut cases: Vec<Decimal> = [
            "0",
            "-0",
            "0.00",
            "-0.00",
            "1",
            "-1",
            "0.05",
            "-0.05",
            "1.50",
            "123456.789",
            "0.000000000001",
            "-999999999999999.999999999999",
            "10",
            "100.0",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let mut negative_zero = Decimal::new(0, 3);
        negative_zero.set_sign_negative(true);
        cases.push(negative_zero);
        let mut x: u64 = 88172645463325252;
        for _ in 0..10_000 {
            // xorshift: mantissas and scales of every size.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = i128::from(x as i64) >> (x % 60);
            cases.push(Decimal::from_i128_with_scale(m, (x % 29) as u32));
        }
        let mut numbers = vec![0, u64::MAX];
        for p in 0..20 {
            let ten = 10u64.pow(p);
            numbers.extend([ten - 1, ten, ten + 1, ten.saturating_mul(7)]);
        }
        for n in numbers {
            let mut out = b"r".to_vec();
            super::integer_into(&mut out, n);
            assert_eq!(out, format!("r{n}").into_bytes());
        }
        for d in cases {
            let mut out = String::new();
            super::decimal_into(&mut out, d);
            assert_eq!(out, d.to_string(), "{d:?}");
            let mut bytes = b"x,".to_vec();
            super::decimal_bytes_into(&mut bytes, d);
            assert_eq!(bytes, format!("x,{d}").into_bytes(), "{d:?}");
        }
    }

    use super::*;
    use rust_decimal_macros_free::d;

    mod rust_decimal_macros_free {
        pub fn d(s: &str) -> rust_decimal::Decimal {
            s.parse().unwrap()
        }
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(parse("12.50").unwrap(), d("12.50"));
        assert_eq!(parse("-0.000001").unwrap(), d("-0.000001"));
        assert_eq!(parse("1.5E+2").unwrap(), d("150"));
        assert_eq!(parse(" 3 ").unwrap(), d("3"));
    }

    #[test]
    fn refuses_what_it_cannot_read_exactly() {
        assert!(parse("12,50").unwrap_err().contains("decimal comma"));
        assert!(parse("$10.00").unwrap_err().contains("currency symbol"));
        assert!(parse("$1,000.00").unwrap_err().contains("currency symbol"));
        assert!(
            parse("1,000.00")
                .unwrap_err()
                .contains("thousands separator")
        );
        assert!(parse("1e400").unwrap_err().contains("out of range"));
        assert!(parse("NaN").unwrap_err().contains("not a number"));
        assert!(parse("abc").unwrap_err().contains("not a decimal"));
    }

    #[test]
    fn formats_with_currency() {
        assert_eq!(format(d("1234567.555"), "USD"), "$1,234,567.56");
        assert_eq!(format(d("-12"), "USD"), "-$12.00");
        assert_eq!(format(d("-0.001"), "USD"), "$0.00");
        assert_eq!(format(d("1000"), "JPY"), "¥1,000");
        assert_eq!(format(d("5.5"), "NOK"), "5.50 NOK");
        assert_eq!(quantity(d("1234.5000")), "1,234.5");
        assert_eq!(percent(d("25"), d("200")), "12.5%");
    }

    #[test]
    fn allocation_reconciles_to_the_cent() {
        let parts = [d("0.333333"), d("0.333333"), d("0.333334")];
        let out = allocate(&parts, "USD");
        assert_eq!(out.iter().sum::<Decimal>(), d("1.00"));
        let mixed = [d("10.005"), d("-3.0049"), d("0.001"), d("7.7777")];
        let out = allocate(&mixed, "USD");
        assert_eq!(
            out.iter().sum::<Decimal>(),
            round(mixed.iter().sum(), "USD")
        );
        for (a, r) in mixed.iter().zip(&out) {
            assert!((*a - *r).abs() < d("0.01"));
        }
    }
}
