//! `ocb convert slurm|storage|openai|azure-local FILE… --rates R --period P`: convert, then write
//! `periods/<P>/<source>.csv` only when the whole input was good.

use super::{INVALID, parse_period, report_problems};
use crate::cli::{ConvertArgs, ConvertKind, Global, SlurmGroup, StorageFormat};
use crate::convert::isilon::Bill;
use crate::convert::output::{FocusRow, Totals, Writer};
use crate::convert::{self, Context, Converted};
use crate::discover::PeriodDir;
use crate::period::Period;
use crate::problem::Problem;
use crate::projects::Projects;
use anyhow::{Result, bail};
use std::path::PathBuf;

pub fn run(g: &Global, kind: ConvertKind) -> Result<u8> {
    let (args, default_source, extra) = match &kind {
        ConvertKind::Slurm { args, .. } => (args, "hpc", convert::slurm::EXTRA),
        ConvertKind::Storage { args, .. } => (args, "storage", convert::storage::EXTRA),
        ConvertKind::Openai { args } => (args, "openai", convert::openai::EXTRA),
        ConvertKind::AzureLocal { args } => (args, "azure-local", convert::azure_local::EXTRA),
    };
    let period = parse_period(&args.period)?;
    let source = args.source.as_deref().unwrap_or(default_source);
    if !convert::valid_source(source) {
        bail!(
            "--source `{source}`: use lowercase letters, digits, `-` and `_` (it becomes the file name)"
        );
    }
    let _lock = crate::lock::acquire(&g.root, "convert")?;
    let bill = match options(&kind) {
        Ok(bill) => bill,
        Err(p) => {
            report_problems(&[p], "nothing was written");
            return Ok(INVALID);
        }
    };
    let dest = destination(g, args, period, source)?;
    let config = crate::config::Config::load(&g.config_path(), &g.config_shown())?;
    let (projects, mut problems) = Projects::load(&g.root.join("projects.yaml"), "projects.yaml");
    let cx = Context {
        period,
        source,
        projects: &projects,
        tag_keys: &config.tags,
    };
    // Rows stream into a hidden temporary file, put in place only if the
    // whole input was good; dropping the writer removes it.
    let mut writer = Writer::create(&dest, extra)?;
    let mut sink = |row: FocusRow| writer.write(&row);
    let result = dispatch(&kind, args, bill, &cx, &mut sink);
    match result {
        Err(mut ps) => problems.append(&mut ps),
        Ok(_) if !problems.is_empty() => {}
        Ok(converted) => {
            let totals = writer.finish()?;
            for w in &converted.warnings {
                eprintln!("warning: {w}");
            }
            if !g.quiet {
                summary(&dest, &converted, totals);
            }
            return Ok(0);
        }
    }
    report_problems(&problems, &format!("`{}` was not written", dest.display()));
    Ok(INVALID)
}

/// Check the flags that depend on the format: how many files it takes, and
/// `--bill`, whose unknown value is bad input (exit 1) like a bad file.
fn options(kind: &ConvertKind) -> Result<Bill, Problem> {
    let (args, many, bill) = match kind {
        ConvertKind::Slurm { args, .. } | ConvertKind::Openai { args } => (args, false, None),
        ConvertKind::Storage { args, format, bill } => {
            if *format == StorageFormat::Csv && bill.is_some() {
                return Err(Problem::file(
                    "--bill",
                    "applies to --format isilon only: a snapshot CSV gives one byte count",
                ));
            }
            (args, *format == StorageFormat::Isilon, bill.as_deref())
        }
        ConvertKind::AzureLocal { args } => (args, true, None),
    };
    if !many && args.files.len() > 1 {
        return Err(Problem::file(
            args.files[1].display().to_string(),
            format!(
                "this format reads one file, but {} were given",
                args.files.len()
            ),
        ));
    }
    bill.map_or(Ok(Bill::Logical), Bill::parse)
}

fn dispatch(
    kind: &ConvertKind,
    args: &ConvertArgs,
    bill: Bill,
    cx: &Context,
    sink: convert::Sink,
) -> Result<Converted, Vec<Problem>> {
    let (file, rates) = (&args.files[0], shown(&args.rates));
    let input = shown(file);
    match kind {
        ConvertKind::Slurm { group, .. } => convert::slurm::convert(
            file,
            &input,
            &args.rates,
            &rates,
            cx,
            *group == SlurmGroup::Day,
            sink,
        ),
        ConvertKind::Storage {
            format: StorageFormat::Csv,
            ..
        } => convert::storage::convert(file, &input, &args.rates, &rates, cx, sink),
        ConvertKind::Storage { .. } => {
            convert::isilon::convert(&args.files, bill, &args.rates, &rates, cx, sink)
        }
        ConvertKind::Openai { .. } => {
            convert::openai::convert(file, &input, &args.rates, &rates, cx, sink)
        }
        ConvertKind::AzureLocal { .. } => {
            convert::azure_local::convert(&args.files, &args.rates, &rates, cx, sink)
        }
    }
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
        if crate::close::status(&pd) == crate::close::Status::Closed {
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
