//! PDF statements printed by real Chromium.

use crate::common::{chromium_available, ocb, repo};
use std::path::Path;
use std::process::Command;

fn pdf_text(path: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by scripts/setup");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pages(path: &Path) -> usize {
    let out = Command::new("pdfinfo").arg(path).output().expect("pdfinfo");
    let info = String::from_utf8_lossy(&out.stdout).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Chromium processes started with one of our throwaway profiles.
fn stray_chromium() -> usize {
    let out = Command::new("pgrep")
        .args(["-f", "ocb-chrome-"])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn prints_one_pdf_per_statement_with_the_totals() {
    if !chromium_available() {
        return;
    }
    let dir = repo("basic");
    ocb(dir.path())
        .arg("build")
        .assert()
        .success()
        .stdout(predicates::str::contains("4 PDF statements"));
    let out = dir.path().join("output");
    let pdf = out.join("2025-01/statements/a-x-edu/p1.pdf");
    let text = pdf_text(&pdf);
    for want in [
        "Test University RC",
        "Dr. A",
        "Project One",
        "NSF-1",
        "January 2025",
        "$108.67",
        "$101.50",
        "$7.17",
        "Research credit",
        "Page 1 of",
    ] {
        assert!(
            text.contains(want),
            "`{want}` missing from the PDF text:\n{text}"
        );
    }
    assert_eq!(stray_chromium(), 0, "Chromium survived the build");
    // A warm build copies from the cache: the same bytes.
    let first = std::fs::read(&pdf).unwrap();
    ocb(dir.path()).arg("build").assert().success();
    assert!(
        first == std::fs::read(&pdf).unwrap(),
        "a warm build changed the PDF"
    );
}

#[test]
fn reprints_are_byte_identical() {
    if !chromium_available() {
        return;
    }
    let dir = repo("basic");
    ocb(dir.path()).arg("build").assert().success();
    let pdf = dir.path().join("output/2025-02/statements/a-x-edu/p1.pdf");
    let first = std::fs::read(&pdf).unwrap();
    std::fs::remove_dir_all(dir.path().join(".ocb-cache")).unwrap();
    ocb(dir.path()).arg("build").assert().success();
    assert!(
        first == std::fs::read(&pdf).unwrap(),
        "a cold re-print differs"
    );
    assert!(
        !String::from_utf8_lossy(&first).contains("file://"),
        "the PDF holds local paths"
    );
}

#[test]
fn a_project_with_thousands_of_charges_prints_on_a_few_pages() {
    if !chromium_available() {
        return;
    }
    let dir = repo("basic");
    let tags = r#""{""pi_email"":""a@x.edu"",""project_id"":""p1"",""fund_org"":""NSF-1""}""#;
    let mut csv = String::from(
        "BillingPeriodStart,ChargePeriodStart,ServiceName,ResourceId,ConsumedQuantity,ConsumedUnit,ListCost,BilledCost,Tags\n",
    );
    for i in 0..6000 {
        let service = ["EC2", "S3", "Lambda"][i % 3];
        csv.push_str(&format!(
            "2025-02-01,2025-02-{:02},{service},r-{},1,Hours,0.{:02},0.{:02},{tags}\n",
            i % 28 + 1,
            i % 2000,
            i % 97 + 1,
            i % 89 + 1
        ));
    }
    std::fs::write(dir.path().join("periods/2025-02/big.csv"), csv).unwrap();
    ocb(dir.path()).arg("build").assert().success();
    let pdf = dir.path().join("output/2025-02/statements/a-x-edu/p1.pdf");
    let n = pages(&pdf);
    assert!((1..=3).contains(&n), "{n} pages");
    assert!(pdf_text(&pdf).contains("1988 more resources"));
}

#[test]
fn missing_chromium_is_one_clear_line_and_exit_2() {
    let dir = repo("basic");
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    let index = std::fs::read(dir.path().join("output/index.html")).unwrap();
    ocb(dir.path())
        .arg("build")
        .env("CHROME", "/nonexistent/chromium")
        .assert()
        .code(2)
        .stderr(
            predicates::str::contains("apt-get install chromium")
                .and(predicates::str::contains("--no-pdf")),
        );
    assert_eq!(
        index,
        std::fs::read(dir.path().join("output/index.html")).unwrap()
    );
}

use predicates::prelude::PredicateBooleanExt;
