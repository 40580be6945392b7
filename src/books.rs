//! The books across periods: an open period is built from its inputs; a
//! closed one from what it issued (`issued.csv.gz`), while the difference
//! between that and what its inputs say now is posted as corrections in the
//! first open period after it. See docs/CLOSING.md.

use crate::build::Repo;
use crate::charge::{Charge, Interner, State};
use crate::close::{Issued, PeriodFile, Status};
use crate::correct::Pending;
use crate::flag::SourceTotals;
use crate::issued::{self, Row};
use crate::numbers::Key;
use crate::period::Period;
use crate::pipeline::{self, PeriodData, Superseded};
use crate::problem::Problem;
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};

pub struct Books {
    files: Vec<PeriodFile>,
    /// Periods whose period.yaml could not be read: nothing is built from them.
    broken: Vec<bool>,
    pending: Pending,
    /// Origin period → later closed periods that issued corrections to it.
    posted_in: BTreeMap<Period, Vec<Period>>,
    /// Over the bytes of every input file (a closed period that renders
    /// from its record reads none of them: the bar then ends short).
    progress: indicatif::ProgressBar,
}

impl Books {
    /// Read every period.yaml once; their problems fail the build.
    pub fn new(repo: &Repo, problems: &mut Vec<Problem>) -> Books {
        let mut files = Vec::new();
        let mut broken = Vec::new();
        let mut posted_in: BTreeMap<Period, Vec<Period>> = BTreeMap::new();
        for dir in &repo.periods {
            let (file, mut found) = crate::close::load(dir);
            broken.push(!found.is_empty());
            problems.append(&mut found);
            for c in &file.corrections {
                if let Ok(p) = c.period.parse::<Period>() {
                    let list = posted_in.entry(p).or_default();
                    if !list.contains(&dir.period) {
                        list.push(dir.period);
                    }
                }
            }
            files.push(file);
        }
        let bytes = repo
            .periods
            .iter()
            .flat_map(|p| &p.files)
            .map(|f| crate::progress::size(&f.path))
            .sum();
        Books {
            files,
            broken,
            pending: Pending::default(),
            posted_in,
            progress: crate::progress::bytes(repo.progress, "loading", bytes),
        }
    }

    fn first_open_after(&self, repo: &Repo, i: usize) -> Option<Period> {
        (i + 1..repo.periods.len())
            .find(|&j| self.files[j].status == Status::Open)
            .map(|j| repo.periods[j].period)
    }

