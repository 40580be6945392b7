//! The per-period cache (`.ocb-cache/periods/`): a rebuild restores the
//! periods whose inputs did not change, and its output is byte for byte what
//! a build without the cache writes. A stale entry would be a wrong bill, so
//! each kind of input is changed in turn.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Build with the cache; returns (restored, computed) periods, from
/// `--verbose`; a period restored with its statement pages rendered again
/// is listed as restored, with `+pages`.
fn cached_build(root: &Path) -> (Vec<String>, Vec<String>) {
    let out = ocb(root)
        .args(["build", "--no-pdf", "--verbose"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let mut restored = Vec::new();
    let mut computed = Vec::new();
    for line in stderr.lines() {
        let Some((period, rest)) = line.split_once(": ") else {
            continue;
        };
        if period.len() != 7 || !period.starts_with("20") {
            continue;
        }
        if rest.starts_with("restored from the cache") {
            let pages = if rest.contains("statement pages rendered again") {
                "+pages"
            } else {
                ""
            };
            restored.push(format!("{period}{pages}"));
        } else if rest.contains("charges,") {
            computed.push(period.to_string());
        }
    }
    (restored, computed)
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The cached build's output equals a build that computes everything.
fn same_as_uncached(root: &Path, what: &str) {
    let fresh = root.join("uncached-output");
    ocb(root)
        .args(["build", "--no-pdf", "--no-cache", "--out"])
        .arg(&fresh)
        .assert()
        .success();
    let cached = files(&root.join("output"));
    let computed = files(&fresh);
    assert_eq!(
        cached.keys().collect::<Vec<_>>(),
        computed.keys().collect::<Vec<_>>(),
        "{what}: the cached build wrote other files"
    );
    for (name, bytes) in &cached {
        assert!(
            bytes == &computed[name],
            "{what}: {name} differs from a build without the cache"
        );
    }
    std::fs::remove_dir_all(&fresh).unwrap();
}

fn step(root: &Path, what: &str, restored: &[&str], computed: &[&str]) {
    let (r, c) = cached_build(root);
    assert_eq!(r, restored, "{what}: restored periods");
    assert_eq!(c, computed, "{what}: computed periods");
    same_as_uncached(root, what);
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = read(path);
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_cache_notices_every_kind_of_input_and_a_cached_build_equals_an_uncached_one() {
    let dir = repo("basic");
    let root = dir.path();
    let (jan, feb) = ("2025-01", "2025-02");
    step(root, "first build", &[], &[jan, feb]);
    step(root, "nothing changed", &[jan, feb], &[]);

    // One CSV of January: January is computed. February's statement pages
    // show the change against January's amount: rendered again from the
    // cached rollup, nothing of February loaded.
    let jan_aws = root.join("periods/2025-01/aws.csv");
    edit(&jan_aws, ",8.50,", ",9.50,");
    step(root, "January's aws.csv", &["2025-02+pages"], &[jan]);
    // A change to January that February does not read (a project February
    // bills in another currency): February restored as it was.
    edit(&jan_aws, ",5.005,", ",6.005,");
    step(root, "January's aws.csv, p2", &[feb], &[jan]);

    // The spike rule reads January's totals: when they change which of
    // February's totals spike (or what the flag says), February is computed.
    edit(
        &root.join("ocb.yaml"),
        "review:\n",
        "review:\n  spike: {ratio: 1.5, min_amount: 10}\n",
    );
    step(root, "the spike rule in ocb.yaml", &[], &[jan, feb]);
    assert!(read(root.join("output/2025-02/charges.csv")).contains("cost_spike"));
    edit(&jan_aws, ",9.50,", ",10.50,");
    step(root, "January's totals under a spike", &[], &[jan, feb]);

    // February's review decisions: February only.
    let charges = read(root.join("output/2025-02/charges.csv"));
    let id = charges
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        root.join("periods/2025-02/review.yaml"),
        format!("- charge: {id}\n  decision: reject\n  note: test\n"),
    )
    .unwrap();
    step(root, "February's review.yaml", &[jan], &[feb]);

    // A file added to February.
    std::fs::write(
        root.join("periods/2025-02/hpc.csv"),
        "BillingPeriodStart,BilledCost,ServiceName,Tags\n2025-02-01,3.25,Cluster,\"{\"\"pi_email\"\":\"\"a@x.edu\"\",\"\"project_id\"\":\"\"p1\"\",\"\"fund_org\"\":\"\"NSF-1\"\"}\"\n",
    )
    .unwrap();
    step(root, "a file added to February", &[jan], &[feb]);

    // projects.yaml: a period depends on the answers to what it asked of it.
    // A comment, or a project no period names, changes no answer.
    let projects_yaml = root.join("projects.yaml");
    let projects = read(&projects_yaml);
    std::fs::write(&projects_yaml, format!("# edited\n{projects}")).unwrap();
    step(root, "a comment in projects.yaml", &[jan, feb], &[]);
    std::fs::write(
        root.join("periods/2025-02/hpc.csv"),
        "BillingPeriodStart,BilledCost,ServiceName,Tags\n2025-02-01,3.25,Cluster,\"{\"\"pi_email\"\":\"\"a@x.edu\"\",\"\"project_id\"\":\"\"p1\"\",\"\"fund_org\"\":\"\"NSF-1\"\"}\"\n2025-02-01,1.75,Cluster,\"{\"\"pi_email\"\":\"\"c@x.edu\"\",\"\"project_id\"\":\"\"p9\"\",\"\"fund_org\"\":\"\"NSF-9\"\"}\"\n",
    )
    .unwrap();
    step(
        root,
        "a row of an unlisted project in February",
        &[jan],
        &[feb],
    );
    let p9 = |root: &Path| {
        read(root.join("output/2025-02/charges.csv"))
            .lines()
            .find(|l| l.contains(",p9,"))
            .expect("p9's charge")
            .to_string()
    };
    assert!(p9(root).contains("unknown_project"), "{}", p9(root));
    // p9 listed: February asked about it (and is computed), January did not.
    let projects = read(&projects_yaml);
    std::fs::write(
        &projects_yaml,
        format!("{projects}- id: p9\n  name: Project Nine\n  pi: {{email: c@x.edu}}\n  fund_org: NSF-9\n"),
    )
    .unwrap();
    step(root, "the unlisted project listed", &[jan], &[feb]);
    assert!(!p9(root).contains("unknown_project"), "{}", p9(root));
    let projects = read(&projects_yaml);
    std::fs::write(
        &projects_yaml,
        format!("{projects}- id: p10\n  pi: {{email: d@x.edu}}\n  fund_org: NSF-10\n"),
    )
    .unwrap();
    step(root, "a project no period names", &[jan, feb], &[]);
    // Both months bill p2: its name is on both months' pages.
    edit(&projects_yaml, "Project Two", "Project 2");
    step(root, "a project both months bill", &[], &[jan, feb]);
    for month in [jan, feb] {
        let page = read(root.join(format!("output/{month}/statements/b-x-edu/p2.html")));
        assert!(page.contains("Project 2") && !page.contains("Project Two"));
    }

    // What every period reads: ocb.yaml, the theme.
    edit(&root.join("ocb.yaml"), "name: HPC,", "name: HPC cluster,");
    step(root, "ocb.yaml", &[], &[jan, feb]);
    let theme = root.join("themes/default/templates");
    std::fs::create_dir_all(&theme).unwrap();
    let statement = read(fixture("../../themes/default/templates/statement.html"));
    std::fs::write(
        theme.join("statement.html"),
        statement.replacen("</body>", "<p>Questions: billing@test.edu</p></body>", 1),
    )
    .unwrap();
    step(root, "a theme template", &[], &[jan, feb]);
    assert!(read(root.join("output/2025-01/index.html")).contains("2025"));

    // Next month's folder: the months before it are restored.
    let march = root.join("periods/2025-03");
    std::fs::create_dir_all(&march).unwrap();
    std::fs::copy(root.join("periods/2025-02/aws.csv"), march.join("aws.csv")).unwrap();
    edit(&march.join("aws.csv"), "2025-02-01", "2025-03-01");
    edit(&march.join("aws.csv"), "2025-02-01", "2025-03-01");
    step(root, "a new month", &[jan, feb], &["2025-03"]);
    std::fs::remove_dir_all(&march).unwrap();
    step(root, "the new month removed", &[jan, feb], &[]);

    // Closing January writes its period.yaml: January is computed again, and
    // February, whose late rows would now go to January's statements.
    ocb(root).args(["close", jan]).assert().success();
    step(root, "January closed", &[], &[jan, feb]);
    step(root, "nothing changed after the close", &[jan, feb], &[]);
    // A closed period compares projects.yaml's bytes with those it was
    // closed with. A new project listed first claims the account of one of
    // January's rows, a project January's record never names: January is
    // computed, finds the row moved, and February posts the correction.
    let projects = read(&projects_yaml);
    std::fs::write(
        &projects_yaml,
        format!("- id: p11\n  pi: {{email: c@x.edu}}\n  fund_org: NSF-11\n  accounts: [\"acct-1\"]\n{projects}"),
    )
    .unwrap();
    step(
        root,
        "an account of closed January claimed",
        &[],
        &[jan, feb],
    );
    assert!(read(root.join("output/2025-02/charges.csv")).contains(",p11,"));
    std::fs::write(&projects_yaml, projects).unwrap();
    step(root, "the claim taken back", &[jan, feb], &[]);
    assert!(!read(root.join("output/2025-02/charges.csv")).contains(",p11,"));

    // A damaged entry is computed again, not trusted.
    let entry = root.join(".ocb-cache/periods/2025-02/files/charges.csv");
    std::fs::remove_file(&entry).unwrap();
    step(root, "a damaged cache entry", &[jan], &[feb]);

    // Another ocb binary (a new version, or the same version rebuilt).
    let exe = root.join("ocb-copy");
    std::fs::copy(assert_cmd::cargo::cargo_bin("ocb"), &exe).unwrap();
    let out = std::process::Command::new(&exe)
        .arg("--root")
        .arg(root)
        .args(["build", "--no-pdf", "--verbose"])
        .output()
        .unwrap();
    std::fs::remove_file(&exe).unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("restored from the cache"),
        "another binary restored a period: {stderr}"
    );
    step(root, "back to this binary", &[], &[jan, feb]);

    // A month taken out of the repository, and an entry a killed build left
    // half written: both are removed.
    let half = root.join(".ocb-cache/periods/.2025-01.tmp-999999");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::remove_dir_all(root.join("periods/2025-02")).unwrap();
    step(root, "February removed", &[jan], &[]);
    assert!(!half.exists());
    assert!(!root.join(".ocb-cache/periods/2025-02").exists());
}

#[test]
fn output_files_linked_from_the_cache_are_never_written_in_place() {
    let dir = repo("basic");
    let root = dir.path();
    cached_build(root);
    // Restored as hard links; a `--no-pdf` build then takes the PDF links
    // out of its pages, by writing new files: the entries keep theirs.
    let (restored, _) = cached_build(root);
    assert_eq!(restored, ["2025-01", "2025-02"]);
    let page = |base: &Path| {
        let dir = base.join("2025-02/statements");
        let pi = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let file = std::fs::read_dir(&pi)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let rel = file.strip_prefix(base).unwrap().to_path_buf();
        (rel, read(&file))
    };
    let (rel, published) = page(&root.join("output"));
    assert!(!published.contains(".pdf\">PDF</a>"), "{published}");
    let kept = read(
        root.join(".ocb-cache/periods/2025-02/files")
            .join(rel.strip_prefix("2025-02").unwrap()),
    );
    assert!(
        kept.contains(".pdf\">PDF</a>"),
        "the cache entry lost its PDF link: {kept}"
    );
}

#[test]
fn reviewing_one_month_restores_the_others_from_the_cache() {
    let dir = repo("basic");
    let root = dir.path();
    let review = |period: &str| {
        let out = ocb(root)
            .args(["review", "--period", period, "--verbose"])
            .assert()
            .success();
        let o = out.get_output();
        (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    // No cache yet: every month is loaded, and reviewing writes none.
    let (listed, said) = review("2025-02");
    assert!(listed.contains("2025-02: 0 charges held"), "{listed}");
    assert!(!said.contains("restored"), "{said}");
    assert!(!root.join(".ocb-cache").exists(), "reviewing wrote a cache");
    cached_build(root);
    // January restored (nothing of it loaded); February, reviewed, loaded.
    let (listed, said) = review("2025-02");
    assert!(listed.contains("2025-02: 0 charges held"), "{listed}");
    assert!(said.contains("2025-01: restored from the cache"), "{said}");
    assert!(!said.contains("2025-02: restored"), "{said}");
    // January's own review loads January; February after it is restored.
    let (listed, said) = review("2025-01");
    assert!(listed.contains("2025-01: 1 charge held, $3.00"), "{listed}");
    assert!(said.contains("2025-02: restored from the cache"), "{said}");
}

#[test]
fn the_periods_table_is_the_same_from_the_cache() {
    let dir = repo("basic");
    let root = dir.path();
    let table = || {
        let out = ocb(root).args(["periods", "--verbose"]).assert().success();
        let o = out.get_output();
        (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (computed, said) = table();
    assert!(!said.contains("restored"), "{said}");
    cached_build(root);
    let (restored, said) = table();
    assert!(said.contains("2025-01: restored from the cache"), "{said}");
    assert!(said.contains("2025-02: restored from the cache"), "{said}");
    assert_eq!(computed, restored);
    assert!(computed.contains("2025-01"), "{computed}");
}

#[test]
fn commands_that_render_nothing_restore_a_period_without_its_resources() {
    let dir = repo("basic");
    let root = dir.path();
    cached_build(root);
    // January's amount changes February's "change vs previous": a build
    // renders February's statement pages again from the cached resources.
    edit(&root.join("periods/2025-01/aws.csv"), ",8.50,", ",9.50,");
    std::fs::remove_file(root.join(".ocb-cache/periods/2025-02/resources.msgpack")).unwrap();
    // `ocb periods` renders no page: February is restored all the same.
    let out = ocb(root).args(["periods", "--verbose"]).assert().success();
    let said = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(said.contains("2025-02: restored from the cache"), "{said}");
    assert!(!said.contains("2025-01: restored"), "{said}");
    // A build needs them: February is computed, and the output is whole.
    let (restored, computed) = cached_build(root);
    assert!(restored.is_empty(), "{restored:?}");
    assert_eq!(computed, ["2025-01", "2025-02"]);
    same_as_uncached(root, "February's resources missing from its cache entry");
}

#[test]
fn a_first_build_remembers_every_input_digest_for_the_next() {
    let dir = repo("basic");
    let root = dir.path();
    // Files changed in the last two seconds are hashed again next time
    // (their stamp could hide a write in the same clock tick).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    cached_build(root);
    // The next build takes these as they are: an unchanged year is not
    // read again to find that it is unchanged.
    let saved = std::fs::read(root.join(".ocb-cache/digests.msgpack")).unwrap();
    type Stamp = (u64, u64, i64, i64, i64, i64);
    let saved: Vec<(std::path::PathBuf, Stamp, String)> = rmp_serde::from_slice(&saved).unwrap();
    let digest_of: BTreeMap<_, _> = saved.into_iter().map(|(p, _, d)| (p, d)).collect();
    let mut inputs = 0;
    for entry in walkdir::WalkDir::new(root.join("periods")) {
        let path = entry.unwrap().into_path();
        if path.extension().is_some_and(|e| e == "csv") {
            use sha2::Digest;
            let expected = hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()));
            assert_eq!(digest_of.get(&path), Some(&expected), "{}", path.display());
            inputs += 1;
        }
    }
    assert!(inputs >= 2, "the repository has inputs: {inputs}");
}
