//! `ocb close P`: issue a period's statements. The whole repository is built
//! (into a scratch folder, without PDFs) so that P's statements are exactly
//! what a build shows; then `periods/P/issued.csv.gz` records every row and
//! `periods/P/period.yaml` the statements, digests, who and when.

use crate::charge::{Charge, State};
use crate::close::{self, Event, Issued, PeriodFile, Posted, Status};
use crate::period::Period;
use crate::pipeline::PeriodData;
use crate::problem::Problem;
use crate::site::{Site, StatementRef};
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

/// What `ocb close` did, or the problems that stopped it.
#[derive(Default)]
pub struct Closed {
    pub problems: Vec<Problem>,
    pub statements: usize,
    pub rows: usize,
    pub digests: usize,
    pub corrections: usize,
}

pub fn close(root: &Path, config_path: &Path, period: Period) -> Result<Closed> {
    let repo = crate::build::open(root, config_path)?;
    let dir = repo
        .periods
        .iter()
        .find(|d| d.period == period)
        .with_context(|| format!("no period {period} under periods/"))?
        .clone();
    let (file, found) = close::load(&dir);
    if !found.is_empty() {
        return Ok(Closed {
            problems: found,
            ..Closed::default()
        });
    }
    if file.status == Status::Closed {
        bail!(
            "period {period} is already closed (on {})",
            file.closed_on.as_deref().unwrap_or("?")
        );
    }
    let scratch = tempfile::tempdir()?;
    let site = Site::new(&repo.root, &repo.config_path, &repo.config, &repo.projects)?;
    let mut published = crate::published::Published::default();
    let mut problems = repo.problems.clone();
    let mut recorded = None;
    crate::build::each_period(&repo, &mut problems, |data| {
        site.render_period(&mut published, data, scratch.path())?;
        if data.dir.period == period {
            recorded = Some(record(data, &published.statements, root, config_path)?);
        }
        Ok(())
    })?;
    if !problems.is_empty() {
        problems.sort();
        return Ok(Closed {
            problems,
            ..Closed::default()
        });
    }
    let (rows, new_file, mut report) = recorded.context("the period was not built")?;
    // A temporary file is private (0600); the record is a normal repository file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(rows.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    rows.persist(dir.dir.join(crate::issued::FILE))
        .with_context(|| format!("cannot write `{}`", dir.shown(crate::issued::FILE)))?;
    close::save(&dir, &new_file)?;
    report.digests = new_file.digests.len();
    Ok(report)
}

type Recorded = (tempfile::NamedTempFile, PeriodFile, Closed);

/// The issued record of `data` (written to a temporary file in the period
/// folder, renamed into place once the whole build is known to be clean).
fn record(
    data: &PeriodData,
    refs: &[StatementRef],
    root: &Path,
    config_path: &Path,
) -> Result<Recorded> {
    let dir = &data.dir;
    let numbers: crate::charge::FastMap<(&str, &str, &str, &str), &str> = data
        .numbers
        .iter()
        .map(|(k, n)| {
            (
                (
                    k.currency.as_str(),
                    k.pi.as_str(),
                    k.project.as_str(),
                    k.fund.as_str(),
                ),
                n.as_str(),
            )
        })
        .collect();
    let number_of = |c: &Charge| -> &str {
        if c.state != State::Billed {
            return "";
        }
        let a = &c.attribution;
        let key = (&*c.currency, &*a.pi_email, &*a.project_id, &*a.fund_org);
        numbers.get(&key).copied().unwrap_or("")
    };
    let tmp = tempfile::Builder::new()
        .prefix(".issued-")
        .tempfile_in(&dir.dir)
        .with_context(|| format!("cannot write in `periods/{}`", dir.period))?;
    let rows = data
        .charges
        .iter()
        .map(|c| (number_of(c), c.state.as_str(), c))
        .chain(data.superseded.iter().flat_map(|s| {
            s.charges
                .iter()
                .map(|c| (s.issued.number.as_str(), "superseded", c))
        }));
    crate::issued::write(tmp.path(), rows).with_context(|| {
        format!(
            "cannot record the issued rows in `{}`; `{}` was not changed",
            dir.shown(crate::issued::FILE),
            dir.shown("period.yaml")
        )
    })?;
    let statements: Vec<Issued> = refs
        .iter()
        .filter(|s| s.period == dir.period)
        .map(|s| issued(s, data))
        .collect();
    let now = close::now();
    let superseded = data
        .superseded
        .iter()
        .map(|s| {
            let mut i = s.issued.clone();
            i.superseded_on.get_or_insert_with(|| now.clone());
            i
        })
        .collect();
    let corrections = posted(&data.charges);
    let who = close::who(root);
    let mut history = data.file.history.clone();
    history.push(Event {
        action: "closed".into(),
        date: now.clone(),
        by: who.clone(),
        reason: None,
    });
    let report = Closed {
        statements: statements.len(),
        rows: data.charges.len(),
        corrections: corrections.iter().map(|p| p.lines as usize).sum(),
        ..Closed::default()
    };
    let file = PeriodFile {
        status: Status::Closed,
        closed_on: Some(now),
        closed_by: who,
        digests: close::digests(dir)?,
        settings: close::settings(root, config_path),
        statements,
        superseded,
        corrections,
        history,
    };
    Ok((tmp, file, report))
}

fn issued(s: &StatementRef, data: &PeriodData) -> Issued {
    let key = s.key();
    Issued {
        number: s.number.clone(),
        pi_email: s.pi.clone(),
        project_id: s.project.clone(),
        fund_org: s.fund.clone(),
        currency: s.currency.clone(),
        list: s.sums.list.normalize().to_string(),
        billed: s.sums.billed.normalize().to_string(),
        charges: s.sums.count,
        digest: data.digests.get(&key).cloned().unwrap_or_default(),
        replaces: s.replaces.clone(),
        superseded_by: None,
        superseded_on: None,
        pi_name: s.shown.pi_name.clone(),
        department: s.shown.department.clone(),
        project_name: s.shown.project_name.clone(),
        previous: s.shown.previous.map(|p| p.normalize().to_string()),
        warnings: s.shown.warnings.clone(),
        ledger: crate::ledger::find(&data.ledger, &key).map(crate::ledger::record::record),
    }
}

/// Corrections to earlier periods billed in this one, per corrected statement.
fn posted(charges: &[Charge]) -> Vec<Posted> {
    let mut sums: BTreeMap<(String, String, String), (Decimal, u64)> = BTreeMap::new();
    for c in charges.iter().filter(|c| c.state == State::Billed) {
        if let Some(o) = c.origin.as_deref() {
            let e = sums
                .entry((
                    o.period.to_string(),
                    o.statement.clone(),
                    c.currency.to_string(),
                ))
                .or_default();
            e.0 += c.billed;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|((period, statement, currency), (billed, lines))| Posted {
            period,
            statement,
            currency,
            billed: billed.normalize().to_string(),
            lines,
        })
        .collect()
}
