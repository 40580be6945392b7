//! period.yaml: reading it and verifying a closed period's digests never panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::file("period.yaml", data);
    let dir = ocb::discover::PeriodDir {
        period: "2025-01".parse().expect("period"),
        dir: path.parent().expect("scratch folder").to_path_buf(),
        files: vec![],
    };
    let _ = ocb::close::read(&dir);
    let _ = ocb::close::verify(&dir);
});
