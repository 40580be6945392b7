//! review.yaml: any bytes give decisions or located problems, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::file("review.yaml", data);
    let (_, problems) = ocb::review::load(&path, "periods/2025-01/review.yaml");
    for p in &problems {
        assert!(!p.to_string().contains('\n'), "{p}");
    }
});
