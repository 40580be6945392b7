//! Review decisions from `periods/<P>/review.yaml`, applied to flagged charges:
//! approve, reject, reassign (with new attribution) or leave pending.

use crate::charge::{Attribution, Charge, State};
use crate::flag::Rules;
use crate::problem::Problem;
use crate::projects::Projects;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Approve,
    Reject,
    Reassign,
    Pending,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Approve => "approve",
            Kind::Reject => "reject",
            Kind::Reassign => "reassign",
            Kind::Pending => "pending",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Set {
    pub pi_email: Option<String>,
    pub project_id: Option<String>,
    pub fund_org: Option<String>,
    pub cost_center: Option<String>,
}

/// A bulk rule: every given field must equal the charge's.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    pub source: Option<String>,
    pub flag: Option<String>,
    pub service_name: Option<String>,
    pub resource_id: Option<String>,
    pub project_id: Option<String>,
    pub pi_email: Option<String>,
    pub sub_account_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub charge: Option<String>,
    #[serde(rename = "match")]
    pub rule: Option<Match>,
    pub flag: Option<String>,
    pub decision: Kind,
    #[serde(default)]
    pub set: Option<Set>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(skip)]
    pub line: u64,
}

/// Read a review file (absent: no decisions). Each decision learns its line.
pub fn load(path: &Path, shown: &str) -> (Vec<Decision>, Vec<Problem>) {
    let text = match crate::yaml_file::text(path, shown) {
        Ok(Some(t)) => t,
        Ok(None) => return (vec![], vec![]),
        Err(p) => return (vec![], vec![p]),
    };
    let mut decisions: Vec<Decision> = match serde_yaml::from_str(&text) {
        Ok(d) => d,
        Err(e) => return (vec![], vec![Problem::yaml(shown, &e)]),
    };
    let starts = item_lines(&text);
    let mut problems = Vec::new();
    for (i, d) in decisions.iter_mut().enumerate() {
        d.line = starts.get(i).copied().unwrap_or(0);
        let at = |m: String| Problem::at(shown, d.line, m);
        match (&d.charge, &d.rule) {
            (None, None) => problems.push(at(
                "a decision needs `charge: <id>` or `match: {...}`".into()
            )),
            (Some(_), Some(_)) => problems.push(at(
                "a decision has either `charge` or `match`, not both".into(),
            )),
            _ => {}
        }
        if let Some(id) = &d.charge
            && (id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            problems.push(at(format!(
                "`{id}` is not a charge id: expected 12 hex digits as shown by `ocb review`"
            )));
        }
        if d.decision == Kind::Reassign
            && d.set.as_ref().is_none_or(|s| {
                s.pi_email.is_none()
                    && s.project_id.is_none()
                    && s.fund_org.is_none()
                    && s.cost_center.is_none()
            })
        {
            problems.push(at("`decision: reassign` needs `set:` with pi_email, project_id, fund_org or cost_center".into()));
        }
        if d.decision != Kind::Reassign && d.set.is_some() {
            problems.push(at(format!(
                "`set:` only goes with `decision: reassign`, not `{}`",
                d.decision.as_str()
            )));
        }
    }
    (decisions, problems)
}

/// Line numbers where the top-level list items start (`- ` at column 0).
fn item_lines(text: &str) -> Vec<u64> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| *l == "-" || l.starts_with("- "))
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

/// What applying decisions found: located errors and stale rules.
#[derive(Default)]
pub struct Outcome {
    pub problems: Vec<Problem>,
    /// Warnings, located: decisions that no longer apply to anything.
    pub stale: Vec<Problem>,
}

