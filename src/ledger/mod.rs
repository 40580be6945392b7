//! Money that carries across months: fund splits, allocations (prepaid and
//! credit balances), credit programs and surcharges, applied to each period's
//! statements in order. Statements, CSVs, journals and pages read its result.

mod compute;
pub mod locate;
pub mod record;
pub mod terms;
pub mod view;

pub use compute::{
    AllocationState, Cell, Item, Ledger, Line, LineKind, Misfit, PeriodLedger, Share, Statement,
    StatementInput,
};

use crate::problem::Problem;
use crate::rollup::{self, Rollup, StatementKey};
use std::path::Path;

/// The period's statements as the ledger reads them: per statement (in the
/// rollup's key order) the billed amount of each service.
pub fn inputs(r: &Rollup) -> Vec<StatementInput> {
    r.statements
        .iter()
        .map(|g| StatementInput {
            currency: g.key.currency.clone(),
            pi: g.key.pi.clone(),
            project: g.key.project.clone(),
            fund: g.key.fund.clone(),
            items: rollup::of_statement(&r.services, &g.key)
                .iter()
                .map(|s| Item {
                    source: s.key.source.clone(),
                    service: s.key.service.clone(),
                    billed: s.sums.billed,
                })
                .collect(),
        })
        .collect()
}

/// Problems found while applying the ledger, located in `projects.yaml`.
pub fn locate_misfits(root: &Path, misfits: &[Misfit]) -> Vec<Problem> {
    let text = std::fs::read_to_string(root.join("projects.yaml")).unwrap_or_default();
    misfits
        .iter()
        .map(|m| locate::problem("projects.yaml", &text, &m.path, m.message.clone()))
        .collect()
}

/// The statement of `key` in a period's ledger (statements are in key order).
pub fn find<'a>(l: &'a PeriodLedger, key: &StatementKey) -> Option<&'a Statement> {
    l.statements
        .binary_search_by(|s| {
            (&s.currency, &s.pi, &s.project, &s.fund).cmp(&(
                &key.currency,
                &key.pi,
                &key.project,
                &key.fund,
            ))
        })
        .ok()
        .map(|i| &l.statements[i])
}

/// Per currency: the statements' usage, credits, surcharges and due.
pub fn totals(l: &PeriodLedger, currencies: &mut [crate::outputs::CurrencySummary]) {
    for c in currencies.iter_mut() {
        for s in l.statements.iter().filter(|s| s.currency == c.currency) {
            c.usage += s.usage;
            c.credits += s.credits;
            c.surcharges += s.surcharges;
            c.due += s.due;
        }
        for v in [&mut c.usage, &mut c.credits, &mut c.surcharges, &mut c.due] {
            *v = v.normalize();
        }
    }
}
