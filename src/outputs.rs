//! Machine-readable outputs others rely on, with exact headers:
//! `<P>/charges.csv`, `<P>/statements.csv` and `summary.json`.

use crate::charge::Charge;
use crate::journal::neutralise;
use crate::period::Period;
use crate::rollup::{Group, StatementKey};
use anyhow::Result;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub const CHARGES_HEADER: [&str; 23] = [
    "id",
    "period",
    "source",
    "file",
    "line",
    "state",
    "flags",
    "pi_email",
    "project_id",
    "fund_org",
    "cost_center",
    "service_name",
    "service_category",
    "resource_id",
    "resource_name",
    "charge_category",
    "charge_class",
    "currency",
    "list_cost",
    "contracted_cost",
    "effective_cost",
    "billed_cost",
    "statement",
];

/// Every charge; a billed one names its statement, so charges reconcile to
/// statements.csv (and its credits, surcharges and due).
pub fn charges_csv(
    charges: &[Charge],
    period: Period,
    numbers: &BTreeMap<crate::rollup::StatementKey, String>,
    mut out: impl Write,
) -> Result<()> {
    use crate::journal::neutralised as cell;
    let carried = carried_columns(charges);
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record(
        CHARGES_HEADER
            .iter()
            .copied()
            .chain(carried.iter().map(|(_, shown)| shown.as_str())),
    )?;
    out.write_all(&header.into_inner()?)?;
    let statements: crate::charge::FastMap<(&str, &str, &str, &str), &str> = numbers
        .iter()
        .map(|(k, n)| {
            let key = (&*k.currency, &*k.pi, &*k.project, &*k.fund);
            (key, n.as_str())
        })
        .collect();
    let period = period.to_string();
    // A million rows share a few thousand sources, files, attributions and
    // dimensions: their cells are encoded once each, found by address.
    let (mut sources, mut files, mut people): (Encoded, Encoded, Encoded) = Default::default();
    let (mut dims, mut extras): (Encoded, Encoded) = Default::default();
    let mut billed_on: Encoded<(usize, usize)> = Encoded::default();
    let mut layout = Layout::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    for (i, c) in charges.iter().enumerate() {
        // Rows come in file order, their dimensions' bytes from anywhere in
        // a table of some 80,000: asked for ahead, the slot then the bytes.
        if let Some(ahead) = charges.get(i + 2 * AHEAD) {
            dims.ahead(Arc::as_ptr(&ahead.dims) as usize);
        }
        if let Some(ahead) = charges.get(i + AHEAD) {
            dims.ahead_bytes(Arc::as_ptr(&ahead.dims) as usize);
        }
        let a = &c.attribution;
        buf.extend_from_slice(c.id.as_bytes());
        buf.push(b',');
        buf.extend_from_slice(period.as_bytes());
        sources.append(&mut buf, c.source.as_ptr() as usize, |out| {
            out.push(b',');
            csv_field(out, cell(&c.source).as_bytes());
        });
        files.append(&mut buf, c.file.as_ptr() as usize, |out| {
            out.push(b',');
            csv_field(out, cell(&c.file).as_bytes());
        });
        buf.push(b',');
        crate::money::integer_into(&mut buf, c.line);
        buf.push(b',');
        buf.extend_from_slice(c.state.as_str().as_bytes());
        buf.push(b',');
        for (i, f) in c.flags.iter().enumerate() {
            if i > 0 {
                buf.push(b';');
            }
            buf.extend_from_slice(f.code.as_str().as_bytes());
        }
        people.append(&mut buf, Arc::as_ptr(a) as usize, |out| {
            for v in [&a.pi_email, &a.project_id, &a.fund_org, &a.cost_center] {
                out.push(b',');
                csv_field(out, cell(v).as_bytes());
            }
        });
        let d = &c.dims;
        dims.append(&mut buf, Arc::as_ptr(d) as usize, |out| {
            for v in [
                &d.service_name,
                &d.service_category,
                &d.resource_id,
                &d.resource_name,
                &d.charge_category,
                &d.charge_class,
            ] {
                out.push(b',');
                csv_field(out, cell(v).as_bytes());
            }
        });
        buf.push(b',');
        csv_field(&mut buf, c.currency.as_bytes());
        for v in [c.list, c.contracted, c.effective, c.billed] {
            buf.push(b',');
            crate::money::decimal_bytes_into(&mut buf, v);
        }
        if c.state == crate::charge::State::Billed {
            // By the attribution and currency the statement's key is made of.
            let at = (Arc::as_ptr(a) as usize, c.currency.as_ptr() as usize);
            billed_on.append(&mut buf, at, |out| {
                let key = (&*c.currency, &*a.pi_email, &*a.project_id, &*a.fund_org);
                out.push(b',');
                csv_field(
                    out,
                    statements.get(&key).copied().unwrap_or_default().as_bytes(),
                );
            });
        } else {
            buf.push(b',');
        }
        match &c.extra {
            Some(e) if !carried.is_empty() => {
                extras.append(&mut buf, Arc::as_ptr(e) as usize, |out| {
                    for slot in layout.slots(&e.names, &carried) {
                        let v = slot.map_or("", |i| &*e.values[i]);
                        out.push(b',');
                        csv_field(out, cell(v).as_bytes());
                    }
                });
            }
            // A file without the columns another file carries.
            _ => buf.extend(std::iter::repeat_n(b',', carried.len())),
        }
        buf.push(b'\n');
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

/// How many rows ahead charges.csv asks for a row's encoded dimensions.
const AHEAD: usize = 8;

/// Where each carried column is among a row's extra cells (the first of its
/// name). The rows of a file share one list of names: found again only
/// when a row's list is not the row before's.
#[derive(Default)]
struct Layout {
    /// The names the slots were found for, once found.
    names: Option<Arc<[Arc<str>]>>,
    slots: Vec<Option<usize>>,
}

impl Layout {
    fn slots(&mut self, names: &Arc<[Arc<str>]>, carried: &[(String, String)]) -> &[Option<usize>] {
        if !self
            .names
            .as_ref()
            .is_some_and(|known| Arc::ptr_eq(known, names))
        {
            self.names = Some(names.clone());
            self.slots = carried
                .iter()
                .map(|(name, _)| names.iter().position(|k| &**k == name.as_str()))
                .collect();
        }
        &self.slots
    }
}

/// A cell as the csv crate writes it: quoted when it holds a comma, a quote
/// or a line break, its quotes doubled.
fn csv_field(out: &mut Vec<u8>, cell: &[u8]) {
    if cell
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.push(b'"');
        for &b in cell {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(cell);
    }
}

/// Bytes encoded once per shared value, by its address, and copied for every
/// row that shares it. Stops remembering when most values are new (each
/// row's own): then each is encoded where it is written.
#[derive(Default)]
struct Encoded<K: Copy + Eq + std::hash::Hash + Default = usize> {
    bytes: Vec<u8>,
    /// Each address's bytes: where they start in `bytes`, and how many.
    at: crate::addressed::AddressMap<K>,
    /// The address looked up last and its bytes: rows come in runs.
    last: Option<(K, (u32, u32))>,
    lookups: usize,
    misses: usize,
    unshared: bool,
}

impl<K: Copy + Eq + std::hash::Hash + Default> Encoded<K> {
    fn append(&mut self, out: &mut Vec<u8>, at: K, encode: impl FnOnce(&mut Vec<u8>)) {
        if let Some((last, range)) = self.last
            && last == at
        {
            out.extend_from_slice(self.slice(range));
            return;
        }
        if self.unshared {
            return encode(out);
        }
        self.lookups += 1;
        let range = match self.at.get(at) {
            Some(range) => range,
            None => {
                self.misses += 1;
                let start = self.bytes.len();
                encode(&mut self.bytes);
                let (Ok(from), Ok(len)) = (
                    u32::try_from(start),
                    u32::try_from(self.bytes.len() - start),
                ) else {
                    // Offsets past 4 GB: encoded where written from here on.
                    out.extend_from_slice(&self.bytes[start..]);
                    *self = Encoded {
                        unshared: true,
                        ..Default::default()
                    };
                    return;
                };
                if crate::charge::mostly_new(self.misses, self.lookups) {
                    out.extend_from_slice(&self.bytes[start..]);
                    *self = Encoded {
                        unshared: true,
                        ..Default::default()
                    };
                    return;
                }
                self.at.insert(at, (from, len));
                (from, len)
            }
        };
        out.extend_from_slice(self.slice(range));
        self.last = Some((at, range));
    }

    fn slice(&self, (from, len): (u32, u32)) -> &[u8] {
        &self.bytes[from as usize..from as usize + len as usize]
    }

    /// Ask for the slot of an address looked up soon (rows out of cache).
    fn ahead(&self, at: K) {
        if !self.unshared {
            self.at.prefetch(at);
        }
    }

    /// Ask for the bytes of an address looked up sooner still, once its
    /// slot is in cache.
    fn ahead_bytes(&self, at: K) {
        if !self.unshared
            && let Some(range) = self.at.get(at)
        {
            crate::memory::prefetch_bytes(self.slice(range));
        }
    }
}

/// The input columns ocb gives no meaning to (`x_` and unknown ones), carried
/// after its own columns in name order; a name that clashes with one of
/// ocb's columns is carried as `input_<name>`.
fn carried_columns(charges: &[Charge]) -> Vec<(String, String)> {
    // The rows of a file list the same names (shared strings): each list of
    // names is read once per run of rows that share it.
    let mut names: std::collections::BTreeSet<&str> = Default::default();
    let mut last: Option<&Arc<[Arc<str>]>> = None;
    for e in charges.iter().filter_map(|c| c.extra.as_ref()) {
        if !last.is_some_and(|known| Arc::ptr_eq(known, &e.names)) {
            last = Some(&e.names);
            names.extend(e.names.iter().map(|k| &**k));
        }
    }
    names
        .into_iter()
        .map(|n| {
            let clash = CHARGES_HEADER.iter().any(|h| h.eq_ignore_ascii_case(n));
            let shown = if clash {
                format!("input_{n}")
            } else {
                n.to_string()
            };
            (n.to_string(), shown)
        })
        .collect()
}

/// One row per statement. `credits`, `surcharges` and `due` come from the
/// ledger (whole cents): due = billed_cost rounded − credits + surcharges.
pub fn statements_csv(
    statements: &[(String, &Group<StatementKey>, &crate::ledger::Statement)],
    period: Period,
) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "statement",
        "period",
        "pi_email",
        "project_id",
        "fund_org",
        "currency",
        "list_cost",
        "discount",
        "billed_cost",
        "charges",
        "credits",
        "surcharges",
        "due",
    ])?;
    for (number, g, l) in statements {
        let s = &g.sums;
        w.write_record([
            number.clone(),
            period.to_string(),
            neutralise(&g.key.pi),
            neutralise(&g.key.project),
            neutralise(&g.key.fund),
            g.key.currency.clone(),
            s.list.normalize().to_string(),
            s.discount().normalize().to_string(),
            s.billed.normalize().to_string(),
            s.count.to_string(),
            format!("{:.2}", l.credits),
            format!("{:.2}", l.surcharges),
            format!("{:.2}", l.due),
        ])?;
    }
    Ok(w.into_inner()?)
}

