//! Daily JSON snapshot files (Isilon quota lists, Azure Local VM inventories):
//! each dated by a `YYYY-MM-DD` in its file name, one file per date, parsed
//! with serde_json into problems that keep the file, line and column.

use crate::problem::Problem;
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One snapshot file, read but not yet parsed.
pub struct DatedFile {
    /// The path as given on the command line, for messages.
    pub shown: String,
    pub date: NaiveDate,
    pub text: String,
}

/// Read every file, date it by its name, and refuse two files of one date.
/// Files are returned in date order.
pub fn read(files: &[PathBuf]) -> (Vec<DatedFile>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut by_date: BTreeMap<NaiveDate, DatedFile> = BTreeMap::new();
    for path in files {
        let shown = path.display().to_string();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        let Some(date) = name.as_deref().and_then(date_in_name) else {
            problems.push(Problem::file(
                &shown,
                "no date in the file name: expected YYYY-MM-DD in it, as in quotas-2025-01-15.json",
            ));
            continue;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::file(&shown, format!("cannot read: {e}")));
                continue;
            }
        };
        if let Some(first) = by_date.get(&date) {
            problems.push(Problem::file(
                &shown,
                format!(
                    "a second snapshot of {date}: `{}` already gives one; expected one file per day",
                    first.shown
                ),
            ));
            continue;
        }
        by_date.insert(date, DatedFile { shown, date, text });
    }
    (by_date.into_values().collect(), problems)
}

/// The first valid `YYYY-MM-DD` in a file name.
pub fn date_in_name(name: &str) -> Option<NaiveDate> {
    let b = name.as_bytes();
    (0..b.len().saturating_sub(9)).find_map(|i| {
        let s = name.get(i..i + 10)?;
        let shape = s.bytes().enumerate().all(|(j, c)| match j {
            4 | 7 => c == b'-',
            _ => c.is_ascii_digit(),
        });
        // Not part of a longer run of digits (a timestamp such as 12025-01-011).
        let alone = (i == 0 || !b[i - 1].is_ascii_digit())
            && b.get(i + 10).is_none_or(|c| !c.is_ascii_digit());
        if shape && alone {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
        } else {
            None
        }
    })
}

/// Parse a file's JSON; a syntax or type error keeps serde_json's line and column.
pub fn parse<T: DeserializeOwned>(file: &DatedFile) -> Result<T, Problem> {
    serde_json::from_str(&file.text).map_err(|e| json_problem(&file.shown, &e))
}

pub fn json_problem(file: &str, e: &serde_json::Error) -> Problem {
    // serde_json ends its message with the place; the problem shows it in front.
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    if e.line() == 0 {
        return Problem::file(file, message);
    }
    Problem {
        col: Some(e.column() as u64),
        ..Problem::at(file, e.line() as u64, message)
    }
}

/// Line numbers of successive items, found by searching each item's quoted
/// key value (a path, a VM id) after the previous one: serde does not say
/// where a value was, and a warning about an item should point at it.
pub struct Finder<'a> {
    text: &'a str,
    offset: usize,
    line: u64,
}

impl<'a> Finder<'a> {
    pub fn new(text: &'a str) -> Finder<'a> {
        Finder {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the next occurrence of `value` as a JSON string; 0 if absent.
    pub fn line_of(&mut self, value: &str) -> u64 {
        let Ok(quoted) = serde_json::to_string(value) else {
            return 0;
        };
        let Some(at) = self.text[self.offset..].find(&quoted) else {
            return 0;
        };
        let end = self.offset + at;
        self.line += self.text[self.offset..end].matches('\n').count() as u64;
        self.offset = end + quoted.len();
        self.line
    }
}

/// A problem at an item's line when it was found, else at the file.
pub fn at_line(file: &str, line: u64, message: impl Into<String>) -> Problem {
    if line == 0 {
        Problem::file(file, message)
    } else {
        Problem::at(file, line, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_come_from_file_names() {
        let d = |s| date_in_name(s).map(|d| d.to_string());
        assert_eq!(d("quotas-2025-01-15.json").as_deref(), Some("2025-01-15"));
        assert_eq!(d("2025-01-15").as_deref(), Some("2025-01-15"));
        assert_eq!(
            d("vm-2025-13-01-then-2025-02-01.json").as_deref(),
            Some("2025-02-01")
        );
        assert_eq!(d("quotas-12025-01-155.json"), None);
        assert_eq!(d("quotas.json"), None);
    }

    #[test]
    fn json_errors_keep_line_and_column() {
        let file = DatedFile {
            shown: "q-2025-01-01.json".into(),
            date: NaiveDate::MIN,
            text: "{\n  \"a\": [1,\n  }\n".into(),
        };
        let err = parse::<serde_json::Value>(&file).unwrap_err().to_string();
        assert_eq!(err, "q-2025-01-01.json:3:3: expected value");
    }

    #[test]
    fn finder_walks_forward() {
        let text = "[{\"p\": \"/a\"},\n {\"p\": \"/a/b\"},\n\n {\"p\": \"/a\"}]";
        let mut f = Finder::new(text);
        assert_eq!(f.line_of("/a"), 1);
        assert_eq!(f.line_of("/a/b"), 2);
        assert_eq!(f.line_of("/a"), 4);
        assert_eq!(f.line_of("/zzz"), 0);
    }
}
