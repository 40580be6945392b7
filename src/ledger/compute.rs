//! The ledger's arithmetic: per statement, in order, usage → credit programs →
//! allocations → surcharges → fund split, every line in whole cents, with the
//! balances that carry from one period to the next.

use super::locate::Step;
use super::terms::{self, AllocationKind, Per, ProgramKind};
use crate::config::Config;
use crate::money::{allocate, round};
use crate::period::Period;
use crate::projects::Projects;
use regex::Regex;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One service's billed amount on a statement (a statement's usage).
#[derive(Debug, Clone)]
pub struct Item {
    pub source: String,
    pub service: String,
    pub billed: Decimal,
}

/// A statement before the ledger: its key and what was billed.
#[derive(Debug, Clone)]
pub struct StatementInput {
    pub currency: String,
    pub pi: String,
    pub project: String,
    pub fund: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    CreditProgram,
    Allocation,
    Surcharge,
}

/// A visible step on a statement after usage. `amount` is positive: credit
/// programs and allocations are subtracted, surcharges added.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub kind: LineKind,
    pub name: String,
    /// Prepaid or credit, for allocations.
    pub allocation: Option<AllocationKind>,
    /// First months or monthly cap, for credit programs.
    pub program: Option<ProgramKind>,
    pub amount: Decimal,
    /// Who pays (programs, allocations) or receives (surcharges).
    pub fund: String,
    pub by_source: Vec<(String, Decimal)>,
    /// Allocations: balance before and after this statement.
    pub opening: Option<Decimal>,
    pub closing: Option<Decimal>,
    /// Credit programs: what the holder may still receive under the program.
    pub remaining: Option<Decimal>,
    /// Surcharges: the percent and the amount it applied to.
    pub percent: Option<Decimal>,
    pub base: Option<Decimal>,
}

/// One fund's share of a statement's due.
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    pub fund: String,
    pub percent: Decimal,
    pub amount: Decimal,
}

/// A part of the due debited to one fund: a source's charges (`line: None`)
/// or a surcharge line on that source.
#[derive(Debug, Clone)]
pub struct Cell {
    pub source: String,
    pub line: Option<usize>,
    pub fund: String,
    pub amount: Decimal,
}

/// A statement after the ledger. `usage − credits + surcharges = due` and the
/// split's amounts add up to `due`, in whole cents.
#[derive(Debug, Clone)]
pub struct Statement {
    pub currency: String,
    pub pi: String,
    pub project: String,
    pub fund: String,
    pub usage: Decimal,
    pub usage_by_source: Vec<(String, Decimal)>,
    pub lines: Vec<Line>,
    pub credits: Decimal,
    pub surcharges: Decimal,
    pub due: Decimal,
    pub split: Vec<Share>,
    pub cells: Vec<Cell>,
}

impl Statement {
    pub fn key(&self) -> crate::rollup::StatementKey {
        crate::rollup::StatementKey {
            currency: self.currency.clone(),
            pi: self.pi.clone(),
            project: self.project.clone(),
            fund: self.fund.clone(),
        }
    }
}

/// An allocation's state at the end of a period.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationState {
    pub project: String,
    pub id: String,
    pub kind: AllocationKind,
    pub currency: String,
    pub amount: Decimal,
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
    pub drawn: Decimal,
    pub used: Decimal,
    pub remaining: Decimal,
}

#[derive(Debug, Clone, Default)]
pub struct PeriodLedger {
    pub statements: Vec<Statement>,
    pub allocations: Vec<AllocationState>,
}

/// Something wrong found while applying the ledger, at a path in projects.yaml.
#[derive(Debug, Clone)]
pub struct Misfit {
    pub path: Vec<Step>,
    pub message: String,
}

struct Program {
    terms: terms::CreditProgram,
    exclude: Vec<Regex>,
}

struct Surcharge {
    terms: terms::Surcharge,
    services: Vec<Regex>,
    exempt: Vec<Regex>,
}

