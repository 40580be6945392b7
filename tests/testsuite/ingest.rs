//! Provider deliveries: .csv.gz and Parquet in period folders, `ocb import` of
//! AWS Data Exports and Azure export folders, re-deliveries, and every kind of
//! bad delivery (located message, exit 1, nothing written). Deliveries are
//! built here, in the providers' shapes; totals are checked to the cent
//! against the rows written.

use crate::common::{csv_rows, ocb, read};
use polars::prelude::*;
use predicates::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

const HEADER: &str = "BillingPeriodStart,ChargePeriodStart,BillingCurrency,ServiceName,ProviderName,ResourceId,ListCost,BilledCost,Tags,x_Operation";

/// `n` FOCUS rows of a month as CSV lines, and their Σ BilledCost.
fn rows(month: &str, n: usize, seed: usize) -> (Vec<String>, Decimal) {
    let mut lines = Vec::new();
    let mut total = Decimal::ZERO;
    for i in 0..n {
        let k = seed * 1000 + i;
        let billed = Decimal::new(((k * 7919) % 100_000) as i64, 4);
        total += billed;
        let pi = ["a@x.edu", "b@x.edu"][k % 2];
        lines.push(format!(
            "{month}-01T00:00:00Z,{month}-{:02}T00:00:00Z,USD,EC2,AWS,i-{k},{},{billed},\"{{\"\"user:pi_email\"\":\"\"{pi}\"\",\"\"user:project_id\"\":\"\"p{}\"\",\"\"user:fund_org\"\":\"\"NSF-1\"\"}}\",RunInstances",
            1 + k % 28,
            billed + Decimal::ONE,
            k % 3
        ));
    }
    (lines, total)
}

fn csv_text(lines: &[String]) -> String {
    format!("{HEADER}\n{}\n", lines.join("\n"))
}

fn gz(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ocb.yaml"),
        "sources:\n  aws: {name: AWS}\n  azure: {name: Azure}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("periods")).unwrap();
    dir
}

