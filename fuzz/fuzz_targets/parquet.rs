//! Parquet deliveries on raw bytes (seeded with small valid files: doubles,
//! decimals, dates, MAP and JSON tags): rows or located problems, never a
//! panic of ocb's. ocb turns a panic inside polars' reader into a problem
//! about the file (src/ingest/parquet.rs), so those panics are caught and
//! silent here; libfuzzer-sys still aborts on any panic that reaches it.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::Once;

static QUIET_POLARS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_POLARS.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_polars = info
                .location()
                .is_some_and(|l| l.file().contains("polars"));
            if !in_polars {
                report(info);
            }
        }));
    });
    let path = common::file("aws.parquet", data);
    let mut strings = ocb::charge::Interner::default();
    let loaded = ocb::load::load_file(&path, "aws.parquet", "aws", "USD", &mut strings);
    for p in &loaded.problems {
        let text = p.to_string();
        assert!(text.starts_with("aws.parquet"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
});
