//! Reading `sacct --parsable2` output: a `|`-separated table with a header
//! line, columns found by name, extra columns ignored. Each job line becomes a
//! `Job`, each bad line a located problem; `AllocTRES` strings are parsed here.

use crate::problem::{Problem, shown};
use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;

/// The columns a conversion needs, as sacct names them in its header.
const REQUIRED: [&str; 8] = [
    "JobID",
    "Account",
    "User",
    "Partition",
    "State",
    "Start",
    "End",
    "AllocTRES",
];

/// One job allocation (not a step) as sacct printed it.
#[derive(Debug, Clone)]
pub struct Job {
    pub line: u64,
    pub id: String,
    pub account: String,
    pub user: String,
    pub partition: String,
    /// First word of State: `CANCELLED by 1234` is `CANCELLED`.
    pub state: String,
    /// None when the job never started (`Unknown`, `None`).
    pub start: Option<NaiveDateTime>,
    /// None while the job is still running (`Unknown`).
    pub end: Option<NaiveDateTime>,
    /// Raw AllocTRES, parsed only for jobs that are billed.
    pub tres: String,
}

/// What reading a file found besides its jobs.
#[derive(Debug, Default)]
pub struct Sacct {
    /// Step lines (`123.batch`, `123.0`): skipped, because the allocation line bills the job.
    pub steps: u64,
    pub problems: Vec<Problem>,
}

/// Read a whole sacct file, handing each job to `on_job` as it is read (a
/// month of a busy cluster is millions of lines), and collecting every problem
/// rather than stopping at the first.
pub fn read(path: &Path, shown_as: &str, on_job: &mut dyn FnMut(Job)) -> Sacct {
    let mut out = Sacct::default();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.problems
                .push(Problem::file(shown_as, format!("cannot read: {e}")));
            return out;
        }
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut columns: Option<Columns> = None;
    let mut line = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => line += 1,
            Err(e) => {
                out.problems
                    .push(Problem::file(shown_as, format!("cannot read: {e}")));
                return out;
            }
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            out.problems
                .push(Problem::at(shown_as, line, "not valid UTF-8 text"));
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        match &columns {
            None => match Columns::from_header(text) {
                Ok(c) => columns = Some(c),
                Err(msg) => {
                    out.problems.push(Problem::at(shown_as, line, msg));
                    return out;
                }
            },
            Some(c) => {
                if let Some(job) = c.job(text, shown_as, line, &mut out) {
                    on_job(job);
                }
            }
        }
    }
    if columns.is_none() {
        out.problems.push(Problem::file(
            shown_as,
            "empty file: expected sacct --parsable2 output with a header line",
        ));
    }
    out
}

/// Where each needed column sits, and how many fields a line has.
struct Columns {
    index: [usize; REQUIRED.len()],
    fields: usize,
    /// `--parsable` (not `--parsable2`) ends every line with a `|`.
    trailing_bar: bool,
}

impl Columns {
    fn from_header(text: &str) -> Result<Columns, String> {
        let trailing_bar = text.ends_with('|');
        let names: Vec<&str> = strip_bar(text, trailing_bar).split('|').collect();
        let by_name: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.trim().to_ascii_lowercase(), i))
            .collect();
        let missing: Vec<&str> = REQUIRED
            .iter()
            .filter(|r| !by_name.contains_key(&r.to_ascii_lowercase()))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "header lacks {}: expected sacct --parsable2 output with a header line, made with --format={}",
                missing.join(", "),
                REQUIRED.join(",")
            ));
        }
        let mut index = [0; REQUIRED.len()];
        for (slot, name) in index.iter_mut().zip(REQUIRED) {
            *slot = by_name[&name.to_ascii_lowercase()];
        }
        Ok(Columns {
            index,
            fields: names.len(),
            trailing_bar,
        })
    }

    /// Parse one data line: a job, or None for a skipped step or a bad line
    /// (whose problems go into `out`).
    fn job(&self, text: &str, file: &str, line: u64, out: &mut Sacct) -> Option<Job> {
        let cells: Vec<&str> = strip_bar(text, self.trailing_bar).split('|').collect();
        if cells.len() != self.fields {
            out.problems.push(Problem::at(
                file,
                line,
                format!(
                    "expected {} `|`-separated fields as in the header, found {}",
                    self.fields,
                    cells.len()
                ),
            ));
            return None;
        }
        let cell = |i: usize| cells[self.index[i]].trim();
        let id = cell(0);
        if id.contains('.') {
            out.steps += 1;
            return None;
        }
        let before = out.problems.len();
        let mut time = |col: usize| {
            parse_time(cell(col)).unwrap_or_else(|msg| {
                out.problems
                    .push(Problem::cell(file, line, REQUIRED[col], msg));
                None
            })
        };
        let (start, end) = (time(5), time(6));
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            out.problems.push(Problem::cell(
                file,
                line,
                "End",
                format!("{e} is before Start {s}"),
            ));
        }
        if out.problems.len() > before {
            return None;
        }
        Some(Job {
            line,
            id: id.to_string(),
            account: cell(1).to_string(),
            user: cell(2).to_string(),
            partition: cell(3).to_string(),
            state: cell(4)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase(),
            start,
            end,
            tres: cell(7).to_string(),
        })
    }
}

fn strip_bar(text: &str, trailing_bar: bool) -> &str {
    if trailing_bar {
        text.strip_suffix('|').unwrap_or(text)
    } else {
        text
    }
}

/// A Start or End cell: a date-time, or None for `Unknown`/`None`/empty.
pub fn parse_time(cell: &str) -> Result<Option<NaiveDateTime>, String> {
    if cell.is_empty() || cell == "Unknown" || cell == "None" {
        return Ok(None);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(cell, fmt) {
            return Ok(Some(t));
        }
    }
    Err(format!(
        "{} is not a date-time: expected 2025-01-03T14:05:00 (sacct's default format; set SLURM_TIME_FORMAT=standard)",
        shown(cell)
    ))
}