/// The state that carries across periods. Feed it every period in order.
pub struct Ledger {
    currency: String,
    projects: Projects,
    programs: Vec<Program>,
    surcharges: Vec<Surcharge>,
    /// Per project: its allocations' service patterns.
    services: HashMap<String, Vec<Vec<Regex>>>,
    first_seen: HashMap<(Per, String), Period>,
    /// first_months: what each holder has received so far, per program.
    received: HashMap<(usize, String), Decimal>,
    /// Per (project, allocation index): drawn so far.
    drawn: HashMap<(String, usize), Decimal>,
    reported: HashSet<(String, usize)>,
}

/// A statement's items in whole cents while the steps draw them down.
struct Work {
    items: Vec<(String, String, Decimal)>,
}

impl Work {
    /// Take up to `limit` from the items that `matches` accepts: nothing when
    /// they net to zero or less, and from positive items in order, so that the
    /// taken amount is known per source.
    fn draw(
        &mut self,
        matches: &dyn Fn(&str, &str) -> bool,
        limit: Decimal,
    ) -> (Decimal, Vec<(String, Decimal)>) {
        let eligible: Decimal = self
            .items
            .iter()
            .filter(|i| matches(&i.0, &i.1))
            .map(|i| i.2)
            .sum();
        let take = limit.min(eligible).max(Decimal::ZERO);
        let mut left = take;
        let mut by_source: BTreeMap<String, Decimal> = BTreeMap::new();
        for item in self.items.iter_mut().filter(|i| matches(&i.0, &i.1)) {
            if left.is_zero() {
                break;
            }
            let t = item.2.min(left);
            if t > Decimal::ZERO {
                item.2 -= t;
                left -= t;
                *by_source.entry(item.0.clone()).or_default() += t;
            }
        }
        (take, by_source.into_iter().collect())
    }

    fn by_source(&self, matches: &dyn Fn(&str, &str) -> bool) -> Vec<(String, Decimal)> {
        let mut m: BTreeMap<String, Decimal> = BTreeMap::new();
        for i in self.items.iter().filter(|i| matches(&i.0, &i.1)) {
            *m.entry(i.0.clone()).or_default() += i.2;
        }
        m.into_iter().collect()
    }
}

/// A statement's items in whole cents (the due's cents by largest remainder).
fn work_of(s: &StatementInput) -> Work {
    let cents = allocate(
        &s.items.iter().map(|i| i.billed).collect::<Vec<_>>(),
        &s.currency,
    );
    Work {
        items: s
            .items
            .iter()
            .zip(cents)
            .map(|(i, c)| (i.source.clone(), i.service.clone(), c))
            .collect(),
    }
}

fn usage_by_source(s: &StatementInput) -> Vec<(String, Decimal)> {
    work_of(s).by_source(&|_, _| true)
}

fn key_of(s: &StatementInput) -> crate::rollup::StatementKey {
    crate::rollup::StatementKey {
        currency: s.currency.clone(),
        pi: s.pi.clone(),
        project: s.project.clone(),
        fund: s.fund.clone(),
    }
}

fn source_ok(list: &[String], source: &str) -> bool {
    list.is_empty() || list.iter().any(|s| s == source)
}

impl Ledger {
    /// What this ledger carries into the next period, in a stable order:
    /// part of the per-period cache key (`crate::cache`).
    pub fn fingerprint(&self) -> String {
        let mut first: Vec<_> = self
            .first_seen
            .iter()
            .map(|(k, v)| format!("{k:?}={v}"))
            .collect();
        let mut received: Vec<_> = self
            .received
            .iter()
            .map(|(k, v)| format!("{k:?}={v}"))
            .collect();
        let mut drawn: Vec<_> = self
            .drawn
            .iter()
            .map(|(k, v)| format!("{k:?}={v}"))
            .collect();
        let mut reported: Vec<_> = self.reported.iter().map(|k| format!("{k:?}")).collect();
        for v in [&mut first, &mut received, &mut drawn, &mut reported] {
            v.sort();
        }
        format!(
            "first_seen {}\nreceived {}\ndrawn {}\nreported {}",
            first.join(";"),
            received.join(";"),
            drawn.join(";"),
            reported.join(";")
        )
    }

