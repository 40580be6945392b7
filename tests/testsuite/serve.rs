//! `ocb serve`: serves the build on 127.0.0.1, rebuilds once per change, stays in its folder.

use crate::common::repo;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_and_rebuilds_once_per_change() {
    let dir = repo("basic");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ocb"))
        .args(["--root"])
        .arg(dir.path())
        .args(["serve", "--no-pdf", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Kill(child);
    wait_for("the server", || {
        get(port, "/__ocb_build").is_some_and(|(c, b)| c == 200 && b == "1")
    });
    let (code, page) = get(port, "/2025-01/index.html").unwrap();
    assert_eq!(code, 200);
    assert!(
        page.contains("$12.17") && page.contains("/__ocb_build"),
        "page or reload script missing"
    );
    assert_eq!(get(port, "/../../etc/passwd").unwrap().0, 404);
    assert_eq!(get(port, "/%2e%2e/%2e%2e/etc/passwd").unwrap().0, 404);

    let aws = dir.path().join("periods/2025-01/aws.csv");
    std::fs::write(
        &aws,
        std::fs::read_to_string(&aws)
            .unwrap()
            .replace("8.50", "9.50"),
    )
    .unwrap();
    wait_for("a rebuild", || {
        get(port, "/__ocb_build").is_some_and(|(_, b)| b == "2")
    });
    assert!(
        get(port, "/2025-01/index.html")
            .unwrap()
            .1
            .contains("$13.17")
    );
    // Reading inputs during the build must not trigger another build.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(port, "/__ocb_build").unwrap().1, "2");
}
