//! The charges browser's data: a period's charges in shards of a few
//! thousand rows, a small index of what each shard holds, and an id lookup,
//! so the page downloads one shard to be interactive and the rest on demand.
//!
//! Layout under `<P>/charges-data/` (all plain scripts, so they load from a
//! web server and from `file://` alike):
//! - `index.js`: `OCB_INDEX = {total, columns, values, shards}`; `values` lists
//!   every PI, project, source, service and state once, and each shard lists
//!   which of them it holds (indexes into `values`), so a filter loads only
//!   the shards that can match.
//! - `NNNN.js`: `OCB_SHARD(n, texts, rows)`, each row an array in `columns`
//!   order. The cells of the `coded` columns (state, source, PI, project,
//!   fund, service, resource, flags), which repeat within a shard, are
//!   indexes into the shard's `texts`; `at` is `[file, line]`, its file an
//!   index into `texts` too. A shard is a third of the bytes it would be
//!   with every text written out.
//! - `ids/X.js`: `OCB_IDS("X", {id: shard})` for ids starting with `X`;
//!   `index.js` says how many first characters name a file (`id_prefix`:
//!   one up to 2M rows, so 16 files for a month of hex ids).
//!
//! Rows are ordered by project, PI and then file order, so one project's
//! charges sit in few shards.

use crate::charge::{Charge, FastMap, FastSet};
use crate::config::Config;
use crate::money::{format_into, integer_into};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// How many rows ahead the shard writer asks for a charge's memory.
const PREFETCH: usize = 12;

/// Rows per shard: about 0.35 MB of script at the sample's row size.
pub const SHARD_ROWS: usize = 5000;

/// Columns of a row, in order (the page reads them by these names).
pub const COLUMNS: [&str; 13] = [
    "id", "state", "source", "pi", "project", "fund", "service", "resource", "flags", "billed",
    "list", "at", "n",
];

/// Columns whose cells are indexes into a shard's texts.
const CODED: [usize; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// The `at` column: `[file, line]`.
const AT: usize = 11;

/// Facets the page filters on, with the column each reads.
const FACETS: [(&str, usize); 5] = [
    ("pi", 3),
    ("project", 4),
    ("source", 2),
    ("service", 6),
    ("state", 1),
];

/// The cells of a row that are made rather than borrowed from the charge,
/// made again in the same buffers for each row of a shard.
#[derive(Default)]
struct Made {
    flags: String,
    billed: String,
    list: String,
    n: String,
}

impl Made {
    fn fill(&mut self, c: &Charge) {
        self.flags.clear();
        for (i, f) in c.flags.iter().enumerate() {
            if i > 0 {
                self.flags.push(' ');
            }
            self.flags.push_str(f.code.as_str());
        }
        self.billed.clear();
        format_into(&mut self.billed, c.billed, &c.currency);
        self.list.clear();
        format_into(&mut self.list, c.list, &c.currency);
        self.n.clear();
        crate::money::decimal_into(&mut self.n, c.billed);
    }
}

/// One charge as the charges page shows it, in `COLUMNS` order (`at`: the
/// file's name, its line apart).
fn row<'a>(c: &'a Charge, config: &'a Config, made: &'a Made) -> [&'a str; 13] {
    [
        &c.id,
        c.state.as_str(),
        config.source_name(&c.source),
        &c.attribution.pi_email,
        &c.attribution.project_id,
        &c.attribution.fund_org,
        &c.dims.service_name,
        if c.dims.resource_id.is_empty() {
            &c.dims.resource_name
        } else {
            &c.dims.resource_id
        },
        &made.flags,
        &made.billed,
        &made.list,
        c.file.rsplit('/').next().unwrap_or(""),
        &made.n,
    ]
}

#[derive(Serialize)]
struct Index<'a> {
    total: usize,
    shard_rows: usize,
    columns: [&'a str; 13],
    coded: [usize; 8],
    values: BTreeMap<&'static str, Vec<String>>,
    shards: Vec<ShardInfo>,
    /// How many of an id's first characters name its file in `ids/`.
    id_prefix: usize,
}

