//! `projects.yaml`: the directory of projects, their PIs, fund codes, end dates
//! and the cloud or cluster accounts whose charges belong to them.

use crate::problem::Problem;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

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
    /// Logins who may see this project's PI's portal (`site.access: per_pi`).
    #[serde(default)]
    pub delegates: Vec<String>,
    /// Storage paths (Isilon quota directories) whose usage belongs here; the
    /// longest matching prefix among all projects wins.
    #[serde(default)]
    pub paths: Vec<String>,
    /// People (emails) whose per-user charges (ChatGPT Edu) belong here.
    #[serde(default)]
    pub users: Vec<String>,
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
    /// The PI's login on the web server, when it is not their email.
    #[serde(default)]
    pub login: Option<String>,
    /// Logins who may see this PI's portal (a lab manager, a department administrator).
    #[serde(default)]
    pub delegates: Vec<String>,
}

/// The directory, indexed by project id and by account.
#[derive(Debug, Clone, Default)]
pub struct Projects {
    list: Vec<Project>,
    by_id: HashMap<String, usize>,
    by_account: HashMap<String, usize>,
    /// Lowercased email → project.
    by_user: HashMap<String, usize>,
    /// sha256 of the file's text ("absent" without one).
    text_digest: String,
    /// What was asked of the directory since `trace_start` (shared by
    /// clones): a period depends on these answers only, so an edit to a
    /// project it never asked about leaves its cache entry valid.
    trace: Arc<Mutex<Option<BTreeSet<Lookup>>>>,
}

/// One question asked of projects.yaml. Its answer, under the current
/// directory, is digested into a period's cache key (`Projects::digest`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Lookup {
    /// `get`: the project with this id.
    Id(String),
    /// `position`: the project with this id and its place in the file.
    Index(String),
    Account(String),
    User(String),
    Path(String),
    PiName(String),
    /// Whether the directory lists any project.
    Listed,
    /// Every project with allocations.
    Allocations,
    /// The whole directory.
    All,
    /// The file's bytes, comments included (`read_text`).
    Text,
}

impl Projects {
    pub fn new(list: Vec<Project>) -> Projects {
        let mut by_id = HashMap::new();
        let mut by_account = HashMap::new();
        let mut by_user = HashMap::new();
        for (i, p) in list.iter().enumerate() {
            by_id.entry(p.id.clone()).or_insert(i);
            for a in &p.accounts {
                by_account.entry(a.clone()).or_insert(i);
            }
            for u in &p.users {
                by_user.entry(u.trim().to_lowercase()).or_insert(i);
            }
        }
        Projects {
            list,
            by_id,
            by_account,
            by_user,
            text_digest: "absent".to_string(),
            trace: Arc::default(),
        }
    }

    /// sha256 of the file's bytes as this directory was read from them
    /// (None without a file); the caller depends on them, comments
    /// included. A closed period compares them with the digest recorded
    /// when it was closed (`close::settings`).
    pub fn file_digest(&self) -> Option<&str> {
        self.note(|| Lookup::Text);
        (self.text_digest != "absent").then_some(self.text_digest.as_str())
    }

    /// Record the questions asked from now on (those before are forgotten).
    pub fn trace_start(&self) {
        *self.trace.lock().unwrap_or_else(|e| e.into_inner()) = Some(BTreeSet::new());
    }

    /// The questions asked since `trace_start`, which stops recording.
    pub fn trace_take(&self) -> Vec<Lookup> {
        let taken = self.trace.lock().unwrap_or_else(|e| e.into_inner()).take();
        taken.unwrap_or_default().into_iter().collect()
    }