/// Every file under a folder with its bytes (but the writers' lock file,
/// `.ocb.lock`, which any writer creates: see docs/RELIABILITY.md).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file() && e.file_name() != ".ocb.lock")
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// An AWS Data Exports folder for one month: gzip parts under
/// `data/BILLING_PERIOD=…/` and the manifest listing `listed` of them.
fn aws_export(
    root: &Path,
    month: &str,
    execution: &str,
    parts: &[(&str, String)],
    listed: &[&str],
) {
    let data = root.join(format!("data/BILLING_PERIOD={month}"));
    for (name, text) in parts {
        gz(&data.join(name), text);
    }
    let files: Vec<String> = listed
        .iter()
        .map(|n| format!("s3://rc-billing/exports/focus-export/data/BILLING_PERIOD={month}/{n}"))
        .collect();
    let manifest = serde_json::json!({
        "executionId": execution,
        "exportArn": "arn:aws:bcm-data-exports:us-east-1:111122223333:export/focus-export-4c9d",
        "exportName": "focus-export",
        "billingPeriod": {"start": format!("{month}-01T00:00:00.000Z"), "end": "2025-02-01T00:00:00.000Z"},
        "columns": [{"name": "BilledCost", "type": "decimal"}],
        "dataFiles": files,
    });
    let meta = root.join(format!("metadata/BILLING_PERIOD={month}"));
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("focus-export-Manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

fn import(root: &Path, path: &Path, source: &str) -> assert_cmd::assert::Assert {
    ocb(root)
        .arg("import")
        .arg(path)
        .args(["--source", source])
        .assert()
}

fn summary_billed(root: &Path, period: usize) -> (String, String) {
    let s: serde_json::Value =
        serde_json::from_str(&read(root.join("output/summary.json"))).unwrap();
    let c = &s["periods"][period]["currencies"][0];
    (
        c["input_billed"].as_str().unwrap().to_string(),
        c["input_rows"].to_string(),
    )
}

#[test]
fn aws_export_imports_the_manifest_parts_and_skips_stale_ones() {
    let dir = repo();
    let export = dir.path().join("drop/focus-export");
    let (a, ta) = rows("2025-01", 40, 1);
    let (b, tb) = rows("2025-01", 25, 2);
    let (stale, _) = rows("2025-01", 10, 3);
    aws_export(
        &export,
        "2025-01",
        "exec-1",
        &[
            ("focus-export-00001.csv.gz", csv_text(&a)),
            ("focus-export-00002.csv.gz", csv_text(&b)),
            ("focus-export-00009.csv.gz", csv_text(&stale)),
        ],
        &["focus-export-00001.csv.gz", "focus-export-00002.csv.gz"],
    );
    import(dir.path(), &export, "aws")
        .success()
        .stdout(predicate::str::contains(format!(
            "periods/2025-01/aws.csv.gz: new: 65 rows, billed USD {}",
            (ta + tb).normalize()
        )))
        .stderr(predicate::str::contains(
            "focus-export-00009.csv.gz: skipped, a stale part",
        ));
    let imports = read(dir.path().join("periods/2025-01/imports.yaml"));
    assert!(imports.contains("provider: aws-data-exports"), "{imports}");
    assert!(imports.contains("run: exec-1") && imports.contains("export: focus-export"));
    assert!(imports.contains("path: data/BILLING_PERIOD=2025-01/focus-export-00002.csv.gz"));
    assert!(!imports.contains("00009"));
    let page = |root: &Path| read(root.join("output/2025-01/index.html"));
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    // Conservation to the cent against the rows written: Σ input = listed parts only.
    assert_eq!(
        summary_billed(dir.path(), 0),
        ((ta + tb).normalize().to_string(), "65".to_string())
    );
    // Tags behind AWS's `user:` prefix attribute; x_ columns reach charges.csv.
    let (header, rows) = csv_rows(dir.path().join("output/2025-01/charges.csv"));
    let pi = header.iter().position(|h| h == "pi_email").unwrap();
    let op = header.iter().position(|h| h == "x_Operation").unwrap();
    assert!(
        rows.iter()
            .all(|r| r[pi].ends_with("@x.edu") && r[op] == "RunInstances")
    );
    // The period page says where its data came from.
    let html = page(dir.path());
    assert!(
        html.contains("Where the data came from") && html.contains("exec-1"),
        "{html}"
    );
}

#[test]
fn a_redelivery_replaces_the_month_and_the_same_delivery_changes_nothing() {
    let dir = repo();
    let export = dir.path().join("drop/focus-export");
    let (a, ta) = rows("2025-01", 30, 1);
    aws_export(
        &export,
        "2025-01",
        "exec-1",
        &[("focus-export-00001.csv.gz", csv_text(&a))],
        &["focus-export-00001.csv.gz"],
    );
    import(dir.path(), &export, "aws").success();
    let first = tree(&dir.path().join("periods"));
    import(dir.path(), &export, "aws")
        .success()
        .stdout(predicate::str::contains(
            "unchanged (the same delivery): 30 rows",
        ));
    assert_eq!(tree(&dir.path().join("periods")), first, "byte-identical");

    // The next day AWS rewrites the month: new parts, a new manifest, the old part stale.
    let (b, tb) = rows("2025-01", 45, 2);
    let (c, tc) = rows("2025-01", 5, 3);
    aws_export(
        &export,
        "2025-01",
        "exec-2",
        &[
            ("focus-export-00002.csv.gz", csv_text(&b)),
            ("focus-export-00003.csv.gz", csv_text(&c)),
        ],
        &["focus-export-00002.csv.gz", "focus-export-00003.csv.gz"],
    );
    import(dir.path(), &export, "aws")
        .success()
        .stdout(predicate::str::contains(format!(
            "periods/2025-01/aws.csv.gz: replaced: 30 → 50 rows, billed USD {} → USD {}",
            ta.normalize(),
            (tb + tc).normalize()
        )));
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    assert_eq!(
        summary_billed(dir.path(), 0),
        ((tb + tc).normalize().to_string(), "50".to_string()),
        "replaced, never appended"
    );
    assert!(read(dir.path().join("periods/2025-01/imports.yaml")).contains("run: exec-2"));
}

/// A Parquet part as Azure writes FOCUS: DOUBLE money, TIMESTAMP periods, a
/// DECIMAL column, Tags as a map, and a nested x_ column.
fn azure_parquet(path: &Path, billed: &[f64], month_start_us: i64) {
    azure_parquet_rows(path, billed, &vec![month_start_us; billed.len()]);
}

/// An Azure-shaped Parquet file, a row per amount, each in its month
/// (BillingPeriodStart in microseconds).
fn azure_parquet_rows(path: &Path, billed: &[f64], month_start_us: &[i64]) {
    let n = billed.len();
    let tags: Vec<AnyValue> = (0..n)
        .map(|i| {
            let keys = Series::new("key".into(), &["pi_email", "project_id", "fund_org"]);
            let vals = Series::new(
                "value".into(),
                &[["a@x.edu", "b@x.edu"][i % 2], "p1", "NIH-2"],
            );
            let s = StructChunked::from_series("".into(), 3, [keys, vals].iter())
                .unwrap()
                .into_series();
            AnyValue::List(s)
        })
        .collect();
    let start = Series::new("BillingPeriodStart".into(), month_start_us)
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .unwrap();
    let quantity = Series::new("ConsumedQuantity".into(), vec![1234i64; n])
        .cast(&DataType::Decimal(18, 3))
        .unwrap();
    let nested = StructChunked::from_series(
        "x_SkuDetails".into(),
        n,
        [Series::new("meter".into(), vec!["Standard_D2"; n])].iter(),
    )
    .unwrap()
    .into_series();
    let mut df = DataFrame::new_infer_height(vec![
        start.into(),
        Series::new("BillingCurrency".into(), vec!["USD"; n]).into(),
        Series::new("ServiceName".into(), vec!["Virtual Machines"; n]).into(),
        Series::new("ServiceProviderName".into(), vec!["Microsoft"; n]).into(),
        Series::new("BilledCost".into(), billed).into(),
        quantity.into(),
        Series::new("Tags".into(), &tags).into(),
        nested.into(),
    ])
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

fn azure_run(range: &Path, run: &str, submitted: Option<&str>, parts: &[(&str, Vec<f64>)]) {
    let dir = range.join(run);
    for (name, billed) in parts {
        azure_parquet(&dir.join(name), billed, 1_735_689_600_000_000);
    }
    let blobs: Vec<serde_json::Value> = parts
        .iter()
        .map(|(name, b)| {
            serde_json::json!({
                "blobName": format!("exports/focus-daily/{}/{run}/{name}", range.file_name().unwrap().to_string_lossy()),
                "byteCount": 1000, "dataRowCount": b.len()
            })
        })
        .collect();
    let mut run_info = serde_json::json!({
        "executionType": "Scheduled", "runId": run,
        "startDate": "2025-01-01T00:00:00", "endDate": "2025-01-31T00:00:00"
    });
    if let Some(s) = submitted {
        run_info["submittedTime"] = serde_json::json!(s);
    }
    let manifest = serde_json::json!({
        "manifestVersion": "2024-04-01", "byteCount": 1000, "blobCount": parts.len(), "dataRowCount": 3,
        "exportConfig": {"exportName": "focus-daily", "resourceId": "/subscriptions/x/providers/Microsoft.CostManagement/exports/focus-daily",
                         "dataVersion": "1.0r2", "apiVersion": "2023-07-01-preview", "type": "FocusCost", "timeFrame": "MonthToDate", "granularity": "Daily"},
        "deliveryConfig": {"partitionData": true, "dataOverwriteBehavior": "CreateNewReport", "fileFormat": "Parquet", "compressionMode": "snappy",
                           "containerUri": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/billing", "rootFolderPath": "exports"},
        "runInfo": run_info,
        "blobs": blobs,
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

#[test]
fn azure_export_newest_run_wins_and_parquet_values_keep_their_meaning() {
    let dir = repo();
    let export = dir.path().join("drop/focus-daily");
    let range = export.join("20250101-20250131");
    azure_run(
        &range,
        "run-old",
        Some("2025-01-20T06:12:44.1234567Z"),
        &[("part_0_0001.parquet", vec![9.0, 9.0])],
    );
    azure_run(
        &range,
        "run-new",
        Some("2025-01-31T06:00:01.5Z"),
        &[
            ("part_0_0001.parquet", vec![0.1, 0.2]),
            ("part_1_0001.parquet", vec![0.3, 1e-7, 12.345]),
        ],
    );
    // Parquet parts of one month and one schema are kept as Parquet: joined, not decoded.
    import(dir.path(), &export, "azure")
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/azure.parquet: new: 5 rows, billed USD 12.9450001",
        ))
        .stderr(predicate::str::contains(
            "run-old: skipped, an older run than run-new",
        ));
    let imports = read(dir.path().join("periods/2025-01/imports.yaml"));
    assert!(imports.contains("run: run-new"), "{imports}");
    assert!(imports.contains("file: azure.parquet"), "{imports}");
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    assert_eq!(summary_billed(dir.path(), 0).0, "12.9450001");
    let (header, rows) = csv_rows(dir.path().join("output/2025-01/charges.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // A double is its shortest round-trip decimal; a map's keys are tags; a struct is JSON.
    let billed: Vec<&str> = rows
        .iter()
        .map(|r| r[col("billed_cost")].as_str())
        .collect();
    assert_eq!(billed, ["0.1", "0.2", "0.3", "0.0000001", "12.345"]);
    assert_eq!(rows[1][col("pi_email")], "b@x.edu");
    assert_eq!(rows[0][col("x_SkuDetails")], r#"{"meter":"Standard_D2"}"#);
    assert_eq!(rows[0][col("file")], "periods/2025-01/azure.parquet");
}

#[test]
fn a_parquet_part_spanning_two_months_is_split_into_gzip_csv_with_values_as_text() {
    let dir = repo();
    let (jan, feb) = (1_735_689_600_000_000, 1_738_368_000_000_000);
    let file = dir.path().join("drop/cloud.parquet");
    azure_parquet_rows(
        &file,
        &[0.1, 0.2, 0.3, 1e-7, 12.345],
        &[jan, jan, feb, jan, feb],
    );
    import(dir.path(), &file, "cloud")
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/cloud.csv.gz: new: 3 rows, billed USD 0.3000001",
        ))
        .stdout(predicate::str::contains(
            "periods/2025-02/cloud.csv.gz: new: 2 rows, billed USD 12.645",
        ));
    let text = {
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(
                std::fs::File::open(dir.path().join("periods/2025-01/cloud.csv.gz")).unwrap(),
            ),
            &mut s,
        )
        .unwrap();
        s
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "BillingPeriodStart,BillingCurrency,ServiceName,ServiceProviderName,BilledCost,ConsumedQuantity,Tags,x_SkuDetails"
    );
    // A double is its shortest round-trip decimal; a DECIMAL(18,3) its digits; a map a JSON object.
    assert_eq!(
        lines[1],
        r#"2025-01-01T00:00:00Z,USD,Virtual Machines,Microsoft,0.1,1234.000,"{""fund_org"":""NIH-2"",""pi_email"":""a@x.edu"",""project_id"":""p1""}","{""meter"":""Standard_D2""}""#
    );
    assert!(lines[3].contains(",0.0000001,"), "{}", lines[3]);
}

/// The charges of a build, row by row, without the `file` and `line` columns
/// (a CSV's line 2 is a Parquet file's row 1).
fn charges_but_file(root: &Path) -> Vec<Vec<String>> {
    let (header, rows) = csv_rows(root.join("output/2025-01/charges.csv"));
    let file = header.iter().position(|h| h == "file").unwrap();
    let line = header.iter().position(|h| h == "line").unwrap();
    assert_eq!(line, file + 1);
    std::iter::once(header)
        .chain(rows)
        .map(|mut r| {
            r.drain(file..=line);
            r
        })
        .collect()
}

#[test]
fn parquet_parts_kept_as_parquet_give_the_charges_a_row_by_row_import_gives() {
    let jan = 1_735_689_600_000_000;
    let drop = tempfile::tempdir().unwrap();
    let parts = drop.path().join("parts");
    // b.parquet repeats a.parquet's first row: the two are one charge twice, with two ids.
    azure_parquet(&parts.join("a.parquet"), &[0.1, 0.2, 0.3], jan);
    azure_parquet(&parts.join("b.parquet"), &[0.1, 1e-7, 12.345], jan);
    let kept = repo();
    import(kept.path(), &parts, "cloud")
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/cloud.parquet: new: 6 rows, billed USD 13.0450001",
        ));
    // The same parts and an empty CSV: a delivery read row by row, into gzip CSV.
    let mixed = drop.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    for p in ["a.parquet", "b.parquet"] {
        std::fs::copy(parts.join(p), mixed.join(p)).unwrap();
    }
    std::fs::write(mixed.join("z.csv"), "BillingPeriodStart,BilledCost\n").unwrap();
    let by_rows = repo();
    import(by_rows.path(), &mixed, "cloud")
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/cloud.csv.gz: new: 6 rows, billed USD 13.0450001",
        ));
    for root in [kept.path(), by_rows.path()] {
        ocb(root).args(["build", "--no-pdf"]).assert().success();
        assert_eq!(summary_billed(root, 0).0, "13.0450001");
    }
    let charges = charges_but_file(kept.path());
    assert_eq!(charges, charges_but_file(by_rows.path()));
    let id = charges[0].iter().position(|h| h == "id").unwrap();
    assert_ne!(
        charges[1][id], charges[4][id],
        "a repeated row is a second charge"
    );

    // The same delivery again changes nothing; a newer one replaces the month,
    // its totals before read from the Parquet file.
    let before = tree(&kept.path().join("periods"));
    ocb(kept.path())
        .arg("import")
        .arg(&parts)
        .args(["--source", "cloud", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains("unchanged"));
    assert_eq!(tree(&kept.path().join("periods")), before);
    std::fs::remove_file(parts.join("b.parquet")).unwrap();
    ocb(kept.path())
        .arg("import")
        .arg(&parts)
        .args(["--source", "cloud", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "periods/2025-01/cloud.parquet: replaced: 6 → 3 rows, billed USD 13.0450001 → USD 0.6",
        ));
}

#[test]
fn period_folders_read_gz_and_parquet_and_refuse_files_they_do_not_own() {
    let dir = repo();
    let p = dir.path().join("periods/2025-01");
    let (a, ta) = rows("2025-01", 12, 1);
    gz(&p.join("aws.csv.gz"), &csv_text(&a));
    azure_parquet(
        &p.join("azure.parquet"),
        &[1.5, 2.25],
        1_735_689_600_000_000,
    );
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    assert_eq!(
        summary_billed(dir.path(), 0),
        (
            (ta + Decimal::from_str("3.75").unwrap())
                .normalize()
                .to_string(),
            "14".to_string()
        )
    );
    let before = tree(&dir.path().join("output"));
    std::fs::write(p.join("aws-2025-01-02.csv.zip"), "PK").unwrap();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "periods/2025-01/aws-2025-01-02.csv.zip: not a file ocb reads",
        ));
    std::fs::remove_file(p.join("aws-2025-01-02.csv.zip")).unwrap();
    std::fs::write(p.join("aws.csv"), csv_text(&a)).unwrap();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "source `aws` has a second file here",
        ));
    assert_eq!(tree(&dir.path().join("output")), before, "output untouched");
}

