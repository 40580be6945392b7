//! `periods/<P>/issued.csv.gz`: the row-level record of what a closed period
//! issued. One row per charge of the period at close (its state, and the
//! statement it is on), plus the rows of superseded statements. A closed
//! period renders from this file, and corrections are the difference between
//! it and what the inputs say now. Gzip-compressed CSV: deterministic bytes,
//! readable with `zcat`, and a 1M-row month stays a few tens of MB.

use crate::charge::{Attribution, Charge, Dimensions, Flag, Interner, Origin, State, Tags};
use anyhow::{Context, Result, anyhow};
use chrono::NaiveDate;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use rust_decimal::Decimal;
use std::path::Path;
use std::sync::Arc;

pub const FILE: &str = "issued.csv.gz";

const HEADER: [&str; 36] = [
    "statement",
    "state",
    "id",
    "source",
    "file",
    "line",
    "flags",
    "billing_period_start",
    "charge_period_start",
    "pi_email",
    "project_id",
    "fund_org",
    "cost_center",
    "reference_1",
    "reference_2",
    "service_name",
    "service_category",
    "resource_id",
    "resource_name",
    "charge_category",
    "charge_class",
    "description",
    "sub_account_id",
    "billing_account_id",
    "currency",
    "consumed_quantity",
    "consumed_unit",
    "list",
    "contracted",
    "effective",
    "billed",
    "has_list",
    "origin_period",
    "origin_statement",
    "origin_removed",
    "origin_target",
];

/// One recorded row: the statement it is on (empty unless billed) and
/// whether that statement was superseded.
pub struct Row {
    pub statement: String,
    pub superseded: bool,
    pub charge: Charge,
}

/// Write the record; rows are written in the order given.
pub fn write<'a>(
    path: &Path,
    rows: impl Iterator<Item = (&'a str, &'a str, &'a Charge)>,
) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    // A fixed header (no name, no time) keeps the bytes a function of the rows.
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, Compression::default());
    let mut w = csv::Writer::from_writer(gz);
    w.write_record(HEADER)?;
    for (statement, state, c) in rows {
        w.write_record(record(statement, state, c))?;
    }
    let gz: GzEncoder<std::fs::File> = w.into_inner().map_err(|e| anyhow!("{e}"))?;
    gz.finish()?.sync_all()?;
    Ok(())
}

fn record(statement: &str, state: &str, c: &Charge) -> Vec<String> {
    let a = &c.attribution;
    let o = c.origin.as_deref();
    let flags: Vec<String> = c
        .flags
        .iter()
        .map(|f| format!("{}{}", if f.holds { "!" } else { "" }, f.code))
        .collect();
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    vec![
        statement.to_string(),
        state.to_string(),
        c.id.to_string(),
        c.source.to_string(),
        c.file.to_string(),
        c.line.to_string(),
        flags.join(";"),
        c.billing_period_start.to_string(),
        date(c.charge_period_start),
        a.pi_email.to_string(),
        a.project_id.to_string(),
        a.fund_org.to_string(),
        a.cost_center.to_string(),
        a.reference_1.to_string(),
        a.reference_2.to_string(),
        c.dims.service_name.to_string(),
        c.dims.service_category.to_string(),
        c.dims.resource_id.to_string(),
        c.dims.resource_name.to_string(),
        c.dims.charge_category.to_string(),
        c.dims.charge_class.to_string(),
        c.dims.description.to_string(),
        c.dims.sub_account_id.to_string(),
        c.dims.billing_account_id.to_string(),
        c.currency.to_string(),
        c.consumed_quantity
            .map(|q| q.to_string())
            .unwrap_or_default(),
        c.dims.consumed_unit.to_string(),
        c.list.to_string(),
        c.contracted.to_string(),
        c.effective.to_string(),
        c.billed.to_string(),
        (if c.has_list { "1" } else { "0" }).to_string(),
        o.map(|o| o.period.to_string()).unwrap_or_default(),
        o.map(|o| o.statement.clone()).unwrap_or_default(),
        o.map(|o| (if o.removed { "1" } else { "0" }).to_string())
            .unwrap_or_default(),
        o.map(|o| o.target.clone()).unwrap_or_default(),
    ]
}