    fn note(&self, lookup: impl FnOnce() -> Lookup) {
        if let Some(set) = self
            .trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            set.insert(lookup());
        }
    }

    /// A digest of the answers the directory gives now to `lookups`: equal
    /// digests mean a computation that asked them would see the same
    /// projects.yaml (a comment, or a project it never asked about, may
    /// differ).
    pub fn digest(&self, lookups: &[Lookup]) -> String {
        let mut h = Sha256::new();
        for l in lookups {
            let answer = match l {
                Lookup::Id(id) => {
                    serde_json::to_string(&self.by_id.get(id).map(|&i| &self.list[i]))
                }
                Lookup::Index(id) => {
                    serde_json::to_string(&self.by_id.get(id).map(|&i| (i, &self.list[i])))
                }
                Lookup::Account(a) => {
                    serde_json::to_string(&self.by_account.get(a).map(|&i| &self.list[i]))
                }
                Lookup::User(u) => serde_json::to_string(&self.find_user(u)),
                Lookup::Path(p) => serde_json::to_string(&self.find_path(p)),
                Lookup::PiName(e) => serde_json::to_string(&self.find_pi_name(e)),
                Lookup::Listed => serde_json::to_string(&self.list.is_empty()),
                Lookup::Allocations => serde_json::to_string(
                    &self
                        .list
                        .iter()
                        .filter(|p| !p.allocations.is_empty())
                        .collect::<Vec<_>>(),
                ),
                Lookup::All => serde_json::to_string(&self.list),
                Lookup::Text => Ok(self.text_digest.clone()),
            };
            h.update(format!("{l:?}\0").as_bytes());
            h.update(answer.unwrap_or_default().as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// Load `path` (absent: an empty directory). Problems are returned, not thrown.
    pub fn load(path: &Path, shown_as: &str) -> (Projects, Vec<Problem>) {
        // One read: the digest is of the bytes parsed.
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Projects::default(), vec![]);
            }
            Err(e) => {
                let problem = Problem::file(shown_as, format!("cannot read: {e}"));
                return (Projects::default(), vec![problem]);
            }
        };
        let digest = hex::encode(Sha256::digest(&bytes));
        let (mut projects, problems) = Projects::parse(bytes, shown_as);
        projects.text_digest = digest;
        (projects, problems)
    }

    fn parse(bytes: Vec<u8>, shown_as: &str) -> (Projects, Vec<Problem>) {
        let text = match crate::yaml_file::text_of(bytes, shown_as) {
            Ok(Some(t)) => t,
            Ok(None) => return (Projects::default(), vec![]),
            Err(p) => return (Projects::default(), vec![p]),
        };
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
            for login in p.pi.login.iter().chain(&p.pi.delegates).chain(&p.delegates) {
                if !crate::access::safe_login(login) {
                    problems.push(Problem::file(
                        shown_as,
                        format!(
                            "project `{}`: `{login}` is not a login (expected letters, digits and . _ % + ' @ -)",
                            p.id
                        ),
                    ));
                }
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
        problems.extend(claimed_twice(&list, shown_as));
        problems.extend(crate::ledger::terms::check_projects(&list, &text, shown_as));
        (Projects::new(list), problems)
    }

    pub fn get(&self, id: &str) -> Option<&Project> {
        self.note(|| Lookup::Id(id.to_string()));
        self.by_id.get(id).map(|&i| &self.list[i])
    }

    /// The project with this id and its index in the file.
    pub fn position(&self, id: &str) -> Option<(usize, &Project)> {
        self.note(|| Lookup::Index(id.to_string()));
        self.by_id.get(id).map(|&i| (i, &self.list[i]))
    }

    pub fn by_account(&self, account: &str) -> Option<&Project> {
        self.note(|| Lookup::Account(account.to_string()));
        self.by_account.get(account).map(|&i| &self.list[i])
    }

    /// Every project, in file order.
    pub fn all(&self) -> &[Project] {
        self.note(|| Lookup::All);
        &self.list
    }

    /// The projects with allocations, in file order.
    pub fn with_allocations(&self) -> impl Iterator<Item = &Project> {
        self.note(|| Lookup::Allocations);
        self.list.iter().filter(|p| !p.allocations.is_empty())
    }

    /// The project whose `paths` entry is the longest prefix of `path`, taken
    /// at a `/` boundary: `/ifs/lee` covers `/ifs/lee/x` but not `/ifs/leeward`.
    pub fn by_path(&self, path: &str) -> Option<&Project> {
        self.note(|| Lookup::Path(path.to_string()));
        self.find_path(path)
    }

    fn find_path(&self, path: &str) -> Option<&Project> {
        let mut best: Option<(usize, &Project)> = None;
        for p in &self.list {
            for prefix in &p.paths {
                let prefix = prefix.trim_end_matches('/');
                let covers = path == prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/') || prefix.is_empty());
                if covers && best.is_none_or(|(len, _)| prefix.len() > len) {
                    best = Some((prefix.len(), p));
                }
            }
        }
        best.map(|(_, p)| p)
    }

    /// The project listing this email in `users` (case-insensitive).
    pub fn by_user(&self, email: &str) -> Option<&Project> {
        self.note(|| Lookup::User(email.to_string()));
        self.find_user(email)
    }

    fn find_user(&self, email: &str) -> Option<&Project> {
        self.by_user
            .get(&email.trim().to_lowercase())
            .map(|&i| &self.list[i])
    }

    pub fn is_empty(&self) -> bool {
        self.note(|| Lookup::Listed);
        self.list.is_empty()
    }

    /// The PI's display name, when some project lists it.
    pub fn pi_name(&self, email: &str) -> Option<&str> {
        self.note(|| Lookup::PiName(email.to_string()));
        self.find_pi_name(email)
    }

    fn find_pi_name(&self, email: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|p| p.pi.email.eq_ignore_ascii_case(email) && !p.pi.name.is_empty())
            .map(|p| p.pi.name.as_str())
    }
}

