//! Sweep files: any text either parses (and plans) or gives an error; never a panic.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = qlab::sweep::Sweep::from_toml(text, Path::new("/nonexistent/f.sweep.toml")) {
        let _ = qlab::sweep::run::plan(&s, 3);
    }
});
