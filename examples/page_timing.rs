//! Measure a built charges page in real headless Chromium: time until the
//! table is interactive, and time for a filter and a sort over all charges.
//! Usage: cargo run --release --example page_timing -- output/2025-01/charges.html

use anyhow::{Context, Result, anyhow};
use std::time::Instant;

fn main() -> Result<()> {
    let page = std::env::args()
        .nth(1)
        .context("usage: page_timing <charges.html>")?;
    let chrome = ocb::pdf::Chrome::launch(&ocb::pdf::find_chrome(None)?)?;
    let tab = chrome.tab()?;
    let eval = |js: &str| -> Result<serde_json::Value> {
        Ok(tab
            .evaluate(js, false)
            .map_err(|e| anyhow!("{e}"))?
            .value
            .unwrap_or_default())
    };
    let start = Instant::now();
    ocb::pdf::open(&tab, &ocb::pdf::file_url(std::path::Path::new(&page))?)?;
    while !eval("/of/.test(document.getElementById('count').textContent)")?
        .as_bool()
        .unwrap_or(false)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let loaded = start.elapsed();
    let rows = eval("window.OCB_CHARGES.length")?;
    let filter = eval(
        "(function(){var t=performance.now();var s=document.getElementById('f-state');s.value='held';s.dispatchEvent(new Event('input',{bubbles:true}));return performance.now()-t})()",
    )?;
    let search = eval(
        "(function(){var t=performance.now();var s=document.getElementById('f-state');s.value='';var q=document.getElementById('f-q');q.value='i-00';q.dispatchEvent(new Event('input',{bubbles:true}));return performance.now()-t})()",
    )?;
    let sort = eval(
        "(function(){var t=performance.now();document.getElementById('f-q').value='';document.getElementById('f-q').dispatchEvent(new Event('input',{bubbles:true}));document.querySelector('th[data-key=n] button').click();return performance.now()-t})()",
    )?;
    let dom = eval("document.querySelectorAll('#charges tbody tr').length")?;
    let heap =
        eval("performance.memory ? Math.round(performance.memory.usedJSHeapSize/1048576) : -1")?;
    println!(
        "{page}: {rows} charges; interactive after {:.0} ms; filter by state {:.0} ms; search {:.0} ms; sort all by amount {:.0} ms; {dom} rows in the DOM; JS heap {heap} MiB",
        loaded.as_secs_f64() * 1000.0,
        filter.as_f64().unwrap_or(-1.0),
        search.as_f64().unwrap_or(-1.0),
        sort.as_f64().unwrap_or(-1.0)
    );
    Ok(())
}
