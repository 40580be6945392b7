//! One period through the pipeline: load → attribute → flag → decide → rollup.
//! Pure data in, data out; only `load` reads files, and nothing here writes
//! any but the work `build` hands `process` to run beside the rollup
//! (`Beside`: the charge browser's data, which needs no rollup).

use crate::charge::{Charge, Interner, State};
use crate::close::{Issued, PeriodFile};
use crate::config::Config;
use crate::discover::PeriodDir;
use crate::flag::SourceTotals;
use crate::numbers::Key;
use crate::outputs::CurrencySummary;
use crate::period::Period;
use crate::problem::Problem;
use crate::projects::Projects;
use crate::review::{self, Decision};
use crate::rollup::{self, Rollup, StatementKey};
use anyhow::{Result, bail};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A period with its charges, decisions and rollup, ready to render.
pub struct PeriodData {
    pub dir: PeriodDir,
    pub charges: Vec<Charge>,
    pub decisions: Vec<Decision>,
    pub rollup: Rollup,
    pub currencies: Vec<CurrencySummary>,
    /// Statement number of each statement.
    pub numbers: BTreeMap<StatementKey, String>,
    pub stale: Vec<Problem>,
    /// `open` or `closed`, from period.yaml.
    pub status: crate::close::Status,
    /// Credits, allocations, surcharges and fund splits per statement (filled
    /// by `build::each_period`, which carries the balances across periods).
    pub ledger: crate::ledger::PeriodLedger,
    /// period.yaml as read at the start of the build (default when absent).
    pub file: PeriodFile,
    /// Statement key → the number this statement replaces (a reissue).
    pub replaces: BTreeMap<Key, String>,
    /// Statement key → digest of what the statement says.
    pub digests: BTreeMap<Key, String>,
    /// Statements replaced by a reissue or withdrawn, still published.
    pub superseded: Vec<Superseded>,
    /// A closed period: charges of its inputs that are held now, on no statement.
    pub held_now: Vec<Charge>,
    /// A closed period: the periods its corrections are posted in.
    pub corrected_in: Vec<Period>,
    /// Billed per project, source and currency: the next period's spike rule reads it.
    pub totals: SourceTotals,
    /// The same as the spike rule read them here (before review decisions).
    pub spike_totals: SourceTotals,
    /// Whether `ocb build` restores this period from its cache or stores it.
    pub cache: crate::cache::Use,
    /// The charge browser's data, when `build` wrote it beside the rollup:
    /// the values of its facets.
    pub browser: Option<crate::charge_data::Values>,
}

/// Work on a period's final charges that needs no rollup (`build` writes
/// the charge browser's data): done beside the rollup, on the core the
/// rollup leaves idle.
pub type Beside<'a> = &'a (dyn Fn(Period, &[Charge]) -> Result<crate::charge_data::Values> + Sync);

/// An issued statement that a reissue replaced (or that was withdrawn), with
/// the rollup of its recorded rows, to render it again with a banner.
#[derive(Clone)]
pub struct Superseded {
    pub issued: Issued,
    pub rollup: Rollup,
    /// Its recorded rows, carried into the record at the next close.
    pub charges: Vec<Charge>,
}

/// Load every file of a period. Problems are returned; charges only when there are none.
/// Files load in parallel (one per core), each with its own string table:
/// strings are shared within a file, where they repeat.
pub fn load(
    dir: &PeriodDir,
    config: &Config,
    _strings: &mut Interner,
    progress: &indicatif::ProgressBar,
) -> (Vec<Charge>, Vec<Problem>) {
    progress.set_message(dir.period.to_string());
    let (mut charges, mut problems) = match load_in_place(dir, config, progress) {
        Some(done) => done,
        None => load_in_blocks(dir, config, progress),
    };
    if config.billing.basis == crate::config::Basis::Effective {
        // Everything downstream (flags, conservation, statements, journals)
        // reads `billed` as the amount charged: make it the effective cost.
        for c in &mut charges {
            c.billed = c.effective;
        }
    }
    problems.extend(crate::precision::check(&mut charges));
    (charges, problems)
}

