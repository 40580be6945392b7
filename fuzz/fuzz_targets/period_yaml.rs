//! period.yaml: reading it, checking a closed period's digests and reading
//! back each issued statement's recorded ledger never panic.
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
    let (file, _) = ocb::close::load(&dir);
    let _ = ocb::close::changed_inputs(&dir, &file);
    for s in &file.statements {
        let _ = ocb::close::line_of(&dir, &s.number);
        if let Some(l) = &s.ledger {
            let _ = ocb::ledger::record::restore(l);
        }
    }
});
