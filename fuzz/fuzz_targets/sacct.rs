//! Slurm `sacct --parsable2` output: jobs or located problems, never a panic;
//! the AllocTRES and time parsers run on every job found.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::file("sacct.txt", data);
    let _ = ocb::convert::sacct::read(&path, "sacct.txt", &mut |job| {
        let _ = ocb::convert::sacct::parse_tres(&job.tres);
    });
});
