//! `ocb send` against a real SMTP server on 127.0.0.1 (Python's aiosmtpd,
//! `tests/smtp_server.py`), with real PDFs printed by Chromium.

use crate::common::{chromium_available, copy_dir, ocb, read, repo};
use predicates::prelude::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_server.py");
const USER_VAR: &str = "OCB_TEST_SMTP_USER";
const PASS_VAR: &str = "OCB_TEST_SMTP_PASSWORD";

/// True when the SMTP tests can run: always in CI, else when aiosmtpd and Chromium exist.
pub fn available() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let smtp = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !smtp && !ci {
        eprintln!(
            "skipping: aiosmtpd not found (`python3 -m pip install aiosmtpd`; in CI these tests never skip)"
        );
    }
    (smtp || ci) && chromium_available()
}

/// A running `smtp_server.py serve`, stopped when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg("serve")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("smtp_server.py did not start (is aiosmtpd installed?): {line:?}")
        });
        Server { child, port, dir }
    }

    /// Every message received, in order, as parsed by the script.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("server dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&read(p)).expect("json"))
            .collect()
    }

    fn attachment(&self, index: usize, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(format!("{:03}-{name}", index + 1))).expect("attachment")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `send` fixture built once (PDFs included), copied for each test.
/// A static is never dropped: the folder is removed when the test process
/// exits (each run left some 45 MB in /tmp otherwise).
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove_built() {
        if let Some(dir) = BUILT.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    BUILT.get_or_init(|| {
        let dir = repo("send").keep();
        // SAFETY: registers a plain function with no arguments to run at exit.
        unsafe { libc::atexit(remove_built) };
        ocb(&dir).arg("build").assert().success();
        dir
    })
}

/// A fresh copy of the built fixture whose SMTP port is `port`.
fn repo_on(port: u16) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(built(), dir.path());
    let config = dir.path().join("ocb.yaml");
    let text = read(&config).replace("port: 2525", &format!("port: {port}"));
    std::fs::write(&config, text).expect("write ocb.yaml");
    dir
}

fn send(root: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = ocb(root);
    cmd.args(["send", "--period"]).args(args);
    cmd.env_remove(USER_VAR).env_remove(PASS_VAR);
    cmd
}

