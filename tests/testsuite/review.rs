//! The review workflow: flag rules, decisions in review.yaml, closing periods.

use crate::common::{csv_rows, ocb, read, repo};
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

fn build(root: &Path) -> assert_cmd::assert::Assert {
    ocb(root).args(["build", "--no-pdf"]).assert()
}

fn tags(pi: &str, project: &str, fund: &str) -> String {
    format!(r#""{{""pi_email"":""{pi}"",""project_id"":""{project}"",""fund_org"":""{fund}""}}""#)
}

/// ResourceId → (state, flags) in a period's charges.csv.
fn states(root: &Path, period: &str) -> BTreeMap<String, (String, String)> {
    let (_, rows) = csv_rows(root.join(format!("output/{period}/charges.csv")));
    rows.into_iter()
        .map(|r| (format!("{}/{}", r[2], r[13]), (r[5].clone(), r[6].clone())))
        .collect()
}

#[test]
fn each_rule_fires_where_it_should_and_nowhere_else() {
    let dir = repo("basic");
    let root = dir.path();
    std::fs::write(root.join("ocb.yaml"), "review:\n  fund_org_patterns: ['(NSF|NIH)-[0-9]+']\n  flag_patterns: ['(?i)sagemaker']\n  spike: {ratio: 3, min_amount: 10}\n").unwrap();
    let projects = read(root.join("projects.yaml")).replace(
        "  fund_org: NIH-2\n",
        "  fund_org: NIH-2\n  end_date: 2025-01-31\n",
    );
    std::fs::write(root.join("projects.yaml"), projects).unwrap();
    let ok = tags("a@x.edu", "p1", "NSF-1");
    let rows = [
        format!("ok,EC2,2025-02-01,,2,1,{ok}"),
        format!(
            "bad-email,EC2,2025-02-01,,2,1,{}",
            tags("not-an-email", "p1", "NSF-1")
        ),
        format!("no-fund,EC2,2025-02-01,,2,1,{}", tags("a@x.edu", "zzz", "")),
        format!(
            "bad-fund,EC2,2025-02-01,,2,1,{}",
            tags("a@x.edu", "p1", "ABC-1")
        ),
        format!("ml,Amazon SageMaker,2025-02-01,,2,1,{ok}"),
        format!("over,EC2,2025-02-01,,4,5,{ok}"),
        format!("refund,EC2,2025-02-01,,-1,-1,{ok}"),
        format!("twice,EC2,2025-02-01,,1,1,{ok}"),
        format!("twice,EC2,2025-02-01,,1,1,{ok}"),
        format!(
            "late,EC2,2025-02-01,2025-02-03,1,1,{}",
            tags("b@x.edu", "p2", "NIH-2")
        ),
    ];
    std::fs::write(root.join("periods/2025-02/flags.csv"), format!("ResourceId,ServiceName,BillingPeriodStart,ChargePeriodStart,ListCost,BilledCost,Tags\n{}\n", rows.join("\n"))).unwrap();
    // p1 on aws: $7.17 in January, $17 + $10 in February: a spike above 3× and $10.
    let jan_aws = read(root.join("periods/2025-02/aws.csv"));
    std::fs::write(
        root.join("periods/2025-02/aws.csv"),
        format!("{jan_aws}2025-02-01,USD,EC2,Compute,i-7,Usage,10.00,10.00,{ok}\n"),
    )
    .unwrap();
    build(root).success();
    let s = states(root, "2025-02");
    let flags = |k: &str| s[&format!("flags/{k}")].clone();
    assert_eq!(flags("ok"), ("billed".into(), "".into()));
    assert_eq!(
        flags("bad-email"),
        ("held".into(), "invalid_pi_email".into())
    );
    assert_eq!(
        flags("no-fund"),
        ("held".into(), "unknown_project;missing_fund_org".into())
    );
    assert_eq!(
        flags("bad-fund"),
        ("held".into(), "invalid_fund_org".into())
    );
    assert_eq!(flags("ml"), ("held".into(), "pattern_match".into()));
    assert_eq!(flags("over"), ("billed".into(), "billed_over_list".into()));
    assert_eq!(flags("refund"), ("billed".into(), "negative_cost".into()));
    assert_eq!(flags("late"), ("held".into(), "project_expired".into()));
    let (_, rows) = csv_rows(root.join("output/2025-02/charges.csv"));
    let twice: Vec<&str> = rows
        .iter()
        .filter(|r| r[13] == "twice")
        .map(|r| r[6].as_str())
        .collect();
    assert_eq!(twice, ["", "duplicate_row"]);
    assert_eq!(
        s["aws/i-7"],
        ("billed".into(), "cost_spike".into()),
        "spikes warn by default"
    );
    assert!(
        !s["aws/i-9"].1.contains("cost_spike"),
        "no spike for p2 (no previous total)"
    );
    // review.rules changes what holds.
    std::fs::write(root.join("ocb.yaml"), "review:\n  fund_org_patterns: ['(NSF|NIH)-[0-9]+']\n  rules: {invalid_fund_org: warn, project_expired: off, negative_cost: hold}\n").unwrap();
    build(root).success();
    let s = states(root, "2025-02");
    assert_eq!(
        s["flags/bad-fund"],
        ("billed".into(), "invalid_fund_org".into())
    );
    assert_eq!(s["flags/late"], ("billed".into(), "".into()));
    assert_eq!(s["flags/refund"], ("held".into(), "negative_cost".into()));
}

/// The basic fixture's held charge (untagged bucket) and its id.
fn held_id(root: &Path) -> String {
    build(root).success();
    let (_, rows) = csv_rows(root.join("output/2025-01/charges.csv"));
    rows.iter().find(|r| r[13] == "b-untagged").unwrap()[0].clone()
}

fn summary(root: &Path) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(&read(root.join("output/summary.json"))).unwrap()["periods"][0]["currencies"][0].clone()
}

