//! `ocb convert storage --format isilon`, `ocb convert openai` and
//! `ocb convert azure-local`: figures worked out by hand, Isilon priced exactly
//! like the snapshot CSV, located bad input with nothing written, and every
//! converter's output checked by the FOCUS validator (focus-data-toolkit).
//! Fixture: tests/fixtures/sources (inputs/ holds the exports and rates).

use crate::common::{csv_rows, fixture, ocb, read, repo};
use predicates::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn convert(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    ocb(dir).current_dir(dir).arg("convert").args(args).assert()
}

fn rows(path: impl AsRef<Path>) -> Vec<BTreeMap<String, String>> {
    let (header, rows) = csv_rows(path);
    rows.into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

/// The named columns of every row, for comparing with figures worked by hand.
fn columns(rows: &[BTreeMap<String, String>], names: &[&str]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| names.iter().map(|n| r[*n].clone()).collect())
        .collect()
}

/// Exit 1, the located messages first (in order), and nothing written anywhere.
fn fails_with(dir: &Path, args: &[&str], expected: &[&str]) {
    let out = convert(dir, args).code(1).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[..expected.len()], *expected, "{stderr}");
    assert!(lines[expected.len()].starts_with("ocb: "), "{stderr}");
    assert!(!dir.join("periods").exists(), "a period folder was created");
    let leftovers: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".ocb-convert-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn isilon(dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut args = vec![
        "storage",
        "--format",
        "isilon",
        "inputs/isilon/quotas-2025-01-01.json",
        "inputs/isilon/quotas-2025-01-16.json",
        "--rates",
        "inputs/storage-rates.yaml",
        "--period",
        "2025-01",
        "--source",
        "isilon",
    ];
    args.extend_from_slice(extra);
    convert(dir, &args)
}

#[test]
fn isilon_quotas_are_priced_by_hand() {
    let dir = repo("sources");
    isilon(dir.path(), &[])
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/isilon.csv: 3 rows, list $9.12, billed $4.56",
        ))
        .stdout(predicate::str::contains(
            "1 user quota snapshot skipped (only directory quotas are billed)",
        ));
    let rows = rows(dir.path().join("periods/2025-01/isilon.csv"));
    // January: 31 days, 100 GB free per project, 0.02 per GB-month, 50% subsidy.
    assert_eq!(
        columns(
            &rows,
            &[
                "ResourceId",
                "SubAccountId",
                "ConsumedQuantity",
                "PricingQuantity",
                "ListCost",
                "BilledCost"
            ]
        ),
        [
            // No project owns /ifs/lab-x: billed whole, no allowance, held by the build.
            ["/ifs/lab-x/scratch", "", "31", "31", "0.620000", "0.310000"],
            // 310 GB for 15 days, then (fslogical, OneFS 9) 620 GB for 16: (4650 + 9920) / 31 = 470.
            ["/ifs/p1/data", "p1", "470", "370", "7.400000", "3.700000"],
            // 155 GB all month, 100 free: 55 × 0.02 = 1.10.
            ["/ifs/p2/results", "p2", "155", "55", "1.100000", "0.550000"],
        ]
    );
    assert_eq!(
        rows[1]["Tags"],
        r#"{"fund_org":"NSF-1","pi_email":"a@x.edu","project_id":"p1","storage_path":"/ifs/p1/data"}"#
    );
    assert_eq!(rows[0]["Tags"], r#"{"storage_path":"/ifs/lab-x/scratch"}"#);
    // The build bills the mapped paths and holds the unmapped one for review.
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    let summary: serde_json::Value =
        serde_json::from_str(&read(dir.path().join("output/summary.json"))).unwrap();
    let jan = &summary["periods"][0]["currencies"][0];
    let amount = |key: &str| -> Decimal {
        jan[key]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{key}: {jan}"))
    };
    assert_eq!(amount("billed"), Decimal::new(425, 2));
    assert_eq!(amount("held"), Decimal::new(31, 2));
}

