//! The static site: golden files, links, escaping, and a real browser.

use crate::common::{chromium_available, ocb, read, repo};
use std::path::Path;

fn build(root: &Path) {
    ocb(root).args(["build", "--no-pdf"]).assert().success();
}

/// Expected outputs of the `basic` fixture, reviewed by hand. Refresh with
/// `OCB_BLESS=1 cargo test --test testsuite golden` and review the diff.
const GOLDEN: &[&str] = &[
    "index.html",
    "summary.json",
    "2025-01/index.html",
    "2025-01/review.html",
    "2025-01/statements/a-x-edu/p1.html",
    "2025-01/charges.csv",
    "2025-01/statements.csv",
    "2025-01/journal.csv",
    "pis/a-x-edu.html",
];

#[test]
fn golden_files() {
    let dir = repo("basic");
    build(dir.path());
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/basic.expected");
    let bless = std::env::var("OCB_BLESS").is_ok_and(|v| v == "1");
    for name in GOLDEN {
        let got = read(dir.path().join("output").join(name));
        let want_path = expected.join(name);
        if bless {
            std::fs::create_dir_all(want_path.parent().unwrap()).unwrap();
            std::fs::write(&want_path, &got).unwrap();
            continue;
        }
        let want = read(&want_path);
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{name} differs from tests/fixtures/basic.expected/{name} at line {}:\n got: {}\nwant: {}",
                line + 1,
                got.lines().nth(line).unwrap_or(""),
                want.lines().nth(line).unwrap_or("")
            );
        }
    }
}

#[test]
fn every_relative_link_resolves() {
    let dir = repo("basic");
    build(dir.path());
    let out = dir.path().join("output");
    let re = regex::Regex::new(r#"(?:href|src)="([^"]+)""#).unwrap();
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(&out)
        .into_iter()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "html"))
    {
        let html = read(entry.path());
        for cap in re.captures_iter(&html) {
            let link = cap[1].replace("&#x2f;", "/").replace("&amp;", "&");
            let link = link.as_str();
            if link.starts_with("http") || link.starts_with("mailto:") || link.starts_with('#') {
                continue;
            }
            assert!(
                !link.starts_with('/'),
                "absolute link {link} in {}",
                entry.path().display()
            );
            // No exception for PDFs: a --no-pdf build must not link them (issue 16).
            let target = link.split(['#', '?']).next().unwrap();
            let resolved = entry.path().parent().unwrap().join(target);
            assert!(
                resolved.exists(),
                "{} links to missing {link}",
                entry.path().display()
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} links checked");
}

#[test]
fn data_is_escaped_everywhere() {
    let dir = repo("basic");
    let evil = r#""{""pi_email"":""<script>alert(1)</script>@x.edu"",""project_id"":""<script>alert(1)</script>"",""fund_org"":""NSF-9""}""#;
    std::fs::write(
        dir.path().join("periods/2025-01/evil.csv"),
        format!("BillingPeriodStart,BilledCost,ServiceName,ResourceId,Tags\n2025-01-01,1.00,<img src=x onerror=alert(2)>,\"<b>res</b>\",{evil}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("periods/2025-01/review.yaml"),
        "- match: {source: evil}\n  decision: approve\n  note: \"<i>ok</i>\"\n",
    )
    .unwrap();
    build(dir.path());
    let out = dir.path().join("output");
    let mut pages = 0;
    for entry in walkdir::WalkDir::new(&out)
        .into_iter()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "html"))
    {
        let html = read(entry.path());
        for raw in ["<script>alert(1)", "<img src=x", "<b>res</b>", "<i>ok</i>"] {
            assert!(
                !html.contains(raw),
                "{} contains unescaped {raw}",
                entry.path().display()
            );
        }
        pages += 1;
    }
    assert!(pages > 5);
    let review = read(out.join("2025-01/review.html"));
    assert!(
        review.contains("&lt;img src=x onerror=alert(2)&gt;")
            && review.contains("&lt;i&gt;ok&lt;&#x2f;i&gt;"),
        "escaped text missing"
    );
    // The project slug cannot leave its folder.
    assert!(out.join("projects/script-alert-1-script.html").exists());
}

