//! The money pipeline end to end: outputs, invariants and bad input.

use crate::common::{csv_rows, ocb, read, repo};
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

fn build(root: &Path) -> assert_cmd::assert::Assert {
    ocb(root).args(["build", "--no-pdf"]).assert()
}

/// Every file under a folder with its bytes, for before/after comparisons.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn builds_charges_statements_journal_and_summary_to_the_cent() {
    let dir = repo("basic");
    build(dir.path()).success().stdout(predicate::str::contains(
        "2025-01 USD: 7 rows, billed $12.17, held $3.00, rejected $0.00",
    ));
    let out = dir.path().join("output");

    let (header, rows) = csv_rows(out.join("2025-01/charges.csv"));
    assert_eq!(
        header.join(","),
        "id,period,source,file,line,state,flags,pi_email,project_id,fund_org,cost_center,service_name,service_category,resource_id,resource_name,charge_category,charge_class,currency,list_cost,contracted_cost,effective_cost,billed_cost,statement"
    );
    assert_eq!(rows.len(), 7);
    let untagged = rows.iter().find(|r| r[13] == "b-untagged").unwrap();
    assert_eq!(
        (untagged[5].as_str(), untagged[6].as_str()),
        (
            "held",
            "missing_pi_email;missing_project_id;missing_fund_org"
        )
    );
    let by_account = rows.iter().find(|r| r[13] == "i-3").unwrap();
    assert_eq!(
        (
            by_account[5].as_str(),
            by_account[7].as_str(),
            by_account[8].as_str()
        ),
        ("billed", "a@x.edu", "p1")
    );
    let credit = rows.iter().find(|r| r[15] == "Credit").unwrap();
    assert_eq!(
        (credit[5].as_str(), credit[6].as_str(), credit[21].as_str()),
        ("billed", "negative_cost", "-2.00")
    );

    let (header, rows) = csv_rows(out.join("2025-01/statements.csv"));
    assert_eq!(
        header.join(","),
        "statement,period,pi_email,project_id,fund_org,currency,list_cost,discount,billed_cost,charges,credits,surcharges,due"
    );
    let p1: Vec<&str> = rows
        .iter()
        .find(|r| r[3] == "p1")
        .unwrap()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        &p1[1..],
        [
            "2025-01",
            "a@x.edu",
            "p1",
            "NSF-1",
            "USD",
            "108.666667",
            "101.5",
            "7.166667",
            "5",
            "0.00",
            "0.00",
            "7.17"
        ]
    );
    let p2: Vec<&str> = rows
        .iter()
        .find(|r| r[3] == "p2")
        .unwrap()
        .iter()
        .map(String::as_str)
        .collect();
    // The due is the statement's line rounded half away from zero: 5.005 → 5.01.
    assert_eq!(
        &p2[6..],
        ["5.005", "0", "5.005", "1", "0.00", "0.00", "5.01"]
    );

    let summary: serde_json::Value = serde_json::from_str(&read(out.join("summary.json"))).unwrap();
    let jan = &summary["periods"][0]["currencies"][0];
    assert_eq!(
        (
            jan["input_billed"].as_str(),
            jan["billed"].as_str(),
            jan["held"].as_str(),
            jan["rejected"].as_str()
        ),
        (Some("15.171667"), Some("12.171667"), Some("3"), Some("0"))
    );
}

#[test]
fn gl_journal_balances_and_equals_the_billed_total() {
    let dir = repo("basic");
    build(dir.path()).success();
    let (header, rows) = csv_rows(dir.path().join("output/2025-01/journal.csv"));
    assert_eq!(
        header.join(","),
        "journal,period,line,account,fund_org,debit,credit,currency,source,description"
    );
    let lines: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[4].as_str(), r[5].as_str(), r[6].as_str()))
        .collect();
    // Each fund is charged what its statement says is due: 7.166667 → 7.17
    // and 5.005 → 5.01 (half away from zero), so 12.18 in all, not the
    // period total 12.171667 rounded once.
    assert_eq!(
        lines,
        [
            ("NIH-2", "5.01", "0.00"),
            ("IT-CLOUD", "0.00", "5.01"),
            ("NSF-1", "7.17", "0.00"),
            ("IT-CLOUD", "0.00", "7.17")
        ]
    );
    let sum = |i: usize| {
        rows.iter()
            .map(|r| r[i].parse::<rust_decimal::Decimal>().unwrap())
            .sum::<rust_decimal::Decimal>()
    };
    assert_eq!(sum(5), sum(6));
    assert_eq!(sum(5).to_string(), "12.18");
}