    pub fn new(config: &Config, projects: &Projects) -> Ledger {
        let programs = config
            .credits
            .iter()
            .map(|p| Program {
                exclude: terms::compile(&p.exclude_services),
                terms: p.clone(),
            })
            .collect();
        let surcharges = config
            .surcharges
            .iter()
            .map(|s| Surcharge {
                services: terms::compile(&s.services),
                exempt: terms::compile(&s.exempt_funds),
                terms: s.clone(),
            })
            .collect();
        // The first project of an id, as `Projects::get` finds it.
        let mut services = HashMap::new();
        for p in projects.all() {
            services.entry(p.id.clone()).or_insert_with(|| {
                p.allocations
                    .iter()
                    .map(|a| terms::compile(&a.services))
                    .collect()
            });
        }
        Ledger {
            currency: config.currency.clone(),
            projects: projects.clone(),
            programs,
            surcharges,
            services,
            first_seen: HashMap::new(),
            received: HashMap::new(),
            drawn: HashMap::new(),
            reported: HashSet::new(),
        }
    }

    /// Apply the ledger to one period's statements (in key order: currency,
    /// PI, project, fund). Periods must come in order.
    pub fn apply(
        &mut self,
        period: Period,
        inputs: &[StatementInput],
    ) -> (PeriodLedger, Vec<Misfit>) {
        for s in inputs.iter().filter(|s| !s.items.is_empty()) {
            self.first_seen
                .entry((Per::Pi, s.pi.clone()))
                .or_insert(period);
            self.first_seen
                .entry((Per::Project, s.project.clone()))
                .or_insert(period);
        }
        let misfits = self.currency_misfits(period, inputs);
        let mut this_month: HashMap<(usize, String), Decimal> = HashMap::new();
        let mut drawn_now: HashMap<(String, usize), Decimal> = HashMap::new();
        let statements = inputs
            .iter()
            .map(|s| self.statement(period, s, &mut this_month, &mut drawn_now))
            .collect();
        let allocations = self.allocation_states(&drawn_now);
        (
            PeriodLedger {
                statements,
                allocations,
            },
            misfits,
        )
    }

    /// A closed period: each statement with a recorded ledger (`recorded`,
    /// by key) shows what it issued, and the balances move by what was
    /// recorded; statements closed before ledgers were recorded are computed
    /// as in `apply`. Errors are records that do not read back, by key.
    pub fn replay(
        &mut self,
        period: Period,
        inputs: &[StatementInput],
        recorded: &BTreeMap<crate::rollup::StatementKey, &super::record::Recorded>,
    ) -> (
        PeriodLedger,
        Vec<Misfit>,
        Vec<(crate::rollup::StatementKey, String)>,
    ) {
        for s in inputs.iter().filter(|s| !s.items.is_empty()) {
            self.first_seen
                .entry((Per::Pi, s.pi.clone()))
                .or_insert(period);
            self.first_seen
                .entry((Per::Project, s.project.clone()))
                .or_insert(period);
        }
        let computed: Vec<StatementInput> = inputs
            .iter()
            .filter(|s| !recorded.contains_key(&key_of(s)))
            .cloned()
            .collect();
        let misfits = self.currency_misfits(period, &computed);
        let mut this_month: HashMap<(usize, String), Decimal> = HashMap::new();
        let mut drawn_now: HashMap<(String, usize), Decimal> = HashMap::new();
        let mut errors = Vec::new();
        let mut statements = Vec::new();
        for s in inputs {
            let key = key_of(s);
            let Some(r) = recorded.get(&key) else {
                statements.push(self.statement(period, s, &mut this_month, &mut drawn_now));
                continue;
            };
            match self.restored(s, r, &mut this_month, &mut drawn_now) {
                Ok(st) => statements.push(st),
                Err(e) => {
                    errors.push((key, e));
                    statements.push(self.statement(period, s, &mut this_month, &mut drawn_now));
                }
            }
        }
        let allocations = self.allocation_states(&drawn_now);
        (
            PeriodLedger {
                statements,
                allocations,
            },
            misfits,
            errors,
        )
    }

