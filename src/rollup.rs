//! Rollups of a period's charges: sums of list, contracted, effective and
//! billed cost by currency and key, in one pass over the charges with exact
//! integer sums. Everything it returns is plain structs of `Decimal`.

use crate::charge::{Charge, State};
use anyhow::{Result, anyhow};
use rust_decimal::Decimal;
use std::sync::Arc;

/// Sums over a group of charges.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// One group: its typed key and its sums.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group<K> {
    pub key: K,
    pub sums: Sums,
}

/// How a line is presented on a statement (FOCUS: credits, taxes and
/// corrections to prior periods are not netted into service lines).
/// Declared in alphabetical order: groups sort by key, as they did by name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    Adjustment,
    Correction,
    Credit,
    /// Correction lines posted to a closed period's statement (see `correct`).
    Posted,
    Tax,
    Usage,
}

impl LineKind {
    pub const ALL: [LineKind; 6] = [
        LineKind::Adjustment,
        LineKind::Correction,
        LineKind::Credit,
        LineKind::Posted,
        LineKind::Tax,
        LineKind::Usage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Adjustment => "adjustment",
            LineKind::Correction => "correction",
            LineKind::Credit => "credit",
            LineKind::Posted => "posted",
            LineKind::Tax => "tax",
            LineKind::Usage => "usage",
        }
    }

    /// The section heading on a statement.
    pub fn title(self) -> &'static str {
        match self {
            LineKind::Usage => "Usage",
            LineKind::Credit => "Credits",
            LineKind::Tax => "Taxes",
            LineKind::Adjustment => "Adjustments",
            LineKind::Correction => "Corrections to prior periods",
            LineKind::Posted => "Corrections posted later",
        }
    }
}

/// One statement: billed charges of one PI, project and fund in one currency.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct StatementKey {
    pub currency: String,
    pub pi: String,
    pub project: String,
    pub fund: String,
}

/// Charges of one currency in one state.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct StateKey {
    pub currency: String,
    pub state: State,
}

/// A service line of a statement.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ServiceKey {
    pub statement: StatementKey,
    pub source: String,
    pub kind: LineKind,
    pub category: String,
    pub service: String,
    pub unit: String,
}

/// A resource under a service line of a statement.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ResourceKey {
    pub statement: StatementKey,
    pub source: String,
    pub kind: LineKind,
    pub service: String,
    /// Resource id, or its name when the id is empty.
    pub resource: String,
    pub unit: String,
}

/// A service over the whole period (all statements).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PeriodServiceKey {
    pub currency: String,
    pub source: String,
    pub category: String,
    pub service: String,
}

/// Held charges of one project (empty when not yet attributed) and source.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct HeldKey {
    pub currency: String,
    pub pi: String,
    pub project: String,
    pub source: String,
}

/// A key type: the rollup columns it groups by, and how to build it from
/// their values (in that order) once the groups are computed.
trait Key: Ord + Sized {
    const COLUMNS: &'static [&'static str];
    fn decode(words: &[&str]) -> Result<Self>;
}

fn statement_key(w: &[&str]) -> StatementKey {
    StatementKey {
        currency: w[0].into(),
        pi: w[1].into(),
        project: w[2].into(),
        fund: w[3].into(),
    }
}

fn line_kind(word: &str) -> Result<LineKind> {
    LineKind::ALL
        .into_iter()
        .find(|k| k.as_str() == word)
        .ok_or_else(|| anyhow!("rollup: unknown line kind {word:?}"))
}

impl Key for StatementKey {
    const COLUMNS: &'static [&'static str] = &["currency", "pi", "project", "fund"];
    fn decode(w: &[&str]) -> Result<Self> {
        Ok(statement_key(w))
    }
}

impl Key for StateKey {
    const COLUMNS: &'static [&'static str] = &["currency", "state"];
    fn decode(w: &[&str]) -> Result<Self> {
        let state = [State::Billed, State::Held, State::Rejected]
            .into_iter()
            .find(|s| s.as_str() == w[1])
            .ok_or_else(|| anyhow!("rollup: unknown state {:?}", w[1]))?;
        Ok(StateKey {
            currency: w[0].into(),
            state,
        })
    }
}