#[test]
fn currencies_are_never_summed_together() {
    let dir = repo("basic");
    build(dir.path())
        .success()
        .stdout(predicate::str::contains(
            "2025-02 EUR: 1 rows, billed €7.00",
        ))
        .stdout(predicate::str::contains(
            "2025-02 USD: 1 rows, billed $17.00",
        ));
    let (_, rows) = csv_rows(dir.path().join("output/2025-02/journal.csv"));
    assert!(rows.iter().any(|r| r[7] == "EUR" && r[5] == "7.00"));
}

#[test]
fn two_builds_are_byte_identical() {
    let dir = repo("basic");
    build(dir.path()).success();
    let first = tree(&dir.path().join("output"));
    ocb(dir.path())
        .args(["build", "--no-pdf", "--out"])
        .arg(dir.path().join("again"))
        .assert()
        .success();
    let second = tree(&dir.path().join("again"));
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &first {
        assert!(bytes == &second[name], "{name} differs between builds");
    }
}

#[test]
fn a_failed_build_leaves_the_previous_output_untouched() {
    let dir = repo("basic");
    build(dir.path()).success();
    let before = tree(&dir.path().join("output"));
    std::fs::write(
        dir.path().join("periods/2025-02/aws.csv"),
        "BillingPeriodStart,BilledCost\n2025-02-01,12,50\n",
    )
    .unwrap();
    build(dir.path()).code(1).stderr(predicate::str::contains(
        "periods/2025-02/aws.csv:2: row has 3 fields; the header has 2",
    ));
    assert!(
        before == tree(&dir.path().join("output")),
        "output changed after a failed build"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        // The per-period cache stays: it is keyed, not staged.
        .filter(|n| n.starts_with(".ocb-") && n != ".ocb-cache")
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging folders left behind: {leftovers:?}"
    );
}

#[test]
fn ids_survive_reordering_rows_and_columns() {
    let dir = repo("basic");
    build(dir.path()).success();
    let ids = |root: &Path| {
        let (_, rows) = csv_rows(root.join("output/2025-01/charges.csv"));
        let mut v: Vec<(String, String)> =
            rows.iter().map(|r| (r[13].clone(), r[0].clone())).collect();
        v.sort();
        v
    };
    let before = ids(dir.path());
    let path = dir.path().join("periods/2025-01/aws.csv");
    let mut r = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    rows.reverse();
    let mut w = csv::Writer::from_path(&path).unwrap();
    let order: Vec<usize> = (0..header.len()).rev().collect();
    w.write_record(order.iter().map(|&i| &header[i])).unwrap();
    for row in &rows {
        w.write_record(order.iter().map(|&i| &row[i])).unwrap();
    }
    w.flush().unwrap();
    build(dir.path()).success();
    assert_eq!(before, ids(dir.path()));
}

