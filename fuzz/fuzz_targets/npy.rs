//! The .npy reader on arbitrary bytes: an error or an array whose size matches its shape.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = qlab::data::npy::decode(data) {
        assert_eq!(a.shape.iter().product::<usize>(), a.data.len());
        assert!(matches!(a.shape.len(), 1 | 2));
        let m = a.into_matrix();
        assert_eq!(m.len(), m.rows() * m.cols());
    }
});
