//! PDF statements: each statement page printed by one headless Chromium on
//! several tabs, with a content-hash cache so unchanged statements are copied
//! instead of printed again. Only this module starts a process.

use crate::config::Paper;
use crate::period::Period;
use crate::site::StatementRef;
use anyhow::{Context, Result, anyhow, bail};
use headless_chrome::types::PrintToPdfOptions;
use headless_chrome::{Browser, LaunchOptions, Tab};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bump when printing changes in a way the cache key cannot see.
const CACHE_VERSION: &str = "ocb-pdf-4";

/// The browser to use: `pdf.chrome`, else `$CHROME`, else the usual names on PATH.
pub fn find_chrome(configured: Option<&str>) -> Result<PathBuf> {
    if let Some(c) = configured
        .map(str::to_string)
        .or_else(|| std::env::var("CHROME").ok().filter(|s| !s.is_empty()))
    {
        let p = PathBuf::from(&c);
        if p.is_file() {
            return Ok(p);
        }
        if let Some(found) = on_path(&c) {
            return Ok(found);
        }
        bail!(
            "Chromium not found at `{c}` (from pdf.chrome or $CHROME): install it with `apt-get install chromium`, or build without PDFs: `ocb build --no-pdf`"
        );
    }
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        if let Some(p) = on_path(name) {
            return Ok(p);
        }
    }
    bail!(
        "Chromium is needed to print PDF statements and was not found: install it with `apt-get install chromium`, or build without PDFs: `ocb build --no-pdf`"
    )
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A headless Chromium with its own throwaway profile; killed when dropped.
pub struct Chrome {
    browser: Browser,
    _profile: tempfile::TempDir,
}

impl Chrome {
    pub fn launch(path: &Path) -> Result<Chrome> {
        crate::interrupt::install();
        let profile = tempfile::Builder::new()
            .prefix("ocb-chrome-")
            .tempdir()
            .context("cannot create a Chromium profile folder")?;
        crate::interrupt::remove_on_interrupt(profile.path().to_path_buf());

        let args: Vec<&std::ffi::OsStr> = [
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-extensions",
            "--font-render-hinting=none",
        ]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
        // Chromium keeps shared memory files in $TMPDIR (headless_chrome passes
        // --disable-dev-shm-usage); inside the profile they go away with it.
        let tmp = profile.path().join("tmp");
        std::fs::create_dir_all(&tmp).context("cannot create a Chromium temp folder")?;
        let envs = std::collections::HashMap::from([(
            "TMPDIR".to_string(),
            tmp.to_string_lossy().into_owned(),
        )]);
        let options = LaunchOptions::default_builder()
            .process_envs(Some(envs))
            .path(Some(path.to_path_buf()))
            .headless(true)
            .sandbox(!running_as_root())
            .user_data_dir(Some(profile.path().to_path_buf()))
            .idle_browser_timeout(Duration::from_secs(600))
            .args(args)
            .build()
            .map_err(|e| anyhow!("bad Chromium options: {e}"))?;
        let browser = Browser::new(options)
            .map_err(|e| anyhow!("cannot start Chromium `{}`: {e}", path.display()))?;
        if let Some(pid) = browser.get_process_id() {
            crate::interrupt::kill_on_interrupt(pid);
        }
        Ok(Chrome {
            browser,
            _profile: profile,
        })
    }

    pub fn tab(&self) -> Result<Arc<Tab>> {
        self.browser
            .new_tab()
            .map_err(|e| anyhow!("cannot open a Chromium tab: {e}"))
    }

    pub fn pid(&self) -> Option<u32> {
        self.browser.get_process_id()
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // Stop the whole browser before its profile is removed: a browser still
        // shutting down writes into the profile and leaves it behind.
        let pid = self.browser.get_process_id();
        if let Some(pid) = pid {
            crate::interrupt::kill_tree(pid);
        }
        crate::interrupt::remove_dir(self._profile.path());
        crate::interrupt::forget(pid, Some(self._profile.path()));
    }
}