/// Each bad input: the located message, exit 1, previous output untouched.
#[test]
fn bad_input_is_located_and_builds_nothing() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "ragged row",
            b"BillingPeriodStart,BilledCost\n2025-01-01,1\n2025-01-01,1,2\n",
            "aws.csv:3: row has 3 fields; the header has 2",
        ),
        (
            "missing BilledCost",
            b"BillingPeriodStart,ListCost\n2025-01-01,1\n",
            "aws.csv:1: missing required column `BilledCost`",
        ),
        (
            "missing header",
            b"2025-01-01,12.00\n",
            "aws.csv:1: missing required column `BillingPeriodStart`",
        ),
        ("empty file", b"", "aws.csv: empty file"),
        (
            "non-UTF-8",
            b"BillingPeriodStart,BilledCost,ServiceName\n2025-01-01,1,caf\xe9\n",
            "aws.csv:2: column `ServiceName`: not valid UTF-8",
        ),
        (
            "NUL byte",
            b"BillingPeriodStart,BilledCost,ServiceName\n2025-01-01,1,a\0b\n",
            "aws.csv:2: column `ServiceName`: cell contains a NUL byte",
        ),
        (
            "decimal comma",
            b"BillingPeriodStart,BilledCost\n2025-01-01,\"12,50\"\n",
            "aws.csv:2: column `BilledCost`: `12,50` uses a decimal comma",
        ),
        (
            "dollar sign",
            b"BillingPeriodStart,BilledCost\n2025-01-01,$10.00\n",
            "aws.csv:2: column `BilledCost`: `$10.00` has a currency symbol",
        ),
        (
            "US date",
            b"BillingPeriodStart,BilledCost\n5/1/25,1\n",
            "aws.csv:2: column `BillingPeriodStart`: `5/1/25` is not a valid date",
        ),
        (
            "month 13",
            b"BillingPeriodStart,BilledCost\n2025-13-01,1\n",
            "aws.csv:2: column `BillingPeriodStart`: `2025-13-01` is not a valid date",
        ),
        (
            "tags not JSON",
            b"BillingPeriodStart,BilledCost,Tags\n2025-01-01,1,project=x\n",
            "aws.csv:2: column `Tags`: not valid JSON",
        ),
        (
            "tags array",
            b"BillingPeriodStart,BilledCost,Tags\n2025-01-01,1,\"[1,2]\"\n",
            "aws.csv:2: column `Tags`: expected a JSON object",
        ),
        (
            "duplicate header",
            b"BillingPeriodStart,BilledCost,BilledCost\n2025-01-01,1,1\n",
            "aws.csv:1: column `BilledCost`: duplicate column name",
        ),
        (
            "1e400",
            b"BillingPeriodStart,BilledCost\n2025-01-01,1e400\n",
            "aws.csv:2: column `BilledCost`: `1e400` is out of range",
        ),
        (
            "NaN",
            b"BillingPeriodStart,BilledCost\n2025-01-01,NaN\n",
            "aws.csv:2: column `BilledCost`: `NaN` is not a number",
        ),
    ];
    let dir = repo("basic");
    build(dir.path()).success();
    let before = tree(&dir.path().join("output"));
    let file = dir.path().join("periods/2025-01/aws.csv");
    let good = std::fs::read(&file).unwrap();
    for (name, bytes, message) in cases {
        std::fs::write(&file, bytes).unwrap();
        let out = ocb(dir.path())
            .args(["build", "--no-pdf"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("periods/2025-01/{message}")),
            "{name}: expected `{message}` in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name} panicked");
        assert!(
            before == tree(&dir.path().join("output")),
            "{name}: output changed"
        );
    }
    std::fs::write(&file, good).unwrap();
    build(dir.path()).success();
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let dir = repo("basic");
    std::fs::write(
        dir.path().join("periods/2025-01/aws.csv"),
        "BillingPeriodStart,BilledCost\n2025-01-01,x\n2025-01-01,1\n2025-13-01,2\n",
    )
    .unwrap();
    ocb(dir.path())
        .arg("check")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("aws.csv:2: column `BilledCost`"))
        .stdout(predicate::str::contains(
            "aws.csv:4: column `BillingPeriodStart`",
        ));
}

#[test]
fn a_ten_megabyte_cell_is_refused() {
    let dir = repo("basic");
    let mut text = b"BillingPeriodStart,BilledCost,ResourceName\n2025-01-01,1,\"".to_vec();
    text.extend(std::iter::repeat_n(b'x', 10 << 20));
    text.extend(b"\"\n");
    std::fs::write(dir.path().join("periods/2025-01/aws.csv"), text).unwrap();
    build(dir.path()).code(1).stderr(predicate::str::contains(
        "aws.csv:2: column `ResourceName`: cell is 10485760 bytes long",
    ));
}

