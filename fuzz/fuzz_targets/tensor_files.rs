//! The .safetensors and .csv readers on arbitrary bytes: an error or a consistent matrix.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    for name in ["t.safetensors", "t.csv"] {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        let m = if name.ends_with("csv") {
            qlab::data::tensors::read_csv(&p)
        } else {
            qlab::data::tensors::read_safetensors(&p, None).map(|(m, _)| m)
        };
        if let Ok(m) = m {
            assert_eq!(m.len(), m.rows() * m.cols());
            assert!(!m.is_empty());
        }
    }
});
