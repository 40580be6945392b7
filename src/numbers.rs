//! Statement numbers that are unique by construction: a hash of the
//! statement's key, lengthened where two statements of a period (or a number
//! issued before) would clash; an issued statement keeps its number while its
//! content is unchanged, and a changed one is reissued as `<number>-R<n>`.

use crate::charge::Charge;
use crate::close::{Issued, PeriodFile};
use crate::period::Period;
use crate::rollup::{self, Group, Rollup, StatementKey};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

pub type Key = StatementKey;

pub fn key_of(g: &Group<StatementKey>) -> Key {
    g.key.clone()
}

/// `<YYYYMM>-<hex>` with `digits` hex digits of the key's hash.
fn hashed(period: Period, key: &Key, digits: usize) -> String {
    let mut h = Sha256::new();
    for part in [&key.currency, &key.pi, &key.project, &key.fund] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    let hex = hex::encode_upper(h.finalize());
    format!(
        "{}-{}",
        period.to_string().replace('-', ""),
        &hex[..digits.min(hex.len())]
    )
}

/// Correction charges of the period by the statement they are on.
pub fn corrections_by_key(charges: &[Charge]) -> HashMap<Key, Vec<&Charge>> {
    let mut out: HashMap<Key, Vec<&Charge>> = HashMap::new();
    for c in charges
        .iter()
        .filter(|c| c.origin.is_some() && c.state == crate::charge::State::Billed)
    {
        let a = &c.attribution;
        out.entry(crate::rollup::StatementKey {
            currency: c.currency.to_string(),
            pi: a.pi_email.to_string(),
            project: a.project_id.to_string(),
            fund: a.fund_org.to_string(),
        })
        .or_default()
        .push(c);
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.id.cmp(&b.id));
    }
    out
}

/// sha256 of what a statement says: its totals, every service and resource
/// line with its sums, and every correction line (not its number, nor the
/// theme's wording).
pub fn content_digest(r: &Rollup, g: &Group<StatementKey>, corrections: &[&Charge]) -> String {
    let mut h = Sha256::new();
    h.update(sums_line(g).as_bytes());
    for s in rollup::of_statement(&r.services, &g.key) {
        h.update(sums_line(s).as_bytes());
    }
    for s in rollup::of_statement(&r.resources, &g.key) {
        h.update(sums_line(s).as_bytes());
    }
    for c in corrections {
        h.update(format!("{} {} {:?}\n", c.id, c.billed.normalize(), c.origin).as_bytes());
    }
    hex::encode(h.finalize())
}

/// A group's key and sums, amounts normalised: the rollup's scale follows the
/// most precise amount of the period, which must not change a digest.
fn sums_line<K: std::fmt::Debug>(g: &Group<K>) -> String {
    let s = &g.sums;
    format!(
        "{:?} {} {} {} {} {} {}\n",
        g.key,
        s.list.normalize(),
        s.contracted.normalize(),
        s.effective.normalize(),
        s.billed.normalize(),
        s.quantity.normalize(),
        s.count
    )
}

/// Numbers of an open period's statements, and what each replaces.
pub struct Numbers {
    pub numbers: BTreeMap<Key, String>,
    pub replaces: BTreeMap<Key, String>,
    pub digests: BTreeMap<Key, String>,
}

/// The next revision: `N` → `N-R1`, `N-R1` → `N-R2`.
pub fn revised(number: &str) -> String {
    if let Some((base, n)) = number.rsplit_once("-R")
        && let Ok(n) = n.parse::<u32>()
    {
        return format!("{base}-R{}", n + 1);
    }
    format!("{number}-R1")
}

