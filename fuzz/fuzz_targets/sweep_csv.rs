//! The sweep resume reader and `merge` on truncated or corrupted CSVs: errors, never panics,
//! and a resumed file always ends complete.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qlab::sweep::{Options, Progress, Shard, Sweep};

const SPEC: &str = "repeat = 3\n[scenario]\nm = 2\nk = 8\nn = 1\n";

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let spec = Sweep::from_toml(SPEC, &dir.path().join("s.sweep.toml")).unwrap();
    let out = dir.path().join("o.csv");
    std::fs::write(&out, data).unwrap();
    let opts = Options {
        threads: Some(1),
        resume: true,
        shard: Shard::ALL,
        timings: false,
        progress: Progress::Quiet,
        one_at_a_time: false,
    };
    if qlab::sweep::run(&spec, &out, &opts).is_ok() {
        // Whatever was kept, the file now holds every configuration once per variant.
        let records = csv::Reader::from_path(&out).unwrap().records().count();
        assert_eq!(records, 3 * 2);
    }
    let _ = qlab::sweep::merge::merge(&[out.clone()], &dir.path().join("m.csv"));
});
