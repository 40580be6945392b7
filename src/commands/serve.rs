//! `ocb serve`: build, serve `output/` on 127.0.0.1, rebuild when inputs,
//! config or theme change, and tell open pages to reload.

use crate::cli::Global;
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Appended to served HTML pages: polls the build number and reloads on change.
const RELOAD: &str = "<script>(function(){var v=null;setInterval(function(){fetch('/__ocb_build').then(function(r){return r.text()}).then(function(t){if(v!==null&&t!==v)location.reload();v=t}).catch(function(){})},1000)})();</script>";

pub fn run(g: &Global, port: u16, no_pdf: bool) -> Result<u8> {
    let out = super::out_dir(g, None);
    let generation = Arc::new(AtomicU64::new(0));
    rebuild(g, no_pdf, &generation);
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    println!(
        "serving {} on http://127.0.0.1:{port}/ (Ctrl-C to stop)",
        out.display()
    );
    let watcher = watch(g.clone(), no_pdf, generation.clone())?;
    for request in server.incoming_requests() {
        let response = respond(&out, request.url(), generation.load(Ordering::SeqCst));
        let _ = request.respond(response);
    }
    drop(watcher);
    Ok(0)
}

fn rebuild(g: &Global, no_pdf: bool, generation: &AtomicU64) {
    match super::build_cmd(g, None, &[], no_pdf) {
        Ok(0) => {
            generation.fetch_add(1, Ordering::SeqCst);
        }
        Ok(_) => {
            eprintln!("ocb serve: the build found problems; still serving the previous output")
        }
        Err(e) => eprintln!("ocb serve: build failed: {e:#}"),
    }
}

fn watch(
    g: Global,
    no_pdf: bool,
    generation: Arc<AtomicU64>,
) -> Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher =
        notify::recommended_watcher(tx).context("cannot watch the billing repository")?;
    for p in ["periods", "themes", "ocb.yaml", "projects.yaml"] {
        let path = g.root.join(p);
        if path.exists() {
            watcher
                .watch(&path, RecursiveMode::Recursive)
                .with_context(|| format!("cannot watch `{}`", path.display()))?;
        }
    }
    let quiet = Global { quiet: true, ..g };
    std::thread::spawn(move || {
        while let Ok(event) = rx.recv() {
            if !is_change(&event) {
                continue;
            }
            // Let a burst of saves settle, then build once.
            std::thread::sleep(Duration::from_millis(300));
            while rx.try_recv().is_ok() {}
            rebuild(&quiet, no_pdf, &generation);
            eprintln!(
                "ocb serve: rebuilt (build {})",
                generation.load(Ordering::SeqCst)
            );
        }
    });
    Ok(watcher)
}

/// Reading a file is an event too (the build reads every input): only writes count.
fn is_change(event: &notify::Result<notify::Event>) -> bool {
    use notify::EventKind::{Create, Modify, Remove};
    matches!(event, Ok(e) if matches!(e.kind, Create(_) | Modify(_) | Remove(_)))
}

fn respond(
    out: &Path,
    url: &str,
    generation: u64,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    if path == "/__ocb_build" {
        return tiny_http::Response::from_data(generation.to_string().into_bytes());
    }
    let Some(file) = resolve(out, path) else {
        return tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404);
    };
    let mut bytes = std::fs::read(&file).unwrap_or_default();
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "html" {
        bytes.extend_from_slice(RELOAD.as_bytes());
    }
    let kind = match ext {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], kind.as_bytes())
        .expect("static header");
    tiny_http::Response::from_data(bytes).with_header(header)
}

/// Map a URL path into `out`, refusing anything that would leave it.
fn resolve(out: &Path, path: &str) -> Option<PathBuf> {
    let mut p = out.to_path_buf();
    for part in path.split('/').filter(|s| !s.is_empty()) {
        let part = percent_decode(part);
        if part == ".." || part == "." || part.contains(['\\', '\0']) {
            return None;
        }
        p.push(part);
    }
    if p.is_dir() {
        p.push("index.html");
    }
    p.is_file().then_some(p)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Hex digits read byte by byte: slicing the str could split a UTF-8 character.
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
