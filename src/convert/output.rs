//! The FOCUS rows a converter produces, and writing them as one CSV that
//! appears atomically: a reader (or a build) never sees half a file.

use crate::period::Period;
use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The FOCUS columns every converter writes, in this order; a converter adds
/// its own `x_` columns after them. The last seven are FOCUS 1.3's mandatory
/// (or recommended) columns beyond 1.0's; `ProviderName`, deprecated by 1.3,
/// stays for readers of 1.0–1.2.
pub const HEADER: [&str; 30] = [
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeDescription",
    "ServiceCategory",
    "ServiceName",
    "ProviderName",
    "ResourceId",
    "ResourceName",
    "SubAccountId",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "ListCost",
    "ContractedCost",
    "EffectiveCost",
    "BilledCost",
    "Tags",
    "BillingAccountName",
    "ChargeClass",
    "ChargeFrequency",
    "PricingCategory",
    "ServiceProviderName",
    "HostProviderName",
    "InvoiceIssuerName",
];

/// One usage charge. Contracted and effective cost equal the billed cost:
/// a subsidy is the only discount these sources know.
#[derive(Debug, Clone, PartialEq)]
pub struct FocusRow {
    pub billing_account_id: String,
    pub currency: String,
    pub period: Period,
    pub charge_start: NaiveDateTime,
    pub charge_end: NaiveDateTime,
    pub description: String,
    pub service_category: &'static str,
    pub service_name: String,
    pub provider: String,
    pub resource_id: String,
    pub resource_name: String,
    pub sub_account_id: String,
    pub consumed: Decimal,
    pub consumed_unit: &'static str,
    pub pricing: Decimal,
    pub pricing_unit: &'static str,
    pub list: Decimal,
    pub billed: Decimal,
    pub tags: BTreeMap<String, String>,
    /// Values of the converter's `x_` columns, in its header's order.
    pub extra: Vec<String>,
}

/// Money and quantities are kept to six decimal places (a micro-unit), half
/// away from zero, the same as the other exports ocb reads.
pub fn round6(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
}

/// A cost with exactly six decimals: `12.500000`.
pub fn cost_text(d: Decimal) -> String {
    let mut r = round6(d);
    r.rescale(6);
    r.to_string()
}

/// A quantity without trailing zeros: `12.5`, `32`.
pub fn quantity_text(d: Decimal) -> String {
    round6(d).normalize().to_string()
}

/// FOCUS date-times are UTC with a `Z`; the converters' clocks are taken as UTC.
fn datetime(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn cells(row: &FocusRow) -> Vec<String> {
    let start = row.period.first_day();
    let end = row.period.next().first_day();
    let billed = cost_text(row.billed);
    let mut out = vec![
        row.billing_account_id.clone(),
        row.currency.clone(),
        format!("{start}T00:00:00Z"),
        format!("{end}T00:00:00Z"),
        datetime(row.charge_start),
        datetime(row.charge_end),
        "Usage".to_string(),
        row.description.clone(),
        row.service_category.to_string(),
        row.service_name.clone(),
        row.provider.clone(),
        row.resource_id.clone(),
        row.resource_name.clone(),
        row.sub_account_id.clone(),
        quantity_text(row.consumed),
        row.consumed_unit.to_string(),
        quantity_text(row.pricing),
        row.pricing_unit.to_string(),
        cost_text(row.list),
        billed.clone(),
        billed.clone(),
        billed,
        serde_json::to_string(&row.tags).unwrap_or_else(|_| "{}".into()),
        row.billing_account_id.clone(),
        // Null: these rows never correct an earlier, invoiced period.
        String::new(),
        "Usage-Based".to_string(),
        "Standard".to_string(),
        // The provider runs the service, hosts it and bills for it.
        row.provider.clone(),
        row.provider.clone(),
        row.provider.clone(),
    ];
    out.extend(row.extra.iter().cloned());
    out
}

/// Writes rows to a hidden temporary file as they come, and puts it in place
/// only on `finish`: dropped unfinished (bad input, an error), it leaves
/// nothing behind — not even the period folder.
pub struct Writer {
    dest: PathBuf,
    csv: csv::Writer<std::io::BufWriter<tempfile::NamedTempFile>>,
    /// The first write error; reported by `finish` so that `write` can be a sink.
    error: Option<csv::Error>,
    pub totals: Totals,
}

/// What a writer has written: rows, and their ListCost and BilledCost as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows: u64,
    pub list: Decimal,
    pub billed: Decimal,
}

impl Writer {
    pub fn create(dest: &Path, extra_header: &[&str]) -> Result<Writer> {
        // The temporary file lives in the nearest existing folder on the way
        // to `dest`, so that the final rename stays on one file system. Dot
        // names are ignored by the build should one run meanwhile.
        let mut dir = dest.parent().unwrap_or(Path::new(""));
        while !dir.as_os_str().is_empty() && !dir.is_dir() {
            dir = dir.parent().unwrap_or(Path::new(""));
        }
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let tmp = tempfile::Builder::new()
            .prefix(".ocb-convert-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in `{}`", dir.display()))?;
        let mut csv = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 16, tmp));
        csv.write_record(HEADER.iter().chain(extra_header))?;
        Ok(Writer {
            dest: dest.to_path_buf(),
            csv,
            error: None,
            totals: Totals::default(),
        })
    }

    pub fn write(&mut self, row: &FocusRow) {
        if self.error.is_some() {
            return;
        }
        match self.csv.write_record(cells(row)) {
            Ok(()) => {
                self.totals.rows += 1;
                self.totals.list += round6(row.list);
                self.totals.billed += round6(row.billed);
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Flush, create the destination folder and rename the file into place.
    pub fn finish(self) -> Result<Totals> {
        let failed = || format!("cannot write `{}`", self.dest.display());
        if let Some(e) = self.error {
            return Err(e).with_context(failed);
        }
        let tmp = self
            .csv
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))
            .with_context(failed)?
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))
            .with_context(failed)?;
        tmp.as_file().sync_all().with_context(failed)?;
        // Temporary files are private (0600); the result is an ordinary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .context("cannot set the output file's permissions")?;
        }
        if let Some(dir) = self.dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        tmp.persist(&self.dest)
            .with_context(|| format!("cannot write `{}`", self.dest.display()))?;
        Ok(self.totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn money_has_six_decimals_and_quantities_none_to_spare() {
        assert_eq!(cost_text(d("1.5")), "1.500000");
        assert_eq!(cost_text(d("0.0000005")), "0.000001");
        assert_eq!(cost_text(d("-0.0000005")), "-0.000001");
        assert_eq!(cost_text(Decimal::ZERO), "0.000000");
        assert_eq!(quantity_text(d("32.000000")), "32");
        assert_eq!(quantity_text(d("10.1666666666")), "10.166667");
    }
}
