//! Rollups of a period's charges with polars: sums of list, contracted,
//! effective and billed cost by currency and key. The only module that
//! imports polars; everything it returns is plain structs of `Decimal`.

use crate::charge::{Charge, State};
use anyhow::{Result, anyhow};
use polars::prelude::*;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Sums over a group of charges.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sums {
    pub list: Decimal,
    pub contracted: Decimal,
    pub effective: Decimal,
    pub billed: Decimal,
    pub quantity: Decimal,
    pub count: u64,
}

impl Sums {
    /// What the PI does not pay: list price minus amount due.
    pub fn discount(&self) -> Decimal {
        self.list - self.billed
    }

    pub fn add(&mut self, other: &Sums) {
        self.list += other.list;
        self.contracted += other.contracted;
        self.effective += other.effective;
        self.billed += other.billed;
        self.quantity += other.quantity;
        self.count += other.count;
    }
}

/// One group: its key values (in the order asked) and its sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: Vec<String>,
    pub sums: Sums,
}

/// The groupings every renderer of a period reads.
#[derive(Debug, Clone, Default)]
pub struct Rollup {
    /// currency, state — over all charges.
    pub states: Vec<Group>,
    /// currency, pi, project, fund_org — billed charges: one statement each.
    pub statements: Vec<Group>,
    /// currency, pi, project, fund_org, source, kind, service_category, service_name, unit — billed.
    pub services: Vec<Group>,
    /// currency, pi, project, fund_org, source, kind, service_name, resource, unit — billed.
    pub resources: Vec<Group>,
    /// currency, source, service_category, service_name — billed.
    pub period_services: Vec<Group>,
    /// currency, pi, project, source — held charges, for warnings on statements.
    pub held: Vec<Group>,
}

/// The kind of correction lines posted to a closed period's statement.
pub const POSTED: &str = "posted";

/// How a line is presented on a statement (FOCUS: credits, taxes and
/// corrections to prior periods are not netted into service lines).
pub fn kind(c: &Charge) -> &'static str {
    // Corrections to closed periods get their own sections (see `correct`).
    if c.origin.is_some() {
        return POSTED;
    }
    if c.is_correction() {
        return "correction";
    }
    match c.charge_category.to_ascii_lowercase().as_str() {
        "credit" => "credit",
        "tax" => "tax",
        "adjustment" => "adjustment",
        _ => "usage",
    }
}

pub fn rollup(charges: &[Charge]) -> Result<Rollup> {
    let scale = charges
        .iter()
        .flat_map(|c| {
            [
                c.list,
                c.contracted,
                c.effective,
                c.billed,
                c.consumed_quantity.unwrap_or_default(),
            ]
        })
        .map(|d| d.scale())
        .max()
        .unwrap_or(0);
    let mut dict = Dict::default();
    let billed_code = dict.code(State::Billed.as_str());
    let held_code = dict.code(State::Held.as_str());
    let all = frame(charges, scale, &mut dict)?.lazy();
    let billed = all.clone().filter(col("state").eq(lit(billed_code)));
    let statement = ["currency", "pi", "project", "fund"];
    let with = |extra: &[&'static str]| {
        statement
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect::<Vec<_>>()
    };
    Ok(Rollup {
        states: group(all.clone(), &["currency", "state"], scale, &dict)?,
        statements: group(billed.clone(), &statement, scale, &dict)?,
        services: group(
            billed.clone(),
            &with(&["source", "kind", "service_category", "service_name", "unit"]),
            scale,
            &dict,
        )?,
        resources: group(
            billed.clone(),
            &with(&["source", "kind", "service_name", "resource", "unit"]),
            scale,
            &dict,
        )?,
        period_services: group(
            billed,
            &["currency", "source", "service_category", "service_name"],
            scale,
            &dict,
        )?,
        held: group(
            all.filter(col("state").eq(lit(held_code))),
            &["currency", "pi", "project", "source"],
            scale,
            &dict,
        )?,
    })
}

/// Key strings as small integer codes: polars groups `u32` columns without
/// copying every string of a million-row month into its own buffers.
#[derive(Default)]
struct Dict<'a> {
    codes: HashMap<&'a str, u32>,
    words: Vec<&'a str>,
}

