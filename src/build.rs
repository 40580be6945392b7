//! `ocb build`: the whole pipeline, period by period, into a staging folder
//! that replaces `output/` only when everything succeeded.

use crate::cache::{Cache, Use};
use crate::charge::Interner;
use crate::config::{Access, Config};
use crate::discover::PeriodDir;
use crate::flag::SourceTotals;
use crate::outputs::{self, PeriodSummary};
use crate::period::Period;
use crate::pipeline::PeriodData;
use crate::portal::Portals;
use crate::problem::Problem;
use crate::projects::Projects;
use crate::published::Published;
use crate::write;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Options {
    pub out: PathBuf,
    /// Periods whose PDFs are printed (empty: all).
    pub periods: Vec<Period>,
    pub pdf: bool,
    pub quiet: bool,
    /// Per-period counts and timings on stderr.
    pub verbose: bool,
    /// Restore unchanged periods from `.ocb-cache/periods/` (off with `--no-cache`).
    pub cache: bool,
}

#[derive(Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    pub summaries: Vec<PeriodSummary>,
    pub pdfs: usize,
}

/// The inputs of a repository: config, directory and periods, with problems.
pub struct Repo {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
    pub projects: Projects,
    pub periods: Vec<PeriodDir>,
    pub problems: Vec<Problem>,
    /// Draw a loading bar on a terminal (off with `--quiet`).
    pub progress: bool,
}

pub fn open(root: &Path, config_path: &Path) -> Result<Repo> {
    let shown = config_path
        .strip_prefix(root)
        .unwrap_or(config_path)
        .display()
        .to_string();
    let config = Config::load(config_path, &shown)?;
    let (projects, mut problems) = Projects::load(&root.join("projects.yaml"), "projects.yaml");
    let (periods, mut more) = crate::discover::discover(root);
    problems.append(&mut more);
    if let Ok(text) = std::fs::read_to_string(config_path) {
        let mut sources: std::collections::BTreeSet<String> =
            config.sources.keys().cloned().collect();
        sources.extend(
            periods
                .iter()
                .flat_map(|p| p.files.iter().map(|f| f.source.clone())),
        );
        problems.extend(crate::ledger::terms::check_config(
            &config, &text, &shown, &sources,
        ));
        if let Ok(text) = std::fs::read_to_string(root.join("projects.yaml")) {
            problems.extend(crate::ledger::terms::check_allocation_sources(
                &projects,
                &text,
                "projects.yaml",
                &sources,
            ));
        }
    }
    Ok(Repo {
        root: root.to_path_buf(),
        config_path: config_path.to_path_buf(),
        config,
        projects,
        periods,
        problems,
        progress: true,
    })
}

/// Run every period through the pipeline, calling `each` with the processed
/// period (charges included). Periods are processed in order so the spike rule
/// can read the previous period's totals.
pub fn each_period(
    repo: &Repo,
    problems: &mut Vec<Problem>,
    each: impl FnMut(&mut PeriodData) -> Result<()>,
) -> Result<Vec<PeriodData>> {
    periods(repo, problems, None, None, None, each)
}

/// `each_period` for a command that reads the charges of `period` only (the
/// review list, the desk), or of none (`ocb periods`): the other periods are
/// restored from the build's cache where their key matches, so nothing of
/// them is loaded (they come without charges); `period` itself is always
/// computed. With `verbose`, each restored period says so on stderr.
pub fn each_period_for(
    repo: &Repo,
    problems: &mut Vec<Problem>,
    period: Option<Period>,
    verbose: bool,
    mut each: impl FnMut(&mut PeriodData) -> Result<()>,
) -> Result<Vec<PeriodData>> {
    if repo.config.site.access == Access::PerPi {
        return each_period(repo, problems, each);
    }
    // No lock is held: nothing in the cache is written or removed.
    let cache = Cache::open(repo, false)?;
    let published = std::cell::RefCell::new(Published::default());
    let outside = |rollup: &crate::rollup::Rollup| published.borrow().slugs_of(rollup);
    let cached = Cached {
        cache: &cache,
        slugs: &outside,
        pages: false,
    };
    periods(repo, problems, Some(cached), period, None, |data| {
        // What a build's site would carry on from this period.
        published.borrow_mut().advance(data);
        if let Use::Hit { .. } = std::mem::take(&mut data.cache)
            && verbose
        {
            eprintln!(
                "{}: restored from the cache (.ocb-cache/periods/{})",
                data.dir.period, data.dir.period
            );
        }
        each(data)
    })
}

