//! Where a value sits in a YAML file: checks that run after parsing (percent
//! sums, unknown sources, regexes) still report the exact line and column.

use crate::problem::Problem;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Index(usize),
    Key(&'static str),
}

/// A problem at `path` in `text`; at the top of the file when the path is absent.
pub fn problem(file: &str, text: &str, path: &[Step], message: impl Into<String>) -> Problem {
    match locate(text, path) {
        Some((line, col)) => Problem {
            col: Some(col),
            ..Problem::at(file, line, message)
        },
        None => Problem::file(file, message),
    }
}

/// Line and column (1-based) of the value at `path`. serde_yaml knows the
/// position of the value it is reading when a visitor fails, so the seek
/// fails on purpose at the target and reads the position off the error.
pub fn locate(text: &str, path: &[Step]) -> Option<(u64, u64)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match Seek(path).deserialize(de) {
        Err(e) if e.to_string().contains(HERE) => {
            e.location().map(|l| (l.line() as u64, l.column() as u64))
        }
        _ => None,
    }
}

const HERE: &str = "ocb-locate-target";

struct Seek<'p>(&'p [Step]);

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.0 {
            [] => d.deserialize_any(Here),
            _ => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(target), rest)) = self.0.split_first() else {
            return Ok(());
        };
        let mut i = 0;
        loop {
            let found = if i == *target {
                seq.next_element_seed(Seek(rest))?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !found {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(target), rest)) = self.0.split_first() else {
            return Ok(());
        };
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            if key.as_str() == Some(target) {
                map.next_value_seed(Seek(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Fails on whatever value it is given: the error carries that value's position.
struct Here;

impl<'de> Visitor<'de> for Here {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(HERE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_in_nested_lists_and_maps() {
        let text = "- id: a\n  funds:\n    - {fund_org: X, percent: 70}\n- id: b\n  funds:\n    - {fund_org: Y, percent: 99.99}\n";
        let at = |p: &[Step]| locate(text, p);
        assert_eq!(at(&[Step::Index(1), Step::Key("funds")]), Some((6, 5)));
        assert_eq!(
            at(&[
                Step::Index(1),
                Step::Key("funds"),
                Step::Index(0),
                Step::Key("percent")
            ]),
            Some((6, 30))
        );
        assert_eq!(at(&[Step::Index(0), Step::Key("id")]), Some((1, 7)));
        assert_eq!(at(&[Step::Index(2)]), None);
        assert_eq!(at(&[Step::Index(0), Step::Key("nope")]), None);
    }
}