    /// A statement from its record; the balances move by its lines.
    fn restored(
        &mut self,
        s: &StatementInput,
        r: &super::record::Recorded,
        this_month: &mut HashMap<(usize, String), Decimal>,
        drawn_now: &mut HashMap<(String, usize), Decimal>,
    ) -> Result<Statement, String> {
        let r = super::record::restore(r)?;
        let usage_by_source = usage_by_source(s);
        let usage: Decimal = usage_by_source.iter().map(|x| x.1).sum();
        if usage != r.usage {
            return Err(format!(
                "the recorded usage {} is not the issued rows' {}",
                r.usage.normalize(),
                usage.normalize()
            ));
        }
        let mut left: BTreeMap<String, Decimal> = usage_by_source.iter().cloned().collect();
        for l in r.lines.iter().filter(|l| l.kind != LineKind::Surcharge) {
            for (source, a) in &l.by_source {
                *left.entry(source.clone()).or_default() -= a;
            }
            match l.kind {
                LineKind::CreditProgram => {
                    let found = self
                        .programs
                        .iter()
                        .position(|p| p.terms.name == l.name && Some(p.terms.kind) == l.program);
                    if let Some(n) = found {
                        let holder = match self.programs[n].terms.per {
                            Per::Pi => s.pi.clone(),
                            Per::Project => s.project.clone(),
                        };
                        let book = match self.programs[n].terms.kind {
                            ProgramKind::FirstMonths => &mut self.received,
                            ProgramKind::MonthlyCap => &mut *this_month,
                        };
                        *book.entry((n, holder)).or_default() += l.amount;
                    }
                }
                LineKind::Allocation => {
                    let found = self.projects.get(&s.project).and_then(|p| {
                        p.allocations
                            .iter()
                            .position(|a| a.id == l.name)
                            .map(|j| (p.id.clone(), j))
                    });
                    if let Some(key) = found {
                        *self.drawn.entry(key.clone()).or_default() += l.amount;
                        *drawn_now.entry(key).or_default() += l.amount;
                    }
                }
                LineKind::Surcharge => {}
            }
        }
        let left: Vec<(String, Decimal)> = left.into_iter().collect();
        let cells = cells(&left, &r.lines, &r.split, &s.currency);
        Ok(Statement {
            currency: s.currency.clone(),
            pi: s.pi.clone(),
            project: s.project.clone(),
            fund: s.fund.clone(),
            usage,
            usage_by_source,
            lines: r.lines,
            credits: r.credits,
            surcharges: r.surcharges,
            due: r.due,
            split: r.split,
            cells,
        })
    }

    fn statement(
        &mut self,
        period: Period,
        s: &StatementInput,
        this_month: &mut HashMap<(usize, String), Decimal>,
        drawn_now: &mut HashMap<(String, usize), Decimal>,
    ) -> Statement {
        let mut work = work_of(s);
        let usage_by_source = work.by_source(&|_, _| true);
        let usage: Decimal = usage_by_source.iter().map(|x| x.1).sum();
        let mut lines = self.programs_applied(period, s, &mut work, this_month);
        lines.extend(self.allocations_drawn(period, s, &mut work, drawn_now));
        let credits: Decimal = lines.iter().map(|l| l.amount).sum();
        lines.extend(self.surcharges_added(s, &work));
        let surcharges: Decimal = lines
            .iter()
            .filter(|l| l.kind == LineKind::Surcharge)
            .map(|l| l.amount)
            .sum();
        let due = usage - credits + surcharges;
        let shares = self.shares(s);
        let amounts = allocate(
            &shares
                .iter()
                .map(|(_, p)| due * p / Decimal::ONE_HUNDRED)
                .collect::<Vec<_>>(),
            &s.currency,
        );
        let split: Vec<Share> = shares
            .into_iter()
            .zip(amounts)
            .map(|((fund, percent), amount)| Share {
                fund,
                percent,
                amount,
            })
            .collect();
        let cells = cells(&work.by_source(&|_, _| true), &lines, &split, &s.currency);
        Statement {
            currency: s.currency.clone(),
            pi: s.pi.clone(),
            project: s.project.clone(),
            fund: s.fund.clone(),
            usage,
            usage_by_source,
            lines,
            credits,
            surcharges,
            due,
            split,
            cells,
        }
    }

