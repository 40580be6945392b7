//! projects.yaml: any bytes give projects or located problems, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::file("projects.yaml", data);
    let (_, problems) = ocb::projects::Projects::load(&path, "projects.yaml");
    for p in &problems {
        assert!(!p.to_string().contains('\n'), "{p}");
    }
});
