//! The Slurm rates file: prices per partition and date, the subsidy, and
//! which job states are billed. See docs/guides/hpc-slurm.md.

use super::rates::{self, Currency, Percent, Price};
use crate::problem::Problem;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmRates {
    pub currency: Currency,
    /// ProviderName on every row.
    #[serde(default = "default_provider")]
    pub provider: String,
    /// BillingAccountId on every row; the source name when absent.
    #[serde(default)]
    pub billing_account: Option<String>,
    pub rates: Vec<Rate>,
    #[serde(default = "default_bill_states")]
    pub bill_states: Vec<State>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// A partition name, or `*` for every partition without its own entry.
    pub partition: String,
    /// Effective from this date (inclusive) until a later `from` for the same partition.
    pub from: NaiveDate,
    #[serde(default)]
    pub cpu_hour: Price,
    #[serde(default)]
    pub mem_gb_hour: Price,
    /// Per GPU type as Slurm names it in AllocTRES; `default` for any other.
    #[serde(default)]
    pub gpu_hour: BTreeMap<String, Price>,
    #[serde(default)]
    pub subsidy_percent: Percent,
}

/// A Slurm job state name, checked against the states sacct prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State(pub String);

const STATES: [&str; 15] = [
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PENDING",
    "PREEMPTED",
    "RUNNING",
    "REQUEUED",
    "RESIZING",
    "REVOKED",
    "SUSPENDED",
    "TIMEOUT",
];

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<State, D::Error> {
        rates::checked_str(d, "a Slurm job state such as COMPLETED", |s| {
            let s = s.to_ascii_uppercase();
            if !STATES.contains(&s.as_str()) {
                return Err(format!(
                    "`{s}` is not a Slurm job state: expected one of {}",
                    STATES.join(", ")
                ));
            }
            Ok(State(s))
        })
    }
}

fn default_provider() -> String {
    "Research Computing".into()
}

fn default_bill_states() -> Vec<State> {
    [
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "CANCELLED",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "RUNNING",
    ]
    .into_iter()
    .map(|s| State(s.into()))
    .collect()
}

impl SlurmRates {
    pub fn load(path: &Path, shown_as: &str) -> Result<SlurmRates, Problem> {
        let r: SlurmRates = rates::load(path, shown_as)?;
        if r.rates.is_empty() {
            return Err(Problem::file(
                shown_as,
                "`rates` is empty: expected at least one entry such as {partition: \"*\", from: 2025-01-01, cpu_hour: 0.02}",
            ));
        }
        if let Some(r) = r.rates.iter().find(|r| r.partition.trim().is_empty()) {
            return Err(Problem::file(
                shown_as,
                format!(
                    "the rate from {} has an empty partition: expected a name or \"*\"",
                    r.from
                ),
            ));
        }
        Ok(r)
    }

    pub fn bills(&self, state: &str) -> bool {
        self.bill_states.iter().any(|s| s.0 == state)
    }

    /// The rate for a partition on a date: the partition's own entries win
    /// over `*`; among those in effect, the latest `from`, and for equal
    /// dates the later entry in the file. The error names the sacct column at fault.
    pub fn rate(&self, partition: &str, date: NaiveDate) -> Result<&Rate, (&'static str, String)> {
        let in_effect = |name: &str| {
            self.rates
                .iter()
                .enumerate()
                .filter(|(_, r)| r.partition == name && r.from <= date)
                .max_by_key(|(i, r)| (r.from, *i))
                .map(|(_, r)| r)
        };
        if let Some(r) = in_effect(partition).or_else(|| in_effect("*")) {
            return Ok(r);
        }
        let earliest = self
            .rates
            .iter()
            .filter(|r| r.partition == partition || r.partition == "*")
            .map(|r| r.from)
            .min();
        Err(match earliest {
            Some(first) => (
                "Start",
                format!(
                    "no rate for partition `{partition}` on {date}: its rates start on {first}"
                ),
            ),
            None => (
                "Partition",
                format!(
                    "no rate for partition `{partition}`: add an entry with `partition: {partition}` or `partition: \"*\"`"
                ),
            ),
        })
    }
}

