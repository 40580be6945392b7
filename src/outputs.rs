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
    out: impl Write,
) -> Result<()> {
    use crate::journal::neutralised as cell;
    use std::fmt::Write as _;
    let mut w = csv::Writer::from_writer(out);
    let carried = carried_columns(charges);
    let mut header: Vec<String> = CHARGES_HEADER.iter().map(|h| h.to_string()).collect();
    header.extend(carried.iter().map(|(_, shown)| shown.clone()));
    w.write_record(&header)?;
    // A million rows: looked up by borrowed keys, formatted into one buffer.
    let statements: crate::charge::FastMap<(&str, &str, &str, &str), &str> = numbers
        .iter()
        .map(|(k, n)| {
            let key = (&*k.currency, &*k.pi, &*k.project, &*k.fund);
            (key, n.as_str())
        })
        .collect();
    let period = period.to_string();
    let mut buf = String::new();
    for c in charges {
        let a = &c.attribution;
        let statement = if c.state == crate::charge::State::Billed {
            let key = (&*c.currency, &*a.pi_email, &*a.project_id, &*a.fund_org);
            statements.get(&key).copied().unwrap_or_default()
        } else {
            ""
        };
        w.write_field(&c.id)?;
        w.write_field(&period)?;
        w.write_field(cell(&c.source).as_bytes())?;
        w.write_field(cell(&c.file).as_bytes())?;
        buf.clear();
        write!(buf, "{}", c.line)?;
        w.write_field(&buf)?;
        w.write_field(c.state.as_str())?;
        buf.clear();
        for (i, f) in c.flags.iter().enumerate() {
            if i > 0 {
                buf.push(';');
            }
            buf.push_str(f.code.as_str());
        }
        w.write_field(&buf)?;
        for v in [
            &a.pi_email,
            &a.project_id,
            &a.fund_org,
            &a.cost_center,
            &c.dims.service_name,
            &c.dims.service_category,
            &c.dims.resource_id,
            &c.dims.resource_name,
            &c.dims.charge_category,
            &c.dims.charge_class,
        ] {
            w.write_field(cell(v).as_bytes())?;
        }
        w.write_field(&*c.currency)?;
        for d in [c.list, c.contracted, c.effective, c.billed] {
            buf.clear();
            crate::money::decimal_into(&mut buf, d);
            w.write_field(&buf)?;
        }
        w.write_field(statement)?;
        for (name, _) in &carried {
            let v = c.dims.extra.iter().find(|(k, _)| &**k == name.as_str());
            w.write_field(cell(v.map(|(_, v)| &**v).unwrap_or("")).as_bytes())?;
        }
        w.write_record(None::<&[u8]>)?;
    }
    w.flush()?;
    Ok(())
}

/// The input columns ocb gives no meaning to (`x_` and unknown ones), carried
/// after its own columns in name order; a name that clashes with one of
/// ocb's columns is carried as `input_<name>`.
fn carried_columns(charges: &[Charge]) -> Vec<(String, String)> {
    let names: std::collections::BTreeSet<&str> = charges
        .iter()
        .flat_map(|c| c.dims.extra.iter().map(|(k, _)| &**k))
        .collect();
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
