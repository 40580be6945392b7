//! `ocb convert storage`: usage snapshots to one FOCUS row per path and tier,
//! priced on the time-weighted average usage of the month (each snapshot
//! holds until the next), less each project's free allowance.

use super::output::{FocusRow, round6};
use super::rates::{self, Currency, Percent, Price};
use super::snapshots::{self, Snapshot};
use super::{Context, Converted, Sink};
use crate::problem::Problem;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The tier, and the free GB-months a row's project allowance covered.
pub const EXTRA: &[&str] = &["x_StorageTier", "x_FreeGBMonth"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageRates {
    pub currency: Currency,
    #[serde(default = "default_provider")]
    pub provider: String,
    /// BillingAccountId on every row; the source name when absent.
    #[serde(default)]
    pub billing_account: Option<String>,
    /// ServiceName before the tier: `Research Storage (standard)`.
    #[serde(default = "default_service")]
    pub service: String,
    /// GB-months per project per month that cost nothing.
    #[serde(default)]
    pub free_gb: Price,
    #[serde(default)]
    pub subsidy_percent: Percent,
    /// The tier of snapshots without one; needed when there are several tiers.
    #[serde(default)]
    pub default_tier: Option<String>,
    pub tiers: BTreeMap<String, Tier>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub gb_month: Price,
}

fn default_provider() -> String {
    "Research Computing".into()
}

fn default_service() -> String {
    "Research Storage".into()
}

impl StorageRates {
    pub fn load(path: &Path, shown_as: &str) -> Result<StorageRates, Problem> {
        let r: StorageRates = rates::load(path, shown_as)?;
        if r.tiers.is_empty() {
            return Err(Problem::file(
                shown_as,
                "`tiers` is empty: expected at least one, such as {standard: {gb_month: 0.02}}",
            ));
        }
        if let Some(t) = &r.default_tier
            && !r.tiers.contains_key(t)
        {
            return Err(Problem::file(
                shown_as,
                format!(
                    "default_tier `{t}` is not one of the tiers: {}",
                    r.tier_names()
                ),
            ));
        }
        Ok(r)
    }

    fn tier_names(&self) -> String {
        self.tiers.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// The tier a snapshot is priced in.
    pub fn tier(&self, written: &str) -> Result<String, String> {
        if written.is_empty() {
            return match (&self.default_tier, self.tiers.len()) {
                (Some(t), _) => Ok(t.clone()),
                (None, 1) => Ok(self.tiers.keys().next().cloned().unwrap_or_default()),
                _ => Err(format!(
                    "empty, and the rates file has several tiers ({}) and no default_tier",
                    self.tier_names()
                )),
            };
        }
        if self.tiers.contains_key(written) {
            Ok(written.to_string())
        } else {
            Err(format!(
                "unknown tier `{written}`: the rates file prices {}",
                self.tier_names()
            ))
        }
    }
}

/// One path on one tier for the period: its average usage and its project.
struct Usage {
    path: String,
    tier: String,
    project: String,
    gb_month: Decimal,
}

pub fn convert(
    input: &Path,
    input_shown: &str,
    rates_path: &Path,
    rates_shown: &str,
    cx: &Context,
    sink: Sink,
) -> Result<Converted, Vec<Problem>> {
    let rates = StorageRates::load(rates_path, rates_shown);
    let (snaps, problems) = snapshots::read(input, input_shown);
    price(snaps, problems, input_shown, rates, cx, sink)
}

/// Price snapshots read from any format (CSV here, Isilon quota JSON in
/// `isilon`), so that the same usage costs the same whichever way it came.
/// `problems` are those met while reading; `input_shown` names the input in
/// messages about a path's snapshots.
pub fn price(
    snaps: Vec<Snapshot>,
    mut problems: Vec<Problem>,
    input_shown: &str,
    rates: Result<StorageRates, Problem>,
    cx: &Context,
    sink: Sink,
) -> Result<Converted, Vec<Problem>> {
    let rates = match rates {
        Ok(r) => r,
        Err(p) => {
            problems.insert(0, p);
            return Err(problems);
        }
    };
    let mut series: BTreeMap<(String, String), Vec<Snapshot>> = BTreeMap::new();
    for s in snaps {
        match rates.tier(&s.tier) {
            Ok(tier) => series.entry((s.path.clone(), tier)).or_default().push(s),
            Err(m) => problems.push(Problem::cell(input_shown, s.line, "tier", m)),
        }
    }
    let mut usages = Vec::new();
    for ((path, tier), mut snaps) in series {
        snaps.sort_by_key(|s| (s.at, s.line));
        match average(&snaps, cx, input_shown) {
            Ok(Some((project, gb_month))) => usages.push(Usage {
                path,
                tier,
                project,
                gb_month,
            }),
            Ok(None) => {}
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(problems);
    }
    if usages.is_empty() {
        return Err(vec![Problem::file(
            input_shown,
            format!(
                "no usage in {}: expected snapshots dated in or before the period",
                cx.period
            ),
        )]);
    }
    let free = free_shares(&usages, rates.free_gb.0);
    for (u, free) in usages.iter().zip(free) {
        sink(row(u, free, &rates, cx));
    }
    let n = usages.len();
    Ok(Converted {
        currency: rates.currency.0.clone(),
        warnings: Vec::new(),
        notes: vec![format!("{n} path{} and tier{} billed", s(n), s(n))],
    })
}

fn s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Time-weighted average GB over the period, for one path's sorted snapshots:
/// each holds from its date until the next snapshot or the end of the period;
/// the last snapshot before the period carries into its first day. None when
/// the path holds nothing in the period.
fn average(
    snaps: &[Snapshot],
    cx: &Context,
    file: &str,
) -> Result<Option<(String, Decimal)>, Vec<Problem>> {
    let mut problems = Vec::new();
    for pair in snaps.windows(2) {
        if pair[0].at == pair[1].at {
            problems.push(Problem::cell(
                file,
                pair[1].line,
                "date",
                format!(
                    "second snapshot of `{}` at {}: line {} already gives one",
                    pair[1].path, pair[1].at, pair[0].line
                ),
            ));
        }
    }
    let (start, end) = cx.bounds();
    let first = snaps.iter().rposition(|s| s.at <= start).unwrap_or(0);
    let window: Vec<&Snapshot> = snaps[first..].iter().filter(|s| s.at < end).collect();
    if let Some(w) = window.iter().find(|s| s.project != window[0].project) {
        problems.push(Problem::cell(
            file,
            w.line,
            "project_id",
            format!(
                "`{}` here but `{}` on line {}: one path belongs to one project within a period",
                w.project, window[0].project, window[0].line
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut byte_seconds = Decimal::ZERO;
    for (i, s) in window.iter().enumerate() {
        let from = s.at.max(start);
        let to = window.get(i + 1).map_or(end, |next| next.at);
        byte_seconds += Decimal::from(s.bytes) * Decimal::from((to - from).num_seconds());
    }
    if byte_seconds.is_zero() {
        return Ok(None);
    }
    let month_seconds = Decimal::from((end - start).num_seconds());
    let gb = byte_seconds / month_seconds / Decimal::from(1_000_000_000u64);
    Ok(Some((window[0].project.clone(), gb)))
}

/// Each row's share of its project's free allowance, in proportion to its
/// usage, so that the result does not depend on the order of paths. Rows
/// without a project get none.
fn free_shares(usages: &[Usage], free_gb: Decimal) -> Vec<Decimal> {
    let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
    for u in usages {
        *totals.entry(&u.project).or_default() += u.gb_month;
    }
    usages
        .iter()
        .map(|u| {
            let total = totals[u.project.as_str()];
            if u.project.is_empty() || total.is_zero() {
                Decimal::ZERO
            } else if total <= free_gb {
                u.gb_month
            } else {
                free_gb * u.gb_month / total
            }
        })
        .collect()
}

fn row(u: &Usage, free: Decimal, rates: &StorageRates, cx: &Context) -> FocusRow {
    let chargeable = u.gb_month - free;
    let price = rates
        .tiers
        .get(&u.tier)
        .map_or(Decimal::ZERO, |t| t.gb_month.0);
    let list = round6(chargeable * price);
    let (start, end) = cx.bounds();
    let project = cx.projects.get(&u.project);
    let mut tags = cx.tags(project, ("storage_path", &u.path));
    if project.is_none() && !u.project.is_empty() {
        // Unknown to projects.yaml: keep the id so the build and reviewers see it.
        tags.insert(cx.tag_keys.project_id.clone(), u.project.clone());
    }
    FocusRow {
        billing_account_id: rates
            .billing_account
            .clone()
            .unwrap_or_else(|| cx.source.to_string()),
        currency: rates.currency.0.clone(),
        period: cx.period,
        charge_start: start,
        charge_end: end,
        description: format!(
            "{} on {}: average {} GB, {} GB free",
            u.path,
            u.tier,
            crate::money::quantity(u.gb_month),
            crate::money::quantity(free)
        ),
        service_category: "Storage",
        service_name: format!("{} ({})", rates.service, u.tier),
        provider: rates.provider.clone(),
        resource_id: u.path.clone(),
        resource_name: u.path.clone(),
        sub_account_id: u.project.clone(),
        consumed: u.gb_month,
        consumed_unit: "GB-Month",
        pricing: chargeable,
        pricing_unit: "GB-Month",
        list,
        billed: round6(list * rates.subsidy_percent.remainder()),
        tags,
        extra: vec![u.tier.clone(), super::output::quantity_text(free)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(project: &str, gb: i64) -> Usage {
        Usage {
            path: String::new(),
            tier: String::new(),
            project: project.into(),
            gb_month: Decimal::from(gb),
        }
    }

    #[test]
    fn free_allowance_is_shared_in_proportion_to_usage() {
        let u = [
            usage("p", 300),
            usage("p", 100),
            usage("q", 40),
            usage("", 500),
        ];
        let free = free_shares(&u, Decimal::from(100));
        let shown: Vec<String> = free.iter().map(|d| d.normalize().to_string()).collect();
        assert_eq!(shown, ["75", "25", "40", "0"]);
    }
}
