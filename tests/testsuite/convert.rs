//! `ocb convert slurm|storage`: costs worked out by hand, located errors with
//! nothing written, and converted files that build with conservation intact.
//! Fixture: tests/fixtures/convert (inputs/ holds the exports and rates).

use crate::common::{csv_rows, ocb, read, repo};
use predicates::prelude::*;
use rust_decimal::Decimal;
use std::path::Path;

/// `ocb --root <dir> convert <args…>`, run from the repository so that
/// messages show the relative paths given on the command line.
fn convert(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    ocb(dir).current_dir(dir).arg("convert").args(args).assert()
}

fn slurm(dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut args = vec![
        "slurm",
        "inputs/jan.sacct",
        "--rates",
        "inputs/hpc-rates.yaml",
        "--period",
        "2025-01",
        "--source",
        "hpc",
    ];
    args.extend_from_slice(extra);
    convert(dir, &args)
}

fn storage(dir: &Path) -> assert_cmd::assert::Assert {
    convert(
        dir,
        &[
            "storage",
            "inputs/snapshots.csv",
            "--rates",
            "inputs/storage-rates.yaml",
            "--period",
            "2025-01",
        ],
    )
}

/// Rows of a converted file as maps from column name to cell.
fn rows(path: impl AsRef<Path>) -> Vec<std::collections::BTreeMap<String, String>> {
    let (header, rows) = csv_rows(path);
    rows.into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Nothing was written: no period folder, no output file, no temporary file left behind.
fn assert_nothing_written(root: &Path) {
    assert!(!root.join("periods/2025-01").exists());
    let leftovers: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".ocb-convert-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}

#[test]
fn slurm_jobs_become_focus_rows_priced_by_hand() {
    let dir = repo("convert");
    slurm(dir.path(), &[])
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/hpc.csv: 12 rows, list $227.44, billed $170.58",
        ))
        .stdout(predicate::str::contains(
            "1 PENDING job skipped (state not in bill_states)",
        ))
        .stdout(predicate::str::contains(
            "2 jobs skipped (no run time in 2025-01)",
        ))
        .stdout(predicate::str::contains("3 job step lines skipped"));
    let file = dir.path().join("periods/2025-01/hpc.csv");
    let (header, _) = csv_rows(&file);
    assert_eq!(
        header.join(","),
        "BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeDescription,ServiceCategory,ServiceName,ProviderName,ResourceId,ResourceName,SubAccountId,ConsumedQuantity,ConsumedUnit,PricingQuantity,PricingUnit,ListCost,ContractedCost,EffectiveCost,BilledCost,Tags,BillingAccountName,ChargeClass,ChargeFrequency,PricingCategory,ServiceProviderName,HostProviderName,InvoiceIssuerName,x_SlurmUser,x_SlurmState,x_Jobs,x_GpuHours"
    );
    let rows = rows(&file);
    let got: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| {
            [
                r["ResourceId"].as_str(),
                r["ConsumedQuantity"].as_str(),
                r["ListCost"].as_str(),
                r["BilledCost"].as_str(),
            ]
        })
        .collect();
    // standard ("*"): 0.01/core-h, 0.001/GB-h, 0.50/GPU-h; gpu: 0.02, 0.001, a100 1.50, h100 2.50.
    // Everything 25% subsidised: billed = list × 0.75, rounded to six places.
    let expected = [
        // 2 nodes, 128 cores, 500G, 12 h: (1.28 + 0.50) × 12 = 21.36
        ["1001", "1536", "21.360000", "16.020000"],
        // 32 cores, 256G, 4 a100, 10.5 h: (0.64 + 0.256 + 6.00) × 10.5 = 72.408
        ["1002", "336", "72.408000", "54.306000"],
        // 16 cores, 128G, 2 h100, 24 h: (0.32 + 0.128 + 5.00) × 24 = 130.752
        ["1003", "384", "130.752000", "98.064000"],
        // running, End Unknown: 18:00 to the period end = 6 h × (0.08 + 0.032) = 0.672
        ["1005", "48", "0.672000", "0.504000"],
        // started in December: 4 h in January × (0.04 + 0.016) = 0.224
        ["1006", "16", "0.224000", "0.168000"],
        // ends in February: 4 h × (0.02 + 8000M = 7.8125 GB × 0.001) = 0.11125; × 0.75 = 0.0834375
        ["1007", "8", "0.111250", "0.083438"],
        // array tasks, 30 min × (0.01 + 0.004) = 0.007 each
        ["1010_1", "0.5", "0.007000", "0.005250"],
        ["1010_2", "0.5", "0.007000", "0.005250"],
        ["1010_3", "0.5", "0.007000", "0.005250"],
        // 90 s × 0.011/h = 0.000275; × 0.75 = 0.00020625
        ["1011", "0.025", "0.000275", "0.000206"],
        // an untyped GPU on standard prices at default: (0.04 + 0.016 + 0.50) × 3 = 1.668
        ["1012", "12", "1.668000", "1.251000"],
        // unmapped account: (0.10 + 0.01) × 2 = 0.22
        ["1020", "20", "0.220000", "0.165000"],
    ];
    assert_eq!(got, expected);

    let job = |id: &str| rows.iter().find(|r| r["ResourceId"] == id).unwrap();
    let r = job("1002");
    assert_eq!(
        [
            &r["BillingAccountId"],
            &r["ResourceName"],
            &r["ServiceName"],
            &r["ServiceCategory"],
            &r["SubAccountId"],
            &r["ConsumedUnit"],
            &r["ProviderName"],
            &r["ChargePeriodStart"],
            &r["ChargePeriodEnd"],
            &r["ContractedCost"],
            &r["EffectiveCost"],
            &r["x_GpuHours"],
        ],
        [
            "hpc",
            "bob@gpu",
            "HPC gpu",
            "Compute",
            "p2acct",
            "Core-Hours",
            "Test University HPC",
            "2025-01-05T00:00:00Z",
            "2025-01-05T10:30:00Z",
            "54.306000",
            "54.306000",
            "42",
        ]
    );
    assert_eq!(
        r["ChargeDescription"],
        "job 1002: 32 cores, 256 GB, 4 a100 GPUs for 10.5 h"
    );
    assert_eq!(
        r["Tags"],
        r#"{"fund_org":"NIH-2","pi_email":"b@x.edu","project_id":"p2","slurm_account":"p2acct"}"#
    );
    assert_eq!(job("1020")["Tags"], r#"{"slurm_account":"guest_lab"}"#);
    assert_eq!(
        (
            job("1005")["ChargePeriodEnd"].as_str(),
            job("1005")["x_SlurmState"].as_str()
        ),
        ("2025-02-01T00:00:00Z", "RUNNING")
    );
    assert_eq!(job("1006")["ChargePeriodStart"], "2025-01-01T00:00:00Z");
}