/// Per period and currency: what came in and where it went.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CurrencySummary {
    pub currency: String,
    pub input_rows: u64,
    pub input_billed: Decimal,
    pub billed: Decimal,
    pub held: Decimal,
    pub rejected: Decimal,
    pub list: Decimal,
    pub billed_rows: u64,
    pub held_rows: u64,
    pub rejected_rows: u64,
    /// The statements' usage lines, each rounded to the cent.
    pub usage: Decimal,
    /// Credit programs and allocations drawn (positive), surcharges, and
    /// due: usage − credits + surcharges.
    pub credits: Decimal,
    pub surcharges: Decimal,
    pub due: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodSummary {
    pub period: Period,
    pub status: crate::close::Status,
    pub sources: Vec<String>,
    pub currencies: Vec<CurrencySummary>,
}

pub fn summary_json(periods: &[PeriodSummary]) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Doc<'a> {
        periods: &'a [PeriodSummary],
    }
    let mut v = serde_json::to_vec_pretty(&Doc { periods })?;
    v.push(b'\n');
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charge::Interner;

    /// `charges.csv` of a file's rows, read back with the csv crate: (header, rows).
    fn written(text: &str) -> (csv::StringRecord, Vec<csv::StringRecord>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.csv");
        std::fs::write(&path, text).unwrap();
        let mut strings = Interner::default();
        let loaded =
            crate::load::load_file(&path, "periods/2025-01/aws.csv", "aws", "USD", &mut strings);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let numbers = [("USD", "202501-A"), ("EUR", "202501-B")]
            .map(|(currency, n)| {
                let key = StatementKey {
                    currency: currency.into(),
                    pi: String::new(),
                    project: String::new(),
                    fund: String::new(),
                };
                (key, n.to_string())
            })
            .into_iter()
            .collect();
        let mut out = Vec::new();
        let period: Period = "2025-01".parse().unwrap();
        charges_csv(&loaded.charges, period, &numbers, &mut out).unwrap();
        let mut r = csv::Reader::from_reader(&out[..]);
        let header = r.headers().unwrap().clone();
        (header, r.records().map(Result::unwrap).collect())
    }

    #[test]
    fn every_cell_reads_back_however_it_is_quoted_and_shared() {
        let (header, rows) = written(
            "BillingPeriodStart,BilledCost,BillingCurrency,ServiceName,ResourceId,x_Note\n\
             2025-01-01,1.50,USD,\"EC2, \"\"big\"\"\",=cmd,\"two\nlines\"\n\
             2025-01-01,-2,EUR,\"EC2, \"\"big\"\"\",=cmd,\"two\nlines\"\n\
             2025-01-01,3,USD,S3,r-1,\n",
        );
        let cell = |row: usize, name: &str| {
            let col = header.iter().position(|h| h == name).unwrap();
            rows[row][col].to_string()
        };
        assert_eq!(header.len(), CHARGES_HEADER.len() + 1);
        assert_eq!(&header[CHARGES_HEADER.len()], "x_Note");
        assert_eq!(cell(1, "service_name"), "EC2, \"big\"");
        assert_eq!(cell(1, "resource_id"), "'=cmd", "a formula is neutralised");
        assert_eq!(
            (cell(1, "x_Note"), cell(2, "x_Note")),
            ("two\nlines".into(), "".into())
        );
        assert_eq!(
            (cell(0, "line"), cell(1, "line"), cell(2, "line")),
            ("2".into(), "4".into(), "6".into())
        );
        assert_eq!(
            (
                cell(1, "billed_cost"),
                cell(1, "currency"),
                cell(0, "billed_cost")
            ),
            ("-2".into(), "EUR".into(), "1.50".into())
        );
        // One attribution, two currencies: two statements.
        let statements: Vec<String> = (0..3).map(|r| cell(r, "statement")).collect();
        assert_eq!(statements, ["202501-A", "202501-B", "202501-A"]);
        assert_eq!(cell(2, "file"), "periods/2025-01/aws.csv");
    }

    #[test]
    fn carried_columns_are_matched_by_name_whatever_each_file_lists() {
        let dir = tempfile::tempdir().unwrap();
        let mut strings = Interner::default();
        let mut charges = Vec::new();
        for (name, text) in [
            (
                "a.csv",
                "BillingPeriodStart,BilledCost,x_B,x_A\n2025-01-01,1,b1,a1\n2025-01-01,2,b2,a2\n",
            ),
            (
                "b.csv",
                "BillingPeriodStart,BilledCost,x_A,x_C\n2025-01-01,3,a3,c3\n",
            ),
            ("c.csv", "BillingPeriodStart,BilledCost\n2025-01-01,4\n"),
            (
                "d.csv",
                "BillingPeriodStart,BilledCost,x_B,x_A\n2025-01-01,5,b5,a5\n",
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let loaded = crate::load::load_file(&path, name, "aws", "USD", &mut strings);
            assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
            charges.extend(loaded.charges);
        }
        let mut out = Vec::new();
        let period: Period = "2025-01".parse().unwrap();
        charges_csv(&charges, period, &BTreeMap::new(), &mut out).unwrap();
        let mut r = csv::Reader::from_reader(&out[..]);
        let header = r.headers().unwrap().clone();
        assert_eq!(
            &header.iter().collect::<Vec<_>>()[CHARGES_HEADER.len()..],
            ["x_A", "x_B", "x_C"]
        );
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|r| {
                r.unwrap()
                    .iter()
                    .skip(CHARGES_HEADER.len())
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        let want = [
            ["a1", "b1", ""],
            ["a2", "b2", ""],
            ["a3", "", "c3"],
            ["", "", ""],
            ["a5", "b5", ""],
        ];
        assert_eq!(rows, want.map(|r| r.map(str::to_string).to_vec()));
    }

    #[test]
    fn rows_that_share_nothing_are_written_each_their_own() {
        // Past the point where remembering encoded cells stops paying.
        let mut text = String::from("BillingPeriodStart,BilledCost,ResourceId,x_Job\n");
        for i in 0..70_000 {
            text.push_str(&format!("2025-01-01,{i}.01,\"r,{i}\",j{i}\n"));
        }
        let (header, rows) = written(&text);
        let col = header.iter().position(|h| h == "resource_id").unwrap();
        let job = header.iter().position(|h| h == "x_Job").unwrap();
        assert_eq!(rows.len(), 70_000);
        for i in [0, 65_535, 65_536, 69_999] {
            assert_eq!(rows[i][col], format!("r,{i}"));
            assert_eq!(rows[i][col + 8], format!("{i}.01"), "billed_cost");
            assert_eq!(rows[i][job], format!("j{i}"));
        }
    }
}