#[test]
fn header_only_files_and_quirky_exports_are_valid() {
    let dir = repo("basic");
    std::fs::write(
        dir.path().join("periods/2025-01/empty.csv"),
        "BillingPeriodStart,BilledCost\n",
    )
    .unwrap();
    // BOM, CRLF, a quoted newline, NULL literals, space-separated date-times, E-notation.
    std::fs::write(
        dir.path().join("periods/2025-01/quirks.csv"),
        "\u{feff}BillingPeriodStart,BilledCost,ListCost,ChargeDescription,Tags\r\n2025-01-01 00:00:00,1.5E+1,NULL,\"two\r\nlines\",\"{\"\"project_id\"\":\"\"p2\"\",\"\"n\"\":3,\"\"ok\"\":true,\"\"x\"\":null}\"\r\n",
    )
    .unwrap();
    build(dir.path()).success();
    let (_, rows) = csv_rows(dir.path().join("output/2025-01/charges.csv"));
    let q = rows.iter().find(|r| r[2] == "quirks").unwrap();
    assert_eq!(
        (q[5].as_str(), q[7].as_str(), q[18].as_str(), q[21].as_str()),
        ("billed", "b@x.edu", "15", "15")
    );
}

#[test]
fn a_misnamed_period_folder_is_an_error() {
    let dir = repo("basic");
    std::fs::create_dir(dir.path().join("periods/2025-1")).unwrap();
    build(dir.path()).code(1).stderr(predicate::str::contains(
        "periods/2025-1: folder name `2025-1` is not a period: expected YYYY-MM",
    ));
}

#[test]
fn a_file_beside_the_month_folders_is_an_error_and_a_linked_month_is_built() {
    let dir = repo("basic");
    let root = dir.path();
    std::fs::write(
        root.join("periods/2025-03.csv"),
        "BillingPeriodStart,BilledCost\n",
    )
    .unwrap();
    std::fs::write(root.join("periods/README.md"), "# our months\n").unwrap();
    build(root).code(1).stderr(predicate::str::contains(
        "periods/2025-03.csv: periods/ holds one folder per month, named YYYY-MM",
    ));
    std::fs::remove_file(root.join("periods/2025-03.csv")).unwrap();
    // A month kept elsewhere, linked in: built like any other.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::rename(
        root.join("periods/2025-02"),
        elsewhere.path().join("2025-02"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("2025-02"),
        root.join("periods/2025-02"),
    )
    .unwrap();
    build(root).success();
    let (_, rows) = csv_rows(root.join("output/2025-02/charges.csv"));
    assert_eq!(rows.len(), 2);
}

#[test]
fn a_long_file_with_a_bad_header_is_refused_at_once() {
    // Its reading thread is far ahead of the checks when the header is refused.
    let dir = repo("basic");
    let mut text = String::from("BillingPeriodStart,Nope\n");
    for i in 0..60_000 {
        text.push_str(&format!("2025-01-01,{i}\n"));
    }
    std::fs::write(dir.path().join("periods/2025-01/aws.csv"), text).unwrap();
    build(dir.path()).code(1).stderr(predicate::str::contains(
        "periods/2025-01/aws.csv:1: missing required column `BilledCost`",
    ));
}

#[test]
fn a_charge_in_the_wrong_month_is_flagged_not_an_error() {
    let dir = repo("basic");
    let t = r#""{""pi_email"":""b@x.edu"",""project_id"":""p2"",""fund_org"":""NIH-2""}""#;
    std::fs::write(
        dir.path().join("periods/2025-02/late.csv"),
        format!("BillingPeriodStart,BilledCost,Tags\n2025-01-01,4.00,{t}\n"),
    )
    .unwrap();
    build(dir.path()).success();
    let (_, rows) = csv_rows(dir.path().join("output/2025-02/charges.csv"));
    let late = rows.iter().find(|r| r[2] == "late").unwrap();
    assert_eq!(
        (late[5].as_str(), late[6].as_str()),
        ("held", "period_mismatch")
    );
}

#[test]
fn bad_config_key_names_file_line_and_key() {
    let dir = repo("basic");
    std::fs::write(
        dir.path().join("ocb.yaml"),
        "currency: USD\nsite:\n  titel: x\n",
    )
    .unwrap();
    build(dir.path()).code(2).stderr(predicate::str::contains(
        "ocb.yaml:3:3: site: unknown field `titel`",
    ));
}