#[test]
fn slurm_group_day_aggregates_per_account_partition_and_day() {
    let dir = repo("convert");
    slurm(dir.path(), &["--group", "day"])
        .success()
        .stdout(predicate::str::contains(
            "11 rows, list $227.44, billed $170.58",
        ));
    let rows = rows(dir.path().join("periods/2025-01/hpc.csv"));
    let got: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| {
            [
                r["ResourceId"].as_str(),
                r["x_Jobs"].as_str(),
                r["ConsumedQuantity"].as_str(),
                r["ListCost"].as_str(),
                r["BilledCost"].as_str(),
            ]
        })
        .collect();
    assert_eq!(
        got,
        [
            [
                "guest_lab/standard/2025-01-18",
                "1",
                "20",
                "0.220000",
                "0.165000"
            ],
            // job 1003 runs noon to noon: 12 h on each day × 5.448 = 65.376
            [
                "p1acct/gpu/2025-01-20",
                "1",
                "192",
                "65.376000",
                "49.032000"
            ],
            [
                "p1acct/gpu/2025-01-21",
                "1",
                "192",
                "65.376000",
                "49.032000"
            ],
            [
                "p1acct/standard/2025-01-10",
                "1",
                "1536",
                "21.360000",
                "16.020000"
            ],
            // three array tasks: 3 × 0.007, billed 3 × 0.00525 = 0.01575 (unrounded until the sum)
            [
                "p1acct/standard/2025-01-12",
                "3",
                "1.5",
                "0.021000",
                "0.015750"
            ],
            [
                "p1acct/standard/2025-01-22",
                "1",
                "12",
                "1.668000",
                "1.251000"
            ],
            [
                "p1acct/standard/2025-01-31",
                "1",
                "48",
                "0.672000",
                "0.504000"
            ],
            [
                "p2acct/gpu/2025-01-05",
                "1",
                "336",
                "72.408000",
                "54.306000"
            ],
            [
                "p2acct/standard/2025-01-01",
                "1",
                "16",
                "0.224000",
                "0.168000"
            ],
            [
                "p2acct/standard/2025-01-15",
                "1",
                "0.025",
                "0.000275",
                "0.000206"
            ],
            [
                "p2acct/standard/2025-01-31",
                "1",
                "8",
                "0.111250",
                "0.083438"
            ],
        ]
    );
    let day = &rows[4];
    assert_eq!(
        [
            &day["ResourceName"],
            &day["ChargePeriodStart"],
            &day["ChargePeriodEnd"],
            &day["x_SlurmUser"]
        ],
        [
            "p1acct@standard",
            "2025-01-12T00:00:00Z",
            "2025-01-13T00:00:00Z",
            "alice"
        ]
    );
    assert_eq!(day["ChargeDescription"], "3 jobs on standard by alice");
}