impl Key for ServiceKey {
    const COLUMNS: &'static [&'static str] = &[
        "currency",
        "pi",
        "project",
        "fund",
        "source",
        "kind",
        "service_category",
        "service_name",
        "unit",
    ];
    fn decode(w: &[&str]) -> Result<Self> {
        Ok(ServiceKey {
            statement: statement_key(w),
            source: w[4].into(),
            kind: line_kind(w[5])?,
            category: w[6].into(),
            service: w[7].into(),
            unit: w[8].into(),
        })
    }
}

impl Key for ResourceKey {
    const COLUMNS: &'static [&'static str] = &[
        "currency",
        "pi",
        "project",
        "fund",
        "source",
        "kind",
        "service_name",
        "resource",
        "unit",
    ];
    fn decode(w: &[&str]) -> Result<Self> {
        Ok(ResourceKey {
            statement: statement_key(w),
            source: w[4].into(),
            kind: line_kind(w[5])?,
            service: w[6].into(),
            resource: w[7].into(),
            unit: w[8].into(),
        })
    }
}

impl Key for PeriodServiceKey {
    const COLUMNS: &'static [&'static str] =
        &["currency", "source", "service_category", "service_name"];
    fn decode(w: &[&str]) -> Result<Self> {
        Ok(PeriodServiceKey {
            currency: w[0].into(),
            source: w[1].into(),
            category: w[2].into(),
            service: w[3].into(),
        })
    }
}

impl Key for HeldKey {
    const COLUMNS: &'static [&'static str] = &["currency", "pi", "project", "source"];
    fn decode(w: &[&str]) -> Result<Self> {
        Ok(HeldKey {
            currency: w[0].into(),
            pi: w[1].into(),
            project: w[2].into(),
            source: w[3].into(),
        })
    }
}

/// The groupings every renderer of a period reads, each sorted by key.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Rollup {
    /// Over all charges.
    pub states: Vec<Group<StateKey>>,
    /// Billed charges: one statement each.
    pub statements: Vec<Group<StatementKey>>,
    /// Billed charges by statement and service line.
    pub services: Vec<Group<ServiceKey>>,
    /// Billed charges by statement, service line and resource.
    pub resources: Vec<Group<ResourceKey>>,
    /// Billed charges by service over the period.
    pub period_services: Vec<Group<PeriodServiceKey>>,
    /// Held charges, for warnings on statements.
    pub held: Vec<Group<HeldKey>>,
}

/// How a line of this charge is presented on a statement.
pub fn kind(c: &Charge) -> LineKind {
    // Corrections to closed periods get their own sections (see `correct`).
    if c.origin.is_some() {
        return LineKind::Posted;
    }
    kind_of(&c.dims)
}

/// The kind of a charge with these dimensions, not a correction posted to
/// a closed period.
fn kind_of(dims: &crate::charge::Dimensions) -> LineKind {
    let category = &*dims.charge_category;
    if dims.charge_class.eq_ignore_ascii_case("correction") {
        LineKind::Correction
    } else if category.eq_ignore_ascii_case("credit") {
        LineKind::Credit
    } else if category.eq_ignore_ascii_case("tax") {
        LineKind::Tax
    } else if category.eq_ignore_ascii_case("adjustment") {
        LineKind::Adjustment
    } else {
        LineKind::Usage
    }
}

