//! Review flags: rules that find doubtful charges. Each has a stable code; all
//! that apply are kept; `review.rules` says whether a flag holds or only warns.

use crate::charge::{Charge, Flag, FlagCode};
use crate::config::{Config, RuleAction};
use crate::period::Period;
use crate::projects::{Project, Projects};
use rayon::prelude::*;
use regex::Regex;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Billed totals per (project, source, currency) of the previous period, for spikes.
pub type SourceTotals = HashMap<(String, String, String), Decimal>;

pub struct Rules {
    fund_org: Vec<Regex>,
    patterns: Vec<(String, Regex)>,
}

impl Rules {
    /// Compile the configured patterns (already validated with the config).
    pub fn new(config: &Config) -> Rules {
        let full = |p: &String| Regex::new(&format!("^(?:{p})$")).ok();
        Rules {
            fund_org: config
                .review
                .fund_org_patterns
                .iter()
                .filter_map(full)
                .collect(),
            patterns: config
                .review
                .flag_patterns
                .iter()
                .filter_map(|p| Regex::new(p).ok().map(|r| (p.clone(), r)))
                .collect(),
        }
    }

    pub fn fund_org_ok(&self, fund: &str) -> bool {
        self.fund_org.is_empty() || self.fund_org.iter().any(|r| r.is_match(fund))
    }
}

pub fn flag(
    charges: &mut [Charge],
    period: Period,
    config: &Config,
    rules: &Rules,
    projects: &Projects,
    totals: &SourceTotals,
    previous: Option<&SourceTotals>,
) {
    let duplicates = duplicates(charges);
    let spikes = spikes(totals, config, previous);
    let spikes: crate::charge::FastMap<(&str, &str, &str), &str> = spikes
        .iter()
        .map(|((p, s, c), detail)| ((p.as_str(), s.as_str(), c.as_str()), detail.as_str()))
        .collect();
    let listed = !projects.is_empty();
    // Rows share their attribution and dimensions (`Arc`s, alive through
    // the loop): the flags read from them are found once per distinct one
    // in each block of rows, the blocks on all cores.
    type Found = Vec<(FlagCode, String)>;
    charges
        .par_chunks_mut(BLOCK)
        .zip(duplicates.par_chunks(BLOCK))
        .for_each(|(block, duplicates)| {
            let mut by_attribution: crate::charge::FastMap<usize, (Option<&Project>, Found)> =
                Default::default();
            let mut by_dims: crate::charge::FastMap<usize, Found> = Default::default();
            for (c, &duplicate) in block.iter_mut().zip(duplicates) {
                let a = &c.attribution;
                let (project, mut found) = by_attribution
                    .entry(std::sync::Arc::as_ptr(a) as usize)
                    .or_insert_with(|| {
                        let project = projects.get(&a.project_id);
                        (project, attribution_flags(a, rules, listed, project))
                    })
                    .clone();
                // Without `review.patterns`, no dimensions are looked up
                // (80,000 a month: a lookup waits on memory).
                if !rules.patterns.is_empty() {
                    found.extend(
                        by_dims
                            .entry(std::sync::Arc::as_ptr(&c.dims) as usize)
                            .or_insert_with(|| pattern_flags(&c.dims, rules))
                            .iter()
                            .cloned(),
                    );
                }
                found.extend(row_flags(c, period, project));
                if duplicate {
                    found.push((
                        FlagCode::DuplicateRow,
                        format!("the same row appears earlier in {}", c.file),
                    ));
                }
                let key = (&*c.attribution.project_id, &*c.source, &*c.currency);
                if !spikes.is_empty()
                    && let Some(detail) = spikes.get(&key)
                {
                    found.push((FlagCode::CostSpike, detail.to_string()));
                }
                c.flags = found
                    .into_iter()
                    .filter_map(|(code, detail)| match config.rule_action(code) {
                        RuleAction::Off => None,
                        action => Some(Flag {
                            code,
                            detail,
                            holds: action == RuleAction::Hold,
                        }),
                    })
                    .collect();
            }
        });
}

/// Rows flagged in blocks of this many, each block on a core.
const BLOCK: usize = 1 << 16;

/// Whether each row repeats an earlier row of its source (the same content).
/// The first 64 bits of every row's content hash, sorted (8 bytes a row),
/// tell which rows may repeat; only those are looked up in file order.
fn duplicates(charges: &[Charge]) -> Vec<bool> {
    let bits = |c: &Charge| u64::from_le_bytes(c.content[..8].try_into().unwrap_or_default());
    let repeated = crate::charge::repeated(charges.par_iter().map(bits).collect());
    let mut duplicates = vec![false; charges.len()];
    if repeated.is_empty() {
        return duplicates;
    }
    let mut seen: crate::charge::FastSet<(&str, [u8; 16])> = Default::default();
    for (c, duplicate) in charges.iter().zip(&mut duplicates) {
        if repeated.contains(&bits(c)) {
            *duplicate = !seen.insert((&c.source, c.content));
        }
    }
    duplicates
}