/// Apply decisions, then give every charge its one state.
pub fn decide(
    charges: &mut [Charge],
    decisions: &[Decision],
    shown: &str,
    rules: &Rules,
    projects: &Projects,
    strings: &mut crate::charge::Interner,
) -> Outcome {
    let mut out = Outcome::default();
    // The ids decisions name, found in one pass (the last row with an id,
    // should two share it): a few entries, not a map of a million rows.
    let mut by_id: crate::charge::FastMap<String, usize> = Default::default();
    let named: crate::charge::FastSet<String> = decisions
        .iter()
        .filter_map(|d| d.charge.as_ref().map(|id| id.to_ascii_lowercase()))
        .collect();
    if !named.is_empty() {
        for (i, c) in charges.iter().enumerate() {
            if named.contains(c.id.as_str()) {
                by_id.insert(c.id.to_string(), i);
            }
        }
    }
    let mut chosen: Vec<Option<usize>> = vec![None; charges.len()];
    let mut by_rule: Vec<Option<usize>> = vec![None; charges.len()];
    for (n, d) in decisions.iter().enumerate() {
        if let Some(set) = &d.set {
            check_set(set, rules, projects)
                .into_iter()
                .for_each(|m| out.problems.push(Problem::at(shown, d.line, m)));
        }
        if let Some(id) = &d.charge {
            match by_id.get(id.to_ascii_lowercase().as_str()) {
                Some(&i) => chosen[i] = Some(n),
                None if d.decision == Kind::Pending => out.stale.push(Problem::at(shown, d.line, format!("pending charge `{id}` is no longer in the data (stale)"))),
                None => out.problems.push(Problem::at(shown, d.line, format!("no charge `{id}` in this period: the id is unknown, or stale because the data changed since the decision"))),
            }
        } else if let Some(rule) = &d.rule {
            let mut hits = 0;
            for (i, c) in charges.iter().enumerate() {
                if matches(rule, c) {
                    by_rule[i] = Some(n);
                    hits += 1;
                }
            }
            if hits == 0 {
                out.stale.push(Problem::at(
                    shown,
                    d.line,
                    "match rule applies to no charge (stale)",
                ));
            }
        }
    }
    let mut unbillable: HashMap<usize, (usize, String)> = HashMap::new();
    // Rows attributed alike share one attribution; a rule reassigns them to
    // one new one (keyed by the old one's address, held meanwhile).
    type Reassigned = (Arc<Attribution>, Arc<Attribution>);
    let mut reassigned: HashMap<(usize, usize), Reassigned> = HashMap::new();
    for (i, c) in charges.iter_mut().enumerate() {
        // A decision about one charge wins over a bulk rule, unless it is only
        // `pending` (what `ocb review --write` appends) and the rule decides.
        let pending = |n: usize| decisions[n].decision == Kind::Pending;
        let decision = match (chosen[i], by_rule[i]) {
            (Some(one), Some(rule)) if pending(one) && !pending(rule) => Some(rule),
            (one, rule) => one.or(rule),
        };
        // Fewer decisions than 2^32: a review.yaml is read whole into memory.
        c.decision = decision.map(|n| n as u32);
        c.state = match decision.map(|n| (n, &decisions[n])) {
            Some((n, d)) => match d.decision {
                Kind::Reject => State::Rejected,
                Kind::Pending => State::Held,
                Kind::Approve | Kind::Reassign => {
                    if d.decision == Kind::Reassign
                        && let Some(set) = &d.set
                    {
                        let key = (Arc::as_ptr(&c.attribution) as usize, n);
                        let (_, new) = reassigned.entry(key).or_insert_with(|| {
                            let old = c.attribution.clone();
                            let new = Arc::new(reassign(&old, set, strings));
                            (old, new)
                        });
                        c.attribution = new.clone();
                    }
                    match missing_attribution(c) {
                        // Billing it would make a statement for nobody: keep it held and say why.
                        Some(what) => {
                            let e = unbillable
                                .entry(n)
                                .or_insert((0, format!("charge `{}` has no {what}", c.id)));
                            e.0 += 1;
                            State::Held
                        }
                        None => State::Billed,
                    }
                }
            },
            None if c.flags.iter().any(|f| f.holds) => State::Held,
            None => State::Billed,
        };
    }
    let mut unbillable: Vec<_> = unbillable.into_iter().collect();
    unbillable.sort();
    for (n, (count, first)) in unbillable {
        let more = if count > 1 {
            format!(" (and {} more charges)", count - 1)
        } else {
            String::new()
        };
        out.problems.push(Problem::at(shown, decisions[n].line, format!("`decision: {}` cannot bill it: {first}{more}; use `decision: reassign` with `set:` pi_email, project_id and fund_org", decisions[n].decision.as_str())));
    }
    out
}

