//! `ocb convert storage --format isilon`: daily `isi quota quotas list
//! --format=json` files from Dell PowerScale (Isilon), read into the same
//! snapshots as the CSV format and priced by `storage::price`, with each
//! directory quota's project found by `paths:` in projects.yaml.

use super::dated::{self, DatedFile, Finder};
use super::snapshots::Snapshot;
use super::storage::{self, StorageRates};
use super::{Context, Converted, Sink};
use crate::problem::Problem;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which of a quota's byte counts is billed (`--bill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bill {
    /// `usage.logical` (OneFS 9: `usage.fslogical`): what the files hold.
    Logical,
    /// `usage.physical` (OneFS 9: `usage.fsphysical`): with protection overhead.
    Physical,
    /// `thresholds.hard`: what was reserved, used or not.
    Hard,
}

impl Bill {
    pub fn parse(s: &str) -> Result<Bill, Problem> {
        match s {
            "logical" => Ok(Bill::Logical),
            "physical" => Ok(Bill::Physical),
            "hard" => Ok(Bill::Hard),
            _ => Err(Problem::file(
                "--bill",
                format!(
                    "{}: expected logical, physical or hard",
                    crate::problem::shown(s)
                ),
            )),
        }
    }
}

/// The platform API wraps the list in `{"quotas": […]}`; `isi` prints it bare.
#[derive(Deserialize)]
struct Wrapped {
    quotas: Vec<Quota>,
}

/// Either shape, chosen by the first character so that serde_json's errors
/// keep their line and column (an untagged enum would lose them).
fn listing(file: &DatedFile) -> Result<Vec<Quota>, Problem> {
    if file
        .text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('[')
    {
        dated::parse::<Vec<Quota>>(file)
    } else {
        dated::parse::<Wrapped>(file).map(|w| w.quotas)
    }
}

#[derive(Deserialize)]
struct Quota {
    path: QuotaPath,
    /// `directory`, `user`, `group`, `default-user`, …; absent means directory.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    usage: Usage,
    #[serde(default)]
    thresholds: Thresholds,
}

#[derive(Default, Deserialize)]
struct Usage {
    logical: Option<Bytes>,
    physical: Option<Bytes>,
    fslogical: Option<Bytes>,
    fsphysical: Option<Bytes>,
}

#[derive(Default, Deserialize)]
struct Thresholds {
    hard: Option<Bytes>,
}

/// A quota's path: a non-empty string, checked while serde_json knows the line.
struct QuotaPath(String);

impl<'de> Deserialize<'de> for QuotaPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<QuotaPath, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "quota without a path: expected the directory it governs, such as \"/ifs/data/lab\"",
            ));
        }
        Ok(QuotaPath(s))
    }
}

/// A byte count: a whole number of 0 or more.
#[derive(Clone, Copy)]
struct Bytes(u64);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number of bytes, 0 or more")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v).map(Bytes).map_err(|_| {
                    E::custom(format!(
                        "{v} bytes is negative: expected a whole number of bytes, 0 or more"
                    ))
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Bytes, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number of bytes: expected an integer, 0 or more"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// What reading the quota files found besides snapshots.
#[derive(Default)]
struct Read {
    snaps: Vec<Snapshot>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    /// Non-directory quotas left out, by type.
    skipped: BTreeMap<String, u64>,
}

pub fn convert(
    files: &[PathBuf],
    bill: Bill,
    rates_path: &Path,
    rates_shown: &str,
    cx: &Context,
    sink: Sink,
) -> Result<Converted, Vec<Problem>> {
    let rates = StorageRates::load(rates_path, rates_shown);
    let tier = match &rates {
        // Quotas carry no tier: all are priced in the default (or only) one.
        Ok(r) => r
            .tier("")
            .map_err(|m| Problem::file(rates_shown, format!("tiers: {m}"))),
        Err(_) => Ok(String::new()),
    };
    let (dated, mut read) = {
        let (dated, problems) = dated::read(files);
        let read = Read {
            problems,
            ..Read::default()
        };
        (dated, read)
    };
    if let Err(p) = &tier {
        read.problems.push(p.clone());
    }
    let tier = tier.unwrap_or_default();
    let mut nested_seen = BTreeSet::new();
    for file in &dated {
        quotas(file, bill, &tier, cx, &mut read, &mut nested_seen);
    }
    let label = files
        .first()
        .map_or(String::new(), |f| f.display().to_string());
    let mut converted = storage::price(read.snaps, read.problems, &label, rates, cx, sink)?;
    for (kind, n) in &read.skipped {
        converted.notes.push(format!(
            "{n} {kind} quota snapshot{} skipped (only directory quotas are billed)",
            if *n == 1 { "" } else { "s" }
        ));
    }
    converted.warnings = read.warnings;
    Ok(converted)
}

