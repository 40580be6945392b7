//! A new user's first month: `ocb init`, import, `ocb projects add --from-data`,
//! build, every row billed; the hint of every flag; `ocb doctor`.

use crate::common::{ocb, read};
use std::path::{Path, PathBuf};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample_data")
        .join(name)
}

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().expect("run ocb");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "ocb failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The sums of summary.json for one period and currency.
fn summary(root: &Path, period: &str) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&read(root.join("output/summary.json"))).expect("summary.json");
    json["periods"]
        .as_array()
        .expect("array of periods")
        .iter()
        .find(|p| p["period"] == period)
        .unwrap_or_else(|| panic!("no {period} in summary.json"))["currencies"][0]
        .clone()
}

#[test]
fn first_month_from_init_to_billed_statements() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("billing");
    let init = stdout(ocb(tmp.path()).arg("init").arg(&root));
    assert!(init.contains("ocb projects add --from-data"), "{init}");
    assert!(read(root.join("README.md")).contains("ocb build"));
    // The directory starts empty: the example is a comment.
    let projects = read(root.join("projects.yaml"));
    assert!(
        projects.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{projects}"
    );

    for (file, source) in [("aws-2025.csv", "aws"), ("azure-2025.csv", "azure")] {
        stdout(
            ocb(&root)
                .arg("import")
                .arg(sample(file))
                .args(["--source", source]),
        );
    }
    let before = stdout(ocb(&root).arg("projects"));
    for id in ["ocean-model", "llm-eval", "catalysis"] {
        let line = before
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id}:\n{before}"));
        assert!(line.contains("unknown"), "{line}");
    }
    assert!(
        before.contains("`ocb projects add --from-data`"),
        "{before}"
    );

    let out = ocb(&root)
        .args(["projects", "add", "--from-data"])
        .output()
        .expect("add");
    let (added, notes) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{notes}");
    assert!(
        added.starts_with(
            "added 4 projects to projects.yaml: brain-map, genome-atlas, llm-eval, ocean-model"
        ),
        "{added}"
    );
    // Two projects' rows name no PI: reported, not guessed.
    for id in ["catalysis", "dark-matter"] {
        assert!(
            notes.contains(&format!("{id}: not added: no row names its PI")),
            "{notes}"
        );
    }
    let projects = read(root.join("projects.yaml"));
    assert!(
        projects.starts_with("# Projects, their PIs"),
        "the file's comments are kept"
    );
    assert!(
        projects.contains("- id: \"ocean-model\"\n  pi: {email: \"a.lee@example.edu\"}\n  fund_org: \"NSF-OCE-2231\"\n"),
        "{projects}"
    );
    let again = stdout(ocb(&root).args(["projects", "add", "--from-data"]));
    assert!(again.contains("already lists every project"), "{again}");
    assert_eq!(
        read(root.join("projects.yaml")),
        projects,
        "a second add changes nothing"
    );
    // The user adds the two the notes named by hand, as they would.
    let projects = format!(
        "{projects}- id: dark-matter\n  pi: {{email: c.martin@example.edu}}\n  fund_org: DOE-SC-0042\n\
         - id: catalysis\n  pi: {{email: e.schmidt@example.edu}}\n  fund_org: DEPT-CHEM-100\n"
    );
    std::fs::write(root.join("projects.yaml"), &projects).expect("write projects.yaml");

    // The untagged shared-services bucket: `ocb review` says how to resolve it.
    stdout(ocb(&root).args(["build", "--no-pdf"]));
    let review = stdout(ocb(&root).args(["review", "--period", "2025-01"]));
    assert!(review.contains("missing_pi_email (2, "), "{review}");
    assert!(review.contains(&format!(
        "to resolve: {}",
        ocb::hints::hint("missing_pi_email")
    )));
    // The user follows the hint: map the account to a project.
    std::fs::write(
        root.join("projects.yaml"),
        format!(
            "{projects}- id: shared-services\n  pi: {{email: rc-admin@example.edu, name: \"RC Admin\"}}\n  fund_org: DEPT-RC-100\n  accounts: [\"444444444444\"]\n"
        ),
    )
    .expect("write projects.yaml");

    stdout(ocb(&root).args(["build", "--no-pdf"]));
    for period in ["2025-01", "2025-12"] {
        let s = summary(&root, period);
        assert_eq!(s["held_rows"], 0, "{period}: {s}");
        assert_eq!(s["rejected_rows"], 0, "{period}: {s}");
        assert_eq!(
            s["billed"], s["input_billed"],
            "{period}: every row billed: {s}"
        );
        assert_eq!(s["billed_rows"], s["input_rows"], "{period}: {s}");
    }
    let statements = read(root.join("output/2025-01/statements.csv"));
    assert!(statements.lines().count() > 5, "{statements}");
    assert!(
        root.join("output/2025-01/statements/a-lee-example-edu/ocean-model.html")
            .exists()
    );
    let after = stdout(ocb(&root).arg("projects"));
    assert!(!after.contains("unknown"), "{after}");
}

