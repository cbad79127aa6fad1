//! Scenario files: any text either parses or gives an error naming the file; small parsed
//! scenarios also materialise their operands without panicking.
#![no_main]
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match qlab::scenario::Scenario::from_toml(
        text,
        Path::new("f.toml"),
        PathBuf::from("/nonexistent"),
    ) {
        Ok(s) => {
            let small = |v: Option<usize>| v.unwrap_or(64) <= 64;
            if small(s.m) && small(s.k) && small(s.n) {
                let _ = s.operands();
            }
        }
        Err(e) => assert!(e.to_string().starts_with("f.toml: "), "{e}"),
    }
});
