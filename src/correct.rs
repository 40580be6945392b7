//! Corrections to closed periods: the row-level difference between what a
//! closed period issued and what its inputs say now, as correction charges
//! posted into the first open period after it. A correction is one signed
//! row: an added row (or a changed row's new version), or an issued row taken
//! back (amounts negated). Its id is a hash of what it corrects, so the same
//! difference always gives the same ids, and corrections already issued in a
//! later closed period are recognised and not posted again.

use crate::charge::{Charge, Origin, State};
use crate::period::Period;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Everything about a row that decides what was billed for it: its content
/// (the id), who paid, and the amounts.
fn row_key(c: &Charge) -> String {
    let a = &c.attribution;
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        c.id,
        c.currency,
        a.pi_email,
        a.project_id,
        a.fund_org,
        c.billed.normalize(),
        c.list.normalize(),
        c.contracted.normalize(),
        c.effective.normalize(),
        c.consumed_quantity.unwrap_or_default().normalize()
    )
}

fn correction_id(period: Period, removed: bool, row: &Charge) -> String {
    let mut h = Sha256::new();
    h.update(period.to_string().as_bytes());
    h.update(if removed { b"-" } else { b"+" });
    h.update(row_key(row).as_bytes());
    let d = h.finalize();
    format!("c{}", hex::encode(&d[..6]))
}

/// The correction charge for `row` of `period`: added, or taken back.
pub fn correction(period: Period, statement: &str, removed: bool, row: &Charge) -> Charge {
    let mut c = row.clone();
    c.id = correction_id(period, removed, row).into();
    if removed {
        c.billed = -c.billed;
        c.list = -c.list;
        c.contracted = -c.contracted;
        c.effective = -c.effective;
        c.consumed_quantity = c.consumed_quantity.map(|q| -q);
    }
    Arc::make_mut(&mut c.dims).charge_class = Arc::from("Correction");
    c.flags = Vec::new();
    c.state = State::Billed;
    c.decision = None;
    c.content = [0; 16];
    for (i, b) in c.id.bytes().take(16).enumerate() {
        c.content[i] = b;
    }
    c.origin = Some(Box::new(Origin {
        period,
        statement: statement.to_string(),
        removed,
        target: row.id.to_string(),
    }));
    c
}

/// The row a correction was made from, with its original amounts.
fn original(c: &Charge) -> Charge {
    let mut r = c.clone();
    if let Some(o) = c.origin.as_deref() {
        r.id = o.target.as_str().into();
        if o.removed {
            r.billed = -r.billed;
            r.list = -r.list;
            r.contracted = -r.contracted;
            r.effective = -r.effective;
            r.consumed_quantity = r.consumed_quantity.map(|q| -q);
        }
    }
    r
}

/// Rows billed now but not as issued (added), and issued rows not billed
/// like that now (taken back). `issued` pairs each row with its statement;
/// `statement_of` names the issued statement an added row belongs to.
pub fn diff(
    period: Period,
    issued: &[(&str, &Charge)],
    current: &[&Charge],
    statement_of: &dyn Fn(&Charge) -> String,
) -> Vec<Charge> {
    let mut left: HashMap<String, u32> = HashMap::with_capacity(issued.len());
    for (_, c) in issued {
        *left.entry(row_key(c)).or_default() += 1;
    }
    let mut out = Vec::new();
    for c in current {
        match left.get_mut(&row_key(c)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(correction(period, &statement_of(c), false, c)),
        }
    }
    for (statement, c) in issued {
        if let Some(n) = left.get_mut(&row_key(c))
            && *n > 0
        {
            *n -= 1;
            out.push(correction(period, statement, true, c));
        }
    }
    out
}

/// Corrections waiting for the first open period, by id.
#[derive(Default)]
pub struct Pending {
    by_id: BTreeMap<compact_str::CompactString, Charge>,
}

impl Pending {
    pub fn add(&mut self, c: Charge) {
        self.by_id.insert(c.id.clone(), c);
    }

