//! The FOCUS CSV loader on raw bytes: problems are fine, a panic is a bug.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::file("aws.csv", data);
    let mut strings = ocb::charge::Interner::default();
    let loaded = ocb::load::load_file(&path, "aws.csv", "aws", "USD", &mut strings);
    // Every problem must print on one line with its place.
    for p in &loaded.problems {
        let text = p.to_string();
        assert!(text.starts_with("aws.csv"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
});
