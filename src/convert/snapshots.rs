//! Reading storage usage snapshots: a CSV of `date,path,project_id,bytes[,tier]`
//! (columns found by name, extra columns ignored), one or more snapshots per
//! path per month, each a located value or a located problem.

use crate::problem::{Problem, shown};
use chrono::{NaiveDate, NaiveDateTime};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub line: u64,
    pub at: NaiveDateTime,
    pub path: String,
    pub project: String,
    pub bytes: u64,
    /// Empty when the file has no tier column or leaves the cell empty.
    pub tier: String,
}

const COLUMNS: [&str; 5] = ["date", "path", "project_id", "bytes", "tier"];

pub fn read(file: &Path, shown_as: &str) -> (Vec<Snapshot>, Vec<Problem>) {
    let mut problems = Vec::new();
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            return (
                vec![],
                vec![Problem::file(shown_as, format!("cannot read: {e}"))],
            );
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut record = csv::StringRecord::new();
    let index = match reader.read_record(&mut record) {
        Ok(true) => header(&record, shown_as, &mut problems),
        Ok(false) => {
            problems.push(Problem::file(
                shown_as,
                "empty file: expected a header line `date,path,project_id,bytes,tier`",
            ));
            None
        }
        Err(e) => {
            problems.push(csv_problem(shown_as, &e));
            None
        }
    };
    let Some(index) = index else {
        return (vec![], problems);
    };
    let mut lines = Lines::new(&bytes);
    let mut out = Vec::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                problems.push(csv_problem(shown_as, &e));
                break;
            }
        }
        let line = lines.at(record.position().map_or(0, |p| p.byte() as usize));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        match row(&record, &index, shown_as, line) {
            Ok(s) => out.push(s),
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    (out, problems)
}

/// Line numbers from byte offsets, because the csv crate gives a record
/// after a blank line the blank line's number (BurntSushi/rust-csv#208).
pub struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    /// Counting from the start of `text`, the header's line 1.
    pub fn new(text: &'a [u8]) -> Lines<'a> {
        Lines {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The line a record starts on; offsets only grow, so counting is linear.
    pub fn at(&mut self, byte: usize) -> u64 {
        let mut start = byte.clamp(self.offset, self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        let newlines = self.text[self.offset..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines as u64;
        self.offset = start;
        self.line
    }
}

pub fn csv_problem(file: &str, e: &csv::Error) -> Problem {
    match e.position() {
        Some(p) => Problem::at(file, p.line(), format!("unreadable CSV: {e}")),
        None => Problem::file(file, format!("unreadable CSV: {e}")),
    }
}

/// Column positions by name; `tier` may be absent.
fn header(
    record: &csv::StringRecord,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<[Option<usize>; 5]> {
    let names: HashMap<String, usize> = record
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.trim_start_matches('\u{feff}').trim().to_ascii_lowercase(),
                i,
            )
        })
        .collect();
    let index = COLUMNS.map(|c| names.get(c).copied());
    let missing: Vec<&str> = COLUMNS[..4]
        .iter()
        .zip(&index)
        .filter(|(_, i)| i.is_none())
        .map(|(c, _)| *c)
        .collect();
    if missing.is_empty() {
        return Some(index);
    }
    problems.push(Problem::at(
        file,
        1,
        format!(
            "header lacks {}: expected columns date,path,project_id,bytes and optionally tier",
            missing.join(", ")
        ),
    ));
    None
}

fn row(
    record: &csv::StringRecord,
    index: &[Option<usize>; 5],
    file: &str,
    line: u64,
) -> Result<Snapshot, Vec<Problem>> {
    let cell = |i: usize| index[i].and_then(|c| record.get(c)).unwrap_or("").trim();
    let mut problems = Vec::new();
    let at = parse_when(cell(0))
        .map_err(|m| problems.push(Problem::cell(file, line, "date", m)))
        .ok();
    let path = cell(1);
    if path.is_empty() {
        problems.push(Problem::cell(
            file,
            line,
            "path",
            "empty: expected the directory the usage belongs to",
        ));
    }
    let bytes = cell(3)
        .parse::<u64>()
        .map_err(|_| {
            problems.push(Problem::cell(
                file,
                line,
                "bytes",
                format!("{} is not a whole number of bytes", shown(cell(3))),
            ))
        })
        .ok();
    match (at, bytes) {
        (Some(at), Some(bytes)) if problems.is_empty() => Ok(Snapshot {
            line,
            at,
            path: path.to_string(),
            project: cell(2).to_string(),
            bytes,
            tier: cell(4).to_string(),
        }),
        _ => Err(problems),
    }
}

/// `2025-01-15` (midnight) or a date-time as written (`2025-01-15T06:00:00`,
/// with or without `Z`): the storage system's clock, like the period's.
pub fn parse_when(cell: &str) -> Result<NaiveDateTime, String> {
    if let Ok(d) = NaiveDate::parse_from_str(cell, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN));
    }
    let t = cell.strip_suffix('Z').unwrap_or(cell);
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt);
        }
    }
    Err(format!(
        "{} is not a date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
        shown(cell)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_locates_bad_cells() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        std::fs::write(
            &p,
            "\u{feff}Date,Path,Project_ID,Bytes,Note\r\n2025-01-01,/a,p1,100,x\r\n\r\n2025-01-32,/b,p1,-5,\r\n\n\n\"2025-01-02\",/c,p1,7,\n",
        )
        .unwrap();
        let (snaps, problems) = read(&p, "s.csv");
        assert_eq!(snaps.len(), 2);
        assert_eq!(snaps[1].line, 7);
        assert_eq!((snaps[0].bytes, snaps[0].tier.as_str()), (100, ""));
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "s.csv:4: column `date`: `2025-01-32` is not a date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
                "s.csv:4: column `bytes`: `-5` is not a whole number of bytes"
            ]
        );
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            parse_when("2025-01-15").unwrap().to_string(),
            "2025-01-15 00:00:00"
        );
        assert_eq!(
            parse_when("2025-01-15T06:30:00Z").unwrap().to_string(),
            "2025-01-15 06:30:00"
        );
        assert!(parse_when("15/01/2025").is_err());
    }
}
