//! Books that stay closed (docs/CLOSING.md): issued statements, corrections
//! posted into the first open period, reissues after `ocb reopen`, audit
//! records, strict period files.

use crate::common::{csv_rows, ocb, read, repo};
use predicates::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const P1: &str = r#""{""pi_email"":""a@x.edu"",""project_id"":""p1"",""fund_org"":""NSF-1""}""#;
const HEADER: &str = "BillingPeriodStart,BillingCurrency,ServiceName,ServiceCategory,ResourceId,ChargeCategory,ConsumedQuantity,ConsumedUnit,ListCost,BilledCost,Tags";

/// AWS re-delivers January: three rows of p1 change, one is added (+$1.75).
pub fn redelivery(dir: &Path) -> std::path::PathBuf {
    let rest = read(crate::common::fixture("closing/periods/2025-01/aws.csv"))
        .lines()
        .filter(|l| l.contains("p2") || l.contains("p3") || l.contains("p4"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let text = format!(
        "{HEADER}\n\
         2025-01-01,USD,EC2,Compute,i-1,Usage,24,Hours,10.00,9.00,{P1}\n\
         2025-01-01,USD,EC2,Compute,i-4,Usage,5,Hours,2.00,1.75,{P1}\n\
         2025-01-01,USD,S3,Storage,b-4,Usage,88,GB-Month,4.40,4.40,{P1}\n\
         2025-01-01,USD,EC2,Compute,i-6,Usage,1,Hours,1.25,1.25,{P1}\n\
         2025-01-01,USD,EC2,Compute,i-7,Usage,1,Hours,1.10,1.10,{P1}\n{rest}"
    );
    let path = dir.join("aws-2025-01-redelivery.csv");
    std::fs::write(&path, text).expect("write re-delivery");
    path
}

fn build(root: &Path) -> assert_cmd::assert::Assert {
    ocb(root).args(["build", "--no-pdf"]).assert()
}

fn yaml(path: impl AsRef<Path>) -> serde_yaml::Value {
    serde_yaml::from_str(&read(path)).expect("yaml")
}

/// Statement numbers of a period as recorded in period.yaml.
fn issued(root: &Path, period: &str) -> Vec<serde_yaml::Value> {
    yaml(root.join(format!("periods/{period}/period.yaml")))["statements"]
        .as_sequence()
        .cloned()
        .unwrap_or_default()
}

fn number_of(root: &Path, period: &str, project: &str) -> String {
    let (h, rows) = csv_rows(root.join(format!("output/{period}/statements.csv")));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    rows.iter()
        .find(|r| r[col("project_id")] == project)
        .map(|r| r[col("statement")].clone())
        .unwrap_or_else(|| panic!("no statement for {project} in {period}"))
}

/// Every file under `output/<period>/statements/`, by path.
fn statement_files(root: &Path, period: &str) -> BTreeMap<String, Vec<u8>> {
    let base = root.join(format!("output/{period}/statements"));
    walkdir::WalkDir::new(&base)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(&base).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("not a decimal: {s}"))
}

/// Σ billed of the journal's debits and credits of a period (gl format).
fn journal_balance(root: &Path, period: &str) -> (Decimal, Decimal) {
    let (h, rows) = csv_rows(root.join(format!("output/{period}/journal.csv")));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    rows.iter()
        .fold((Decimal::ZERO, Decimal::ZERO), |(d, c), r| {
            (d + dec(&r[col("debit")]), c + dec(&r[col("credit")]))
        })
}

fn billed_total(root: &Path, period: &str) -> Decimal {
    let summary: Value = serde_json::from_str(&read(root.join("output/summary.json"))).unwrap();
    summary["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == period)
        .map(|p| dec(p["currencies"][0]["billed"].as_str().unwrap()))
        .unwrap()
}

#[test]
fn closing_records_what_was_issued_and_a_redelivery_becomes_corrections_in_february() {
    let dir = repo("closing");
    let root = dir.path();
    ocb(root)
        .args(["close", "2025-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "closed 2025-01: 4 statements issued, 7 rows recorded",
        ));
    assert!(root.join("periods/2025-01/issued.csv.gz").is_file());
    let statements = issued(root, "2025-01");
    assert_eq!(statements.len(), 4);
    build(root).success();
    let n1 = number_of(root, "2025-01", "p1");
    let p1 = statements
        .iter()
        .find(|s| s["number"].as_str() == Some(&n1))
        .unwrap();
    assert_eq!(p1["billed"].as_str(), Some("15.75"));
    let before = statement_files(root, "2025-01");
    let before_csv = read(root.join("output/2025-01/statements.csv"));
    let before_journal = read(root.join("output/2025-01/journal.csv"));

    let file = redelivery(root);
    ocb(root)
        .args(["import"])
        .arg(&file)
        .args(["--source", "aws", "--force"])
        .assert()
        .success();
    build(root).success();

    // January reads exactly as issued.
    assert_eq!(before, statement_files(root, "2025-01"));
    assert_eq!(before_csv, read(root.join("output/2025-01/statements.csv")));
    assert_eq!(
        before_journal,
        read(root.join("output/2025-01/journal.csv"))
    );
    let jan = read(root.join("output/2025-01/index.html"));
    assert!(
        jan.contains("Corrected in <a href=\"../2025-02/index.html\">February 2025</a>"),
        "{jan}"
    );

    // February shows the correction, row by row, against January's number.
    let feb = read(root.join("output/2025-02/statements/a-x-edu/p1.html"));
    assert!(
        feb.contains(&format!("Corrections to January 2025 (statement {n1})")),
        "{feb}"
    );
    for needle in [
        "changed", "added", "$8.50", "$9.00", "+$0.50", "-$0.25", "+$0.40", "+$1.10", "+$1.75",
        "$10.25",
    ] {
        assert!(
            feb.contains(needle),
            "{needle} missing from February's p1 statement"
        );
    }
    assert!(
        !feb.contains("Corrections to prior periods"),
        "corrections are not shown twice"
    );

    // The journal balances and posts the delta.
    let (debit, credit) = journal_balance(root, "2025-02");
    assert_eq!(debit, credit);
    assert_eq!(debit, billed_total(root, "2025-02"));
    assert_eq!(
        billed_total(root, "2025-02"),
        dec("40.25"),
        "8.50 + 30.00 + 1.75"
    );
    // The gl journal is built from the credits ledger (issue 12): the delta is
    // posted on the fund's AWS line (40.25 above includes the 1.75).
    let journal = read(root.join("output/2025-02/journal.csv"));
    assert!(journal.contains(",NSF-1,10.25,0.00,USD,aws,"), "{journal}");

    // Issued + corrections posted later = what January's inputs say now.
    let (h, rows) = csv_rows(root.join("output/2025-02/charges.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let corrections: Decimal = rows
        .iter()
        .filter(|r| r[col("charge_class")] == "Correction" && r[col("state")] == "billed")
        .map(|r| dec(&r[col("billed_cost")]))
        .sum();
    let now: Decimal = read(&file)
        .lines()
        .skip(1)
        .map(|l| dec(l.split(',').nth(9).unwrap()))
        .sum();
    assert_eq!(billed_total(root, "2025-01") + corrections, now);
    assert_eq!(now, dec("55.505"));

    // Building again changes nothing; the next build posts nothing twice.
    let feb_before = read(root.join("output/2025-02/statements/a-x-edu/p1.html"));
    build(root).success();
    assert_eq!(
        feb_before,
        read(root.join("output/2025-02/statements/a-x-edu/p1.html"))
    );
}

#[test]
fn closing_february_keeps_its_corrections_and_they_are_not_posted_again() {
    let dir = repo("closing");
    let root = dir.path();
    ocb(root).args(["close", "2025-01"]).assert().success();
    ocb(root)
        .args(["import"])
        .arg(redelivery(root))
        .args(["--source", "aws", "--force"])
        .assert()
        .success();
    std::fs::create_dir_all(root.join("periods/2025-03")).unwrap();
    ocb(root)
        .args(["close", "2025-02"])
        .assert()
        .success()
        .stdout(predicate::str::contains("including 7 correction rows"));
    let feb = yaml(root.join("periods/2025-02/period.yaml"));
    assert_eq!(feb["corrections"][0]["period"].as_str(), Some("2025-01"));
    assert_eq!(feb["corrections"][0]["billed"].as_str(), Some("1.75"));
    build(root).success();
    assert!(
        !root.join("output/2025-03/statements").exists(),
        "nothing posted twice"
    );
    let jan = read(root.join("output/2025-01/index.html"));
    assert!(
        jan.contains("../2025-02/index.html\">February 2025</a>"),
        "{jan}"
    );
    // Reopening January now would count February's corrections twice.
    ocb(root)
        .args(["reopen", "2025-01", "--reason", "x"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "periods/2025-02/period.yaml: closed period 2025-02 issued corrections to 2025-01",
        ));
    // A change that goes back: its correction is reversed in March.
    let aws = root.join("periods/2025-01/aws.csv");
    std::fs::write(
        &aws,
        read(&aws).replace("i-7,Usage,1,Hours,1.10,1.10", "i-7,Usage,1,Hours,1.10,1.20"),
    )
    .unwrap();
    build(root).success();
    let march = read(root.join("output/2025-03/statements/a-x-edu/p1.html"));
    assert!(march.contains("Corrections to January 2025"), "{march}");
    assert!(
        march.contains("$1.10") && march.contains("$1.20") && march.contains("+$0.10"),
        "{march}"
    );
}

#[test]
fn no_open_period_for_the_corrections_is_a_located_error() {
    let dir = repo("closing");
    let root = dir.path();
    ocb(root).args(["close", "2025-01"]).assert().success();
    ocb(root).args(["close", "2025-02"]).assert().success();
    ocb(root)
        .args(["import"])
        .arg(redelivery(root))
        .args(["--source", "aws", "--force"])
        .assert()
        .success();
    build(root).code(1).stderr(predicate::str::contains(
        "periods/2025-01: 4 rows of closed period 2025-01 differ from what was issued, and no open period after it can take the corrections: add `periods/2025-02/`",
    ).or(predicate::str::contains("no open period after it can take the corrections")));
    assert!(!root.join("output").exists());
}

#[test]
fn issued_statements_stay_byte_identical_after_decisions_and_config_changes() {
    let dir = repo("closing");
    let root = dir.path();
    ocb(root).args(["close", "2025-01"]).assert().success();
    build(root).success();
    let before = statement_files(root, "2025-01");
    let charges = read(root.join("output/2025-01/charges.csv"));
    let id = charges
        .lines()
        .find(|l| l.contains("i-3"))
        .and_then(|l| l.split(',').next())
        .unwrap()
        .to_string();
    // A decision on a closed period, a renamed PI, a new review rule.
    std::fs::write(
        root.join("periods/2025-01/review.yaml"),
        format!("- charge: {id}\n  decision: reject\n  note: disputed\n"),
    )
    .unwrap();
    let projects = root.join("projects.yaml");
    std::fs::write(&projects, read(&projects).replace("Dr. A", "Prof. A")).unwrap();
    let config = root.join("ocb.yaml");
    std::fs::write(
        &config,
        read(&config).replace("review:\n", "review:\n  flag_patterns: ['^S3$']\n"),
    )
    .unwrap();
    build(root).success();
    assert_eq!(
        before,
        statement_files(root, "2025-01"),
        "issued statements changed"
    );
    // The rejected charge and the S3 rows now held are taken back in February.
    let feb_c = read(root.join("output/2025-02/statements/c-x-edu/p4.html"));
    assert!(
        feb_c.contains("Corrections to January 2025") && feb_c.contains("-$3.00"),
        "{feb_c}"
    );
    // The S3 rows taken back are S3 too: the new rule holds their corrections in February.
    let (h, rows) = csv_rows(root.join("output/2025-02/charges.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let held: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[col("charge_class")] == "Correction" && r[col("state")] == "held")
        .collect();
    assert_eq!(held.len(), 2, "{rows:?}");
    assert!(
        held.iter()
            .all(|r| r[col("service_name")] == "S3" && r[col("flags")].contains("pattern_match"))
    );
    assert!(
        !root
            .join("output/2025-02/statements/a-x-edu/p2.html")
            .exists()
    );
    // Held charges of a closed month are listed for review.
    ocb(root)
        .args(["review", "--period", "2025-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2025-01: 2 charges held"));
    let jan = read(root.join("output/2025-01/index.html"));
    assert!(
        jan.contains("arrived or changed after it was closed"),
        "{jan}"
    );
}

#[test]
fn an_issued_statement_that_would_change_is_a_located_error() {
    let dir = repo("closing");
    let root = dir.path();
    ocb(root).args(["close", "2025-01"]).assert().success();
    let path = root.join("periods/2025-01/period.yaml");
    let text = read(&path);
    // What a change in ocb's arithmetic would look like: the recorded figure differs.
    let tampered = text.replacen("billed: '15.75'", "billed: '15.76'", 1);
    assert_ne!(text, tampered, "{text}");
    std::fs::write(&path, &tampered).unwrap();
    let n1 = issued(root, "2025-01")
        .iter()
        .find(|s| s["project_id"].as_str() == Some("p1"))
        .and_then(|s| s["number"].as_str().map(String::from))
        .unwrap();
    let line = tampered
        .lines()
        .position(|l| l.contains(&format!("number: {n1}")))
        .unwrap()
        + 1;
    build(root).code(1).stderr(predicate::str::contains(format!(
        "periods/2025-01/period.yaml:{line}: statement {n1}: issued as list 17.25, due 15.76"
    )));
}

#[test]
fn a_misspelt_period_status_is_a_located_error() {
    let dir = repo("closing");
    let root = dir.path();
    std::fs::write(root.join("periods/2025-01/period.yaml"), "status: frozen\n").unwrap();
    build(root)
        .code(1)
        .stderr(predicate::str::contains("periods/2025-01/period.yaml:1:9: status: unknown variant `frozen`, expected `open` or `closed`"));
    assert!(!root.join("output").exists());
}

#[test]
fn audit_json_names_inputs_version_and_commit() {
    let dir = repo("closing");
    let root = dir.path();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["-c", "user.name=T", "-c", "user.email=t@x.edu"])
            .args(args)
            .output()
            .expect("git")
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    build(root).success();
    let audit: Value = serde_json::from_str(&read(root.join("output/2025-01/audit.json"))).unwrap();
    assert_eq!(audit["repository"]["git"], false);
    assert_eq!(audit["ocb_version"], env!("CARGO_PKG_VERSION"));
    let aws = ocb::digest::sha256(&root.join("periods/2025-01/aws.csv")).unwrap();
    assert_eq!(audit["inputs"]["aws.csv"], aws.as_str());
    assert!(audit["inputs"]["ocb.yaml"].is_string());
    git(&["init", "-q"]);
    std::fs::write(root.join(".gitignore"), "output/\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "books"]);
    build(root).success();
    let audit: Value = serde_json::from_str(&read(root.join("output/2025-01/audit.json"))).unwrap();
    let commit = audit["repository"]["commit"].as_str().unwrap().to_string();
    assert_eq!(commit.len(), 40);
    assert_eq!(audit["repository"]["dirty"], false);
    let page = read(root.join("output/2025-01/index.html"));
    assert!(
        page.contains(&format!("commit {}", &commit[..12])),
        "{page}"
    );
    std::fs::write(root.join("periods/2025-01/review.yaml"), "[]\n").unwrap();
    build(root).success();
    let audit: Value = serde_json::from_str(&read(root.join("output/2025-01/audit.json"))).unwrap();
    assert_eq!(audit["repository"]["dirty"], true);
    assert!(read(root.join("output/2025-01/index.html")).contains("with uncommitted changes"));
}

/// Every statement number in the repository's period files, issued or superseded.
fn all_numbers(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for period in ["2025-01", "2025-02"] {
        let path = root.join(format!("periods/{period}/period.yaml"));
        if !path.exists() {
            continue;
        }
        let y = yaml(path);
        for list in ["statements", "superseded"] {
            for s in y[list].as_sequence().cloned().unwrap_or_default() {
                out.push(s["number"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

/// The "Done when" story of docs/CLOSING.md, with real PDFs and a real SMTP server.
#[test]
fn close_redeliver_correct_reopen_reissue_and_send_only_the_reissue() {
    if !crate::send::available() {
        return;
    }
    let server = crate::send::Server::start(&[]);
    let dir = repo("closing");
    let root = dir.path();
    let config = root.join("ocb.yaml");
    std::fs::write(
        &config,
        read(&config).replace("port: 2525", &format!("port: {}", server.port)),
    )
    .unwrap();
    let send = || {
        let mut cmd = ocb(root);
        cmd.args(["send", "--period", "2025-01"])
            .env_remove("OCB_TEST_SMTP_USER")
            .env_remove("OCB_TEST_SMTP_PASSWORD");
        cmd
    };
    ocb(root)
        .args(["close", "2025-01"])
        .env("OCB_USER", "jdoe")
        .assert()
        .success();
    ocb(root).arg("build").assert().success();
    let n1 = number_of(root, "2025-01", "p1");
    let n2 = number_of(root, "2025-01", "p2");
    let pdfs = |root: &Path| statement_files(root, "2025-01");
    let issued_files = pdfs(root);
    send()
        .assert()
        .success()
        .stdout(predicate::str::contains("sent 3 messages for 2025-01"));

    ocb(root)
        .arg("import")
        .arg(redelivery(root))
        .args(["--source", "aws", "--force"])
        .assert()
        .success();
    ocb(root).arg("build").assert().success();
    assert_eq!(
        issued_files,
        pdfs(root),
        "January's HTML and PDFs as issued"
    );
    let feb = read(root.join("output/2025-02/statements/a-x-edu/p1.html"));
    assert!(
        feb.contains(&format!("Corrections to January 2025 (statement {n1})"))
            && feb.contains("+$1.75")
    );

    ocb(root)
        .args(["reopen", "2025-01", "--reason", "PI dispute, ticket 4412"])
        .env("OCB_USER", "jdoe")
        .assert()
        .success();
    let history = yaml(root.join("periods/2025-01/period.yaml"))["history"].clone();
    let last = history.as_sequence().unwrap().last().unwrap().clone();
    assert_eq!(last["action"].as_str(), Some("reopened"));
    assert_eq!(last["by"].as_str(), Some("jdoe"));
    assert_eq!(last["reason"].as_str(), Some("PI dispute, ticket 4412"));
    assert!(last["date"].as_str().unwrap().ends_with('Z'));

    ocb(root).arg("build").assert().success();
    let r1 = format!("{n1}-R1");
    assert_eq!(number_of(root, "2025-01", "p1"), r1);
    assert_eq!(
        number_of(root, "2025-01", "p2"),
        n2,
        "unchanged statements keep their number"
    );
    let now = pdfs(root);
    assert_eq!(
        now["a-x-edu/p2.pdf"], issued_files["a-x-edu/p2.pdf"],
        "and their PDF"
    );
    let reissue = read(root.join("output/2025-01/statements/a-x-edu/p1.html"));
    assert!(reissue.contains(&format!("This statement replaces statement <a href=\"..&#x2f;..&#x2f;superseded&#x2f;{}.html\">{n1}</a>", n1.to_lowercase())), "{reissue}");
    assert!(
        reissue.contains("PI dispute, ticket 4412") && reissue.contains("$17.50"),
        "{reissue}"
    );
    let old = root.join(format!("output/2025-01/superseded/{}", n1.to_lowercase()));
    let old_html = read(old.with_extension("html"));
    assert!(
        old_html.contains("Superseded.") && old_html.contains(&r1) && old_html.contains("$15.75"),
        "{old_html}"
    );
    assert!(
        old.with_extension("pdf").is_file(),
        "the superseded PDF stays published"
    );
    let page = read(root.join("output/2025-01/index.html"));
    assert!(
        page.contains("Superseded statements") && page.contains(&r1),
        "{page}"
    );
    let feb = read(root.join("output/2025-02/statements/a-x-edu/p1.html"));
    assert!(
        !feb.contains("Corrections to January"),
        "the reissue carries the change"
    );

    send()
        .assert()
        .success()
        .stdout(predicate::str::contains("sent 1 message for 2025-01"));
    let msgs = server.messages();
    assert_eq!(msgs.len(), 4);
    let m = &msgs[3];
    let names: Vec<&str> = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("statement-{r1}-p1.pdf")]);
    assert!(
        m["text"]
            .as_str()
            .unwrap()
            .contains(&format!("replaces statement {n1}")),
        "{}",
        m["text"]
    );

    ocb(root).args(["close", "2025-01"]).assert().success();
    let y = yaml(root.join("periods/2025-01/period.yaml"));
    let r1_entry = y["statements"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["number"].as_str() == Some(&r1))
        .cloned()
        .unwrap();
    assert_eq!(r1_entry["replaces"].as_str(), Some(n1.as_str()));
    assert_eq!(y["superseded"][0]["number"].as_str(), Some(n1.as_str()));
    assert_eq!(
        y["superseded"][0]["superseded_by"].as_str(),
        Some(r1.as_str())
    );
    ocb(root).arg("build").assert().success();
    assert!(old.with_extension("html").is_file());
    let numbers = all_numbers(root);
    let unique: std::collections::BTreeSet<&String> = numbers.iter().collect();
    assert_eq!(unique.len(), numbers.len(), "{numbers:?}");
}

#[test]
fn late_rows_and_focus_corrections_for_a_closed_month_are_posted_against_its_statement() {
    let dir = repo("closing");
    let root = dir.path();
    ocb(root).args(["close", "2025-01"]).assert().success();
    let feb = root.join("periods/2025-02/late.csv");
    std::fs::write(
        &feb,
        format!(
            "BillingPeriodStart,ChargePeriodStart,ChargeClass,ServiceName,ResourceId,BilledCost,Tags\n\
             2025-01-01,2025-01-20,,EC2,i-8,2.00,{P1}\n\
             2025-02-01,2025-01-10,Correction,EC2,i-1,-1.25,{P1}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("periods/2025-03")).unwrap();
    build(root).success();
    let n1 = number_of(root, "2025-01", "p1");
    let page = read(root.join("output/2025-02/statements/a-x-edu/p1.html"));
    assert!(
        page.contains(&format!("Corrections to January 2025 (statement {n1})")),
        "{page}"
    );
    assert!(
        page.contains("late row") && page.contains("+$2.00"),
        "{page}"
    );
    assert!(
        page.contains(">correction<") && page.contains("-$1.25"),
        "{page}"
    );
    assert!(
        page.contains("+$0.75") && page.contains("$9.25"),
        "8.50 + 2.00 - 1.25: {page}"
    );
    // Not held as period_mismatch; and once February is closed, nothing moves to March.
    assert!(!read(root.join("output/2025-02/charges.csv")).contains("period_mismatch"));
    ocb(root).args(["close", "2025-02"]).assert().success();
    build(root).success();
    assert!(!root.join("output/2025-03/statements").exists());
}

#[test]
fn portals_show_only_their_own_superseded_statements_and_no_audit_record() {
    let dir = repo("closing");
    let root = dir.path();
    let c = root.join("ocb.yaml");
    let yaml = read(&c).replace(
        "site:\n",
        "site:\n  access: per_pi\n  admins: [billing@test.edu]\n",
    );
    std::fs::write(&c, yaml).unwrap();
    ocb(root).args(["close", "2025-01"]).assert().success();
    ocb(root)
        .arg("import")
        .arg(redelivery(root))
        .args(["--source", "aws", "--force"])
        .assert()
        .success();
    ocb(root)
        .args(["reopen", "2025-01", "--reason", "re-delivery"])
        .assert()
        .success();
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    let out = root.join("output");
    assert!(out.join("admin/2025-01/audit.json").is_file());
    let (h, rows) = csv_rows(out.join("admin/2025-01/statements.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let r1 = rows
        .iter()
        .find(|r| r[col("project_id")] == "p1")
        .map(|r| r[col("statement")].clone())
        .unwrap();
    let n1 = r1.strip_suffix("-R1").expect("p1 reissued").to_lowercase();
    let old = format!("2025-01/superseded/{n1}.html");
    assert!(out.join("admin").join(&old).is_file());
    for pi in ["a-x-edu", "b-x-edu", "c-x-edu"] {
        let portal = out.join(ocb::portal::path(pi));
        assert!(portal.join("2025-01/index.html").is_file(), "{pi}");
        assert!(!portal.join("2025-01/audit.json").exists(), "{pi}");
        assert!(
            !read(portal.join("2025-01/index.html")).contains("audit.json"),
            "{pi}"
        );
        // a@x.edu's p1 was reissued: only its portal has the old statement.
        assert_eq!(portal.join(&old).is_file(), pi == "a-x-edu", "{pi}");
        assert_eq!(
            portal.join("2025-01/superseded").exists(),
            pi == "a-x-edu",
            "{pi}"
        );
    }
}