/// Runs `ocb import` on a bad delivery: exit 1, the message, nothing written.
fn refused(dir: &Path, path: &Path, source: &str, message: &str) {
    let before = tree(dir);
    import(dir, path, source)
        .code(1)
        .stderr(predicate::str::contains(message))
        .stderr(predicate::str::contains("nothing was imported"));
    assert_eq!(tree(dir), before, "nothing written");
}

#[test]
fn a_truncated_or_corrupt_gzip_names_the_file_and_the_row() {
    let dir = repo();
    let (a, _) = rows("2025-01", 3000, 1);
    let whole = dir.path().join("drop/full.csv.gz");
    gz(&whole, &csv_text(&a));
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("drop/cut.csv.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let before = tree(dir.path());
    let out = import(dir.path(), &cut, "aws").code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let re = regex::Regex::new(r"drop/cut\.csv\.gz:(\d+): the file breaks off here").unwrap();
    let line: u64 = re.captures(&err).expect(&err)[1].parse().unwrap();
    assert!(line > 100 && line < 3001, "{err}");
    assert_eq!(tree(dir.path()), before);
    let mut corrupt = bytes.clone();
    corrupt[40] ^= 0xff;
    corrupt[41] ^= 0xff;
    std::fs::write(&cut, &corrupt).unwrap();
    refused(dir.path(), &cut, "aws", "drop/cut.csv.gz:");
    // In a period folder the build says the same and keeps the previous output.
    std::fs::create_dir_all(dir.path().join("periods/2025-01")).unwrap();
    std::fs::write(
        dir.path().join("periods/2025-01/aws.csv.gz"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("periods/2025-01/aws.csv.gz:"))
        .stderr(predicate::str::contains("the file breaks off here"));
    assert!(!dir.path().join("output").exists());
}

#[test]
fn a_truncated_parquet_file_is_refused() {
    let dir = repo();
    let f = dir.path().join("drop/cloud.parquet");
    azure_parquet(&f, &[1.0, 2.0], 1_735_689_600_000_000);
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 20]).unwrap();
    refused(
        dir.path(),
        &f,
        "cloud",
        "drop/cloud.parquet: unreadable Parquet file",
    );
}

