//! What ocb promises when things go wrong (docs/RELIABILITY.md): one writer
//! per repository, killed and terminated builds cleaned up, the supported
//! precision, links only to PDFs that exist, full and read-only disks.

use crate::common::{chromium_available, ocb, read, repo, snapshot_dir};
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Every file under `dir` but the lock file (which names its last holder),
/// as path → sha256, so a failed comparison prints readable names.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    crate::common::snapshot_dir(dir)
        .into_iter()
        .filter(|(p, _)| p != Path::new(".ocb.lock"))
        .map(|(p, bytes)| (p, hex::encode(sha2::Sha256::digest(bytes))))
        .collect()
}

/// Names in `dir` starting with `prefix`.
fn names(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// A pid that is certainly not running: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Hold the repository's lock from this test process, as `who` would.
fn hold_lock(root: &Path, command: &str) -> std::fs::File {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(root.join(".ocb.lock"))
        .unwrap();
    f.try_lock().unwrap();
    write!(
        f,
        "pid: {}\ncommand: {command}\nstarted: 2026-01-31T08:00:00Z\n",
        std::process::id()
    )
    .unwrap();
    f
}

#[test]
fn every_writer_is_refused_while_another_holds_the_lock_and_readers_are_not() {
    let dir = repo("basic");
    let root = dir.path().to_path_buf();
    std::fs::write(
        root.join("new.csv"),
        read(root.join("periods/2025-02/aws.csv")),
    )
    .unwrap();
    let held = hold_lock(&root, "build");
    let before = snapshot(&root);
    let writers: Vec<Vec<&str>> = vec![
        vec!["build", "--no-pdf"],
        vec!["import", "new.csv", "--source", "new"],
        vec!["review", "--write"],
        vec!["close", "2025-01"],
        vec!["reopen", "2025-01", "--reason", "test"],
        vec!["send", "--period", "2025-01", "--dev"],
        vec!["projects", "add", "--from-data"],
        vec![
            "convert",
            "storage",
            "usage.csv",
            "--rates",
            "r.yaml",
            "--period",
            "2025-01",
        ],
    ];
    let holder = format!(
        "another ocb is writing to this repository: pid {} (`ocb build`, started 2026-01-31T08:00:00Z)",
        std::process::id()
    );
    // All at once: each waits a few seconds before giving up.
    let runs: Vec<_> = writers
        .into_iter()
        .map(|args| {
            let root = root.clone();
            std::thread::spawn(move || {
                let out = ocb(&root).args(&args).output().unwrap();
                (args.join(" "), out)
            })
        })
        .collect();
    for run in runs {
        let (args, out) = run.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "ocb {args}: {stderr}");
        assert!(stderr.contains(&holder), "ocb {args}: {stderr}");
    }
    assert_eq!(before, snapshot(&root), "a refused writer changed files");
    ocb(&root).arg("check").assert().success();
    ocb(&root).arg("periods").assert().success();
    drop(held);
    // A lock released normally is taken without a word.
    ocb(&root)
        .args(["build", "--no-pdf"])
        .assert()
        .success()
        .stderr(predicate::str::contains("lock").not());
    ocb(&root)
        .args(["build", "--no-pdf"])
        .assert()
        .success()
        .stderr(predicate::str::contains("lock").not());
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_over() {
    let dir = repo("basic");
    let root = dir.path();
    let pid = dead_pid();
    std::fs::write(
        root.join(".ocb.lock"),
        format!("pid: {pid}\ncommand: build\nstarted: 2026-01-31T08:00:00Z\n"),
    )
    .unwrap();
    ocb(root)
        .args(["build", "--no-pdf"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "took over the lock of pid {pid} (`ocb build`, started 2026-01-31T08:00:00Z)"
        )));
    // Released normally, the lock names nobody.
    assert_eq!(read(root.join(".ocb.lock")), "");
}

