//! Property tests (proptest): random valid billing repositories — several
//! sources and currencies, credits and negative rows, missing and invalid
//! tags, review decisions, fund splits, allocations, credit programs and
//! surcharges — always conserve money to the cent, give balanced journals
//! whose sides equal the statements' dues, credits and surcharges, rebuild
//! byte-identically, give the same statements when rows and columns are
//! reordered, and the same February when February is built alone. Cases are
//! few and small: the suite runs in a debug build in CI.

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
/// Who pays the credit programs and allocations, and who receives surcharges.
const FUNDERS: [&str; 4] = [
    "PROVOST-NEWPI",
    "DEPT-SUBSIDY",
    "DEFERRED-PREPAID",
    "RESEARCH-CREDITS",
];
const OVERHEAD: &str = "OVERHEAD";
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

/// The money terms of a repository: each one present or not.
#[derive(Debug, Clone)]
struct Terms {
    /// proj-1's first fund's share in hundredths of a percent (the rest to NIH-77).
    split: Option<i64>,
    /// proj-0's prepaid and credit allocations (USD; proj-0 is billed in USD).
    prepaid: Option<Decimal>,
    credit: Option<Decimal>,
    /// A per-PI first-months credit (amount, months) and a per-project monthly
    /// cap on HPC.
    first_months: Option<(Decimal, u32)>,
    cap: Option<Decimal>,
    /// A surcharge percent on AWS and GCP, NIH- funds exempt.
    surcharge: Option<Decimal>,
}

fn amount() -> impl Strategy<Value = Decimal> {
    (1i64..500_000, 0u32..=2).prop_map(|(m, s)| Decimal::new(m, s))
}

fn terms() -> impl Strategy<Value = Terms> {
    (
        proptest::option::weighted(0.7, 1i64..10_000),
        proptest::option::weighted(0.7, amount()),
        proptest::option::weighted(0.7, amount()),
        proptest::option::weighted(0.7, (amount(), 1u32..=2)),
        proptest::option::weighted(0.7, amount()),
        proptest::option::weighted(0.7, (1i64..=2_000).prop_map(|m| Decimal::new(m, 2))),
    )
        .prop_map(
            |(split, prepaid, credit, first_months, cap, surcharge)| Terms {
                split,
                prepaid,
                credit,
                first_months,
                cap,
                surcharge,
            },
        )
}

fn config(t: &Terms) -> String {
    let mut text = CONFIG.to_string();
    let mut credits = String::new();
    if let Some((amount, months)) = t.first_months {
        credits.push_str(&format!(
            "  - {{name: \"New PI\", kind: first_months, per: pi, amount: {amount}, months: {months}, exclude_services: ['svc-2'], paid_by: {}}}\n",
            FUNDERS[0]
        ));
    }
    if let Some(amount) = t.cap {
        credits.push_str(&format!(
            "  - {{name: \"HPC cap\", kind: monthly_cap, per: project, amount: {amount}, sources: [hpc], paid_by: {}}}\n",
            FUNDERS[1]
        ));
    }
    if !credits.is_empty() {
        text.push_str("credits:\n");
        text.push_str(&credits);
    }
    if let Some(pct) = t.surcharge {
        text.push_str(&format!(
            "surcharges:\n  - {{name: F&A, percent: {pct}, sources: [aws, gcp], exempt_funds: ['^NIH-'], paid_to: {OVERHEAD}}}\n"
        ));
    }
    text
}

fn projects(t: &Terms) -> String {
    let mut text = String::new();
    for n in [0usize, 1, 2, 3, 9] {
        text.push_str(&format!(
            "- id: proj-{n}\n  pi: {{email: pi{n}@x.edu}}\n  fund_org: NSF-{}\n",
            n + 2
        ));
        if n == 1
            && let Some(h) = t.split
        {
            let first = Decimal::new(h, 2);
            text.push_str(&format!(
                "  funds:\n    - {{fund_org: NSF-3, percent: {first}}}\n    - {{fund_org: NIH-77, percent: {}}}\n",
                Decimal::ONE_HUNDRED - first
            ));
        }
        if n == 0 && (t.prepaid.is_some() || t.credit.is_some()) {
            text.push_str("  allocations:\n");
            if let Some(a) = t.credit {
                text.push_str(&format!(
                    "    - {{id: grant, kind: credit, amount: {a}, currency: USD, start: 2025-01-01, end: 2025-12-31, sources: [aws], paid_by: {}}}\n",
                    FUNDERS[3]
                ));
            }
            if let Some(a) = t.prepaid {
                text.push_str(&format!(
                    "    - {{id: prepaid, kind: prepaid, amount: {a}, currency: USD, start: 2025-01-15, end: 2025-12-31, paid_by: {}}}\n",
                    FUNDERS[2]
                ));
            }
        }
    }
    text
}

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
                // Allocations are in USD: proj-0 is billed in USD only.
                currency: if project == Some(0) { 0 } else { currency },
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
fn write_repo(root: &Path, terms: &Terms, rows: &[Row], order: &[usize], columns: &[usize]) {
    let _ = std::fs::remove_dir_all(root.join("periods"));
    std::fs::write(root.join("ocb.yaml"), config(terms)).unwrap();
    std::fs::write(root.join("projects.yaml"), projects(terms)).unwrap();
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
    run_periods(root, out, vec![]);
}

