//! ocb.yaml: any bytes give a config or an error, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::file("ocb.yaml", data);
    let _ = ocb::config::Config::load(&path, "ocb.yaml");
});
