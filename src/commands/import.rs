//! `ocb import FILE --source NAME`: validate a FOCUS CSV, then copy its rows
//! into `periods/<YYYY-MM>/<source>.csv` by BillingPeriodStart.

use super::INVALID;
use crate::charge::Interner;
use crate::cli::Global;
use crate::focus::{self, Field};
use crate::period::Period;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub fn run(g: &Global, file: &Path, source: &str, force: bool) -> Result<u8> {
    if source.is_empty()
        || !source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        bail!(
            "--source `{source}`: use lowercase letters, digits, `-` and `_` (it becomes the file name)"
        );
    }
    let _lock = crate::lock::acquire(&g.root, "import")?;
    let config = crate::config::Config::load(&g.config_path(), "ocb.yaml")?;
    let shown = file.display().to_string();
    let mut loaded = crate::load::load_file(
        file,
        &shown,
        source,
        &config.currency,
        &mut Interner::default(),
    );
    let precision = crate::precision::check(&mut loaded.charges);
    loaded.problems.extend(precision);
    if !loaded.problems.is_empty() {
        super::report_problems(&loaded.problems, "nothing was imported");
        return Ok(INVALID);
    }
    let periods: BTreeSet<Period> = loaded
        .charges
        .iter()
        .map(|c| Period::of(c.billing_period_start))
        .collect();
    drop(loaded);
    let target = |p: &Period| {
        g.root
            .join("periods")
            .join(p.to_string())
            .join(format!("{source}.csv"))
    };
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
    let counts = split(file, &periods, &target)?;
    if !g.quiet {
        for (p, n) in counts {
            println!("{}: {n} rows", target(&p).display());
        }
    }
    Ok(0)
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
            .prefix(".ocb-tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in `{}`", dir.display()))?;

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
        w.write_byte_record(&record)
            .with_context(|| format!("cannot write `{}`", target(&Period::of(date)).display()))?;
        *n += 1;
    }
    // Every file complete and on disk before any is put in place: a full disk
    // fails here, with no period half-imported.
    let mut done = Vec::new();
    for (p, (w, n)) in writers {
        let failed = || format!("cannot write `{}`", target(&p).display());
        let tmp = w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))
            .with_context(failed)?
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))
            .with_context(failed)?;
        tmp.as_file().sync_all().with_context(failed)?;
        done.push((p, tmp, n));
    }
    let mut counts = BTreeMap::new();
    for (p, tmp, n) in done {
        tmp.persist(target(&p))
            .with_context(|| format!("cannot write `{}`", target(&p).display()))?;
        counts.insert(p, n);
    }
    Ok(counts)
}