#[test]
fn isilon_bills_physical_bytes_or_the_hard_threshold_on_request() {
    let dir = repo("sources");
    // physical = 2 × logical: p1 940 − 100, p2 310 − 100, lab-x 62 → (840 + 210 + 62) × 0.02.
    isilon(dir.path(), &["--bill", "physical"])
        .success()
        .stdout(predicate::str::contains(
            "3 rows, list $22.24, billed $11.12",
        ));
    // hard thresholds: p1 1000 − 100, p2 200 − 100, lab-x 100 → (900 + 100 + 100) × 0.02.
    isilon(dir.path(), &["--bill", "hard", "--force"])
        .success()
        .stdout(predicate::str::contains(
            "3 rows, list $22.00, billed $11.00",
        ));
}

#[test]
fn isilon_and_the_snapshot_csv_give_the_same_rows_for_the_same_usage() {
    let dir = repo("sources");
    isilon(dir.path(), &["--out", "from-isilon.csv"]).success();
    convert(
        dir.path(),
        &[
            "storage",
            "inputs/isilon-as-snapshots.csv",
            "--rates",
            "inputs/storage-rates.yaml",
            "--period",
            "2025-01",
            "--source",
            "isilon",
            "--out",
            "from-csv.csv",
        ],
    )
    .success()
    .stdout(predicate::str::contains("3 rows, list $9.12, billed $4.56"));
    let (a, b) = (
        read(dir.path().join("from-isilon.csv")),
        read(dir.path().join("from-csv.csv")),
    );
    assert_eq!(a.lines().count(), 4);
    assert_eq!(a, b);
}

#[test]
fn nested_isilon_quotas_are_a_located_warning() {
    let dir = repo("sources");
    std::fs::write(
        dir.path().join("inputs/nested-2025-01-01.json"),
        "[\n {\"path\": \"/ifs/p1\", \"type\": \"directory\", \"usage\": {\"logical\": 100000000000}},\n {\"path\": \"/ifs/p1/data\", \"type\": \"directory\", \"usage\": {\"logical\": 40000000000}}\n]\n",
    )
    .unwrap();
    convert(
        dir.path(),
        &[
            "storage", "--format", "isilon", "inputs/nested-2025-01-01.json",
            "--rates", "inputs/storage-rates.yaml", "--period", "2025-01",
        ],
    )
    .success()
    .stderr(predicate::str::diff(
        "warning: inputs/nested-2025-01-01.json:3: quota `/ifs/p1/data` lies inside quota `/ifs/p1` (line 2): its bytes are billed in both; bill one of them\n",
    ));
}

#[test]
fn isilon_bad_input_is_located_and_nothing_is_written() {
    let dir = repo("sources");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let run = |files: &[&str], extra: &[&str], expected: &[&str]| {
        let mut args = vec!["storage", "--format", "isilon"];
        args.extend_from_slice(files);
        args.extend_from_slice(&[
            "--rates",
            "inputs/storage-rates.yaml",
            "--period",
            "2025-01",
        ]);
        args.extend_from_slice(extra);
        fails_with(dir.path(), &args, expected);
    };
    write(
        "broken-2025-01-01.json",
        "[\n  {\"path\": \"/ifs/p1\",\n   \"usage\": {\"logical\": 5}\n",
    );
    run(
        &["broken-2025-01-01.json"],
        &[],
        &["broken-2025-01-01.json:4:0: EOF while parsing an object"],
    );
    write(
        "nopath-2025-01-02.json",
        "{\"quotas\": [\n  {\"type\": \"directory\", \"usage\": {\"logical\": 5}}\n]}\n",
    );
    run(
        &["nopath-2025-01-02.json"],
        &[],
        &[
            "nopath-2025-01-02.json:2:48: quota without a path: expected the directory it governs, such as \"/ifs/data/lab\"",
        ],
    );
    write(
        "neg-2025-01-03.json",
        "[{\"path\": \"/ifs/p1\",\n  \"usage\": {\"logical\": -40}}]\n",
    );
    write(
        "frac-2025-01-04.json",
        "[{\"path\": \"/ifs/p1\",\n  \"usage\": {\"logical\": 40.5}}]\n",
    );
    run(
        &["neg-2025-01-03.json", "frac-2025-01-04.json"],
        &[],
        &[
            // Problems are listed in file order (sorted by name).
            "frac-2025-01-04.json:2:27: 40.5 is not a whole number of bytes: expected an integer, 0 or more",
            "neg-2025-01-03.json:2:26: -40 bytes is negative: expected a whole number of bytes, 0 or more",
        ],
    );
    write("quotas.json", "[]");
    run(
        &["quotas.json"],
        &[],
        &[
            "quotas.json: no date in the file name: expected YYYY-MM-DD in it, as in quotas-2025-01-15.json",
        ],
    );
    run(
        &[
            "inputs/isilon/quotas-2025-01-01.json",
            "inputs/isilon/quotas-2025-01-16.json",
            "neg-2025-01-03.json",
        ],
        &["--bill", "used"],
        &["--bill: `used`: expected logical, physical or hard"],
    );
    std::fs::copy(
        dir.path().join("inputs/isilon/quotas-2025-01-16.json"),
        dir.path().join("again-2025-01-16.json"),
    )
    .unwrap();
    run(
        &[
            "inputs/isilon/quotas-2025-01-16.json",
            "again-2025-01-16.json",
        ],
        &[],
        &[
            "again-2025-01-16.json: a second snapshot of 2025-01-16: `inputs/isilon/quotas-2025-01-16.json` already gives one; expected one file per day",
        ],
    );
}

