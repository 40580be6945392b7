//! The view model: plain serializable structs built from rollups, with money
//! already formatted, so that every template (site, PDF, email) only shows.

use crate::money::{format, percent, quantity};
use crate::rollup::{Group, LineKind, ResourceKey, ServiceKey, Sums};
use rust_decimal::Decimal;
use serde::Serialize;

/// Sums formatted in one currency.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Amounts {
    pub list: String,
    pub contracted: String,
    pub effective: String,
    pub discount: String,
    pub discount_pct: String,
    pub billed: String,
    pub count: u64,
    pub negative: bool,
}

impl Amounts {
    pub fn new(s: &Sums, currency: &str) -> Amounts {
        Amounts {
            list: format(s.list, currency),
            contracted: format(s.contracted, currency),
            effective: format(s.effective, currency),
            discount: format(s.discount(), currency),
            discount_pct: percent(s.discount(), s.list),
            billed: format(s.billed, currency),
            count: s.count,
            negative: s.billed.is_sign_negative() && !s.billed.is_zero(),
        }
    }
}

/// One line of a statement: a service (with its resources) or a resource.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub name: String,
    pub category: String,
    pub quantity: String,
    pub unit: String,
    pub amounts: Amounts,
    pub resources: Vec<Line>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceBlock {
    pub name: String,
    pub lines: Vec<Line>,
    pub subtotal: Amounts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub kind: LineKind,
    pub title: String,
    pub sources: Vec<SourceBlock>,
    pub subtotal: Amounts,
}

/// Resources shown per service line; the rest are summed into one line so a
/// project with 100,000 charges still prints on a few pages.
pub const RESOURCES_PER_SERVICE: usize = 12;

/// Sections in the order a statement shows them.
const KIND_ORDER: [LineKind; 5] = [
    LineKind::Usage,
    LineKind::Credit,
    LineKind::Adjustment,
    LineKind::Tax,
    LineKind::Correction,
];

/// Statement sections from the service and resource groups of one statement.
pub fn sections(
    services: &[Group<ServiceKey>],
    resources: &[Group<ResourceKey>],
    currency: &str,
    source_name: &dyn Fn(&str) -> String,
) -> Vec<Section> {
    let mut out = Vec::new();
    for kind in KIND_ORDER {
        let in_kind: Vec<&Group<ServiceKey>> =
            services.iter().filter(|g| g.key.kind == kind).collect();
        if in_kind.is_empty() {
            continue;
        }
        let mut sources: Vec<SourceBlock> = Vec::new();
        let mut section_sum = Sums::default();
        let mut names: Vec<&str> = in_kind.iter().map(|g| g.key.source.as_str()).collect();
        names.dedup();
        for source in names {
            let mut sub = Sums::default();
            let mut lines = Vec::new();
            for g in in_kind.iter().filter(|g| g.key.source == source) {
                sub.add(&g.sums);
                let res: Vec<&Group<ResourceKey>> = resources
                    .iter()
                    .filter(|r| {
                        r.key.source == source
                            && r.key.kind == kind
                            && r.key.service == g.key.service
                            && r.key.unit == g.key.unit
                    })
                    .collect();
                lines.push(service_line(g, currency, resource_lines(res, currency)));
            }
            section_sum.add(&sub);
            sources.push(SourceBlock {
                name: source_name(source),
                lines,
                subtotal: Amounts::new(&sub, currency),
            });
        }
        out.push(Section {
            kind,
            title: kind.title().to_string(),
            sources,
            subtotal: Amounts::new(&section_sum, currency),
        });
    }
    out
}

fn service_line(g: &Group<ServiceKey>, currency: &str, resources: Vec<Line>) -> Line {
    Line {
        name: display(&g.key.service, "(no service name)"),
        category: g.key.category.clone(),
        quantity: if g.key.unit.is_empty() {
            String::new()
        } else {
            quantity(g.sums.quantity)
        },
        unit: g.key.unit.clone(),
        amounts: Amounts::new(&g.sums, currency),
        resources,
    }
}

fn resource_lines(mut sorted: Vec<&Group<ResourceKey>>, currency: &str) -> Vec<Line> {
    // Largest first; ties by name so the order is stable.
    sorted.sort_by(|a, b| {
        b.sums
            .list
            .abs()
            .cmp(&a.sums.list.abs())
            .then(a.key.resource.cmp(&b.key.resource))
    });
    let mut lines: Vec<Line> = sorted
        .iter()
        .take(RESOURCES_PER_SERVICE)
        .map(|r| Line {
            name: display(&r.key.resource, "(no resource id)"),
            category: String::new(),
            quantity: quantity(r.sums.quantity),
            unit: r.key.unit.clone(),
            amounts: Amounts::new(&r.sums, currency),
            resources: vec![],
        })
        .collect();
    if sorted.len() > RESOURCES_PER_SERVICE {
        let mut rest = Sums::default();
        sorted[RESOURCES_PER_SERVICE..]
            .iter()
            .for_each(|r| rest.add(&r.sums));
        let n = sorted.len() - RESOURCES_PER_SERVICE;
        lines.push(Line {
            name: format!("{n} more resources"),
            category: String::new(),
            quantity: quantity(rest.quantity),
            unit: sorted[0].key.unit.clone(),
            amounts: Amounts::new(&rest, currency),
            resources: vec![],
        });
    }
    if lines.len() == 1 && sorted.len() == 1 && sorted[0].key.resource.is_empty() {
        return vec![];
    }
    lines
}

pub fn display(value: &str, empty: &str) -> String {
    if value.is_empty() {
        empty.to_string()
    } else {
        value.to_string()
    }
}

/// Change against the previous period: `+$12.00 (+8.0%)`.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub previous: String,
    pub delta: String,
    pub pct: String,
    pub up: bool,
}

pub fn change(now: Decimal, before: Option<Decimal>, currency: &str) -> Option<Change> {
    let before = before?;
    let delta = now - before;
    let sign = if delta > Decimal::ZERO { "+" } else { "" };
    let pct = percent(delta, before.abs());
    Some(Change {
        previous: format(before, currency),
        delta: format!("{sign}{}", format(delta, currency)),
        pct: if pct.is_empty() {
            String::new()
        } else {
            format!("{sign}{pct}")
        },
        up: delta > Decimal::ZERO,
    })
}
