//! Money that carries across months (issue 12): fund splits, allocations,
//! credit programs and surcharges. Each example is worked out by hand here:
//! the repository is written inline, with the statement lines and journal
//! that must come out of it.

use crate::common::{csv_rows, ocb, read};
use predicates::prelude::*;
use rust_decimal::Decimal;
use std::path::Path;

const OCB_YAML: &str = "sources:
  aws: {name: AWS, account: \"54100\", credit_fund_org: IT-CLOUD}
  hpc: {name: HPC, account: \"54200\", credit_fund_org: IT-HPC}
";

const HEADER: &str = "BillingPeriodStart,BillingCurrency,ServiceName,ServiceCategory,ResourceId,ChargeCategory,ListCost,BilledCost,SubAccountId\n";

/// A repository from (path, text) pairs; CSV files get the FOCUS header.
fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let body = if path.ends_with(".csv") {
            format!("{HEADER}{text}")
        } else {
            text.to_string()
        };
        std::fs::write(p, body).unwrap();
    }
    dir
}

/// `period,currency,service,billed,account` rows: list = billed, usage.
fn charges(rows: &[(&str, &str, &str, &str)]) -> String {
    rows.iter()
        .enumerate()
        .map(|(i, (period, service, billed, account))| {
            format!("{period}-01,USD,{service},Compute,r-{i},Usage,{billed},{billed},{account}\n")
        })
        .collect()
}

fn build(root: &Path) {
    ocb(root).args(["build", "--no-pdf"]).assert().success();
}

/// Journal rows as (fund, debit, credit, description).
fn journal(root: &Path, period: &str) -> Vec<(String, String, String, String)> {
    let (header, rows) = csv_rows(root.join(format!("output/{period}/journal.csv")));
    assert_eq!(
        header.join(","),
        "journal,period,line,account,fund_org,debit,credit,currency,source,description"
    );
    let (dr, cr) = sum_columns(&rows, 5, 6);
    assert_eq!(dr, cr, "{period}: journal does not balance");
    rows.iter()
        .map(|r| (r[4].clone(), r[5].clone(), r[6].clone(), r[9].clone()))
        .collect()
}

fn sum_columns(rows: &[Vec<String>], a: usize, b: usize) -> (Decimal, Decimal) {
    let sum = |i: usize| rows.iter().map(|r| r[i].parse::<Decimal>().unwrap()).sum();
    (sum(a), sum(b))
}

fn j(fund: &str, debit: &str, credit: &str, description: &str) -> (String, String, String, String) {
    (fund.into(), debit.into(), credit.into(), description.into())
}

/// statements.csv rows as (project, fund, billed_cost, credits, surcharges, due),
/// checking billed − credits + surcharges = due on each.
fn statements(root: &Path, period: &str) -> Vec<(String, String, String, String, String, String)> {
    let (header, rows) = csv_rows(root.join(format!("output/{period}/statements.csv")));
    assert_eq!(
        header.join(","),
        "statement,period,pi_email,project_id,fund_org,currency,list_cost,discount,billed_cost,charges,credits,surcharges,due"
    );
    rows.iter()
        .map(|r| {
            let d = |i: usize| r[i].parse::<Decimal>().unwrap();
            let billed = ocb::money::round(d(8), &r[5]);
            assert_eq!(billed - d(10) + d(11), d(12), "statement {}", r[0]);
            (
                r[3].clone(),
                r[4].clone(),
                r[8].clone(),
                r[10].clone(),
                r[11].clone(),
                r[12].clone(),
            )
        })
        .collect()
}

fn s(
    p: &str,
    f: &str,
    b: &str,
    c: &str,
    x: &str,
    d: &str,
) -> (String, String, String, String, String, String) {
    (p.into(), f.into(), b.into(), c.into(), x.into(), d.into())
}