#[test]
fn slurm_bad_input_is_located_and_nothing_is_written() {
    let dir = repo("convert");
    let out = convert(
        dir.path(),
        &[
            "slurm",
            "inputs/bad.sacct",
            "--rates",
            "inputs/bad-rates.yaml",
            "--period",
            "2025-01",
        ],
    )
    .code(1)
    .get_output()
    .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "inputs/bad.sacct:3: expected 9 `|`-separated fields as in the header, found 8",
            "inputs/bad.sacct:4: column `AllocTRES`: unknown TRES `gpu=1`: expected entries such as cpu=16, mem=64G, gres/gpu:a100=2",
            "inputs/bad.sacct:5: column `Partition`: no rate for partition `bigmem`: add an entry with `partition: bigmem` or `partition: \"*\"`",
            "inputs/bad.sacct:6: column `Start`: no rate for partition `gpu` on 2025-01-10: its rates start on 2025-01-15",
            "inputs/bad.sacct:7: column `AllocTRES`: no gpu_hour price for GPU type `v100`: add `v100:` or `default:` to the rate for partition `gpu` from 2025-01-15",
            "inputs/bad.sacct:8: column `Start`: `01/20-00:00:00` is not a date-time: expected 2025-01-03T14:05:00 (sacct's default format; set SLURM_TIME_FORMAT=standard)",
        ]
    );
    assert!(
        lines[6].starts_with("ocb: 6 problems in the inputs; `")
            && lines[6].ends_with("hpc.csv` was not written")
    );
    assert_nothing_written(dir.path());
}

#[test]
fn slurm_rates_file_errors_point_at_their_line() {
    let dir = repo("convert");
    let rates = dir.path().join("inputs/hpc-rates.yaml");
    std::fs::write(
        &rates,
        read(&rates).replace(
            "subsidy_percent: 25\n  - partition: gpu",
            "subsidy_percent: 250\n  - partition: gpu",
        ),
    )
    .unwrap();
    slurm(dir.path(), &[])
        .code(1)
        .stderr(predicate::str::starts_with(
            "inputs/hpc-rates.yaml:10:22: rates[0].subsidy_percent: 250 is outside 0..100",
        ));
    assert_nothing_written(dir.path());
}

#[test]
fn storage_prorates_snapshots_and_applies_the_free_allowance() {
    let dir = repo("convert");
    storage(dir.path())
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/storage.csv: 4 rows, list $18.50, billed $9.25",
        ));
    let rows = rows(dir.path().join("periods/2025-01/storage.csv"));
    let got: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| {
            [
                r["ResourceId"].as_str(),
                r["ServiceName"].as_str(),
                r["ConsumedQuantity"].as_str(),
                r["PricingQuantity"].as_str(),
                r["ListCost"].as_str(),
                r["BilledCost"].as_str(),
            ]
        })
        .collect();
    // January has 31 days; 100 GB free per project, shared in proportion to use; 50% subsidy.
    assert_eq!(
        got,
        [
            // a project unknown to projects.yaml still gets its allowance: (500 − 100) × 0.005 = 2.00
            [
                "/proj/old/stuff",
                "Research Storage (archive)",
                "500",
                "400",
                "2.000000",
                "1.000000"
            ],
            // p1 uses 460 + 1540 = 2000 GB: archive's free share is 100 × 1540/2000 = 77
            [
                "/proj/p1/archive",
                "Research Storage (archive)",
                "1540",
                "1463",
                "7.315000",
                "3.657500"
            ],
            // 300 GB carried in from 31 Dec for 15 days, 610 GB from the 16th for 16 days:
            // (15 × 300 + 16 × 610) / 31 = 460; free share 23; 437 × 0.02 = 8.74
            [
                "/proj/p1/data",
                "Research Storage (standard)",
                "460",
                "437",
                "8.740000",
                "4.370000"
            ],
            // created on the 10th: 15 days × 100 + 7 days × 326 = 3782 / 31 = 122; (122 − 100) × 0.02
            [
                "/proj/p2/results",
                "Research Storage (standard)",
                "122",
                "22",
                "0.440000",
                "0.220000"
            ],
        ]
    );
    let data = &rows[2];
    assert_eq!(
        [
            &data["ConsumedUnit"],
            &data["ServiceCategory"],
            &data["SubAccountId"],
            &data["ChargePeriodStart"],
            &data["ChargePeriodEnd"],
            &data["x_StorageTier"],
            &data["x_FreeGBMonth"],
        ],
        [
            "GB-Month",
            "Storage",
            "p1",
            "2025-01-01T00:00:00Z",
            "2025-02-01T00:00:00Z",
            "standard",
            "23"
        ]
    );
    assert_eq!(
        data["Tags"],
        r#"{"fund_org":"NSF-1","pi_email":"a@x.edu","project_id":"p1","storage_path":"/proj/p1/data"}"#
    );
    assert_eq!(
        rows[0]["Tags"],
        r#"{"project_id":"old-proj","storage_path":"/proj/old/stuff"}"#
    );
}

