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
use std::path::PathBuf;

#[derive(Default)]
pub struct Totaller {
    pub totals: Totals,
}

impl RowSink for Totaller {
    fn row(&mut self, charge: Charge, _record: &crate::records::Record) {
        add(&mut self.totals, &charge);
    }
    fn keeps_charges(&self) -> bool {
        false
    }
}

fn add(t: &mut Totals, c: &Charge) {
    t.rows += 1;
    *t.billed.entry(c.currency.to_string()).or_default() += c.billed;
}

struct MonthOut {
    writer: csv::Writer<Sink>,
    totals: Totals,
    /// What `ocb build` will accept of this month: checked before writing it.
    precision: crate::precision::Checker,
}

/// Where a part's rows of a month go, in memory until `apply`: plain CSV, or
/// raw deflate ended by a sync flush, with the CRC and length of what went
/// in. Deflate segments ended so join into one stream (as pigz does), so the
/// parts compress on every core and the month is still one ordinary gzip
/// member that every gzip reader reads whole.
enum Sink {
    Plain(Vec<u8>),
    Deflate {
        encoder: Box<flate2::write::DeflateEncoder<Vec<u8>>>,
        crc: crc32fast::Hasher,
        len: u64,
    },
}

/// A finished piece of a month's file.
pub struct Chunk {
    bytes: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Sink {
    fn new(compress: bool) -> Sink {
        if compress {
            Sink::Deflate {
                encoder: Box::new(flate2::write::DeflateEncoder::new(
                    Vec::new(),
                    flate2::Compression::fast(),
                )),
                crc: crc32fast::Hasher::new(),
                len: 0,
            }
        } else {
            Sink::Plain(Vec::new())
        }
    }

    fn finish(self) -> Result<Chunk> {
        match self {
            Sink::Plain(bytes) => Ok(Chunk {
                len: bytes.len() as u64,
                bytes,
                crc: crc32fast::Hasher::new(),
            }),
            Sink::Deflate {
                mut encoder,
                crc,
                len,
            } => {
                // A sync flush ends the segment on a byte boundary without
                // a final block; the encoder is then dropped unfinished.
                encoder.flush().context("cannot compress")?;
                Ok(Chunk {
                    bytes: std::mem::take(encoder.get_mut()),
                    crc,
                    len,
                })
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(v) => v.write(b),
            Sink::Deflate { encoder, crc, len } => {
                let n = encoder.write(b)?;
                crc.update(&b[..n]);
                *len += n as u64;
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One gzip member from deflate segments (each ended by a sync flush):
/// a fixed header (no name, no time: the same rows give the same bytes),
/// the segments, an empty final block, and the CRC and length of it all.
fn gzip(chunks: &[&Chunk]) -> Vec<u8> {
    let size: usize = chunks.iter().map(|c| c.bytes.len()).sum();
    let mut out = Vec::with_capacity(size + 20);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for c in chunks {
        out.extend_from_slice(&c.bytes);
        crc.combine(&c.crc);
        len += c.len;
    }
    // An empty fixed-Huffman block with BFINAL set.
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out
}

/// One month as written: its bytes, totals, and the parts that gave it rows.
pub type Written = (Vec<u8>, Totals, Vec<PathBuf>);

/// One part's rows, split by month: each month's records in the delivery's
/// columns, as a deflate segment (or plain CSV) without the header line.
pub struct PartOut {
    months: BTreeMap<Period, (Chunk, Totals)>,
    /// The first ProviderName of the part.
    provider: Option<String>,
    pub problems: Vec<Problem>,
}

/// The row sink of one part. Parts are split in parallel, each by its own
/// splitter, and `merge` joins them in the delivery's order: a month's file
/// is the header and then each part's records, so the bytes depend only on
/// the parts and their order.
pub struct Splitter {
    compress: bool,
    /// The delivery's columns: the first part's header.
    columns: csv::ByteRecord,
    /// Each delivery column's index in this part, if any.
    map: Vec<Option<usize>>,
    /// The part is refused (its columns do not fit): its rows are skipped.
    skip: bool,
    part: String,
    provider_col: Option<usize>,
    provider: Option<String>,
    months: BTreeMap<Period, MonthOut>,
    record: csv::ByteRecord,
    problems: Vec<Problem>,
}

impl Splitter {
    pub fn new(compress: bool, columns: &csv::ByteRecord, part: &str) -> Splitter {
        Splitter {
            compress,
            columns: columns.clone(),
            map: Vec::new(),
            skip: false,
            part: part.to_string(),
            provider_col: None,
            provider: None,
            months: BTreeMap::new(),
            record: csv::ByteRecord::new(),
            problems: Vec::new(),
        }
    }

    /// Each month's compressed records and totals.
    pub fn finish(self) -> Result<PartOut> {
        let mut months = BTreeMap::new();
        for (p, m) in self.months {
            let sink = m.writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
            months.insert(p, (sink.finish()?, m.totals));
        }
        Ok(PartOut {
            months,
            provider: self.provider,
            problems: self.problems,
        })
    }

    fn check_provider(&mut self, record: &crate::records::Record) {
        if self.provider.is_some() {
            return;
        }
        self.provider = self
            .provider_col
            .and_then(|i| record.get(i))
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .filter(|v| !focus::is_null(v))
            .map(str::to_string);
    }
}

/// Join the parts (in delivery order, with their shown names and paths):
/// per month the header, then each part's records. A delivery holds one
/// source: a part whose ProviderName differs from the first part's is a
/// problem.
pub fn merge(
    compress: bool,
    columns: &csv::ByteRecord,
    parts: Vec<(String, PathBuf, PartOut)>,
) -> Result<(BTreeMap<Period, Written>, Vec<Problem>)> {
    let mut header = csv::Writer::from_writer(Sink::new(compress));
    header.write_byte_record(columns)?;
    let header = header
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .finish()?;
    let mut problems = Vec::new();
    let mut first: Option<(String, String)> = None;
    let mut months: BTreeMap<Period, (Vec<Chunk>, Totals, Vec<PathBuf>)> = BTreeMap::new();
    for (shown, path, part) in parts {
        problems.extend(part.problems);
        if let Some(v) = part.provider {
            match &first {
                None => first = Some((v, shown.clone())),
                Some((f, in_part)) if *f != v => {
                    problems.push(Problem::file(
                        &shown,
                        format!(
                            "ProviderName is `{v}` here but `{f}` in {in_part}: a delivery holds one source; import each provider's files with its own --source"
                        ),
                    ));
                    continue;
                }
                _ => {}
            }
        }
        for (period, (chunk, totals)) in part.months {
            let month = months.entry(period).or_default();
            month.0.push(chunk);
            month.1.rows += totals.rows;
            for (currency, billed) in totals.billed {
                *month.1.billed.entry(currency).or_default() += billed;
            }
            month.2.push(path.clone());
        }
    }
    let out = months
        .into_iter()
        .map(|(period, (chunks, totals, used))| {
            let all: Vec<&Chunk> = std::iter::once(&header).chain(&chunks).collect();
            let bytes = if compress {
                gzip(&all)
            } else {
                all.iter().flat_map(|c| c.bytes.iter().copied()).collect()
            };
            (period, (bytes, totals, used))
        })
        .collect();
    Ok((out, problems))
}

impl RowSink for Splitter {
    fn keeps_charges(&self) -> bool {
        false
    }

    fn header(&mut self, names: &csv::ByteRecord) {
        let key = |n: &[u8]| String::from_utf8_lossy(n).trim().to_ascii_lowercase();
        let part: Vec<String> = names.iter().map(key).collect();
        let extra: Vec<&str> = names
            .iter()
            .filter(|n| !self.columns.iter().any(|c| key(c) == key(n)))
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
        self.map = self
            .columns
            .iter()
            .map(|c| part.iter().position(|p| *p == key(c)))
            .collect();
        self.provider_col = names
            .iter()
            .position(|n| focus::field(&String::from_utf8_lossy(n)) == Some(Field::ProviderName));
    }

    fn row(&mut self, mut charge: Charge, record: &crate::records::Record) {
        self.check_provider(record);
        if self.skip {
            return;
        }
        let period = Period::of(charge.billing_period_start);
        let compress = self.compress;
        let m = self.months.entry(period).or_insert_with(|| MonthOut {
            writer: csv::Writer::from_writer(Sink::new(compress)),
            totals: Totals::default(),
            precision: crate::precision::Checker::default(),
        });
        if let Some(p) = m.precision.row(&mut charge) {
            self.problems.push(p);
        }
        self.record.clear();
        for i in &self.map {
            self.record
                .push_field(i.and_then(|i| record.get(i)).unwrap_or(b""));
        }
        if let Err(e) = m.writer.write_byte_record(&self.record) {
            self.problems
                .push(Problem::file(&self.part, format!("cannot write: {e}")));
            self.skip = true;
        }
        add(&mut m.totals, &charge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn chunk(text: &str) -> Chunk {
        let mut sink = Sink::new(true);
        sink.write_all(text.as_bytes()).unwrap();
        sink.finish().unwrap()
    }

    #[test]
    fn deflate_segments_join_into_one_gzip_member_that_any_reader_reads_whole() {
        let parts = ["header\n", "", "a,1\nb,2\n", &"c,3\n".repeat(50_000)];
        let chunks: Vec<Chunk> = parts.iter().map(|t| chunk(t)).collect();
        let bytes = gzip(&chunks.iter().collect::<Vec<_>>());
        // A single-member reader (it would stop after a first member) reads it all,
        // and checks the combined CRC and length at the end.
        let mut text = String::new();
        let mut one = flate2::read::GzDecoder::new(&bytes[..]);
        one.read_to_string(&mut text).unwrap();
        assert_eq!(text, parts.concat());
        let mut rest = Vec::new();
        one.into_inner().read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "one member, nothing after it");
        // The same parts give the same bytes.
        let again: Vec<Chunk> = parts.iter().map(|t| chunk(t)).collect();
        assert_eq!(gzip(&again.iter().collect::<Vec<_>>()), bytes);
    }
}
