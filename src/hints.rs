//! One line per review flag saying what resolves it, shown by `ocb review`, on
//! the review page and by `ocb doctor`, so that a new user is never left with
//! held charges and no way out.

/// What resolves a flag, by its stable code. Every code `flag` raises has one
/// (a unit test checks it).
pub fn hint(code: &str) -> &'static str {
    match code {
        "missing_pi_email" => {
            "add a `pi_email` tag in the source, list the project in projects.yaml (its PI is used), or decide `reassign` with `set: {pi_email: …}` in review.yaml"
        }
        "invalid_pi_email" => {
            "fix the tag at the source, or decide `reassign` with `set: {pi_email: …}` in review.yaml"
        }
        "missing_project_id" => {
            "add a `project_id` tag, map the account with `accounts: [...]` on a project in projects.yaml, or decide `reassign` with `set: {project_id: …}`"
        }
        "unknown_project" => {
            "add it to projects.yaml with `ocb projects add --from-data`, or set `review.rules.unknown_project: warn` in ocb.yaml"
        }
        "missing_fund_org" => {
            "add a `fund_org` tag, give the project a `fund_org` in projects.yaml, or decide `reassign` with `set: {fund_org: …}`"
        }
        "invalid_fund_org" => {
            "correct the fund/org (tag, projects.yaml or `reassign`), or widen `review.fund_org_patterns` in ocb.yaml"
        }
        "pattern_match" => {
            "look at the charge, then decide `approve` or `reject` in review.yaml (or change `review.flag_patterns`)"
        }
        "period_mismatch" => {
            "import the file with `ocb import FILE --source S` (it splits rows by month), or decide `reject` if the row belongs to another month's file"
        }
        "duplicate_row" => {
            "decide `reject` for the copy in review.yaml, or `approve` if the provider really charged twice"
        }
        "project_expired" => {
            "extend the project's `end_date` in projects.yaml, or decide `approve`, `reject` or `reassign`"
        }
        "billed_over_list" => {
            "a warning only: check the rates; `review.rules.billed_over_list: off` silences it"
        }
        "negative_cost" => {
            "a warning only: credits and refunds are legal; `review.rules.negative_cost: hold` holds them for review"
        }
        "cost_spike" => {
            "a warning only: confirm the usage with the PI; tune `review.spike` in ocb.yaml"
        }
        _ => "decide `approve`, `reject` or `reassign` in review.yaml",
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    /// Every code a flag rule raises has its own hint, not the fallback.
    #[test]
    fn every_flag_has_its_own_hint() {
        let fallback = hint("no such flag");
        for code in crate::charge::FlagCode::ALL.map(|c| c.as_str()) {
            assert_ne!(hint(code), fallback, "no hint for `{code}`");
        }
    }
}