#[test]
fn stale_staging_folders_are_removed_and_a_live_builds_are_kept() {
    let dir = repo("basic");
    let root = dir.path();
    let dead = dead_pid();
    let me = std::process::id();
    for name in [
        format!(".ocb-staging-{dead}-a1b2c3"),
        format!(".ocb-old-{dead}-d4e5f6"),
        format!(".ocb-staging-{me}-live01"),
    ] {
        std::fs::create_dir_all(root.join(&name).join("2025-01")).unwrap();
        std::fs::write(root.join(&name).join("2025-01/charges.csv"), "x").unwrap();
    }
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    let mut left = names(root, ".ocb-");
    left.retain(|n| n != ".ocb.lock" && n != ".ocb-cache");
    assert_eq!(left, vec![format!(".ocb-staging-{me}-live01")]);
}

#[test]
fn the_output_a_build_replaced_is_kept_in_the_trash_until_the_next_build_removes_it() {
    let dir = repo("basic");
    let root = dir.path();
    let trash = root.join(".ocb-cache/trash");
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    assert!(
        names(&trash, "").is_empty(),
        "a first build replaced nothing"
    );
    let first = read(root.join("output/2025-01/charges.csv"));
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    let replaced = names(&trash, "");
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(
        read(trash.join(&replaced[0]).join("2025-01/charges.csv")),
        first,
        "the trash holds the output the build replaced"
    );
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    let now = names(&trash, "output-");
    assert_eq!(now.len(), 1, "one previous output at most: {now:?}");
    assert_ne!(now, replaced, "the older one was removed");
    // What its files were not recycled into (the folders) waits for the next build.
    let recycled = names(&trash, "recycled-");
    assert!(recycled.len() <= 1, "{recycled:?}");
    assert_eq!(names(&trash, "").len(), now.len() + recycled.len());
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    assert!(
        !names(&trash, "recycled-")
            .iter()
            .any(|n| recycled.contains(n)),
        "the next build removes it"
    );
    // Nothing else is left beside the output.
    let mut left = names(root, ".ocb-");
    left.retain(|n| n != ".ocb.lock" && n != ".ocb-cache");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_build_that_writes_over_the_previous_outputs_files_leaves_what_a_fresh_build_would() {
    // Back to back, a build writes over the files of the output the build
    // before it replaced (from the trash) instead of creating new ones.
    let dir = repo("basic");
    let root = dir.path();
    for _ in 0..3 {
        ocb(root)
            .args(["build", "--no-pdf", "--no-cache"])
            .assert()
            .success();
    }
    // A period gone and a month's rows fewer: files the previous outputs
    // had and this one has not must not come back from them.
    std::fs::remove_dir_all(root.join("periods/2025-02")).unwrap();
    let csv = root.join("periods/2025-01/aws.csv");
    let text = read(&csv);
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&csv, kept.join("\n") + "\n").unwrap();
    for _ in 0..2 {
        ocb(root)
            .args(["build", "--no-pdf", "--no-cache"])
            .assert()
            .success();
    }
    let fresh = tempfile::tempdir().unwrap();
    crate::common::copy_dir(&root.join("periods"), &fresh.path().join("periods"));
    for f in ["ocb.yaml", "projects.yaml"] {
        std::fs::copy(root.join(f), fresh.path().join(f)).unwrap();
    }
    ocb(fresh.path())
        .args(["build", "--no-pdf", "--no-cache"])
        .assert()
        .success();
    let (built, expected) = (
        snapshot_dir(&root.join("output")),
        snapshot_dir(&fresh.path().join("output")),
    );
    assert!(!built.keys().any(|p| p.starts_with("2025-02")));
    assert_eq!(
        built.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &expected {
        assert!(built[path] == *bytes, "{} differs", path.display());
    }
}

#[test]
fn a_file_a_build_writes_again_unchanged_is_the_live_outputs_file() {
    // Web servers and rsync see an unchanged file unchanged (same inode and
    // time); a changed one is a new file, and the file the previous output
    // served is left as it was.
    use std::os::unix::fs::MetadataExt;
    let dir = repo("basic");
    let root = dir.path();
    let build = || {
        ocb(root)
            .args(["build", "--no-pdf", "--no-cache"])
            .assert()
            .success();
    };
    let inode = |rel: &str| {
        std::fs::metadata(root.join("output").join(rel))
            .unwrap()
            .ino()
    };
    build();
    let charges = "2025-01/charges.csv";
    let (first_csv, first_page) = (inode(charges), inode("index.html"));
    let served = read(root.join("output").join(charges));
    build();
    assert_eq!(
        inode(charges),
        first_csv,
        "charges.csv written again unchanged"
    );
    assert_eq!(inode("index.html"), first_page);
    // One row's cost changed: its charges.csv differs after the rows before it.
    let csv = root.join("periods/2025-01/aws.csv");
    let text = read(&csv);
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let n = lines.len();
    // BilledCost comes before the quoted Tags: the cells split at commas.
    let billed = lines[0].split(',').position(|h| h == "BilledCost").unwrap();
    let mut cells: Vec<String> = lines[n - 1].split(',').map(String::from).collect();
    cells[billed] = "9.99".to_string();
    lines[n - 1] = cells.join(",");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let held = std::fs::File::open(root.join("output").join(charges)).unwrap();
    build();
    assert_ne!(
        inode(charges),
        first_csv,
        "a changed charges.csv is a new file"
    );
    let now = read(root.join("output").join(charges));
    assert!(now.contains("9.99"), "{now}");
    // The file the previous output served (still open here) is unchanged.
    let mut before = String::new();
    std::io::Read::read_to_string(&mut &held, &mut before).unwrap();
    assert_eq!(before, served);
}

#[test]
fn a_file_written_over_gets_the_mode_a_new_file_would() {
    use std::os::unix::fs::PermissionsExt;
    let dir = repo("basic");
    let root = dir.path();
    let build = |umask: &str| {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" --root \"$1\" build --no-pdf --no-cache -q"
            ))
            .arg(assert_cmd::cargo::cargo_bin("ocb"))
            .arg(root)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let mode = |p: &str| {
        std::fs::metadata(root.join("output").join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    build("077");
    build("077");
    assert_eq!(mode("2025-01/charges.csv"), 0o600);
    // Written over (from the trash), under a wider umask: readable by the
    // web server like a new file.
    build("022");
    for p in ["2025-01/charges.csv", "index.html", "2025-01/index.html"] {
        assert_eq!(mode(p), 0o644, "{p}");
    }
}

#[test]
fn files_the_cache_holds_are_never_written_over() {
    // Each file of the cache and the trash, by inode and birth time (an
    // inode freed and used again is another file), with its bytes.
    fn files(dir: &Path) -> BTreeMap<(u64, std::time::SystemTime), Vec<u8>> {
        use std::os::unix::fs::MetadataExt;
        walkdir::WalkDir::new(dir)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some(((m.ino(), m.created().ok()?), std::fs::read(e.path()).ok()?))
            })
            .collect()
    }
    let dir = repo("basic");
    let root = dir.path();
    let cache = root.join(".ocb-cache");
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    let stored = files(&cache.join("periods"));
    assert!(!stored.is_empty());
    // 2025-01 computed again, back to back: the output it replaces is
    // linked from the cache entry it replaces, and stays as it was.
    let csv = root.join("periods/2025-01/aws.csv");
    let text = read(&csv);
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&csv, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    for _ in 0..2 {
        ocb(root).args(["build", "--no-pdf"]).assert().success();
        let now = files(&cache);
        let mut same = 0;
        for (file, bytes) in &stored {
            if let Some(b) = now.get(file) {
                same += 1;
                assert!(b == bytes, "a file the cache held was written over");
            }
        }
        assert!(same > 0, "2025-02's entry is still there");
    }
}
/// Start `ocb build` (with PDFs) of a sample repository and return once its
/// Chromium runs: the staging folder exists and the lock is held.
fn build_with_chromium(root: &Path) -> std::process::Child {
    ocb(root)
        .args(["sample", "--rows", "3000", "--projects", "150", "--out"])
        .arg(root)
        .assert()
        .success();
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    let child = Command::new(assert_cmd::cargo::cargo_bin("ocb"))
        .env("TMPDIR", root.join("tmp"))
        .arg("--root")
        .arg(root)
        .arg("build")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while chromium_of(root).is_empty() {
        assert!(start.elapsed().as_secs() < 60, "Chromium never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// Chromium processes started with a profile under `root/tmp`.
fn chromium_of(root: &Path) -> Vec<i32> {
    let pattern = format!("{}/ocb-chrome-", root.join("tmp").display());
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(pattern)
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn sigterm_stops_chromium_removes_staging_and_exits_143() {
    if !chromium_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut child = build_with_chromium(root);
    let before = snapshot(&root.join("output"));
    assert_eq!(names(root, ".ocb-staging-").len(), 1);
    // The running build holds the lock, and says so to a second writer.
    ocb(root)
        .args(["review", "--write"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "pid {} (`ocb build`, started ",
            child.id()
        )));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "SIGTERM exits 128 + 15");
    std::thread::sleep(Duration::from_millis(500));
    assert!(chromium_of(root).is_empty(), "Chromium survived SIGTERM");
    assert!(
        names(root, ".ocb-staging-").is_empty(),
        "staging left behind"
    );
    let profiles: Vec<_> = walkdir::WalkDir::new(root.join("tmp"))
        .min_depth(1)
        .into_iter()
        .collect();
    assert!(profiles.is_empty(), "browser profile left behind");
    assert_eq!(before, snapshot(&root.join("output")), "output changed");
    // The lock went with the process.
    ocb(root).args(["build", "--no-pdf"]).assert().success();
}

#[test]
fn a_killed_builds_staging_is_removed_by_the_next_build() {
    if !chromium_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut child = build_with_chromium(root);
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    // A SIGKILLed build cannot stop its browser; this test does.
    for pid in chromium_of(root) {
        // SAFETY: the browser of the build this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let staged = names(root, ".ocb-staging-");
    assert_eq!(staged.len(), 1, "the killed build left its staging folder");
    assert!(staged[0].starts_with(&format!(".ocb-staging-{}-", child.id())));
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    assert!(names(root, ".ocb-staging-").is_empty());
}

/// Append rows to a fixture CSV whose columns are those of basic's 2025-01 aws.csv.
fn add_rows(root: &Path, rows: &[&str]) {
    let path = root.join("periods/2025-01/aws.csv");
    let mut text = read(&path);
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

const TAGS: &str = r#""{""pi_email"":""a@x.edu"",""project_id"":""p1"",""fund_org"":""NSF-1""}""#;

#[test]
fn a_cost_beyond_the_supported_precision_is_a_located_error() {
    let dir = repo("basic");
    let root = dir.path();
    let row = format!(
        "2025-01-01,USD,EC2,Compute,i-7,Usage,1,Hours,1.00,0.1234567890123456789012345678,,{TAGS}"
    );
    add_rows(root, &[&row]);
    let lines = read(root.join("periods/2025-01/aws.csv")).lines().count();
    let message = format!(
        "aws.csv:{lines}: column `BilledCost`: `0.1234567890123456789012345678` has 28 digits after the decimal point; ocb supports at most 12"
    );
    ocb(root)
        .args(["build", "--no-pdf"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "periods/2025-01/{message}"
        )))
        .stderr(predicate::str::contains("out of range").not());
    assert!(!root.join("output").exists());
    ocb(root)
        .arg("check")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "periods/2025-01/{message}"
        )));
}