    /// Period `i`, ready to render; `None` when its inputs have problems.
    /// The ledger runs here, on every period in order: balances carry from
    /// one period to the next, a closed period replays what it issued, and
    /// a reopened one is renumbered where its credits changed.
    #[allow(clippy::too_many_arguments)]
    pub fn period(
        &mut self,
        repo: &Repo,
        i: usize,
        previous: Option<&SourceTotals>,
        ledger: &mut crate::ledger::Ledger,
        strings: &mut Interner,
        problems: &mut Vec<Problem>,
        beside: Option<pipeline::Beside>,
    ) -> Result<Option<PeriodData>> {
        let dir = &repo.periods[i];
        if self.broken[i] {
            return Ok(None);
        }
        let file = self.files[i].clone();
        let record = issued::read(
            &dir.dir.join(issued::FILE),
            &dir.shown(issued::FILE),
            strings,
        )?;
        if file.status == Status::Closed {
            if let Some(rows) = record {
                let mut data = self.closed(repo, i, file, rows, previous, strings, problems)?;
                replay_ledger(repo, &mut data, ledger, problems);
                return Ok(Some(data));
            }
            problems.extend(unrecorded_changes(dir, &file));
        }
        // The cache key and audit record read the files' digests: hashed
        // from the page cache on a thread that runs only where the period's
        // own work leaves a core idle (the end of loading, the checks that
        // run on one core), remembered by `digest`.
        let digesting = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                crate::parallel::in_background();
                crate::close::digests(&dir).ok();
            })
        };
        let (charges, mut load_problems) =
            pipeline::load(dir, &repo.config, strings, &self.progress);
        if !load_problems.is_empty() {
            // A period with bad rows builds nothing rather than a partial statement.
            problems.append(&mut load_problems);
            return Ok(None);
        }
        let (charges, corrections) = match file.status {
            Status::Open => {
                let (charges, mut late) = self.late_rows(repo, i, charges, strings);
                late.extend(self.pending.take());
                (charges, late)
            }
            Status::Closed => (charges, Vec::new()),
        };
        let processed = pipeline::process(
            dir.clone(),
            file,
            charges,
            corrections,
            &repo.config,
            &repo.projects,
            previous,
            strings,
            beside,
        );
        // Done by now, but for what processing left it (a failure to read
        // a file is reported where the digest is asked for).
        digesting
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        let (mut data, mut found) = processed?;
        problems.append(&mut found);
        if data.file.status == Status::Closed {
            // Closed by an older ocb without an issued record.
            replay_ledger(repo, &mut data, ledger, problems);
        } else {
            apply_ledger(repo, &mut data, ledger, problems);
        }
        if let Some(rows) = record {
            data.superseded = reissued(&data, &rows)?;
        }
        Ok(Some(data))
    }

    /// The later closed periods that issued corrections to `period`.
    pub fn corrected_in(&self, period: Period) -> &[Period] {
        self.posted_in.get(&period).map_or(&[], Vec::as_slice)
    }

    /// No corrections wait for an open period: the periods so far hand the
    /// next one nothing but what `cache::carried` digests.
    pub fn nothing_pending(&self) -> bool {
        self.pending.is_empty()
    }

    /// Period `i` from its cache entry: nothing is loaded; the ledger runs
    /// on the recorded rollup as it would on a computed one, so balances
    /// carry on (numbers a reopen revised stay revised: the ledger's
    /// renumbering leaves a revised number alone).
    pub fn restore(
        &mut self,
        repo: &Repo,
        i: usize,
        snapshot: crate::cache::Snapshot,
        ledger: &mut crate::ledger::Ledger,
        problems: &mut Vec<Problem>,
    ) -> PeriodData {
        let dir = repo.periods[i].clone();
        let file = self.files[i].clone();
        // Decisions learn their lines from the file (the key holds its bytes).
        let (decisions, _) = crate::review::load(&dir.review_path(), &dir.shown("review.yaml"));
        let mut data = PeriodData {
            dir,
            charges: Vec::new(),
            decisions,
            rollup: snapshot.rollup,
            currencies: snapshot.currencies,
            numbers: snapshot.numbers,
            stale: snapshot.stale,
            status: file.status,
            ledger: Default::default(),
            file,
            replaces: snapshot.replaces,
            digests: snapshot.digests,
            superseded: Vec::new(),
            held_now: Vec::new(),
            corrected_in: snapshot.corrected_in,
            totals: SourceTotals::new(),
            spike_totals: SourceTotals::new(),
            cache: Default::default(),
            browser: None,
        };
        if data.file.status == Status::Closed {
            replay_ledger(repo, &mut data, ledger, problems);
        } else {
            apply_ledger(repo, &mut data, ledger, problems);
        }
        data
    }

    /// Rows of an open period that belong to an earlier closed one (by
    /// BillingPeriodStart, or a FOCUS `Correction` by ChargePeriodStart) are
    /// corrections to it: attributed here and named after its statement.
    fn late_rows(
        &self,
        repo: &Repo,
        i: usize,
        charges: Vec<Charge>,
        strings: &mut Interner,
    ) -> (Vec<Charge>, Vec<Charge>) {
        let here = repo.periods[i].period;
        let closed: HashMap<Period, HashMap<Key, &str>> = (0..i)
            .filter(|&j| self.files[j].status == Status::Closed)
            .map(|j| {
                let numbers = self.files[j]
                    .statements
                    .iter()
                    .map(|s| (s.key(), s.number.as_str()))
                    .collect();
                (repo.periods[j].period, numbers)
            })
            .collect();
        let belongs = |c: &Charge| {
            let by_billing = Period::of(c.billing_period_start);
            let by_charge = c
                .charge_period_start
                .filter(|_| c.is_correction())
                .map(Period::of);
            [Some(by_billing), by_charge]
                .into_iter()
                .flatten()
                .find(|p| *p < here && closed.contains_key(p))
        };
        // Taken out in place: a million charges are not copied into a second
        // vector (that copy was a month's peak memory).
        let mut charges = charges;
        let mut late: Vec<Charge> = if closed.is_empty() {
            Vec::new()
        } else {
            charges.extract_if(.., |c| belongs(c).is_some()).collect()
        };
        crate::attribute::attribute(&mut late, &repo.config.tags, &repo.projects, strings);
        for c in &mut late {
            let Some(period) = belongs(c) else { continue };
            let a = &c.attribution;
            let key = crate::rollup::StatementKey {
                currency: c.currency.to_string(),
                pi: a.pi_email.to_string(),
                project: a.project_id.to_string(),
                fund: a.fund_org.to_string(),
            };
            let statement = closed[&period].get(&key).copied().unwrap_or("");
            // No target: a row of this period, not a difference computed from one.
            c.origin = Some(Box::new(crate::charge::Origin {
                period,
                statement: statement.to_string(),
                removed: false,
                target: String::new(),
            }));
        }
        (charges, late)
    }

    /// A closed period with its record: rendered from what it issued; the
    /// difference with its inputs now becomes pending corrections.
    #[allow(clippy::too_many_arguments)]
    fn closed(
        &mut self,
        repo: &Repo,
        i: usize,
        file: PeriodFile,
        rows: Vec<Row>,
        previous: Option<&SourceTotals>,
        strings: &mut Interner,
        problems: &mut Vec<Problem>,
    ) -> Result<PeriodData> {
        let dir = &repo.periods[i];
        let (old, now): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.superseded);
        let statements: Vec<String> = now.iter().map(|r| r.statement.clone()).collect();
        let charges: Vec<Charge> = now.into_iter().map(|r| r.charge).collect();
        let (mut data, mut found) = pipeline::from_record(dir.clone(), file.clone(), charges)?;
        problems.append(&mut found);
        data.superseded = superseded(file.superseded.clone(), &old)?;
        for c in data.charges.iter().filter(|c| c.state == State::Billed) {
            if c.origin.is_some() {
                self.pending.posted(c);
            }
        }
        data.corrected_in = self.posted_in.get(&dir.period).cloned().unwrap_or_default();
        // projects.yaml as this build read it (not read again: it may have
        // been saved since), part of the period's cache key.
        let mut settings = crate::close::settings(&repo.root, &repo.config_path);
        match repo.projects.file_digest() {
            Some(d) => settings.insert("projects.yaml".to_string(), d.to_string()),
            None => settings.remove("projects.yaml"),
        };
        let changed = crate::close::changed_inputs(dir, &file)?;
        if changed.is_empty() && settings == file.settings {
            return Ok(data);
        }
        let (charges, mut load_problems) =
            pipeline::load(dir, &repo.config, strings, &self.progress);
        if !load_problems.is_empty() {
            problems.append(&mut load_problems);
            return Ok(data);
        }
        let numbering = PeriodFile {
            statements: file.statements.clone(),
            ..PeriodFile::default()
        };
        let (current, mut found) = pipeline::process(
            dir.clone(),
            numbering,
            charges,
            Vec::new(),
            &repo.config,
            &repo.projects,
            previous,
            strings,
            None,
        )?;
        problems.append(&mut found);
        let issued: Vec<(&str, &Charge)> = statements
            .iter()
            .map(String::as_str)
            .zip(&data.charges)
            .filter(|(_, c)| c.state == State::Billed && c.origin.is_none())
            .collect();
        let billed: Vec<&Charge> = current
            .charges
            .iter()
            .filter(|c| c.state == State::Billed)
            .collect();
        let numbers: HashMap<Key, &str> = file
            .statements
            .iter()
            .map(|s| (s.key(), s.number.as_str()))
            .collect();
        let statement_of = |c: &Charge| {
            let a = &c.attribution;
            let key = crate::rollup::StatementKey {
                currency: c.currency.to_string(),
                pi: a.pi_email.to_string(),
                project: a.project_id.to_string(),
                fund: a.fund_org.to_string(),
            };
            numbers.get(&key).map(|n| n.to_string()).unwrap_or_default()
        };
        let found = crate::correct::diff(dir.period, &issued, &billed, &statement_of);
        if !found.is_empty()
            && let Some(target) = self.first_open_after(repo, i)
            && !data.corrected_in.contains(&target)
        {
            data.corrected_in.push(target);
        }
        found.into_iter().for_each(|c| self.pending.add(c));
        data.held_now = current
            .charges
            .into_iter()
            .filter(|c| c.state == State::Held)
            .collect();
        Ok(data)
    }

    /// Corrections left with no open period to go to are problems.
    pub fn finish(&self, problems: &mut Vec<Problem>) {
        self.progress.finish_and_clear();
        for (period, (n, _)) in self.pending.origins() {
            problems.push(Problem::file(
                format!("periods/{period}"),
                format!(
                    "{n} row{} of closed period {period} differ from what was issued, and no open period after it can take the corrections: add `periods/{}/` (an empty folder is enough), or `ocb reopen {period} --reason \"...\"` to reissue",
                    if n == 1 { "" } else { "s" },
                    period.next()
                ),
            ));
        }
    }
}

