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
    if let Some(date) = plain_date(s.as_bytes()) {
        return Ok(date);
    }
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

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`, the forms nearly every export
/// writes (two a row, a million rows), read without chrono's general
/// parsers: the date chrono reads from them. None for any other text, and
/// for a time chrono may still take (a leap second): chrono reads those.
fn plain_date(s: &[u8]) -> Option<NaiveDate> {
    let number = |from: usize, to: usize| -> Option<u32> {
        s[from..to].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let date_part = s.len() >= 10 && s[4] == b'-' && s[7] == b'-';
    let time_part = match s.len() {
        10 => true,
        20 => {
            s[10] == b'T' && s[13] == b':' && s[16] == b':' && s[19] == b'Z' && {
                let (h, m, sec) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
                h < 24 && m < 60 && sec < 60
            }
        }
        _ => false,
    };
    if !(date_part && time_part) {
        return None;
    }
    let year = i32::try_from(number(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5, 7)?, number(8, 10)?)
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
    /// `parse_date` by chrono's parsers alone, as it was before `plain_date`.
    fn by_chrono(s: &str) -> Option<NaiveDate> {
        if s.len() == 10 {
            return NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        }
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|dt| dt.naive_local().date())
    }

    #[test]
    fn plain_dates_are_the_dates_chrono_reads() {
        for s in [
            "2025-01-31",
            "2025-01-31T23:59:59Z",
            "2024-02-29T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-01-00T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31",
            "2025-01-01T24:00:00Z",
            "2025-01-01T23:60:00Z",
            "2025-01-01T23:59:60Z",
            "2025-01-01t00:00:00Z",
            "2025-01-01 00:00:00Z",
            "2025-01-01T00:00:00z",
            "2025-1-01T00:00:00Z",
            "+025-01-01",
            "2025-01-0a",
        ] {
            if let Some(d) = plain_date(s.as_bytes()) {
                assert_eq!(Some(d), by_chrono(s), "{s}");
            }
            if let Some(d) = by_chrono(s) {
                assert_eq!(parse_date(s), Ok(d), "{s}");
            }
        }
        assert!(plain_date(b"2025-01-31T23:59:59Z").is_some());
        assert!(plain_date(b"2025-01-31").is_some());
        assert!(parse_date("2025-02-29T00:00:00Z").is_err());
    }

    proptest::proptest! {
        /// Texts in and near the plain forms: what `plain_date` reads is
        /// what chrono reads.
        #[test]
        fn plain_dates_agree_with_chrono(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}[Zz]?)?") {
            if let Some(d) = plain_date(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(d), by_chrono(&s));
            } else if s.len() == 10 || s.len() == 20 && s.ends_with('Z') {
                // Refused here: chrono refuses it too, or reads a leap second.
                let leap = s.len() == 20 && &s[17..19] == "60";
                proptest::prop_assert!(by_chrono(&s).is_none() || leap, "{}", s);
            }
        }
    }

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
