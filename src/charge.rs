//! A charge: one FOCUS row with where it came from, who it is attributed to,
//! the flags raised on it and the one state it ends in.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::Arc;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Billed,
    Held,
    Rejected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Billed => "billed",
            State::Held => "held",
            State::Rejected => "rejected",
        }
    }
}

/// Who pays for a charge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    pub pi_email: Arc<str>,
    pub project_id: Arc<str>,
    pub fund_org: Arc<str>,
    pub cost_center: Arc<str>,
    pub reference_1: Arc<str>,
    pub reference_2: Arc<str>,
}

/// The stable code of a review flag (`review.rules` keys, charges.csv `flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagCode {
    MissingPiEmail,
    InvalidPiEmail,
    MissingProjectId,
    MissingFundOrg,
    InvalidFundOrg,
    PatternMatch,
    PeriodMismatch,
    BilledOverList,
    NegativeCost,
    DuplicateRow,
    ProjectExpired,
    CostSpike,
    UnknownProject,
}

impl FlagCode {
    /// Every code, in the order `review.rules` errors list them.
    pub const ALL: [FlagCode; 13] = [
        FlagCode::MissingPiEmail,
        FlagCode::InvalidPiEmail,
        FlagCode::MissingProjectId,
        FlagCode::MissingFundOrg,
        FlagCode::InvalidFundOrg,
        FlagCode::PatternMatch,
        FlagCode::PeriodMismatch,
        FlagCode::BilledOverList,
        FlagCode::NegativeCost,
        FlagCode::DuplicateRow,
        FlagCode::ProjectExpired,
        FlagCode::CostSpike,
        FlagCode::UnknownProject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlagCode::MissingPiEmail => "missing_pi_email",
            FlagCode::InvalidPiEmail => "invalid_pi_email",
            FlagCode::MissingProjectId => "missing_project_id",
            FlagCode::MissingFundOrg => "missing_fund_org",
            FlagCode::InvalidFundOrg => "invalid_fund_org",
            FlagCode::PatternMatch => "pattern_match",
            FlagCode::PeriodMismatch => "period_mismatch",
            FlagCode::BilledOverList => "billed_over_list",
            FlagCode::NegativeCost => "negative_cost",
            FlagCode::DuplicateRow => "duplicate_row",
            FlagCode::ProjectExpired => "project_expired",
            FlagCode::CostSpike => "cost_spike",
            FlagCode::UnknownProject => "unknown_project",
        }
    }

    pub fn parse(code: &str) -> Option<FlagCode> {
        FlagCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for FlagCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A review flag: a stable code and what exactly was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub code: FlagCode,
    pub detail: String,
    /// Whether this flag holds the charge (per `review.rules`), or only warns.
    pub holds: bool,
}

/// Fields in this order (`repr(C)`): what the charge browser shows of a
/// row comes first, in the first `SHOWN` bytes. The browser visits a
/// month's rows by project, out of memory order, and asks for each row's
/// memory ahead (`charge_data::shard`): three cache lines of it, not all
/// five of a charge.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Charge {
    pub flags: Vec<Flag>,
    /// 12 hex digits (20 after a clash): kept inline, not on the heap.
    pub id: compact_str::CompactString,
    pub source: Arc<str>,
    /// Path relative to the repository root, for messages and charges.csv.
    pub file: Arc<str>,
    pub currency: Arc<str>,
    /// Shared by the rows of one file that describe their charge alike.
    pub dims: Arc<Dimensions>,
    /// Shared by the rows attributed alike (`attribute::attribute`).
    pub attribution: Arc<Attribution>,
    pub line: u64,
    pub billed: Decimal,
    pub list: Decimal,
    pub state: State,
    pub has_list: bool,
    pub contracted: Decimal,
    pub effective: Decimal,
    pub consumed_quantity: Option<Decimal>,
    pub billing_period_start: NaiveDate,
    pub charge_period_start: Option<NaiveDate>,
    /// Index into the period's decisions, when one applies (32 bits: a
    /// million charges are a million of these).
    pub decision: Option<u32>,
    /// Hash of the row's content without its occurrence index: equal for duplicates.
    pub content: [u8; 16],
    /// None when the file has no columns ocb gives no meaning to; shared by
    /// rows whose cells are alike.
    pub extra: Option<Arc<Extra>>,
    pub tags: Tags,
    /// Set on a correction to a closed period (see `correct`).
    pub origin: Option<Box<Origin>>,
}

/// The bytes of a `Charge` the charge browser reads: up to its state.
pub const SHOWN: usize = std::mem::offset_of!(Charge, has_list);