impl Rate {
    /// Price of one GPU-hour of a type (`""` when sacct did not name it).
    pub fn gpu_price(&self, kind: &str) -> Result<Decimal, String> {
        let named = (!kind.is_empty())
            .then(|| self.gpu_hour.get(kind))
            .flatten();
        match named.or_else(|| self.gpu_hour.get("default")) {
            Some(p) => Ok(p.0),
            None if kind.is_empty() => Err(format!(
                "GPUs without a type on partition `{}`: add `default:` to gpu_hour of the rate from {}",
                self.partition, self.from
            )),
            None => Err(format!(
                "no gpu_hour price for GPU type `{kind}`: add `{kind}:` or `default:` to the rate for partition `{}` from {}",
                self.partition, self.from
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(text: &str) -> Result<SlurmRates, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.yaml");
        std::fs::write(&p, text).unwrap();
        SlurmRates::load(&p, "r.yaml").map_err(|e| e.to_string())
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TEXT: &str = "currency: USD
rates:
  - {partition: \"*\", from: 2024-07-01, cpu_hour: 0.02}
  - {partition: gpu, from: 2024-07-01, cpu_hour: 0.03, gpu_hour: {a100: 1.5}}
  - {partition: \"*\", from: 2025-01-01, cpu_hour: 0.025}
  - {partition: gpu, from: 2025-03-01, cpu_hour: 0.01}
  - {partition: gpu, from: 2025-03-01, cpu_hour: 0.04}
  - {partition: big, from: 2025-06-01, cpu_hour: 0.05}
";

    #[test]
    fn picks_the_partition_then_the_latest_date_then_the_later_entry() {
        let r = rates(TEXT).unwrap();
        let price = |p: &str, d: &str| r.rate(p, day(d)).unwrap().cpu_hour.0.to_string();
        assert_eq!(price("cpu", "2024-12-31"), "0.02");
        assert_eq!(price("cpu", "2025-01-01"), "0.025");
        assert_eq!(price("gpu", "2025-02-01"), "0.03");
        assert_eq!(price("gpu", "2025-03-01"), "0.04");
        // Before its own rates start, a partition falls back to `*`.
        assert_eq!(price("big", "2025-05-31"), "0.025");
        assert!(r.bills("COMPLETED") && !r.bills("PENDING"));
    }

    #[test]
    fn says_why_no_rate_applies() {
        let r = rates("currency: USD\nrates:\n  - {partition: gpu, from: 2024-07-01}\n").unwrap();
        assert_eq!(
            r.rate("gpu", day("2024-06-30")).unwrap_err().1,
            "no rate for partition `gpu` on 2024-06-30: its rates start on 2024-07-01"
        );
        assert!(
            r.rate("cpu", day("2025-01-01"))
                .unwrap_err()
                .1
                .starts_with("no rate for partition `cpu`: add an entry")
        );
        let gpu = r.rate("gpu", day("2025-01-01")).unwrap();
        assert!(gpu.gpu_price("h100").unwrap_err().contains("`h100:`"));
    }

    #[test]
    fn file_errors_are_located() {
        let err = rates("currency: USD\nrates: []\nbill_states: [COMPLETED, DONE]\n").unwrap_err();
        assert!(
            err.starts_with("r.yaml:3:") && err.contains("`DONE` is not a Slurm job state"),
            "{err}"
        );
        let err = rates("currency: USD\nrates: []\n").unwrap_err();
        assert!(err.starts_with("r.yaml: `rates` is empty"), "{err}");
        let err =
            rates("currency: USD\nrates:\n  - {partition: a, from: 2025-01-01, cpu_hours: 1}\n")
                .unwrap_err();
        assert!(err.contains("unknown field `cpu_hours`"), "{err}");
    }
}