fn missing_attribution(c: &Charge) -> Option<&'static str> {
    let a = &c.attribution;
    [
        (a.pi_email.is_empty(), "PI email"),
        (a.project_id.is_empty(), "project id"),
        (a.fund_org.is_empty(), "fund/org"),
    ]
    .into_iter()
    .find(|(missing, _)| *missing)
    .map(|(_, what)| what)
}

/// Whether a bulk rule covers a charge.
pub fn matches(rule: &Match, c: &Charge) -> bool {
    let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    eq(&rule.source, &c.source)
        && rule
            .flag
            .as_deref()
            .is_none_or(|f| c.flags.iter().any(|x| x.code.as_str() == f))
        && eq(&rule.service_name, &c.dims.service_name)
        && eq(&rule.resource_id, &c.dims.resource_id)
        && eq(&rule.project_id, &c.attribution.project_id)
        && eq(&rule.pi_email, &c.attribution.pi_email)
        && eq(&rule.sub_account_id, &c.dims.sub_account_id)
}

fn check_set(set: &Set, rules: &Rules, projects: &Projects) -> Vec<String> {
    let mut m = Vec::new();
    if let Some(e) = &set.pi_email
        && !crate::attribute::valid_email(e)
    {
        m.push(format!("set.pi_email: `{e}` is not an email address"));
    }
    if let Some(f) = &set.fund_org
        && (f.trim().is_empty() || !rules.fund_org_ok(f))
    {
        m.push(format!(
            "set.fund_org: `{f}` matches none of review.fund_org_patterns"
        ));
    }
    if let Some(p) = &set.project_id
        && (p.trim().is_empty() || (!projects.is_empty() && projects.get(p).is_none()))
    {
        m.push(format!(
            "set.project_id: project `{p}` is not in projects.yaml"
        ));
    }
    m
}

/// The attribution `a` with the fields `set` gives.
fn reassign(a: &Attribution, set: &Set, strings: &mut crate::charge::Interner) -> Attribution {
    let mut a = a.clone();
    if let Some(v) = &set.pi_email {
        a.pi_email = strings.get(&v.to_ascii_lowercase());
    }
    if let Some(v) = &set.project_id {
        a.project_id = strings.get(v);
    }
    if let Some(v) = &set.fund_org {
        a.fund_org = strings.get(v);
    }
    if let Some(v) = &set.cost_center {
        a.cost_center = strings.get(v);
    }
    a
}

/// A `decision: pending` entry with a comment saying what the charge is.
pub fn pending_entry(c: &Charge) -> String {
    let flag = c
        .flags
        .iter()
        .find(|f| f.holds)
        .map(|f| f.code.as_str())
        .unwrap_or("");
    let what = [c.dims.service_name.as_ref(), c.dims.resource_id.as_ref()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    format!(
        "# {} {}:{}: {} {}\n- charge: {}\n  flag: {flag}\n  decision: pending\n",
        c.source,
        c.file,
        c.line,
        crate::money::format(c.billed, &c.currency),
        one_line(&what),
        c.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_item_lines() {
        let text = "# decisions\n- charge: aaaaaaaaaaaa\n  decision: approve\n\n- charge: bbbbbbbbbbbb\n  decision: reject\n";
        assert_eq!(item_lines(text), vec![2, 5]);
    }
}