#[test]
fn a_parquet_billed_cost_holding_text_is_located() {
    let dir = repo();
    let mut df = DataFrame::new_infer_height(vec![
        Series::new(
            "BillingPeriodStart".into(),
            &["2025-01-01", "2025-01-01", "2025-01-01"],
        )
        .into(),
        Series::new("BilledCost".into(), &["1.50", "n/a", "2"]).into(),
    ])
    .unwrap();
    let f = dir.path().join("drop/cloud.parquet");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    ParquetWriter::new(std::fs::File::create(&f).unwrap())
        .finish(&mut df)
        .unwrap();
    refused(
        dir.path(),
        &f,
        "cloud",
        "drop/cloud.parquet:2: column `BilledCost`:",
    );
}

/// Parts that would be kept as Parquet are still checked row by row where
/// anything is wrong, so the problem is located as in any other file.
#[test]
fn a_bad_row_in_parquet_parts_of_one_month_is_located() {
    let dir = repo();
    let jan = 1_735_689_600_000_000;
    let parts = dir.path().join("drop/parts");
    azure_parquet(&parts.join("a.parquet"), &[0.1, 0.2], jan);
    azure_parquet(&parts.join("b.parquet"), &[1.0, f64::NAN, 2.0], jan);
    refused(
        dir.path(),
        &parts,
        "cloud",
        "b.parquet:2: column `BilledCost`: `NaN` is not a number",
    );
    // A cost of 10^15 or more is over the period's limit, named at its row.
    std::fs::remove_file(parts.join("b.parquet")).unwrap();
    azure_parquet(&parts.join("b.parquet"), &[1.0, 2.0, 1e15], jan);
    refused(
        dir.path(),
        &parts,
        "cloud",
        "b.parquet:3: column `BilledCost`: the period's BilledCost values add up to",
    );
}

