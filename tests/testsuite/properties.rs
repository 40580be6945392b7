//! Property tests (proptest): random valid billing repositories — several
//! sources and currencies, credits and negative rows, missing and invalid
//! tags, review decisions — always conserve money to the cent, give balanced
//! journals equal to the billed total, rebuild byte-identically, and give the
//! same statements when rows and columns are reordered. Cases are few and
//! small: the suite runs in a debug build in CI.

use crate::common::{read, snapshot_dir};
use ocb::build::{Options, build};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

const PERIODS: [&str; 2] = ["2025-01", "2025-02"];
const SOURCES: [&str; 3] = ["aws", "gcp", "hpc"];
const CURRENCIES: [&str; 3] = ["USD", "EUR", "JPY"];
const CREDIT_FUNDS: [&str; 3] = ["IT-CLOUD", "IT-GCP", "IT-HPC"];
const CONFIG: &str = r#"organization: {name: "Property University"}
sources:
  aws: {name: AWS, account: "54100", credit_fund_org: "IT-CLOUD"}
  gcp: {name: GCP, account: "54150", credit_fund_org: "IT-GCP"}
  hpc: {name: HPC, account: "54200", credit_fund_org: "IT-HPC"}
review:
  fund_org_patterns: ['(NSF|NIH)-[0-9]+']
"#;
const HEADER: [&str; 10] = [
    "BillingPeriodStart",
    "BillingCurrency",
    "ServiceName",
    "ResourceId",
    "ChargeCategory",
    "ConsumedQuantity",
    "ListCost",
    "BilledCost",
    "Tags",
    "ChargeDescription",
];

#[derive(Debug, Clone)]
struct Row {
    period: usize,
    source: usize,
    currency: usize,
    billed: Decimal,
    /// List − billed, or no ListCost cell.
    discount: Option<Decimal>,
    credit: bool,
    pi: Option<usize>,
    project: Option<usize>,
    /// 0: missing, 1: not matching the pattern, else a valid fund.
    fund: usize,
    quantity: Decimal,
}

fn money() -> impl Strategy<Value = Decimal> {
    (-200_000i64..2_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s))
}

fn row() -> impl Strategy<Value = Row> {
    (
        (0..PERIODS.len(), 0..SOURCES.len(), 0..CURRENCIES.len()),
        money(),
        proptest::option::of((0i64..100_000, 0u32..=3).prop_map(|(m, s)| Decimal::new(m, s))),
        any::<bool>(),
        (
            proptest::option::weighted(0.85, 0..3usize),
            proptest::option::weighted(0.85, 0..4usize),
        ),
        0usize..5,
        (0i64..10_000_000, 0u32..=6).prop_map(|(m, s)| Decimal::new(m, s)),
    )
        .prop_map(
            |(
                (period, source, currency),
                billed,
                discount,
                credit,
                (pi, project),
                fund,
                quantity,
            )| Row {
                period,
                source,
                currency,
                billed: if credit { -billed.abs() } else { billed },
                discount,
                credit,
                pi,
                project,
                fund,
                quantity,
            },
        )
}