#[test]
fn journal_cells_that_look_like_formulas_are_neutralised() {
    let dir = repo("basic");
    let t = r#""{""pi_email"":""b@x.edu"",""project_id"":""p2"",""fund_org"":""=HYPERLINK(1)""}""#;
    std::fs::write(
        dir.path().join("ocb.yaml"),
        "sources: {aws: {credit_fund_org: IT}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("periods/2025-02/aws.csv"),
        format!("BillingPeriodStart,BilledCost,Tags\n2025-02-01,4.00,{t}\n"),
    )
    .unwrap();
    build(dir.path()).success();
    let text = read(dir.path().join("output/2025-02/journal.csv"));
    assert!(
        text.contains("'=HYPERLINK(1)") && !text.contains(",=HYPERLINK"),
        "{text}"
    );
}

#[test]
fn import_splits_by_month_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("export.csv");
    std::fs::write(
        &src,
        "BillingPeriodStart,BilledCost\n2025-03-01,1\n2025-04-01 00:00:00,2\n2025-03-01,3\n",
    )
    .unwrap();
    ocb(dir.path())
        .args(["import"])
        .arg(&src)
        .args(["--source", "aws"])
        .assert()
        .success();
    assert_eq!(
        read(dir.path().join("periods/2025-03/aws.csv")),
        "BillingPeriodStart,BilledCost\n2025-03-01,1\n2025-03-01,3\n"
    );
    assert_eq!(
        read(dir.path().join("periods/2025-04/aws.csv")),
        "BillingPeriodStart,BilledCost\n2025-04-01 00:00:00,2\n"
    );
    ocb(dir.path())
        .args(["import"])
        .arg(&src)
        .args(["--source", "aws"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exist"));
    ocb(dir.path())
        .args(["import"])
        .arg(&src)
        .args(["--source", "aws", "--force"])
        .assert()
        .success();
    std::fs::write(&src, "BillingPeriodStart,BilledCost\n2025-03-01,$1\n").unwrap();
    ocb(dir.path())
        .args(["import"])
        .arg(&src)
        .args(["--source", "gcp"])
        .assert()
        .code(1);
    assert!(!dir.path().join("periods/2025-03/gcp.csv").exists());
}

#[test]
fn periods_table_and_init_and_sample() {
    let dir = repo("basic");
    ocb(dir.path())
        .arg("periods")
        .assert()
        .success()
        .stdout(predicate::str::contains("2025-01"))
        .stdout(predicate::str::contains("$12.17"));
    let fresh = tempfile::tempdir().unwrap();
    ocb(fresh.path())
        .args(["init"])
        .arg(fresh.path())
        .assert()
        .success();
    assert!(
        fresh.path().join("ocb.yaml").exists()
            && fresh.path().join("projects.yaml").exists()
            && fresh.path().join("periods").is_dir()
    );
    ocb(fresh.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    ocb(fresh.path())
        .args(["init"])
        .arg(fresh.path())
        .assert()
        .code(2);
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [&a, &b] {
        ocb(d.path())
            .args([
                "sample",
                "--rows",
                "500",
                "--periods",
                "2",
                "--projects",
                "5",
                "--out",
            ])
            .arg(d.path())
            .assert()
            .success();
    }
    assert!(
        tree(a.path()) == tree(b.path()),
        "sample is not deterministic"
    );
    ocb(a.path()).args(["build", "--no-pdf"]).assert().success();
}

/// Regression: the csv crate counts lines wrongly after blank lines and CRLF.
#[test]
fn line_numbers_are_right_after_blank_lines_and_quoted_newlines() {
    let dir = repo("basic");
    let text = "BillingPeriodStart,BilledCost,ServiceName\r\n2025-01-01,1,a\r\n\r\n\r\n2025-01-01,x,b\r\n2025-01-01,2,\"multi\nline\"\r\n2025-01-01,y,c\r\n";
    std::fs::write(dir.path().join("periods/2025-01/aws.csv"), text).unwrap();
    ocb(dir.path())
        .arg("check")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "aws.csv:5: column `BilledCost`: `x`",
        ))
        .stdout(predicate::str::contains(
            "aws.csv:8: column `BilledCost`: `y`",
        ));
}

