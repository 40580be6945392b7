//! The desk of `ocb serve`: paths stay inside output/, only this server's own
//! pages can write (Host, Origin, token), uploads are limited and cleaned,
//! and each action is the file change the CLI would make.

use crate::common::{ocb, read, repo};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A running `ocb serve` on a free port, stopped when dropped.
pub struct Server {
    pub port: u16,
    child: std::process::Child,
    pub token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Response {
    pub code: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn serve(root: &Path, extra: &[&str]) -> Server {
    let port = free_port();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ocb"))
        .arg("--root")
        .arg(root)
        .args(["serve", "--no-pdf", "--port", &port.to_string()])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        port,
        child,
        token: String::new(),
    };
    let start = Instant::now();
    loop {
        if let Some(r) = server.try_request("GET", "/__ocb_build", &[], b"")
            && r.code == 200
            && r.body != "0"
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let page = server.get("/__desk/");
    let token = page
        .body
        .split("window.ocbDesk={token:\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("the desk token in a served page");
    server.token = token.to_string();
    assert!(
        page.head.contains(&format!(
            "Set-Cookie: ocb_desk_{port}={token}; Path=/; SameSite=Strict; HttpOnly"
        )),
        "cookie missing: {}",
        page.head
    );
    server
}

impl Server {
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn cookie(&self) -> String {
        format!("ocb_desk_{}={}", self.port, self.token)
    }

    /// A raw HTTP/1.1 request (the Host is this server unless given).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Response> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.host()));
        }
        if !headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        }) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).ok()?;
        // The server may answer (and close) before reading a refused body.
        let _ = s.write_all(body);
        let mut bytes = Vec::new();
        let _ = s.read_to_end(&mut bytes);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        Some(Response {
            code,
            head: head.to_string(),
            body: body.to_string(),
        })
    }

    pub fn get(&self, path: &str) -> Response {
        self.try_request("GET", path, &[], b"")
            .unwrap_or_else(|| panic!("no answer to GET {path}"))
    }

    /// A POST as the desk's own pages send it: token header and cookie.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Response {
        let cookie = self.cookie();
        self.try_request(
            "POST",
            path,
            &[
                ("X-Ocb-Token", &self.token),
                ("Cookie", &cookie),
                ("Content-Type", "application/json"),
                ("Origin", &format!("http://{}", self.host())),
            ],
            body.to_string().as_bytes(),
        )
        .unwrap_or_else(|| panic!("no answer to POST {path}"))
    }
}

/// A held charge that a plain approval bills: fully attributed, but its
/// fund/org matches none of the fixture's patterns.
pub const HELD_ROW: &str = "2025-01-01,USD,EC2,Compute,i-7,Usage,1,Hours,4.00,4.00,,\"{\"\"pi_email\"\":\"\"b@x.edu\"\",\"\"project_id\"\":\"\"p2\"\",\"\"fund_org\"\":\"\"DOE-7\"\"}\"\n";

pub fn repo_with_held() -> tempfile::TempDir {
    let dir = repo("basic");
    let aws = dir.path().join("periods/2025-01/aws.csv");
    let mut text = read(&aws);
    text.push_str(HELD_ROW);
    std::fs::write(&aws, text).unwrap();
    dir
}