/// `ocb periods` sums the list price of every row, held ones too.
#[test]
fn periods_shows_list_price_of_held_rows() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("periods/2025-01")).expect("mkdir");
    std::fs::write(
        root.join("projects.yaml"),
        "- id: known\n  pi: {email: a@x.edu}\n  fund_org: F-1\n",
    )
    .expect("projects");
    std::fs::write(
        root.join("periods/2025-01/aws.csv"),
        "BillingPeriodStart,ListCost,BilledCost,Tags\n\
         2025-01-01,120.00,100.00,\"{\"\"pi_email\"\":\"\"b@x.edu\"\",\"\"project_id\"\":\"\"other\"\",\"\"fund_org\"\":\"\"F-2\"\"}\"\n",
    )
    .expect("csv");
    let out = stdout(ocb(root).arg("periods"));
    let line = out
        .lines()
        .find(|l| l.starts_with("2025-01"))
        .expect("2025-01 line");
    let cells: Vec<&str> = line.split_whitespace().collect();
    // period rows sources currency list billed held rejected status
    assert_eq!(
        &cells[4..8],
        ["$120.00", "$0.00", "$100.00", "$0.00"],
        "{out}"
    );
}

const TAGS: &str = r#""{""pi_email"":""a@x.edu"",""project_id"":""p1"",""fund_org"":""NSF-1""}""#;

