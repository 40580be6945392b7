//! Attribute each charge to a PI, project and fund: from the configured tag
//! keys first, then from `projects.yaml` (by project id, then by account).

use crate::charge::{Attribution, Charge, FastMap, Interner};
use crate::config::TagKeys;
use crate::projects::{Project, Projects};
use std::sync::Arc;

/// An attribution, and the interned inputs it was made from (held, so that
/// their addresses, the memo's key, are not reused).
type Memo = (Arc<Attribution>, Vec<Arc<str>>);

pub fn attribute(
    charges: &mut [Charge],
    keys: &TagKeys,
    projects: &Projects,
    strings: &mut Interner,
) {
    // Rows of one resource repeat its tags and accounts: each distinct set of
    // inputs is attributed once. Inputs are interned strings, told apart by
    // address; the memo holds them, so an address is never reused meanwhile.
    let mut memo: FastMap<[usize; 8], Memo> = FastMap::default();
    // Those inputs are a row's tags and dimensions, both shared: rows with
    // the same two are attributed alike without their tags being searched
    // (the charges hold both, so the addresses stay theirs).
    let mut shared: FastMap<(usize, usize), Arc<Attribution>> = FastMap::default();
    for i in 0..charges.len() {
        // A row's accounts are in its dimensions, shared by a few rows of a
        // hundred thousand: asked for ahead, not waited on at every row.
        if let Some(ahead) = charges.get(i + AHEAD) {
            crate::memory::prefetch(&*ahead.dims);
        }
        let c = &mut charges[i];
        let pair = (
            c.tags.as_ptr() as *const u8 as usize,
            Arc::as_ptr(&c.dims) as usize,
        );
        if let Some(a) = shared.get(&pair) {
            c.attribution = a.clone();
            continue;
        }
        let found = {
            let inputs = inputs(c, keys);
            let key = inputs.map(|v| v.map_or(0, |a| Arc::as_ptr(a) as *const u8 as usize));
            match memo.get(&key) {
                Some((a, _)) => a.clone(),
                None => {
                    let held = inputs.iter().flatten().map(|a| Arc::clone(a)).collect();
                    let a = Arc::new(attribution(c, keys, projects, strings));
                    memo.insert(key, (a.clone(), held));
                    a
                }
            }
        };
        shared.insert(pair, found.clone());
        c.attribution = found;
    }
}

/// How many rows ahead a row's dimensions are asked for.
const AHEAD: usize = 8;

/// Everything `attribution` reads of a charge: the tags of the configured
/// keys (found as `tag` finds them) and the two account ids.
fn inputs<'c>(c: &'c Charge, keys: &TagKeys) -> [Option<&'c Arc<str>>; 8] {
    let find = |key: &str| {
        c.tags
            .iter()
            .find(|(k, _)| &**k == key)
            .or_else(|| {
                c.tags.iter().find(|(k, _)| {
                    keys.prefixes
                        .iter()
                        .any(|p| k.strip_prefix(p.as_str()) == Some(key))
                })
            })
            .map(|(_, v)| v)
    };
    [
        find(&keys.project_id),
        find(&keys.pi_email),
        find(&keys.fund_org),
        find(&keys.cost_center),
        keys.reference_1.as_deref().and_then(find),
        keys.reference_2.as_deref().and_then(find),
        Some(&c.dims.sub_account_id),
        Some(&c.dims.billing_account_id),
    ]
}

fn attribution(
    c: &Charge,
    keys: &TagKeys,
    projects: &Projects,
    strings: &mut Interner,
) -> Attribution {
    let tag = |key: &str| {
        c.tag(key)
            .or_else(|| prefixed_tag(c, key, &keys.prefixes))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let project_id = tag(&keys.project_id);
    let project: Option<&Project> = match project_id {
        Some(id) => projects.get(id),
        None => [&*c.dims.sub_account_id, &*c.dims.billing_account_id]
            .into_iter()
            .filter(|a| !a.is_empty())
            .find_map(|a| projects.by_account(a)),
    };
    let or_project = |v: Option<&str>, from: fn(&Project) -> &str| -> String {
        v.map(str::to_string)
            .or_else(|| project.map(|p| from(p).to_string()))
            .unwrap_or_default()
    };
    let reference = |key: &Option<String>| key.as_deref().and_then(tag).unwrap_or("").to_string();
    let mut get = |s: String| -> Arc<str> { strings.get(&s) };
    Attribution {
        pi_email: get(or_project(tag(&keys.pi_email), |p| &p.pi.email).to_ascii_lowercase()),
        project_id: get(or_project(project_id, |p| &p.id)),
        fund_org: get(or_project(tag(&keys.fund_org), |p| &p.fund_org)),
        cost_center: get(or_project(tag(&keys.cost_center), |p| &p.cost_center)),
        reference_1: get(reference(&keys.reference_1)),
        reference_2: get(reference(&keys.reference_2)),
    }
}

/// A tag whose key is `key` after one of the provider's prefixes (`user:project_id`).
fn prefixed_tag<'c>(c: &'c Charge, key: &str, prefixes: &[String]) -> Option<&'c str> {
    c.tags
        .iter()
        .find(|(k, _)| {
            prefixes
                .iter()
                .any(|p| k.strip_prefix(p.as_str()) == Some(key))
        })
        .map(|(_, v)| &**v)
}

/// A plausible email address: one `@`, a dotted domain, no spaces or brackets.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._%+-'".contains(ch))
    };
    ok(local)
        && ok(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(valid_email("a.lee@example.edu"));
        for bad in [
            "",
            "a.lee",
            "a@b",
            "a lee@x.edu",
            "<a@x.edu>",
            "a@@x.edu",
            "a@x..edu",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