/// A closed period without an issued record (closed by an older ocb): its
/// inputs must not change, as before.
fn unrecorded_changes(dir: &crate::discover::PeriodDir, file: &PeriodFile) -> Vec<Problem> {
    let hint = format!(
        "period {} was closed on {} without an issued record; run `ocb reopen {} --reason \"...\"` and close it again",
        dir.period,
        file.closed_on.as_deref().unwrap_or("?"),
        dir.period
    );
    match crate::close::changed_inputs(dir, file) {
        Ok(changed) => changed
            .into_iter()
            .map(|c| {
                let (name, what) = c.rsplit_once(' ').unwrap_or((&c, "changed"));
                Problem::file(
                    dir.shown(name),
                    format!("{what} since the period was closed: {hint}"),
                )
            })
            .collect(),
        Err(e) => vec![Problem::file(dir.shown("period.yaml"), format!("{e:#}"))],
    }
}

/// The ledger on an open period. After a reopen, a statement whose rows did
/// not change keeps its number, unless what the ledger shows on it (credits,
/// allocations, surcharges, split) differs from what it issued: then it is
/// reissued under a new number like any other change.
fn apply_ledger(
    repo: &Repo,
    data: &mut PeriodData,
    ledger: &mut crate::ledger::Ledger,
    problems: &mut Vec<Problem>,
) {
    let (applied, misfits) = ledger.apply(data.dir.period, &crate::ledger::inputs(&data.rollup));
    problems.extend(crate::ledger::locate_misfits(&repo.root, &misfits));
    crate::ledger::totals(&applied, &mut data.currencies);
    data.ledger = applied;
    let mut taken: std::collections::HashSet<String> = data
        .file
        .statements
        .iter()
        .chain(&data.file.superseded)
        .map(|s| s.number.clone())
        .chain(data.numbers.values().cloned())
        .collect();
    for issued in &data.file.statements {
        let key = issued.key();
        let (Some(recorded), Some(now)) = (
            issued.ledger.as_ref(),
            crate::ledger::find(&data.ledger, &key),
        ) else {
            continue;
        };
        if data.numbers.get(&key) != Some(&issued.number)
            || *recorded == crate::ledger::record::record(now)
        {
            continue;
        }
        let mut n = crate::numbers::revised(&issued.number);
        while taken.contains(&n) {
            n = crate::numbers::revised(&n);
        }
        taken.insert(n.clone());
        data.numbers.insert(key.clone(), n);
        data.replaces.insert(key, issued.number.clone());
    }
}