    fn programs_applied(
        &mut self,
        period: Period,
        s: &StatementInput,
        work: &mut Work,
        this_month: &mut HashMap<(usize, String), Decimal>,
    ) -> Vec<Line> {
        let mut lines = Vec::new();
        if s.currency != self.currency {
            return lines;
        }
        for (n, p) in self.programs.iter().enumerate() {
            let holder = match p.terms.per {
                Per::Pi => s.pi.clone(),
                Per::Project => s.project.clone(),
            };
            let amount = round(p.terms.amount.0, &s.currency);
            let available = match p.terms.kind {
                ProgramKind::FirstMonths => {
                    let Some(first) = self.first_seen.get(&(p.terms.per, holder.clone())) else {
                        continue;
                    };
                    let months = p.terms.months.unwrap_or(0);
                    let mut last = *first;
                    (1..months).for_each(|_| last = last.next());
                    if months == 0 || period > last {
                        continue;
                    }
                    amount
                        - self
                            .received
                            .get(&(n, holder.clone()))
                            .copied()
                            .unwrap_or_default()
                }
                ProgramKind::MonthlyCap => {
                    amount
                        - this_month
                            .get(&(n, holder.clone()))
                            .copied()
                            .unwrap_or_default()
                }
            };
            if available <= Decimal::ZERO {
                continue;
            }
            let matches = |source: &str, service: &str| {
                source_ok(&p.terms.sources, source)
                    && !p.exclude.iter().any(|r| r.is_match(service))
            };
            let (taken, by_source) = work.draw(&matches, available);
            if taken.is_zero() {
                continue;
            }
            let book = match p.terms.kind {
                ProgramKind::FirstMonths => &mut self.received,
                ProgramKind::MonthlyCap => &mut *this_month,
            };
            *book.entry((n, holder)).or_default() += taken;
            lines.push(Line {
                kind: LineKind::CreditProgram,
                name: p.terms.name.clone(),
                allocation: None,
                program: Some(p.terms.kind),
                amount: taken,
                fund: p.terms.paid_by.clone(),
                by_source,
                opening: None,
                closing: None,
                remaining: Some(available - taken),
                percent: None,
                base: None,
            });
        }
        lines
    }

    fn allocations_drawn(
        &mut self,
        period: Period,
        s: &StatementInput,
        work: &mut Work,
        drawn_now: &mut HashMap<(String, usize), Decimal>,
    ) -> Vec<Line> {
        let mut lines = Vec::new();
        let Some(project) = self.projects.get(&s.project) else {
            return lines;
        };
        let patterns = &self.services[&project.id];
        for (j, a) in project.allocations.iter().enumerate() {
            let currency = a.currency.as_deref().unwrap_or(&self.currency);
            let (first, last) = (
                period.first_day(),
                period
                    .next()
                    .first_day()
                    .pred_opt()
                    .unwrap_or(period.first_day()),
            );
            if currency != s.currency || a.start > last || a.end < first {
                continue;
            }
            let key = (project.id.clone(), j);
            let opening =
                round(a.amount.0, currency) - self.drawn.get(&key).copied().unwrap_or_default();
            if opening <= Decimal::ZERO {
                continue;
            }
            let matches = |source: &str, service: &str| {
                source_ok(&a.sources, source)
                    && (patterns[j].is_empty() || patterns[j].iter().any(|r| r.is_match(service)))
            };
            let (taken, by_source) = work.draw(&matches, opening);
            *self.drawn.entry(key.clone()).or_default() += taken;
            *drawn_now.entry(key).or_default() += taken;
            let paid_by = a.paid_by.clone().unwrap_or_else(|| {
                if project.fund_org.is_empty() {
                    s.fund.clone()
                } else {
                    project.fund_org.clone()
                }
            });
            lines.push(Line {
                kind: LineKind::Allocation,
                name: a.id.clone(),
                allocation: Some(a.kind),
                program: None,
                amount: taken,
                fund: paid_by,
                by_source,
                opening: Some(opening),
                closing: Some(opening - taken),
                remaining: None,
                percent: None,
                base: None,
            });
        }
        lines
    }