#[test]
fn decisions_approve_reject_reassign_and_pending() {
    let dir = repo("basic");
    let root = dir.path();
    let id = held_id(root);
    let review = root.join("periods/2025-01/review.yaml");

    std::fs::write(&review, format!("- charge: {id}\n  decision: reassign\n  set: {{pi_email: b@x.edu, project_id: p2, fund_org: NIH-2}}\n  note: bucket belongs to lab B\n  by: jdoe\n")).unwrap();
    build(root).success();
    let (_, rows) = csv_rows(root.join("output/2025-01/statements.csv"));
    let p2 = rows.iter().find(|r| r[3] == "p2").unwrap();
    assert_eq!(
        (p2[8].as_str(), p2[9].as_str()),
        ("8.005", "2"),
        "the reassigned $3.00 joins p2's statement"
    );
    assert_eq!(
        (
            summary(root)["billed"].as_str(),
            summary(root)["held"].as_str()
        ),
        (Some("15.171667"), Some("0"))
    );
    let page = read(root.join("output/2025-01/review.html"));
    assert!(page.contains("bucket belongs to lab B") && page.contains("jdoe"));

    std::fs::write(
        &review,
        format!("- charge: {id}\n  decision: reject\n  note: test data\n"),
    )
    .unwrap();
    build(root).success();
    let s = summary(root);
    assert_eq!(
        (
            s["billed"].as_str(),
            s["held"].as_str(),
            s["rejected"].as_str(),
            s["input_billed"].as_str()
        ),
        (Some("12.171667"), Some("0"), Some("3"), Some("15.171667"))
    );
    assert!(!read(root.join("output/2025-01/journal.csv")).contains("3.00"));

    std::fs::write(&review, format!("- charge: {id}\n  decision: pending\n")).unwrap();
    build(root).success();
    assert_eq!(summary(root)["held"].as_str(), Some("3"));

    // Approving a charge with no PI would bill nobody: an error at the decision's line.
    std::fs::write(
        &review,
        format!("# header comment\n- charge: {id}\n  decision: approve\n"),
    )
    .unwrap();
    build(root).code(1).stderr(predicate::str::contains(
        "periods/2025-01/review.yaml:2: `decision: approve` cannot bill it",
    ));
}

#[test]
fn bulk_match_decides_many_charges() {
    let dir = repo("basic");
    let root = dir.path();
    std::fs::write(root.join("periods/2025-01/review.yaml"), "- match: {source: aws, service_name: S3, flag: missing_pi_email}\n  decision: reject\n  note: scratch bucket\n").unwrap();
    build(root).success();
    assert_eq!(summary(root)["rejected"].as_str(), Some("3"));
    // After `ocb review --write`, a bulk rule still decides charges left pending.
    let id = held_id(root);
    std::fs::write(
        root.join("periods/2025-01/review.yaml"),
        format!("- charge: {id}\n  decision: pending\n- match: {{source: aws, service_name: S3, flag: missing_pi_email}}\n  decision: reject\n"),
    )
    .unwrap();
    build(root).success();
    assert_eq!(summary(root)["rejected"].as_str(), Some("3"));
    // A rule that matches nothing is reported as stale, not silently dropped.
    std::fs::write(
        root.join("periods/2025-01/review.yaml"),
        "- match: {source: gcp}\n  decision: approve\n",
    )
    .unwrap();
    build(root).success().stderr(predicate::str::contains(
        "review.yaml:1: match rule applies to no charge (stale)",
    ));
}