/// Every journal format reconciles: `detail` to the period's billed total
/// rounded once (one line per charge), `summary`, `gl` and templates to the
/// statements' amounts due (each rounded on its own statement).
#[test]
fn detail_summary_and_template_journals_reconcile() {
    let dir = repo("basic");
    let root = dir.path();
    let sum = |col: &str| {
        let (header, rows) = csv_rows(root.join("output/2025-01/journal.csv"));
        let i = header.iter().position(|h| h == col).unwrap();
        rows.iter()
            .map(|r| r[i].parse::<rust_decimal::Decimal>().unwrap())
            .sum::<rust_decimal::Decimal>()
            .to_string()
    };
    std::fs::write(root.join("ocb.yaml"), "journal: {format: detail}\n").unwrap();
    build(root).success();
    assert_eq!(
        csv_rows(root.join("output/2025-01/journal.csv")).1.len(),
        6,
        "one line per billed charge"
    );
    assert_eq!(sum("amount"), "12.17");
    std::fs::write(root.join("ocb.yaml"), "journal: {format: summary}\n").unwrap();
    build(root).success();
    assert_eq!(
        csv_rows(root.join("output/2025-01/journal.csv")).1.len(),
        2,
        "one line per statement"
    );
    assert_eq!(sum("amount"), "12.18");
    std::fs::write(root.join("journal.j2"), "fund,debit,credit\n{% for l in lines %}{{ l.fund_org | csv }},{{ l.debit }},{{ l.credit }}\n{% endfor %}").unwrap();
    std::fs::write(root.join("ocb.yaml"), "journal: {format: template, template: journal.j2}\nsources: {aws: {credit_fund_org: \"=IT\"}}\n").unwrap();
    build(root).success();
    let text = read(root.join("output/2025-01/journal.csv"));
    assert!(
        text.starts_with("fund,debit,credit\nNIH-2,5.01,0.00\n'=IT,0.00,5.01\n"),
        "{text}"
    );
    assert_eq!(sum("debit"), "12.18");
    std::fs::write(root.join("ocb.yaml"), "journal: {format: template}\n").unwrap();
    build(root)
        .code(2)
        .stderr(predicate::str::contains("ocb.yaml: key `journal.template`"));
}

#[test]
fn statements_mention_charges_held_without_a_project() {
    let dir = repo("basic");
    build(dir.path()).success();
    let page = read(dir.path().join("output/2025-01/statements/b-x-edu/p2.html"));
    assert!(
        page.contains("1 charge of this period ($3.00) could not yet be attributed to a project"),
        "warning missing"
    );
}

#[test]
fn messages_name_the_config_file_given_with_config() {
    let dir = repo("basic");
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf")).unwrap();
    let text = read(root.join("ocb.yaml"));
    std::fs::remove_file(root.join("ocb.yaml")).unwrap();
    std::fs::write(
        root.join("conf/billing.yaml"),
        format!("{text}\nsite: {{theme: campus}}\n"),
    )
    .unwrap();
    for command in ["build", "check", "import"] {
        let mut cmd = ocb(root);
        cmd.arg("--config").arg(root.join("conf/billing.yaml"));
        cmd.arg(command);
        if command == "import" {
            cmd.arg(root.join("periods/2025-01/aws.csv"))
                .args(["--source", "aws2"]);
        }
        let out = cmd.assert();
        if command == "build" {
            out.code(2).stderr(predicate::str::contains(
                "conf/billing.yaml: key `site.theme`: no folder `themes/campus`",
            ));
        } else {
            // The file loads: these commands do not read the theme.
            out.stderr(predicate::str::contains("ocb.yaml").not());
        }
    }
    std::fs::write(root.join("conf/billing.yaml"), "currency: dollars\n").unwrap();
    for command in ["build", "check", "import", "send"] {
        let mut cmd = ocb(root);
        cmd.arg("--config").arg(root.join("conf/billing.yaml"));
        cmd.arg(command);
        match command {
            "import" => {
                cmd.arg(root.join("periods/2025-01/aws.csv"))
                    .args(["--source", "aws2"]);
            }
            "send" => {
                cmd.args(["--period", "2025-01"]);
            }
            _ => {}
        }
        cmd.assert().failure().stderr(predicate::str::contains(
            "conf/billing.yaml: key `currency`: `dollars` is not an ISO 4217 code",
        ));
    }
}