impl<'a> Dict<'a> {
    fn code(&mut self, word: &'a str) -> u32 {
        if let Some(&c) = self.codes.get(word) {
            return c;
        }
        let c = self.words.len() as u32;
        self.words.push(word);
        self.codes.insert(word, c);
        c
    }
}

fn frame<'a>(charges: &'a [Charge], scale: u32, dict: &mut Dict<'a>) -> Result<DataFrame> {
    let mut text = |name: &str, f: &dyn Fn(&'a Charge) -> &'a str| {
        let codes: Vec<u32> = charges.iter().map(|c| dict.code(f(c))).collect();
        UInt32Chunked::from_vec(name.into(), codes)
            .into_series()
            .into_column()
    };
    let mut columns = vec![
        text("state", &|c| c.state.as_str()),
        text("currency", &|c| &c.currency),
        text("pi", &|c| &c.attribution.pi_email),
        text("project", &|c| &c.attribution.project_id),
        text("fund", &|c| &c.attribution.fund_org),
        text("source", &|c| &c.source),
        text("kind", &|c| kind(c)),
        text("service_category", &|c| &c.service_category),
        text("service_name", &|c| &c.service_name),
        text("resource", &|c| {
            if c.resource_id.is_empty() {
                &c.resource_name
            } else {
                &c.resource_id
            }
        }),
        text("unit", &|c| &c.consumed_unit),
    ];
    let money = |name: &str, f: &dyn Fn(&Charge) -> Decimal| -> Result<Column> {
        let values = charges
            .iter()
            .map(|c| mantissa(f(c), scale))
            .collect::<Result<Vec<i128>>>()?;
        Ok(Int128Chunked::from_vec(name.into(), values)
            .into_decimal_unchecked(38, scale as usize)
            .into_series()
            .into_column())
    };
    columns.push(money("list", &|c| c.list)?);
    columns.push(money("contracted", &|c| c.contracted)?);
    columns.push(money("effective", &|c| c.effective)?);
    columns.push(money("billed", &|c| c.billed)?);
    columns.push(money("quantity", &|c| {
        c.consumed_quantity.unwrap_or_default()
    })?);
    DataFrame::new(charges.len(), columns).map_err(|e| anyhow!("building the rollup frame: {e}"))
}

/// A decimal as an integer count of 10^-scale units.
fn mantissa(d: Decimal, scale: u32) -> Result<i128> {
    let up = 10i128
        .checked_pow(scale - d.scale())
        .ok_or_else(|| anyhow!("amount {d} needs more than 38 digits at scale {scale}"))?;
    d.mantissa()
        .checked_mul(up)
        .ok_or_else(|| anyhow!("amount {d} needs more than 38 digits at scale {scale}"))
}

