//! `ocb projects`: the projects the data names against projects.yaml, and
//! `ocb projects add --from-data`, which appends the unknown ones.

use super::{INVALID, parse_period, periods::print_table};
use crate::census::{self, Census, Seen};
use crate::cli::Global;
use crate::money::format;
use anyhow::{Context, Result};
use std::io::Write;

pub fn list(g: &Global) -> Result<u8> {
    let repo = crate::build::open(&g.root, &g.config_path())?;
    let (census, mut problems) = census::survey(&repo, None);
    problems.extend(repo.problems.iter().cloned());
    let header = ["project", "status", "pi", "fund_org", "rows", "billed"].map(String::from);
    let mut rows: Vec<[String; 6]> = census.seen.iter().map(row).collect();
    for id in &census.unused {
        let p = repo.projects.get(id);
        rows.push([
            id.clone(),
            "unused".into(),
            p.map(|p| p.pi.email.clone()).unwrap_or_default(),
            p.map(|p| p.fund_org.clone()).unwrap_or_default(),
            "0".into(),
            String::new(),
        ]);
    }
    print_table(&header, &rows);
    advise(&census, repo.projects.is_empty());
    if !problems.is_empty() {
        problems.sort();
        super::report_problems(
            &problems,
            "periods with problems were left out (see `ocb check`)",
        );
        return Ok(INVALID);
    }
    Ok(0)
}

fn row(s: &Seen) -> [String; 6] {
    let several = |t: &census::Tally| {
        let top = t.top().unwrap_or("(none)").to_string();
        match t.len() {
            0 | 1 => top,
            n => format!("{top} (+{})", n - 1),
        }
    };
    let status = match (s.id.is_empty(), s.known) {
        (true, _) => "no project id",
        (false, true) => "known",
        (false, false) => "unknown",
    };
    let billed = s
        .billed
        .iter()
        .map(|(cur, v)| format(*v, cur))
        .collect::<Vec<_>>()
        .join(" + ");
    [
        if s.id.is_empty() {
            "(none)".into()
        } else {
            s.id.clone()
        },
        status.into(),
        several(&s.pis),
        several(&s.funds),
        s.rows.to_string(),
        billed,
    ]
}

fn advise(census: &Census, directory_empty: bool) {
    let unknown = census.unknown().count();
    if unknown > 0 {
        let held = if directory_empty {
            "accepted while projects.yaml lists no project"
        } else {
            "held as `unknown_project`"
        };
        println!(
            "\n{unknown} project{} not in projects.yaml ({held}): `ocb projects add --from-data` appends {}",
            super::plural(unknown),
            if unknown == 1 { "it" } else { "them" }
        );
    }
    if census.seen.iter().any(|s| s.id.is_empty()) {
        println!(
            "rows without a project id are held: {}",
            crate::hints::hint("missing_project_id")
        );
    }
}

pub fn add(g: &Global, period: Option<&str>) -> Result<u8> {
    let only = period.map(parse_period).transpose()?;
    let _lock = crate::lock::acquire(&g.root, "projects add")?;
    let repo = crate::build::open(&g.root, &g.config_path())?;
    let (census, mut problems) = census::survey(&repo, only);
    problems.extend(repo.problems.iter().cloned());
    if !problems.is_empty() {
        problems.sort();
        super::report_problems(&problems, "projects.yaml was not changed");
        return Ok(INVALID);
    }
    let entries = census::new_entries(&census);
    for e in &entries {
        for n in &e.notes {
            eprintln!("{}: {n}", e.id);
        }
    }
    let added: Vec<&str> = entries
        .iter()
        .filter(|e| !e.yaml.is_empty())
        .map(|e| e.id.as_str())
        .collect();
    if added.is_empty() {
        if !g.quiet {
            println!("projects.yaml already lists every project the data names");
        }
        return Ok(0);
    }
    let path = g.root.join("projects.yaml");
    let existing = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let text = census::append_entries(&existing, &entries);
    write_checked(&path, &text)?;
    if !g.quiet {
        println!(
            "added {} project{} to projects.yaml: {}",
            added.len(),
            super::plural(added.len()),
            added.join(", ")
        );
    }
    Ok(0)
}

/// Replace projects.yaml in one step, and only with text that loads cleanly.
fn write_checked(path: &std::path::Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .with_context(|| format!("cannot write `{}`", tmp.path().display()))?;
    let (_, problems) = crate::projects::Projects::load(tmp.path(), "projects.yaml");
    if let Some(p) = problems.first() {
        anyhow::bail!(
            "internal error: the new projects.yaml would not load ({p}); it was not changed"
        );
    }
    tmp.persist(path)
        .with_context(|| format!("cannot replace `{}`", path.display()))?;
    Ok(())
}
