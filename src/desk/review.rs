//! Review decisions from the browser: the held charges of a period, and one
//! decision (about one charge, or a bulk `match` rule) checked against the
//! period exactly as a build would, shown as the YAML entry, then appended.

use super::http::{Reply, json, query};
use super::{Desk, period_dir};
use crate::charge::{Charge, State};
use crate::problem::Problem;
use crate::review::{Kind, Match, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    period: String,
    #[serde(default)]
    charge: Option<String>,
    #[serde(default, rename = "match")]
    rule: Option<Match>,
    decision: Kind,
    #[serde(default)]
    set: Option<Set>,
    #[serde(default)]
    note: Option<String>,
    /// false: only show the entry and what it would do.
    #[serde(default)]
    write: bool,
}

/// What the page shows about a held charge.
#[derive(Serialize)]
struct Held {
    id: String,
    source: String,
    flag: String,
    flags: Vec<String>,
    service_name: String,
    resource_id: String,
    sub_account_id: String,
    pi_email: String,
    project_id: String,
    fund_org: String,
    billed: String,
    file: String,
    line: u64,
}

/// `GET /__desk/api/held?period=P`.
pub fn held(desk: &Desk, url: &str) -> Reply {
    let period = query(url, "period").unwrap_or_default();
    let dir = match period_dir(desk, &period) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match charges(desk, dir.period, None) {
        Ok((charges, problems)) => {
            let held: Vec<Held> = charges
                .iter()
                .filter(|c| c.state == State::Held)
                .map(held_row)
                .collect();
            Reply::json(
                200,
                &json!({
                    "period": dir.period, "status": crate::close::status(&dir).as_str(),
                    "held": held, "problems": strings(&problems),
                }),
            )
        }
        Err(e) => Reply::error(500, format!("{e:#}")),
    }
}

fn held_row(c: &Charge) -> Held {
    Held {
        id: c.id.to_string(),
        source: c.source.to_string(),
        flag: holding_flag(c).to_string(),
        flags: c
            .flags
            .iter()
            .map(|f| f.code.as_str().to_string())
            .collect(),
        service_name: c.dims.service_name.to_string(),
        resource_id: c.dims.resource_id.to_string(),
        sub_account_id: c.dims.sub_account_id.to_string(),
        pi_email: c.attribution.pi_email.to_string(),
        project_id: c.attribution.project_id.to_string(),
        fund_org: c.attribution.fund_org.to_string(),
        billed: crate::money::format(c.billed, &c.currency),
        file: c.file.to_string(),
        line: c.line,
    }
}

fn holding_flag(c: &Charge) -> &'static str {
    c.flags
        .iter()
        .find(|f| f.holds)
        .map(|f| f.code.as_str())
        .unwrap_or("")
}

/// `POST /__desk/api/review`: check a decision; with `write`, append it and rebuild.
pub fn decide(desk: &Desk, req: &mut tiny_http::Request) -> Result<Reply, Reply> {
    let r: Request = json(req)?;
    let dir = period_dir(desk, &r.period)?;
    if crate::close::status(&dir) == crate::close::Status::Closed {
        return Err(Reply::error(
            409,
            format!("{} is closed: reopen it before deciding", dir.period),
        ));
    }
    if r.decision == Kind::Pending {
        return Err(Reply::error(400, "decide approve, reject or reassign"));
    }
    let internal = |e: anyhow::Error| Reply::error(500, format!("{e:#}"));
    let (before, problems) = charges(desk, dir.period, None).map_err(internal)?;
    if before.is_empty() && !problems.is_empty() {
        return Err(Reply::json(
            422,
            &json!({"error": "the period has problems to fix first", "problems": strings(&problems)}),
        ));
    }
    let targets = targets(&r, &before)?;
    let entry = entry(
        &r,
        holding_flag(before_charge(&before, &targets[0])),
        &desk.root,
    );
    let comment = format!(
        "added by the desk (`ocb serve`) on {}",
        chrono::Local::now().date_naive()
    );
    let path = dir.review_path();
    // Check the file as it would be, as a build would read it: nothing is
    // written when the decision brings a problem.
    let scratch = tempfile::tempdir().map_err(|e| internal(e.into()))?;
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let candidate = existing + &crate::decisions::appended_text(&path, &comment, &entry);
    std::fs::write(scratch.path().join("review.yaml"), candidate)
        .map_err(|e| internal(e.into()))?;
    let (after, after_problems) =
        charges(desk, dir.period, Some(scratch.path())).map_err(internal)?;
    let new: Vec<String> = strings(&after_problems)
        .into_iter()
        .filter(|p| !strings(&problems).contains(p))
        .collect();
    let effect = effect(&targets, &after);
    if !new.is_empty() {
        return Err(Reply::json(
            422,
            &json!({"error": "this decision would not build", "entry": entry, "problems": new}),
        ));
    }
    if !r.write {
        return Ok(Reply::json(200, &json!({"entry": entry, "effect": effect})));
    }
    let held = super::lock(desk, "review")?;
    crate::decisions::append(&path, &comment, &entry).map_err(internal)?;
    drop(held);
    let build = desk.rebuild();
    Ok(Reply::json(
        200,
        &json!({"entry": entry, "effect": effect, "written": dir.shown("review.yaml"), "build": build}),
    ))
}

