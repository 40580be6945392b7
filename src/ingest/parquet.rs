//! Parquet files as rows of text, fed to the same row checks as CSV (so
//! problems and charge ids do not depend on the format). Doubles become their
//! shortest round-trip decimal, DECIMALs their exact digits, dates and
//! timestamps ISO 8601, maps and structs JSON objects, lists JSON arrays.

use crate::charge::Interner;
use crate::load::{RowSink, Table};
use crate::problem::Problem;
use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// Rows converted to text at a time: bounds the memory of the text copy.
const BATCH: usize = 1 << 16;

/// Read a Parquet file into `sink`; problems name the file and, for a row,
/// its number (1 = the first row) and column. Returns the number of rows.
pub fn read(
    path: &Path,
    shown: &str,
    source: &str,
    currency: &str,
    strings: &mut Interner,
    sink: &mut dyn RowSink,
    problems: &mut Vec<Problem>,
) -> u64 {
    let df = match read_frame(path) {
        Ok(df) => df,
        Err(e) => {
            problems.push(Problem::file(
                shown,
                format!("unreadable Parquet file: {e}"),
            ));
            return 0;
        }
    };
    let names: csv::ByteRecord = df
        .get_column_names()
        .iter()
        .map(|n| n.as_str().as_bytes())
        .collect();
    let mut table = match Table::new(&names, shown, source, currency, strings) {
        Ok(t) => t,
        Err(mut ps) => {
            problems.append(&mut ps);
            return 0;
        }
    };
    table.full = sink.keeps_charges();
    sink.header(&names);
    let mut record = crate::records::Record::default();
    let mut offset = 0;
    while offset < df.height() {
        let batch = df.slice(offset as i64, BATCH);
        let mut texts = Vec::with_capacity(batch.width());
        for col in batch.columns() {
            match column_text(col.as_materialized_series()) {
                Ok(t) => texts.push(t),
                Err(e) => {
                    problems.push(Problem::file(
                        shown,
                        format!("column `{}`: cannot read its values: {e}", col.name()),
                    ));
                    return offset as u64;
                }
            }
        }
        let from = sink.held();
        for i in 0..batch.height() {
            record.clear();
            let line = (offset + i + 1) as u64;
            if let Err(e) = texts
                .iter()
                .try_for_each(|t| record.push_field(t.get(i).as_bytes()))
            {
                problems.push(Problem::at(shown, line, e.to_string()));
                continue;
            }
            match table.row(line, &record, strings) {
                Ok(c) => sink.row(c, &record),
                Err(mut ps) => problems.append(&mut ps),
            }
        }
        table.identify(sink, from);
        offset += batch.height();
    }
    df.height() as u64
}

/// The file's column names, from its metadata alone.
pub fn column_names(path: &Path) -> Option<csv::ByteRecord> {
    // The footer is decoded in a child first, as in `read_frame`.
    crate::isolate::check(std::time::Duration::from_secs(120), || check_pages(path)).ok()?;
    let read = || {
        let file = std::fs::File::open(path).ok()?;
        let schema = ParquetReader::new(file).schema().ok()?;
        Some(schema.iter_names().map(|n| n.as_bytes()).collect())
    };
    quiet_polars_panics();
    READING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let names = std::panic::catch_unwind(read).ok().flatten();
    READING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    names
}

