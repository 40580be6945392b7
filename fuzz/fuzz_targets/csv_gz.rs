//! `.csv.gz` deliveries: corrupt and truncated gzip as well as any CSV behind
//! it give located problems, never a panic. The first byte picks the shape:
//! even, the rest is the file's raw bytes (the decoder's own paths); odd, the
//! rest is CSV text compressed here, and with bit 1 set the stream is cut at
//! (byte >> 2)/64 of its length, as a download that broke off mid-row.
#![no_main]
#[path = "common.rs"]
mod common;

use flate2::{Compression, write::GzEncoder};
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let bytes = if shape & 1 == 0 {
        rest.to_vec()
    } else {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(rest).expect("gzip in memory");
        let mut b = gz.finish().expect("gzip in memory");
        if shape & 2 != 0 {
            let cut = (shape as usize >> 2) * b.len() / 64;
            b.truncate(cut);
        }
        b
    };
    let path = common::file("aws.csv.gz", &bytes);
    let mut strings = ocb::charge::Interner::default();
    let loaded = ocb::load::load_file(&path, "aws.csv.gz", "aws", "USD", &mut strings);
    for p in &loaded.problems {
        let text = p.to_string();
        assert!(text.starts_with("aws.csv.gz"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
});
