//! `ocb import FILE --source NAME`: validate a FOCUS CSV, then copy its rows
//! into `periods/<YYYY-MM>/<source>.csv` by BillingPeriodStart. `plan` checks
//! and totals without writing; `apply` writes (the desk uses both).

use super::INVALID;
use crate::charge::Interner;
use crate::cli::Global;
use crate::config::Config;
use crate::focus::{self, Field};
use crate::period::Period;
use crate::problem::Problem;
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub fn run(g: &Global, file: &Path, source: &str, force: bool) -> Result<u8> {
    let config = crate::config::Config::load(&g.config_path(), "ocb.yaml")?;
    let plan = plan(&g.root, &config, file, &file.display().to_string(), source)?;
    if !plan.problems.is_empty() {
        super::report_problems(&plan.problems, "nothing was imported");
        return Ok(INVALID);
    }
    let counts = apply(&plan, force)?;
    if !g.quiet {
        for (p, n) in counts {
            println!("{}: {n} rows", plan.target(&p).display());
        }
    }
    Ok(0)
}

/// What importing a file would write, found without writing anything.
pub struct Plan {
    pub file: PathBuf,
    pub source: String,
    root: PathBuf,
    /// Per month: rows and Σ BilledCost per currency.
    pub months: BTreeMap<Period, (u64, BTreeMap<String, Decimal>)>,
    /// Problems in the file (shown as `shown`); a plan with any is not applied.
    pub problems: Vec<Problem>,
}

impl Plan {
    /// `periods/<P>/<source>.csv` under the repository.
    pub fn target(&self, p: &Period) -> PathBuf {
        self.root
            .join("periods")
            .join(p.to_string())
            .join(format!("{}.csv", self.source))
    }
}

/// Validate a FOCUS CSV and total it per month; `Err` for a bad source name.
pub fn plan(root: &Path, config: &Config, file: &Path, shown: &str, source: &str) -> Result<Plan> {
    if source.is_empty()
        || !source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        bail!(
            "--source `{source}`: use lowercase letters, digits, `-` and `_` (it becomes the file name)"
        );
    }
    let loaded = crate::load::load_file(
        file,
        shown,
        source,
        &config.currency,
        &mut Interner::default(),
    );
    let mut months: BTreeMap<Period, (u64, BTreeMap<String, Decimal>)> = BTreeMap::new();
    for c in &loaded.charges {
        let m = months
            .entry(Period::of(c.billing_period_start))
            .or_default();
        m.0 += 1;
        *m.1.entry(c.currency.to_string()).or_default() += c.billed;
    }
    Ok(Plan {
        file: file.to_path_buf(),
        source: source.to_string(),
        root: root.to_path_buf(),
        months,
        problems: loaded.problems,
    })
}

/// Write a plan without problems: refuses to replace period files unless `force`.
pub fn apply(plan: &Plan, force: bool) -> Result<BTreeMap<Period, u64>> {
    if !plan.problems.is_empty() {
        bail!("a file with problems is not imported");
    }
    let periods: BTreeSet<Period> = plan.months.keys().copied().collect();
    let target = |p: &Period| plan.target(p);
    let existing: Vec<String> = periods
        .iter()
        .map(target)
        .filter(|t| t.exists())
        .map(|t| t.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        bail!(
            "{} already exist{}: use --force to replace",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        );
    }
    split(&plan.file, &periods, &target)
}

/// Copy the header and each row to its period's file, via temporary files
/// renamed into place at the end so a failure leaves no half-written period.
fn split(
    file: &Path,
    periods: &BTreeSet<Period>,
    target: &dyn Fn(&Period) -> std::path::PathBuf,
) -> Result<BTreeMap<Period, u64>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let mut header = csv::ByteRecord::new();
    reader.read_byte_record(&mut header)?;
    let header: csv::ByteRecord = header
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 0 {
                f.strip_prefix(b"\xef\xbb\xbf").unwrap_or(f)
            } else {
                f
            }
        })
        .collect();
    let col = header
        .iter()
        .position(|h| focus::field(&String::from_utf8_lossy(h)) == Some(Field::BillingPeriodStart))
        .context("no BillingPeriodStart column")?;
    let mut writers = BTreeMap::new();
    for p in periods {
        let dest = target(p);
        let dir = dest.parent().context("period folder")?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        // Temporary files are private (0600); an imported period file is an ordinary one.
        let tmp = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)?;

        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(tmp));
        w.write_byte_record(&header)?;
        writers.insert(*p, (w, 0u64));
    }
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record)? {
        let date = focus::parse_date(std::str::from_utf8(record.get(col).unwrap_or_default())?)
            .map_err(anyhow::Error::msg)?;
        let (w, n) = writers
            .get_mut(&Period::of(date))
            .context("row outside the validated periods")?;
        w.write_byte_record(&record)?;
        *n += 1;
    }
    let mut counts = BTreeMap::new();
    for (p, (w, n)) in writers {
        let tmp = w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tmp.persist(target(&p))
            .with_context(|| format!("cannot write `{}`", target(&p).display()))?;
        counts.insert(p, n);
    }
    Ok(counts)
}