/// The text columns that describe a charge: what was used, where and how it
/// is classed. The hourly rows of one resource repeat them, so rows share one
/// `Arc<Dimensions>` (`load::Table`): a million-row month holds a few
/// thousand of these, not a million.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dimensions {
    pub service_name: Arc<str>,
    pub service_category: Arc<str>,
    pub resource_id: Arc<str>,
    pub resource_name: Arc<str>,
    pub charge_category: Arc<str>,
    pub charge_class: Arc<str>,
    pub description: Arc<str>,
    pub consumed_unit: Arc<str>,
    pub sub_account_id: Arc<str>,
    pub billing_account_id: Arc<str>,
}

/// A row's cells of the columns ocb gives no meaning to (`x_` and others),
/// carried to charges.csv. Apart from `Dimensions`: such a column often
/// differs on every row (a cost in another currency, a usage id), and the
/// rows of one resource still share their dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// The columns' names, shared by the rows of a file.
    pub names: Arc<[Arc<str>]>,
    /// Each column's cell, in `names` order.
    pub values: Box<[Arc<str>]>,
}

/// What a correction line corrects: a row of a closed period's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub period: crate::period::Period,
    /// The issued statement the row was (or would have been) on; empty if none.
    pub statement: String,
    /// True when the issued row is taken back (its amounts negated here).
    pub removed: bool,
    /// The corrected row's charge id; empty for a row of the open period's own
    /// inputs that belongs to the closed period (a late or `Correction` row).
    pub target: String,
}

impl Charge {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    pub fn flag_codes(&self) -> String {
        self.flags
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>()
            .join(";")
    }

    pub fn is_correction(&self) -> bool {
        self.dims.charge_class.eq_ignore_ascii_case("correction")
    }
}

/// A charge's tags, as (key, value) pairs. Rows with the same Tags cell share
/// one list (`Interner::tags`).
pub type Tags = Arc<[(Arc<str>, Arc<str>)]>;

/// Shares repeated strings (services, currencies, PIs) between charges, so a
/// million-row month stays small in memory.
#[derive(Default)]
pub struct Interner {
    set: FastSet<Arc<str>>,
    /// Tags cells read before, and their tags: an hourly export repeats each
    /// resource's cell on every row.
    tags: FastMap<Box<str>, Tags>,
    /// Cells looked up and not found: when most are new (a tag unique to
    /// each row), the cells are no longer kept.
    tag_cells: usize,
    tag_misses: usize,
}

/// Whether a memo of `seen` lookups, `missed` of them new, stopped paying:
/// three in four new after 65,536 lookups (the first rows of a file are
/// all new, so it is not judged on them).
pub fn mostly_new(missed: usize, seen: usize) -> bool {
    seen >= 1 << 16 && missed * 4 > seen * 3
}

/// The values that occur more than once, found by sorting them (8 bytes a
/// row, on every core) rather than by a hash set of every row.
pub fn repeated(mut values: Vec<u64>) -> FastSet<u64> {
    use rayon::prelude::*;
    values.par_sort_unstable();
    repeated_in_sorted(&values)
}

/// The values that occur more than once in `sorted`.
pub fn repeated_in_sorted(sorted: &[u64]) -> FastSet<u64> {
    sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect()
}

/// Hash maps and sets on a million rows' hot paths: foldhash, several times
/// faster than the standard SipHash on short keys (the keys are the user's
/// own data, not an attacker's).
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(a.clone());
        a
    }

    /// The tags of a FOCUS Tags cell (`focus::parse_tags`), parsed once per
    /// distinct cell.
    pub fn tags(&mut self, cell: &str) -> Result<Tags, String> {
        self.tag_cells += 1;
        if let Some(t) = self.tags.get(cell) {
            return Ok(t.clone());
        }
        let parsed = crate::focus::parse_tags(cell)?;
        let tags: Tags = parsed
            .into_iter()
            .map(|(k, v)| (self.get(&k), self.get(&v)))
            .collect();
        self.tag_misses += 1;
        if mostly_new(self.tag_misses, self.tag_cells) {
            self.tags = FastMap::default();
        } else {
            self.tags.insert(cell.into(), tags.clone());
        }
        Ok(tags)
    }
}

#[cfg(test)]
mod tests {
    /// A million-row month is a million of these in memory: keep an eye on it.
    #[test]
    fn a_charge_stays_small() {
        let size = std::mem::size_of::<super::Charge>();
        println!("size_of::<Charge>() = {size}");
        // Tags, dimensions and attribution are shared between rows (an Arc each).
        assert!(size <= 272, "Charge grew to {size} bytes");
    }
}