#[test]
fn bad_manifests_are_refused() {
    let dir = repo();
    let export = dir.path().join("drop/focus-export");
    let (a, _) = rows("2025-01", 3, 1);
    aws_export(
        &export,
        "2025-01",
        "exec-1",
        &[("focus-export-00001.csv.gz", csv_text(&a))],
        &["focus-export-00001.csv.gz", "focus-export-00002.csv.gz"],
    );
    refused(
        dir.path(),
        &export,
        "aws",
        "lists part `s3://rc-billing/exports/focus-export/data/BILLING_PERIOD=2025-01/focus-export-00002.csv.gz`, which is missing",
    );
    let manifest = export.join("metadata/BILLING_PERIOD=2025-01/focus-export-Manifest.json");
    std::fs::write(&manifest, "{\"dataFiles\": [\n  \"s3://x\",\n").unwrap();
    refused(
        dir.path(),
        &export,
        "aws",
        "focus-export-Manifest.json:3: manifest is not valid JSON",
    );
}

#[test]
fn two_runs_of_a_month_that_cannot_be_ordered_are_refused() {
    let dir = repo();
    let export = dir.path().join("drop/focus-daily");
    let range = export.join("20250101-20250131");
    azure_run(
        &range,
        "run-a",
        Some("2025-01-20T06:00:00Z"),
        &[("part_0_0001.parquet", vec![1.0])],
    );
    azure_run(&range, "run-b", None, &[("part_0_0001.parquet", vec![2.0])]);
    refused(
        dir.path(),
        &export,
        "azure",
        "2 runs (run-a, run-b) with no way to tell which is newer",
    );
}