/// One file's directory quotas as snapshots of its date.
fn quotas(
    file: &DatedFile,
    bill: Bill,
    tier: &str,
    cx: &Context,
    read: &mut Read,
    nested_seen: &mut BTreeSet<(String, String)>,
) {
    let quotas = match listing(file) {
        Ok(q) => q,
        Err(p) => return read.problems.push(p),
    };
    let mut finder = Finder::new(&file.text);
    let mut here: BTreeMap<String, u64> = BTreeMap::new();
    for q in quotas {
        let path = q.path.0;
        let line = finder.line_of(&path);
        let kind = q.kind.unwrap_or_else(|| "directory".into());
        if kind != "directory" {
            *read.skipped.entry(kind).or_default() += 1;
            continue;
        }
        if let Some(first) = here.insert(path.clone(), line) {
            read.problems.push(dated::at_line(
                &file.shown,
                line,
                format!(
                    "a second directory quota on `{path}` (line {first}): expected one per path"
                ),
            ));
            continue;
        }
        let bytes = match billed_bytes(&q.usage, &q.thresholds, bill) {
            Ok(b) => b,
            Err(m) => {
                read.problems
                    .push(dated::at_line(&file.shown, line, format!("`{path}`: {m}")));
                continue;
            }
        };
        read.snaps.push(Snapshot {
            line,
            at: file.date.and_time(chrono::NaiveTime::MIN),
            project: cx
                .projects
                .by_path(&path)
                .map_or(String::new(), |p| p.id.clone()),
            path,
            bytes,
            tier: tier.to_string(),
        });
    }
    nested(file, &here, read, nested_seen);
}

fn billed_bytes(u: &Usage, t: &Thresholds, bill: Bill) -> Result<u64, &'static str> {
    let (value, missing) = match bill {
        Bill::Logical => (
            u.logical.or(u.fslogical),
            "no usage.logical (or usage.fslogical): expected the bytes the quota holds",
        ),
        Bill::Physical => (
            u.physical.or(u.fsphysical),
            "no usage.physical (or usage.fsphysical): expected the bytes on disk",
        ),
        Bill::Hard => (
            t.hard,
            "no hard threshold: --bill hard bills what each quota reserves, and this one reserves nothing",
        ),
    };
    value.map(|b| b.0).ok_or(missing)
}

/// A directory quota inside another bills the inner bytes twice: warn once per pair.
fn nested(
    file: &DatedFile,
    quotas: &BTreeMap<String, u64>,
    read: &mut Read,
    seen: &mut BTreeSet<(String, String)>,
) {
    for (inner, &line) in quotas {
        let mut outer = inner.as_str();
        while let Some(i) = outer.rfind('/') {
            outer = &outer[..i];
            let Some(&outer_line) = quotas.get(outer) else {
                continue;
            };
            if seen.insert((outer.to_string(), inner.clone())) {
                read.warnings.push(dated::at_line(
                    &file.shown,
                    line,
                    format!(
                        "quota `{inner}` lies inside quota `{outer}` (line {outer_line}): its bytes are billed in both; bill one of them"
                    ),
                ));
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Quota>, String> {
        let file = DatedFile {
            shown: "q-2025-01-01.json".into(),
            date: chrono::NaiveDate::MIN,
            text: text.into(),
        };
        listing(&file).map_err(|p| p.to_string())
    }

    #[test]
    fn both_shapes_and_onefs_9_usage_names() {
        let q = parse(r#"[{"path": "/ifs/a", "type": "directory", "usage": {"fslogical": 5, "fsphysical": 9}}]"#)
            .unwrap();
        assert_eq!(
            billed_bytes(&q[0].usage, &q[0].thresholds, Bill::Logical),
            Ok(5)
        );
        assert_eq!(
            billed_bytes(&q[0].usage, &q[0].thresholds, Bill::Physical),
            Ok(9)
        );
        assert!(billed_bytes(&q[0].usage, &q[0].thresholds, Bill::Hard).is_err());
        let q = parse(r#"{"quotas": [{"path": "/ifs/a", "usage": {"logical": 7}, "thresholds": {"hard": 100}}], "total": 1}"#)
            .unwrap();
        assert_eq!(
            billed_bytes(&q[0].usage, &q[0].thresholds, Bill::Hard),
            Ok(100)
        );
    }

    #[test]
    fn bad_quotas_are_located() {
        let err = |t| parse(t).err().unwrap_or_default();
        assert_eq!(
            err("[{\"path\": \"/a\",\n  \"usage\": {\"logical\": -5}}]"),
            "q-2025-01-01.json:2:25: -5 bytes is negative: expected a whole number of bytes, 0 or more"
        );
        assert_eq!(
            err("[{\"path\": \"/a\", \"usage\": {\"logical\": 1.5}}]"),
            "q-2025-01-01.json:1:40: 1.5 is not a whole number of bytes: expected an integer, 0 or more"
        );
        assert!(
            err("{\"quotas\": [{\"type\": \"directory\"}]}").starts_with("q-2025-01-01.json:1:"),
        );
        assert_eq!(
            err("[{\"path\": null}]"),
            "q-2025-01-01.json:1:15: quota without a path: expected the directory it governs, such as \"/ifs/data/lab\""
        );
    }
}