pub fn rollup<'a>(charges: &'a [Charge]) -> Result<Rollup> {
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
    // One pass: each charge's amounts as integer counts of 10^-scale units.
    // Billed rows (nearly all) are summed by the shared values their words
    // are read from, found by address: one lookup a row. Their words are
    // coded once per such group, below; held and rejected rows are coded
    // one by one.
    let mut dict = Dict::default();
    let mut states = Grouping::<StateKey>::new();
    let mut statements = Grouping::<StatementKey>::new();
    let mut services = Grouping::<ServiceKey>::new();
    let mut resources = Grouping::<ResourceKey>::new();
    let mut period_services = Grouping::<PeriodServiceKey>::new();
    let mut held = Grouping::<HeldKey>::new();
    // Keyed by a tuple, compared field by field (an array is compared with
    // a call to memcmp).
    type Shared = (usize, usize, usize, usize, bool);
    let mut billed: crate::charge::FastMap<Shared, (&Charge, [i128; 5], u64)> = Default::default();
    // Rows share their dimensions and attribution (`Arc`s): their key words
    // are coded once per shared value, not eleven lookups per row.
    let mut by_dims: crate::charge::FastMap<usize, [u32; 5]> = Default::default();
    let mut by_attribution: crate::charge::FastMap<usize, [u32; 3]> = Default::default();
    let mut codes_of = |c: &'a Charge| -> [u32; 11] {
        let d = *by_dims
            .entry(Arc::as_ptr(&c.dims) as usize)
            .or_insert_with(|| {
                let [category, name, resource, unit] =
                    [7, 8, 9, 10].map(|i| dict.code(COLUMNS[i].1(c)));
                [
                    category,
                    name,
                    resource,
                    unit,
                    dict.code(kind_of(&c.dims).as_str()),
                ]
            });
        let a = *by_attribution
            .entry(Arc::as_ptr(&c.attribution) as usize)
            .or_insert_with(|| [2, 3, 4].map(|i| dict.code(COLUMNS[i].1(c))));
        let codes = [
            dict.code(c.state.as_str()),
            dict.code(&c.currency),
            a[0],
            a[1],
            a[2],
            dict.code(&c.source),
            // A correction's kind is its origin's, not its dimensions'.
            if c.origin.is_some() {
                dict.code(LineKind::Posted.as_str())
            } else {
                d[4]
            },
            d[0],
            d[1],
            d[2],
            d[3],
        ];
        debug_assert_eq!(codes, COLUMNS.map(|(_, word)| dict.code(word(c))));
        codes
    };
    let mut others = Vec::new();
    for c in charges {
        let mut amounts = [0i128; 5];
        for (a, d) in amounts.iter_mut().zip([
            c.list,
            c.contracted,
            c.effective,
            c.billed,
            c.consumed_quantity.unwrap_or_default(),
        ]) {
            *a = mantissa(d, scale)?;
        }
        if c.state == State::Billed {
            // Equal addresses are equal words; equal words at different
            // addresses meet again in the groupings, which are by code.
            let key = (
                Arc::as_ptr(&c.dims) as usize,
                Arc::as_ptr(&c.attribution) as usize,
                c.currency.as_ptr() as usize,
                c.source.as_ptr() as usize,
                c.origin.is_some(),
            );
            let (_, sums, count) = billed.entry(key).or_insert((c, [0; 5], 0));
            add(sums, &amounts)?;
            *count += 1;
        } else {
            others.push((c, amounts));
        }
    }
    for (c, amounts) in others {
        let codes = codes_of(c);
        states.add(&codes, &amounts, 1)?;
        if c.state == State::Held {
            held.add(&codes, &amounts, 1)?;
        }
    }
    // Billed rows are summed once, by every column; each grouping of them
    // is a coarsening of those sums (integers: exact in any order).
    for (c, sums, count) in billed.values() {
        let codes = codes_of(c);
        states.add(&codes, sums, *count)?;
        statements.add(&codes, sums, *count)?;
        services.add(&codes, sums, *count)?;
        resources.add(&codes, sums, *count)?;
        period_services.add(&codes, sums, *count)?;
    }
    // Freed before the groups are decoded: a key per resource, each held
    // once more by `resources` (tens of MB in a month of many resources).
    drop((billed, by_dims, by_attribution));
    // The resources are most of the groups: decoded and sorted beside the rest.
    let dict = &dict;
    let (resources, rest) = rayon::join(
        || resources.finish(scale, dict),
        || -> Result<_> {
            Ok((
                states.finish(scale, dict)?,
                statements.finish(scale, dict)?,
                services.finish(scale, dict)?,
                period_services.finish(scale, dict)?,
                held.finish(scale, dict)?,
            ))
        },
    );
    let (states, statements, services, period_services, held) = rest?;
    Ok(Rollup {
        states,
        statements,
        services,
        resources: resources?,
        period_services,
        held,
    })
}