#[test]
fn a_folder_holding_two_sources_is_refused() {
    let dir = repo();
    let drop = dir.path().join("drop");
    let (a, _) = rows("2025-01", 3, 1);
    aws_export(
        &drop.join("focus-export"),
        "2025-01",
        "exec-1",
        &[("focus-export-00001.csv.gz", csv_text(&a))],
        &["focus-export-00001.csv.gz"],
    );
    azure_run(
        &drop.join("focus-daily/20250101-20250131"),
        "run-a",
        Some("2025-01-20T06:00:00Z"),
        &[("part_0_0001.parquet", vec![1.0])],
    );
    refused(dir.path(), &drop, "cloud", "holds 2 exports");
    // A plain folder whose files come from two providers.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::write(mixed.join("a.csv"), csv_text(&a)).unwrap();
    azure_parquet(&mixed.join("b.parquet"), &[1.0], 1_735_689_600_000_000);
    refused(
        dir.path(),
        &mixed,
        "cloud",
        "ProviderName is `Microsoft` here but `AWS` in",
    );
}

#[test]
fn an_empty_folder_is_refused() {
    let dir = repo();
    let empty = dir.path().join("drop/oci-2025-01");
    std::fs::create_dir_all(&empty).unwrap();
    refused(
        dir.path(),
        &empty,
        "oci",
        "empty delivery: no .csv, .csv.gz or .parquet file",
    );
}