#[derive(Serialize, Default)]
struct ShardInfo {
    rows: usize,
    /// Per facet (in `FACETS` order): indexes into `values` present in this shard.
    has: Vec<Vec<u32>>,
}

/// The distinct values of each facet (`pi`, `project`, `source`, `service`,
/// `state`), sorted.
pub type Values = BTreeMap<&'static str, Vec<String>>;

/// Write `dir` (the `charges-data` folder) for one period's charges; the
/// values of its facets.
pub fn write(charges: &[Charge], config: &Config, dir: &Path) -> Result<Values> {
    std::fs::create_dir_all(dir.join("ids"))
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    let (order, id_numbers) = by_project_and_pi(charges);
    let shards: Vec<&[&Charge]> = order.chunks(SHARD_ROWS).collect();
    // Shards are written in parallel; each returns its facet values.
    let written = shards
        .par_iter()
        .enumerate()
        .map(|(n, rows)| shard(n, rows, config, dir))
        .collect::<Result<Vec<_>>>()?;
    let mut values: Vec<Vec<String>> = vec![Vec::new(); FACETS.len()];
    for facets in &written {
        for (f, set) in facets.iter().enumerate() {
            values[f].extend(set.iter().cloned());
        }
    }
    for v in &mut values {
        v.sort();
        v.dedup();
    }
    let shards: Vec<ShardInfo> = written
        .iter()
        .zip(&shards)
        .map(|(facets, rows)| ShardInfo {
            rows: rows.len(),
            has: facets
                .iter()
                .enumerate()
                .map(|(f, set)| {
                    let mut has: Vec<u32> = set
                        .iter()
                        .filter_map(|v| values[f].binary_search(v).ok().map(|i| i as u32))
                        .collect();
                    // In the values' order, whatever order the set kept.
                    has.sort_unstable();
                    has
                })
                .collect(),
        })
        .collect();
    let index = Index {
        total: charges.len(),
        shard_rows: SHARD_ROWS,
        columns: COLUMNS,
        coded: CODED,
        values: FACETS.iter().map(|(name, _)| *name).zip(values).collect(),
        shards,
        id_prefix: id_prefix(charges.len()),
    };
    let mut text = b"window.OCB_INDEX = ".to_vec();
    serde_json::to_writer(&mut text, &index)?;
    text.extend_from_slice(b";\n");
    crate::write::file(&dir.join("index.js"), &text)?;
    drop(written);
    ids(&order, id_numbers, index.id_prefix, dir)?;
    Ok(index.values)
}

/// Per facet, the values a shard holds (sorted when the index is made).
type Facets = Vec<crate::charge::FastSet<String>>;

