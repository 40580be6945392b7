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

/// `ocb` with its own TMPDIR, so the Chromium profiles it creates (and any
/// process still using them) can be told apart from other tests' browsers.
fn ocb_tmp(root: &Path) -> assert_cmd::Command {
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = ocb(root);
    cmd.env("TMPDIR", &tmp);
    cmd
}

/// Chromium processes started with a profile under `root/tmp`.
fn stray_chromium(root: &Path) -> usize {
    let pattern = format!("{}/ocb-chrome-", root.join("tmp").display());
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(pattern)
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
    ocb_tmp(dir.path())
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
    assert_eq!(stray_chromium(dir.path()), 0, "Chromium survived the build");
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0,
        "a browser profile was left behind"
    );
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

#[test]
fn ctrl_c_stops_chromium_and_leaves_output_alone() {
    if !chromium_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ocb(root)
        .args(["sample", "--rows", "3000", "--projects", "150", "--out"])
        .arg(root)
        .assert()
        .success();
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    let before = std::fs::read(root.join("output/index.html")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ocb"))
        .env("TMPDIR", root.join("tmp"))
        .arg("--root")
        .arg(root)
        .arg("build")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while stray_chromium(root) == 0 {
        assert!(start.elapsed().as_secs() < 60, "Chromium never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(stray_chromium(root), 0, "Chromium survived Ctrl-C");
    let left: Vec<String> = walkdir::WalkDir::new(root.join("tmp"))
        .min_depth(1)
        .into_iter()
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(left.is_empty(), "left behind after Ctrl-C: {left:?}");
    assert_eq!(
        before,
        std::fs::read(root.join("output/index.html")).unwrap()
    );
    let leftovers: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ocb-staging"))
        .collect();
    assert!(leftovers.is_empty(), "staging folder left behind");
}

/// Regression: a tab prints many statements; each PDF must hold its own statement.
#[test]
fn each_pdf_holds_its_own_statement() {
    if !chromium_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ocb(root)
        .args(["sample", "--rows", "2000", "--projects", "40", "--out"])
        .arg(root)
        .assert()
        .success();
    ocb_tmp(root).arg("build").assert().success();
    let manifest: serde_json::Value = serde_json::from_str(&crate::common::read(
        root.join("output/2025-01/statements.json"),
    ))
    .unwrap();
    let statements = manifest["statements"].as_array().unwrap();
    assert!(statements.len() > 20);
    for s in statements {
        let text = pdf_text(&root.join("output").join(s["pdf"].as_str().unwrap()));
        let number = s["number"].as_str().unwrap();
        assert!(
            text.contains(&format!("No. {number}")),
            "{} does not hold statement {number}",
            s["pdf"]
        );
    }
}