#[test]
fn a_plain_folder_of_daily_gz_files_imports_all_of_them() {
    let dir = repo();
    let drop = dir.path().join("drop/oci-2025-01");
    let mut total = Decimal::ZERO;
    for day in 1..=5 {
        let (r, t) = rows("2025-01", 20, day);
        total += t;
        gz(
            &drop.join(format!("reports_cost-csv_0001{day:02}.csv.gz")),
            &csv_text(&r),
        );
    }
    import(dir.path(), &drop, "oci")
        .success()
        .stdout(predicate::str::contains(format!(
            "periods/2025-01/oci.csv.gz: new: 100 rows, billed USD {}",
            total.normalize()
        )));
    // Not an export: importing it again needs --force, and then changes nothing.
    import(dir.path(), &drop, "oci")
        .code(2)
        .stderr(predicate::str::contains("already exist"));
    let before = tree(&dir.path().join("periods"));
    ocb(dir.path())
        .arg("import")
        .arg(&drop)
        .args(["--source", "oci", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains("unchanged"));
    assert_eq!(tree(&dir.path().join("periods")), before);
}

#[test]
fn a_closed_period_is_imported_with_a_note_and_its_statements_stay_issued() {
    let dir = repo();
    let (a, _) = rows("2025-01", 3, 1);
    let f = dir.path().join("drop/aws.csv");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, csv_text(&a)).unwrap();
    import(dir.path(), &f, "aws").success();
    ocb(dir.path())
        .args(["close", "2025-01"])
        .assert()
        .success();
    let period_yaml = std::fs::read(dir.path().join("periods/2025-01/period.yaml")).unwrap();
    let (b, _) = rows("2025-01", 4, 2);
    std::fs::write(&f, csv_text(&b)).unwrap();
    let before = tree(dir.path());
    // `--force`: a plain file replaces a plain file imported before.
    ocb(dir.path())
        .arg("import")
        .arg(&f)
        .args(["--source", "aws", "--force"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: 2025-01 is closed: its differences will be posted as corrections in the first open period",
        ));
    // The re-delivery is imported; the closed month's record is untouched.
    assert_ne!(tree(dir.path()), before);
    assert_eq!(
        std::fs::read(dir.path().join("periods/2025-01/period.yaml")).unwrap(),
        period_yaml
    );
}

#[test]
fn the_effective_basis_charges_effective_cost_and_says_so() {
    let dir = repo();
    let p = dir.path().join("periods/2025-01");
    std::fs::create_dir_all(&p).unwrap();
    // A savings plan: the purchase is billed up front, its use amortised.
    std::fs::write(
        p.join("aws.csv"),
        "BillingPeriodStart,ChargeCategory,BilledCost,EffectiveCost,InvoiceId,HostProviderName,Tags\n\
         2025-01-01,Purchase,100.00,0,INV-7,AWS,\"{\"\"pi_email\"\":\"\"a@x.edu\"\",\"\"project_id\"\":\"\"p1\"\",\"\"fund_org\"\":\"\"NSF-1\"\"}\"\n\
         2025-01-01,Usage,0,61.25,INV-7,AWS,\"{\"\"pi_email\"\":\"\"a@x.edu\"\",\"\"project_id\"\":\"\"p1\"\",\"\"fund_org\"\":\"\"NSF-1\"\"}\"\n\
         2025-01-01,Usage,3.50,3.10,INV-7,,\"{\"\"pi_email\"\":\"\"b@x.edu\"\",\"\"project_id\"\":\"\"p2\"\",\"\"fund_org\"\":\"\"NSF-1\"\"}\"\n",
    )
    .unwrap();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    assert_eq!(summary_billed(dir.path(), 0).0, "103.5");
    assert!(
        read(dir.path().join("output/2025-01/index.html")).contains("Amounts are the billed cost")
    );
    let yaml = read(dir.path().join("ocb.yaml")) + "billing: {basis: effective}\n";
    std::fs::write(dir.path().join("ocb.yaml"), yaml).unwrap();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    // Conservation on the basis used: Σ EffectiveCost of every input row.
    assert_eq!(summary_billed(dir.path(), 0).0, "64.35");
    let page = read(dir.path().join("output/2025-01/index.html"));
    assert!(page.contains("Amounts are the effective cost"), "{page}");
    let journal = read(dir.path().join("output/2025-01/journal.csv"));
    assert!(
        journal.contains("AWS charges 2025-01 (effective cost)"),
        "{journal}"
    );
    assert!(
        journal.contains("64.35") && !journal.contains("103.50"),
        "{journal}"
    );
    let statement = walkdir::WalkDir::new(dir.path().join("output/2025-01/statements"))
        .into_iter()
        .map(|e| e.unwrap())
        .find(|e| e.path().extension().is_some_and(|x| x == "html"))
        .unwrap();
    assert!(read(statement.path()).contains("Amount due is the effective cost"));
}