/// The words a charge is grouped by, by column name (`Key::COLUMNS`).
type Word = for<'a> fn(&'a Charge) -> &'a str;
const COLUMNS: [(&str, Word); 11] = [
    ("state", |c| c.state.as_str()),
    ("currency", |c| &c.currency),
    ("pi", |c| &c.attribution.pi_email),
    ("project", |c| &c.attribution.project_id),
    ("fund", |c| &c.attribution.fund_org),
    ("source", |c| &c.source),
    ("kind", |c| kind(c).as_str()),
    ("service_category", |c| &c.dims.service_category),
    ("service_name", |c| &c.dims.service_name),
    ("resource", |c| {
        if c.dims.resource_id.is_empty() {
            &c.dims.resource_name
        } else {
            &c.dims.resource_id
        }
    }),
    ("unit", |c| &c.dims.consumed_unit),
];

/// The widest key (`ServiceKey`, `ResourceKey`).
const WIDEST: usize = 9;

/// One grouping being summed: per key (its columns' codes), the five sums
/// in 10^-scale units and the count.
struct Grouping<K> {
    columns: Vec<usize>,
    groups: crate::charge::FastMap<[u32; WIDEST], ([i128; 5], u64)>,
    key: std::marker::PhantomData<K>,
}

impl<K: Key> Grouping<K> {
    fn new() -> Grouping<K> {
        let columns = K::COLUMNS
            .iter()
            .map(|name| COLUMNS.iter().position(|(n, _)| n == name).unwrap_or(0))
            .collect();
        Grouping {
            columns,
            groups: Default::default(),
            key: std::marker::PhantomData,
        }
    }

    /// Add `n` charges whose amounts sum to `amounts`.
    fn add(&mut self, codes: &[u32; 11], amounts: &[i128; 5], n: u64) -> Result<()> {
        let mut key = [0u32; WIDEST];
        for (k, &i) in key.iter_mut().zip(&self.columns) {
            *k = codes[i];
        }
        let (sums, count) = self.groups.entry(key).or_insert(([0; 5], 0));
        add(sums, amounts)?;
        *count += n;
        Ok(())
    }