/// The charges by project and PI, each pair in file order: a million rows
/// placed by their pair's rank (counted), not by comparing strings. A row's
/// pair is looked up once per attribution (rows share a few thousand), or
/// once per row when most rows have their own (a tag unique to each row).
/// With them, in the same order, the number each id spells with its shard
/// (`ids_by_number`), or None when an id is not 12 hex digits: read in
/// memory order here, not by project after.
fn by_project_and_pi(charges: &[Charge]) -> (Vec<&Charge>, Option<Vec<u64>>) {
    fn pair(c: &Charge) -> (&str, &str) {
        (&c.attribution.project_id, &c.attribution.pi_email)
    }
    let mut pairs: FastSet<(&str, &str)> = FastSet::default();
    let mut seen = ByAttribution::default();
    for c in charges {
        seen.get(c, || {
            pairs.insert(pair(c));
        });
    }
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    let rank_of: FastMap<(&str, &str), u32> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i as u32))
        .collect();
    let mut ranks = ByAttribution::default();
    let rank: Vec<u32> = charges
        .iter()
        .map(|c| ranks.get(c, || rank_of.get(&pair(c)).copied().unwrap_or_default()))
        .collect();
    // Rank and row in one integer (a month has fewer than 2^32 rows),
    // placed by counting the rows of each rank: rows come in file order
    // within a rank, as a sort of the integers would leave them.
    let mut start = vec![0usize; pairs.len() + 1];
    for &r in &rank {
        start[r as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut keys = vec![0u64; charges.len()];
    for (i, &r) in rank.iter().enumerate() {
        let at = &mut start[r as usize];
        keys[*at] = u64::from(r) << 32 | i as u64;
        *at += 1;
    }
    drop(rank);
    let row = |k: &u64| (k & u64::from(u32::MAX)) as usize;
    // An id (48 bits) and its shard (16) make one integer.
    let fits = charges.len() / SHARD_ROWS < 1 << 16;
    let numbers: Option<Vec<u64>> = fits
        .then(|| {
            charges
                .par_iter()
                .map(|c| crate::load::id_number(&c.id))
                .collect::<Option<Vec<u64>>>()
        })
        .flatten()
        .map(|numbers| {
            keys.par_iter()
                .enumerate()
                .map(|(at, k)| numbers[row(k)] << 16 | (at / SHARD_ROWS) as u64)
                .collect()
        });
    // In place: a key and a reference are the same size.
    let order = keys.into_iter().map(|k| &charges[row(&k)]).collect();
    (order, numbers)
}

/// A value per row's attribution, made once per attribution (found by its
/// address), until most rows turn out to have their own: then made per row.
struct ByAttribution<V> {
    memo: FastMap<usize, V>,
    looked: usize,
    missed: usize,
    off: bool,
}

impl<V> Default for ByAttribution<V> {
    fn default() -> Self {
        ByAttribution {
            memo: FastMap::default(),
            looked: 0,
            missed: 0,
            off: false,
        }
    }
}

impl<V: Copy> ByAttribution<V> {
    fn get(&mut self, c: &Charge, make: impl FnOnce() -> V) -> V {
        if self.off {
            return make();
        }
        let at = Arc::as_ptr(&c.attribution) as usize;
        self.looked += 1;
        if let Some(v) = self.memo.get(&at) {
            return *v;
        }
        self.missed += 1;
        let v = make();
        if crate::charge::mostly_new(self.missed, self.looked) {
            *self = ByAttribution {
                off: true,
                ..ByAttribution::default()
            };
        } else {
            self.memo.insert(at, v);
        }
        v
    }
}

/// One shard file; its facet values and (id, shard) pairs.
fn shard(n: usize, rows: &[&Charge], config: &Config, dir: &Path) -> Result<Facets> {
    let mut facets: Facets = vec![Default::default(); FACETS.len()];
    let mut seen: Vec<crate::charge::FastSet<(usize, usize)>> =
        vec![Default::default(); FACETS.len()];
    let mut texts = Texts::default();
    let mut body: Vec<u8> = Vec::with_capacity(rows.len() * 80);
    let mut made = Made::default();
    // Per facet, the address of the previous row's cell: rows come by
    // project and PI, so most repeat it.
    let mut last = [(0usize, 0usize); FACETS.len()];
    for (i, c) in rows.iter().enumerate() {
        // Rows come by project, not in memory order.
        if let Some(ahead) = rows.get(i + PREFETCH) {
            crate::memory::prefetch_first(*ahead, crate::charge::SHOWN);
        }
        made.fill(c);
        let r = row(c, config, &made);
        for (f, (_, col)) in FACETS.iter().enumerate() {
            // Cells are shared strings: each is hashed once per address.
            let cell = r[*col];
            let place = (cell.as_ptr() as usize, cell.len());
            if place != last[f] && seen[f].insert(place) && !facets[f].contains(cell) {
                facets[f].insert(cell.to_string());
            }
            last[f] = place;
        }
        body.extend_from_slice(if i > 0 { b",\n[" } else { b"[" });
        for (col, cell) in r.iter().enumerate() {
            if col > 0 {
                body.push(b',');
            }
            if CODED.contains(&col) {
                // Flags are made in one buffer for every row: by text only.
                let shared = col != 8;
                integer_into(&mut body, u64::from(texts.code(col, cell, shared)));
            } else if col == AT {
                body.push(b'[');
                integer_into(&mut body, u64::from(texts.code(col, cell, true)));
                body.push(b',');
                integer_into(&mut body, c.line);
                body.push(b']');
            } else {
                json_string(&mut body, cell)?;
            }
        }
        body.push(b']');
    }
    let mut text = format!("OCB_SHARD({n},").into_bytes();
    serde_json::to_writer(&mut text, &texts.list)?;
    text.extend_from_slice(b",[");
    text.append(&mut body);
    text.extend_from_slice(b"]);\n");
    crate::write::file(&dir.join(format!("{n:04}.js")), &text)?;
    Ok(facets)
}

/// A shard's texts, each written once and referred to by its index.
#[derive(Default)]
struct Texts {
    list: Vec<String>,
    by_text: crate::charge::FastMap<String, u32>,
    /// Per column, the address of the last cell coded and its code.
    last: [(usize, usize, u32); 13],
    /// The code of the empty text, once coded.
    empty: Option<u32>,
}

impl Texts {
    /// The index of `cell` in column `col`; `shared`: the cell is a shared
    /// string, the same text wherever it is (found by address first).
    fn code(&mut self, col: usize, cell: &str, shared: bool) -> u32 {
        let place = (cell.as_ptr() as usize, cell.len());
        let (ptr, len, code) = self.last[col];
        if shared && (ptr, len) == place {
            return code;
        }
        // Most rows have no flags: the empty text, found without hashing.
        if cell.is_empty()
            && let Some(code) = self.empty
        {
            return code;
        }
        let code = match self.by_text.get(cell) {
            Some(&code) => code,
            None => {
                let code = self.list.len() as u32;
                self.list.push(cell.to_string());
                self.by_text.insert(cell.to_string(), code);
                code
            }
        };
        self.last[col] = (place.0, place.1, code);
        if cell.is_empty() {
            self.empty = Some(code);
        }
        code
    }
}

/// Ids per file in `ids/` at most (about 2.5 MB), with as few files as
/// that allows: every file made is an inode to allocate, and a month's
/// output is rebuilt in full.
const IDS_PER_FILE: usize = 1 << 17;

/// How many first characters of an id name its file: one (16 files of hex
/// ids) up to 2M rows, more for larger months.
fn id_prefix(total: usize) -> usize {
    let mut len = 1;
    while len < 4 && total >> (4 * len) > IDS_PER_FILE {
        len += 1;
    }
    len
}

/// `ids/<prefix>.js`: which shard holds each id, by its first `len`
/// characters. `order`: the charges as the shards hold them; `numbers`:
/// their ids as numbers with their shards, when every id is 12 hex digits
/// (sorted as integers: a million sort faster than strings).
fn ids(order: &[&Charge], numbers: Option<Vec<u64>>, len: usize, dir: &Path) -> Result<()> {
    match numbers {
        Some(ids) => ids_by_number(ids, len, dir),
        None => {
            let shard = |i: usize| (i / SHARD_ROWS) as u32;
            let ids = order.iter().enumerate();
            ids_by_text(
                ids.map(|(i, c)| (c.id.as_str(), shard(i))).collect(),
                len,
                dir,
            )
        }
    }
}

/// `ids`: an id's 48 bits, then its shard's 16.
fn ids_by_number(mut ids: Vec<u64>, len: usize, dir: &Path) -> Result<()> {
    ids.par_sort_unstable();
    let first = |k: &u64| k >> (64 - 4 * len);
    ids.par_chunk_by(|a, b| first(a) == first(b))
        .try_for_each(|ids| {
            let prefix = format!("{:0len$x}", first(&ids[0]));
            let ids: Vec<(u64, u32)> = ids.iter().map(|k| (k >> 16, (k & 0xffff) as u32)).collect();
            let text = ids_file(&prefix, &ids, |out, id| {
                hex_id(out, *id);
                Ok(())
            })?;
            write_ids(dir, &prefix, &text)
        })
}

fn ids_by_text(mut ids: Vec<(&str, u32)>, len: usize, dir: &Path) -> Result<()> {
    ids.par_sort_unstable();
    ids.par_chunk_by(|a, b| prefix(a.0, len) == prefix(b.0, len))
        .try_for_each(|ids| {
            let p = prefix(ids[0].0, len);
            let text = ids_file(p, ids, |out, id| Ok(serde_json::to_writer(out, id)?))?;
            write_ids(dir, p, &text)
        })
}

/// `"0123456789ab"`: the 12 hex digits of an id's 48 bits, quoted (a
/// million of them: without the formatter).
fn hex_id(out: &mut Vec<u8>, id: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'"'; 14];
    for (i, digit) in text[1..13].iter_mut().enumerate() {
        *digit = HEX[((id >> (44 - 4 * i)) & 0xf) as usize];
    }
    out.extend_from_slice(&text);
}