#[test]
fn bad_decisions_are_located() {
    let dir = repo("basic");
    let root = dir.path();
    let review = root.join("periods/2025-01/review.yaml");
    let cases = [
        (
            "- charge: aaaaaaaaaaaa\n  decision: approve\n",
            "review.yaml:1: no charge `aaaaaaaaaaaa` in this period",
        ),
        (
            "- charge: 123\n  decision: approve\n",
            "review.yaml:1: `123` is not a charge id",
        ),
        (
            "# c\n- charge: aaaaaaaaaaaa\n  decision: approve\n  colour: red\n",
            "review.yaml:4:3: item 1: unknown field `colour`",
        ),
        (
            "- charge: aaaaaaaaaaaa\n  decision: maybe\n",
            "review.yaml:2:13: item 1, decision: unknown variant `maybe`",
        ),
        ("- charge: [unclosed\n", "review.yaml:1"),
        (
            "- match: {source: aws}\n  decision: reassign\n  set: {pi_email: nobody}\n",
            "review.yaml:1: set.pi_email: `nobody` is not an email address",
        ),
        (
            "- match: {source: aws}\n  decision: reassign\n  set: {project_id: nope}\n",
            "review.yaml:1: set.project_id: project `nope` is not in projects.yaml",
        ),
    ];
    for (text, message) in cases {
        std::fs::write(&review, text).unwrap();
        build(root).code(1).stderr(predicate::str::contains(format!(
            "periods/2025-01/{message}"
        )));
    }
    let fresh = repo("basic");
    let id = held_id(fresh.path());

    std::fs::write(
        &review,
        format!(
            "- charge: aaaaaaaaaaaa\n  decision: pending\n- charge: {id}\n  decision: reject\n"
        ),
    )
    .unwrap();
    build(root).success().stderr(predicate::str::contains(
        "review.yaml:1: pending charge `aaaaaaaaaaaa` is no longer in the data (stale)",
    ));
}

#[test]
fn review_write_appends_pending_and_keeps_comments() {
    let dir = repo("basic");
    let root = dir.path();
    let review = root.join("periods/2025-01/review.yaml");
    let kept = "# Decisions for January, reviewed by the billing team.\n# (keep this comment)\n";
    std::fs::write(&review, kept).unwrap();
    ocb(root)
        .args(["review", "--period", "2025-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2025-01: 1 charge held, $3.00"))
        .stdout(predicate::str::contains("missing_pi_email"));
    ocb(root)
        .args(["review", "--period", "2025-01", "--write"])
        .assert()
        .success()
        .stdout(predicate::str::contains("appended 1 pending decision"));
    let text = read(&review);
    assert!(text.starts_with(kept), "{text}");
    assert!(
        text.contains("decision: pending")
            && text.contains("# aws periods/2025-01/aws.csv:6: $3.00 S3 b-untagged"),
        "{text}"
    );
    ocb(root)
        .args(["review", "--period", "2025-01", "--write"])
        .assert()
        .success()
        .stdout(predicate::str::contains("appended 0 pending decisions"));
    assert_eq!(read(&review), text);
    build(root).success();
    assert_eq!(summary(root)["held"].as_str(), Some("3"));
}

#[test]
fn a_period_closed_without_an_issued_record_refuses_changed_inputs() {
    let dir = repo("basic");
    let root = dir.path();
    ocb(root).args(["close", "2025-01"]).assert().success();
    let period = read(root.join("periods/2025-01/period.yaml"));
    assert!(
        period.contains("status: closed")
            && period.contains("aws.csv: ")
            && period.contains("hpc.csv: "),
        "{period}"
    );
    ocb(root)
        .arg("periods")
        .assert()
        .success()
        .stdout(predicate::str::contains("closed"));
    // As an older ocb closed periods: digests only, no issued record.
    std::fs::remove_file(root.join("periods/2025-01/issued.csv.gz")).unwrap();
    build(root).success();
    let before = read(root.join("output/summary.json"));
    let aws = root.join("periods/2025-01/aws.csv");
    std::fs::write(&aws, read(&aws).replace("8.50", "9.50")).unwrap();
    build(root).code(1).stderr(predicate::str::contains(
        "periods/2025-01/aws.csv: changed since the period was closed",
    ));
    assert_eq!(before, read(root.join("output/summary.json")));
    std::fs::write(root.join("periods/2025-01/review.yaml"), "[]\n").unwrap();
    build(root).code(1).stderr(predicate::str::contains(
        "periods/2025-01/review.yaml: added since the period was closed",
    ));
    ocb(root)
        .args([
            "reopen",
            "2025-01",
            "--reason",
            "AWS re-issued the January invoice",
        ])
        .assert()
        .success();
    build(root).success();
    let period = read(root.join("periods/2025-01/period.yaml"));
    assert!(
        period.contains("AWS re-issued the January invoice"),
        "{period}"
    );
    assert!(
        period.contains("status: open") && period.contains("action: reopened"),
        "{period}"
    );
}

#[test]
fn corrections_to_prior_periods_are_shown_apart() {
    let dir = repo("basic");
    let root = dir.path();
    let t = tags("a@x.edu", "p1", "NSF-1");
    std::fs::write(root.join("periods/2025-02/fix.csv"), format!("BillingPeriodStart,ChargePeriodStart,ChargeClass,ServiceName,BilledCost,Tags\n2025-02-01,2025-01-10,Correction,EC2,-1.25,{t}\n")).unwrap();
    build(root).success();
    let page = read(root.join("output/2025-02/statements/a-x-edu/p1.html"));
    assert!(
        page.contains("Corrections to prior periods") && page.contains("-$1.25"),
        "correction section missing"
    );
}