/// Regression: a Parquet MAP column written without an Arrow schema (DuckDB,
/// AWS Data Exports) tripped a debug-only `unreachable!` in polars-io, so debug
/// builds (the README's `cargo run`) could not read AWS's Tags. The fixture was
/// written by DuckDB with `MAP([...], [...]) AS Tags` and `user:` tag prefixes.
#[test]
fn parquet_tags_as_a_map_written_by_duckdb_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = crate::common::fixture("parquet/map-tags.parquet");
    ocb(dir.path())
        .args(["import"])
        .arg(&fixture)
        .args(["--source", "aws"])
        .assert()
        .success();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    let (header, rows) = csv_rows(dir.path().join("output/2025-01/charges.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut seen: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[col("pi_email")].clone(),
                r[col("project_id")].clone(),
                r[col("fund_org")].clone(),
                r[col("billed_cost")].clone(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("a@x.edu".into(), "p1".into(), "NSF-1".into(), "1.5".into()),
            ("b@x.edu".into(), "p2".into(), "NIH-2".into(), "0.1".into()),
        ]
    );
}

/// Run ocb on a terminal (util-linux `script` gives it a pseudo-terminal)
/// and return what the terminal showed.
fn on_a_terminal(root: &Path, args: &str) -> String {
    let bin = assert_cmd::cargo::cargo_bin("ocb");
    let out = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} --root {} {args}",
            bin.display(),
            root.display()
        ))
        .arg("/dev/null")
        .output()
        .expect("script (util-linux) runs ocb on a pseudo-terminal");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn import_and_build_show_progress_on_a_terminal_and_nothing_in_a_pipe() {
    let dir = repo();
    let root = dir.path();
    let (lines, _) = rows("2025-01", 2000, 1);
    let delivery = root.join("delivery.csv.gz");
    gz(&delivery, &csv_text(&lines));
    let shown = on_a_terminal(root, &format!("import {} --source aws", delivery.display()));
    assert!(shown.contains("importing"), "{shown}");
    let shown = on_a_terminal(root, "build --no-pdf");
    assert!(
        shown.contains("loading") && shown.contains("2025-01"),
        "{shown}"
    );
    assert!(shown.contains("built "), "{shown}");
    // --quiet, or stderr not a terminal: no bar.
    let shown = on_a_terminal(root, "build --no-pdf --quiet");
    assert!(!shown.contains("loading"), "{shown}");
    ocb(root)
        .args(["build", "--no-pdf"])
        .assert()
        .success()
        .stderr(predicate::str::contains("loading").not());
}

/// Found by fuzzing: a data page header with a negative value count made
/// polars ask for 2^61 bytes, and the process aborted (exit 134) with no
/// message; a corrupt footer made polars-parquet panic, and another made it
/// allocate 136 GB and abort. Each must be a located problem like any
/// corrupt file, with no panic message printed.
#[test]
fn corrupt_parquet_files_found_by_fuzzing_are_refused_not_an_abort() {
    for (fixture, message) in [
        (
            "negative-num-values.parquet",
            "unreadable Parquet file: column `ResourceId`, row group 1: a page header holds a negative count: the file is corrupt",
        ),
        (
            "corrupt-footer.parquet",
            "unreadable Parquet file: the reader failed on this file",
        ),
        (
            "corrupt-footer-length.parquet",
            "unreadable Parquet file: the reader ended on this file (signal 6): the file is corrupt",
        ),
    ] {
        let dir = repo();
        let f = dir.path().join("drop/cloud.parquet");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/parquet")
            .join(fixture);
        std::fs::copy(&fixture, &f).unwrap();
        refused(
            dir.path(),
            &f,
            "cloud",
            &format!("drop/cloud.parquet: {message}"),
        );
        // In a period folder, the build says the same and exits 1.
        let period = dir.path().join("periods/2025-01");
        std::fs::create_dir_all(&period).unwrap();
        std::fs::copy(&fixture, period.join("aws.parquet")).unwrap();
        ocb(dir.path())
            .args(["build", "--no-pdf"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "periods/2025-01/aws.parquet: {message}"
            )))
            .stderr(predicate::str::contains("panicked").not());
    }
}