#[test]
fn import_refuses_a_cost_beyond_the_supported_precision_and_writes_nothing() {
    let dir = repo("basic");
    let root = dir.path();
    let before = read(root.join("periods/2025-01/aws.csv"));
    let delivery = root.join("delivery.csv");
    let row = format!(
        "2025-01-01,USD,EC2,Compute,i-7,Usage,1,Hours,1.00,0.1234567890123456789012345678,,{TAGS}"
    );
    std::fs::write(&delivery, format!("{before}{row}\n")).unwrap();
    let line = before.lines().count() + 1;
    ocb(root)
        .arg("import")
        .arg(&delivery)
        .args(["--source", "aws"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "delivery.csv:{line}: column `BilledCost`: `0.1234567890123456789012345678` has 28 digits after the decimal point; ocb supports at most 12"
        )))
        .stderr(predicate::str::contains("nothing was imported"));
    assert_eq!(read(root.join("periods/2025-01/aws.csv")), before);
    assert!(!root.join("periods/2025-01/imports.yaml").exists());
}

#[test]
fn twelve_decimals_and_trailing_zeros_are_kept_exactly() {
    let dir = repo("basic");
    let root = dir.path();
    add_rows(
        root,
        &[
            &format!("2025-01-01,USD,EC2,Compute,i-7,Usage,1,Hours,1.00,0.123456789012,,{TAGS}"),
            &format!(
                "2025-01-01,USD,EC2,Compute,i-8,Usage,1,Hours,1.00,2.50000000000000000000,,{TAGS}"
            ),
        ],
    );
    ocb(root).args(["build", "--no-pdf"]).assert().success();
    let summary: serde_json::Value =
        serde_json::from_str(&read(root.join("output/summary.json"))).unwrap();
    let text = summary.to_string();
    // basic's January USD input is 15.171667; the two rows add 2.623456789012.
    assert!(
        text.contains(r#""input_billed":"17.795123789012""#),
        "{text}"
    );
}

#[test]
fn a_period_total_beyond_the_supported_range_is_a_located_error() {
    let dir = repo("basic");
    let root = dir.path();
    let big = format!("2025-01-01,USD,EC2,Compute,i-7,Usage,1,Hours,1.00,600000000000000,,{TAGS}");
    add_rows(root, &[&big, &big]);
    let lines = read(root.join("periods/2025-01/aws.csv")).lines().count();
    ocb(root)
        .args(["build", "--no-pdf"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "periods/2025-01/aws.csv:{lines}: column `BilledCost`: the period's BilledCost values add up to 1000000000000000 or more here"
        )));
}