/// The per-period cache and what the caller carries from one period to the
/// next (part of each key).
#[derive(Clone, Copy)]
pub struct Cached<'a> {
    pub cache: &'a Cache,
    pub slugs: &'a dyn Fn(&crate::rollup::Rollup) -> String,
    /// Whether a restored period's pages may be rendered again (`ocb
    /// build`): then its statements' resources are read from the cache
    /// when the previous period's amounts changed.
    pub pages: bool,
}

/// `each_period`, with periods restored from the cache where their key
/// matches: such a period comes with no charges and `cache` set to `Hit`.
pub fn periods(
    repo: &Repo,
    problems: &mut Vec<Problem>,
    cache: Option<Cached>,
    computed: Option<Period>,
    beside: Option<crate::pipeline::Beside>,
    mut each: impl FnMut(&mut PeriodData) -> Result<()>,
) -> Result<Vec<PeriodData>> {
    let mut strings = Interner::default();
    let mut previous: Option<(Period, SourceTotals)> = None;
    let mut books = crate::books::Books::new(repo, problems);
    let mut done: Vec<PeriodData> = Vec::new();
    // Balances carry across periods: the ledger sees every period in order.
    let mut ledger = crate::ledger::Ledger::new(&repo.config, &repo.projects);
    let mut freeing: Option<std::thread::JoinHandle<()>> = None;
    for (i, dir) in repo.periods.iter().enumerate() {
        // A period's cache key holds what it asks of projects.yaml.
        repo.projects.trace_start();
        let prev = previous
            .as_ref()
            .filter(|(p, _)| *p == dir.period.prev())
            .map(|(_, t)| t);
        let prev_statements = done
            .last()
            .filter(|d| d.dir.period == dir.period.prev())
            .map(|d| d.rollup.statements.as_slice());
        // Corrections on their way between periods are in no key: such a
        // period is computed, never cached.
        let cache = cache.filter(|_| books.nothing_pending());
        let ledger_in = cache.map(|_| ledger.fingerprint());
        // A closed period's page names the later periods that corrected it.
        let corrected = format!("{:?}", books.corrected_in(dir.period));
        let key_of = |c: &Cache, spike_totals: &SourceTotals, rollup: &crate::rollup::Rollup| {
            let slugs = cache.expect("a cache").slugs;
            let carried = crate::cache::carried(
                &repo.config,
                prev,
                spike_totals,
                ledger_in.as_deref().unwrap_or_default(),
                &slugs(rollup),
            );
            c.key(i, dir, &format!("{carried}\ncorrected in {corrected}"))
        };
        let mut hit = None;
        if let Some(Cached {
            cache: c, pages, ..
        }) = cache
            && computed != Some(dir.period)
            && let Some(mut entry) = c.read(dir.period)
        {
            let spike_totals: SourceTotals = entry.spike_totals.iter().cloned().collect();
            if entry.key.holds(
                &key_of(c, &spike_totals, &entry.data.rollup)?,
                &repo.projects,
            ) && c.whole(dir.period, &entry)
            {
                let now = crate::cache::previous_billed(prev_statements, &entry.data.rollup);
                let statements = (now != entry.previous).then_some(now);
                // Statement pages rendered again read the resources.
                let resources = match statements {
                    Some(_) if pages => c.resources(dir.period),
                    _ => Some(Vec::new()),
                };
                // Correction lines are charges: not in the entry.
                if let Some(resources) = resources
                    && (statements.is_none() || !pages || !entry.corrections)
                {
                    entry.data.rollup.resources = resources;
                    hit = Some((Box::new(entry), statements));
                }
            }
        }
        let mut data = if let Some((mut entry, statements)) = hit {
            let snapshot = std::mem::take(&mut entry.data);
            let mut data = books.restore(repo, i, snapshot, &mut ledger, problems);
            data.totals = entry.totals.drain(..).collect();
            data.spike_totals = entry.spike_totals.drain(..).collect();
            data.cache = Use::Hit { entry, statements };
            data
        } else {
            let before = problems.len();
            let Some(mut data) =
                books.period(repo, i, prev, &mut ledger, &mut strings, problems, beside)?
            else {
                previous = None;
                continue;
            };
            data.totals = crate::flag::source_totals(&data.charges);
            let storable = problems.len() == before
                && books.nothing_pending()
                && data.superseded.is_empty()
                && data.held_now.is_empty();
            if let (Some(Cached { cache: c, .. }), true) = (cache, storable) {
                data.cache = Use::Store {
                    base: key_of(c, &data.spike_totals, &data.rollup)?,
                    previous: crate::cache::previous_billed(prev_statements, &data.rollup),
                };
            }
            data
        };
        // The next period's inputs are hashed while this one is written,
        // where a core is idle: its processing then finds their digests
        // (`digest` remembers them), and its files are in the page cache.
        if let Some(next) = repo.periods.get(i + 1) {
            let next = next.clone();
            std::thread::spawn(move || {
                crate::parallel::in_background();
                crate::close::digests(&next).ok()
            });
        }
        each(&mut data)?;
        previous = Some((dir.period, std::mem::take(&mut data.totals)));
        // Only the rollup is kept across periods, without its resources
        // (only statement pages read them, rendered by now): memory stays
        // bounded by one period.
        // Freeing a million charges takes a tenth of a second: done on the
        // other core while the next period starts. The last period keeps
        // them: the caller frees them once the site is finished (`ocb build`
        // exits instead).
        if i + 1 < repo.periods.len() {
            let charges = std::mem::take(&mut data.charges);
            let resources = std::mem::take(&mut data.rollup.resources);
            if !charges.is_empty() {
                // The charges before them were freed while this period loaded.
                if let Some(previous) = freeing.take() {
                    previous
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e));
                }
                freeing = Some(std::thread::spawn(move || {
                    drop((charges, resources));
                    crate::memory::release();
                }));
            }
        }
        data.held_now = Vec::new();
        data.spike_totals = SourceTotals::new();
        data.cache = Use::Off;
        done.push(data);
    }
    books.finish(problems);
    Ok(done)
}