/// One CSV cell per HEADER column, for the row numbered `n` (unique resources:
/// duplicates are a flag of their own, tested elsewhere).
fn cells(r: &Row, n: usize) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(pi) = r.pi {
        tags.push(format!(r#""pi_email":"pi{pi}@x.edu""#));
    }
    if let Some(p) = r.project {
        tags.push(format!(r#""project_id":"proj-{p}""#));
    }
    match r.fund {
        0 => {}
        1 => tags.push(r#""fund_org":"BAD-7""#.to_string()),
        f => tags.push(format!(
            r#""fund_org":"{}-{f}""#,
            if f % 2 == 0 { "NSF" } else { "NIH" }
        )),
    }
    vec![
        format!("{}-01", PERIODS[r.period]),
        CURRENCIES[r.currency].to_string(),
        format!("svc-{}", n % 3),
        format!("res-{n}"),
        if r.credit { "Credit" } else { "Usage" }.to_string(),
        r.quantity.to_string(),
        r.discount
            .map(|d| (r.billed + d).to_string())
            .unwrap_or_default(),
        r.billed.to_string(),
        format!("{{{}}}", tags.join(",")),
        format!("row {n}, with a comma"),
    ]
}

/// Write the repository: one file per (period, source), rows in `order`
/// and columns in `columns` order.
fn write_repo(root: &Path, rows: &[Row], order: &[usize], columns: &[usize]) {
    let _ = std::fs::remove_dir_all(root.join("periods"));
    std::fs::write(root.join("ocb.yaml"), CONFIG).unwrap();
    let mut files: BTreeMap<(usize, usize), csv::Writer<std::fs::File>> = BTreeMap::new();
    for &n in order {
        let r = &rows[n];
        let w = files.entry((r.period, r.source)).or_insert_with(|| {
            let dir = root.join("periods").join(PERIODS[r.period]);
            std::fs::create_dir_all(&dir).unwrap();
            let mut w =
                csv::Writer::from_path(dir.join(format!("{}.csv", SOURCES[r.source]))).unwrap();
            w.write_record(columns.iter().map(|&c| HEADER[c])).unwrap();
            w
        });
        let all = cells(r, n);
        w.write_record(columns.iter().map(|&c| &all[c])).unwrap();
    }
    for (_, mut w) in files {
        w.flush().unwrap();
    }
}

fn run(root: &Path, out: &Path) {
    let opts = Options {
        out: out.to_path_buf(),
        periods: vec![],
        pdf: false,
        quiet: true,
        verbose: false,
    };
    let report = build(root, &root.join("ocb.yaml"), &opts).expect("build");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Decide some held charges (by the ids the first build printed): reject,
/// reassign to a full attribution, or leave held.
fn decide(root: &Path, out: &Path, choices: &[u8]) -> BTreeMap<&'static str, String> {
    let mut files = BTreeMap::new();
    for period in PERIODS {
        let path = out.join(period).join("charges.csv");
        if !path.exists() {
            continue;
        }
        let (header, rows) = crate::common::csv_rows(&path);
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let mut yaml = String::new();
        let held = rows.iter().filter(|r| r[col("state")] == "held");
        for (i, r) in held.enumerate() {
            let flag = r[col("flags")].split(['|', ';', ' ']).next().unwrap_or("");
            let id = &r[col("id")];
            match choices.get(i).copied().unwrap_or(0) % 3 {
                0 => {}
                1 => yaml.push_str(&format!("- charge: {id}\n  flag: {flag}\n  decision: reject\n")),
                _ => yaml.push_str(&format!(
                    "- charge: {id}\n  flag: {flag}\n  decision: reassign\n  set: {{pi_email: pi9@x.edu, project_id: proj-9, fund_org: NSF-99}}\n"
                )),
            }
        }
        std::fs::write(root.join("periods").join(period).join("review.yaml"), &yaml).unwrap();
        files.insert(period, yaml);
    }
    files
}

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

fn minor(currency: &str) -> u32 {
    if currency == "JPY" { 0 } else { 2 }
}

/// Conservation per period and currency, against the generated rows.
fn check_conservation(out: &Path, rows: &[Row]) {
    let summary: serde_json::Value = serde_json::from_str(&read(out.join("summary.json"))).unwrap();
    let mut want: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for r in rows {
        *want
            .entry((
                PERIODS[r.period].to_string(),
                CURRENCIES[r.currency].to_string(),
            ))
            .or_default() += r.billed;
    }
    let mut got = BTreeMap::new();
    for p in summary["periods"].as_array().unwrap() {
        for c in p["currencies"].as_array().unwrap() {
            let input = dec(&c["input_billed"]);
            assert_eq!(
                input,
                dec(&c["billed"]) + dec(&c["held"]) + dec(&c["rejected"]),
                "{c}"
            );
            let key = (
                p["period"].as_str().unwrap().to_string(),
                c["currency"].as_str().unwrap().to_string(),
            );
            got.insert(key, input);
        }
    }
    assert_eq!(got, want, "input totals");
}

/// Journals balance per currency, and their PI side equals the sum of the
/// statements' dues (each rounded to the cent), within rounding of billed.
fn check_journals(out: &Path) {
    let summary: serde_json::Value = serde_json::from_str(&read(out.join("summary.json"))).unwrap();
    for p in summary["periods"].as_array().unwrap() {
        let period = p["period"].as_str().unwrap();
        let (header, lines) = crate::common::csv_rows(out.join(period).join("journal.csv"));
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        for c in p["currencies"].as_array().unwrap() {
            let currency = c["currency"].as_str().unwrap();
            let mine = lines.iter().filter(|l| l[col("currency")] == currency);
            let (mut debit, mut credit, mut billed) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
            for l in mine {
                let (d, k): (Decimal, Decimal) = (
                    l[col("debit")].parse().unwrap(),
                    l[col("credit")].parse().unwrap(),
                );
                debit += d;
                credit += k;
                if !CREDIT_FUNDS.contains(&l[col("fund_org")].as_str()) {
                    billed += d - k;
                }
            }
            assert_eq!(
                debit, credit,
                "{period} {currency}: journal does not balance"
            );
            // Journals charge what statements say (issue 12): each statement's
            // due is its billed cost rounded to the cent, so the PI side is the
            // sum of the statements' dues, within half a cent per statement of
            // the period's exact billed total.
            let (sh, srows) = crate::common::csv_rows(out.join(period).join("statements.csv"));
            let scol = |name: &str| sh.iter().position(|h| h == name).unwrap();
            let mine: Vec<&Vec<String>> = srows
                .iter()
                .filter(|r| r[scol("currency")] == currency)
                .collect();
            let due: Decimal = mine
                .iter()
                .map(|r| r[scol("due")].parse::<Decimal>().unwrap())
                .sum();
            assert_eq!(
                billed, due,
                "{period} {currency}: journal total ≠ the statements' dues"
            );
            let exact = dec(&c["billed"]);
            // Half a minor unit per statement (0.005 USD, 0.5 JPY).
            let slack = Decimal::new(5, minor(currency) + 1) * Decimal::from(mine.len().max(1));
            assert!(
                (due - exact).abs() <= slack,
                "{period} {currency}: dues {due} stray from billed {exact} by more than rounding"
            );
        }
    }
}

/// What must not depend on row or column order (charges.csv names lines).
fn statements(out: &Path) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    all.insert("summary.json".to_string(), read(out.join("summary.json")));
    for period in PERIODS {
        for file in ["statements.csv", "journal.csv"] {
            let path = out.join(period).join(file);
            if path.exists() {
                all.insert(format!("{period}/{file}"), read(path));
            }
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 20,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn money_is_conserved_journals_balance_and_builds_are_stable(
        rows in proptest::collection::vec(row(), 1..30),
        choices in proptest::collection::vec(any::<u8>(), 30),
        shuffle in any::<u64>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let out = dir.path().join("out");
        let order: Vec<usize> = (0..rows.len()).collect();
        let columns: Vec<usize> = (0..HEADER.len()).collect();
        write_repo(&root, &rows, &order, &columns);
        run(&root, &out);
        let reviews = decide(&root, &out, &choices);
        run(&root, &out);
        check_conservation(&out, &rows);
        check_journals(&out);

        let first = snapshot_dir(&out);
        run(&root, &out);
        prop_assert!(first == snapshot_dir(&out), "a rebuild is not byte-identical");

        // Rows and columns in another order: the same statements and journals.
        let mut order = order;
        let mut columns = columns;
        permute(&mut order, shuffle);
        permute(&mut columns, shuffle.rotate_left(17));
        write_repo(&root, &rows, &order, &columns);
        for (period, yaml) in &reviews {
            std::fs::write(root.join("periods").join(period).join("review.yaml"), yaml).unwrap();
        }
        let out2 = dir.path().join("out2");
        run(&root, &out2);
        prop_assert_eq!(statements(&out), statements(&out2));
    }
}

/// A deterministic permutation from a seed (Fisher–Yates with an LCG).
fn permute<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}
