//! Measure a built charges page in real headless Chromium: time until the
//! table is interactive, what it downloaded by then, and time for a filter,
//! an id search and a sort. Usage (a file or a URL from a local web server):
//! cargo run --release --example page_timing -- output/2025-01/charges.html
//! cargo run --release --example page_timing -- http://127.0.0.1:8000/2025-01/charges.html

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
    let url = if page.starts_with("http://") {
        page.clone()
    } else {
        ocb::pdf::file_url(std::path::Path::new(&page))?
    };
    ocb::pdf::open(&tab, &url)?;
    while !eval("/of/.test(document.getElementById('count').textContent)")?
        .as_bool()
        .unwrap_or(false)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let loaded = start.elapsed();
    let rows = eval("window.OCB_INDEX.total")?;
    // Bytes of the page and of every script and style it loaded so far
    // (decoded), summed in the page: an array would come back as a remote
    // object, not a value.
    let entries = "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))";
    let total = eval(&format!(
        "{entries}.reduce(function(a,e){{return a+e.decodedBodySize}},0)"
    ))?
    .as_f64()
    .unwrap_or(0.0) as u64;
    let biggest = eval(&format!(
        "{entries}.reduce(function(a,e){{return e.decodedBodySize>a[1]?[e.name,e.decodedBodySize]:a}},['',0]).join(' ')"
    ))?;
    let biggest = biggest.as_str().unwrap_or("").to_string();
    let (name, size) = biggest.rsplit_once(' ').unwrap_or(("", "0"));
    let largest = (name.to_string(), size.parse::<f64>().unwrap_or(0.0) as u64);
    let id = eval("document.querySelector('#charges tbody code').textContent")?;
    let find = eval(&format!(
        "(function(){{var q=document.getElementById('f-q');q.value={id};q.dispatchEvent(new Event('input',{{bubbles:true}}));return 1}})()"
    ))?;
    let t = Instant::now();
    while !eval("/^1 of/.test(document.getElementById('count').textContent)")?
        .as_bool()
        .unwrap_or(false)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let by_id = t.elapsed();
    let _ = (
        find,
        eval(
            "var q=document.getElementById('f-q');q.value='';q.dispatchEvent(new Event('input',{bubbles:true}))",
        )?,
    );
    // Actions load shards as scripts: time until the count is settled again.
    let act = |js: &str| -> Result<f64> {
        let t = Instant::now();
        eval(js)?;
        while eval("/^Loading/.test(document.getElementById('count').textContent)")?
            .as_bool()
            .unwrap_or(false)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    let filter = act(
        "var s=document.getElementById('f-state');s.value='held';s.dispatchEvent(new Event('input',{bubbles:true}))",
    )?;
    let search = act(
        "var s=document.getElementById('f-state');s.value='';var q=document.getElementById('f-q');q.value='i-00';q.dispatchEvent(new Event('input',{bubbles:true}))",
    )?;
    let sort = act(
        "document.getElementById('f-q').value='';document.getElementById('f-q').dispatchEvent(new Event('input',{bubbles:true}));document.querySelector('th[data-key=n] button').click()",
    )?;
    let dom = eval("document.querySelectorAll('#charges tbody tr').length")?;
    let heap =
        eval("performance.memory ? Math.round(performance.memory.usedJSHeapSize/1048576) : -1")?;
    println!(
        "{page}: {rows} charges; interactive after {:.0} ms having downloaded {:.1} MB (largest {:.1} MB: {}); charge id found in {:.0} ms",
        loaded.as_secs_f64() * 1000.0,
        total as f64 / 1e6,
        largest.1 as f64 / 1e6,
        largest.0.rsplit('/').next().unwrap_or(""),
        by_id.as_secs_f64() * 1000.0
    );
    println!(
        "{page}: {rows} charges; interactive after {:.0} ms; filter by state {:.0} ms; search {:.0} ms; sort all by amount {:.0} ms; {dom} rows in the DOM; JS heap {heap} MiB",
        loaded.as_secs_f64() * 1000.0,
        filter,
        search,
        sort
    );
    Ok(())
}