/// The repository's site, empty: periods are rendered (or carried) into it.
fn site_of(repo: &Repo) -> Result<crate::site::Site> {
    crate::site::Site::new(&repo.root, &repo.config_path, &repo.config, &repo.projects)
}

pub fn build(root: &Path, config_path: &Path, opts: &Options) -> Result<Report> {
    let mut repo = open(root, config_path)?;
    repo.progress = !opts.quiet;
    let mut report = Report {
        problems: repo.problems.clone(),
        ..Report::default()
    };
    if opts.pdf {
        // Before any work: a missing browser is an environment error (exit 2).
        crate::pdf::find_chrome(repo.config.pdf.chrome.as_deref())?;
    }
    let staged = write::staging(&opts.out)?;
    // The output the previous build replaced goes while this one works.
    let trash = write::trash(&repo.root);
    // Files written again unchanged are the live output's, linked; the
    // previous output's files are written over, not created anew.
    let recycling = write::recycle(staged.path(), &trash, &opts.out);
    let emptying = write::empty(&trash, recycling.from.as_deref());
    let root_dir = staged.path().to_path_buf();
    // With per-PI access the full site goes to `admin/` and each PI gets a portal.
    let mut portals = (repo.config.site.access == Access::PerPi).then(Portals::default);
    let dir = match portals {
        Some(_) => root_dir.join(crate::access::ADMIN_DIR),
        None => root_dir.clone(),
    };
    let site = site_of(&repo)?;
    // What the site has published, period by period: the loop's own.
    let published = std::cell::RefCell::new(Published::default());
    // Per-PI portals render each period once more per PI: not cached.
    let cache = (opts.cache && portals.is_none())
        .then(|| Cache::open(&repo, true))
        .transpose()?;
    let outside = |rollup: &crate::rollup::Rollup| published.borrow().slugs_of(rollup);
    let cached = cache.as_ref().map(|cache| Cached {
        cache,
        slugs: &outside,
        pages: true,
    });
    let mut cache_warnings = Vec::new();
    let mut since = std::time::Instant::now();
    // The charge browser's data is written while the rollup is made.
    let browser = |period: Period, charges: &[crate::charge::Charge]| {
        let data = dir.join(period.to_string()).join("charges-data");
        crate::charge_data::write(charges, &repo.config, &data)
    };
    let beside: Option<crate::pipeline::Beside> = Some(&browser);
    let history = periods(&repo, &mut report.problems, cached, None, beside, |data| {
        let prepared = since.elapsed();
        let start = std::time::Instant::now();
        let period = data.dir.period;
        let mut published = published.borrow_mut();
        let restored = match (std::mem::take(&mut data.cache), &cache) {
            (Use::Hit { entry, statements }, Some(cache)) => {
                let out = dir.join(period.to_string());
                cache.restore(period, &entry, &out)?;
                let again = statements.is_some();
                site.restore_period(&mut published, data, entry.rows, again, &dir)?;
                if let Some(previous) = statements
                    && let Err(e) = cache.store(
                        entry.key.and_since(&repo.projects),
                        previous,
                        data,
                        published.rows_of(period),
                        &out,
                    )
                {
                    cache_warnings.push(format!("{period}: not cached: {e:#}"));
                }
                Some(again)
            }
            (other, _) => {
                // charges.csv (one thread) is written while the pages render.
                let data: &PeriodData = data;
                std::thread::scope(|s| {
                    let tables = s.spawn(|| write_period(data, &dir, &repo));
                    let pages = site.render_period(&mut published, data, &dir);
                    let tables = tables
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e));
                    pages.and(tables)
                })?;
                if let Some(p) = portals.as_mut() {
                    p.render_period(&repo, data, &root_dir)?;
                }
                if let (Use::Store { base, previous }, Some(cache)) = (other, &cache)
                    && let Err(e) = cache.store(
                        crate::cache::Key::new(base, &repo.projects),
                        previous,
                        data,
                        published.rows_of(period),
                        &dir.join(period.to_string()),
                    )
                {
                    // The build stands without its cache: the next one recomputes.
                    cache_warnings.push(format!("{period}: not cached: {e:#}"));
                }
                None
            }
        };
        if opts.verbose {
            if let Some(statements) = restored {
                eprintln!(
                    "{period}: restored from the cache (.ocb-cache/periods/{period}){} in {:.2} s",
                    if statements {
                        ", statement pages rendered again (the previous period's amounts changed)"
                    } else {
                        ""
                    },
                    (prepared + start.elapsed()).as_secs_f64()
                );
            } else {
                eprintln!(
                    "{period}: {} charges, {} statements; loaded, flagged and rolled up in {:.2} s; written in {:.2} s",
                    data.charges.len(),
                    data.rollup.statements.len(),
                    prepared.as_secs_f64(),
                    start.elapsed().as_secs_f64()
                );
            }
        }
        since = std::time::Instant::now();
        Ok(())
    })?;
    let published = published.into_inner();
    if cache.is_some() {
        // The digests of the periods computed, found while they were.
        crate::cache::remember_digests(&repo);
    }
    report.warnings.append(&mut cache_warnings);
    for data in &history {
        report
            .warnings
            .extend(data.stale.iter().map(ToString::to_string));
        report.summaries.push(PeriodSummary {
            period: data.dir.period,
            status: data.status,
            sources: data.dir.files.iter().map(|f| f.source.clone()).collect(),
            currencies: data.currencies.clone(),
        });
    }
    if !report.problems.is_empty() {
        report.problems.sort();
        return Ok(report);
    }
    write::file(
        &dir.join("summary.json"),
        &outputs::summary_json(&report.summaries)?,
    )?;
    site.pages(&published).render_history(&history, &dir)?;
    let rules = portals.as_ref().map(|p| p.rules(&repo));
    if let Some((_, problems)) = &rules
        && !problems.is_empty()
    {
        report.problems.extend(problems.iter().cloned());
        return Ok(report);
    }
    if opts.pdf {
        // Superseded statements keep their PDF, printed with the banner.
        let all: Vec<_> = published
            .statements
            .iter()
            .chain(&published.superseded)
            .cloned()
            .collect();
        report.pdfs = crate::pdf::print_all(
            &repo.config.pdf,
            &repo.root.join(".ocb-cache").join("pdf"),
            &all,
            &dir,
            &opts.periods,
            opts.quiet,
        )?;
    }
    if let (Some(p), Some((rules, _))) = (&portals, &rules) {
        p.finish(rules, site.pages(&published), &root_dir, opts.pdf)?;
    }
    // Last, over the whole staging folder: portals link PDFs too.
    if report.pdfs < published.statements.len() {
        crate::pdf_links::unlink_missing(&root_dir)?;
    }
    drop(recycling);
    let _ = emptying.join();
    write::replace(staged, &opts.out, &trash)?;
    // The last period's charges (a tenth of a second to free) go on another
    // thread: `ocb build` exits without waiting, `ocb serve` frees them
    // behind its answer.
    std::thread::spawn(move || drop(history));
    Ok(report)
}

/// A period's machine-readable outputs: charges.csv, statements.csv, journal.csv.
fn write_period(data: &PeriodData, out: &Path, repo: &Repo) -> Result<()> {
    let p = out.join(data.dir.period.to_string());
    let path = write::ensure_dir(&p)?.join("charges.csv");
    let failed = || format!("cannot write `{}`", path.display());
    let (_, file) = write::handed_off(write::create(&path)?, |out| {
        outputs::charges_csv(&data.charges, data.dir.period, &data.numbers, out)
    })
    .with_context(failed)?;
    write::finish(file).with_context(failed)?;
    let statements: Vec<_> = data
        .rollup
        .statements
        .iter()
        .zip(&data.ledger.statements)
        .map(|(g, l)| (data.numbers[&g.key].clone(), g, l))
        .collect();
    write::file(
        &p.join("statements.csv"),
        &outputs::statements_csv(&statements, data.dir.period)?,
    )?;
    let journal = crate::journal::render(
        &data.charges,
        &data.ledger,
        &repo.config,
        data.dir.period,
        &data.numbers,
        &repo.root,
    )?;
    write::file(&p.join("journal.csv"), &journal)?;
    Ok(())
}
