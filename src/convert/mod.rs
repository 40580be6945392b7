//! `ocb convert`: turn sources that do not speak FOCUS (Slurm accounting,
//! storage usage snapshots, Isilon quotas, ChatGPT Edu usage, Azure Local VM
//! inventories) into a FOCUS CSV priced with the institution's own
//! rates and subsidies, attributed from `projects.yaml`, ready to sit in
//! `periods/<P>/<source>.csv` beside the cloud exports.

pub mod azure_local;
pub mod dated;
pub mod isilon;
pub mod openai;
pub mod output;
pub mod rates;
pub mod sacct;
pub mod slurm;
pub mod slurm_rates;
pub mod snapshots;
pub mod storage;

use crate::config::TagKeys;
use crate::period::Period;
use crate::projects::{Project, Projects};
use output::FocusRow;
use std::collections::BTreeMap;

/// What every conversion needs besides its input and rates.
pub struct Context<'a> {
    pub period: Period,
    /// The source name (`hpc`, `storage`): the BillingAccountId unless the rates file names one.
    pub source: &'a str,
    pub projects: &'a Projects,
    /// Where the build looks for attribution in Tags (from `ocb.yaml`).
    pub tag_keys: &'a TagKeys,
}

impl Context<'_> {
    /// Tags for a charge: the project's PI, id, fund and cost center under the
    /// configured keys, plus the source's own key (`slurm_account`, `storage_path`)
    /// so a reviewer can see where an unattributed charge came from.
    pub fn tags(&self, project: Option<&Project>, own: (&str, &str)) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::new();
        if let Some(p) = project {
            let k = self.tag_keys;
            for (key, value) in [
                (&k.pi_email, &p.pi.email),
                (&k.project_id, &p.id),
                (&k.fund_org, &p.fund_org),
                (&k.cost_center, &p.cost_center),
            ] {
                // An empty value is left out so the build flags it instead of trusting "".
                if !value.is_empty() {
                    tags.insert(key.clone(), value.clone());
                }
            }
        }
        tags.insert(own.0.to_string(), own.1.to_string());
        tags
    }

    /// First instant of the period and of the next one (the period's end, exclusive).
    pub fn bounds(&self) -> (chrono::NaiveDateTime, chrono::NaiveDateTime) {
        let midnight = chrono::NaiveTime::MIN;
        (
            self.period.first_day().and_time(midnight),
            self.period.next().first_day().and_time(midnight),
        )
    }
}

/// Where a converter hands its rows: the output file's writer, or a Vec in tests.
pub type Sink<'a> = &'a mut dyn FnMut(FocusRow);

/// A finished conversion: its currency, and what was left out and why.
#[derive(Debug)]
pub struct Converted {
    pub currency: String,
    /// One line per kind of input that gave no row, e.g. `3 PENDING jobs skipped …`.
    pub notes: Vec<String>,
    /// Located doubts that did not stop the conversion (nested Isilon quotas).
    pub warnings: Vec<crate::problem::Problem>,
}

/// `--source` becomes a file name, so it is held to what `ocb import` accepts.
pub fn valid_source(source: &str) -> bool {
    !source.is_empty()
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `1 line`, `2 lines`: counts in the converters' summaries.
pub fn count(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
