//! The desk in real headless Chromium: drop files on the import page, decide
//! a held charge on the review page, and screenshots in dark mode at phone width.

use crate::common::{chromium_available, read, repo};
use crate::desk::{held_id, repo_with_held, serve};
use headless_chrome::Tab;
use headless_chrome::protocol::cdp::{Emulation, Page};
use std::path::Path;
use std::time::{Duration, Instant};

fn eval(tab: &Tab, js: &str) -> serde_json::Value {
    tab.evaluate(js, true)
        .unwrap_or_else(|e| panic!("{js}: {e}"))
        .value
        .unwrap_or(serde_json::Value::Null)
}

/// Poll `js` until it is truthy; give its value (wrap DOM nodes in `!!`:
/// they come back without a value).
fn wait_for(tab: &Tab, what: &str, js: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let v = tab
            .evaluate(js, true)
            .ok()
            .and_then(|r| r.value)
            .unwrap_or(serde_json::Value::Null);
        if !(v.is_null() || v == false || v == "" || v == 0) {
            return v;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let page = tab
                .evaluate("location.href + '\\n' + document.body.innerText", false)
                .ok()
                .and_then(|r| r.value);
            panic!("timed out waiting for {what}; the page: {page:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Drop one file on the drop zone as a user's drag would: a DataTransfer
/// holding a File, in a `drop` event.
fn drop_file(tab: &Tab, name: &str, text: &str) {
    let js = format!(
        "(function () {{ var dt = new DataTransfer(); dt.items.add(new File([{}], {}, {{type: 'text/csv'}}));
          document.getElementById('drop').dispatchEvent(new DragEvent('drop', {{dataTransfer: dt, bubbles: true, cancelable: true}})); return true; }})()",
        serde_json::Value::from(text),
        serde_json::Value::from(name)
    );
    eval(tab, &js);
}

/// Screenshots go to docs/images with OCB_SCREENSHOTS=1, else to a temp folder.
fn screenshot(tab: &Tab, name: &str, scratch: &Path, dark: bool, phone: bool) {
    let features = vec![Emulation::MediaFeature {
        name: "prefers-color-scheme".into(),
        value: if dark { "dark" } else { "light" }.into(),
    }];
    tab.call_method(Emulation::SetEmulatedMedia {
        media: None,
        features: Some(features),
    })
    .unwrap();
    let (width, height) = if phone { (390, 844) } else { (1200, 900) };
    tab.call_method(Emulation::SetDeviceMetricsOverride {
        width,
        height,
        device_scale_factor: 1.0,
        mobile: phone,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        eval(
            tab,
            "document.documentElement.scrollWidth <= window.innerWidth + 1"
        ),
        true,
        "{name}: the page is wider than the screen"
    );
    if dark {
        assert_eq!(
            eval(tab, "getComputedStyle(document.body).backgroundColor"),
            "rgb(17, 21, 29)",
            "{name}: not dark"
        );
    }
    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let dir = if std::env::var("OCB_SCREENSHOTS").is_ok_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images")
    } else {
        scratch.to_path_buf()
    };
    std::fs::write(dir.join(name), png).unwrap();
    tab.call_method(Emulation::ClearDeviceMetricsOverride(None))
        .unwrap();
}

const GOOD: &str = "BillingPeriodStart,BillingCurrency,ServiceName,ResourceId,ListCost,BilledCost,Tags\n2025-03-01,USD,EC2,i-1,12.00,10.00,\"{\"\"pi_email\"\":\"\"a@x.edu\"\",\"\"project_id\"\":\"\"p1\"\",\"\"fund_org\"\":\"\"NSF-1\"\"}\"\n2025-03-01,USD,S3,b-1,2.50,2.50,\"{\"\"pi_email\"\":\"\"b@x.edu\"\",\"\"project_id\"\":\"\"p2\"\",\"\"fund_org\"\":\"\"NIH-2\"\"}\"\n";