/// The ledger on a closed period: what its statements issued.
fn replay_ledger(
    repo: &Repo,
    data: &mut PeriodData,
    ledger: &mut crate::ledger::Ledger,
    problems: &mut Vec<Problem>,
) {
    let recorded: BTreeMap<Key, &crate::ledger::record::Recorded> = data
        .file
        .statements
        .iter()
        .filter_map(|s| s.ledger.as_ref().map(|l| (s.key(), l)))
        .collect();
    let (applied, misfits, errors) = ledger.replay(
        data.dir.period,
        &crate::ledger::inputs(&data.rollup),
        &recorded,
    );
    problems.extend(crate::ledger::locate_misfits(&repo.root, &misfits));
    let shown = data.dir.shown("period.yaml");
    for (key, e) in errors {
        let number = data.numbers.get(&key).cloned().unwrap_or_default();
        let message = format!("statement {number}: its recorded ledger: {e}");
        problems.push(match crate::close::line_of(&data.dir, &number) {
            Some(l) => Problem::at(&shown, l, message),
            None => Problem::file(&shown, message),
        });
    }
    crate::ledger::totals(&applied, &mut data.currencies);
    data.ledger = applied;
}

/// Superseded statements with their recorded rows, rolled up to render again.
fn superseded(list: Vec<Issued>, rows: &[Row]) -> Result<Vec<Superseded>> {
    let mut out = Vec::new();
    for issued in list {
        let charges: Vec<Charge> = rows
            .iter()
            .filter(|r| r.statement == issued.number)
            .map(|r| r.charge.clone())
            .collect();
        let rollup = crate::rollup::rollup(&charges)?;
        out.push(Superseded {
            issued,
            rollup,
            charges,
        });
    }
    Ok(out)
}

/// A reopened period: statements issued before whose number is not given
/// again are superseded (by the reissue of the same key, or withdrawn).
fn reissued(data: &PeriodData, rows: &[Row]) -> Result<Vec<Superseded>> {
    let given: HashMap<&str, &Key> = data.numbers.iter().map(|(k, n)| (n.as_str(), k)).collect();
    let mut list = data.file.superseded.clone();
    for s in &data.file.statements {
        if given.contains_key(s.number.as_str()) {
            continue;
        }
        let mut s = s.clone();
        s.superseded_by = data.numbers.get(&s.key()).cloned();
        list.push(s);
    }
    superseded(list, rows)
}