/// Counts in the file's page headers, checked before polars decodes it:
/// polars 0.55 casts a data page's `num_values` (an i32) to usize, so a
/// negative count asks for exabytes and the process aborts, which no
/// `catch_unwind` can stop (found by fuzzing: fuzz/corpus/parquet/
/// negative-num-values.parquet). Page headers are read without decompressing.
fn check_pages(path: &Path) -> Result<(), String> {
    use polars_parquet::parquet::page::{CompressedPage, DataPageHeader};
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let meta = polars_parquet::parquet::read::read_metadata(&mut std::io::Cursor::new(&bytes))
        .map_err(|e| format!("{e} (is it truncated, or not Parquet?)"))?;
    let buffer = polars_buffer::Buffer::from(bytes);
    for (g, group) in meta.row_groups.iter().enumerate() {
        for column in group.parquet_columns() {
            let name = column.descriptor().path_in_schema.join(".");
            let pages = polars_parquet::parquet::read::get_page_iterator(
                column,
                std::io::Cursor::new(buffer.clone()),
                Vec::new(),
                usize::MAX,
            )
            .map_err(|e| format!("column `{name}`: {e}"))?;
            for page in pages {
                let page = page.map_err(|e| format!("column `{name}`: {e}"))?;
                let CompressedPage::Data(page) = page else {
                    continue;
                };
                let counts = match page.header() {
                    DataPageHeader::V1(h) => vec![h.num_values],
                    DataPageHeader::V2(h) => vec![
                        h.num_values,
                        h.num_nulls,
                        h.num_rows,
                        h.definition_levels_byte_length,
                        h.repetition_levels_byte_length,
                    ],
                };
                if counts.iter().any(|&n| n < 0) {
                    return Err(format!(
                        "column `{name}`, row group {}: a page header holds a negative count: the file is corrupt",
                        g + 1
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The whole file as a frame. A panic inside the reader (polars 0.55 has a
/// debug-build check that MAP columns written without an Arrow schema trip)
/// becomes an error about this file instead of ending ocb.
/// Parquet reads in progress: while there are any, a panic inside polars is
/// caught and reported as a problem with the file, so its message is not
/// printed as well.
static READING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn quiet_polars_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_polars = info
                .location()
                .is_some_and(|l| l.file().contains("/polars-"));
            if !(in_polars && READING.load(std::sync::atomic::Ordering::SeqCst) > 0) {
                report(info);
            }
        }));
    });
}

pub(super) fn read_frame(path: &Path) -> Result<DataFrame, String> {
    quiet_polars_panics();
    READING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let result = read_frame_guarded(path);
    READING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    result
}

fn read_frame_guarded(path: &Path) -> Result<DataFrame, String> {
    // The page check reads the footer with polars-parquet, which panics on
    // some corrupt footers too: both run inside the guard.
    let read = || {
        // In a child process: polars-parquet's footer decoder allocates the
        // lengths it reads, and a corrupt one aborts (fuzz/corpus/parquet/
        // corrupt-footer-length.parquet).
        crate::isolate::check(std::time::Duration::from_secs(120), || check_pages(path))
            .map_err(|e| (e, false))?;
        std::fs::File::open(path)
            .map_err(PolarsError::from)
            .and_then(|f| ParquetReader::new(f).finish())
            .map_err(|e| (e.to_string(), true))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(df)) => Ok(df),
        Ok(Err((e, false))) => Err(e),
        Ok(Err((e, true))) => Err(format!("{e} (is it truncated, or not Parquet?)")),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("the Parquet reader failed on this file ({why})"))
        }
    }
}

/// One column's cells as text in one buffer (a String per cell would
/// dominate the time of a million-row file).
pub(super) struct Text {
    buf: String,
    ends: Vec<usize>,
}

impl Text {
    pub(super) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    fn cell(&mut self, write: impl FnOnce(&mut String)) {
        write(&mut self.buf);
        self.ends.push(self.buf.len());
    }
}

pub(super) fn column_text(s: &Series) -> PolarsResult<Text> {
    let mut t = Text {
        buf: String::new(),
        ends: Vec::with_capacity(s.len()),
    };
    match s.dtype() {
        DataType::String => {
            for v in s.str()?.iter() {
                t.cell(|b| b.push_str(v.unwrap_or("")));
            }
        }
        // Display of a float is its shortest round-trip decimal: 0.1 stays 0.1.
        DataType::Float64 => {
            for v in s.f64()?.iter() {
                t.cell(|b| write_opt(b, v));
            }
        }
        DataType::Float32 => {
            for v in s.f32()?.iter() {
                t.cell(|b| write_opt(b, v));
            }
        }
        DataType::Decimal(_, scale) => {
            let scale = *scale;
            for v in s.decimal()?.physical().iter() {
                t.cell(|b| {
                    if let Some(v) = v {
                        b.push_str(&decimal_text(v, scale));
                    }
                });
            }
        }
        DataType::Date => {
            for v in s.date()?.physical().iter() {
                t.cell(|b| {
                    if let Some(d) = v.and_then(date_of_days) {
                        let _ = write!(b, "{}", d.format("%Y-%m-%d"));
                    }
                });
            }
        }
        DataType::Datetime(unit, tz) => {
            let (unit, utc) = (*unit, tz.is_some());
            for v in s.datetime()?.physical().iter() {
                t.cell(|b| {
                    if let Some(text) = v.and_then(|v| datetime_text(v, unit, utc)) {
                        b.push_str(&text);
                    }
                });
            }
        }
        DataType::Null => {
            for _ in 0..s.len() {
                t.cell(|_| {});
            }
        }
        dt if dt.is_nested() => {
            for i in 0..s.len() {
                let v = json(&s.get(i)?);
                t.cell(|b| {
                    if !v.is_null() {
                        b.push_str(&v.to_string());
                    }
                });
            }
        }
        _ => {
            let text = s.cast(&DataType::String)?;
            for v in text.str()?.iter() {
                t.cell(|b| b.push_str(v.unwrap_or("")));
            }
        }
    }
    Ok(t)
}

