//! The row sinks of an import: one normalised CSV (gzip when the delivery
//! was compressed or Parquet) per BillingPeriodStart month, with its totals;
//! and a plain totaller for the data already in a period.

use super::Totals;
use crate::charge::Charge;
use crate::focus::{self, Field};
use crate::load::RowSink;
use crate::period::Period;
use crate::problem::Problem;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct Totaller {
    pub totals: Totals,
}

impl RowSink for Totaller {
    fn row(&mut self, charge: Charge, _record: &csv::ByteRecord) {
        add(&mut self.totals, &charge);
    }
}

fn add(t: &mut Totals, c: &Charge) {
    t.rows += 1;
    *t.billed.entry(c.currency.to_string()).or_default() += c.billed;
}

struct MonthOut {
    writer: csv::Writer<Sink>,
    totals: Totals,
    parts: Vec<PathBuf>,
    /// What `ocb build` will accept of this month: checked before writing it.
    precision: crate::precision::Checker,
}

/// Where a month's bytes go: plain or gzip, into memory until `apply`.
enum Sink {
    Plain(Vec<u8>),
    Gz(Box<flate2::write::GzEncoder<Vec<u8>>>),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(v) => v.write(b),
            Sink::Gz(g) => g.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(v) => v.flush(),
            Sink::Gz(g) => g.flush(),
        }
    }
}

/// One month as written: its bytes, totals, and the parts that gave it rows.
pub type Written = (Vec<u8>, Totals, Vec<PathBuf>);

pub struct Splitter {
    compress: bool,
    /// The delivery's columns: the first part's header.
    columns: Option<csv::ByteRecord>,
    /// For the current part: each delivery column's index in the part, if any.
    map: Vec<Option<usize>>,
    /// The current part refused (its columns do not fit): its rows are skipped.
    skip: bool,
    part: String,
    path: PathBuf,
    /// The parts in reading order, and how many have begun.
    paths: Vec<PathBuf>,
    started: usize,
    provider_col: Option<usize>,
    /// The first ProviderName seen, and in which part.
    provider: Option<(String, String)>,
    months: BTreeMap<Period, MonthOut>,
    record: csv::ByteRecord,
    bar: indicatif::ProgressBar,
    pub problems: Vec<Problem>,
}

impl Splitter {
    pub fn new(compress: bool, progress: bool, parts: &[&Path]) -> Splitter {
        Splitter {
            compress,
            columns: None,
            map: Vec::new(),
            skip: false,
            part: String::new(),
            path: PathBuf::new(),
            paths: parts.iter().map(|p| p.to_path_buf()).collect(),
            started: 0,
            provider_col: None,
            provider: None,
            months: BTreeMap::new(),
            record: csv::ByteRecord::new(),
            bar: crate::progress::bytes(
                progress,
                "importing",
                parts.iter().map(|p| crate::progress::size(p)).sum(),
            ),
            problems: Vec::new(),
        }
    }

    /// The next part begins (its header comes through `header`).
    pub fn start(&mut self, shown: &str) {
        self.part = shown.to_string();
        self.path = self.paths.get(self.started).cloned().unwrap_or_default();
        self.started += 1;
        self.bar.set_message(shown.to_string());
        self.skip = false;
    }

    /// The bar the parts' bytes count into as they are read.
    pub fn progress(&self) -> indicatif::ProgressBar {
        self.bar.clone()
    }

    /// Each month's bytes, totals and the parts that gave it rows.
    pub fn finish(self) -> Result<BTreeMap<Period, Written>> {
        self.bar.finish_and_clear();
        let mut out = BTreeMap::new();
        for (p, m) in self.months {
            let sink = m.writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
            let bytes = match sink {
                Sink::Plain(v) => v,
                Sink::Gz(g) => g.finish().context("cannot compress")?,
            };
            out.insert(p, (bytes, m.totals, m.parts));
        }
        Ok(out)
    }

    fn new_month(&self) -> Result<MonthOut> {
        let sink = if self.compress {
            // No name and no time in the gzip header: the same rows give the same bytes.
            Sink::Gz(Box::new(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(Vec::new(), flate2::Compression::fast()),
            ))
        } else {
            Sink::Plain(Vec::new())
        };
        let mut writer = csv::Writer::from_writer(sink);
        if let Some(h) = &self.columns {
            writer.write_byte_record(h)?;
        }
        Ok(MonthOut {
            writer,
            totals: Totals::default(),
            parts: Vec::new(),
            precision: crate::precision::Checker::default(),
        })
    }

    fn check_provider(&mut self, record: &csv::ByteRecord) {
        let Some(v) = self
            .provider_col
            .and_then(|i| record.get(i))
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .filter(|v| !focus::is_null(v))
        else {
            return;
        };
        match &self.provider {
            None => self.provider = Some((v.to_string(), self.part.clone())),
            Some((first, part)) if first != v && *part != self.part => {
                self.problems.push(Problem::file(
                    &self.part,
                    format!(
                        "ProviderName is `{v}` here but `{first}` in {part}: a delivery holds one source; import each provider's files with its own --source"
                    ),
                ));
                self.skip = true;
            }
            _ => {}
        }
    }
}

impl RowSink for Splitter {
    fn header(&mut self, names: &csv::ByteRecord) {
        let key = |n: &[u8]| String::from_utf8_lossy(n).trim().to_ascii_lowercase();
        let columns = self.columns.get_or_insert_with(|| names.clone()).clone();
        let part: Vec<String> = names.iter().map(key).collect();
        let extra: Vec<&str> = names
            .iter()
            .filter(|n| !columns.iter().any(|c| key(c) == key(n)))
            .filter_map(|n| std::str::from_utf8(n).ok())
            .collect();
        if !extra.is_empty() {
            self.problems.push(Problem::at(
                &self.part,
                1,
                format!(
                    "column{} {} not in the delivery's first file: the parts of one delivery must share their columns",
                    if extra.len() == 1 { "" } else { "s" },
                    extra.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
            ));
            self.skip = true;
        }
        self.map = columns
            .iter()
            .map(|c| part.iter().position(|p| *p == key(c)))
            .collect();
        self.provider_col = names
            .iter()
            .position(|n| focus::field(&String::from_utf8_lossy(n)) == Some(Field::ProviderName));
    }

    fn row(&mut self, mut charge: Charge, record: &csv::ByteRecord) {
        self.check_provider(record);
        if self.skip {
            return;
        }
        let period = Period::of(charge.billing_period_start);
        if !self.months.contains_key(&period) {
            match self.new_month() {
                Ok(m) => {
                    self.months.insert(period, m);
                }
                Err(e) => {
                    self.problems
                        .push(Problem::file(&self.part, format!("cannot write: {e}")));
                    self.skip = true;
                    return;
                }
            }
        }
        self.record.clear();
        for i in &self.map {
            self.record
                .push_field(i.and_then(|i| record.get(i)).unwrap_or(b""));
        }
        let Some(m) = self.months.get_mut(&period) else {
            return;
        };
        if let Some(p) = m.precision.row(&mut charge) {
            self.problems.push(p);
        }
        if let Err(e) = m.writer.write_byte_record(&self.record) {
            self.problems
                .push(Problem::file(&self.part, format!("cannot write: {e}")));
            self.skip = true;
        }
        add(&mut m.totals, &charge);
        if m.parts.last() != Some(&self.path) {
            m.parts.push(self.path.clone());
        }
    }
}