fn openai(dir: &Path, file: &str) -> assert_cmd::assert::Assert {
    convert(
        dir,
        &[
            "openai",
            file,
            "--rates",
            "inputs/openai-rates.yaml",
            "--period",
            "2026-01",
            "--source",
            "openai",
        ],
    )
}

#[test]
fn chatgpt_edu_credits_are_priced_from_the_pool_by_hand() {
    let dir = repo("sources");
    openai(dir.path(), "inputs/chatgpt-edu-usage-2026-01.csv")
        .success()
        .stdout(predicate::str::contains(
            "periods/2026-01/openai.csv: 3 rows, list $29.13, billed $29.13",
        ))
        .stdout(predicate::str::contains("2 lines outside 2026-01 skipped"))
        .stdout(predicate::str::contains(
            "1 user in no project's `users:` in projects.yaml: their rows are held for review",
        ));
    let rows = rows(dir.path().join("periods/2026-01/openai.csv"));
    // $1,000.00 for 20,000 credits: $0.05 a credit; no subsidy in the converter.
    assert_eq!(
        columns(
            &rows,
            &[
                "ChargePeriodStart",
                "ChargePeriodEnd",
                "ResourceId",
                "SubAccountId",
                "ConsumedQuantity",
                "ConsumedUnit",
                "ListCost",
                "BilledCost",
                "x_UsageType",
                "x_UsageQuantity",
            ]
        ),
        [
            // Two lines of one user, day and type (the email's case differs): 120 + 30 credits.
            [
                "2026-01-05T00:00:00Z",
                "2026-01-06T00:00:00Z",
                "a.user@x.edu",
                "p1",
                "150",
                "Credits",
                "7.500000",
                "7.500000",
                "messages",
                "50"
            ],
            // 412.5 × 0.05; `users:` lists B.User@x.edu.
            [
                "2026-01-06T00:00:00Z",
                "2026-01-07T00:00:00Z",
                "b.user@x.edu",
                "p2",
                "412.5",
                "Credits",
                "20.625000",
                "20.625000",
                "codex",
                "3"
            ],
            [
                "2026-01-31T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "stranger@x.edu",
                "",
                "20",
                "Credits",
                "1.000000",
                "1.000000",
                "messages",
                "5"
            ],
        ]
    );
    assert_eq!(rows[0]["ServiceName"], "ChatGPT Edu");
    assert_eq!(rows[0]["ServiceCategory"], "AI and Machine Learning");
    assert_eq!(rows[0]["ResourceName"], "Ann User");
    assert_eq!(
        rows[0]["Tags"],
        r#"{"fund_org":"NSF-1","openai_user":"a.user@x.edu","pi_email":"a@x.edu","project_id":"p1"}"#
    );
    assert_eq!(rows[2]["Tags"], r#"{"openai_user":"stranger@x.edu"}"#);
    // The build bills the mapped users and holds the stranger's dollar.
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    let summary: serde_json::Value =
        serde_json::from_str(&read(dir.path().join("output/summary.json"))).unwrap();
    let jan = &summary["periods"][0]["currencies"][0];
    let amount = |key: &str| -> Decimal {
        jan[key]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{key}: {jan}"))
    };
    assert_eq!(amount("billed"), Decimal::new(28125, 3));
    assert_eq!(amount("held"), Decimal::ONE);
}

#[test]
fn chatgpt_edu_a_fixed_credit_price_works_too() {
    let dir = repo("sources");
    std::fs::write(
        dir.path().join("inputs/openai-rates.yaml"),
        "currency: USD\ncredit_price: 0.04\n",
    )
    .unwrap();
    // (150 + 412.5 + 20) × 0.04 = 23.30
    openai(dir.path(), "inputs/chatgpt-edu-usage-2026-01.csv")
        .success()
        .stdout(predicate::str::contains(
            "3 rows, list $23.30, billed $23.30",
        ));
}

#[test]
fn chatgpt_edu_bad_input_is_located_and_nothing_is_written() {
    let dir = repo("sources");
    std::fs::write(
        dir.path().join("bad.csv"),
        "date_partition,account_id,account_user_id,email,name,public_id,usage_type,usage_credits,usage_quantity,usage_units\n1/5/2026,w,u,a.user@x.edu,A,p,messages,12,1,messages\n2026/1/5,w,u,a.user@x.edu,A,p,messages,12,1,messages\n1/6/2026,w,u,a.user@x.edu,A,p,messages,twelve,1,messages\n",
    )
    .unwrap();
    fails_with(
        dir.path(),
        &[
            "openai",
            "bad.csv",
            "--rates",
            "inputs/openai-rates.yaml",
            "--period",
            "2026-01",
        ],
        &[
            "bad.csv:3: column `date_partition`: `2026/1/5` is not a date: expected M/D/YYYY such as 1/15/2026",
            "bad.csv:4: column `usage_credits`: `twelve` is not a number of credits",
        ],
    );
    std::fs::write(
        dir.path().join("inputs/openai-rates.yaml"),
        "currency: USD\ncredit_pool:\n  credits: 0\n  amount: 1000.00\n",
    )
    .unwrap();
    fails_with(
        dir.path(),
        &[
            "openai",
            "inputs/chatgpt-edu-usage-2026-01.csv",
            "--rates",
            "inputs/openai-rates.yaml",
            "--period",
            "2026-01",
        ],
        &["inputs/openai-rates.yaml:3:12: credit_pool.credits: 0 is not greater than 0"],
    );
}

/// One inventory file per January day, as `az graph query … -o json` would save them.
fn write_inventory(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir.join("inv")).unwrap();
    let mut names = Vec::new();
    for day in 1..=31 {
        let mut vms = vec![
            r#"{"vm_id": "/subscriptions/1111/machines/lee-jupyter", "vm_name": "lee-jupyter", "project_id": "p1", "vcpus": 4, "memory_gb": 16, "disk_gb": 128, "power_state": "Running"}"#.to_string(),
            format!(
                r#"{{"vm_id": "/subscriptions/1111/machines/okafor-db", "vm_name": "okafor-db", "project_id": "", "vcpus": 8, "memory_gb": 64, "disk_gb": 1024, "power_state": "{}"}}"#,
                if day <= 20 { "Running" } else { "Stopped" }
            ),
        ];
        if day >= 22 {
            vms.push(r#"{"vm_id": "/subscriptions/1111/machines/build-agent-7", "vm_name": "build-agent-7", "vcpus": 2, "memory_gb": 4, "disk_gb": 64, "power_state": "Running"}"#.into());
        }
        let list = format!("[\n  {}\n]\n", vms.join(",\n  "));
        // Half the days in the wrapped shape of the full az output.
        let text = if day % 2 == 0 {
            format!("{{\"count\": {}, \"data\": {list}}}", vms.len())
        } else {
            list
        };
        let name = format!("inv/vm-inventory-2025-01-{day:02}.json");
        std::fs::write(dir.join(&name), text).unwrap();
        names.push(name);
    }
    names
}

fn azure_local(dir: &Path, files: &[String]) -> assert_cmd::assert::Assert {
    let mut args: Vec<&str> = vec!["azure-local"];
    args.extend(files.iter().map(String::as_str));
    args.extend_from_slice(&[
        "--rates",
        "inputs/azure-local-rates.yaml",
        "--period",
        "2025-01",
        "--source",
        "azure-local",
    ]);
    convert(dir, &args)
}

#[test]
fn azure_local_vms_are_priced_like_the_guides_worked_month() {
    let dir = repo("sources");
    let files = write_inventory(dir.path());
    azure_local(dir.path(), &files)
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/azure-local.csv: 6 rows, list $218.76, billed $109.38",
        ));
    let rows = rows(dir.path().join("periods/2025-01/azure-local.csv"));
    // vCPU-hour 0.01, memory GB-hour 0.002, disk GB-month 0.05, 50% subsidy; 31 days.
    assert_eq!(
        columns(
            &rows,
            &[
                "ResourceName",
                "SubAccountId",
                "ServiceName",
                "ConsumedQuantity",
                "ConsumedUnit",
                "ListCost",
                "BilledCost"
            ]
        ),
        [
            // created on the 22nd: (2 × 0.01 + 4 × 0.002) × 24 × 10 = 6.72
            [
                "build-agent-7",
                "",
                "Azure Local VMs",
                "240",
                "Hours",
                "6.720000",
                "3.360000"
            ],
            // 64 GB × 10/31 days = 20.645161 GB-months × 0.05
            [
                "build-agent-7",
                "",
                "Azure Local VM disks",
                "20.645161",
                "GB-Month",
                "1.032258",
                "0.516129"
            ],
            // (4 × 0.01 + 16 × 0.002) × 24 × 31 = 53.568
            [
                "lee-jupyter",
                "p1",
                "Azure Local VMs",
                "744",
                "Hours",
                "53.568000",
                "26.784000"
            ],
            [
                "lee-jupyter",
                "p1",
                "Azure Local VM disks",
                "128",
                "GB-Month",
                "6.400000",
                "3.200000"
            ],
            // running 1–20 January: (0.08 + 0.128) × 24 × 20 = 99.84; project from vm_projects
            [
                "okafor-db",
                "p2",
                "Azure Local VMs",
                "480",
                "Hours",
                "99.840000",
                "49.920000"
            ],
            [
                "okafor-db",
                "p2",
                "Azure Local VM disks",
                "1024",
                "GB-Month",
                "51.200000",
                "25.600000"
            ],
        ]
    );
    assert_eq!(rows[2]["ServiceCategory"], "Compute");
    assert_eq!(rows[3]["ServiceCategory"], "Storage");
    assert_eq!(
        rows[2]["ResourceId"],
        "/subscriptions/1111/machines/lee-jupyter"
    );
    assert_eq!(
        rows[2]["ChargeDescription"],
        "lee-jupyter: 4 vCPU, 16 GB, running hours"
    );
    assert_eq!(
        rows[2]["Tags"],
        r#"{"fund_org":"NSF-1","pi_email":"a@x.edu","project_id":"p1","vm_name":"lee-jupyter"}"#
    );
}