#[test]
fn storage_bad_input_is_located_and_nothing_is_written() {
    let dir = repo("convert");
    let out = convert(
        dir.path(),
        &[
            "storage",
            "inputs/bad-snapshots.csv",
            "--rates",
            "inputs/storage-rates.yaml",
            "--period",
            "2025-01",
        ],
    )
    .code(1)
    .get_output()
    .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "inputs/bad-snapshots.csv:3: column `date`: second snapshot of `/proj/p1/data` at 2025-01-01 00:00:00: line 2 already gives one",
            "inputs/bad-snapshots.csv:4: column `project_id`: `p2` here but `p1` on line 3: one path belongs to one project within a period",
            "inputs/bad-snapshots.csv:5: column `bytes`: `1e9` is not a whole number of bytes",
            "inputs/bad-snapshots.csv:6: column `tier`: unknown tier `glacier`: the rates file prices archive, standard",
            "inputs/bad-snapshots.csv:7: column `date`: `2025-13-01` is not a date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
        ]
    );
    assert!(lines[5].starts_with("ocb: 5 problems in the inputs;"));
    assert_nothing_written(dir.path());
}

#[test]
fn converted_files_pass_check_and_build_with_conservation() {
    let dir = repo("convert");
    slurm(dir.path(), &[]).success();
    storage(dir.path()).success();
    ocb(dir.path())
        .args(["check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ok:"));
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    let summary: serde_json::Value =
        serde_json::from_str(&read(dir.path().join("output/summary.json"))).unwrap();
    let jan = &summary["periods"][0]["currencies"][0];
    let amount = |key: &str| dec(jan[key].as_str().unwrap_or_else(|| panic!("{key}: {jan}")));
    // HPC billed 170.577394 + storage billed 9.2475.
    assert_eq!(amount("input_billed"), dec("179.824894"));
    // Held: the guest_lab job (0.165) and the path of a project nobody knows (1.00).
    assert_eq!(amount("held"), dec("1.165"));
    assert_eq!(amount("rejected"), Decimal::ZERO);
    assert_eq!(
        amount("billed") + amount("held") + amount("rejected"),
        amount("input_billed")
    );
}

#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let dir = repo("convert");
    let dest = dir.path().join("periods/2025-01/hpc.csv");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, "old").unwrap();
    slurm(dir.path(), &[])
        .code(2)
        .stderr(predicate::str::contains(
            "hpc.csv` already exists: use --force to replace it",
        ));
    assert_eq!(read(&dest), "old");
    slurm(dir.path(), &["--force"]).success();
    assert_eq!(rows(&dest).len(), 12);
    std::fs::write(dest.with_file_name("period.yaml"), "status: closed\n").unwrap();
    slurm(dir.path(), &["--force"])
        .code(2)
        .stderr(predicate::str::contains("period 2025-01 is closed"));
}

#[test]
fn out_writes_elsewhere() {
    let dir = repo("convert");
    storage(dir.path()).success();
    convert(
        dir.path(),
        &[
            "storage",
            "inputs/snapshots.csv",
            "--rates",
            "inputs/storage-rates.yaml",
            "--period",
            "2025-01",
            "--out",
            "elsewhere/jan.csv",
        ],
    )
    .success()
    .stdout(predicate::str::contains("elsewhere/jan.csv: 4 rows"));
    assert_eq!(
        read(dir.path().join("elsewhere/jan.csv")),
        read(dir.path().join("periods/2025-01/storage.csv"))
    );
}