/// The text of a statement page with its tags removed and spaces collapsed.
fn statement_text(root: &Path, period: &str, pi: &str, project: &str) -> String {
    let html = read(root.join(format!("output/{period}/statements/{pi}/{project}.html")));
    let mut text = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

const LEE: &str = "- id: ocean
  pi: {email: a.lee@example.edu, name: \"Dr. Alice Lee\"}
  fund_org: NSF-OCE-2231
  accounts: [\"111\"]
";

#[test]
fn split_70_30_with_an_odd_cent() {
    let projects = format!(
        "{LEE}  funds:\n    - {{fund_org: NSF-OCE-2231, percent: 70}}\n    - {{fund_org: DEPT-OCE-100, percent: 30}}\n"
    );
    let csv = charges(&[("2025-01", "EC2", "100.01", "111")]);
    let dir = repo_with(&[
        ("ocb.yaml", OCB_YAML),
        ("projects.yaml", &projects),
        ("periods/2025-01/aws.csv", &csv),
    ]);
    build(dir.path());
    // 100.01 × 70 % = 70.007 and × 30 % = 30.003: the odd cent goes to the larger remainder.
    assert_eq!(
        statements(dir.path(), "2025-01"),
        [s(
            "ocean",
            "NSF-OCE-2231",
            "100.01",
            "0.00",
            "0.00",
            "100.01"
        )]
    );
    let text = statement_text(dir.path(), "2025-01", "a-lee-example-edu", "ocean");
    assert!(
        text.contains("Split across funds Fund/org Share Amount NSF-OCE-2231 70% $70.01 DEPT-OCE-100 30% $30.00"),
        "{text}"
    );
    assert_eq!(
        journal(dir.path(), "2025-01"),
        [
            j("DEPT-OCE-100", "30.00", "0.00", "AWS charges 2025-01"),
            j("IT-CLOUD", "0.00", "30.00", "AWS charges 2025-01"),
            j("NSF-OCE-2231", "70.01", "0.00", "AWS charges 2025-01"),
            j("IT-CLOUD", "0.00", "70.01", "AWS charges 2025-01"),
        ]
    );
}

const PREPAID: &str = "  allocations:
    - {id: prepaid-2025, kind: prepaid, amount: 1000, currency: USD, start: 2025-01-01, end: 2025-12-31, paid_by: DEFERRED-PREPAID}
";

fn prepaid_repo(jan: &str, feb: &str, mar: &str) -> tempfile::TempDir {
    let projects = format!("{LEE}{PREPAID}");
    let files = [("2025-01", jan), ("2025-02", feb), ("2025-03", mar)].map(|(p, amount)| {
        (
            format!("periods/{p}/aws.csv"),
            charges(&[(p, "EC2", amount, "111")]),
        )
    });
    let mut all: Vec<(&str, &str)> = vec![("ocb.yaml", OCB_YAML), ("projects.yaml", &projects)];
    all.extend(files.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    repo_with(&all)
}

#[test]
fn prepaid_allocation_exhausted_mid_month_across_two_periods() {
    let dir = prepaid_repo("600.00", "650.00", "80.00");
    build(dir.path());
    let root = dir.path();
    // January draws 600 of 1000: nothing due.
    assert_eq!(
        statements(root, "2025-01"),
        [s("ocean", "NSF-OCE-2231", "600", "600.00", "0.00", "0.00")]
    );
    assert_eq!(
        journal(root, "2025-01"),
        [
            j(
                "DEFERRED-PREPAID",
                "600.00",
                "0.00",
                "prepaid-2025 for AWS charges 2025-01"
            ),
            j(
                "IT-CLOUD",
                "0.00",
                "600.00",
                "prepaid-2025 for AWS charges 2025-01"
            ),
        ]
    );
    // February: the remaining 400 runs out; 250 of the 650 is due.
    assert_eq!(
        statements(root, "2025-02"),
        [s(
            "ocean",
            "NSF-OCE-2231",
            "650",
            "400.00",
            "0.00",
            "250.00"
        )]
    );
    let text = statement_text(root, "2025-02", "a-lee-example-edu", "ocean");
    assert!(
        text.contains("Billed for use $650.00 Prepaid allocation prepaid-2025 opening balance $400.00, drawn $400.00, closing balance $0.00 − $400.00 Amount due (USD) $250.00"),
        "{text}"
    );
    assert!(
        text.contains("Allocation prepaid-2025 (ocean) is used up"),
        "{text}"
    );
    assert_eq!(
        journal(root, "2025-02"),
        [
            j("NSF-OCE-2231", "250.00", "0.00", "AWS charges 2025-02"),
            j("IT-CLOUD", "0.00", "250.00", "AWS charges 2025-02"),
            j(
                "DEFERRED-PREPAID",
                "400.00",
                "0.00",
                "prepaid-2025 for AWS charges 2025-02"
            ),
            j(
                "IT-CLOUD",
                "0.00",
                "400.00",
                "prepaid-2025 for AWS charges 2025-02"
            ),
        ]
    );
    // March: exhausted, everything is due and no allocation line is shown.
    assert_eq!(
        statements(root, "2025-03"),
        [s("ocean", "NSF-OCE-2231", "80", "0.00", "0.00", "80.00")]
    );
    let page = read(root.join("output/allocations.html"));
    assert!(
        page.contains("prepaid-2025") && page.contains("used up"),
        "{page}"
    );
}

#[test]
fn balances_are_a_pure_function_of_the_periods_in_order() {
    let dir = prepaid_repo("300.00", "500.00", "400.00");
    build(dir.path());
    let root = dir.path();
    let jan = read(root.join("output/2025-01/statements.csv"));
    let jan_journal = read(root.join("output/2025-01/journal.csv"));
    assert_eq!(
        statements(root, "2025-03")[0],
        s("ocean", "NSF-OCE-2231", "400", "200.00", "0.00", "200.00")
    );
    // Building with March's PDFs only gives March the same balances.
    ocb(root)
        .args(["build", "--no-pdf", "--period", "2025-03", "--out"])
        .arg(root.join("march"))
        .assert()
        .success();
    assert_eq!(
        read(root.join("march/2025-03/statements.csv")),
        read(root.join("output/2025-03/statements.csv"))
    );
    // An edit to February changes March's opening balance, and nothing in January.
    std::fs::write(
        root.join("periods/2025-02/aws.csv"),
        format!(
            "{HEADER}{}",
            charges(&[("2025-02", "EC2", "450.00", "111")])
        ),
    )
    .unwrap();
    build(root);
    assert_eq!(read(root.join("output/2025-01/statements.csv")), jan);
    assert_eq!(read(root.join("output/2025-01/journal.csv")), jan_journal);
    assert_eq!(
        statements(root, "2025-03")[0],
        s("ocean", "NSF-OCE-2231", "400", "250.00", "0.00", "150.00")
    );
    let text = statement_text(root, "2025-03", "a-lee-example-edu", "ocean");
    assert!(
        text.contains("opening balance $250.00, drawn $250.00, closing balance $0.00"),
        "{text}"
    );
}

#[test]
fn a_closed_period_keeps_the_credits_it_issued() {
    let dir = prepaid_repo("600.00", "650.00", "80.00");
    let root = dir.path();
    ocb(root).args(["close", "2025-01"]).assert().success();
    let period_yaml = read(root.join("periods/2025-01/period.yaml"));
    assert!(period_yaml.contains("ledger:"), "{period_yaml}");
    assert!(period_yaml.contains("name: prepaid-2025"), "{period_yaml}");
    build(root);
    let jan = read(root.join("output/2025-01/statements.csv"));
    let jan_journal = read(root.join("output/2025-01/journal.csv"));
    let jan_page = statement_text(root, "2025-01", "a-lee-example-edu", "ocean");
    // Finance doubles the allocation and adds a 70/30 split after January closed.
    let projects = format!(
        "{LEE}  funds:\n    - {{fund_org: NSF-OCE-2231, percent: 70}}\n    - {{fund_org: DEPT-OCE-100, percent: 30}}\n{}",
        PREPAID.replace("amount: 1000", "amount: 2000")
    );
    std::fs::write(root.join("projects.yaml"), projects).unwrap();
    build(root);
    // January shows what it issued: 600 drawn from 1000, one fund.
    assert_eq!(read(root.join("output/2025-01/statements.csv")), jan);
    assert_eq!(read(root.join("output/2025-01/journal.csv")), jan_journal);
    assert_eq!(
        statement_text(root, "2025-01", "a-lee-example-edu", "ocean"),
        jan_page
    );
    // February opens with 2000 − 600 drawn in January: 650 is covered.
    assert_eq!(
        statements(root, "2025-02"),
        [s("ocean", "NSF-OCE-2231", "650", "650.00", "0.00", "0.00")]
    );
    let text = statement_text(root, "2025-02", "a-lee-example-edu", "ocean");
    assert!(
        text.contains("opening balance $1,400.00, drawn $650.00, closing balance $750.00"),
        "{text}"
    );
    // A reopen recomputes January: its split changed, so it is reissued.
    ocb(root)
        .args(["reopen", "2025-01", "--reason", "split agreed late"])
        .assert()
        .success();
    build(root);
    let (_, rows) = csv_rows(root.join("output/2025-01/statements.csv"));
    let issued = jan
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .unwrap();
    assert_eq!(rows[0][0], format!("{issued}-R1"));
    let page = statement_text(root, "2025-01", "a-lee-example-edu", "ocean");
    assert!(page.contains("DEPT-OCE-100"), "{page}");
}

#[test]
fn first_months_credit_over_two_months_excludes_gpu() {
    let config = format!(
        "{OCB_YAML}credits:\n  - {{name: \"New PI credit\", kind: first_months, per: pi, amount: 1000, months: 2,\n     exclude_services: ['(?i)gpu'], paid_by: PROVOST-NEWPI}}\n"
    );
    let jan = charges(&[
        ("2025-01", "EC2", "400.00", "111"),
        ("2025-01", "GPU instances", "300.00", "111"),
    ]);
    let feb = charges(&[("2025-02", "EC2", "800.00", "111")]);
    let mar = charges(&[("2025-03", "EC2", "100.00", "111")]);
    let dir = repo_with(&[
        ("ocb.yaml", &config),
        ("projects.yaml", LEE),
        ("periods/2025-01/aws.csv", &jan),
        ("periods/2025-02/aws.csv", &feb),
        ("periods/2025-03/aws.csv", &mar),
    ]);
    build(dir.path());
    let root = dir.path();
    // January: the GPU 300 is excluded; 400 of the 1000 is used, 600 remains.
    assert_eq!(
        statements(root, "2025-01"),
        [s(
            "ocean",
            "NSF-OCE-2231",
            "700",
            "400.00",
            "0.00",
            "300.00"
        )]
    );
    let text = statement_text(root, "2025-01", "a-lee-example-edu", "ocean");
    assert!(
        text.contains("Credit: New PI credit paid by PROVOST-NEWPI; $600.00 remains for the rest of the first months − $400.00"),
        "{text}"
    );
    assert_eq!(
        journal(root, "2025-01"),
        [
            j("NSF-OCE-2231", "300.00", "0.00", "AWS charges 2025-01"),
            j("IT-CLOUD", "0.00", "300.00", "AWS charges 2025-01"),
            j(
                "PROVOST-NEWPI",
                "400.00",
                "0.00",
                "New PI credit for AWS charges 2025-01"
            ),
            j(
                "IT-CLOUD",
                "0.00",
                "400.00",
                "New PI credit for AWS charges 2025-01"
            ),
        ]
    );
    // February, the second month: the remaining 600 of 800.
    assert_eq!(
        statements(root, "2025-02"),
        [s(
            "ocean",
            "NSF-OCE-2231",
            "800",
            "600.00",
            "0.00",
            "200.00"
        )]
    );
    // March is past the first two months: nothing.
    assert_eq!(
        statements(root, "2025-03"),
        [s("ocean", "NSF-OCE-2231", "100", "0.00", "0.00", "100.00")]
    );
}

#[test]
fn monthly_cap_under_and_over_the_cap_in_project_order() {
    let config = format!(
        "{OCB_YAML}credits:\n  - {{name: \"HPC subsidy\", kind: monthly_cap, per: pi, amount: 100, sources: [hpc], paid_by: DEPT-HPC-SUBSIDY}}\n"
    );
    let projects = format!(
        "{LEE}- id: waves\n  pi: {{email: a.lee@example.edu}}\n  fund_org: NSF-OCE-9999\n  accounts: [\"222\"]\n"
    );
    let jan = charges(&[("2025-01", "Standard nodes", "60.00", "111")]);
    let feb = charges(&[
        ("2025-02", "Standard nodes", "70.00", "111"),
        ("2025-02", "Standard nodes", "50.00", "222"),
    ]);
    let jan_aws = charges(&[("2025-01", "EC2", "10.00", "111")]);
    let dir = repo_with(&[
        ("ocb.yaml", &config),
        ("projects.yaml", &projects),
        ("periods/2025-01/hpc.csv", &jan),
        ("periods/2025-01/aws.csv", &jan_aws),
        ("periods/2025-02/hpc.csv", &feb),
    ]);
    build(dir.path());
    let root = dir.path();
    // Under the cap: all 60 of HPC covered, 40 unused (not carried); AWS is not covered.
    assert_eq!(
        statements(root, "2025-01"),
        [s("ocean", "NSF-OCE-2231", "70", "60.00", "0.00", "10.00")]
    );
    let text = statement_text(root, "2025-01", "a-lee-example-edu", "ocean");
    assert!(
        text.contains("Credit: HPC subsidy paid by DEPT-HPC-SUBSIDY; $40.00 remains this month (unused amounts do not carry over)"),
        "{text}"
    );
    // Over the cap: 120 across two projects; `ocean` takes 70, `waves` the other 30.
    assert_eq!(
        statements(root, "2025-02"),
        [
            s("ocean", "NSF-OCE-2231", "70", "70.00", "0.00", "0.00"),
            s("waves", "NSF-OCE-9999", "50", "30.00", "0.00", "20.00"),
        ]
    );
    assert_eq!(
        journal(root, "2025-02"),
        [
            j("NSF-OCE-9999", "20.00", "0.00", "HPC charges 2025-02"),
            j("IT-HPC", "0.00", "20.00", "HPC charges 2025-02"),
            j(
                "DEPT-HPC-SUBSIDY",
                "100.00",
                "0.00",
                "HPC subsidy for HPC charges 2025-02"
            ),
            j(
                "IT-HPC",
                "0.00",
                "100.00",
                "HPC subsidy for HPC charges 2025-02"
            ),
        ]
    );
}

#[test]
fn surcharge_with_an_exempt_fund() {
    let config = format!(
        "{OCB_YAML}surcharges:\n  - {{name: \"F&A\", percent: 8.5, sources: [aws], exempt_funds: ['^DEPT-'], paid_to: OVERHEAD-RECOVERY}}\n"
    );
    let projects = format!(
        "{LEE}- id: catalysis\n  pi: {{email: e.schmidt@example.edu}}\n  fund_org: DEPT-CHEM-100\n  accounts: [\"333\"]\n"
    );
    let aws = charges(&[
        ("2025-01", "EC2", "123.45", "111"),
        ("2025-01", "EC2", "200.00", "333"),
    ]);
    let hpc = charges(&[("2025-01", "Standard nodes", "50.00", "111")]);
    let dir = repo_with(&[
        ("ocb.yaml", &config),
        ("projects.yaml", &projects),
        ("periods/2025-01/aws.csv", &aws),
        ("periods/2025-01/hpc.csv", &hpc),
    ]);
    build(dir.path());
    let root = dir.path();
    // 8.5 % of the AWS 123.45 = 10.49325 → 10.49; HPC carries none; DEPT- funds are exempt.
    assert_eq!(
        statements(root, "2025-01"),
        [
            s("ocean", "NSF-OCE-2231", "173.45", "0.00", "10.49", "183.94"),
            s(
                "catalysis",
                "DEPT-CHEM-100",
                "200",
                "0.00",
                "0.00",
                "200.00"
            ),
        ]
    );
    let text = statement_text(root, "2025-01", "a-lee-example-edu", "ocean");
    assert!(
        text.contains("Surcharge: F&A 8.5% of $123.45, received by OVERHEAD-RECOVERY + $10.49 Amount due (USD) $183.94"),
        "{text}"
    );
    assert_eq!(
        journal(root, "2025-01"),
        [
            j("DEPT-CHEM-100", "200.00", "0.00", "AWS charges 2025-01"),
            j("IT-CLOUD", "0.00", "200.00", "AWS charges 2025-01"),
            j("NSF-OCE-2231", "123.45", "0.00", "AWS charges 2025-01"),
            j("IT-CLOUD", "0.00", "123.45", "AWS charges 2025-01"),
            j(
                "NSF-OCE-2231",
                "10.49",
                "0.00",
                "F&A on AWS charges 2025-01"
            ),
            j(
                "OVERHEAD-RECOVERY",
                "0.00",
                "10.49",
                "F&A on AWS charges 2025-01"
            ),
            j("NSF-OCE-2231", "50.00", "0.00", "HPC charges 2025-01"),
            j("IT-HPC", "0.00", "50.00", "HPC charges 2025-01"),
        ]
    );
    let summary: serde_json::Value =
        serde_json::from_str(&read(root.join("output/summary.json"))).unwrap();
    let usd = &summary["periods"][0]["currencies"][0];
    assert_eq!(
        (
            usd["usage"].as_str(),
            usd["credits"].as_str(),
            usd["surcharges"].as_str(),
            usd["due"].as_str()
        ),
        (Some("373.45"), Some("0"), Some("10.49"), Some("383.94"))
    );
}

/// Every feature at once: per statement and per period the sums reconcile.
#[test]
fn statements_periods_and_journals_reconcile_with_every_feature() {
    let config = format!(
        "{OCB_YAML}credits:
  - {{name: \"New PI credit\", kind: first_months, amount: 100, months: 2, paid_by: PROVOST-NEWPI}}
  - {{name: \"HPC subsidy\", kind: monthly_cap, amount: 33.33, sources: [hpc], paid_by: DEPT-HPC-SUBSIDY}}
surcharges:
  - {{name: \"F&A\", percent: 8.5, sources: [aws], paid_to: OVERHEAD-RECOVERY}}
"
    );
    let projects = format!(
        "{LEE}  funds:\n    - {{fund_org: NSF-OCE-2231, percent: 33.3}}\n    - {{fund_org: DEPT-OCE-100, percent: 66.7}}\n  allocations:\n    - {{id: aws-credit, kind: credit, amount: 50.005, start: 2025-01-15, end: 2025-02-10, sources: [aws], paid_by: AWS-CREDITS}}\n"
    );
    let aws = |p: &str| {
        charges(&[
            (p, "EC2", "123.456", "111"),
            (p, "S3", "77.777", "111"),
            (p, "Lambda", "-1.01", "111"),
        ])
    };
    let hpc = |p: &str| charges(&[(p, "Standard nodes", "99.995", "111")]);
    let (a1, a2, h1, h2) = (
        aws("2025-01"),
        aws("2025-02"),
        hpc("2025-01"),
        hpc("2025-02"),
    );
    let dir = repo_with(&[
        ("ocb.yaml", &config),
        ("projects.yaml", &projects),
        ("periods/2025-01/aws.csv", &a1),
        ("periods/2025-01/hpc.csv", &h1),
        ("periods/2025-02/aws.csv", &a2),
        ("periods/2025-02/hpc.csv", &h2),
    ]);
    build(dir.path());
    let summary: serde_json::Value =
        serde_json::from_str(&read(dir.path().join("output/summary.json"))).unwrap();
    for (n, period) in ["2025-01", "2025-02"].iter().enumerate() {
        let rows = statements(dir.path(), period);
        let c = &summary["periods"][n]["currencies"][0];
        let d = |k: &str| c[k].as_str().unwrap().parse::<Decimal>().unwrap();
        assert!(
            d("credits") > Decimal::ZERO && d("surcharges") > Decimal::ZERO,
            "{c} {}",
            read(dir.path().join(format!("output/{period}/journal.csv")))
        );
        // Σ due + Σ credits paid by funders = billed (the rounded usage lines) + Σ surcharges.
        assert_eq!(d("due") + d("credits"), d("usage") + d("surcharges"));
        let due: Decimal = rows.iter().map(|r| r.5.parse::<Decimal>().unwrap()).sum();
        assert_eq!(due, d("due"));
        // The journal: debits = credits = usage + surcharges; the PI's funds carry the due.
        let (_, lines) = csv_rows(dir.path().join(format!("output/{period}/journal.csv")));
        let (dr, cr) = sum_columns(&lines, 5, 6);
        assert_eq!(
            (dr, cr),
            (d("usage") + d("surcharges"), d("usage") + d("surcharges"))
        );
        let pi_debits: Decimal = lines
            .iter()
            .filter(|r| r[4] == "NSF-OCE-2231" || r[4] == "DEPT-OCE-100")
            .map(|r| r[5].parse::<Decimal>().unwrap())
            .sum();
        assert_eq!(pi_debits, d("due"));
    }
    // The split shares on the statement add up to its due.
    let text = statement_text(dir.path(), "2025-01", "a-lee-example-edu", "ocean");
    assert!(text.contains("33.3% NSF-OCE-2231"), "{text}");
}

/// A bad input: exit 1, the located message, and the previous output untouched.
fn refused(files: &[(&str, &str)], message: &str) {
    let mut all: Vec<(&str, &str)> = vec![("ocb.yaml", OCB_YAML), ("projects.yaml", LEE)];
    let csv = charges(&[("2025-01", "EC2", "10.00", "111")]);
    all.push(("periods/2025-01/aws.csv", &csv));
    all.retain(|(p, _)| !files.iter().any(|(q, _)| q == p));
    all.extend_from_slice(files);
    let dir = repo_with(&all);
    std::fs::create_dir_all(dir.path().join("output")).unwrap();
    std::fs::write(dir.path().join("output/previous.txt"), "previous build").unwrap();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(message));
    assert_eq!(
        read(dir.path().join("output/previous.txt")),
        "previous build"
    );
    assert!(!dir.path().join("output/index.html").exists());
}

#[test]
fn fund_percentages_must_sum_to_exactly_100() {
    for (sum, second) in [("99.99", "29.99"), ("100.01", "30.01")] {
        let projects = format!(
            "{LEE}  funds:\n    - {{fund_org: NSF-OCE-2231, percent: 70}}\n    - {{fund_org: DEPT-OCE-100, percent: {second}}}\n"
        );
        refused(
            &[("projects.yaml", &projects)],
            &format!(
                "projects.yaml:6:5: project `ocean`: fund percentages sum to {sum}: expected exactly 100"
            ),
        );
    }
}

#[test]
fn negative_or_non_numeric_allocation_amounts_are_refused() {
    for (amount, message) in [
        (
            "-5",
            "projects.yaml:6:37: item 1, allocations, item 1, amount: -5 is negative: expected 0 or more",
        ),
        (
            "lots",
            "projects.yaml:6:37: item 1, allocations, item 1, amount: `lots` is not a decimal number",
        ),
    ] {
        let projects = format!(
            "{LEE}  allocations:\n    - {{id: a, kind: credit, amount: {amount}, start: 2025-01-01, end: 2025-12-31}}\n"
        );
        refused(&[("projects.yaml", &projects)], message);
    }
}

#[test]
fn an_allocation_naming_an_unknown_source_is_refused() {
    let projects = format!(
        "{LEE}  allocations:\n    - {{id: a, kind: credit, amount: 5, start: 2025-01-01, end: 2025-12-31, sources: [aws, azrue]}}\n"
    );
    refused(
        &[("projects.yaml", &projects)],
        "projects.yaml:6:91: unknown source `azrue`: expected one of aws, hpc",
    );
}

#[test]
fn overlapping_allocations_with_the_same_id_are_refused() {
    let projects = format!(
        "{LEE}  allocations:\n    - {{id: a, kind: credit, amount: 5, start: 2025-01-01, end: 2025-06-30}}\n    - {{id: a, kind: credit, amount: 5, start: 2025-06-01, end: 2025-12-31}}\n"
    );
    refused(
        &[("projects.yaml", &projects)],
        "projects.yaml:7:12: allocation `a` overlaps the allocation with the same id at line 6",
    );
}

#[test]
fn an_allocation_in_another_currency_than_the_charges_is_refused() {
    let projects = format!(
        "{LEE}  allocations:\n    - {{id: eur, kind: credit, amount: 5, currency: EUR, start: 2025-01-01, end: 2025-12-31}}\n"
    );
    refused(
        &[("projects.yaml", &projects)],
        "projects.yaml:6:52: allocation `eur` of project `ocean` is in EUR, but the project's charges in 2025-01 are in USD",
    );
}

#[test]
fn a_credit_program_naming_an_unknown_source_is_refused() {
    let config = format!(
        "{OCB_YAML}credits:\n  - {{name: x, kind: monthly_cap, amount: 1, sources: [aws, gcp], paid_by: F}}\n"
    );
    refused(
        &[("ocb.yaml", &config)],
        "ocb.yaml:5:60: unknown source `gcp`: expected one of aws, hpc",
    );
}

#[test]
fn a_regex_that_does_not_compile_is_refused() {
    let config = format!(
        "{OCB_YAML}credits:\n  - {{name: x, kind: first_months, months: 1, amount: 1, exclude_services: ['(gpu'], paid_by: F}}\nsurcharges:\n  - {{name: y, percent: 1, exempt_funds: ['[DEPT'], paid_to: O}}\n"
    );
    refused(
        &[("ocb.yaml", &config)],
        "ocb.yaml:5:76: invalid regex `(gpu`: unclosed group",
    );
    refused(
        &[("ocb.yaml", &config)],
        "ocb.yaml:7:42: invalid regex `[DEPT`: unclosed character class",
    );
}

#[test]
fn an_allocation_past_its_end_date_draws_nothing() {
    let projects = format!(
        "{LEE}  allocations:\n    - {{id: jan-only, kind: credit, amount: 500, start: 2025-01-01, end: 2025-01-31, paid_by: DEAN}}\n"
    );
    let jan = charges(&[("2025-01", "EC2", "100.00", "111")]);
    let feb = charges(&[("2025-02", "EC2", "100.00", "111")]);
    let dir = repo_with(&[
        ("ocb.yaml", OCB_YAML),
        ("projects.yaml", &projects),
        ("periods/2025-01/aws.csv", &jan),
        ("periods/2025-02/aws.csv", &feb),
    ]);
    build(dir.path());
    assert_eq!(
        statements(dir.path(), "2025-01"),
        [s("ocean", "NSF-OCE-2231", "100", "100.00", "0.00", "0.00")]
    );
    // $400 is left, but the allocation ended on January 31.
    assert_eq!(
        statements(dir.path(), "2025-02"),
        [s("ocean", "NSF-OCE-2231", "100", "0.00", "0.00", "100.00")]
    );
    // Charges name their statement, so they reconcile to statements.csv.
    let (header, rows) = csv_rows(dir.path().join("output/2025-02/charges.csv"));
    let (_, stmts) = csv_rows(dir.path().join("output/2025-02/statements.csv"));
    assert_eq!(header.last().map(String::as_str), Some("statement"));
    assert_eq!(rows[0].last(), Some(&stmts[0][0]));
}

#[test]
fn the_email_shows_the_credits_surcharges_and_split_of_each_statement() {
    if !crate::common::chromium_available() {
        return;
    }
    let config = format!(
        "{OCB_YAML}surcharges:\n  - {{name: \"F&A\", percent: 8.5, sources: [aws], exempt_funds: ['^DEPT-'], paid_to: OVERHEAD}}\n"
    );
    let projects = format!(
        "{LEE}  funds:\n    - {{fund_org: NSF-OCE-2231, percent: 70}}\n    - {{fund_org: DEPT-OCE-100, percent: 30}}\n  allocations:\n    - {{id: prepaid-2025, kind: prepaid, amount: 100, currency: USD, start: 2025-01-01, end: 2025-12-31, paid_by: DEFERRED-PREPAID}}\n"
    );
    let jan = charges(&[("2025-01", "EC2", "300.01", "111")]);
    let dir = repo_with(&[
        ("ocb.yaml", &config),
        ("projects.yaml", &projects),
        ("periods/2025-01/aws.csv", &jan),
    ]);
    let root = dir.path();
    ocb(root).arg("build").assert().success();
    // 300.01 − 100 prepaid = 200.01; 8.5 % of it is 17.00085 → 17.00; due 217.01,
    // split 70/30 by largest remainder: 151.907 → 151.91, 65.103 → 65.10.
    assert_eq!(
        statements(root, "2025-01"),
        [s(
            "ocean",
            "NSF-OCE-2231",
            "300.01",
            "100.00",
            "17.00",
            "217.01"
        )]
    );
    let out = ocb(root).arg("periods").assert().success();
    let out = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let cells: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("2025-01"))
        .unwrap()
        .split_whitespace()
        .collect();
    // period rows sources currency list billed held rejected credits surcharges due status
    assert_eq!(
        &cells[5..11],
        ["$300.01", "$0.00", "$0.00", "$100.00", "$17.00", "$217.01"],
        "{out}"
    );
    ocb(root)
        .args(["send", "--period", "2025-01", "--dev"])
        .assert()
        .success();
    let preview = read(root.join("output/emails/2025-01/a-lee-example-edu.html"));
    for line in [
        "List price $300.01, covered $0.00, amount due $217.01",
        "Billed for use $300.01; Prepaid allocation prepaid-2025 − $100.00 (opening balance $100.00, drawn $100.00, closing balance $0.00); Surcharge: F&amp;A + $17.00 (8.5% of $200.01, received by OVERHEAD)",
        "Charged to NSF-OCE-2231 70% $151.91, DEPT-OCE-100 30% $65.10",
    ] {
        assert!(preview.contains(line), "{line}\n{preview}");
    }
}