#[test]
fn azure_local_bad_input_is_located_and_nothing_is_written() {
    let dir = repo("sources");
    let mut files = write_inventory(dir.path());
    std::fs::write(
        dir.path().join(&files[4]),
        "[\n  {\"vm_id\": \"a\", \"vcpus\": 2, \"memory_gb\": -4}\n]\n",
    )
    .unwrap();
    files.push("inv/vm-inventory.json".into());
    std::fs::write(dir.path().join(&files[31]), "[]").unwrap();
    fails_with(
        dir.path(),
        &[
            &["azure-local"][..],
            &files.iter().map(String::as_str).collect::<Vec<_>>(),
            &[
                "--rates",
                "inputs/azure-local-rates.yaml",
                "--period",
                "2025-01",
            ],
        ]
        .concat(),
        &[
            "inv/vm-inventory.json: no date in the file name: expected YYYY-MM-DD in it, as in quotas-2025-01-15.json",
            "inv/vm-inventory-2025-01-05.json:2:44: -4 is negative: expected 0 or more",
        ],
    );
}

/// The FOCUS validator from PyPI (`focus-data-toolkit`), installed by
/// scripts/setup in a virtual environment; None (with a printed reason) when
/// it is missing outside CI.
fn focus_toolkit() -> Option<PathBuf> {
    let venv = std::env::var_os("OCB_FOCUS_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/ocb/focus-venv"))
        })?;
    let tool = venv.join("bin/focus-toolkit");
    if tool.exists() {
        return Some(tool);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is missing: run scripts/setup (in CI this test never skips)",
            tool.display()
        );
    }
    eprintln!(
        "skipping: {} not found (run scripts/setup; in CI this test never skips)",
        tool.display()
    );
    None
}