    fn surcharges_added(&self, s: &StatementInput, work: &Work) -> Vec<Line> {
        let mut lines = Vec::new();
        for sc in &self.surcharges {
            if sc.exempt.iter().any(|r| r.is_match(&s.fund)) {
                continue;
            }
            let matches = |source: &str, service: &str| {
                source_ok(&sc.terms.sources, source)
                    && (sc.services.is_empty() || sc.services.iter().any(|r| r.is_match(service)))
            };
            let base = work.by_source(&matches);
            let total: Decimal = base.iter().map(|b| b.1).sum();
            if total <= Decimal::ZERO {
                continue;
            }
            let pct = sc.terms.percent.0;
            let parts = allocate(
                &base
                    .iter()
                    .map(|b| b.1 * pct / Decimal::ONE_HUNDRED)
                    .collect::<Vec<_>>(),
                &s.currency,
            );
            let amount: Decimal = parts.iter().sum();
            if amount.is_zero() {
                continue;
            }
            lines.push(Line {
                kind: LineKind::Surcharge,
                name: sc.terms.name.clone(),
                allocation: None,
                program: None,
                amount,
                fund: sc.terms.paid_to.clone(),
                by_source: base.iter().map(|b| b.0.clone()).zip(parts).collect(),
                opening: None,
                closing: None,
                remaining: None,
                percent: Some(pct),
                base: Some(total),
            });
        }
        lines
    }

    /// The project's split when the statement is on the project's own fund;
    /// a charge reassigned to another fund stays wholly on that fund.
    fn shares(&self, s: &StatementInput) -> Vec<(String, Decimal)> {
        match self.projects.get(&s.project) {
            Some(p) if !p.funds.is_empty() && (p.fund_org.is_empty() || p.fund_org == s.fund) => p
                .funds
                .iter()
                .map(|f| (f.fund_org.clone(), f.percent.0))
                .collect(),
            _ => vec![(s.fund.clone(), Decimal::ONE_HUNDRED)],
        }
    }

    /// An active allocation of a project billed this period only in other currencies.
    fn currency_misfits(&mut self, period: Period, inputs: &[StatementInput]) -> Vec<Misfit> {
        let mut out = Vec::new();
        let mut billed: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
        for s in inputs.iter().filter(|s| !s.items.is_empty()) {
            billed.entry(&s.project).or_default().insert(&s.currency);
        }
        for (project, currencies) in billed {
            let Some(found) = self.projects.get(project) else {
                continue;
            };
            for (j, a) in found.allocations.iter().enumerate() {
                let currency = a.currency.as_deref().unwrap_or(&self.currency);
                let active = a.start < period.next().first_day() && a.end >= period.first_day();
                if !active
                    || currencies.contains(currency)
                    || !self.reported.insert((project.to_string(), j))
                {
                    continue;
                }
                // Its place in the file, asked only for a problem (a period
                // with a problem is never cached).
                let i = self.projects.position(project).map_or(0, |(i, _)| i);
                let mut path = vec![Step::Index(i), Step::Key("allocations"), Step::Index(j)];
                if a.currency.is_some() {
                    path.push(Step::Key("currency"));
                }
                let found: Vec<&str> = currencies
                    .iter()
                    .copied()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                out.push(Misfit {
                    path,
                    message: format!(
                        "allocation `{}` of project `{project}` is in {currency}, but the project's charges in {period} are in {}: an allocation is never drawn in another currency",
                        a.id,
                        found.join(", ")
                    ),
                });
            }
        }
        out
    }

    fn allocation_states(
        &self,
        drawn_now: &HashMap<(String, usize), Decimal>,
    ) -> Vec<AllocationState> {
        let mut out = Vec::new();
        for p in self.projects.with_allocations() {
            for (j, a) in p.allocations.iter().enumerate() {
                let key = (p.id.clone(), j);
                let currency = a.currency.clone().unwrap_or_else(|| self.currency.clone());
                let amount = round(a.amount.0, &currency);
                let used = self.drawn.get(&key).copied().unwrap_or_default();
                out.push(AllocationState {
                    project: p.id.clone(),
                    id: a.id.clone(),
                    kind: a.kind,
                    currency,
                    amount,
                    start: a.start,
                    end: a.end,
                    drawn: drawn_now.get(&key).copied().unwrap_or_default(),
                    used,
                    remaining: amount - used,
                });
            }
        }
        out
    }
}