/// The id of the held charge on resource `resource`, from the desk's API.
pub fn held_id(server: &Server, resource: &str) -> String {
    let held = server.get("/__desk/api/held?period=2025-01").json();
    held["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource_id"] == resource)
        .unwrap_or_else(|| panic!("{resource} is not held: {held}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn traversal_variants_stay_inside_output() {
    let dir = repo("basic");
    std::fs::write(dir.path().join("secret.txt"), "TOP SECRET").unwrap();
    std::fs::create_dir_all(dir.path().join("output")).unwrap();
    let server = serve(dir.path(), &[]);
    assert_eq!(server.get("/2025-01/index.html").code, 200);
    assert_eq!(server.get("/2025-01/../index.html").code, 200);
    for path in [
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/%252e%252e%252fsecret.txt",
        "/..%252fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/2025-01/..%2f..%2fsecret.txt",
        "/index.html%00",
        "/%00/../secret.txt",
        "/__desk/preview/..%2f..%2fsecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
    ] {
        let r = server.get(path);
        assert_eq!(r.code, 404, "{path} answered {}", r.code);
        assert!(!r.body.contains("TOP SECRET"), "{path} leaked the file");
    }
}

#[test]
fn foreign_hosts_origins_and_tokenless_posts_are_refused() {
    let dir = repo_with_held();
    let server = serve(dir.path(), &[]);
    let id = held_id(&server, "i-7");
    let review = dir.path().join("periods/2025-01/review.yaml");
    let approve = serde_json::json!({"period": "2025-01", "charge": id, "decision": "approve", "write": true});
    let body = approve.to_string();
    let cookie = server.cookie();
    let origin = format!("http://{}", server.host());

    // DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host.
    for host in [
        "evil.example",
        &format!("evil.example:{}", server.port),
        "127.0.0.1",
    ] {
        let r = server
            .try_request("GET", "/2025-01/index.html", &[("Host", host)], b"")
            .unwrap();
        assert_eq!(r.code, 403, "Host {host}");
        assert!(!r.body.contains("$12.17"));
    }
    let mut refused = vec![
        // A cross-site form post or fetch: no token header, and no cookie (SameSite=Strict).
        vec![("Content-Type", "application/json")],
        // The cookie alone is not enough; nor is the header alone.
        vec![("Cookie", cookie.as_str())],
        vec![("X-Ocb-Token", server.token.as_str())],
        vec![("X-Ocb-Token", "0000"), ("Cookie", cookie.as_str())],
    ];
    // A foreign Origin is refused even with the token.
    for o in ["http://evil.example", "null", "https://127.0.0.1"] {
        refused.push(vec![
            ("X-Ocb-Token", server.token.as_str()),
            ("Cookie", cookie.as_str()),
            ("Origin", o),
        ]);
    }
    for headers in &refused {
        let r = server
            .try_request("POST", "/__desk/api/review", headers, body.as_bytes())
            .unwrap();
        assert_eq!(r.code, 403, "{headers:?}: {}", r.body);
        assert!(!review.exists(), "{headers:?} wrote review.yaml");
    }
    let ok = server
        .try_request(
            "POST",
            "/__desk/api/review",
            &[
                ("X-Ocb-Token", server.token.as_str()),
                ("Cookie", cookie.as_str()),
                ("Origin", origin.as_str()),
            ],
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(ok.code, 200, "{}", ok.body);
    assert!(read(&review).contains(&format!("- charge: {id}")));
}

#[test]
fn binds_loopback_only() {
    let dir = repo("basic");
    let server = serve(dir.path(), &[]);
    let tcp = read("/proc/net/tcp");
    let listening: Vec<&str> = tcp
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[3] == "0A" && f[1].ends_with(&format!(":{:04X}", server.port))
        })
        .collect();
    assert_eq!(listening.len(), 1, "{listening:?}");
    assert!(
        listening[0]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .starts_with("0100007F:"),
        "listens on {}",
        listening[0]
    );
}

#[test]
fn uploads_are_limited_and_names_cleaned() {
    let dir = repo("basic");
    let server = serve(dir.path(), &["--max-upload-mb", "1"]);
    let cookie = server.cookie();
    let auth = |name: &'static str| {
        vec![
            ("X-Ocb-Token", server.token.clone()),
            ("Cookie", cookie.clone()),
            ("X-Ocb-Name", name.to_string()),
        ]
    };
    let send = |headers: &[(&str, String)], body: &[u8], url: &str| {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        server.try_request("POST", url, &h, body).unwrap()
    };
    let big = vec![b'x'; (1 << 20) + 1];
    let r = send(&auth("big.csv"), &big, "/__desk/api/upload");
    assert_eq!(r.code, 413, "{}", r.body);
    assert!(
        r.body.contains("larger than the limit of 1 MiB"),
        "{}",
        r.body
    );
    // A body that does not say its length up front is cut off at the limit too.
    let mut chunked = auth("big.csv");
    chunked.push(("Transfer-Encoding", "chunked".to_string()));
    let mut body = format!("{:x}\r\n", big.len()).into_bytes();
    body.extend_from_slice(&big);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(send(&chunked, &body, "/__desk/api/upload").code, 413);

    let r = send(&auth("..%2F..%2Fevil.csv"), b"a,b\n", "/__desk/api/upload");
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "evil.csv");
    let batch = r.json()["batch"].as_str().unwrap().to_string();
    let r = send(
        &auth("%2Fetc%2Fpasswd"),
        b"a,b\n",
        &format!("/__desk/api/upload?batch={batch}"),
    );
    assert_eq!(r.json()["name"], "etc/passwd");
    let r = send(
        &auth("C%3A%5Cdata%5C.hidden%20file.csv"),
        b"a,b\n",
        &format!("/__desk/api/upload?batch={batch}"),
    );
    assert_eq!(r.json()["name"], "C_/data/hidden_file.csv");
    assert_eq!(send(&auth("..%2F.."), b"a", "/__desk/api/upload").code, 400);
    assert_eq!(
        send(&auth("x.csv"), b"a", "/__desk/api/upload?batch=..%2F..").code,
        400
    );
    for place in [
        dir.path().join("evil.csv"),
        dir.path().parent().unwrap().join("evil.csv"),
    ] {
        assert!(!place.exists(), "{} was written", place.display());
    }
    // The count limit: a batch takes at most 200 files.
    for i in 3..200 {
        let name: &'static str = Box::leak(format!("f{i}.csv").into_boxed_str());
        assert_eq!(
            send(
                &auth(name),
                b"a",
                &format!("/__desk/api/upload?batch={batch}")
            )
            .code,
            200
        );
    }
    let r = send(
        &auth("one-more.csv"),
        b"a",
        &format!("/__desk/api/upload?batch={batch}"),
    );
    assert_eq!(r.code, 413, "{}", r.body);
    assert!(r.body.contains("at most 200 files"));
}