/// The flags a charge's attribution raises.
fn attribution_flags(
    a: &crate::charge::Attribution,
    rules: &Rules,
    listed: bool,
    project: Option<&Project>,
) -> Vec<(FlagCode, String)> {
    let mut f = Vec::new();
    if a.pi_email.is_empty() {
        f.push((
            FlagCode::MissingPiEmail,
            "no PI email in the tags or projects.yaml".to_string(),
        ));
    } else if !crate::attribute::valid_email(&a.pi_email) {
        f.push((
            FlagCode::InvalidPiEmail,
            format!("`{}` is not an email address", a.pi_email),
        ));
    }
    if a.project_id.is_empty() {
        f.push((
            FlagCode::MissingProjectId,
            "no project id in the tags, and no account mapped in projects.yaml".to_string(),
        ));
    } else if listed && project.is_none() {
        f.push((
            FlagCode::UnknownProject,
            format!("project `{}` is not in projects.yaml", a.project_id),
        ));
    }
    if a.fund_org.is_empty() {
        f.push((
            FlagCode::MissingFundOrg,
            "no fund/org in the tags or projects.yaml".to_string(),
        ));
    } else if !rules.fund_org_ok(&a.fund_org) {
        f.push((
            FlagCode::InvalidFundOrg,
            format!("`{}` matches none of review.fund_org_patterns", a.fund_org),
        ));
    }
    f
}

/// The flags `review.patterns` raise on a charge's texts.
fn pattern_flags(d: &crate::charge::Dimensions, rules: &Rules) -> Vec<(FlagCode, String)> {
    let mut f = Vec::new();
    for (text, r) in &rules.patterns {
        if [&d.service_name, &d.resource_id, &d.resource_name]
            .iter()
            .any(|v| r.is_match(v))
        {
            f.push((FlagCode::PatternMatch, format!("matches pattern `{text}`")));
        }
    }
    f
}

/// The flags of the row itself: its dates and amounts.
fn row_flags(c: &Charge, period: Period, project: Option<&Project>) -> Vec<(FlagCode, String)> {
    let a = &c.attribution;
    let mut f = Vec::new();
    // A correction to a closed period belongs to that period by design.
    if !period.contains(c.billing_period_start) && c.origin.is_none() {
        f.push((
            FlagCode::PeriodMismatch,
            format!(
                "BillingPeriodStart {} is outside {period}",
                c.billing_period_start
            ),
        ));
    }
    if c.has_list && c.billed > c.list {
        f.push((
            FlagCode::BilledOverList,
            format!("billed {} is more than list {}", c.billed, c.list),
        ));
    }
    if c.billed.is_sign_negative() && !c.billed.is_zero() {
        f.push((
            FlagCode::NegativeCost,
            format!("billed {} (a credit or refund)", c.billed),
        ));
    }
    if let Some(end) = project.and_then(|p| p.end_date) {
        let day = c.charge_period_start.unwrap_or(c.billing_period_start);
        if day > end {
            f.push((
                FlagCode::ProjectExpired,
                format!("project `{}` ended on {end}", a.project_id),
            ));
        }
    }
    f
}

/// Billed totals per (project, source, currency): this period's for the spike
/// rule, and kept for the next period's.
pub fn source_totals(charges: &[Charge]) -> SourceTotals {
    // Summed under borrowed keys (a few hundred for a million rows), in
    // blocks on all cores: decimal sums are exact in any order.
    type Sums<'a> = crate::charge::FastMap<(&'a str, &'a str, &'a str), Decimal>;
    let t: Sums = charges
        .par_chunks(BLOCK)
        .map(|block| {
            let mut t = Sums::default();
            for c in block
                .iter()
                .filter(|c| !c.attribution.project_id.is_empty())
            {
                let key = (&*c.attribution.project_id, &*c.source, &*c.currency);
                *t.entry(key).or_default() += c.billed;
            }
            t
        })
        .reduce(Sums::default, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
            a
        });
    t.into_iter()
        .map(|((p, s, c), v)| ((p.to_string(), s.to_string(), c.to_string()), v))
        .collect()
}

/// (project, source, currency) whose billed total (`totals`, this period's)
/// rose above ratio × the previous period's and above the minimum amount,
/// with the flag's detail.
pub fn spikes(
    totals: &SourceTotals,
    config: &Config,
    previous: Option<&SourceTotals>,
) -> HashMap<(String, String, String), String> {
    let mut out = HashMap::new();
    let Some(previous) = previous else { return out };
    let spike = &config.review.spike;
    for (key, &total) in totals {
        let before = previous.get(key).copied().unwrap_or_default();
        if before > Decimal::ZERO && total > before * spike.ratio && total > spike.min_amount {
            let detail = format!(
                "{} billed {} this period, {} the period before (more than {}×)",
                key.1,
                crate::money::format(total, &key.2),
                crate::money::format(before, &key.2),
                spike.ratio.normalize()
            );
            out.insert(key.clone(), detail);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_a_duplicate_by_its_whole_content_not_the_bits_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.csv");
        std::fs::write(
            &path,
            "BillingPeriodStart,ServiceName,BilledCost\n\
             2025-01-01,EC2,1\n2025-01-01,S3,2\n2025-01-01,EC2,1\n2025-01-01,S3,2\n2025-01-01,EC2,1\n",
        )
        .unwrap();
        let mut strings = crate::charge::Interner::default();
        let mut loaded =
            crate::load::load_file(&path, "periods/2025-01/aws.csv", "aws", "USD", &mut strings);
        assert!(loaded.problems.is_empty());
        assert_eq!(
            duplicates(&loaded.charges),
            [false, false, true, true, true]
        );
        // Rows whose hashes share their first 64 bits and differ after them.
        let c = &mut loaded.charges;
        let mut near = c[0].content;
        near[15] ^= 1;
        (c[1].content, c[3].content) = (near, near);
        assert_eq!(duplicates(c), [false, false, true, true, true]);
        c[3].content[14] ^= 1;
        assert_eq!(duplicates(c), [false, false, true, false, true]);
    }
}