/// A repository whose charges raise every flag: two months (for the spike).
fn every_flag_repo(root: &Path) {
    std::fs::write(
        root.join("ocb.yaml"),
        "review:\n  fund_org_patterns: ['NSF-[0-9]+']\n  flag_patterns: ['(?i)marketplace']\n  spike: {ratio: 2.0, min_amount: 10}\n",
    )
    .expect("ocb.yaml");
    std::fs::write(
        root.join("projects.yaml"),
        "- id: p1\n  pi: {email: a@x.edu}\n  fund_org: NSF-1\n- id: nofund\n  pi: {email: a@x.edu}\n- id: old\n  pi: {email: a@x.edu}\n  fund_org: NSF-1\n  end_date: 2024-12-31\n",
    )
    .expect("projects.yaml");
    let tags = |pi: &str, project: &str, fund: &str| {
        format!(
            r#""{{""pi_email"":""{pi}"",""project_id"":""{project}"",""fund_org"":""{fund}""}}""#
        )
    };
    let header = "BillingPeriodStart,ServiceName,ResourceId,ListCost,BilledCost,Tags\n";
    let rows = [
        format!("2025-02-01,EC2,r-1,100.00,100.00,{TAGS}"),
        format!(
            "2025-02-01,EC2,r-2,5.00,5.00,{}",
            tags("", "nope2", "NSF-1")
        ),
        format!(
            "2025-02-01,EC2,r-3,5.00,5.00,{}",
            tags("not-an-email", "p1", "NSF-1")
        ),
        format!(
            "2025-02-01,EC2,r-4,5.00,5.00,{}",
            tags("a@x.edu", "", "NSF-1")
        ),
        format!(
            "2025-02-01,EC2,r-5,5.00,5.00,{}",
            tags("a@x.edu", "nope", "NSF-1")
        ),
        format!(
            "2025-02-01,EC2,r-6,5.00,5.00,{}",
            tags("a@x.edu", "nofund", "")
        ),
        format!(
            "2025-02-01,EC2,r-7,5.00,5.00,{}",
            tags("a@x.edu", "p1", "BAD")
        ),
        format!("2025-02-01,Marketplace,r-8,5.00,5.00,{TAGS}"),
        format!("2025-01-01,EC2,r-9,5.00,5.00,{TAGS}"),
        format!("2025-02-01,EC2,r-10,5.00,5.00,{TAGS}"),
        format!("2025-02-01,EC2,r-10,5.00,5.00,{TAGS}"),
        format!(
            "2025-02-01,EC2,r-11,5.00,5.00,{}",
            tags("a@x.edu", "old", "NSF-1")
        ),
        format!("2025-02-01,EC2,r-12,5.00,6.00,{TAGS}"),
        format!("2025-02-01,EC2,r-13,-1.00,-1.00,{TAGS}"),
    ];
    for (period, body) in [
        (
            "2025-01",
            format!("2025-01-01,EC2,r-0,10.00,10.00,{TAGS}\n"),
        ),
        ("2025-02", rows.join("\n") + "\n"),
    ] {
        let dir = root.join("periods").join(period);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("aws.csv"), format!("{header}{body}")).expect("csv");
    }
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Each flag carries its hint: held ones in `ocb review`, all on the review page.
#[test]
fn every_flag_carries_its_hint() {
    let tmp = tempfile::tempdir().expect("temp dir");
    every_flag_repo(tmp.path());
    stdout(ocb(tmp.path()).args(["build", "--no-pdf"]));
    let page = unescape(&read(tmp.path().join("output/2025-02/review.html")));
    for code in ocb::charge::FlagCode::ALL.map(|c| c.as_str()) {
        let hint = ocb::hints::hint(code);
        assert!(
            page.contains(&format!("title=\"{hint}\">{code}</span>")),
            "{code} has no hint on the page"
        );
        assert!(
            page.contains(&format!("<dd class=\"small\">{hint}</dd>")),
            "{code} missing from the legend"
        );
    }
    let review = stdout(ocb(tmp.path()).args(["review", "--period", "2025-02"]));
    let held = [
        "missing_pi_email",
        "invalid_pi_email",
        "missing_project_id",
        "unknown_project",
        "missing_fund_org",
        "invalid_fund_org",
        "pattern_match",
        "period_mismatch",
        "duplicate_row",
        "project_expired",
    ];
    for code in held {
        let at = review
            .find(&format!("  {code} ("))
            .unwrap_or_else(|| panic!("{code} not held:\n{review}"));
        let next = review[at..].lines().nth(1).unwrap_or("");
        assert_eq!(
            next,
            format!("    to resolve: {}", ocb::hints::hint(code)),
            "{code}"
        );
    }
}

#[test]
fn doctor_names_what_blocks_and_how_to_fix_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("billing");
    stdout(ocb(tmp.path()).arg("init").arg(&root));
    stdout(
        ocb(&root)
            .arg("import")
            .arg(sample("aws-2025.csv"))
            .args(["--source", "aws"]),
    );
    let out = ocb(&root)
        .arg("doctor")
        .env("OCB_SMTP_USER", "x")
        .env("OCB_SMTP_PASSWORD", "y")
        .output()
        .expect("doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error: source(s) without a GL account or credit fund in ocb.yaml: aws"),
        "{text}"
    );
    assert!(
        text.contains("  aws: {name: aws, account: \"5xxxx\""),
        "{text}"
    );
    assert!(
        text.contains("warning: 2025-01: 126 charge(s) held (missing_pi_email 126)"),
        "{text}"
    );
    assert!(
        text.contains("for missing_pi_email: add a `pi_email` tag"),
        "{text}"
    );
    assert!(
        text.contains("the billing repository is not a git repository"),
        "{text}"
    );
    // Configure the source: nothing blocks any more, warnings remain.
    let config = read(root.join("ocb.yaml")).replace(
        "sources: {}",
        "sources:\n  aws: {name: AWS, account: \"54100\", credit_fund_org: IT-CLOUD}\n",
    );
    std::fs::write(root.join("ocb.yaml"), config).expect("ocb.yaml");
    let mut cmd = ocb(&root);
    cmd.arg("doctor").env("CHROME", "/bin/true");
    let out = cmd.output().expect("doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("GL account"), "{text}");
    assert!(text.contains("nothing blocks the monthly run"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
}
