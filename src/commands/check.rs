//! `ocb check`: validate files or the whole repository without writing anything.

use super::INVALID;
use crate::charge::Interner;
use crate::cli::Global;
use crate::problem::Problem;
use anyhow::Result;
use std::path::PathBuf;

pub fn run(g: &Global, files: &[PathBuf]) -> Result<u8> {
    let (problems, rows, count) = if files.is_empty() {
        check_repo(g)?
    } else {
        check_files(g, files)?
    };
    for p in &problems {
        println!("{p}");
    }
    if !problems.is_empty() {
        eprintln!(
            "ocb: {} problem{} found",
            problems.len(),
            super::plural(problems.len())
        );
        return Ok(INVALID);
    }
    if !g.quiet {
        println!(
            "ok: {count} file{}, {rows} row{}",
            super::plural(count),
            super::plural(rows as usize)
        );
    }
    Ok(0)
}

fn check_files(g: &Global, files: &[PathBuf]) -> Result<(Vec<Problem>, u64, usize)> {
    let config = crate::config::Config::load(&g.config_path(), &g.config_shown())?;
    let mut strings = Interner::default();
    let mut problems = Vec::new();
    let mut rows = 0;
    for f in files {
        let source = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let mut loaded = crate::load::load_file(
            f,
            &f.display().to_string(),
            &source,
            &config.currency,
            &mut strings,
        );
        rows += loaded.rows;
        problems.extend(loaded.problems);
        problems.extend(crate::precision::check(&mut loaded.charges));
    }
    Ok((problems, rows, files.len()))
}

fn check_repo(g: &Global) -> Result<(Vec<Problem>, u64, usize)> {
    let repo = crate::build::open(&g.root, &g.config_path())?;
    let mut problems = repo.problems.clone();
    let mut rows = 0;
    crate::build::each_period(&repo, &mut problems, |d| {
        rows += d.charges.len() as u64;
        Ok(())
    })?;
    let files = repo.periods.iter().map(|p| p.files.len()).sum();
    problems.sort();
    Ok((problems, rows, files))
}