/// Read the record; `None` when the period was closed without one.
pub fn read(path: &Path, shown: &str, strings: &mut Interner) -> Result<Option<Vec<Row>>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{shown}`")),
    };
    let mut r = csv::Reader::from_reader(GzDecoder::new(std::io::BufReader::new(file)));
    let header: Vec<String> = r.headers()?.iter().map(str::to_string).collect();
    if header != HEADER {
        anyhow::bail!("{shown}: not an issued record of this ocb version (unexpected header)");
    }
    let mut rows = Vec::new();
    let mut shared = Shared::default();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{shown}: row {}", i + 2))?;
        let row = row(&rec, strings, &mut shared);
        rows.push(row.with_context(|| format!("{shown}: row {}", i + 2))?);
    }
    Ok(Some(rows))
}

/// Rows' attributions and dimensions, shared as loaded rows share them
/// (`load::Table`), by the addresses of their interned strings (the
/// interner outlives the read, so an address is never reused meanwhile).
#[derive(Default)]
struct Shared {
    attributions: crate::charge::FastMap<[usize; 6], Arc<Attribution>>,
    dims: crate::charge::FastMap<[usize; 10], Arc<Dimensions>>,
}

fn address(s: &Arc<str>) -> usize {
    Arc::as_ptr(s) as *const u8 as usize
}

fn row(rec: &csv::StringRecord, strings: &mut Interner, shared: &mut Shared) -> Result<Row> {
    let f = |i: usize| rec.get(i).unwrap_or("");
    let dec = |i: usize| -> Result<Decimal> {
        f(i).parse::<Decimal>()
            .map_err(|e| anyhow!("column `{}`: {e}", HEADER[i]))
    };
    let date = |i: usize| -> Result<Option<NaiveDate>> {
        match f(i) {
            "" => Ok(None),
            s => s
                .parse()
                .map(Some)
                .map_err(|e| anyhow!("column `{}`: {e}", HEADER[i])),
        }
    };
    let state = match f(1) {
        "billed" | "superseded" => State::Billed,
        "held" => State::Held,
        "rejected" => State::Rejected,
        other => anyhow::bail!("column `state`: unknown state `{other}`"),
    };
    let mut s = |i: usize| -> Arc<str> { strings.get(f(i)) };
    let a = Attribution {
        pi_email: s(9),
        project_id: s(10),
        fund_org: s(11),
        cost_center: s(12),
        reference_1: s(13),
        reference_2: s(14),
    };
    let key = [
        &a.pi_email,
        &a.project_id,
        &a.fund_org,
        &a.cost_center,
        &a.reference_1,
        &a.reference_2,
    ]
    .map(address);
    let attribution = shared
        .attributions
        .entry(key)
        .or_insert_with(|| Arc::new(a))
        .clone();
    let d = Dimensions {
        service_name: s(15),
        service_category: s(16),
        resource_id: s(17),
        resource_name: s(18),
        charge_category: s(19),
        charge_class: s(20),
        description: s(21),
        consumed_unit: s(26),
        sub_account_id: s(22),
        billing_account_id: s(23),
    };
    let key = [
        &d.service_name,
        &d.service_category,
        &d.resource_id,
        &d.resource_name,
        &d.charge_category,
        &d.charge_class,
        &d.description,
        &d.consumed_unit,
        &d.sub_account_id,
        &d.billing_account_id,
    ]
    .map(address);
    let dims = shared
        .dims
        .entry(key)
        .or_insert_with(|| Arc::new(d))
        .clone();
    let origin = match f(32) {
        "" => None,
        p => Some(Box::new(Origin {
            period: p
                .parse()
                .map_err(|e: String| anyhow!("column `origin_period`: {e}"))?,
            statement: f(33).to_string(),
            removed: f(34) == "1",
            target: f(35).to_string(),
        })),
    };
    let id = f(2).to_string();
    let mut content = [0u8; 16];
    for (i, b) in id.bytes().take(16).enumerate() {
        content[i] = b;
    }
    let charge = Charge {
        id: id.into(),
        source: s(3),
        file: s(4),
        line: f(5).parse().unwrap_or(0),
        billing_period_start: date(7)?
            .ok_or_else(|| anyhow!("column `billing_period_start`: empty"))?,
        charge_period_start: date(8)?,
        billed: dec(30)?,
        list: dec(27)?,
        contracted: dec(28)?,
        effective: dec(29)?,
        has_list: f(31) == "1",
        currency: s(24),
        consumed_quantity: match f(25) {
            "" => None,
            _ => Some(dec(25)?),
        },
        dims,
        extra: None,
        tags: Tags::default(),
        content,
        attribution,
        flags: flags(f(6)),
        state,
        decision: None,
        origin,
    };
    Ok(Row {
        statement: f(0).to_string(),
        superseded: f(1) == "superseded",
        charge,
    })
}

/// Flag codes as recorded (`!` marks a flag that held the charge).
fn flags(text: &str) -> Vec<Flag> {
    text.split(';')
        .filter(|t| !t.is_empty())
        .filter_map(|t| {
            let (holds, code) = match t.strip_prefix('!') {
                Some(c) => (true, c),
                None => (false, t),
            };
            crate::charge::FlagCode::ALL
                .into_iter()
                .find(|k| k.as_str() == code)
                .map(|code| Flag {
                    code,
                    detail: "recorded at close".to_string(),
                    holds,
                })
        })
        .collect()
}
