//! FOCUS columns ocb reads (1.0–1.3 names and older aliases), and the cell
//! parsers for nulls, dates and tags. Money parsing lives in `money`.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Columns with a meaning for ocb; every other column is kept as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    BillingPeriodStart,
    BillingPeriodEnd,
    ChargePeriodStart,
    ChargePeriodEnd,
    BilledCost,
    ListCost,
    ContractedCost,
    EffectiveCost,
    BillingCurrency,
    ServiceName,
    ServiceCategory,
    ResourceId,
    ResourceName,
    ChargeCategory,
    ChargeClass,
    ChargeDescription,
    ConsumedQuantity,
    ConsumedUnit,
    PricingQuantity,
    PricingUnit,
    SubAccountId,
    SubAccountName,
    BillingAccountId,
    ProviderName,
    RegionId,
    Tags,
}

impl Field {
    /// How many fields there are (`Tags` is the last), for per-field tables.
    pub const COUNT: usize = Field::Tags as usize + 1;
}

/// Header name (case-insensitive) to field. Older names map to their 1.x successors.
pub fn field(header: &str) -> Option<Field> {
    use Field::*;
    Some(match header.trim().to_ascii_lowercase().as_str() {
        "billingperiodstart" => BillingPeriodStart,
        "billingperiodend" => BillingPeriodEnd,
        "chargeperiodstart" => ChargePeriodStart,
        "chargeperiodend" => ChargePeriodEnd,
        "billedcost" => BilledCost,
        "listcost" => ListCost,
        "contractedcost" => ContractedCost,
        "effectivecost" | "amortizedcost" => EffectiveCost,
        "billingcurrency" | "billedcurrency" => BillingCurrency,
        "servicename" => ServiceName,
        "servicecategory" => ServiceCategory,
        "resourceid" => ResourceId,
        "resourcename" => ResourceName,
        "chargecategory" | "chargetype" => ChargeCategory,
        "chargeclass" => ChargeClass,
        "chargedescription" => ChargeDescription,
        "consumedquantity" | "usagequantity" => ConsumedQuantity,
        "consumedunit" | "usageunit" => ConsumedUnit,
        "pricingquantity" => PricingQuantity,
        "pricingunit" => PricingUnit,
        "subaccountid" => SubAccountId,
        "subaccountname" => SubAccountName,
        "billingaccountid" => BillingAccountId,
        // 1.3 splits ProviderName into ServiceProviderName/HostProviderName.
        "providername" | "provider" | "serviceprovidername" => ProviderName,
        "regionid" | "region" => RegionId,
        "tags" => Tags,
        _ => return None,
    })
}

/// Empty, `NULL` and `null` cells are nulls (real exports use all three).
pub fn is_null(cell: &str) -> bool {
    let t = trim(cell);
    t.is_empty() || t.eq_ignore_ascii_case("null")
}

/// `str::trim`, at once for a cell that starts and ends with a visible
/// ASCII character (a million rows' cells, most of them).
pub fn trim(cell: &str) -> &str {
    match cell.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => cell,
        [one] if one.is_ascii_graphic() => cell,
        _ => cell.trim(),
    }
}

/// A FOCUS date or date-time; the calendar date as written (offsets are not
/// applied, so `2025-02-01T00:00:00+01:00` stays in February as its issuer meant).
pub fn parse_date(cell: &str) -> Result<NaiveDate, String> {
    let s = cell.trim();
    let expected = "expected YYYY-MM-DD or an ISO 8601 date-time such as 2025-01-01T00:00:00Z";
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| format!("`{s}` is not a valid date: {expected}"));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.naive_local().date());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(dt.date());
        }
    }
    Err(format!("`{s}` is not a valid date: {expected}"))
}

/// The `Tags` cell: a JSON object whose values are strings, numbers, booleans or null.
/// Null values are dropped; numbers and booleans become their JSON text.
pub fn parse_tags(cell: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_str(cell.trim()).map_err(|e| format!("not valid JSON ({e}): expected a JSON object such as {{\"project_id\": \"ocean-model\"}}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("expected a JSON object such as {\"project_id\": \"ocean-model\"}, found another JSON value".into());
    };
    let mut tags = Vec::with_capacity(map.len());
    for (k, v) in map {
        let text = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "tag `{k}` has a {} value: expected a string, number, boolean or null",
                    if other.is_array() {
                        "list"
                    } else {
                        "nested object"
                    }
                ));
            }
        };
        tags.push((k, text));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    #[test]
    fn trim_is_str_trim() {
        for cell in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{a0}a",
            "a\u{a0}",
            "\u{2003}",
            "é",
            " é ",
            "ab",
            "a b",
            "\ta\n",
            "\u{3000}x\u{3000}",
            "x\u{85}",
            "1.50",
            "NULL",
        ] {
            assert_eq!(trim(cell), cell.trim(), "{cell:?}");
        }
    }

    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_in_every_form_real_exports_use() {
        assert_eq!(parse_date("2025-01-01").unwrap(), day("2025-01-01"));
        assert_eq!(
            parse_date("2025-01-01T00:00:00Z").unwrap(),
            day("2025-01-01")
        );
        assert_eq!(
            parse_date("2025-01-31T23:00:00.000Z").unwrap(),
            day("2025-01-31")
        );
        assert_eq!(
            parse_date("2025-02-01T00:00:00+01:00").unwrap(),
            day("2025-02-01")
        );
        assert_eq!(
            parse_date("2025-01-01 00:00:00").unwrap(),
            day("2025-01-01")
        );
        for bad in [
            "5/1/25",
            "2025-13-01",
            "2025-01-01T30:00:00Z",
            "2025-02-30",
            "yesterday",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_are_a_json_object() {
        let t = parse_tags(r#"{"pi_email":"a@b.edu","n":3,"ok":true,"gone":null}"#).unwrap();
        assert_eq!(t.len(), 3);
        assert!(parse_tags("[1,2]").unwrap_err().contains("JSON object"));
        assert!(
            parse_tags("project=x")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(parse_tags(r#"{"a":[1]}"#).unwrap_err().contains("list"));
    }

    #[test]
    fn nulls() {
        assert!(is_null("") && is_null("NULL") && is_null("null") && is_null("  "));
        assert!(!is_null("0"));
    }
}
