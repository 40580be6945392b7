//! What the converters' rates files share: reading YAML into located
//! problems, and the checked value types (prices, percentages, currency codes)
//! whose YAML errors point at the line that is wrong.

use crate::problem::Problem;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::path::Path;

/// Read and parse a rates file. A missing or malformed file is a problem in
/// the user's data, located by serde_yaml at the offending line and column.
pub fn load<T: DeserializeOwned>(path: &Path, shown_as: &str) -> Result<T, Problem> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Problem::file(shown_as, format!("cannot read: {e}")))?;
    serde_yaml::from_str(&text).map_err(|e| Problem::yaml(shown_as, &e))
}

/// Reads a YAML number (or a quoted decimal) and checks it inside the
/// deserializer, where serde_yaml still knows the line: an error raised after
/// deserializing would be reported at the top of the file.
struct Checked {
    expecting: &'static str,
    check: fn(Decimal) -> Result<(), String>,
}

impl Checked {
    fn accept<E: serde::de::Error>(&self, v: Decimal) -> Result<Decimal, E> {
        (self.check)(v).map(|()| v).map_err(E::custom)
    }
}

impl serde::de::Visitor<'_> for Checked {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
        self.accept(Decimal::from(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
        self.accept(Decimal::from(v))
    }
    /// Through the shortest decimal text of the float, so `0.02` is exactly 0.02.
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Decimal, E> {
        let d = v
            .to_string()
            .parse()
            .map_err(|_| E::custom(format!("{v} is out of range")))?;
        self.accept(d)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
        let d = crate::money::parse(v).map_err(E::custom)?;
        self.accept(d)
    }
}

/// A price per unit: a decimal of zero or more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Price(pub Decimal);

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Price, D::Error> {
        d.deserialize_any(Checked {
            expecting: "a price of 0 or more",
            check: |v| {
                if v < Decimal::ZERO {
                    return Err(format!("price {v} is negative: expected 0 or more"));
                }
                // A bound far above any real price keeps every product in range.
                if v > Decimal::from(1_000_000_000_000u64) {
                    return Err(format!(
                        "price {v} is implausibly large: expected at most 10^12"
                    ));
                }
                Ok(())
            },
        })
        .map(Price)
    }
}

/// A quantity of more than zero, such as the credits a pool holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positive(pub Decimal);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Positive, D::Error> {
        d.deserialize_any(Checked {
            expecting: "a number greater than 0",
            check: |v| {
                if v <= Decimal::ZERO {
                    return Err(format!("{v} is not greater than 0"));
                }
                Ok(())
            },
        })
        .map(Positive)
    }
}

/// A measured amount of 0 or more (GB, vCPUs), in YAML or JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        d.deserialize_any(Checked {
            expecting: "a number of 0 or more",
            check: |v| {
                if v < Decimal::ZERO {
                    return Err(format!("{v} is negative: expected 0 or more"));
                }
                Ok(())
            },
        })
        .map(Amount)
    }
}

/// A share in percent, 0 to 100 inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percent(pub Decimal);

impl Percent {
    /// The share left to pay: 1 − percent/100.
    pub fn remainder(self) -> Decimal {
        (Decimal::ONE_HUNDRED - self.0) / Decimal::ONE_HUNDRED
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        d.deserialize_any(Checked {
            expecting: "a percentage from 0 to 100",
            check: |v| {
                if v < Decimal::ZERO || v > Decimal::ONE_HUNDRED {
                    return Err(format!(
                        "{v} is outside 0..100: expected the percentage of the list price the institution covers"
                    ));
                }
                Ok(())
            },
        })
        .map(Percent)
    }
}

/// An ISO 4217 currency code such as USD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(pub String);

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        checked_str(d, "an ISO 4217 currency code such as USD", |s| {
            if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "`{s}` is not an ISO 4217 currency code such as USD"
                ));
            }
            Ok(Currency(s.to_string()))
        })
    }
}

/// Deserialize a string through `parse`, failing where serde_yaml knows the line.
pub fn checked_str<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct V<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> serde::de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
            (self.parse)(s).map_err(E::custom)
        }
    }
    d.deserialize_str(V { expecting, parse })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        currency: Currency,
        price: Price,
        subsidy: Percent,
    }

    fn parse(text: &str) -> Result<Sample, String> {
        serde_yaml::from_str::<Sample>(text).map_err(|e| Problem::yaml("r.yaml", &e).to_string())
    }

    #[test]
    fn yaml_numbers_are_exact_decimals() {
        let s = parse("currency: USD\nprice: 0.02\nsubsidy: 12.5\n").unwrap();
        assert_eq!(s.currency.0, "USD");
        assert_eq!(s.price.0.to_string(), "0.02");
        assert_eq!(s.subsidy.remainder().to_string(), "0.875");
        let s = parse("currency: EUR\nprice: \"0.1234567890123456789\"\nsubsidy: 0\n").unwrap();
        assert_eq!(s.price.0.to_string(), "0.1234567890123456789");
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let err = parse("currency: USD\nprice: 1\nsubsidy: 120\n").unwrap_err();
        assert!(
            err.starts_with("r.yaml:3:10: subsidy: 120 is outside 0..100"),
            "{err}"
        );
        let err = parse("currency: USD\nprice: -1\nsubsidy: 0\n").unwrap_err();
        assert!(
            err.starts_with("r.yaml:2:8: price: price -1 is negative"),
            "{err}"
        );
        let err = parse("currency: usd\nprice: 1\nsubsidy: 0\n").unwrap_err();
        assert!(err.contains("`usd` is not an ISO 4217"), "{err}");
    }
}
