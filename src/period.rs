//! A billing period: one calendar month, named `YYYY-MM`.

use chrono::{Datelike, NaiveDate};
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn of(date: NaiveDate) -> Period {
        Period {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid period has a first day")
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                month: self.month + 1,
                ..self
            }
        }
    }

    pub fn prev(self) -> Period {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                month: self.month - 1,
                ..self
            }
        }
    }

    /// Days in the month, for prorating.
    pub fn days(self) -> i64 {
        (self.next().first_day() - self.first_day()).num_days()
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        Period::of(date) == self
    }

    /// "January 2025", for statements and emails.
    pub fn long_name(self) -> String {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        format!("{} {}", MONTHS[(self.month - 1) as usize], self.year)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Period, String> {
        let err = || format!("`{s}` is not a period: expected YYYY-MM, e.g. 2025-01");
        let bytes = s.as_bytes();
        if bytes.len() != 7
            || bytes[4] != b'-'
            || !s[..4]
                .bytes()
                .chain(s[5..].bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let year: i32 = s[..4].parse().map_err(|_| err())?;
        let month: u32 = s[5..].parse().map_err(|_| err())?;
        if !(1..=12).contains(&month) || year < 1900 {
            return Err(err());
        }
        Ok(Period { year, month })
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("not a period: {s}")))
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strictly() {
        assert_eq!(
            "2025-01".parse::<Period>().unwrap(),
            Period {
                year: 2025,
                month: 1
            }
        );
        for bad in [
            "2025-1",
            "2025-13",
            "2025-00",
            "25-01",
            "2025_01",
            "2025-01-01",
            "abcd-ef",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn steps_across_years() {
        let dec: Period = "2025-12".parse().unwrap();
        assert_eq!(dec.next().to_string(), "2026-01");
        assert_eq!(dec.next().prev(), dec);
        assert_eq!(dec.days(), 31);
        assert_eq!("2024-02".parse::<Period>().unwrap().days(), 29);
    }
}
