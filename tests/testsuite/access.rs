//! Per-PI publishing (`site.access: per_pi`): the layout, a portal that
//! names nobody else, links that stay inside it, the admin site unchanged,
//! and a real nginx enforcing the generated rules.

use crate::common::{chromium_available, ocb, read, repo};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const A: &str = "a.lee@example.edu";
const B: &str = "b.kim@example.edu";
const ADMIN: &str = "rc-billing@example.edu";
const DELEGATE: &str = "lab.manager@example.edu";
const PORTAL_A: &str = "pi/a-lee-example-edu";
const PORTAL_B: &str = "pi/b-kim-example-edu";

fn files(dir: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).expect("inside").to_path_buf())
        .collect()
}

fn build(root: &Path, pdf: bool) {
    let mut cmd = ocb(root);
    cmd.arg("build");
    if !pdf {
        cmd.arg("--no-pdf");
    }
    cmd.assert().success();
}

/// A file's text; PDFs through pdftotext (their streams are compressed).
fn text_of(path: &Path) -> String {
    if path.extension().is_some_and(|e| e == "pdf") {
        let out = std::process::Command::new("pdftotext")
            .arg(path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils, installed by scripts/setup)");
        assert!(out.status.success(), "pdftotext {}", path.display());
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned()
}

/// What identifies a PI's data: email, name, project ids and names, funds,
/// resources, statement numbers and every total, as shown and as in CSV.
fn secrets(out: &Path, pi: &str) -> Vec<String> {
    let mut s: Vec<String> = vec![pi.to_string()];
    for period in ["2025-01", "2025-02"] {
        let (h, rows) = crate::common::csv_rows(out.join(format!("admin/{period}/statements.csv")));
        let col = |n: &str| h.iter().position(|x| x == n).expect(n);
        for r in rows.iter().filter(|r| r[col("pi_email")] == pi) {
            s.push(r[col("statement")].clone());
            s.push(r[col("project_id")].clone());
            s.push(r[col("fund_org")].clone());
            for c in ["list_cost", "billed_cost"] {
                let v: rust_decimal::Decimal = r[col(c)].parse().expect("decimal");
                s.push(format!("{v:.2}"));
            }
        }
    }
    s
}

#[test]
fn portals_name_nobody_else_and_stay_inside() {
    let pdf = chromium_available();
    let dir = repo("portals");
    build(dir.path(), pdf);
    let out = dir.path().join("output");
    for f in [
        "index.html",
        "static/style.css",
        "admin/index.html",
        "admin/summary.json",
        "admin/2025-01/journal.csv",
        "admin/2025-01/review.html",
        "_access/nginx.conf",
        "_access/nginx-http.conf",
        "_access/apache.conf",
        "_access/access.json",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    for portal in [PORTAL_A, PORTAL_B] {
        for f in [
            "index.html",
            "2025-01/index.html",
            "2025-01/charges.html",
            "2025-01/charges.csv",
            "2025-01/charges-data/index.js",
            "2025-01/statements.csv",
        ] {
            assert!(out.join(portal).join(f).is_file(), "missing {portal}/{f}");
        }
        for f in [
            "2025-01/journal.csv",
            "2025-01/review.html",
            "static/style.css",
            "summary.json",
        ] {
            assert!(
                !out.join(portal).join(f).exists(),
                "{portal}/{f} must not be in a portal"
            );
        }
    }
    assert!(
        !out.join("2025-01").exists(),
        "per_pi leaves no period folder at the root"
    );

    let mut seen = 0;
    for (portal, other) in [(PORTAL_A, B), (PORTAL_B, A)] {
        let mut forbidden = secrets(&out, other);
        forbidden.extend(["1,759.01", "1759.01", "1,811.54", "1811.54"].map(String::from));
        if other == B {
            forbidden.extend(
                [
                    "Dr. Bo Kim",
                    "Genome Atlas",
                    "i-genome-1",
                    "bucket-genome",
                    "55.55",
                ]
                .map(String::from),
            );
        } else {
            forbidden.extend(
                [
                    "Dr. Ada Lee",
                    "Ocean Model",
                    "Ice Sheets",
                    "i-ocean-1",
                    "bucket-ice",
                    "850.00",
                    "935.00",
                ]
                .map(String::from),
            );
        }
        for f in files(&out.join(portal)) {
            let path = out.join(portal).join(&f);
            let text = text_of(&path);
            for s in &forbidden {
                assert!(
                    !text.contains(s.as_str()),
                    "{portal}/{} contains `{s}`",
                    f.display()
                );
            }
            seen += 1;
        }
    }
    assert!(seen > 20, "portals have their files ({seen})");

    // What a PI relies on is there: their own statements and totals.
    let a_index = read(out.join(PORTAL_A).join("2025-01/index.html"));
    assert!(
        a_index.contains("$850.00") && a_index.contains("$120.00"),
        "{a_index}"
    );
    let b_statements = read(out.join(PORTAL_B).join("2025-02/statements.csv"));
    assert!(
        b_statements.contains("b.kim@example.edu,genome-atlas,NIH-7777,USD,900,23.46,876.54,1"),
        "{b_statements}"
    );
    let b_charges = read(out.join(PORTAL_B).join("2025-01/charges.csv"));
    assert!(
        b_charges.contains("bucket-genome") && b_charges.contains(",held,"),
        "B sees their own held charge: {b_charges}"
    );
    assert!(
        !b_charges.contains("bucket-orphan"),
        "charges of nobody are in no portal"
    );

    for portal in [PORTAL_A, PORTAL_B] {
        links_stay_inside(&out, portal, pdf);
    }
    if pdf {
        same_pdfs(&out);
    }
}

/// Every `href` and `src` in a portal's pages points to a file of the portal
/// or of the shared `static/` folder, and that file exists.
fn links_stay_inside(out: &Path, portal: &str, pdf: bool) {
    let re = regex::Regex::new(r#"(?:href|src)="([^"]*)""#).expect("regex");
    let base = out.join(portal);
    for f in files(&base)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "html"))
    {
        let page = base.join(&f);
        let html = read(&page);
        for cap in re.captures_iter(&html) {
            let link = cap[1].replace("&#x2f;", "/").replace("&amp;", "&");
            let link = link.as_str();
            if link.starts_with('#')
                || link.starts_with("mailto:")
                || (link.ends_with(".pdf") && !pdf)
            {
                continue;
            }
            assert!(
                !link.contains("://") && !link.starts_with('/'),
                "{portal}/{}: absolute link `{link}`",
                f.display()
            );
            let target = normalize(
                &page
                    .parent()
                    .expect("folder")
                    .join(link.split('#').next().unwrap_or("")),
            );
            let inside = target.starts_with(&base) || target.starts_with(out.join("static"));
            assert!(
                inside,
                "{portal}/{}: `{link}` leaves the portal",
                f.display()
            );
            assert!(
                target.is_file(),
                "{portal}/{}: `{link}` is missing",
                f.display()
            );
        }
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A portal's PDF is the admins' PDF, byte for byte (printed once).
fn same_pdfs(out: &Path) {
    let mut compared = 0;
    for f in files(&out.join(PORTAL_A))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "pdf"))
    {
        let name = f.file_name().expect("name");
        let period = f.components().next().expect("period");
        let admin = out
            .join("admin")
            .join(period)
            .join("statements/a-lee-example-edu")
            .join(name);
        assert_eq!(
            std::fs::read(out.join(PORTAL_A).join(&f)).expect("pdf"),
            std::fs::read(&admin).expect("admin pdf"),
            "{}",
            f.display()
        );
        compared += 1;
    }
    assert_eq!(compared, 3, "A has three statements over two periods");
}

#[test]
fn admin_site_is_the_public_site_unchanged() {
    let public = repo("portals");
    let yaml = read(public.path().join("ocb.yaml")).replace("access: per_pi", "access: public");
    std::fs::write(public.path().join("ocb.yaml"), yaml).expect("write");
    build(public.path(), false);
    let per_pi = repo("portals");
    build(per_pi.path(), false);
    let a = public.path().join("output");
    let b = per_pi.path().join("output/admin");
    assert_eq!(files(&a), files(&b));
    // The audit record digests ocb.yaml, which differs by `site.access` alone.
    let digest = |root: &Path| ocb::digest::sha256(&root.join("ocb.yaml")).expect("digest");
    let (da, db) = (digest(public.path()), digest(per_pi.path()));
    for f in files(&a) {
        let read = |dir: &Path, d: &str| {
            String::from_utf8_lossy(&std::fs::read(dir.join(&f)).expect("read"))
                .replace(d, "<ocb.yaml>")
        };
        assert!(
            read(&a, &da) == read(&b, &db),
            "admin/{} differs from the public site",
            f.display()
        );
    }
}

#[test]
fn a_login_that_would_break_the_server_rules_is_refused() {
    let dir = repo("portals");
    let p = dir.path().join("projects.yaml");
    std::fs::write(
        &p,
        read(&p).replace("[lab.manager@example.edu]", "[\"x; }\"]"),
    )
    .expect("write");
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "projects.yaml: project `ocean-model`: `x; }` is not a login",
        ));
    let c = dir.path().join("ocb.yaml");
    std::fs::write(
        &c,
        read(&c).replace("[rc-billing@example.edu]", "[\"$remote_user\"]"),
    )
    .expect("write");
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "ocb.yaml: key `site.admins`: `$remote_user` is not a login",
        ));
}