fn run_periods(root: &Path, out: &Path, periods: Vec<ocb::period::Period>) {
    let opts = Options {
        out: out.to_path_buf(),
        periods,
        pdf: false,
        quiet: true,
        verbose: false,
        // The cache is on, as for users: each property holds through it.
        cache: true,
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

/// Journals balance per currency, and each side is what the statements say:
/// the PIs' funds are debited the dues, the funders the credits, the overhead
/// fund is credited the surcharges and the providers' funds the usage; the
/// dues stay within rounding of the period's billed total once credits and
/// surcharges are put back. Per statement, billed − credits + surcharges = due.
fn check_journals(out: &Path) {
    let summary: serde_json::Value = serde_json::from_str(&read(out.join("summary.json"))).unwrap();
    for p in summary["periods"].as_array().unwrap() {
        let period = p["period"].as_str().unwrap();
        let (header, lines) = crate::common::csv_rows(out.join(period).join("journal.csv"));
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (sh, srows) = crate::common::csv_rows(out.join(period).join("statements.csv"));
        let scol = |name: &str| sh.iter().position(|h| h == name).unwrap();
        for c in p["currencies"].as_array().unwrap() {
            let currency = c["currency"].as_str().unwrap();
            let (mut debit, mut credit) = (Decimal::ZERO, Decimal::ZERO);
            // Net debits per side.
            let (mut pis, mut funders, mut overhead, mut providers) =
                (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
            for l in lines.iter().filter(|l| l[col("currency")] == currency) {
                let (d, k): (Decimal, Decimal) = (
                    l[col("debit")].parse().unwrap(),
                    l[col("credit")].parse().unwrap(),
                );
                debit += d;
                credit += k;
                let fund = l[col("fund_org")].as_str();
                let side = if CREDIT_FUNDS.contains(&fund) {
                    &mut providers
                } else if FUNDERS.contains(&fund) {
                    &mut funders
                } else if fund == OVERHEAD {
                    &mut overhead
                } else {
                    &mut pis
                };
                *side += d - k;
            }
            assert_eq!(
                debit, credit,
                "{period} {currency}: journal does not balance"
            );
            let mine: Vec<&Vec<String>> = srows
                .iter()
                .filter(|r| r[scol("currency")] == currency)
                .collect();
            let sum = |name: &str| -> Decimal {
                mine.iter()
                    .map(|r| r[scol(name)].parse::<Decimal>().unwrap())
                    .sum()
            };
            for r in &mine {
                let d = |name: &str| r[scol(name)].parse::<Decimal>().unwrap();
                let billed = d("billed_cost").round_dp_with_strategy(
                    minor(currency),
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                );
                assert_eq!(
                    billed - d("credits") + d("surcharges"),
                    d("due"),
                    "{period}: statement {}",
                    r[0]
                );
            }
            let (due, credits, surcharges) = (sum("due"), sum("credits"), sum("surcharges"));
            assert_eq!(
                pis, due,
                "{period} {currency}: PI funds ≠ the statements' dues"
            );
            assert_eq!(
                funders, credits,
                "{period} {currency}: funders ≠ the credits"
            );
            assert_eq!(
                -overhead, surcharges,
                "{period} {currency}: overhead ≠ surcharges"
            );
            assert_eq!(
                -providers,
                due + credits - surcharges,
                "{period} {currency}: providers' funds ≠ the usage"
            );
            let exact = dec(&c["billed"]);
            // Half a minor unit per statement (0.005 USD, 0.5 JPY).
            let slack = Decimal::new(5, minor(currency) + 1) * Decimal::from(mine.len().max(1));
            let usage = due + credits - surcharges;
            assert!(
                (usage - exact).abs() <= slack,
                "{period} {currency}: usage {usage} strays from billed {exact} by more than rounding"
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
        terms in terms(),
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
        write_repo(&root, &terms, &rows, &order, &columns);
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
        write_repo(&root, &terms, &rows, &order, &columns);
        for (period, yaml) in &reviews {
            std::fs::write(root.join("periods").join(period).join("review.yaml"), yaml).unwrap();
        }
        let out2 = dir.path().join("out2");
        run(&root, &out2);
        prop_assert_eq!(statements(&out), statements(&out2));

        // Balances are a function of the periods in order: February built
        // alone opens with what January left.
        let feb = dir.path().join("feb");
        run_periods(&root, &feb, vec![PERIODS[1].parse().unwrap()]);
        let file = format!("{}/statements.csv", PERIODS[1]);
        if out.join(&file).exists() {
            prop_assert_eq!(read(out.join(&file)), read(feb.join(&file)));
        }
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
