//! What the data says about projects: every project id the periods' charges
//! name, with the PIs, names and funds their rows carry, against the project
//! directory (`projects.yaml`). Read by `ocb projects` and `ocb doctor`.

use crate::build::Repo;
use crate::charge::Interner;
use crate::period::Period;
use crate::problem::Problem;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How often each value was seen.
#[derive(Debug, Clone, Default)]
pub struct Tally(BTreeMap<String, u64>);

impl Tally {
    fn add(&mut self, value: &str) {
        if !value.is_empty() {
            *self.0.entry(value.to_string()).or_default() += 1;
        }
    }

    /// The most frequent value; ties go to the first in sort order (deterministic).
    pub fn top(&self) -> Option<&str> {
        let mut best: Option<(&String, u64)> = None;
        for (v, &n) in &self.0 {
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((v, n));
            }
        }
        best.map(|(v, _)| v.as_str())
    }

    /// Every value but the most frequent, with its count.
    pub fn others(&self) -> Vec<(&str, u64)> {
        let top = self.top();
        self.0
            .iter()
            .filter(|(v, _)| Some(v.as_str()) != top)
            .map(|(v, &n)| (v.as_str(), n))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One project id as the data names it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Empty for rows that name no project.
    pub id: String,
    /// Whether projects.yaml lists it.
    pub known: bool,
    pub pis: Tally,
    /// PI display names from the `tags.pi_name` tag.
    pub names: Tally,
    pub funds: Tally,
    pub rows: u64,
    /// BilledCost of all its rows (whatever their state), per currency.
    pub billed: BTreeMap<String, Decimal>,
}

#[derive(Debug, Default)]
pub struct Census {
    /// Sorted by id; the rows without a project id come first (id "").
    pub seen: Vec<Seen>,
    /// projects.yaml entries that no row of the surveyed periods names.
    pub unused: Vec<String>,
}

impl Census {
    pub fn unknown(&self) -> impl Iterator<Item = &Seen> {
        self.seen.iter().filter(|s| !s.known && !s.id.is_empty())
    }
}

/// Load every period (or only `only`) and attribute its charges as the build
/// does. Periods whose files have problems are left out; their problems are returned.
pub fn survey(repo: &Repo, only: Option<Period>) -> (Census, Vec<Problem>) {
    let mut strings = Interner::default();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let name_key = &repo.config.tags.pi_name;
    for dir in repo
        .periods
        .iter()
        .filter(|d| only.is_none_or(|p| p == d.period))
    {
        let (mut charges, mut found) = crate::pipeline::load(
            dir,
            &repo.config,
            &mut strings,
            &indicatif::ProgressBar::hidden(),
        );
        if !found.is_empty() {
            problems.append(&mut found);
            continue;
        }
        // The PI names, by tag, before the rows are attributed.
        let names: Vec<Option<Arc<str>>> = charges
            .iter()
            .map(|c| c.tag(name_key).map(|n| strings.get(n.trim())))
            .collect();
        crate::attribute::attribute(
            &mut charges,
            &repo.config.tags,
            &repo.projects,
            &mut strings,
        );
        for (c, name) in charges.iter().zip(names) {
            let a = &c.attribution;
            let s = seen.entry(a.project_id.to_string()).or_default();
            s.pis.add(&a.pi_email);
            s.names.add(name.as_deref().unwrap_or(""));
            s.funds.add(&a.fund_org);
            s.rows += 1;
            *s.billed.entry(c.currency.to_string()).or_default() += c.billed;
        }
    }
    let mut census = Census::default();
    for (id, mut s) in seen {
        s.known = repo.projects.get(&id).is_some();
        s.id = id;
        census.seen.push(s);
    }
    census.unused = repo
        .projects
        .all()
        .iter()
        .filter(|p| !census.seen.iter().any(|s| s.id == p.id))
        .map(|p| p.id.clone())
        .collect();
    (census, problems)
}

/// A project that `ocb projects add --from-data` appends, or reports it cannot.
#[derive(Debug)]
pub struct NewEntry {
    pub id: String,
    /// The YAML text appended to projects.yaml; empty when it cannot be added.
    pub yaml: String,
    /// What the user should know: values that disagree, or why it was not added.
    pub notes: Vec<String>,
}

/// projects.yaml entries for every unknown project, sorted by id, each with the
/// most frequent PI, name and fund of its rows and a comment naming the others.
pub fn new_entries(census: &Census) -> Vec<NewEntry> {
    census.unknown().map(new_entry).collect()
}

fn new_entry(s: &Seen) -> NewEntry {
    let mut notes = Vec::new();
    let Some(email) = s.pis.top() else {
        notes.push(
            "not added: no row names its PI (tag `pi_email`); add it to projects.yaml by hand"
                .to_string(),
        );
        return NewEntry {
            id: s.id.clone(),
            yaml: String::new(),
            notes,
        };
    };
    let mut yaml = format!("- id: {}\n  pi: {{email: {}", quote(&s.id), quote(email));
    if let Some(name) = s.names.top() {
        yaml.push_str(&format!(", name: {}", quote(name)));
    }
    yaml.push_str("}\n");
    match s.funds.top() {
        Some(fund) => yaml.push_str(&format!("  fund_org: {}\n", quote(fund))),
        None => notes.push("no row names its fund/org: add `fund_org` by hand".into()),
    }
    for (what, tally) in [
        ("pi_email", &s.pis),
        ("pi_name", &s.names),
        ("fund_org", &s.funds),
    ] {
        let others = tally.others();
        if others.is_empty() {
            continue;
        }
        let list = others
            .iter()
            .map(|(v, n)| format!("{v} ({n} row{})", if *n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ");
        yaml.push_str(&format!("  # the data also names {what}: {list}\n"));
        notes.push(format!(
            "rows disagree on {what}: took {}, also {list}",
            tally.top().unwrap_or("")
        ));
    }
    NewEntry {
        id: s.id.clone(),
        yaml,
        notes,
    }
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// `existing` with `entries` appended, keeping its text and comments. A flow
/// `[]` (an empty list written by hand) is commented out so the list can grow.
pub fn append_entries(existing: &str, entries: &[NewEntry]) -> String {
    let mut text: String = existing
        .lines()
        .map(|l| {
            if l.trim() == "[]" {
                format!("# {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    if entries.iter().any(|e| !e.yaml.is_empty()) {
        text.push_str("# added by `ocb projects add --from-data`\n");
    }
    for e in entries.iter().filter(|e| !e.yaml.is_empty()) {
        text.push_str(&e.yaml);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn the_most_frequent_value_wins_and_ties_are_stable() {
        let mut t = Tally::default();
        for v in ["b", "a", "b", "", "a", "c"] {
            t.add(v);
        }
        assert_eq!(t.top(), Some("a"), "a tie goes to the first in order");
        t.add("b");
        assert_eq!(t.top(), Some("b"));
        assert_eq!(t.others(), vec![("a", 2), ("c", 1)]);
        assert_eq!(t.len(), 3, "empty values are not counted");
    }
}
