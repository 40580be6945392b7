//! Provider deliveries into `periods/`: formats (csv, csv.gz, Parquet),
//! delivery layouts (AWS Data Exports, Azure exports, plain folders), and the
//! import itself as two steps — `plan` (read and check everything, say per
//! month what would change) and `apply` (write it, atomically per file).

pub mod delivery;
pub mod format;
pub mod parquet;
pub mod provenance;
mod splice;
mod split;
mod survey;

use crate::charge::Interner;
use crate::config::Config;
use crate::period::Period;
use crate::problem::Problem;
use anyhow::{Context, Result, bail};
use format::Format;
use provenance::{Import, Part};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to import.
pub struct Request<'a> {
    /// The billing repository.
    pub root: &'a Path,
    /// A file or a delivery folder.
    pub path: &'a Path,
    pub source: &'a str,
    /// Replace data that did not come from an earlier delivery of the same export.
    pub force: bool,
    /// Show a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

/// Rows and Σ BilledCost per currency of one source in one month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows: u64,
    pub billed: BTreeMap<String, Decimal>,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.rows += other.rows;
        for (currency, billed) in &other.billed {
            *self.billed.entry(currency.clone()).or_default() += billed;
        }
    }

    pub fn billed_text(&self) -> Vec<String> {
        self.billed
            .iter()
            .map(|(c, v)| format!("{c} {}", v.normalize()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// No data for this source and month yet.
    New,
    /// A newer delivery replaces the data.
    Replaced,
    /// The same delivery again: nothing to write.
    Unchanged,
}

/// One month of the import.
#[derive(Debug)]
pub struct Month {
    pub period: Period,
    /// The period file, relative to the repository: `periods/2025-01/aws.csv.gz`.
    pub file: String,
    pub before: Option<Totals>,
    pub after: Totals,
    pub change: Change,
    pub import: Import,
    bytes: Vec<u8>,
    /// Files of this source in the period folder that the new file replaces.
    remove: Vec<PathBuf>,
}

/// Everything an import would do, computed without writing anything.
#[derive(Debug, Default)]
pub struct Plan {
    pub source: String,
    pub months: Vec<Month>,
    /// Files skipped on purpose (stale parts, older runs), said out loud.
    pub notes: Vec<String>,
    /// What is wrong with the delivery; a plan with problems cannot be applied.
    pub problems: Vec<Problem>,
}

pub fn check_source(source: &str) -> Result<()> {
    if source.is_empty()
        || !source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        bail!(
            "--source `{source}`: use lowercase letters, digits, `-` and `_` (it becomes the file name)"
        );
    }
    Ok(())
}

/// A part as read: its shown name, path, problems and rows by month.
type PartRead = (String, PathBuf, Vec<Problem>, split::PartOut);

/// Read and check a delivery, and work out per month what importing it would change.
/// `Err` is for the environment (unreadable repository, a refused overwrite);
/// problems in the delivery are in `Plan::problems`.
pub fn plan(config: &Config, req: &Request) -> Result<Plan> {
    check_source(req.source)?;
    let found = delivery::locate(req.path);
    let mut plan = Plan {
        source: req.source.to_string(),
        notes: found.notes.clone(),
        problems: found.problems.clone(),
        ..Plan::default()
    };
    if !plan.problems.is_empty() {
        return Ok(plan);
    }
    let parts: Vec<&Path> = found
        .deliveries
        .iter()
        .flat_map(|d| d.parts.iter().map(PathBuf::as_path))
        .collect();
    if parts.is_empty() {
        plan.problems.push(Problem::file(
            req.path.display().to_string(),
            "empty delivery: its manifest lists no data files",
        ));
        return Ok(plan);
    }
    let bar = crate::progress::bytes(
        req.progress,
        "importing",
        parts.iter().map(|p| crate::progress::size(p)).sum(),
    );
    let (months, ext) = match whole_parquet(config, req, &found, &parts, &bar)? {
        Some(months) => (months, "parquet"),
        None => {
            bar.set_position(0);
            let compress = parts.iter().any(|p| Format::of(p) != Some(Format::Csv));
            let months = by_rows(config, req, &found, &parts, compress, &bar, &mut plan)?;
            (months, if compress { "csv.gz" } else { "csv" })
        }
    };
    bar.finish_and_clear();
    if !plan.problems.is_empty() {
        return Ok(plan);
    }
    let imported_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (period, (bytes, after, used)) in months {
        let deliveries: Vec<&delivery::Delivery> = found
            .deliveries
            .iter()
            .filter(|d| d.parts.iter().any(|p| used.contains(p)))
            .collect();
        let import = provenance_of(
            &found,
            &deliveries,
            &used,
            &bytes,
            &after,
            ext,
            req,
            &imported_at,
        )?;
        let month = month(config, req, period, bytes, after, import)?;
        plan.months.push(month);
    }
    note_closed(req.root, &mut plan);
    Ok(plan)
}

/// A delivery read row by row: every row checked, split by month and written
/// as CSV (gzip unless every part was plain CSV). Problems go to the plan.
fn by_rows(
    config: &Config,
    req: &Request,
    found: &delivery::Found,
    parts: &[&Path],
    compress: bool,
    bar: &indicatif::ProgressBar,
    plan: &mut Plan,
) -> Result<BTreeMap<Period, split::Written>> {
    // The delivery's columns are the first part's; every part is mapped to them.
    let columns = parts
        .first()
        .and_then(|p| crate::load::header_names(p))
        .unwrap_or_default();
    // Parts are read, checked, split and compressed in parallel.
    let read: Vec<Result<PartRead>> = crate::parallel::map(parts.len(), |i| {
        let part = parts[i];
        let shown = found.shown(part);
        let mut strings = Interner::default();
        let mut splitter = split::Splitter::new(compress, &columns, &shown);
        let (problems, _) = crate::load::read_file(
            part,
            &shown,
            req.source,
            &config.currency,
            &mut strings,
            &mut splitter,
            bar,
        );
        Ok((shown, part.to_path_buf(), problems, splitter.finish()?))
    });
    let mut outs = Vec::new();
    for r in read {
        let (shown, path, mut problems, out) = r?;
        plan.problems.append(&mut problems);
        outs.push((shown, path, out));
    }
    let (months, mut problems) = split::merge(compress, &columns, outs)?;
    plan.problems.append(&mut problems);
    Ok(months)
}

/// A delivery of Parquet parts that each hold one month, share one schema
/// and have only good rows: each month's parts joined into one Parquet file
/// as they are (no decoding, no new encoding). `None` otherwise: the import
/// then reads the delivery row by row, which locates any problem.
fn whole_parquet(
    config: &Config,
    req: &Request,
    found: &delivery::Found,
    parts: &[&Path],
    bar: &indicatif::ProgressBar,
) -> Result<Option<BTreeMap<Period, split::Written>>> {
    if !parts.iter().all(|p| Format::of(p) == Some(Format::Parquet)) {
        return Ok(None);
    }
    // Each part surveyed, and its bytes and footer read, on every core.
    let read = crate::parallel::map(parts.len(), |i| {
        let part = parts[i];
        let survey = survey::survey(part, &found.shown(part), req.source, &config.currency);
        bar.inc(crate::progress::size(part));
        let bytes =
            std::fs::read(part).with_context(|| format!("cannot read `{}`", part.display()))?;
        let footer = survey
            .is_some()
            .then(|| splice::footer(&bytes).ok())
            .flatten();
        Ok::<_, anyhow::Error>((survey.zip(footer), bytes))
    });
    let mut surveys = Vec::new();
    let mut footers = Vec::new();
    let mut bytes = Vec::new();
    for r in read {
        let (surveyed, b) = r?;
        let Some((survey, footer)) = surveyed else {
            return Ok(None);
        };
        surveys.push(survey);
        footers.push(footer);
        bytes.push(b);
    }
    // One month per part, and one provider (the row-by-row read says which part differs).
    let mut providers = surveys.iter().filter_map(|s| s.provider.as_ref());
    let first = providers.next();
    if surveys.iter().any(|s| s.months.len() != 1) || providers.any(|p| Some(p) != first) {
        return Ok(None);
    }
    if !splice::joinable(&footers) {
        return Ok(None);
    }
    let mut by_month: BTreeMap<Period, Vec<(usize, splice::Footer)>> = BTreeMap::new();
    for (i, (survey, footer)) in surveys.iter().zip(footers).enumerate() {
        if let Some(period) = survey.months.keys().next() {
            by_month.entry(*period).or_default().push((i, footer));
        }
    }
    let mut months = BTreeMap::new();
    for (period, members) in by_month {
        let mut totals = Totals::default();
        for (i, _) in &members {
            surveys[*i].months.values().for_each(|t| totals.add(t));
        }
        let used: Vec<PathBuf> = members
            .iter()
            .map(|(i, _)| parts[*i].to_path_buf())
            .collect();
        let file = if members.len() == 1 {
            std::mem::take(&mut bytes[members[0].0])
        } else {
            let joined: Vec<(&[u8], splice::Footer)> = members
                .into_iter()
                .map(|(i, f)| (bytes[i].as_slice(), f))
                .collect();
            match splice::join(&joined) {
                Ok(b) => b,
                Err(_) => return Ok(None),
            }
        };
        months.insert(period, (file, totals, used));
    }
    Ok(Some(months))
}

#[allow(clippy::too_many_arguments)]
fn provenance_of(
    found: &delivery::Found,
    deliveries: &[&delivery::Delivery],
    used: &[PathBuf],
    bytes: &[u8],
    after: &Totals,
    ext: &str,
    req: &Request,
    imported_at: &str,
) -> Result<Import> {
    let first = deliveries.first();
    let one = |f: fn(&delivery::Delivery) -> Option<String>| {
        let vals: Vec<String> = deliveries.iter().filter_map(|d| f(d)).collect();
        (!vals.is_empty()).then(|| vals.join(", "))
    };
    let manifest = match first.and_then(|d| d.manifest.as_ref()) {
        Some(m) if deliveries.len() == 1 => Some(Part {
            path: found.relative(m),
            sha256: provenance::digest_file(m)?,
        }),
        _ => None,
    };
    // The parts' digests and the new file's, on every core.
    let mut digests = crate::parallel::map(used.len() + 1, |i| match used.get(i) {
        Some(p) => provenance::digest_file(p),
        None => Ok(provenance::digest_bytes(bytes)),
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let sha256 = digests.pop().unwrap_or_default();
    let parts = used
        .iter()
        .zip(digests)
        .map(|(p, sha256)| Part {
            path: found.relative(p),
            sha256,
        })
        .collect();
    Ok(Import {
        file: format!("{}.{ext}", req.source),
        sha256,
        rows: after.rows,
        billed: after.billed_text(),
        provider: first.map(|d| d.provider).unwrap_or("files").to_string(),
        export: one(|d| d.export.clone()),
        run: one(|d| d.run.clone()),
        manifest,
        parts,
        imported_at: imported_at.to_string(),
    })
}

/// Compare one month of the delivery with what the period folder holds.
fn month(
    config: &Config,
    req: &Request,
    period: Period,
    bytes: Vec<u8>,
    after: Totals,
    import: Import,
) -> Result<Month> {
    let dir = req.root.join("periods").join(period.to_string());
    let existing = existing_files(&dir, req.source)?;
    let recorded = provenance::read(&dir)?.remove(req.source);
    let before = match existing.first() {
        Some(path) => Some(totals_of(config, path, req.source)?),
        None => None,
    };
    let same_bytes = existing.len() == 1
        && existing[0]
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            == Some(import.file.clone())
        && std::fs::read(&existing[0]).ok().as_deref() == Some(&bytes[..]);
    let change = if existing.is_empty() {
        Change::New
    } else if same_bytes && recorded.as_ref().is_some_and(|r| r.same_delivery(&import)) {
        Change::Unchanged
    } else {
        Change::Replaced
    };
    // A re-delivery of the same export replaces its month; anything else
    // (a file placed by hand, another export, a plain file) needs --force.
    let redelivery = recorded.as_ref().is_some_and(|r| {
        r.provider == import.provider && import.export.is_some() && r.export == import.export
    });
    if change != Change::New && !redelivery && !req.force {
        let names: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "{} already exist{}: use --force to replace",
            names.join(", "),
            if names.len() == 1 { "s" } else { "" }
        );
    }
    Ok(Month {
        period,
        file: format!("periods/{period}/{}", import.file),
        before,
        after,
        change,
        import,
        bytes,
        remove: existing,
    })
}

/// This source's data files in a period folder, in any format.
fn existing_files(dir: &Path, source: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in rd {
        let e = e.with_context(|| format!("cannot read `{}`", dir.display()))?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some((stem, _)) = Format::split(&name)
            && stem.eq_ignore_ascii_case(source)
        {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

fn totals_of(config: &Config, path: &Path, source: &str) -> Result<Totals> {
    let shown = path.display().to_string();
    if Format::of(path) == Some(Format::Parquet)
        && let Some(s) = survey::survey(path, &shown, source, &config.currency)
    {
        let mut totals = Totals::default();
        s.months.values().for_each(|t| totals.add(t));
        return Ok(totals);
    }
    let mut t = split::Totaller::default();
    let mut strings = Interner::default();
    let (problems, _) = crate::load::read_file(
        path,
        &shown,
        source,
        &config.currency,
        &mut strings,
        &mut t,
        &indicatif::ProgressBar::hidden(),
    );
    if let Some(p) = problems.first() {
        bail!("the data already in the period does not load ({p}); fix or remove it first");
    }
    Ok(t.totals)
}

/// A closed month keeps its issued statements: its new data is imported, and
/// the build posts the differences as corrections in the first open period.
fn note_closed(root: &Path, plan: &mut Plan) {
    for m in &plan.months {
        if m.change == Change::Unchanged {
            continue;
        }
        let dir = crate::discover::PeriodDir {
            period: m.period,
            dir: root.join("periods").join(m.period.to_string()),
            files: Vec::new(),
        };
        if crate::close::status(&dir) == crate::close::Status::Closed {
            plan.notes.push(format!(
                "{} is closed: its differences will be posted as corrections in the first open period",
                m.period
            ));
        }
    }
}

/// Write a plan: each month's file atomically, the files it replaces
/// removed, and its provenance recorded. Unchanged months are not touched.
pub fn apply(root: &Path, plan: &Plan) -> Result<()> {
    if !plan.problems.is_empty() {
        bail!("a plan with problems cannot be applied");
    }
    for m in plan.months.iter().filter(|m| m.change != Change::Unchanged) {
        let dir = root.join("periods").join(m.period.to_string());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let dest = dir.join(&m.import.file);
        write_atomic(&dir, &dest, &m.bytes)?;
        for old in m.remove.iter().filter(|p| **p != dest) {
            std::fs::remove_file(old)
                .with_context(|| format!("cannot remove `{}`", old.display()))?;
        }
        let mut imports = provenance::read(&dir)?;
        imports.insert(plan.source.clone(), m.import.clone());
        let text = provenance::to_yaml(&imports)?;
        write_atomic(&dir, &dir.join(provenance::FILE_NAME), text.as_bytes())?;
    }
    Ok(())
}

fn write_atomic(dir: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    // Temporary files are private (0600); a period file is an ordinary one.
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.persist(dest)
        .with_context(|| format!("cannot write `{}`", dest.display()))?;
    Ok(())
}