fn before_charge<'a>(charges: &'a [Charge], id: &str) -> &'a Charge {
    charges.iter().find(|c| c.id == id).unwrap_or(&charges[0])
}

/// The held charges a request decides (ids), or why it decides none.
fn targets(r: &Request, charges: &[Charge]) -> Result<Vec<String>, Reply> {
    let held = charges.iter().filter(|c| c.state == State::Held);
    let ids: Vec<String> = match (&r.charge, &r.rule) {
        (Some(id), None) => held
            .filter(|c| c.id.eq_ignore_ascii_case(id))
            .map(|c| c.id.to_string())
            .collect(),
        (None, Some(rule)) => held
            .filter(|c| crate::review::matches(rule, c))
            .map(|c| c.id.to_string())
            .collect(),
        _ => {
            return Err(Reply::error(
                400,
                "a decision names one `charge` or a `match` rule",
            ));
        }
    };
    if ids.is_empty() {
        let what = match &r.charge {
            Some(id) => format!("no held charge `{id}` in {}", r.period),
            None => format!("the rule matches no held charge in {}", r.period),
        };
        return Err(Reply::error(404, what));
    }
    Ok(ids)
}

/// The YAML list item, in the order people write it; empty fields left out.
fn entry(r: &Request, flag: &str, root: &Path) -> String {
    use serde_yaml::{Mapping, Value};
    let clean = |v: Value| match v {
        Value::Mapping(m) => Value::Mapping(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        v => v,
    };
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| {
        m.insert(Value::from(k), v);
    };
    match (&r.charge, &r.rule) {
        (Some(id), _) => {
            put("charge", Value::from(id.to_ascii_lowercase()));
            put("flag", Value::from(flag));
        }
        (_, Some(rule)) => put(
            "match",
            clean(serde_yaml::to_value(rule).unwrap_or_default()),
        ),
        _ => {}
    }
    put("decision", Value::from(r.decision.as_str()));
    if let Some(set) = &r.set {
        put("set", clean(serde_yaml::to_value(set).unwrap_or_default()));
    }
    if let Some(note) = r.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        put("note", Value::from(note));
    }
    if let Some(by) = crate::decisions::who(root) {
        put("by", Value::from(by));
    }
    put(
        "date",
        Value::from(chrono::Local::now().date_naive().to_string()),
    );
    serde_yaml::to_string(&vec![Value::Mapping(m)]).unwrap_or_default()
}

/// Per decided charge, the state it would end in; and totals by state.
fn effect(targets: &[String], after: &[Charge]) -> serde_json::Value {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for c in after
        .iter()
        .filter(|c| targets.iter().any(|t| t == c.id.as_str()))
    {
        *counts.entry(c.state.as_str()).or_default() += 1;
    }
    json!({"charges": targets.len(), "states": counts})
}

/// The charges of `period` after the pipeline, with the problems of the run.
/// `review_dir` replaces the period folder for review.yaml (a candidate file).
fn charges(
    desk: &Desk,
    period: crate::period::Period,
    review_dir: Option<&Path>,
) -> anyhow::Result<(Vec<Charge>, Vec<Problem>)> {
    let mut repo = desk.repo()?;
    // The spike rule reads earlier periods only: later ones change nothing here.
    repo.periods.retain(|d| d.period <= period);
    if let (Some(dir), Some(d)) = (review_dir, repo.periods.last_mut()) {
        d.dir = dir.to_path_buf();
    }
    let mut problems = repo.problems.clone();
    let mut found = Vec::new();
    crate::build::each_period_for(&repo, &mut problems, Some(period), false, |data| {
        if data.dir.period == period {
            found = data.charges.clone();
        }
        Ok(())
    })?;
    Ok((found, problems))
}

fn strings(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}
