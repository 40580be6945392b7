//! One small function per subcommand: resolve arguments, call the library,
//! print results on stdout and problems on stderr, return the exit code.

mod check;
mod convert;
mod doctor;
mod import;
mod init;
mod periods;
mod projects;
mod review;
mod send;
mod serve;

use crate::build::{self, Options};
use crate::cli::{Cli, Command, Global};
use crate::period::Period;
use crate::problem::Problem;
use anyhow::{Context, Result, anyhow};
use std::path::PathBuf;

/// Exit code for problems in the user's data.
pub const INVALID: u8 = 1;

pub fn run(cli: Cli) -> Result<u8> {
    let g = cli.global;
    match cli.command {
        Command::Build {
            out,
            periods,
            no_pdf,
            no_cache,
        } => build_cmd(&g, out, &periods, no_pdf, no_cache),
        Command::Check { files } => check::run(&g, &files),
        Command::Import {
            file,
            source,
            force,
            dry_run,
        } => import::run(&g, &file, &source, force, dry_run),
        Command::Periods => periods::run(&g),
        Command::Review { period, write } => review::run(&g, period.as_deref(), write),
        Command::Close { period } => review::close(&g, &period),
        Command::Reopen { period, reason } => review::reopen(&g, &period, &reason),
        Command::Projects { action: None } => projects::list(&g),
        Command::Projects {
            action: Some(crate::cli::ProjectsAction::Add { period, .. }),
        } => projects::add(&g, period.as_deref()),
        Command::Doctor => doctor::run(&g),
        Command::Init { dir } => init::run(dir.unwrap_or_else(|| g.root.clone())),
        Command::Serve {
            port,
            no_pdf,
            max_upload_mb,
        } => serve::run(&g, port, no_pdf, max_upload_mb << 20),
        Command::Convert { kind } => convert::run(&g, kind),
        Command::Send(args) => send::run(&g, &args),
        Command::Sample(args) => {
            let n = crate::sample::generate(&args)?;
            if !g.quiet {
                println!("wrote {n} rows to {}", args.out.display());
            }
            Ok(0)
        }
    }
}

pub fn parse_period(s: &str) -> Result<Period> {
    s.parse::<Period>().map_err(|e| anyhow!("{e}"))
}

pub fn out_dir(g: &Global, out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| g.root.join("output"))
}

/// Print problems, one per line, and say that nothing was written.
pub fn report_problems(problems: &[Problem], what: &str) {
    for p in problems {
        eprintln!("{p}");
    }
    eprintln!(
        "ocb: {} problem{} in the inputs; {what}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
}

pub fn build_cmd(
    g: &Global,
    out: Option<PathBuf>,
    periods: &[String],
    no_pdf: bool,
    no_cache: bool,
) -> Result<u8> {
    let periods = periods
        .iter()
        .map(|p| parse_period(p))
        .collect::<Result<Vec<_>>>()?;
    let out = out_dir(g, out);
    let _lock = crate::lock::acquire(&g.root, "build")?;
    let opts = Options {
        out: out.clone(),
        periods,
        pdf: !no_pdf,
        quiet: g.quiet,
        verbose: g.verbose,
        cache: !no_cache,
    };
    let report = build::build(&g.root, &g.config_path(), &opts)
        .context("build failed; the previous output was left untouched")?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !report.problems.is_empty() {
        report_problems(
            &report.problems,
            &format!("`{}` was not changed", out.display()),
        );
        return Ok(INVALID);
    }
    if !g.quiet {
        println!(
            "built {}: {} period{}, {} PDF statement{}",
            out.display(),
            report.summaries.len(),
            plural(report.summaries.len()),
            report.pdfs,
            plural(report.pdfs)
        );
        for s in &report.summaries {
            for c in &s.currencies {
                println!(
                    "  {} {}: {} rows, billed {}, held {}, rejected {}",
                    s.period,
                    c.currency,
                    c.input_rows,
                    crate::money::format(c.billed, &c.currency),
                    crate::money::format(c.held, &c.currency),
                    crate::money::format(c.rejected, &c.currency)
                );
            }
        }
    }
    Ok(0)
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