#[test]
fn theme_overrides_win_by_path_and_errors_name_the_file() {
    let dir = repo("basic");
    std::fs::create_dir_all(dir.path().join("themes/campus/templates")).unwrap();
    std::fs::create_dir_all(dir.path().join("themes/campus/static")).unwrap();
    std::fs::write(
        dir.path().join("themes/campus/static/style.css"),
        "body { color: teal; }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("themes/campus/static/logo.svg"), "<svg/>").unwrap();
    std::fs::write(
        dir.path().join("themes/campus/templates/history.html"),
        "{% extends \"base.html\" %}{% block main %}CAMPUS {{ title }}{% endblock %}",
    )
    .unwrap();
    let config = read(dir.path().join("ocb.yaml"));
    std::fs::write(
        dir.path().join("ocb.yaml"),
        format!("{config}site: {{theme: campus}}\n"),
    )
    .unwrap();
    build(dir.path());
    let out = dir.path().join("output");
    assert_eq!(
        read(out.join("static/style.css")),
        "body { color: teal; }\n"
    );
    assert!(out.join("static/logo.svg").exists() && out.join("static/charges.js").exists());
    assert!(read(out.join("pis/a-x-edu.html")).contains("CAMPUS Dr. A (a@x.edu)"));
    std::fs::write(
        dir.path().join("themes/campus/templates/history.html"),
        "{% extends \"base.html\" %}\n{% block main %}\n{{ title | nosuchfilter }}{% endblock %}",
    )
    .unwrap();
    ocb(dir.path())
        .args(["build", "--no-pdf"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "themes/campus/templates/history.html:3",
        ));
}

/// Real headless Chromium: load the dashboard and the charges page from disk,
/// filter, sort, and toggle dark mode (remembered across a reload).
#[test]
fn browser_filters_charges_and_toggles_dark_mode() {
    if !chromium_available() {
        return;
    }
    let dir = repo("basic");
    build(dir.path());
    let out = dir.path().join("output");
    // Over HTTP, as the site is published: one origin, whose localStorage
    // Chromium keeps (file:// pages lost the theme choice under load).
    let base = serve_static(&out);
    let chrome = ocb::pdf::Chrome::launch(&ocb::pdf::find_chrome(None).unwrap()).unwrap();
    let tab = chrome.tab().unwrap();
    let eval = |js: &str| {
        tab.evaluate(js, false)
            .unwrap()
            .value
            .unwrap_or(serde_json::Value::Null)
    };

    ocb::pdf::open(&tab, &format!("{base}/index.html")).unwrap();
    assert_eq!(
        eval("document.querySelector('h1').textContent"),
        "Dashboard"
    );
    assert_eq!(
        eval("document.querySelectorAll('svg.chart polyline').length"),
        4
    );

    ocb::pdf::open(&tab, &format!("{base}/2025-01/charges.html")).unwrap();
    // Shards load as scripts after the page: wait for the count.
    let count = |want: &str| {
        for _ in 0..200 {
            if eval("document.getElementById('count').textContent") == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert_eq!(eval("document.getElementById('count').textContent"), want);
    };
    count("7 of 7 charges");
    assert_eq!(eval("document.getElementById('filters').hidden"), false);
    eval(
        "var s = document.getElementById('f-state'); s.value = 'held'; s.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    count("1 of 7 charges");
    assert_eq!(
        eval("document.querySelector('#charges tbody td:nth-child(8)').textContent"),
        "b-untagged"
    );
    // A charge id finds its charge through the id lookup and its one shard.
    let id = eval("document.querySelector('#charges tbody code').textContent");
    eval(
        "var s = document.getElementById('f-state'); s.value = ''; s.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    eval(&format!(
        "var q = document.getElementById('f-q'); q.value = {id}; q.dispatchEvent(new Event('input', {{bubbles: true}}));"
    ));
    count("1 of 7 charges");
    assert_eq!(
        eval("document.querySelector('#charges tbody code').textContent"),
        id
    );
    eval(
        "var q = document.getElementById('f-q'); q.value = ''; q.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    eval(
        "var s = document.getElementById('f-state'); s.value = ''; s.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    eval(
        "document.querySelector('th[data-key=n] button').click(); document.querySelector('th[data-key=n] button').click();",
    );
    count("7 of 7 charges");
    // An id no charge has, in an id file that was never written (no id
    // starts with its first character): nothing is found, nothing hangs.
    let firsts = eval(
        "Array.from(document.querySelectorAll('#charges tbody code')).map(function (c) { return c.textContent[0]; }).join('')",
    );
    let firsts = firsts.as_str().unwrap_or("").to_string();
    let free = "0123456789abcdef"
        .chars()
        .find(|c| !firsts.contains(*c))
        .unwrap();
    let search = |q: &str| {
        eval(&format!(
            "var q = document.getElementById('f-q'); q.value = '{q}'; q.dispatchEvent(new Event('input', {{bubbles: true}}));"
        ))
    };
    search(&format!("{free}00000000000"));
    count("0 of 7 charges");
    search("");
    count("7 of 7 charges");
    assert_eq!(
        eval("document.querySelector('#charges tbody td:nth-child(10)').textContent"),
        "$8.50"
    );
    // Its texts and place, written once per shard, read back whole.
    let cells = eval(
        "Array.from(document.querySelectorAll('#charges tbody tr:first-child td')).map(function (td) { return td.textContent; }).join('|')",
    );
    let cells = cells.as_str().unwrap_or("");
    assert!(
        cells.contains("|billed|") && cells.contains("|$8.50|"),
        "{cells}"
    );
    let at = cells.rsplit('|').next().unwrap_or("");
    let (file, line) = at.split_once(':').unwrap_or(("", ""));
    assert!(
        file.ends_with(".csv") && line.parse::<u64>().is_ok_and(|l| l > 1),
        "{cells}"
    );

    let dark_before = eval("getComputedStyle(document.body).backgroundColor");
    eval("document.getElementById('theme-toggle').click()");
    let theme = eval("document.documentElement.dataset.theme")
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(theme == "dark" || theme == "light");
    assert_ne!(
        eval("getComputedStyle(document.body).backgroundColor"),
        dark_before
    );
    // A person follows a link a moment after choosing.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let next = format!("{base}/2025-01/index.html");
    let mut remembered = serde_json::Value::Null;
    for _ in 0..20 {
        ocb::pdf::open(&tab, &next).unwrap();
        remembered = eval("document.documentElement.dataset.theme");
        if !remembered.is_null() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(remembered, theme.as_str(), "the choice is remembered");
}

/// A static file server for `dir` on 127.0.0.1 (a thread for the test's
/// life); returns its base URL.
fn serve_static(dir: &std::path::Path) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
    let port = server.server_addr().to_ip().expect("ip").port();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let path = req
                .url()
                .split('?')
                .next()
                .unwrap_or("/")
                .trim_start_matches('/');
            let file = dir.join(path);
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            let reply = match std::fs::read(&file) {
                Ok(bytes) if !path.contains("..") => tiny_http::Response::from_data(bytes)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", kind).expect("header"),
                    )
                    .boxed(),
                _ => tiny_http::Response::empty(404).boxed(),
            };
            let _ = req.respond(reply);
        }
    });
    format!("http://127.0.0.1:{port}")
}