/// Load a page and wait until it and its fonts are ready. Polling the load state
/// is ~4× faster than `wait_until_navigated` (which waits for network idle).
pub fn open(tab: &Tab, url: &str) -> Result<()> {
    // Mark the page being left: until the new document replaces it, the old one
    // also says readyState 'complete', and printing it would print the wrong page.
    let _ = tab.evaluate("window.__ocbLeaving = true", false);
    tab.navigate_to(url)
        .map_err(|e| anyhow!("cannot open {url}: {e}"))?;
    let start = Instant::now();
    loop {
        let ready = tab
            .evaluate("!window.__ocbLeaving && document.readyState === 'complete' && document.fonts.status === 'loaded' && location.href !== 'about:blank'", false)
            .ok()
            .and_then(|r| r.value)
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if ready {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("{url} did not finish loading in 30 s");
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}

pub fn file_url(path: &Path) -> Result<String> {
    let abs = path
        .canonicalize()
        .with_context(|| format!("cannot find `{}`", path.display()))?;
    let mut url = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(url)
}

fn options(paper: Paper, number: &str) -> PrintToPdfOptions {
    let (w, h) = match paper {
        Paper::Letter => (8.5, 11.0),
        Paper::A4 => (8.27, 11.69),
    };
    let esc = number.replace('&', "&amp;").replace('<', "&lt;");
    PrintToPdfOptions {
        display_header_footer: Some(true),
        print_background: Some(true),
        paper_width: Some(w),
        paper_height: Some(h),
        margin_top: Some(0.5),
        margin_bottom: Some(0.6),
        margin_left: Some(0.5),
        margin_right: Some(0.5),
        header_template: Some("<span></span>".into()),
        footer_template: Some(format!(
            "<div style=\"font-family: 'DejaVu Sans', sans-serif; font-size: 8px; color: #555; width: 100%; padding: 0 0.5in; display: flex; justify-content: space-between;\"><span>Statement {esc}</span><span>Page <span class=\"pageNumber\"></span> of <span class=\"totalPages\"></span></span></div>"
        )),
        ..Default::default()
    }
}

/// Make a printed PDF depend only on the page: fixed dates, and structure ids
/// renumbered. Every change keeps the length, so the xref offsets stay valid.
pub fn normalise(pdf: &mut [u8]) {
    strip_dates(pdf);
    renumber_nodes(pdf);
}

/// Tagged-PDF structure ids are the renderer's DOM node numbers
/// (`(node00000260)`), which depend on what the tab printed before: number them
/// in order of first appearance instead, zero-padded to the same width.
fn renumber_nodes(pdf: &mut [u8]) {
    let mut seen: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    let mut i = 0;
    while let Some(at) = find(&pdf[i..], b"(node") {
        let start = i + at + 5;
        let width = pdf[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        i = start + width;
        if width == 0 || pdf.get(start + width) != Some(&b')') {
            continue;
        }
        let next = seen.len() + 1;
        let n = *seen
            .entry(pdf[start..start + width].to_vec())
            .or_insert(next);
        let digits = format!("{n:0width$}");
        if digits.len() == width {
            pdf[start..start + width].copy_from_slice(digits.as_bytes());
        }
    }
}

/// Chromium stamps the time into /CreationDate and /ModDate: a fixed value.
fn strip_dates(pdf: &mut [u8]) {
    for key in [&b"/CreationDate ("[..], &b"/ModDate ("[..]] {
        let mut from = 0;
        while let Some(i) = find(&pdf[from..], key) {
            let start = from + i + key.len();
            let end = match find(&pdf[start..], b")") {
                Some(e) => start + e,
                None => break,
            };
            let fixed = b"D:20000101000000+00'00'";
            for (j, b) in pdf[start..end].iter_mut().enumerate() {
                *b = *fixed.get(j).unwrap_or(&b' ');
            }
            from = end;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Print every statement of the wanted periods (all when empty); returns how many PDFs exist.
/// Print every statement's PDF with the `pdf` settings, reusing those in
/// `cache` (a folder of PDFs by content hash) that did not change.
pub fn print_all(
    pdf: &crate::config::PdfConfig,
    cache: &Path,
    statements: &[StatementRef],
    out: &Path,
    periods: &[Period],
    quiet: bool,
) -> Result<usize> {
    let chrome_path = find_chrome(pdf.chrome.as_deref())?;
    std::fs::create_dir_all(cache)
        .with_context(|| format!("cannot create `{}`", cache.display()))?;
    let css = std::fs::read(out.join("static/style.css")).unwrap_or_default();
    let mut todo = Vec::new();
    let mut copied = 0;
    for s in statements {
        let html = std::fs::read(out.join(&s.html))
            .with_context(|| format!("cannot read `{}`", s.html))?;
        let key = cache_key(&html, &css, pdf.paper, &s.number);
        let cached = cache.join(format!("{key}.pdf"));
        let target = out.join(&s.pdf);
        let wanted = periods.is_empty() || periods.contains(&s.period);
        if cached.is_file() {
            // A copy never goes into a file with other links (`write::LIVE`).
            let _ = std::fs::remove_file(&target);
            std::fs::copy(&cached, &target)
                .with_context(|| format!("cannot copy a cached PDF to `{}`", s.pdf))?;
            copied += 1;
        } else if wanted {
            todo.push((out.join(&s.html), target, cached, s.number.clone()));
        }
    }
    if !todo.is_empty() {
        print(&chrome_path, &todo, pdf.paper, pdf.concurrency, quiet)?;
    }
    Ok(copied + todo.len())
}

fn cache_key(html: &[u8], css: &[u8], paper: Paper, number: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        CACHE_VERSION.as_bytes(),
        html,
        css,
        format!("{paper:?}").as_bytes(),
        number.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type Job = (PathBuf, PathBuf, PathBuf, String);

fn print(
    chrome_path: &Path,
    jobs: &[Job],
    paper: Paper,
    concurrency: usize,
    quiet: bool,
) -> Result<()> {
    let chrome = Chrome::launch(chrome_path)?;
    let tabs = if concurrency == 0 {
        // Measured: 200 statements on 2 cores take 56 s on 2 tabs, 27 s on 4,
        // 26 s on 8. A tab waits on the browser as much as it computes.
        2 * std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        concurrency
    };
    let tabs = tabs.clamp(1, jobs.len());
    let queue = Mutex::new(jobs.iter());
    let bar = progress(jobs.len() as u64, quiet);
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..tabs)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let tab = chrome.tab()?;
                    loop {
                        let Some((html, target, cached, number)) = queue
                            .lock()
                            .map_err(|_| anyhow!("print queue poisoned"))?
                            .next()
                        else {
                            break;
                        };
                        open(&tab, &file_url(html)?)?;
                        // Links would become annotations holding this machine's staging path.
                        tab.evaluate("document.querySelectorAll('a[href]').forEach(a => a.removeAttribute('href'))", false).map_err(|e| anyhow!("cannot prepare `{}`: {e}", html.display()))?;
                        let mut pdf = tab
                            .print_to_pdf(Some(options(paper, number)))
                            .map_err(|e| anyhow!("cannot print `{}`: {e}", html.display()))?;
                        normalise(&mut pdf);
                        crate::write::file(target, &pdf)?;
                        crate::write::file(cached, &pdf)?;
                        bar.inc(1);
                    }
                    let _ = tab.close(false);
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow!("a print worker panicked")))
            })
            .collect()
    });
    bar.finish_and_clear();
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(())
}

fn progress(n: u64, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("printing PDFs {bar:30} {pos}/{len} {per_sec}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_fixed_in_place() {
        let mut pdf =
            b"<< /CreationDate (D:20261125123456+00'00') /ModDate (D:20261125123456+00'00') >>"
                .to_vec();
        let len = pdf.len();
        normalise(&mut pdf);
        assert_eq!(pdf.len(), len);
        let text = String::from_utf8(pdf).unwrap();
        assert_eq!(text.matches("D:20000101000000+00'00'").count(), 2, "{text}");
        let mut tags = b"/ID (node00000385) /K [/ID (node00000260)] (node00000385)".to_vec();
        normalise(&mut tags);
        assert_eq!(
            tags,
            b"/ID (node00000001) /K [/ID (node00000002)] (node00000001)"
        );
    }
}