fn deliveries(root: &Path, period: &str) -> Vec<Value> {
    let path = root.join("periods").join(period).join("deliveries.yaml");
    if !path.exists() {
        return Vec::new();
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(&read(path)).expect("yaml");
    serde_json::to_value(yaml)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn sends_one_message_per_pi_with_both_parts_and_the_built_pdfs_exactly_once() {
    if !available() {
        return;
    }
    let server = Server::start(&[]);
    let dir = repo_on(server.port);
    let root = dir.path();
    send(root, &["2025-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "sent a@x.edu (cc manager@x.edu): 2 statements, $13.51 due",
        ))
        .stdout(predicate::str::contains("sent 3 messages for 2025-01"));

    let msgs = server.messages();
    assert_eq!(msgs.len(), 3);
    let a = &msgs[0];
    assert_eq!(strs(&a["rcpt_tos"]), ["a@x.edu", "manager@x.edu"]);
    assert_eq!(a["mail_from"], "billing@test.edu");
    assert_eq!(a["subject"], "Charges for January 2025, Dr. A");
    assert_eq!(a["to"], "\"Dr. A\" <a@x.edu>");
    assert_eq!(strs(&a["alternative"]), ["text/plain", "text/html"]);
    let (text, html) = (a["text"].as_str().unwrap(), a["html"].as_str().unwrap());
    for part in [text, html] {
        for needle in [
            "Dr. A",
            "January 2025",
            "Project One",
            "Project Two",
            "$8.50",
            "$5.01",
            "$13.51",
            "$1.50",
            "billing@test.edu",
        ] {
            assert!(part.contains(needle), "{needle} missing from\n{part}");
        }
    }
    assert!(
        text.contains("https://rc.test.edu/charges/pis/a-x-edu.html"),
        "{text}"
    );
    assert!(
        html.contains(
            "href=\"https:&#x2f;&#x2f;rc.test.edu&#x2f;charges&#x2f;pis&#x2f;a-x-edu.html\""
        ) || html.contains("href=\"https://rc.test.edu/charges/pis/a-x-edu.html\""),
        "{html}"
    );
    assert_eq!(strs(&msgs[1]["rcpt_tos"]), ["b@x.edu"]);
    assert_eq!(strs(&msgs[2]["rcpt_tos"]), ["c@x.edu"]);

    // Attachments are the built PDFs, byte for byte.
    let manifest: Value =
        serde_json::from_str(&read(root.join("output/2025-01/statements.json"))).unwrap();
    let mut attached = 0;
    for (i, m) in msgs.iter().enumerate() {
        for att in m["attachments"].as_array().unwrap() {
            assert_eq!(att["content_type"], "application/pdf");
            let name = att["filename"].as_str().unwrap();
            let stmt = manifest["statements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| name.contains(s["number"].as_str().unwrap()))
                .expect("statement of attachment");
            let built =
                std::fs::read(root.join("output").join(stmt["pdf"].as_str().unwrap())).unwrap();
            assert!(built.starts_with(b"%PDF"));
            assert_eq!(server.attachment(i, name), built, "{name}");
            attached += 1;
        }
    }
    assert_eq!(attached, 4);

    // The ledger says what went out; a second run sends nothing.
    let d = deliveries(root, "2025-01");
    assert_eq!(d.len(), 3);
    assert_eq!(d[0]["pi"], "a@x.edu");
    assert_eq!(strs(&d[0]["recipients"]), ["a@x.edu", "manager@x.edu"]);
    assert_eq!(d[0]["statements"].as_array().unwrap().len(), 2);
    assert_eq!(d[0]["message_id"], msgs[0]["message_id"]);
    let first_pdf = d[0]["statements"][0]["pdf"].as_str().unwrap();
    assert_eq!(
        d[0]["statements"][0]["sha256"].as_str().unwrap(),
        sha256(&std::fs::read(root.join("output").join(first_pdf)).unwrap())
    );
    assert!(d[0]["sent_at"].as_str().unwrap().ends_with('Z'));
    send(root, &["2025-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("4 statements were already sent"));
    assert_eq!(server.messages().len(), 3);
    assert_eq!(deliveries(root, "2025-01").len(), 3);
}

#[test]
fn a_changed_statement_is_reported_and_only_resent_with_resend() {
    if !available() {
        return;
    }
    let server = Server::start(&[]);
    let dir = repo_on(server.port);
    let root = dir.path();
    send(root, &["2025-01"]).assert().success();
    // A correction after sending: Dr. B's charge changes and the site is rebuilt.
    let csv = root.join("periods/2025-01/aws.csv");
    std::fs::write(&csv, read(&csv).replace("40.00,30.00", "40.00,28.00")).unwrap();
    ocb(root).arg("build").assert().success();

    send(root, &["2025-01"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("statement 202501-")
                .and(predicate::str::contains("for b@x.edu changed since sent")),
        )
        .stderr(predicate::str::contains("--resend"));
    assert_eq!(
        server.messages().len(),
        3,
        "nothing is sent again without --resend"
    );

    send(root, &["2025-01", "--resend"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "sent b@x.edu: 1 statement, $28.00 due",
        ))
        .stdout(predicate::str::contains("sent 1 message for 2025-01"));
    let msgs = server.messages();
    assert_eq!(msgs.len(), 4);
    assert_eq!(
        msgs[3]["subject"],
        "Corrected: Charges for January 2025, Dr. B"
    );
    assert!(
        msgs[3]["text"]
            .as_str()
            .unwrap()
            .contains("corrected; replaces the one sent")
    );
    assert_ne!(msgs[3]["message_id"], msgs[1]["message_id"]);
    assert_eq!(deliveries(root, "2025-01").len(), 4);
    send(root, &["2025-01", "--resend"]).assert().success();
    assert_eq!(
        server.messages().len(),
        4,
        "a resent statement is not sent a third time"
    );
}

#[test]
fn a_rejected_recipient_leaves_that_pi_unsent_and_a_rerun_sends_only_it() {
    if !available() {
        return;
    }
    let server = Server::start(&["--reject", "manager@x.edu"]);
    let dir = repo_on(server.port);
    let root = dir.path();
    send(root, &["2025-01"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "not sent to a@x.edu: permanent error (550)",
        ))
        .stderr(predicate::str::contains("1 message not sent"));
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2);
    let d = deliveries(root, "2025-01");
    assert_eq!(
        d.iter()
            .map(|e| e["pi"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["b@x.edu", "c@x.edu"]
    );
    drop(server);

    let server = Server::start(&[]);
    let config = root.join("ocb.yaml");
    let text = read(&config);
    let old_port = text
        .split("port: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .to_string();
    std::fs::write(
        &config,
        text.replace(
            &format!("port: {old_port}"),
            &format!("port: {}", server.port),
        ),
    )
    .unwrap();
    send(root, &["2025-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("sent 1 message"));
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(strs(&msgs[0]["rcpt_tos"]), ["a@x.edu", "manager@x.edu"]);
    assert_eq!(deliveries(root, "2025-01").len(), 3);
}

#[test]
fn transient_failures_are_retried_and_delivered_once() {
    if !available() {
        return;
    }
    let server = Server::start(&["--fail-first", "2"]);
    let dir = repo_on(server.port);
    send(dir.path(), &["2025-01"]).assert().success();
    assert_eq!(server.messages().len(), 3);
    assert_eq!(deliveries(dir.path(), "2025-01").len(), 3);
}

#[test]
fn an_unreachable_server_sends_nothing_and_lists_every_pi() {
    if !available() {
        return;
    }
    // A port nobody listens on: bind, read it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = repo_on(port);
    send(dir.path(), &["2025-01"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("3 messages not sent"))
        .stderr(predicate::str::contains("not sent to a@x.edu"))
        .stderr(predicate::str::contains("c@x.edu: not attempted"));
    assert!(!dir.path().join("periods/2025-01/deliveries.yaml").exists());
}

#[test]
fn credentials_come_from_the_environment_and_are_never_shown() {
    if !available() {
        return;
    }
    let password = "s3cret-Pa55word";
    let server = Server::start(&["--auth", &format!("billing-bot:{password}")]);
    let dir = repo_on(server.port);
    let root = dir.path();
    // Without the variables the server refuses, and the run stops at once.
    send(root, &["2025-01"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(530)"));
    send(root, &["2025-01"])
        .env(USER_VAR, "billing-bot")
        .env(PASS_VAR, "wrong")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(535)"));
    assert!(server.messages().is_empty());

    let out = send(root, &["2025-01", "-v"])
        .env(USER_VAR, "billing-bot")
        .env(PASS_VAR, password)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "credentials from ${USER_VAR} and ${PASS_VAR}"
        )));
    let output = out.get_output();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let msgs = server.messages();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["auth_login"], "billing-bot");
    for text in [
        shown,
        read(root.join("periods/2025-01/deliveries.yaml")),
        read(root.join("ocb.yaml")),
    ] {
        assert!(!text.contains(password), "the password leaked:\n{text}");
    }
    // A user without a password is a configuration error, before anything is sent.
    send(root, &["2025-01", "--resend", "--to", "a@x.edu"])
        .env(USER_VAR, "billing-bot")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("${PASS_VAR}")));
}

#[test]
fn dev_mode_writes_eml_files_and_previews_and_sends_nothing() {
    if !available() {
        return;
    }
    let dir = repo_on(9); // nothing may connect anywhere
    let root = dir.path();
    send(root, &["2025-01", "--dev"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "dev mode: wrote 3 messages for 2025-01; nothing was sent",
        ));
    let emails = root.join("output/emails/2025-01");
    for f in [
        "a-x-edu.eml",
        "a-x-edu.html",
        "b-x-edu.eml",
        "c-x-edu.html",
        "index.html",
    ] {
        assert!(emails.join(f).is_file(), "{f}");
    }
    let parsed = Command::new("python3")
        .arg(SCRIPT)
        .arg("parse")
        .arg(emails.join("a-x-edu.eml"))
        .output()
        .unwrap();
    let m: Value = serde_json::from_slice(&parsed.stdout).expect("parsed .eml");
    assert_eq!(m["subject"], "Charges for January 2025, Dr. A");
    assert_eq!(m["cc"], "manager@x.edu");
    assert!(
        m["text"].as_str().unwrap().contains("Project Two")
            && m["html"].as_str().unwrap().contains("Project Two")
    );
    let sizes: Vec<u64> = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes.len(), 2);
    let preview = read(emails.join("a-x-edu.html"));
    assert!(
        preview.contains("Charges for January 2025, Dr. A") && preview.contains("srcdoc="),
        "{preview}"
    );
    assert!(
        preview
            .replace("&#x2f;", "/")
            .contains("../../2025-01/statements/a-x-edu/p1.pdf"),
        "attachments link to the built PDFs"
    );
    assert!(read(emails.join("index.html")).contains("b@x.edu"));
    assert!(
        !root.join("periods/2025-01/deliveries.yaml").exists(),
        "dev mode records no delivery"
    );

    // `email.dev_mode: true` does the same without the flag.
    let config = root.join("ocb.yaml");
    std::fs::write(
        &config,
        read(&config).replace("email:\n", "email:\n  dev_mode: true\n"),
    )
    .unwrap();
    send(root, &["2025-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("dev mode: wrote 3 messages"));
}

#[test]
fn dry_run_prints_the_plan_and_to_selects_pis() {
    if !available() {
        return;
    }
    let server = Server::start(&[]);
    let dir = repo_on(server.port);
    let root = dir.path();
    send(root, &["2025-01", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("to:       Dr. A <a@x.edu>"))
        .stdout(predicate::str::contains("cc:       manager@x.edu"))
        .stdout(predicate::str::contains(
            "subject:  Charges for January 2025, Dr. B",
        ))
        .stdout(predicate::str::contains("-p2.pdf  Project Two $5.01"))
        .stdout(predicate::str::contains(
            "total:    $13.51 due (list $15.01, covered $1.50)",
        ))
        .stdout(predicate::str::contains("dry run: would send 3 messages"));
    assert!(server.messages().is_empty());
    send(root, &["2025-01", "--to", "B@x.edu"])
        .assert()
        .success();
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(strs(&msgs[0]["rcpt_tos"]), ["b@x.edu"]);
    send(root, &["2025-01", "--to", "nobody@x.edu"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--to nobody@x.edu: no statements for this PI in 2025-01",
        ));
}

#[test]
fn refuses_held_charges_and_periods_that_were_not_built() {
    if !available() {
        return;
    }
    let server = Server::start(&[]);
    let dir = repo_on(server.port);
    let root = dir.path();
    send(root, &["2025-02"]).assert().code(1).stderr(
        predicate::str::contains("2025-02 has 1 held charge")
            .and(predicate::str::contains("--allow-held")),
    );
    assert!(server.messages().is_empty());
    send(root, &["2025-02", "--allow-held"]).assert().success();
    assert_eq!(server.messages().len(), 1);

    send(root, &["2025-03"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "statements for 2025-03 were not built: run `ocb build`",
        ));
    std::fs::remove_file(root.join("output/2025-01/statements/b-x-edu/p3.pdf")).unwrap();
    send(root, &["2025-01"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "statements for 2025-01 were not built",
        ));
    assert_eq!(server.messages().len(), 1);
}

/// A test CA and a server certificate for 127.0.0.1 signed by it, made with
/// `openssl` in `dir`: (ca.pem, server.pem, server.key).
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=ocb test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A copy of the built fixture that talks to `port` with `tls`, trusting `ca` if given.
fn repo_tls(port: u16, tls: &str, ca: Option<&Path>) -> tempfile::TempDir {
    let dir = repo_on(port);
    let config = dir.path().join("ocb.yaml");
    let mut smtp = format!("tls: {tls}");
    if let Some(ca) = ca {
        std::fs::copy(ca, dir.path().join("campus-ca.pem")).expect("copy CA");
        smtp.push_str(", ca_file: campus-ca.pem");
    }
    let text = read(&config).replace("tls: none", &smtp);
    std::fs::write(&config, text).expect("write ocb.yaml");
    dir
}

fn tls_delivers(mode: &str, flag: &str) {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(certs.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start(&[flag, cert, key]);
    let dir = repo_tls(server.port, mode, Some(&ca));
    send(dir.path(), &["2025-01", "-v"]).assert().success();
    let got = server.messages();
    assert_eq!(got.len(), 3, "one message per PI over {mode}");
    assert_eq!(deliveries(dir.path(), "2025-01").len(), 3);
}

#[test]
fn starttls_with_an_internal_ca_from_ca_file_delivers() {
    if !available() {
        return;
    }
    tls_delivers("starttls", "--starttls");
}

#[test]
fn implicit_tls_with_an_internal_ca_from_ca_file_delivers() {
    if !available() {
        return;
    }
    tls_delivers("tls", "--tls");
}

#[test]
fn a_certificate_that_does_not_verify_stops_with_host_and_reason_and_sends_nothing() {
    if !available() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (_, cert, key) = test_ca(certs.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    for (mode, flag) in [("starttls", "--starttls"), ("tls", "--tls")] {
        let server = Server::start(&[flag, cert, key]);
        // No ca_file: the test CA is unknown to the Mozilla roots.
        let dir = repo_tls(server.port, mode, None);
        send(dir.path(), &["2025-01"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "TLS with 127.0.0.1:{} failed",
                server.port
            )))
            .stderr(predicate::str::contains("UnknownIssuer"));
        assert!(server.messages().is_empty(), "nothing sent over {mode}");
        assert!(deliveries(dir.path(), "2025-01").is_empty());
    }
}

#[test]
fn starttls_never_falls_back_to_plain_text() {
    if !available() {
        return;
    }
    // A server that offers no STARTTLS at all.
    let server = Server::start(&[]);
    let dir = repo_tls(server.port, "starttls", None);
    send(dir.path(), &["2025-01"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "127.0.0.1:{}",
            server.port
        )))
        .stderr(predicate::str::contains("STARTTLS"));
    assert!(server.messages().is_empty());
}

#[test]
fn a_ca_file_that_holds_no_certificate_is_named_before_sending() {
    if !available() {
        return;
    }
    let server = Server::start(&[]);
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not a certificate\n").unwrap();
    let dir = repo_tls(server.port, "starttls", Some(junk.path()));
    send(dir.path(), &["2025-01"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("key `email.smtp.ca_file`: `"))
        .stderr(predicate::str::contains(
            "campus-ca.pem` holds no PEM certificate",
        ));
    assert!(server.messages().is_empty());
}