/// `text` as a JSON string. Most cells (ids, amounts) need no escape: those
/// are written as they are, the others by serde_json.
fn json_string(out: &mut Vec<u8>, text: &str) -> Result<()> {
    // serde_json escapes only these: a quote, a backslash, control characters.
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        Ok(serde_json::to_writer(out, text)?)
    }
}

fn write_ids(dir: &Path, prefix: &str, text: &[u8]) -> Result<()> {
    crate::write::file(&dir.join("ids").join(format!("{prefix}.js")), text)
}

/// The first `len` characters of an id, borrowed.
fn prefix(id: &str, len: usize) -> &str {
    id.char_indices().nth(len).map_or(id, |(i, _)| &id[..i])
}

/// `OCB_IDS("XY",{id: shard, …})` of ids sorted by id then shard, each
/// id's text written by `id`. Identical rows in two files of one source
/// share an id: it lists every shard.
fn ids_file<K: PartialEq>(
    prefix: &str,
    ids: &[(K, u32)],
    id: impl Fn(&mut Vec<u8>, &K) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut text = format!("OCB_IDS({},{{", serde_json::to_string(prefix)?).into_bytes();
    for (i, group) in ids.chunk_by(|a, b| a.0 == b.0).enumerate() {
        if i > 0 {
            text.push(b',');
        }
        id(&mut text, &group[0].0)?;
        match group {
            [(_, one)] => {
                text.push(b':');
                integer_into(&mut text, u64::from(*one));
            }
            many => {
                text.extend_from_slice(b":[");
                for (k, (_, n)) in many.iter().enumerate() {
                    if k > 0 {
                        text.push(b',');
                    }
                    integer_into(&mut text, u64::from(*n));
                }
                text.push(b']');
            }
        }
    }
    text.extend_from_slice(b"});\n");
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `dir`, by its path inside it.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let name = e.path().strip_prefix(dir).unwrap().display().to_string();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect()
    }

    #[test]
    fn rows_are_ordered_by_project_and_pi_then_file_order_shared_or_not() {
        let mut text = String::from("BillingPeriodStart,BilledCost\n");
        for i in 0..70_000 {
            text.push_str(&format!("2025-01-01,{i}\n"));
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), text).unwrap();
        let mut strings = crate::charge::Interner::default();
        let path = dir.path().join("a.csv");
        let mut charges =
            crate::load::load_file(&path, "a.csv", "aws", "USD", &mut strings).charges;
        let attribution = |i: usize| crate::charge::Attribution {
            project_id: ["b", "a", "c"][i % 3].into(),
            pi_email: ["y", "x"][i % 2].into(),
            ..Default::default()
        };
        let shared: Vec<Arc<_>> = (0..6).map(|i| Arc::new(attribution(i))).collect();
        let mut expected: Vec<(String, String, u64)> = (0..charges.len())
            .map(|i| {
                let a = attribution(i);
                (
                    a.project_id.to_string(),
                    a.pi_email.to_string(),
                    i as u64 + 2,
                )
            })
            .collect();
        expected.sort();
        let order = |charges: &[Charge]| -> Vec<(String, String, u64)> {
            by_project_and_pi(charges)
                .0
                .iter()
                .map(|c| {
                    let a = &c.attribution;
                    (a.project_id.to_string(), a.pi_email.to_string(), c.line)
                })
                .collect()
        };
        // Six attributions shared by the rows, then one of each row's own.
        for (i, c) in charges.iter_mut().enumerate() {
            c.attribution = shared[i % 6].clone();
        }
        assert_eq!(order(&charges), expected);
        for (i, c) in charges.iter_mut().enumerate() {
            c.attribution = Arc::new(attribution(i));
        }
        assert_eq!(order(&charges), expected);
    }

    #[test]
    fn ids_sorted_as_numbers_are_listed_as_sorted_as_text() {
        // Shared ids (identical rows in two files), ids that differ only in
        // their last digit, both ends of the range, several per prefix.
        let ids = [
            ("00000000000a", 3),
            ("ffffffffffff", 0),
            ("0a0000000000", 1),
            ("0a0000000000", 0),
            ("09ffffffffff", 2),
            ("0a0000000001", 2),
            ("a10000000000", 4),
            ("a1ffffffffff", 1),
        ];
        // The files of `len`-character prefixes, both ways; they must agree.
        let written = |len: usize| {
            let (by_number, by_text) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let numbers = ids
                .iter()
                .map(|(id, n)| crate::load::id_number(id).unwrap() << 16 | u64::from(*n))
                .collect();
            ids_by_number(numbers, len, by_number.path()).unwrap();
            ids_by_text(ids.to_vec(), len, by_text.path()).unwrap();
            let (a, b) = (files(by_number.path()), files(by_text.path()));
            assert_eq!(a, b);
            a
        };
        let two = written(2);
        assert_eq!(
            two.keys().collect::<Vec<_>>(),
            [
                "ids/00.js",
                "ids/09.js",
                "ids/0a.js",
                "ids/a1.js",
                "ids/ff.js"
            ]
        );
        assert_eq!(
            String::from_utf8_lossy(&two["ids/0a.js"]),
            "OCB_IDS(\"0a\",{\"0a0000000000\":[0,1],\"0a0000000001\":2});\n"
        );
        // One character: 16 files at most.
        let one = written(1);
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            ["ids/0.js", "ids/a.js", "ids/f.js"]
        );
        assert_eq!(
            String::from_utf8_lossy(&one["ids/0.js"]),
            "OCB_IDS(\"0\",{\"00000000000a\":3,\"09ffffffffff\":2,\"0a0000000000\":[0,1],\"0a0000000001\":2});\n"
        );
        assert_eq!(
            [0, 2_000_000, 2_200_000, 10_000_000].map(id_prefix),
            [1, 1, 2, 2]
        );
        assert_eq!(
            (
                crate::load::id_number("0A0000000000"),
                crate::load::id_number("0a000000000"),
                crate::load::id_number("0a00000000000")
            ),
            (None, None, None)
        );
    }

    #[test]
    fn cells_and_ids_are_written_as_serde_json_and_the_formatter_would() {
        for text in [
            "",
            "0a1b2c3d4e5f",
            "$1,234.56",
            "-0.000001",
            "12.50 CHF",
            "€ 3,00",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "line\nbreak",
            "\u{7f} del",
            "\u{1f} unit separator",
        ] {
            let mut ours = Vec::new();
            json_string(&mut ours, text).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
        for id in [0u64, 1, 0xabc, 0x0123_4567_89ab, (1 << 48) - 1] {
            let mut ours = Vec::new();
            hex_id(&mut ours, id);
            assert_eq!(String::from_utf8(ours).unwrap(), format!("\"{id:012x}\""));
        }
    }
}
