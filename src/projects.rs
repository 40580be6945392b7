//! `projects.yaml`: the directory of projects, their PIs, fund codes, end dates
//! and the cloud or cluster accounts whose charges belong to them.

use crate::problem::Problem;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub pi: Pi,
    #[serde(default)]
    pub fund_org: String,
    #[serde(default)]
    pub cost_center: String,
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// SubAccountId / BillingAccountId values (or Slurm accounts) whose charges belong here.
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// Optional split of the project's statements across funds (percents sum to 100).
    #[serde(default)]
    pub funds: Vec<crate::ledger::terms::FundShare>,
    /// Prepaid and credit balances its charges draw down.
    #[serde(default)]
    pub allocations: Vec<crate::ledger::terms::Allocation>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pi {
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub department: String,
}

/// The directory, indexed by project id and by account.
#[derive(Debug, Clone, Default)]
pub struct Projects {
    pub list: Vec<Project>,
    by_id: HashMap<String, usize>,
    by_account: HashMap<String, usize>,
}

impl Projects {
    pub fn new(list: Vec<Project>) -> Projects {
        let mut by_id = HashMap::new();
        let mut by_account = HashMap::new();
        for (i, p) in list.iter().enumerate() {
            by_id.entry(p.id.clone()).or_insert(i);
            for a in &p.accounts {
                by_account.entry(a.clone()).or_insert(i);
            }
        }
        Projects {
            list,
            by_id,
            by_account,
        }
    }

    /// Load `path` (absent: an empty directory). Problems are returned, not thrown.
    pub fn load(path: &Path, shown_as: &str) -> (Projects, Vec<Problem>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Projects::default(), vec![]);
            }
            Err(e) => {
                return (
                    Projects::default(),
                    vec![Problem::file(shown_as, format!("cannot read: {e}"))],
                );
            }
        };
        if text.trim().is_empty() {
            return (Projects::default(), vec![]);
        }
        let list: Vec<Project> = match serde_yaml::from_str(&text) {
            Ok(l) => l,
            Err(e) => return (Projects::default(), vec![Problem::yaml(shown_as, &e)]),
        };
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in &list {
            if !seen.insert(p.id.clone()) {
                problems.push(Problem::file(
                    shown_as,
                    format!("project id `{}` is listed twice", p.id),
                ));
            }
            if !crate::attribute::valid_email(&p.pi.email) {
                problems.push(Problem::file(
                    shown_as,
                    format!(
                        "project `{}`: `{}` is not an email address",
                        p.id, p.pi.email
                    ),
                ));
            }
        }
        problems.extend(crate::ledger::terms::check_projects(&list, &text, shown_as));
        (Projects::new(list), problems)
    }

    pub fn get(&self, id: &str) -> Option<&Project> {
        self.by_id.get(id).map(|&i| &self.list[i])
    }

    pub fn by_account(&self, account: &str) -> Option<&Project> {
        self.by_account.get(account).map(|&i| &self.list[i])
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The PI's display name, when some project lists it.
    pub fn pi_name(&self, email: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|p| p.pi.email.eq_ignore_ascii_case(email) && !p.pi.name.is_empty())
            .map(|p| p.pi.name.as_str())
    }
}
