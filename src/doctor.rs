//! `ocb doctor`'s checks: what is missing or suspicious in a billing repository
//! and on this machine, each finding with the command or edit that fixes it.

use crate::build::Repo;
use crate::config::{Config, JournalFormat};
use crate::pipeline::PeriodData;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether it stops a correct monthly run (build, statements, journals, send).
    pub blocking: bool,
    pub what: String,
    pub fix: String,
}

fn finding(blocking: bool, what: String, fix: impl Into<String>) -> Finding {
    Finding {
        blocking,
        what,
        fix: fix.into(),
    }
}

/// Every check over an opened repository (the config already loaded).
pub fn examine(repo: &Repo) -> anyhow::Result<Vec<Finding>> {
    let mut out = Vec::new();
    if !repo.problems.is_empty() {
        out.push(finding(
            true,
            format!(
                "{} problem(s) in projects.yaml or periods/, first: {}",
                repo.problems.len(),
                repo.problems[0]
            ),
            "`ocb check` lists them all with file:line: fix each",
        ));
    }
    let mut problems = Vec::new();
    let mut sources: BTreeMap<String, ()> = BTreeMap::new();
    crate::build::each_period(repo, &mut problems, |data| {
        out.extend(period(data));
        for f in &data.dir.files {
            sources.insert(f.source.clone(), ());
        }
        Ok(())
    })?;
    if !problems.is_empty() {
        out.push(finding(
            true,
            format!(
                "{} problem(s) in the periods' data, first: {}",
                problems.len(),
                problems[0]
            ),
            "`ocb check` lists them all with file:line: fix each",
        ));
    }
    out.extend(empty_periods(repo));
    out.extend(accounts(&repo.config, sources.keys()));
    out.extend(projects(repo));
    out.extend(chrome(&repo.config));
    out.extend(email(&repo.config));
    out.extend(git(&repo.root));
    Ok(out)
}

fn empty_periods(repo: &Repo) -> Vec<Finding> {
    repo.periods
        .iter()
        .filter(|d| d.files.is_empty())
        .map(|d| {
            finding(
                false,
                format!("periods/{} holds no data", d.period),
                format!(
                    "`ocb import FILE --source NAME` for each source of {}, or remove the folder",
                    d.period
                ),
            )
        })
        .collect()
}

/// Held charges: a month that is all held bills nobody.
fn period(data: &PeriodData) -> Vec<Finding> {
    let p = data.dir.period;
    let held: u64 = data.currencies.iter().map(|c| c.held_rows).sum();
    let billed: u64 = data.currencies.iter().map(|c| c.billed_rows).sum();
    if held == 0 {
        return vec![];
    }
    let mut codes: BTreeMap<&str, u64> = BTreeMap::new();
    for c in data
        .charges
        .iter()
        .filter(|c| c.state == crate::charge::State::Held)
    {
        let code = c
            .flags
            .iter()
            .find(|f| f.holds)
            .map(|f| f.code.as_str())
            .unwrap_or("pending");
        *codes.entry(code).or_default() += 1;
    }
    let (top, _) = codes
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(c, n)| (*c, *n))
        .unwrap_or(("pending", 0));
    let list = codes
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let all = billed == 0;
    vec![finding(
        all,
        format!(
            "{p}: {}{held} charge(s) held ({list})",
            if all {
                "every charge is held, nothing billed: "
            } else {
                ""
            }
        ),
        format!(
            "`ocb review --period {p}` lists them; for {top}: {}",
            crate::hints::hint(top)
        ),
    )]
}

/// The `gl` journal needs a GL account and a credit fund for every source.
fn accounts<'a>(config: &Config, sources: impl Iterator<Item = &'a String>) -> Vec<Finding> {
    let gl = config.journal.format == JournalFormat::Gl;
    let mut missing = Vec::new();
    for s in sources {
        let c = config.sources.get(s);
        let account = c
            .and_then(|c| c.account.as_deref())
            .is_some_and(|a| !a.is_empty());
        let fund = c
            .and_then(|c| c.credit_fund_org.as_deref())
            .is_some_and(|a| !a.is_empty());
        if !account || (gl && !fund) {
            missing.push(s.clone());
        }
    }
    if missing.is_empty() {
        return vec![];
    }
    let example = missing
        .iter()
        .map(|s| {
            format!(
                "  {s}: {{name: {s}, account: \"5xxxx\", credit_fund_org: \"YOUR-RECOVERY-FUND\"}}"
            )
        })
        .collect::<Vec<_>>()
        .join("\n         ");
    vec![finding(
        true,
        format!(
            "source(s) without a GL account or credit fund in ocb.yaml: {}; journal lines would carry none",
            missing.join(", ")
        ),
        format!("add under `sources:` in ocb.yaml:\n         {example}"),
    )]
}

