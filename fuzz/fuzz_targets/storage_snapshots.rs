//! Storage usage snapshots (CSV): snapshots or located problems, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::file("usage.csv", data);
    let (_, problems) = ocb::convert::snapshots::read(&path, "usage.csv");
    for p in &problems {
        assert!(!p.to_string().contains('\n'), "{p}");
    }
});