#[test]
fn every_converter_writes_valid_focus() {
    let Some(tool) = focus_toolkit() else { return };
    let dir = repo("sources");
    let conv = fixture("convert").join("inputs");
    let (sacct, hpc_rates) = (conv.join("jan.sacct"), conv.join("hpc-rates.yaml"));
    let (snaps, storage_rates) = (conv.join("snapshots.csv"), conv.join("storage-rates.yaml"));
    let inventory = write_inventory(dir.path());
    let s = |p: &PathBuf| p.display().to_string();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "slurm",
            vec![
                "slurm".into(),
                s(&sacct),
                "--rates".into(),
                s(&hpc_rates),
                "--period".into(),
                "2025-01".into(),
            ],
        ),
        (
            "slurm-day",
            vec![
                "slurm".into(),
                s(&sacct),
                "--rates".into(),
                s(&hpc_rates),
                "--period".into(),
                "2025-01".into(),
                "--group".into(),
                "day".into(),
            ],
        ),
        (
            "storage",
            vec![
                "storage".into(),
                s(&snaps),
                "--rates".into(),
                s(&storage_rates),
                "--period".into(),
                "2025-01".into(),
            ],
        ),
        (
            "isilon",
            vec![
                "storage".into(),
                "--format".into(),
                "isilon".into(),
                "inputs/isilon/quotas-2025-01-01.json".into(),
                "inputs/isilon/quotas-2025-01-16.json".into(),
                "--rates".into(),
                "inputs/storage-rates.yaml".into(),
                "--period".into(),
                "2025-01".into(),
            ],
        ),
        (
            "openai",
            vec![
                "openai".into(),
                "inputs/chatgpt-edu-usage-2026-01.csv".into(),
                "--rates".into(),
                "inputs/openai-rates.yaml".into(),
                "--period".into(),
                "2026-01".into(),
            ],
        ),
        (
            "azure-local",
            [
                vec!["azure-local".into()],
                inventory,
                vec![
                    "--rates".into(),
                    "inputs/azure-local-rates.yaml".into(),
                    "--period".into(),
                    "2025-01".into(),
                ],
            ]
            .concat(),
        ),
    ];
    for (name, mut args) in cases {
        let out = format!("{name}.csv");
        args.extend(["--out".into(), out.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        convert(dir.path(), &args).success();
        let run = std::process::Command::new(&tool)
            .arg("validate")
            .arg(dir.path().join(&out))
            .output()
            .expect("run focus-toolkit");
        let report = String::from_utf8_lossy(&run.stdout).to_string();
        let violations: Vec<&str> = report
            .lines()
            .filter(|l| l.trim_start().starts_with('['))
            .collect();
        assert!(
            report.contains("violation") || report.contains("valid"),
            "{name}: {report}"
        );
        // FOCUS 1.3 deprecates ProviderName; it stays for 1.0–1.2 readers.
        let unexpected: Vec<&&str> = violations
            .iter()
            .filter(|l| !l.contains("[STRUCTURAL_VALID:unknown_column] ProviderName:"))
            .collect();
        assert!(unexpected.is_empty(), "{name}: {report}");
    }
}