    /// The groups with their keys decoded, sorted by key.
    fn finish(self, scale: u32, dict: &Dict) -> Result<Vec<Group<K>>> {
        let mut out = Vec::with_capacity(self.groups.len());
        for (codes, (sums, count)) in self.groups {
            let words: Vec<&str> = codes[..self.columns.len()]
                .iter()
                .map(|&code| dict.words.get(code as usize).copied().unwrap_or(""))
                .collect();
            let value = |m: i128| -> Result<Decimal> {
                Decimal::try_from_i128_with_scale(m, scale)
                    .map_err(|e| anyhow!("rollup sum out of range: {e}"))
            };
            out.push(Group {
                key: K::decode(&words)?,
                sums: Sums {
                    list: value(sums[0])?,
                    contracted: value(sums[1])?,
                    effective: value(sums[2])?,
                    billed: value(sums[3])?,
                    quantity: value(sums[4])?,
                    count,
                },
            });
        }
        // Codes are in order of first appearance: sort by the words themselves
        // (keys are distinct, so the unstable sort is as deterministic).
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// Key strings as small integer codes: a group's key is a few integers, not
/// copies of every string of a million-row month.
#[derive(Default)]
struct Dict<'a> {
    /// By where the bytes are: charges share interned strings, so most
    /// lookups hash an address, not the text.
    by_place: crate::charge::FastMap<(usize, usize), u32>,
    codes: crate::charge::FastMap<&'a str, u32>,
    words: Vec<&'a str>,
}

impl<'a> Dict<'a> {
    fn code(&mut self, word: &'a str) -> u32 {
        let place = (word.as_ptr() as usize, word.len());
        if let Some(&c) = self.by_place.get(&place) {
            return c;
        }
        let c = match self.codes.get(word) {
            Some(&c) => c,
            None => {
                let c = self.words.len() as u32;
                self.words.push(word);
                self.codes.insert(word, c);
                c
            }
        };
        self.by_place.insert(place, c);
        c
    }
}

/// Add amounts into sums, which must stay within range.
fn add(sums: &mut [i128; 5], amounts: &[i128; 5]) -> Result<()> {
    for (s, a) in sums.iter_mut().zip(amounts) {
        *s = s
            .checked_add(*a)
            .ok_or_else(|| anyhow!("rollup sum out of range"))?;
    }
    Ok(())
}

/// Powers of ten that fit an i128 (10^0 to 10^38).
const POWERS: [i128; 39] = {
    let mut p = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// A decimal as an integer count of 10^-scale units.
fn mantissa(d: Decimal, scale: u32) -> Result<i128> {
    let up = *POWERS
        .get((scale - d.scale()) as usize)
        .ok_or_else(|| anyhow!("amount {d} needs more than 38 digits at scale {scale}"))?;
    d.mantissa()
        .checked_mul(up)
        .ok_or_else(|| anyhow!("amount {d} needs more than 38 digits at scale {scale}"))
}

/// The groups of one statement: groups come sorted by key, so they are one
/// run, found by binary search instead of a scan per statement.
pub fn of_statement<'a, K: InStatement>(
    groups: &'a [Group<K>],
    statement: &StatementKey,
) -> &'a [Group<K>] {
    let start = groups.partition_point(|g| g.key.statement() < statement);
    let end = start + groups[start..].partition_point(|g| g.key.statement() == statement);
    &groups[start..end]
}

/// Keys that start with a statement's key.
pub trait InStatement {
    fn statement(&self) -> &StatementKey;
}

impl InStatement for ServiceKey {
    fn statement(&self) -> &StatementKey {
        &self.statement
    }
}

impl InStatement for ResourceKey {
    fn statement(&self) -> &StatementKey {
        &self.statement
    }
}

/// Held groups of one (currency, pi, project): one run of the sorted groups.
pub fn held_of<'a>(held: &'a [Group<HeldKey>], s: &StatementKey) -> &'a [Group<HeldKey>] {
    fn of(k: &HeldKey) -> (&str, &str, &str) {
        (&k.currency, &k.pi, &k.project)
    }
    let want = (s.currency.as_str(), s.pi.as_str(), s.project.as_str());
    let start = held.partition_point(|g| of(&g.key) < want);
    let end = start + held[start..].partition_point(|g| of(&g.key) == want);
    &held[start..end]
}

/// Totals by currency of the charges in `state`, from the state rollup.
pub fn state_total(r: &Rollup, currency: &str, state: State) -> Sums {
    r.states
        .iter()
        .find(|g| g.key.currency == currency && g.key.state == state)
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
            id: Default::default(),
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
            consumed_quantity: Some(d("1.5")),
            dims: std::sync::Arc::new(crate::charge::Dimensions {
                service_name: strings.get("EC2"),
                service_category: strings.get("Compute"),
                resource_id: strings.get("i-1"),
                resource_name: strings.get(""),
                charge_category: strings.get("Usage"),
                charge_class: strings.get(""),
                description: strings.get(""),
                consumed_unit: strings.get("Hours"),
                sub_account_id: strings.get(""),
                billing_account_id: strings.get(""),
            }),
            extra: None,
            tags: Default::default(),
            content: [0; 16],
            attribution: Attribution {
                pi_email: strings.get(pi),
                project_id: strings.get("p"),
                fund_org: strings.get("F"),
                ..Default::default()
            }
            .into(),
            flags: vec![],
            state,
            decision: None,
            origin: None,
        }
    }

    #[test]
    fn rollup_totals_equal_plain_decimal_sums() {
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
                .filter(|g| g.key.currency == currency)
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