#[test]
fn review_decisions_are_checked_shown_then_appended() {
    let dir = repo_with_held();
    let review = dir.path().join("periods/2025-01/review.yaml");
    std::fs::write(&review, "# our notes stay\n").unwrap();
    let server = serve(dir.path(), &[]);
    let id = held_id(&server, "i-7");
    let untagged = held_id(&server, "b-untagged");

    // Preview: the entry, what it does, and nothing written.
    let r = server.post("/__desk/api/review", &serde_json::json!({"period": "2025-01", "charge": id, "decision": "approve", "note": "DOE grant: ok: \"yes\""}));
    assert_eq!(r.code, 200, "{}", r.body);
    let entry = r.json()["entry"].as_str().unwrap().to_string();
    assert!(
        entry.starts_with(&format!(
            "- charge: {id}\n  flag: invalid_fund_org\n  decision: approve\n"
        )),
        "{entry}"
    );
    assert_eq!(r.json()["effect"]["states"]["billed"], 1);
    assert_eq!(read(&review), "# our notes stay\n");

    // An approval that cannot bill (no PI) is refused with the located problem.
    let r = server.post("/__desk/api/review", &serde_json::json!({"period": "2025-01", "charge": untagged, "decision": "approve", "write": true}));
    assert_eq!(r.code, 422, "{}", r.body);
    assert!(
        r.body
            .contains("periods/2025-01/review.yaml:4: `decision: approve` cannot bill it"),
        "{}",
        r.body
    );
    // So is a reassignment to something that is not an email address.
    let r = server.post("/__desk/api/review", &serde_json::json!({"period": "2025-01", "charge": untagged, "decision": "reassign", "set": {"pi_email": "nobody"}, "write": true}));
    assert_eq!(r.code, 422);
    assert!(
        r.body
            .contains("set.pi_email: `nobody` is not an email address"),
        "{}",
        r.body
    );
    assert_eq!(read(&review), "# our notes stay\n");

    // Written: appended after what was there, with who and when; rebuilt.
    let r = server.post("/__desk/api/review", &serde_json::json!({"period": "2025-01", "charge": id, "decision": "approve", "note": "DOE grant: ok: \"yes\"", "write": true}));
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["build"]["ok"], true);
    let text = read(&review);
    assert!(
        text.starts_with("# our notes stay\n\n# added by the desk (`ocb serve`) on "),
        "{text}"
    );
    assert!(text.ends_with(&entry), "{text}");
    assert!(
        text.contains("  note: 'DOE grant: ok: \"yes\"'\n")
            || text.contains("  note: \"DOE grant: ok: \\\"yes\\\"\"\n"),
        "{text}"
    );
    assert!(text.contains("  by: "), "{text}");
    let charges = read(dir.path().join("output/2025-01/charges.csv"));
    let line = charges.lines().find(|l| l.contains(&id)).unwrap();
    assert!(line.contains(",billed,"), "{line}");
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();

    // A bulk rule: reassign everything held from S3.
    let r = server.post("/__desk/api/review", &serde_json::json!({"period": "2025-01", "match": {"source": "aws", "service_name": "S3"}, "decision": "reassign", "set": {"pi_email": "b@x.edu", "project_id": "p2", "fund_org": "NIH-2"}, "note": "lab bucket", "write": true}));
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(r.json()["entry"].as_str().unwrap().starts_with("- match:\n    source: aws\n    service_name: S3\n  decision: reassign\n  set:\n    pi_email: b@x.edu\n"), "{}", r.json()["entry"]);
    assert_eq!(
        server.get("/__desk/api/held?period=2025-01").json()["held"],
        serde_json::json!([])
    );
    // A rule that matches no held charge writes nothing.
    let before = read(&review);
    let r = server.post("/__desk/api/review", &serde_json::json!({"period": "2025-01", "match": {"source": "hpc"}, "decision": "reject", "write": true}));
    assert_eq!(r.code, 404);
    assert_eq!(read(&review), before);
}