/// Number the statements of an open period. `file` holds the statements
/// issued at an earlier close (after a reopen) and those superseded.
pub fn assign(period: Period, r: &Rollup, charges: &[Charge], file: &PeriodFile) -> Numbers {
    let corrections = corrections_by_key(charges);
    let issued: HashMap<Key, &Issued> = file.statements.iter().map(|s| (s.key(), s)).collect();
    let mut taken: HashSet<String> = file
        .statements
        .iter()
        .chain(&file.superseded)
        .map(|s| s.number.clone())
        .collect();
    let mut out = Numbers {
        numbers: BTreeMap::new(),
        replaces: BTreeMap::new(),
        digests: BTreeMap::new(),
    };
    let mut fresh = Vec::new();
    // Each digest reads its statement's lines: a month's are taken on all cores.
    let digests: Vec<String> = {
        use rayon::prelude::*;
        let empty = Vec::new();
        r.statements
            .par_iter()
            .map(|g| content_digest(r, g, corrections.get(&key_of(g)).unwrap_or(&empty)))
            .collect()
    };
    for (g, digest) in r.statements.iter().zip(digests) {
        let key = key_of(g);
        match issued.get(&key) {
            Some(s) if s.digest == digest => {
                out.numbers.insert(key.clone(), s.number.clone());
                if let Some(old) = &s.replaces {
                    out.replaces.insert(key.clone(), old.clone());
                }
            }
            Some(s) => {
                let mut n = revised(&s.number);
                while taken.contains(&n) {
                    n = revised(&n);
                }
                taken.insert(n.clone());
                out.numbers.insert(key.clone(), n);
                out.replaces.insert(key.clone(), s.number.clone());
            }
            None => fresh.push(key.clone()),
        }
        out.digests.insert(key, digest);
    }
    for (key, n) in unique(period, &fresh, &taken) {
        out.numbers.insert(key, n);
    }
    out
}

/// Hash numbers for `keys`, 6 hex digits each, lengthened (8, 10, … digits)
/// for every key whose number clashes with another's or with `taken`.
fn unique(period: Period, keys: &[Key], taken: &HashSet<String>) -> Vec<(Key, String)> {
    let mut digits = vec![6usize; keys.len()];
    loop {
        let numbers: Vec<String> = keys
            .iter()
            .zip(&digits)
            .map(|(k, d)| hashed(period, k, *d))
            .collect();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for n in &numbers {
            *count.entry(n.as_str()).or_default() += 1;
        }
        let clash: Vec<usize> = (0..keys.len())
            .filter(|&i| count[numbers[i].as_str()] > 1 || taken.contains(&numbers[i]))
            .collect();
        if clash.is_empty() || clash.iter().all(|&i| digits[i] >= 64) {
            return keys.iter().cloned().zip(numbers).collect();
        }
        for i in clash {
            digits[i] += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Key {
        StatementKey {
            currency: "USD".into(),
            pi: format!("pi{i}@x.edu"),
            project: "p".into(),
            fund: "F".into(),
        }
    }

    #[test]
    fn numbers_are_unique_among_many_statements_and_issued_ones() {
        let p: Period = "2025-01".parse().unwrap();
        // 20,000 statements: with 6 hex digits clashes are certain; none survive.
        let keys: Vec<Key> = (0..20_000).map(key).collect();
        let first = hashed(p, &keys[0], 6);
        let taken: HashSet<String> = [first.clone()].into();
        let numbers = unique(p, &keys, &taken);
        let set: HashSet<&String> = numbers.iter().map(|(_, n)| n).collect();
        assert_eq!(set.len(), keys.len());
        assert!(
            !set.contains(&first),
            "an issued number is never given again"
        );
        let long = numbers
            .iter()
            .filter(|(_, n)| n.len() > "202501-".len() + 6)
            .count();
        assert!(
            long > 0 && long < 200,
            "only clashing numbers are lengthened: {long}"
        );
        // Stable: the same keys give the same numbers.
        assert_eq!(numbers, unique(p, &keys, &taken));
    }

    #[test]
    fn revisions_count_up() {
        assert_eq!(revised("202501-ABCDEF"), "202501-ABCDEF-R1");
        assert_eq!(revised("202501-ABCDEF-R1"), "202501-ABCDEF-R2");
    }
}