fn write_opt<T: std::fmt::Display>(b: &mut String, v: Option<T>) {
    if let Some(v) = v {
        let _ = write!(b, "{v}");
    }
}

/// The exact decimal text of a DECIMAL's unscaled integer.
pub(super) fn decimal_text(v: i128, scale: usize) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

pub(super) fn date_of_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(days as i64))
}

/// A timestamp as ISO 8601: with `Z` when the column has a time zone (an
/// instant, shown in UTC), without when it is a local date-time.
pub(super) fn datetime_text(v: i64, unit: TimeUnit, utc: bool) -> Option<String> {
    let dt = match unit {
        TimeUnit::Nanoseconds => DateTime::from_timestamp_nanos(v),
        TimeUnit::Microseconds => DateTime::from_timestamp_micros(v)?,
        TimeUnit::Milliseconds => DateTime::from_timestamp_millis(v)?,
    };
    let text = dt.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string();
    Some(if utc { text + "Z" } else { text })
}

/// A nested value as JSON: structs and maps (lists of key/value structs, as
/// Parquet MAP columns read) become objects, lists arrays.
fn json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AnyValue::Null => J::Null,
        AnyValue::Boolean(b) => J::Bool(*b),
        AnyValue::String(s) => J::String(s.to_string()),
        AnyValue::StringOwned(s) => J::String(s.to_string()),
        AnyValue::Float64(f) => number(&f.to_string()),
        AnyValue::Float32(f) => number(&f.to_string()),
        AnyValue::Decimal(i, _, scale) => number(&decimal_text(*i, *scale)),
        v if v.is_integer() => number(&v.to_string()),
        AnyValue::List(s) => list_json(s),
        AnyValue::Struct(..) => {
            let fields = match v.dtype() {
                DataType::Struct(f) => f,
                _ => Vec::new(),
            };
            object(
                fields.iter().map(|f| f.name().as_str()),
                v._iter_struct_av(),
            )
        }
        AnyValue::StructOwned(b) => {
            object(b.1.iter().map(|f| f.name().as_str()), b.0.iter().cloned())
        }
        other => J::String(other.to_string().trim_matches('"').to_string()),
    }
}

fn number(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

fn object<'a>(
    names: impl Iterator<Item = &'a str>,
    values: impl Iterator<Item = AnyValue<'a>>,
) -> serde_json::Value {
    let map = names.zip(values).map(|(n, v)| (n.to_string(), json(&v)));
    serde_json::Value::Object(map.collect())
}

fn list_json(s: &Series) -> serde_json::Value {
    let is_map = matches!(s.dtype(), DataType::Struct(f)
        if f.len() == 2 && f[0].name() == "key" && f[1].name() == "value");
    let items = (0..s.len()).filter_map(|i| s.get(i).ok());
    if !is_map {
        return serde_json::Value::Array(items.map(|v| json(&v)).collect());
    }
    let mut map = serde_json::Map::new();
    for item in items {
        let mut kv = item._iter_struct_av();
        if let (Some(k), Some(v)) = (kv.next(), kv.next()) {
            let key = match json(&k) {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            map.insert(key, json(&v));
        }
    }
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_digits() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(decimal_text(0, 2), "0.00");
    }

    #[test]
    fn doubles_are_shortest_round_trip() {
        let mut b = String::new();
        write_opt(&mut b, Some(0.1f64));
        assert_eq!(b, "0.1");
        let mut b = String::new();
        write_opt(&mut b, Some(0.1f64 + 0.2f64));
        assert_eq!(b, "0.30000000000000004");
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            datetime_text(1_735_689_600_000_000, TimeUnit::Microseconds, true).unwrap(),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            datetime_text(1_735_689_600_500, TimeUnit::Milliseconds, false).unwrap(),
            "2025-01-01T00:00:00.500"
        );
        assert_eq!(date_of_days(20089).unwrap().to_string(), "2025-01-01");
    }
}