#[test]
fn close_reopen_and_email_preview() {
    let dir = repo("basic");
    let server = serve(dir.path(), &[]);
    let yaml = dir.path().join("periods/2025-02/period.yaml");
    let r = server.post(
        "/__desk/api/close",
        &serde_json::json!({"period": "2025-02"}),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(read(&yaml).contains("status: closed"));
    assert_eq!(
        server
            .post(
                "/__desk/api/close",
                &serde_json::json!({"period": "2025-02"})
            )
            .code,
        409
    );
    let r = server.post(
        "/__desk/api/reopen",
        &serde_json::json!({"period": "2025-02", "reason": " "}),
    );
    assert_eq!(r.code, 400);
    assert!(read(&yaml).contains("status: closed"));
    let r = server.post(
        "/__desk/api/reopen",
        &serde_json::json!({"period": "2025-02", "reason": "late AWS credit"}),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    let text = read(&yaml);
    assert!(
        text.contains("status: open") && text.contains("reason: late AWS credit"),
        "{text}"
    );
    assert_eq!(
        server
            .post(
                "/__desk/api/close",
                &serde_json::json!({"period": "2099-01"})
            )
            .code,
        404
    );

    // Emails need the PDFs: this server was started with --no-pdf.
    let r = server.post(
        "/__desk/api/emails",
        &serde_json::json!({"period": "2025-01"}),
    );
    assert_eq!(r.code, 409, "{}", r.body);
    assert!(r.body.contains("was it built with --no-pdf?"), "{}", r.body);
}

#[test]
fn email_preview_is_written_aside_and_nothing_is_sent() {
    if !crate::common::chromium_available() {
        return;
    }
    let dir = repo("basic");
    let port = free_port();
    // With PDFs this time: a preview attaches them.
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ocb"))
        .arg("--root")
        .arg(dir.path())
        .args(["serve", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        port,
        child,
        token: String::new(),
    };
    let start = Instant::now();
    while server
        .try_request("GET", "/__ocb_build", &[], b"")
        .is_none_or(|r| r.body != "1")
    {
        assert!(start.elapsed() < Duration::from_secs(120), "no build");
        std::thread::sleep(Duration::from_millis(200));
    }
    let page = server.get("/__desk/");
    server.token = page
        .body
        .split("token:\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = server.post(
        "/__desk/api/emails",
        &serde_json::json!({"period": "2025-01"}),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["messages"], 2);
    let url = r.json()["url"].as_str().unwrap().to_string();
    let index = server.get(&url);
    assert_eq!(index.code, 200);
    assert!(
        index.body.contains("Dev mode preview: nothing was sent") && index.body.contains("a@x.edu")
    );
    let one = server.get(&url.replace("index.html", "a-x-edu.html"));
    let body = one.body.replace("&#x2f;", "/");
    let pdf = body
        .split("href=\"../../")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let attached = server.get(&format!("/__desk/preview/{pdf}"));
    assert_eq!(attached.code, 200);
    assert!(attached.head.contains("Content-Type: application/pdf"));
    assert!(!dir.path().join("periods/2025-01/deliveries.yaml").exists());
    assert!(!dir.path().join("output/emails").exists());
}

#[test]
fn build_output_has_no_desk() {
    let dir = repo("basic");
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .success();
    let mut files = 0;
    for entry in walkdir::WalkDir::new(dir.path().join("output"))
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for needle in ["__desk", "ocbDesk", "X-Ocb-Token", "__ocb_build"] {
            assert!(
                !text.contains(needle),
                "{} contains {needle}",
                entry.path().display()
            );
        }
        assert!(
            !entry.path().to_string_lossy().contains("desk"),
            "{}",
            entry.path().display()
        );
        files += 1;
    }
    assert!(files > 20, "only {files} files");
}