fn projects(repo: &Repo) -> Vec<Finding> {
    let mut out = Vec::new();
    let no_fund: Vec<&str> = repo
        .projects
        .all()
        .iter()
        .filter(|p| p.fund_org.trim().is_empty())
        .map(|p| p.id.as_str())
        .collect();
    if !no_fund.is_empty() {
        out.push(finding(
            false,
            format!("project(s) without a fund_org in projects.yaml: {}", no_fund.join(", ")),
            "add `fund_org: …` to each; their charges without a fund tag are held as missing_fund_org",
        ));
    }
    let (census, _) = crate::census::survey(repo, None);
    let unknown: Vec<&str> = census.unknown().map(|s| s.id.as_str()).collect();
    if !unknown.is_empty() && !repo.projects.is_empty() {
        out.push(finding(
            false,
            format!(
                "project(s) in the data but not in projects.yaml (held as unknown_project): {}",
                unknown.join(", ")
            ),
            "`ocb projects add --from-data`",
        ));
    }
    out
}

fn chrome(config: &Config) -> Vec<Finding> {
    match crate::pdf::find_chrome(config.pdf.chrome.as_deref()) {
        Ok(_) => vec![],
        Err(e) => vec![finding(
            true,
            format!("no browser for PDF statements: {e:#}"),
            "`apt-get install chromium fonts-dejavu-core fonts-liberation` (or set `pdf.chrome` in ocb.yaml); `ocb build --no-pdf` builds without PDFs",
        )],
    }
}

fn email(config: &Config) -> Vec<Finding> {
    let e = &config.email;
    if e.dev_mode {
        return vec![finding(
            false,
            "email.dev_mode is true: `ocb send` writes .eml files and sends nothing".into(),
            "set `email.dev_mode: false` in ocb.yaml when you are ready to email PIs",
        )];
    }
    let mut out = Vec::new();
    let unset = |v: &Option<String>| v.clone().filter(|n| std::env::var_os(n).is_none());
    for (key, var) in [
        ("username_env", &e.smtp.username_env),
        ("password_env", &e.smtp.password_env),
    ] {
        if let Some(name) = unset(var) {
            out.push(finding(
                false,
                format!("environment variable ${name} (email.smtp.{key}) is not set: `ocb send` will not log in"),
                format!("`export {name}=…` before `ocb send`, or remove `email.smtp.{key}` if the relay needs no login"),
            ));
        }
    }
    let addr = format!("{}:{}", e.smtp.host, e.smtp.port);
    if let Err(reason) = reach(&addr) {
        out.push(finding(
            false,
            format!("cannot reach the SMTP server {addr}: {reason}"),
            "set `email.smtp.host`/`port` in ocb.yaml, or `email.dev_mode: true` to write .eml files",
        ));
    }
    out
}

fn reach(addr: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let timeout = std::time::Duration::from_secs(2);
    let addrs = addr.to_socket_addrs().map_err(|e| e.to_string())?;
    let mut last = "the name resolves to no address".to_string();
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Decisions live in git: a repository that is not one, or review files not committed.
fn git(root: &Path) -> Vec<Finding> {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
    };
    let Some(inside) = run(&["rev-parse", "--is-inside-work-tree"]) else {
        return vec![finding(
            false,
            "git is not installed: decisions have no history".into(),
            "`apt-get install git`",
        )];
    };
    if !inside.status.success() {
        return vec![finding(
            false,
            "the billing repository is not a git repository: review decisions and closed periods have no history".into(),
            "`git init && git add -A && git commit -m \"billing repository\"`",
        )];
    }
    let Some(status) = run(&["status", "--porcelain", "--", "periods"]) else {
        return vec![];
    };
    let changed: Vec<String> = String::from_utf8_lossy(&status.stdout)
        .lines()
        .filter(|l| l.ends_with("review.yaml"))
        .map(|l| l.get(3..).unwrap_or(l).to_string())
        .collect();
    if changed.is_empty() {
        return vec![];
    }
    vec![finding(
        false,
        format!("uncommitted review decisions: {}", changed.join(", ")),
        format!(
            "`git add {} && git commit -m \"review decisions\"`",
            changed.join(" ")
        ),
    )]
}