/// A month of plain CSV files, each loaded straight into its region of the
/// month's vector, sized from the files' line counts: a later file's
/// charges are not moved after it loads (some 150 MB in a million-row
/// month). None when a file's lines cannot be counted (compressed, Parquet).
fn load_in_place(
    dir: &PeriodDir,
    config: &Config,
    progress: &indicatif::ProgressBar,
) -> Option<(Vec<Charge>, Vec<Problem>)> {
    let bounds: Vec<usize> = crate::parallel::map(dir.files.len(), |i| {
        crate::load::row_bound(&dir.files[i].path)
    })
    .into_iter()
    .collect::<Option<_>>()?;
    load_into(dir, config, progress, bounds)
}

/// `load_in_place` with each file's region `bounds[i]` slots long.
fn load_into(
    dir: &PeriodDir,
    config: &Config,
    progress: &indicatif::ProgressBar,
    bounds: Vec<usize>,
) -> Option<(Vec<Charge>, Vec<Problem>)> {
    // Untouched capacity takes no memory; a file of blank lines could ask
    // for more than the machine maps, and loads in blocks instead.
    let mut charges: Vec<Charge> = Vec::new();
    charges.try_reserve_exact(bounds.iter().sum()).ok()?;
    let mut regions = Vec::with_capacity(bounds.len());
    let mut rest = charges.spare_capacity_mut();
    for &bound in &bounds {
        let (region, after) = rest.split_at_mut(bound);
        regions.push(std::sync::Mutex::new(Some(region)));
        rest = after;
    }
    let loaded: Vec<(usize, Vec<Charge>, Vec<Problem>)> =
        crate::parallel::map(dir.files.len(), |i| {
            let f = &dir.files[i];
            let Some(region) = regions[i].lock().ok().and_then(|mut r| r.take()) else {
                return (0, Vec::new(), Vec::new());
            };
            let mut own = Interner::default();
            let mut slots = crate::load::Slots::new(region);
            let (problems, _) = crate::load::read_file(
                &f.path,
                &f.shown,
                &f.source,
                &config.currency,
                &mut own,
                &mut slots,
                progress,
            );
            (
                slots.filled(),
                std::mem::take(&mut slots.overflow),
                problems,
            )
        });
    drop(regions);
    let mut problems = Vec::new();
    if loaded.iter().all(|(_, overflow, _)| overflow.is_empty()) {
        // Each region's charges moved down to follow the previous region's
        // (none move when every line of the files was a row).
        let base = charges.as_mut_ptr();
        let (mut start, mut len) = (0, 0);
        for ((filled, _, mut found), bound) in loaded.into_iter().zip(bounds) {
            problems.append(&mut found);
            if start != len {
                // SAFETY: `filled` charges were written from `start`, within
                // the capacity; `len <= start`, and `copy` allows overlap.
                unsafe { std::ptr::copy(base.add(start), base.add(len), filled) };
            }
            len += filled;
            start += bound;
        }
        // SAFETY: the first `len` slots now hold the files' charges in order.
        unsafe { charges.set_len(len) };
        return Some((charges, problems));
    }
    // A file grew after it was measured: its rows beyond its region follow
    // them, each file's charges moved into a new vector.
    let mut joined = Vec::with_capacity(loaded.iter().map(|(f, o, _)| f + o.len()).sum());
    let base = charges.as_ptr();
    let mut start = 0;
    for ((filled, overflow, mut found), bound) in loaded.into_iter().zip(bounds) {
        problems.append(&mut found);
        for k in start..start + filled {
            // SAFETY: each written slot is read once; `charges` keeps length
            // 0, so none is dropped twice.
            joined.push(unsafe { std::ptr::read(base.add(k)) });
        }
        joined.extend(overflow);
        start += bound;
    }
    Some((joined, problems))
}

/// A month's files loaded in parallel, the first file's charges in one
/// vector and the others' in blocks, moved after it.
fn load_in_blocks(
    dir: &PeriodDir,
    config: &Config,
    progress: &indicatif::ProgressBar,
) -> (Vec<Charge>, Vec<Problem>) {
    let loaded: Vec<(crate::load::Blocks, Vec<Problem>)> =
        crate::parallel::map(dir.files.len(), |i| {
            let f = &dir.files[i];
            let mut own = Interner::default();
            let mut first = Vec::new();
            let mut blocks = crate::load::Blocks::default();
            let sink: &mut dyn crate::load::RowSink = match i {
                0 => &mut first,
                _ => &mut blocks,
            };
            let (problems, _) = crate::load::read_file(
                &f.path,
                &f.shown,
                &f.source,
                &config.currency,
                &mut own,
                sink,
                progress,
            );
            if i == 0 {
                blocks.0.push(first);
            }
            (blocks, problems)
        });
    let total: usize = loaded.iter().map(|(b, _)| b.len()).sum();
    let mut problems = Vec::new();
    let mut charges: Vec<Charge> = Vec::new();
    for (blocks, mut found) in loaded {
        problems.append(&mut found);
        for block in blocks.0 {
            if charges.is_empty() {
                // Grown in place (a large vector is remapped, not copied);
                // untouched capacity takes no memory.
                charges = block;
                charges.reserve_exact(total - charges.len());
            } else {
                // Each block is freed once moved: a month's charges are
                // never held twice. Moved on every core.
                use rayon::prelude::*;
                charges.par_extend(block);
            }
        }
    }
    (charges, problems)
}