/// Every `.pdf` link in the site's pages, as (page, resolved target).
fn pdf_links(out: &Path) -> Vec<(PathBuf, PathBuf)> {
    let re = regex::Regex::new(r#"href="([^"]+\.pdf)""#).unwrap();
    let mut links = Vec::new();
    for e in walkdir::WalkDir::new(out).into_iter().flatten() {
        if e.path().extension().is_none_or(|x| x != "html") {
            continue;
        }
        for cap in re.captures_iter(&read(e.path())) {
            let link = cap[1].replace("&#x2f;", "/");
            links.push((
                e.path().to_path_buf(),
                e.path().parent().unwrap().join(link),
            ));
        }
    }
    links
}

#[test]
fn a_no_pdf_build_links_no_pdf() {
    let dir = repo("basic");
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    let links = pdf_links(&dir.path().join("output"));
    assert!(links.is_empty(), "links to PDFs never printed: {links:?}");
}

#[test]
fn a_period_build_links_the_pdfs_it_printed_and_no_missing_one() {
    if !chromium_available() {
        return;
    }
    let dir = repo("basic");
    let root = dir.path();
    ocb(root)
        .args(["build", "--period", "2025-02"])
        .assert()
        .success();
    let links = pdf_links(&root.join("output"));
    assert!(!links.is_empty());
    for (page, target) in &links {
        assert!(
            target.is_file(),
            "{} links to missing {}",
            page.display(),
            target.display()
        );
        assert!(
            target.to_string_lossy().contains("2025-02/"),
            "{}",
            target.display()
        );
    }
    // January was not printed and is not cached: its pages link no PDF.
    let jan = read(root.join("output/2025-01/index.html"));
    assert!(!jan.contains(".pdf\""), "{jan}");
    // Once all are printed (February from the cache), every statement links its PDF.
    ocb(root).arg("build").assert().success();
    let all = pdf_links(&root.join("output"));
    assert!(all.len() > links.len());
    assert!(all.iter().all(|(_, t)| t.is_file()));
}

/// A small tmpfs mounted for one test (needs root), unmounted when dropped.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            assert!(!ci(), "cannot mount a tmpfs: CI runs these tests as root");
            eprintln!("skipping: cannot mount a small tmpfs (needs root); in CI this never skips");
            return None;
        }
        Some(Mount { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the file system until a write fails with ENOSPC.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }

    fn read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(ok.success(), "remount read-only");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The `basic` fixture copied onto a fresh small tmpfs, built once.
fn built_on_tmpfs() -> Option<(Mount, PathBuf)> {
    let mount = Mount::tmpfs("4m")?;
    let root = mount.path().join("billing");
    crate::common::copy_dir(&crate::common::fixture("basic"), &root);
    ocb(&root).args(["build", "--no-pdf"]).assert().success();
    Some((mount, root))
}

#[test]
fn a_full_disk_fails_the_build_naming_the_path_and_keeps_the_output() {
    let Some((mount, root)) = built_on_tmpfs() else {
        return;
    };
    let before = snapshot(&root);
    mount.fill();
    ocb(&root)
        .args(["build", "--no-pdf"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "cannot write `{}",
            root.display()
        )))
        .stderr(predicate::str::contains("No space left on device"));
    assert_eq!(
        before,
        snapshot(&root),
        "the previous output or inputs changed"
    );
    assert!(
        names(&root, ".ocb-staging-").is_empty(),
        "staging left behind"
    );
}