/// What a job was allocated, from AllocTRES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tres {
    pub cpus: u64,
    /// Memory in Slurm's G (1024 M).
    pub mem_gb: Decimal,
    /// GPUs by type; `""` holds GPUs whose type sacct did not name.
    pub gpus: BTreeMap<String, u64>,
}

/// Parse `billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=2,mem=64G,node=1`.
/// Entries that do not affect the price (billing, node, energy, licenses,
/// file systems, other gres) are accepted and ignored; anything else is refused,
/// because a misread allocation would misprice the job silently.
pub fn parse_tres(text: &str) -> Result<Tres, String> {
    if text.trim().is_empty() {
        return Err("empty for a job that ran: expected e.g. cpu=16,mem=64G,node=1".into());
    }
    let mut cpus = None;
    let mut mem_gb = Decimal::ZERO;
    let mut typed: BTreeMap<String, u64> = BTreeMap::new();
    let mut untyped = None;
    for item in text.split(',').map(str::trim) {
        let unknown = || {
            format!(
                "unknown TRES {}: expected entries such as cpu=16, mem=64G, gres/gpu:a100=2",
                shown(item)
            )
        };
        let (key, value) = item.split_once('=').ok_or_else(unknown)?;
        match key {
            "cpu" => cpus = Some(count(item, value)?),
            "mem" => mem_gb = memory_gb(item, value)?,
            "gres/gpu" => untyped = Some(count(item, value)?),
            _ if key.starts_with("gres/gpu:") && key.len() > 9 => {
                *typed.entry(key[9..].to_string()).or_default() += count(item, value)?;
            }
            "billing" | "node" | "energy" | "vmem" | "pages" => {}
            _ if ["gres/", "license/", "fs/", "bb/", "ic/"]
                .iter()
                .any(|p| key.starts_with(p) && key.len() > p.len()) => {}
            _ => return Err(unknown()),
        }
    }
    let cpus = cpus.ok_or("has no cpu= entry: expected e.g. cpu=16,mem=64G,node=1")?;
    // `gres/gpu=N` is the total; the typed entries say what some or all of them are.
    let named: u64 = typed.values().sum();
    if let Some(total) = untyped
        && total > named
    {
        typed.insert(String::new(), total - named);
    }
    Ok(Tres {
        cpus,
        mem_gb,
        gpus: typed,
    })
}

/// A count of cores or GPUs; a billion is more than any allocation holds.
fn count(item: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .ok()
        .filter(|n| *n <= 1_000_000_000)
        .ok_or_else(|| format!("{}: expected a whole count", shown(item)))
}

/// `64G`, `500M`, `1.5T`, `1048576K`; a bare number is in M, Slurm's default unit.
fn memory_gb(item: &str, value: &str) -> Result<Decimal, String> {
    let err = || {
        format!(
            "{}: expected memory such as mem=64G (K, M, G or T)",
            shown(item)
        )
    };
    let split = value.len() - usize::from(value.ends_with(['K', 'M', 'G', 'T']));
    let n: Decimal = value[..split].parse().map_err(|_| err())?;
    // Beyond an exabyte the value is garbage, and converting it could overflow.
    if n < Decimal::ZERO || n > Decimal::from(1_000_000_000_000_000u64) {
        return Err(err());
    }
    // Slurm's units are binary: 1G = 1024M, 1T = 1024G.
    let k = Decimal::new(1024, 0);
    Ok(match &value[split..] {
        "K" => n / k / k,
        "G" => n,
        "T" => n * k,
        _ => n / k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn reads_typed_and_untyped_gpus_and_memory_units() {
        let t = parse_tres("billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=3,mem=64G,node=1").unwrap();
        assert_eq!(t.cpus, 16);
        assert_eq!(t.mem_gb, d("64"));
        assert_eq!(t.gpus, BTreeMap::from([("".into(), 1), ("a100".into(), 2)]));
        let t = parse_tres("cpu=4,mem=512M,gres/gpu=1").unwrap();
        assert_eq!((t.mem_gb, t.gpus[""]), (d("0.5"), 1));
        assert_eq!(parse_tres("cpu=1,mem=1.5T").unwrap().mem_gb, d("1536"));
        assert_eq!(parse_tres("cpu=1,mem=1048576K").unwrap().mem_gb, d("1"));
        assert_eq!(parse_tres("cpu=1,mem=2048").unwrap().mem_gb, d("2"));
        let t = parse_tres("cpu=2,energy=55,fs/disk=1,license/matlab=1,gres/gpumem=40G").unwrap();
        assert!(t.gpus.is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_price() {
        let err = |s: &str| parse_tres(s).unwrap_err();
        assert!(err("cpu=4,gpu=2").starts_with("unknown TRES `gpu=2`"));
        assert!(err("cpu=4,mem").starts_with("unknown TRES `mem`"));
        assert!(err("cpu=4,mem=64Q").contains("expected memory"));
        assert!(err("cpu=four").contains("whole count"));
        assert!(err("cpu=99999999999").contains("whole count"));
        assert!(err("cpu=1,mem=9999999999999999999999999T").contains("expected memory"));
        assert!(err("mem=4G").contains("no cpu= entry"));
        assert!(err("").starts_with("empty"));
    }

    #[test]
    fn times_allow_unknown() {
        assert_eq!(parse_time("Unknown"), Ok(None));
        assert!(parse_time("2025-01-03T10:00:00").unwrap().is_some());
        assert!(
            parse_time("01/03-10:00:00")
                .unwrap_err()
                .contains("not a date-time")
        );
    }
}