/// Attribute, flag, decide and roll up a loaded period.
/// `corrections` (to closed periods) join the charges after attribution, so
/// that flag rules and this period's decisions apply to them too.
#[allow(clippy::too_many_arguments)]
pub fn process(
    dir: PeriodDir,
    file: PeriodFile,
    mut charges: Vec<Charge>,
    corrections: Vec<Charge>,
    config: &Config,
    projects: &Projects,
    previous: Option<&SourceTotals>,
    strings: &mut Interner,
    beside: Option<Beside>,
) -> Result<(PeriodData, Vec<Problem>)> {
    crate::attribute::attribute(&mut charges, &config.tags, projects, strings);
    charges.extend(corrections);
    let mut id_problems = distinct_ids(&mut charges);
    // Compiled once for both the flag rules and the checks of `set:` values.
    let rules = crate::flag::Rules::new(config);
    let spike_totals = crate::flag::source_totals(&charges);
    crate::flag::flag(
        &mut charges,
        dir.period,
        config,
        &rules,
        projects,
        &spike_totals,
        previous,
    );
    let shown = dir.shown("review.yaml");
    let (decisions, mut problems) = review::load(&dir.review_path(), &shown);
    let outcome = review::decide(&mut charges, &decisions, &shown, &rules, projects, strings);
    problems.extend(outcome.problems);
    problems.append(&mut id_problems);
    // The charges are final from here on.
    let (rollup, browser) = std::thread::scope(|s| {
        let browser = beside.map(|f| s.spawn(|| f(dir.period, &charges)));
        let rollup = rollup::rollup(&charges);
        let browser = browser.map(|b| b.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (rollup, browser)
    });
    let (rollup, browser) = (rollup?, browser.transpose()?);
    let currencies = summarise(&charges, &rollup)?;
    let numbered = crate::numbers::assign(dir.period, &rollup, &charges, &file);
    Ok((
        PeriodData {
            dir,
            charges,
            decisions,
            rollup,
            currencies,
            numbers: numbered.numbers,
            stale: outcome.stale,
            status: file.status,
            ledger: Default::default(),
            file,
            replaces: numbered.replaces,
            digests: numbered.digests,
            superseded: Vec::new(),
            held_now: Vec::new(),
            corrected_in: Vec::new(),
            totals: SourceTotals::new(),
            spike_totals,
            cache: Default::default(),
            browser,
        },
        problems,
    ))
}

/// A closed period as it was issued: its recorded charges, rolled up again,
/// numbered as recorded. Statements whose figures or content differ from the
/// record are problems located in period.yaml.
pub fn from_record(
    dir: PeriodDir,
    file: PeriodFile,
    charges: Vec<Charge>,
) -> Result<(PeriodData, Vec<Problem>)> {
    let rollup = rollup::rollup(&charges)?;
    let currencies = summarise(&charges, &rollup)?;
    let corrections = crate::numbers::corrections_by_key(&charges);
    let issued: BTreeMap<Key, &Issued> = file.statements.iter().map(|s| (s.key(), s)).collect();
    let mut problems = Vec::new();
    let (mut numbers, mut replaces, mut digests) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let shown = dir.shown("period.yaml");
    for g in &rollup.statements {
        let key = crate::numbers::key_of(g);
        let empty = Vec::new();
        let digest =
            crate::numbers::content_digest(&rollup, g, corrections.get(&key).unwrap_or(&empty));
        let Some(s) = issued.get(&key) else {
            problems.push(Problem::file(&shown, format!("the issued record has a statement for {} / {} / {} ({}) that period.yaml does not list", key.pi, key.project, key.fund, key.currency)));
            continue;
        };
        let figures = (
            g.sums.list.normalize().to_string(),
            g.sums.billed.normalize().to_string(),
            g.sums.count,
        );
        if figures != (s.list.clone(), s.billed.clone(), s.charges) || digest != s.digest {
            let line = crate::close::line_of(&dir, &s.number);
            let message = format!(
                "statement {}: issued as list {}, due {}, {} charges, content {}; now list {}, due {}, {} charges, content {}: a change in ocb, its configuration or its theme would alter an issued statement; reopen the period to reissue it (`ocb reopen {} --reason ...`)",
                s.number,
                s.list,
                s.billed,
                s.charges,
                &s.digest[..s.digest.len().min(12)],
                figures.0,
                figures.1,
                figures.2,
                &digest[..12],
                dir.period
            );
            problems.push(match line {
                Some(l) => Problem::at(&shown, l, message),
                None => Problem::file(&shown, message),
            });
        }
        numbers.insert(key.clone(), s.number.clone());
        if let Some(r) = &s.replaces {
            replaces.insert(key.clone(), r.clone());
        }
        digests.insert(key, digest);
    }
    Ok((
        PeriodData {
            dir,
            charges,
            decisions: Vec::new(),
            rollup,
            currencies,
            numbers,
            stale: Vec::new(),
            status: file.status,
            ledger: Default::default(),
            file,
            replaces,
            digests,
            superseded: Vec::new(),
            held_now: Vec::new(),
            corrected_in: Vec::new(),
            totals: SourceTotals::new(),
            // Issued: no flag rule runs.
            spike_totals: SourceTotals::new(),
            cache: Default::default(),
            browser: None,
        },
        problems,
    ))
}

/// Charge ids are 12 hex digits of a hash: two different rows may share one
/// (about 0.2 % of 1M-row months). Each such id is lengthened with digits of
/// its row's content hash; a clash that remains is a problem naming both rows.
fn distinct_ids(charges: &mut [Charge]) -> Vec<Problem> {
    use rayon::prelude::*;
    // Ids of 12 hex digits, sorted as numbers (8 bytes a row), tell which
    // may clash; only those, and ids of any other form, are looked up.
    let numbers: Vec<u64> = charges
        .par_iter()
        .filter_map(|c| crate::load::id_number(&c.id))
        .collect();
    let every_id_a_number = numbers.len() == charges.len();
    let repeated = crate::charge::repeated(numbers);
    if every_id_a_number && repeated.is_empty() {
        // Nothing can clash: no row is looked at again.
        return Vec::new();
    }
    let may_clash =
        |c: &Charge| crate::load::id_number(&c.id).is_none_or(|n| repeated.contains(&n));
    let mut seen: crate::charge::FastMap<&str, usize> = Default::default();
    let mut clashes = Vec::new();
    for (i, c) in charges.iter().enumerate().filter(|(_, c)| may_clash(c)) {
        if let Some(&j) = seen.get(c.id.as_str()) {
            clashes.push((j, i));
        } else {
            seen.insert(&c.id, i);
        }
    }
    let mut problems = Vec::new();
    let mut lengthen = std::collections::BTreeSet::new();
    for (j, i) in clashes {
        if charges[i].content == charges[j].content {
            problems.push(Problem::at(
                charges[i].file.to_string(),
                charges[i].line,
                format!("charge id {} is also the id of {}:{}; rename one source file or report this to the ocb maintainers", charges[i].id, charges[j].file, charges[j].line),
            ));
        }
        lengthen.insert(i);
        lengthen.insert(j);
    }
    for i in lengthen {
        let c = &mut charges[i];
        c.id = format!("{}{}", c.id, hex::encode(&c.content[..4])).into();
    }
    problems
}

/// Per currency: input rows and totals (plain sums) against the rollup's
/// billed / held / rejected. Conservation is checked here on every build.
pub fn summarise(charges: &[Charge], rollup: &Rollup) -> Result<Vec<CurrencySummary>> {
    let mut inputs: BTreeMap<&str, (u64, Decimal)> = BTreeMap::new();
    for c in charges {
        let e = inputs.entry(&c.currency).or_default();
        e.0 += 1;
        e.1 += c.billed;
    }
    let mut out = Vec::new();
    for (currency, (rows, total)) in inputs {
        let [billed, held, rejected] = [State::Billed, State::Held, State::Rejected]
            .map(|s| rollup::state_total(rollup, currency, s));
        if billed.billed + held.billed + rejected.billed != total {
            bail!(
                "internal error: {currency} totals do not conserve: input {total}, billed {} + held {} + rejected {}",
                billed.billed,
                held.billed,
                rejected.billed
            );
        }
        out.push(CurrencySummary {
            currency: currency.to_string(),
            input_rows: rows,
            input_billed: total.normalize(),
            billed: billed.billed.normalize(),
            held: held.billed.normalize(),
            rejected: rejected.billed.normalize(),
            list: billed.list.normalize(),
            billed_rows: billed.count,
            held_rows: held.count,
            rejected_rows: rejected.count,
            usage: Decimal::ZERO,
            credits: Decimal::ZERO,
            surcharges: Decimal::ZERO,
            due: Decimal::ZERO,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files with blank lines, CRLF, a quoted line break and no final line
    /// break: the charges of a month are the same, in the same order,
    /// whether its files load in place or in blocks, and when a file has
    /// more rows than its region holds.
    #[test]
    fn a_month_loaded_in_place_is_the_month_loaded_in_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let texts = [
            (
                "aws",
                "BillingPeriodStart,BilledCost,ServiceName\r\n2025-01-01,1,a\r\n\r\n\r\n2025-01-01,2,\"multi\nline\"\r\n2025-01-01,3,c\r\n",
            ),
            ("azure", "BillingPeriodStart,BilledCost,ServiceName\n"),
            (
                "hpc",
                "BillingPeriodStart,BilledCost,ServiceName\n2025-01-01,4,d\n2025-01-01,5,e",
            ),
        ];
        let files = texts
            .iter()
            .map(|(source, text)| {
                let path = tmp.path().join(format!("{source}.csv"));
                std::fs::write(&path, text).unwrap();
                crate::discover::InputFile {
                    source: source.to_string(),
                    path,
                    shown: format!("periods/2025-01/{source}.csv"),
                }
            })
            .collect();
        let dir = PeriodDir {
            period: "2025-01".parse().unwrap(),
            dir: tmp.path().to_path_buf(),
            files,
        };
        let bounds: Vec<usize> = dir
            .files
            .iter()
            .map(|f| crate::load::row_bound(&f.path).unwrap())
            .collect();
        assert_eq!(bounds, vec![6, 0, 2], "lines less the header");
        let config = Config::default();
        let progress = indicatif::ProgressBar::hidden();
        let seen = |(charges, problems): (Vec<Charge>, Vec<Problem>)| {
            assert!(problems.is_empty(), "{problems:?}");
            charges
                .iter()
                .map(|c| format!("{} {} {} {}", c.id, c.file, c.line, c.billed))
                .collect::<Vec<_>>()
        };
        let blocks = seen(load_in_blocks(&dir, &config, &progress));
        assert_eq!(blocks.len(), 5);
        assert!(blocks[1].ends_with("aws.csv 5 2"), "{blocks:?}");
        assert!(blocks[2].ends_with("aws.csv 7 3"), "{blocks:?}");
        assert!(blocks[4].ends_with("hpc.csv 3 5"), "{blocks:?}");
        let in_place = seen(load_in_place(&dir, &config, &progress).unwrap());
        assert_eq!(in_place, blocks);
        let overflowing = seen(load_into(&dir, &config, &progress, vec![1, 0, 1]).unwrap());
        assert_eq!(overflowing, blocks);
    }

    #[test]
    fn clashing_charge_ids_are_lengthened_and_a_clash_of_equal_rows_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.csv");
        std::fs::write(
            &path,
            "BillingPeriodStart,ServiceName,BilledCost\n2025-01-01,EC2,1\n2025-01-01,S3,2\n2025-01-01,EC2,1\n",
        )
        .unwrap();
        let mut strings = Interner::default();
        let mut loaded =
            crate::load::load_file(&path, "periods/2025-01/aws.csv", "aws", "USD", &mut strings);
        assert!(loaded.problems.is_empty());
        let c = &mut loaded.charges;
        // What a 48-bit hash clash between two different rows looks like.
        c[1].id = c[0].id.clone();
        assert!(distinct_ids(c).is_empty());
        assert_ne!(c[0].id, c[1].id);
        assert_eq!(c[0].id.len(), 20);
        // Two identical rows (same content) can only clash if the hash does: located.
        c[2].id = c[0].id.clone();
        let problems = distinct_ids(c);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(4));
        assert!(
            problems[0]
                .message
                .contains("is also the id of periods/2025-01/aws.csv:2"),
            "{}",
            problems[0]
        );
    }
}
