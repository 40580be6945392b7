//! `ocb serve`: build, serve `output/` and the billing office's desk on
//! 127.0.0.1, rebuild when inputs, config or theme change, and tell open
//! pages to reload. The desk itself is `crate::desk`.

use crate::build::Options;
use crate::cli::Global;
use crate::desk::Desk;
use crate::desk::builds::{Builds, Outcome};
use anyhow::{Context, Result, anyhow};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run(g: &Global, port: u16, no_pdf: bool, max_upload: u64) -> Result<u8> {
    let out = super::out_dir(g, None);
    let builds = Arc::new(Builds::new(Box::new({
        let g = g.clone();
        move || build(&g, no_pdf)
    })));
    builds.run();
    // Loopback only: the desk writes to the billing repository.
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = server.server_addr().to_ip().map_or(port, |a| a.port());
    let desk = Desk::new(
        g.root.clone(),
        g.config_path(),
        out.clone(),
        port,
        builds.clone(),
    )?
    .max_upload(max_upload);
    println!(
        "serving {} on http://127.0.0.1:{port}/ (the desk: http://127.0.0.1:{port}/__desk/; Ctrl-C to stop)",
        out.display()
    );
    let watcher = watch(g, builds)?;
    for request in server.incoming_requests() {
        desk.handle(request);
    }
    drop(watcher);
    Ok(0)
}

fn build(g: &Global, no_pdf: bool) -> Outcome {
    let opts = Options {
        out: super::out_dir(g, None),
        periods: Vec::new(),
        pdf: !no_pdf,
        quiet: true,
        verbose: false,
        cache: true,
    };
    match crate::build::build(&g.root, &g.config_path(), &opts) {
        Ok(report) if report.problems.is_empty() => Outcome {
            ok: true,
            problems: Vec::new(),
        },
        Ok(report) => {
            let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("ocb serve: the build found problems; still serving the previous output");
            Outcome {
                ok: false,
                problems,
            }
        }
        Err(e) => {
            eprintln!("ocb serve: build failed: {e:#}");
            Outcome {
                ok: false,
                problems: vec![format!("build failed: {e:#}")],
            }
        }
    }
}

fn watch(g: &Global, builds: Arc<Builds>) -> Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher =
        notify::recommended_watcher(tx).context("cannot watch the billing repository")?;
    let watched = ["periods", "themes", "projects.yaml"]
        .map(|p| g.root.join(p))
        .into_iter()
        .chain([g.config_path()]);
    for path in watched {
        if path.exists() {
            watcher
                .watch(&path, RecursiveMode::Recursive)
                .with_context(|| format!("cannot watch `{}`", path.display()))?;
        }
    }
    std::thread::spawn(move || {
        while let Ok(event) = rx.recv() {
            if !is_change(&event) {
                continue;
            }
            let seen = Instant::now();
            // Let a burst of saves settle, then build once.
            std::thread::sleep(Duration::from_millis(300));
            while rx.try_recv().is_ok() {}
            if builds.run_for_change(seen).is_some() {
                eprintln!("ocb serve: rebuilt (build {})", builds.generation());
            }
        }
    });
    Ok(watcher)
}

/// Reading a file is an event too (the build reads every input): only writes count.
fn is_change(event: &notify::Result<notify::Event>) -> bool {
    use notify::EventKind::{Create, Modify, Remove};
    matches!(event, Ok(e) if matches!(e.kind, Create(_) | Modify(_) | Remove(_)))
}