#[test]
fn import_by_drag_and_drop() {
    if !chromium_available() {
        return;
    }
    let dir = repo("basic");
    let server = serve(dir.path(), &[]);
    let chrome = ocb::pdf::Chrome::launch(&ocb::pdf::find_chrome(None).unwrap()).unwrap();
    let tab = chrome.tab().unwrap();
    let base = format!("http://127.0.0.1:{}", server.port);
    ocb::pdf::open(&tab, &format!("{base}/__desk/import")).unwrap();

    // A bad row: the problem with its place, and nothing written.
    let bad = GOOD.replace("2.50,2.50", "2.50,2.5x");
    drop_file(&tab, "aws-2025-03.csv", &bad);
    let problems = wait_for(
        &tab,
        "the problem",
        "Array.from(document.querySelectorAll('#plan-files .desk-problems li')).map(function (li) { return li.textContent; }).join('\\n')",
    );
    let problems = problems.as_str().unwrap();
    assert!(
        problems.contains("aws-2025-03.csv:3: column `BilledCost`"),
        "{problems}"
    );
    assert_eq!(
        eval(&tab, "document.getElementById('apply').disabled"),
        true
    );
    assert!(!dir.path().join("periods/2025-03").exists());
    let shots = tempfile::tempdir().unwrap();
    screenshot(&tab, "desk-import-dark-phone.png", shots.path(), true, true);

    // A good month: shown per month, imported on request, then the page lists it.
    drop_file(&tab, "aws-2025-03.csv", GOOD);
    wait_for(
        &tab,
        "the plan",
        "document.querySelector('#plan-files tbody th') && !document.getElementById('apply').disabled",
    );
    let row = eval(
        &tab,
        "document.querySelector('#plan-files tbody tr').textContent",
    );
    assert_eq!(row, "2025-03periods/2025-03/aws.csvnew2USD 12.5", "{row}");
    assert!(
        !dir.path().join("periods/2025-03").exists(),
        "written before Import"
    );
    eval(&tab, "document.getElementById('apply').click()");
    wait_for(
        &tab,
        "the new period",
        "!!document.querySelector('#periods a[href=\"/2025-03/index.html\"]')",
    );
    assert_eq!(
        read(dir.path().join("periods/2025-03/aws.csv"))
            .lines()
            .count(),
        3
    );
    assert!(dir.path().join("output/2025-03/index.html").exists());
    assert!(read(dir.path().join("output/index.html")).contains("March 2025"));
}

#[test]
fn approve_a_held_charge_on_the_review_page() {
    if !chromium_available() {
        return;
    }
    let dir = repo_with_held();
    let server = serve(dir.path(), &[]);
    let id = held_id(&server, "i-7");
    let chrome = ocb::pdf::Chrome::launch(&ocb::pdf::find_chrome(None).unwrap()).unwrap();
    let tab = chrome.tab().unwrap();
    let base = format!("http://127.0.0.1:{}", server.port);
    ocb::pdf::open(&tab, &format!("{base}/2025-01/review.html")).unwrap();
    wait_for(
        &tab,
        "the desk controls",
        &format!("!!document.querySelector('#c-{id} .desk-decide')"),
    );
    eval(
        &tab,
        &format!("document.querySelector('#c-{id} .desk-decide').click()"),
    );
    let form = format!("document.querySelector('form[data-charge=\"{id}\"]')");
    eval(
        &tab,
        &format!(
            "{form}.note.value = 'DOE award, checked with the lab'; {form}.note.dispatchEvent(new Event('input', {{bubbles: true}})); true"
        ),
    );
    eval(
        &tab,
        &format!(
            "Array.from({form}.querySelectorAll('button')).find(function (b) {{ return b.textContent === 'Preview entry'; }}).click()"
        ),
    );
    let entry = wait_for(
        &tab,
        "the entry",
        "document.querySelector('.desk-entry') && document.querySelector('.desk-entry').textContent",
    );
    let entry = entry.as_str().unwrap().to_string();
    assert!(entry.starts_with(&format!("- charge: {id}\n  flag: invalid_fund_org\n  decision: approve\n  note: DOE award, checked with the lab\n")), "{entry}");
    let shots = tempfile::tempdir().unwrap();
    screenshot(&tab, "desk-review.png", shots.path(), false, false);
    assert!(!dir.path().join("periods/2025-01/review.yaml").exists());

    eval(
        &tab,
        &format!(
            "Array.from({form}.querySelectorAll('button')).find(function (b) {{ return b.textContent === 'Write to review.yaml'; }}).click()"
        ),
    );
    // The rebuild reloads the page; the charge is now among the approved.
    wait_for(
        &tab,
        "the approved charge",
        &format!("!!document.querySelector('#c-{id} .badge.approve')"),
    );
    let review = read(dir.path().join("periods/2025-01/review.yaml"));
    assert!(review.ends_with(&entry), "{review}");
    let charges = read(dir.path().join("output/2025-01/charges.csv"));
    assert!(
        charges
            .lines()
            .any(|l| l.contains(&id) && l.contains(",billed,")),
        "{charges}"
    );
    screenshot(&tab, "desk-review-dark-phone.png", shots.path(), true, true);

    ocb::pdf::open(&tab, &format!("{base}/__desk/")).unwrap();
    wait_for(
        &tab,
        "the desk page",
        "!!document.querySelector('#desk-periods .desk-close')",
    );
    screenshot(&tab, "desk-home-dark.png", shots.path(), true, false);
}
