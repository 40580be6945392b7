//! `ocb convert slurm|storage FILE --rates R --period P`: convert, then write
//! `periods/<P>/<source>.csv` only when the whole input was good.

use super::{INVALID, parse_period, report_problems};
use crate::cli::{ConvertArgs, ConvertKind, Global, SlurmGroup};
use crate::convert::output::{FocusRow, Totals, Writer};
use crate::convert::{self, Context, Converted};
use crate::discover::PeriodDir;
use crate::period::Period;
use crate::projects::Projects;
use anyhow::{Result, bail};
use std::path::PathBuf;

pub fn run(g: &Global, kind: ConvertKind) -> Result<u8> {
    let (args, default_source) = match &kind {
        ConvertKind::Slurm { args, .. } => (args, "hpc"),
        ConvertKind::Storage { args } => (args, "storage"),
    };
    let period = parse_period(&args.period)?;
    let source = args.source.as_deref().unwrap_or(default_source);
    if !convert::valid_source(source) {
        bail!(
            "--source `{source}`: use lowercase letters, digits, `-` and `_` (it becomes the file name)"
        );
    }
    let _lock = crate::lock::acquire(&g.root, "convert")?;
    let dest = destination(g, args, period, source)?;
    let config = crate::config::Config::load(&g.config_path(), "ocb.yaml")?;
    let (projects, mut problems) = Projects::load(&g.root.join("projects.yaml"), "projects.yaml");
    let cx = Context {
        period,
        source,
        projects: &projects,
        tag_keys: &config.tags,
    };
    let (input, rates) = (shown(&args.file), shown(&args.rates));
    // Rows stream into a hidden temporary file, put in place only if the
    // whole input was good; dropping the writer removes it.
    let mut writer = match &kind {
        ConvertKind::Slurm { .. } => Writer::create(&dest, convert::slurm::EXTRA)?,
        ConvertKind::Storage { .. } => Writer::create(&dest, convert::storage::EXTRA)?,
    };
    let mut sink = |row: FocusRow| writer.write(&row);
    let result = match &kind {
        ConvertKind::Slurm { group, .. } => convert::slurm::convert(
            &args.file,
            &input,
            &args.rates,
            &rates,
            &cx,
            *group == SlurmGroup::Day,
            &mut sink,
        ),
        ConvertKind::Storage { .. } => {
            convert::storage::convert(&args.file, &input, &args.rates, &rates, &cx, &mut sink)
        }
    };
    match result {
        Err(mut ps) => problems.append(&mut ps),
        Ok(_) if !problems.is_empty() => {}
        Ok(converted) => {
            let totals = writer.finish()?;
            if !g.quiet {
                summary(&dest, &converted, totals);
            }
            return Ok(0);
        }
    }
    report_problems(&problems, &format!("`{}` was not written", dest.display()));
    Ok(INVALID)
}

fn shown(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// Where to write: `--out`, or the period's folder. Refuses to replace a file
/// without `--force`, and to change a closed period at all.
fn destination(g: &Global, args: &ConvertArgs, period: Period, source: &str) -> Result<PathBuf> {
    let dir = g.root.join("periods").join(period.to_string());
    let dest = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join(format!("{source}.csv")));
    if dest.exists() && !args.force {
        bail!(
            "`{}` already exists: use --force to replace it",
            dest.display()
        );
    }
    if args.out.is_none() {
        let pd = PeriodDir {
            period,
            dir,
            files: Vec::new(),
        };
        if crate::close::status(&pd) == "closed" {
            bail!(
                "period {period} is closed: `ocb reopen {period} --reason …` before replacing its inputs"
            );
        }
    }
    Ok(dest)
}

fn summary(dest: &std::path::Path, c: &Converted, t: Totals) {
    println!(
        "wrote {}: {} row{}, list {}, billed {}",
        dest.display(),
        t.rows,
        super::plural(t.rows as usize),
        crate::money::format(t.list, &c.currency),
        crate::money::format(t.billed, &c.currency)
    );
    for note in &c.notes {
        println!("  {note}");
    }
}