    /// A correction issued in a later closed period: it is not posted again;
    /// if the difference it posted is gone, it is reversed.
    pub fn posted(&mut self, c: &Charge) {
        if c.origin.as_deref().is_some_and(|o| o.target.is_empty()) {
            return;
        }
        if self.by_id.remove(&c.id).is_some() {
            return;
        }
        let Some(o) = c.origin.as_deref() else { return };
        let reversed = correction(o.period, &o.statement, !o.removed, &original(c));
        self.add(reversed);
    }

    pub fn take(&mut self) -> Vec<Charge> {
        std::mem::take(&mut self.by_id).into_values().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Per origin period: how many corrections and their billed sum per currency.
    pub fn origins(&self) -> BTreeMap<Period, (usize, BTreeMap<String, Decimal>)> {
        let mut out: BTreeMap<Period, (usize, BTreeMap<String, Decimal>)> = BTreeMap::new();
        for c in self.by_id.values() {
            if let Some(o) = c.origin.as_deref() {
                let e = out.entry(o.period).or_default();
                e.0 += 1;
                *e.1.entry(c.currency.to_string()).or_default() += c.billed;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charge::{Attribution, Interner};

    fn row(s: &mut Interner, id: &str, billed: &str) -> Charge {
        let d = |x: &str| x.parse::<Decimal>().unwrap();
        Charge {
            id: id.into(),
            source: s.get("aws"),
            file: s.get("f"),
            line: 2,
            billing_period_start: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            charge_period_start: None,
            billed: d(billed),
            list: d(billed),
            contracted: d(billed),
            effective: d(billed),
            has_list: true,
            currency: s.get("USD"),
            consumed_quantity: None,
            dims: std::sync::Arc::new(crate::charge::Dimensions {
                service_name: s.get("EC2"),
                service_category: s.get(""),
                resource_id: s.get(id),
                resource_name: s.get(""),
                charge_category: s.get("Usage"),
                charge_class: s.get(""),
                description: s.get(""),
                consumed_unit: s.get(""),
                sub_account_id: s.get(""),
                billing_account_id: s.get(""),
            }),
            extra: None,
            tags: Default::default(),
            content: [0; 16],
            attribution: Attribution {
                pi_email: s.get("a@x.edu"),
                ..Default::default()
            }
            .into(),
            flags: vec![],
            state: State::Billed,
            decision: None,
            origin: None,
        }
    }

    fn total(cs: &[Charge]) -> Decimal {
        cs.iter().map(|c| c.billed).sum()
    }

    #[test]
    fn issued_plus_corrections_equals_now_and_posted_ones_are_not_posted_again() {
        let mut s = Interner::default();
        let p: Period = "2025-01".parse().unwrap();
        let (a, b, c) = (
            row(&mut s, "a", "1.00"),
            row(&mut s, "b", "2.00"),
            row(&mut s, "c", "3.00"),
        );
        let (b2, d) = (row(&mut s, "b2", "2.50"), row(&mut s, "d", "4.00"));
        let issued = [("N1", &a), ("N1", &b), ("N1", &c)];
        let now = [&a, &b2, &c, &d];
        let found = diff(p, &issued, &now, &|_| "N1".into());
        assert_eq!(found.len(), 3, "b taken back, b2 and d added");
        assert_eq!(total(&found), "4.50".parse::<Decimal>().unwrap());
        // Posted in a closed February: nothing is pending any more.
        let mut pending = Pending::default();
        found.iter().cloned().for_each(|c| pending.add(c));
        found.iter().for_each(|c| pending.posted(c));
        assert!(pending.is_empty());
        // Then d disappears again: only its reversal is pending.
        let found2 = diff(p, &issued, &[&a, &b2, &c], &|_| "N1".into());
        found2.iter().cloned().for_each(|c| pending.add(c));
        found.iter().for_each(|c| pending.posted(c));
        let left = pending.take();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].billed, "-4.00".parse::<Decimal>().unwrap());
        assert!(left[0].origin.as_ref().unwrap().removed);
    }
}
