//! `ocb import PATH --source NAME`: a file or a provider's delivery folder
//! into `periods/<YYYY-MM>/`, by BillingPeriodStart month (see `ingest`).

use super::INVALID;
use crate::cli::Global;
use crate::ingest::{self, Change, Month, Request};
use anyhow::Result;
use std::path::Path;

pub fn run(g: &Global, path: &Path, source: &str, force: bool, dry_run: bool) -> Result<u8> {
    ingest::check_source(source)?;
    let _lock = (!dry_run)
        .then(|| crate::lock::acquire(&g.root, "import"))
        .transpose()?;
    let config = crate::config::Config::load(&g.config_path(), &g.config_shown())?;
    let req = Request {
        root: &g.root,
        path,
        source,
        force,
        progress: !g.quiet,
    };
    let plan = ingest::plan(&config, &req)?;
    if !g.quiet {
        for note in &plan.notes {
            eprintln!("note: {note}");
        }
    }
    if !plan.problems.is_empty() {
        super::report_problems(&plan.problems, "nothing was imported");
        return Ok(INVALID);
    }
    if !dry_run {
        ingest::apply(&g.root, &plan)?;
    }
    if !g.quiet {
        for m in &plan.months {
            println!("{}", describe(m, dry_run));
        }
    }
    Ok(0)
}

/// `periods/2025-01/aws.csv.gz: replaced: 10 → 12 rows, billed USD 5.5 → USD 7.25`
fn describe(m: &Month, dry_run: bool) -> String {
    let billed = |t: &ingest::Totals| {
        let b = t.billed_text();
        if b.is_empty() {
            "nothing".to_string()
        } else {
            b.join(" + ")
        }
    };
    let what = match (m.change, dry_run) {
        (Change::New, false) => "new",
        (Change::New, true) => "would be new",
        (Change::Replaced, false) => "replaced",
        (Change::Replaced, true) => "would be replaced",
        (Change::Unchanged, _) => "unchanged (the same delivery)",
    };
    match &m.before {
        Some(b) if m.change != Change::Unchanged => format!(
            "{}: {what}: {} → {} rows, billed {} → {}",
            m.file,
            b.rows,
            m.after.rows,
            billed(b),
            billed(&m.after)
        ),
        _ => format!(
            "{}: {what}: {} rows, billed {}",
            m.file,
            m.after.rows,
            billed(&m.after)
        ),
    }
}