#[test]
fn send_links_each_pi_to_their_portal() {
    if !chromium_available() {
        return;
    }
    let dir = repo("portals");
    build(dir.path(), true);
    ocb(dir.path())
        .args(["send", "--period", "2025-02"])
        .assert()
        .success();
    let emails = dir.path().join("output/admin/emails/2025-02");
    let a = read(emails.join("a-lee-example-edu.eml"));
    assert!(
        a.contains("https://billing.example.edu/pi/a-lee-example-edu/"),
        "{a}"
    );
    assert!(!a.contains("pi/b-kim"), "{a}");
    let b = read(emails.join("b-kim-example-edu.eml"));
    assert!(
        b.contains("https://billing.example.edu/pi/b-kim-example-edu/"),
        "{b}"
    );
    assert!(
        !dir.path().join("output/emails").exists(),
        "emails stay in the admins' folder"
    );
}

// ---- a real nginx -----------------------------------------------------------

fn nginx_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "nginx is missing in CI (scripts/setup installs it)"
        );
        eprintln!(
            "skipping: nginx not found (scripts/setup installs it; in CI this test never skips)"
        );
    }
    found
}

/// `user:$apr1$…` from `openssl passwd -apr1`.
fn htpasswd_line(user: &str, password: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["passwd", "-apr1", password])
        .output()
        .expect("openssl (installed by scripts/setup)");
    assert!(out.status.success());
    format!("{user}:{}", String::from_utf8_lossy(&out.stdout).trim())
}

struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Status, Location header and body of `GET path` as `user` (None: anonymous).
fn get(port: u16, path: &str, user: Option<&str>) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let auth = user
        .map(|u| {
            format!(
                "Authorization: Basic {}\r\n",
                base64(format!("{u}:pw-{u}").as_bytes())
            )
        })
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: billing.test\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap_or("")
        .to_string();
    (status, location, raw[split + 4..].to_vec())
}

/// Basic auth with a password file for `users` (password `pw-<user>`).
fn basic_auth(run: &Path, users: &[&str]) -> String {
    let lines: Vec<String> = users
        .iter()
        .map(|u| htpasswd_line(u, &format!("pw-{u}")))
        .collect();
    std::fs::write(run.join("htpasswd"), lines.join("\n") + "\n").expect("htpasswd");
    format!(
        "auth_basic \"billing\";\n    auth_basic_user_file {}/htpasswd;",
        run.display()
    )
}

/// nginx serving `out` with `auth` and the generated rules, on a free port.
fn start_nginx(nginx: &Path, out: &Path, run: &Path, auth: &str) -> (Nginx, u16) {
    let port = free_port();
    let r = run.display();
    let o = out.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nuser root;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
         client_body_temp_path {r}/client; proxy_temp_path {r}/proxy; fastcgi_temp_path {r}/fastcgi; uwsgi_temp_path {r}/uwsgi; scgi_temp_path {r}/scgi;\n  \
         include {o}/_access/nginx-http.conf;\n  server {{\n    listen 127.0.0.1:{port};\n    root {o};\n    \
         {auth}\n    include {o}/_access/nginx.conf;\n  }}\n}}\n"
    );
    std::fs::write(run.join("nginx.conf"), conf).expect("conf");
    let child = std::process::Command::new(nginx)
        .arg("-c")
        .arg(run.join("nginx.conf"))
        .arg("-p")
        .arg(run)
        .arg("-e")
        .arg(run.join("error.log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nginx");
    let guard = Nginx(child);
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed().as_secs() < 15,
            "nginx did not start: {}",
            std::fs::read_to_string(run.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (guard, port)
}

#[test]
fn nginx_serves_each_pi_only_their_portal() {
    let Some(nginx) = nginx_binary() else { return };
    let pdf = chromium_available();
    let dir = repo("portals");
    build(dir.path(), pdf);
    let out = dir.path().join("output");
    let run = tempfile::tempdir().expect("tmp");
    let nobody = "visitor@example.edu";
    let auth = basic_auth(run.path(), &[A, B, ADMIN, DELEGATE, nobody]);
    let (_nginx, port) = start_nginx(&nginx, &out, run.path(), &auth);

    let stmt_a = format!("/{PORTAL_A}/2025-01/statements/a-lee-example-edu/ocean-model.html");
    let pdf_a = stmt_a.replace(".html", ".pdf");
    let portal_b = format!("/{PORTAL_B}/index.html");
    let stmt_b = format!("/{PORTAL_B}/2025-01/statements/b-kim-example-edu/genome-atlas.html");
    let admin = "/admin/index.html";
    let mut cases: Vec<(&str, &str, u16)> = vec![
        (A, &stmt_a, 200),
        (A, &portal_b, 403),
        (A, &stmt_b, 403),
        (A, admin, 403),
        (A, "/admin/2025-01/journal.csv", 403),
        (A, "/static/style.css", 200),
        (DELEGATE, &stmt_a, 200),
        (DELEGATE, &stmt_b, 403),
        (B, &stmt_b, 200),
        (B, &stmt_a, 403),
        (ADMIN, &stmt_a, 200),
        (ADMIN, &stmt_b, 200),
        (ADMIN, admin, 200),
        (ADMIN, "/admin/2025-01/review.html", 200),
        (nobody, &stmt_a, 403),
        (nobody, admin, 403),
        (nobody, "/", 200),
        (ADMIN, "/_access/access.json", 404),
        (A, "/pi/no-such-pi/index.html", 404),
    ];
    if pdf {
        cases.extend([
            (A, pdf_a.as_str(), 200),
            (B, pdf_a.as_str(), 403),
            (ADMIN, pdf_a.as_str(), 200),
        ]);
    }
    for (user, path, want) in &cases {
        let (status, _, _) = get(port, path, Some(user));
        assert_eq!(status, *want, "{user} GET {path}");
    }
    for path in [stmt_a.as_str(), admin, "/", "/static/style.css"] {
        assert_eq!(get(port, path, None).0, 401, "anonymous GET {path}");
    }
    let (status, body_ok, body) = get(port, &stmt_a, Some(A));
    assert_eq!(status, 200);
    assert!(body_ok.is_empty() && String::from_utf8_lossy(&body).contains("$850.00"));
    if pdf {
        let (_, _, bytes) = get(port, &pdf_a, Some(A));
        assert!(bytes.starts_with(b"%PDF"), "the PDF itself");
    }
    // `/` sends each user to their own portal.
    for (user, home) in [
        (A, format!("/{PORTAL_A}/")),
        (DELEGATE, format!("/{PORTAL_A}/")),
        (B, format!("/{PORTAL_B}/")),
        (ADMIN, "/admin/".to_string()),
    ] {
        let (status, location, _) = get(port, "/", Some(user));
        assert_eq!(
            (status, location.as_str()),
            (302, home.as_str()),
            "{user} GET /"
        );
    }
    let (_, _, landing) = get(port, "/", Some(nobody));
    assert!(
        String::from_utf8_lossy(&landing).contains("no statements are published for your login")
    );
}

/// A stand-in for an SSO proxy's `auth_request` endpoint: 202 with the user's
/// email for a request that carries one (as a session would), else 401.
const SSO: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        user = self.headers.get("X-Session-User")
        self.send_response(202 if user else 401)
        if user:
            self.send_header("X-Auth-Request-Email", user)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

fn status_with_session(port: u16, path: &str, user: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let session = user
        .map(|u| format!("X-Session-User: {u}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: billing.test\r\n{session}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}

#[test]
fn nginx_with_sso_auth_request_uses_the_proxys_user() {
    let Some(nginx) = nginx_binary() else { return };
    let dir = repo("portals");
    build(dir.path(), false);
    let out = dir.path().join("output");
    let run = tempfile::tempdir().expect("tmp");
    let sso_port = free_port();
    let _sso = Nginx(
        std::process::Command::new("python3")
            .args(["-c", SSO, &sso_port.to_string()])
            .spawn()
            .expect("python3"),
    );
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", sso_port)).is_err() {
        assert!(
            start.elapsed().as_secs() < 15,
            "the SSO stand-in did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let auth = format!(
        "auth_request /_sso;\n    auth_request_set $ocb_sso_login $upstream_http_x_auth_request_email;\n    \
         location = /_sso {{ internal; proxy_pass http://127.0.0.1:{sso_port}; proxy_pass_request_body off; proxy_set_header Content-Length \"\"; }}"
    );
    let (_nginx, port) = start_nginx(&nginx, &out, run.path(), &auth);
    let stmt_a = format!("/{PORTAL_A}/2025-01/statements/a-lee-example-edu/ocean-model.html");
    for (user, path, want) in [
        (Some(A), stmt_a.as_str(), 200),
        (Some(B), stmt_a.as_str(), 403),
        (Some(A), "/admin/index.html", 403),
        (Some(ADMIN), "/admin/index.html", 200),
        (None, stmt_a.as_str(), 401),
    ] {
        assert_eq!(
            status_with_session(port, path, user),
            want,
            "{user:?} GET {path}"
        );
    }
}