/// A path or user listed by two projects would bill one of them at random.
fn claimed_twice(list: &[Project], shown_as: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut paths: HashMap<String, &str> = HashMap::new();
    let mut users: HashMap<String, &str> = HashMap::new();
    for p in list {
        for path in &p.paths {
            let key = path.trim_end_matches('/').to_string();
            if let Some(first) = paths.insert(key, &p.id) {
                problems.push(Problem::file(
                    shown_as,
                    format!("path `{path}` is listed by projects `{first}` and `{}`: expected one owner", p.id),
                ));
            }
        }
        for user in &p.users {
            if let Some(first) = users.insert(user.trim().to_lowercase(), &p.id) {
                problems.push(Problem::file(
                    shown_as,
                    format!("user `{user}` is listed by projects `{first}` and `{}`: expected one project per user", p.id),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projects(yaml: &str) -> (Projects, Vec<Problem>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("projects.yaml");
        std::fs::write(&p, yaml).unwrap();
        Projects::load(&p, "projects.yaml")
    }

    #[test]
    fn the_longest_path_prefix_wins_at_a_slash() {
        let (ps, problems) = projects(
            "- {id: lab, pi: {email: a@x.edu}, paths: [/ifs/lee/]}\n- {id: sub, pi: {email: a@x.edu}, paths: [/ifs/lee/big]}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let id = |path| ps.by_path(path).map(|p| p.id.as_str());
        assert_eq!(id("/ifs/lee"), Some("lab"));
        assert_eq!(id("/ifs/lee/small"), Some("lab"));
        assert_eq!(id("/ifs/lee/big"), Some("sub"));
        assert_eq!(id("/ifs/lee/big/x"), Some("sub"));
        assert_eq!(id("/ifs/lee/bigger"), Some("lab"));
        assert_eq!(id("/ifs/leeward"), None);
    }

    #[test]
    fn a_trace_digests_only_the_answers_it_asked_for() {
        let before =
            "- {id: a, pi: {email: a@x.edu}, accounts: ['1']}\n- {id: b, pi: {email: b@x.edu}}\n";
        let (ps, _) = projects(before);
        ps.trace_start();
        ps.get("a");
        ps.by_account("9");
        let asked = ps.trace_take();
        assert_eq!(
            asked,
            vec![Lookup::Id("a".into()), Lookup::Account("9".into())]
        );
        assert!(ps.trace_take().is_empty(), "the trace stops when taken");
        let digest = |yaml: &str| projects(yaml).0.digest(&asked);
        let was = digest(before);
        // Another project edited, a comment: the same answers.
        assert_eq!(
            was,
            digest(&format!("# note\n{}", before.replace("b@x", "c@x")))
        );
        // The project asked about, or an account that was missing, now found.
        assert_ne!(was, digest(&before.replace("a@x", "z@x")));
        assert_ne!(
            was,
            digest(&format!(
                "{before}- {{id: c, pi: {{email: c@x.edu}}, accounts: ['9']}}\n"
            ))
        );
    }

    #[test]
    fn users_match_without_case_and_once() {
        let (ps, problems) = projects(
            "- {id: a, pi: {email: a@x.edu}, users: [Ann@X.edu]}\n- {id: b, pi: {email: b@x.edu}, users: [ann@x.edu]}\n",
        );
        assert_eq!(ps.by_user("ANN@x.edu").map(|p| p.id.as_str()), Some("a"));
        assert_eq!(
            problems[0].to_string(),
            "projects.yaml: user `ann@x.edu` is listed by projects `a` and `b`: expected one project per user"
        );
    }
}