#[test]
fn a_read_only_disk_fails_the_build_naming_the_folder_and_keeps_the_output() {
    let Some((mount, root)) = built_on_tmpfs() else {
        return;
    };
    let before = snapshot(&root);
    mount.read_only();
    ocb(&root)
        .args(["build", "--no-pdf"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "cannot create a staging folder in `{}`",
            root.display()
        )))
        .stderr(predicate::str::contains("Read-only file system"));
    assert_eq!(before, snapshot(&root));
}

#[test]
fn import_close_and_review_on_a_full_disk_change_nothing() {
    let Some((mount, root)) = built_on_tmpfs() else {
        return;
    };
    // Two months in one file: neither may be imported alone.
    let rows = read(root.join("periods/2025-02/aws.csv"));
    let extra = rows
        .lines()
        .nth(1)
        .unwrap()
        .replacen("2025-02-01", "2025-03-01", 1);
    std::fs::write(root.join("new.csv"), format!("{rows}{extra}\n")).unwrap();
    let before = snapshot(&root.join("periods"));
    mount.fill();
    ocb(&root)
        .args(["import", "new.csv", "--source", "aws", "--force"])
        .current_dir(&root)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}/periods/2025-0",
            root.display()
        )))
        .stderr(predicate::str::contains("No space left on device"));
    ocb(&root)
        .args(["close", "2025-01"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("periods/2025-01/period.yaml"))
        .stderr(predicate::str::contains("No space left on device"));
    ocb(&root)
        .args(["review", "--write"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("periods/2025-01/review.yaml"))
        .stderr(predicate::str::contains("No space left on device"));
    assert_eq!(
        before,
        snapshot(&root.join("periods")),
        "a period file changed"
    );
    assert!(!root.join("periods/2025-03").join("aws.csv").exists());
}

/// Found by fuzzing (csv_loader): a quoted newline in a header cell split the
/// problem naming that column over two lines.
#[test]
fn fuzz_a_header_with_a_newline_still_gives_one_problem_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.csv");
    std::fs::write(
        &file,
        "BillingPeriodStart,BilledCost,\"Odd\nName\"\n2025-01-01,1.00,a\0b\n",
    )
    .unwrap();
    let out = ocb(dir.path()).arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let problem = format!(
        "{}:3: column `Odd\\nName`: cell contains a NUL byte",
        file.display()
    );
    assert!(stdout.lines().any(|l| l.starts_with(&problem)), "{stdout}");
}
