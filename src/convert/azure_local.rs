//! `ocb convert azure-local`: daily Azure Local (Azure Stack HCI) VM inventory
//! snapshots to FOCUS: per VM and tier, the running hours' vCPUs and memory
//! (Compute) and the virtual disks of every day (Storage), priced by tier.

use super::dated::{self, DatedFile, Finder};
use super::output::{FocusRow, round6};
use super::rates::{self, Amount, Currency, Percent, Price};
use super::{Context, Converted, Sink};
use crate::problem::Problem;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The tier a row was priced in.
pub const EXTRA: &[&str] = &["x_Tier"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureLocalRates {
    pub currency: Currency,
    #[serde(default = "default_provider")]
    pub provider: String,
    /// BillingAccountId on every row; the source name when absent.
    #[serde(default)]
    pub billing_account: Option<String>,
    #[serde(default)]
    pub subsidy_percent: Percent,
    /// How long one snapshot stands for: 24 for daily snapshots.
    #[serde(default = "default_hours")]
    pub hours_per_snapshot: Amount,
    /// The tier of VMs whose snapshot names none; needed with several tiers.
    #[serde(default)]
    pub default_tier: Option<String>,
    pub tiers: BTreeMap<String, Tier>,
    /// VM name → project id, for VMs without a `project_id` tag.
    #[serde(default)]
    pub vm_projects: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub vcpu_hour: Price,
    pub memory_gb_hour: Price,
    pub disk_gb_month: Price,
}

fn default_provider() -> String {
    "Research Computing".into()
}

fn default_hours() -> Amount {
    Amount(Decimal::from(24))
}

impl AzureLocalRates {
    pub fn load(path: &Path, shown_as: &str) -> Result<AzureLocalRates, Problem> {
        let r: AzureLocalRates = rates::load(path, shown_as)?;
        if r.tiers.is_empty() {
            return Err(Problem::file(
                shown_as,
                "`tiers` is empty: expected at least one, such as {standard: {vcpu_hour: 0.01, memory_gb_hour: 0.002, disk_gb_month: 0.05}}",
            ));
        }
        if let Some(t) = &r.default_tier
            && !r.tiers.contains_key(t)
        {
            return Err(Problem::file(
                shown_as,
                format!(
                    "default_tier `{t}` is not one of the tiers: {}",
                    r.tier_names()
                ),
            ));
        }
        Ok(r)
    }

    fn tier_names(&self) -> String {
        self.tiers.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    fn tier(&self, written: &str) -> Result<(&str, &Tier), String> {
        let name = match (written, &self.default_tier, self.tiers.len()) {
            ("", Some(t), _) => t.as_str(),
            ("", None, 1) => self.tiers.keys().next().map_or("", |k| k.as_str()),
            ("", None, _) => {
                return Err(format!(
                    "no tier, and the rates file has several ({}) and no default_tier",
                    self.tier_names()
                ));
            }
            (w, ..) => w,
        };
        self.tiers
            .get_key_value(name)
            .map(|(k, t)| (k.as_str(), t))
            .ok_or_else(|| {
                format!(
                    "unknown tier `{name}`: the rates file prices {}",
                    self.tier_names()
                )
            })
    }
}

/// One VM in one snapshot, as the Resource Graph query (or Get-VM) writes it.
#[derive(Deserialize)]
struct Vm {
    vm_id: String,
    #[serde(default)]
    vm_name: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    vcpus: Amount,
    memory_gb: Amount,
    #[serde(default)]
    disk_gb: Amount,
    #[serde(default)]
    power_state: String,
    #[serde(default)]
    tier: Option<String>,
}

/// `az graph query … -o json` wraps the rows in `{"data": […]}`.
#[derive(Deserialize)]
struct Wrapped {
    data: Vec<Vm>,
}

/// A VM's month on one tier.
#[derive(Default)]
struct Month {
    name: String,
    project: String,
    size: String,
    hours: Decimal,
    compute: Decimal,
    disk_gb_snapshots: Decimal,
}

pub fn convert(
    files: &[PathBuf],
    rates_path: &Path,
    rates_shown: &str,
    cx: &Context,
    sink: Sink,
) -> Result<Converted, Vec<Problem>> {
    let rates = AzureLocalRates::load(rates_path, rates_shown);
    let (dated, mut problems) = dated::read(files);
    let rates = match rates {
        Ok(r) => r,
        Err(p) => {
            problems.insert(0, p);
            return Err(problems);
        }
    };
    let mut months: BTreeMap<(String, String), Month> = BTreeMap::new();
    let mut outside = 0;
    for file in &dated {
        let vms = match inventory(file) {
            Ok(v) => v,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        if !cx.period.contains(file.date) {
            outside += 1;
            continue;
        }
        snapshot(file, vms, &rates, &mut months, &mut problems);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if months.is_empty() {
        return Err(vec![Problem::file(
            files
                .first()
                .map_or(String::new(), |f| f.display().to_string()),
            format!(
                "no VM in {}: expected inventory snapshots dated in the period",
                cx.period
            ),
        )]);
    }
    let days = Decimal::from(cx.period.days());
    for ((vm_id, tier), m) in &months {
        for row in rows(vm_id, tier, m, days, &rates, cx) {
            sink(row);
        }
    }
    let mut notes = vec![format!(
        "{} from {}",
        super::count(months.len(), "VM"),
        super::count(dated.len() - outside, "snapshot")
    )];
    if outside > 0 {
        notes.push(format!(
            "{} outside {} skipped",
            super::count(outside, "snapshot"),
            cx.period
        ));
    }
    Ok(Converted {
        currency: rates.currency.0.clone(),
        notes,
        warnings: Vec::new(),
    })
}

fn inventory(file: &DatedFile) -> Result<Vec<Vm>, Problem> {
    if file
        .text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('[')
    {
        dated::parse::<Vec<Vm>>(file)
    } else {
        dated::parse::<Wrapped>(file).map(|w| w.data)
    }
}

/// Add one day's snapshot: running VMs pay for vCPUs and memory, every VM for its disks.
fn snapshot(
    file: &DatedFile,
    vms: Vec<Vm>,
    rates: &AzureLocalRates,
    months: &mut BTreeMap<(String, String), Month>,
    problems: &mut Vec<Problem>,
) {
    let mut finder = Finder::new(&file.text);
    let mut seen: HashMap<String, u64> = HashMap::new();
    let hours = rates.hours_per_snapshot.0;
    for vm in vms {
        let line = finder.line_of(&vm.vm_id);
        if let Some(first) = seen.insert(vm.vm_id.clone(), line) {
            problems.push(dated::at_line(
                &file.shown,
                line,
                format!(
                    "VM `{}` a second time (line {first}): expected one entry per VM",
                    vm.vm_id
                ),
            ));
            continue;
        }
        let (tier_name, tier) = match rates.tier(vm.tier.as_deref().unwrap_or("")) {
            Ok(t) => t,
            Err(m) => {
                problems.push(dated::at_line(
                    &file.shown,
                    line,
                    format!("VM `{}`: {m}", vm.vm_id),
                ));
                continue;
            }
        };
        let name = vm
            .vm_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| vm.vm_id.clone());
        let m = months
            .entry((vm.vm_id.clone(), tier_name.to_string()))
            .or_default();
        // The last snapshot of the month names the VM, its project and size.
        m.project = vm
            .project_id
            .filter(|p| !p.trim().is_empty())
            .or_else(|| rates.vm_projects.get(&name).cloned())
            .unwrap_or_default();
        m.size = format!(
            "{} vCPU, {} GB",
            crate::money::quantity(vm.vcpus.0),
            crate::money::quantity(vm.memory_gb.0)
        );
        m.name = name;
        if vm.power_state.to_ascii_lowercase().contains("running") {
            m.hours += hours;
            m.compute +=
                (vm.vcpus.0 * tier.vcpu_hour.0 + vm.memory_gb.0 * tier.memory_gb_hour.0) * hours;
        }
        m.disk_gb_snapshots += vm.disk_gb.0 * hours / Decimal::from(24);
    }
}

/// A VM's compute row (when it ran) and disk row (when it had disks).
fn rows(
    vm_id: &str,
    tier: &str,
    m: &Month,
    days: Decimal,
    rates: &AzureLocalRates,
    cx: &Context,
) -> Vec<FocusRow> {
    let pays = rates.subsidy_percent.remainder();
    let price = rates
        .tiers
        .get(tier)
        .map_or(Decimal::ZERO, |t| t.disk_gb_month.0);
    let gb_months = m.disk_gb_snapshots / days;
    let project = cx.projects.get(&m.project);
    let mut tags = cx.tags(project, ("vm_name", &m.name));
    if project.is_none() && !m.project.is_empty() {
        // Unknown to projects.yaml: keep the id so the build and reviewers see it.
        tags.insert(cx.tag_keys.project_id.clone(), m.project.clone());
    }
    let (start, end) = cx.bounds();
    let mut out = Vec::new();
    for (service, category, used, unit, cost, what) in [
        (
            "Azure Local VMs",
            "Compute",
            m.hours,
            "Hours",
            m.compute,
            format!("{}, running hours", m.size),
        ),
        (
            "Azure Local VM disks",
            "Storage",
            gb_months,
            "GB-Month",
            gb_months * price,
            "virtual disks".to_string(),
        ),
    ] {
        if used.is_zero() {
            continue;
        }
        let list = round6(cost);
        out.push(FocusRow {
            billing_account_id: rates
                .billing_account
                .clone()
                .unwrap_or_else(|| cx.source.to_string()),
            currency: rates.currency.0.clone(),
            period: cx.period,
            charge_start: start,
            charge_end: end,
            description: format!("{}: {what}", m.name),
            service_category: category,
            service_name: service.to_string(),
            provider: rates.provider.clone(),
            resource_id: vm_id.to_string(),
            resource_name: m.name.clone(),
            sub_account_id: m.project.clone(),
            consumed: used,
            consumed_unit: unit,
            pricing: used,
            pricing_unit: unit,
            list,
            billed: round6(list * pays),
            tags: tags.clone(),
            extra: vec![tier.to_string()],
        });
    }
    out
}