/// Split every part of the due (each source's charges, each surcharge on
/// each source) across the funds so that each fund's cells add up to its
/// share exactly: every part but the last by largest remainder, the last
/// takes what is left of each share.
fn cells(core: &[(String, Decimal)], lines: &[Line], split: &[Share], currency: &str) -> Vec<Cell> {
    let mut parts: Vec<(String, Option<usize>, Decimal)> =
        core.iter().map(|(s, a)| (s.clone(), None, *a)).collect();
    for (n, l) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.kind == LineKind::Surcharge)
    {
        parts.extend(l.by_source.iter().map(|(s, a)| (s.clone(), Some(n), *a)));
    }
    let mut left: Vec<Decimal> = split.iter().map(|s| s.amount).collect();
    let mut out = Vec::new();
    for (k, (source, line, amount)) in parts.iter().enumerate() {
        let row = if k + 1 == parts.len() {
            left.clone()
        } else {
            allocate(
                &split
                    .iter()
                    .map(|s| *amount * s.percent / Decimal::ONE_HUNDRED)
                    .collect::<Vec<_>>(),
                currency,
            )
        };
        for ((share, cell), rest) in split.iter().zip(row).zip(left.iter_mut()) {
            *rest -= cell;
            out.push(Cell {
                source: source.clone(),
                line: *line,
                fund: share.fund.clone(),
                amount: cell,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn cells_add_up_to_each_share_and_each_part() {
        let core = [
            ("aws".to_string(), d("10.01")),
            ("hpc".to_string(), d("0.03")),
        ];
        let surcharge = Line {
            kind: LineKind::Surcharge,
            name: "F&A".into(),
            allocation: None,
            program: None,
            amount: d("0.85"),
            fund: "OH".into(),
            by_source: vec![("aws".into(), d("0.85"))],
            opening: None,
            closing: None,
            remaining: None,
            percent: Some(d("8.5")),
            base: Some(d("10.01")),
        };
        let due = d("10.89");
        let split: Vec<Share> = [("A", "33.3"), ("B", "66.7")]
            .iter()
            .zip(allocate(&[due * d("0.333"), due * d("0.667")], "USD"))
            .map(|((f, p), amount)| Share {
                fund: f.to_string(),
                percent: d(p),
                amount,
            })
            .collect();
        let out = cells(&core, &[surcharge], &split, "USD");
        assert_eq!(out.len(), 6);
        for share in &split {
            let sum: Decimal = out
                .iter()
                .filter(|c| c.fund == share.fund)
                .map(|c| c.amount)
                .sum();
            assert_eq!(sum, share.amount, "{}", share.fund);
        }
        let part = |source: &str, line: Option<usize>| -> Decimal {
            out.iter()
                .filter(|c| c.source == source && c.line == line)
                .map(|c| c.amount)
                .sum()
        };
        assert_eq!(part("aws", None), d("10.01"));
        assert_eq!(part("hpc", None), d("0.03"));
        assert_eq!(part("aws", Some(0)), d("0.85"));
    }

    #[test]
    fn a_draw_takes_from_positive_items_and_never_more_than_they_net() {
        let mut w = Work {
            items: vec![
                ("aws".into(), "EC2".into(), d("5.00")),
                ("aws".into(), "Credit".into(), d("-2.00")),
                ("hpc".into(), "Nodes".into(), d("4.00")),
            ],
        };
        let all = |_: &str, _: &str| true;
        let (taken, by_source) = w.draw(&all, d("100"));
        assert_eq!(taken, d("7.00"));
        assert_eq!(
            by_source,
            [
                ("aws".to_string(), d("5.00")),
                ("hpc".to_string(), d("2.00"))
            ]
        );
        let (taken, _) = w.draw(&all, d("100"));
        assert_eq!(taken, Decimal::ZERO);
    }
}