fn group(frame: LazyFrame, keys: &[&str], scale: u32, dict: &Dict) -> Result<Vec<Group>> {
    let by: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
    let sums = ["list", "contracted", "effective", "billed", "quantity"];
    let mut aggs: Vec<Expr> = sums.iter().map(|s| col(*s).sum()).collect();
    aggs.push(len().alias("count"));
    let df = frame
        .group_by(by)
        .agg(aggs)
        .collect()
        .map_err(|e| anyhow!("polars rollup: {e}"))?;
    let key_cols = keys
        .iter()
        .map(|k| df.column(k).and_then(|c| c.u32().cloned()))
        .collect::<PolarsResult<Vec<_>>>()?;
    let sum_cols = sums
        .iter()
        .map(|s| df.column(s).and_then(|c| c.decimal().cloned()))
        .collect::<PolarsResult<Vec<_>>>()?;
    let counts = df.column("count")?.cast(&DataType::UInt64)?;
    let counts = counts.u64()?;
    let mut out = Vec::with_capacity(df.height());
    for row in 0..df.height() {
        let key = key_cols
            .iter()
            .map(|c| {
                c.get(row)
                    .and_then(|code| dict.words.get(code as usize))
                    .copied()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let value = |i: usize| -> Result<Decimal> {
            let m: i128 = sum_cols[i].physical().get(row).unwrap_or(0);
            Decimal::try_from_i128_with_scale(m, scale)
                .map_err(|e| anyhow!("rollup sum out of range: {e}"))
        };
        let sums = Sums {
            list: value(0)?,
            contracted: value(1)?,
            effective: value(2)?,
            billed: value(3)?,
            quantity: value(4)?,
            count: counts.get(row).unwrap_or(0),
        };
        out.push(Group { key, sums });
    }
    // Codes are in order of first appearance: sort by the words themselves.
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The groups whose key starts with `prefix`: groups come sorted by key, so
/// they are one run, found by binary search instead of a scan per statement.
pub fn with_prefix<'a>(groups: &'a [Group], prefix: &[String]) -> &'a [Group] {
    let n = prefix.len();
    let start = groups.partition_point(|g| g.key[..n] < *prefix);
    let end = start + groups[start..].partition_point(|g| g.key[..n] == *prefix);
    &groups[start..end]
}

/// Totals by currency of the charges in `state`, from the state rollup.
pub fn state_total(r: &Rollup, currency: &str, state: State) -> Sums {
    r.states
        .iter()
        .find(|g| g.key[0] == currency && g.key[1] == state.as_str())
        .map(|g| g.sums.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charge::{Attribution, Interner};

    fn charge(
        strings: &mut Interner,
        pi: &str,
        currency: &str,
        billed: &str,
        list: &str,
        state: State,
    ) -> Charge {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        Charge {
            id: String::new(),
            source: strings.get("aws"),
            file: strings.get("f"),
            line: 2,
            billing_period_start: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            charge_period_start: None,
            billed: d(billed),
            list: d(list),
            contracted: d(list),
            effective: d(billed),
            has_list: true,
            currency: strings.get(currency),
            service_name: strings.get("EC2"),
            service_category: strings.get("Compute"),
            resource_id: strings.get("i-1"),
            resource_name: strings.get(""),
            charge_category: strings.get("Usage"),
            charge_class: strings.get(""),
            description: strings.get(""),
            consumed_quantity: Some(d("1.5")),
            consumed_unit: strings.get("Hours"),
            sub_account_id: strings.get(""),
            billing_account_id: strings.get(""),
            tags: vec![],
            extra: vec![],
            content: [0; 16],
            attribution: Attribution {
                pi_email: strings.get(pi),
                project_id: strings.get("p"),
                fund_org: strings.get("F"),
                ..Default::default()
            },
            flags: vec![],
            state,
            decision: None,
            origin: None,
        }
    }

    #[test]
    fn polars_totals_equal_plain_decimal_sums() {
        let mut s = Interner::default();
        let amounts = [
            "0.1",
            "0.2",
            "1e-9",
            "123456789.123456789",
            "-5.55",
            "0.000000001",
            "7",
        ];
        let mut charges = Vec::new();
        for (i, a) in amounts.iter().cycle().take(700).enumerate() {
            let a = crate::money::parse(a).unwrap();
            let pi = ["a@x.edu", "b@x.edu", "c@x.edu"][i % 3];
            let currency = if i % 5 == 0 { "EUR" } else { "USD" };
            let state = [State::Billed, State::Billed, State::Held, State::Rejected][i % 4];
            charges.push(charge(
                &mut s,
                pi,
                currency,
                &a.to_string(),
                &(a * Decimal::TWO).to_string(),
                state,
            ));
        }
        let r = rollup(&charges).unwrap();
        for currency in ["USD", "EUR"] {
            for state in [State::Billed, State::Held, State::Rejected] {
                let plain: Decimal = charges
                    .iter()
                    .filter(|c| &*c.currency == currency && c.state == state)
                    .map(|c| c.billed)
                    .sum();
                assert_eq!(
                    state_total(&r, currency, state).billed,
                    plain,
                    "{currency} {state:?}"
                );
            }
            let plain_list: Decimal = charges
                .iter()
                .filter(|c| &*c.currency == currency && c.state == State::Billed)
                .map(|c| c.list)
                .sum();
            let stmt_list: Decimal = r
                .statements
                .iter()
                .filter(|g| g.key[0] == currency)
                .map(|g| g.sums.list)
                .sum();
            assert_eq!(stmt_list, plain_list);
        }
        let n: u64 = r.statements.iter().map(|g| g.sums.count).sum();
        assert_eq!(
            n as usize,
            charges.iter().filter(|c| c.state == State::Billed).count()
        );
        // Never summed across currencies: every statement has one currency.
        assert_eq!(r.statements.len(), 6);
    }
}
