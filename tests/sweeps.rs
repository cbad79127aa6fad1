//! Integration tests of sweeps: `qlab sweep`, `qlab merge` and `qlab plot`, through the library
//! (`qlab::sweep`, `qlab::plot`) and the binary. Every sweep here is tiny (M = 8, K = 64,
//! N = 4, at most a few dozen configurations) so the whole file runs in seconds.
//!
//! Tests marked `#[ignore = "bug: ..."]` document defects found while writing this file; they
//! state the behaviour that is expected and fail until the defect is fixed.

mod common;
#[allow(unused_imports)]
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use predicates::prelude::*;
use proptest::prelude::*;
use qlab::format::{BlockSize, ScaleRule};
use qlab::scenario::Scenario;
use qlab::sweep::merge::{Merged, merge};
use qlab::sweep::run::{LEAD_COLUMNS, header, plan, run_config};
use qlab::sweep::{LARGE_SWEEP, Options, Progress, Shard, Sweep, run};

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------

/// The base scenario of most sweeps here: tiny, random data.
const BASE: &str = "m = 8\nk = 64\nn = 4\n";

/// Two axes (a distribution and a variant setting), two repeats: 12 configurations × 2
/// variants (the default int8 and mxfp4) = 24 rows.
const SMALL: &str = r#"name = "small"
seed = 7
repeat = 2

[scenario]
m = 8
k = 64
n = 4
x = { dist = "normal", std = 2.0 }

[[axis]]
name = "x.dist"
values = ["normal", "student_t"]

[[axis]]
name = "variant.block_size"
values = [8, 16, 32]
"#;

/// `SMALL` with one axis value changed: another sweep with the same columns.
fn small_other() -> String {
    SMALL.replace("values = [8, 16, 32]", "values = [8, 16, 64]")
}

/// A sweep file with an inline `[scenario]` of `BASE` plus `scenario_extra`, then `rest`.
fn inline(top: &str, scenario_extra: &str, rest: &str) -> String {
    format!("{top}\n[scenario]\n{BASE}{scenario_extra}\n{rest}")
}

/// One `[[axis]]` table.
fn axis(name: &str, values: &str) -> String {
    format!("[[axis]]\nname = \"{name}\"\nvalues = {values}\n")
}

/// `qlab sweep SPEC --quiet --out OUT` plus `extra`, expected to succeed.
fn cli_sweep(spec: &Path, out: &Path, extra: &[&str]) {
    qlab()
        .arg("sweep")
        .arg(spec)
        .arg("--quiet")
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

/// Runs `qlab` with `args` and returns its output, whatever the exit status.
fn output(args: &[&std::ffi::OsStr]) -> Output {
    qlab().args(args).output().expect("run qlab")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a failed run whose stderr is exactly `qlab: error: {message}` and whose stdout is
/// empty.
fn assert_error(o: &Output, message: &str) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    assert_eq!(stderr(o), format!("qlab: error: {message}\n"));
    assert_eq!(stdout(o), "");
}

/// Quiet library options with two threads.
fn quiet() -> Options {
    Options {
        threads: Some(2),
        resume: false,
        shard: Shard::ALL,
        timings: false,
        progress: Progress::Quiet,
        one_at_a_time: false,
    }
}

/// Header and records of a CSV.
fn records(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).expect("open CSV");
    let h = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("record").iter().map(String::from).collect())
        .collect();
    (h, rows)
}

/// The values of column `name` (its first occurrence).
fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = header
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    rows.iter().map(|r| r[i].clone()).collect()
}

/// Byte offsets at which each line starts (plus the file length).
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    v
}

/// Compares two files' bytes without dumping them on failure.
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
        panic!(
            "{what}: files differ (lengths {} and {}, first difference at byte {at})",
            got.len(),
            want.len()
        );
    }
}

/// Writes SMALL, runs it in full and returns (dir, spec path, full CSV bytes).
fn small_full() -> (Dir, PathBuf, Vec<u8>) {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    cli_sweep(&spec, &d.path("full.csv"), &[]);
    let full = d.read("full.csv");
    (d, spec, full)
}

// ---------------------------------------------------------------------------------------------
// 1. Determinism across thread counts
// ---------------------------------------------------------------------------------------------

#[test]
fn the_csv_does_not_depend_on_the_thread_count() {
    let d = Dir::new();
    let spec = d.write(
        "small.sweep.toml",
        SMALL.replace("repeat = 2", "repeat = 3"),
    );
    cli_sweep(&spec, &d.path("cli1.csv"), &["--threads", "1"]);
    cli_sweep(&spec, &d.path("cli2.csv"), &["--threads", "2"]);
    cli_sweep(&spec, &d.path("cli.csv"), &[]);
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!(sweep.len(), 18);
    for (name, threads) in [
        ("lib1.csv", Some(1)),
        ("lib2.csv", Some(2)),
        ("lib.csv", None),
    ] {
        let ran = run(&sweep, &d.path(name), &Options { threads, ..quiet() }).unwrap();
        assert_eq!(ran, 18, "{name}");
    }
    let want = d.read("cli1.csv");
    assert_eq!(line_starts(&want).len() - 1, 1 + 18 * 2, "header + 36 rows");
    for name in ["cli2.csv", "cli.csv", "lib1.csv", "lib2.csv", "lib.csv"] {
        assert_same_bytes(&d.read(name), &want, name);
    }
    // Rows are in configuration order, the variants of each configuration together.
    let (h, rows) = records(&d.path("cli1.csv"));
    let configs: Vec<u64> = column(&h, &rows, "config")
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    let expected: Vec<u64> = (0..18).flat_map(|c| [c, c]).collect();
    assert_eq!(configs, expected);
    assert!(column(&h, &rows, "configs").iter().all(|c| c == "18"));
    assert!(column(&h, &rows, "sweep_id").iter().all(|c| *c == sweep.id));
}

#[test]
fn running_twice_gives_the_same_file() {
    let (d, spec, full) = small_full();
    // A fresh run over an existing file replaces it (no --resume) with identical bytes.
    cli_sweep(&spec, &d.path("full.csv"), &["--threads", "3"]);
    assert_same_bytes(&d.read("full.csv"), &full, "second run");
    assert_eq!(d.listing(), ["full.csv", "small.sweep.toml"]);
}

// ---------------------------------------------------------------------------------------------
// 2. Resume
// ---------------------------------------------------------------------------------------------

#[test]
fn resume_after_truncation_equals_the_uninterrupted_file() {
    let (d, spec, full) = small_full();
    let starts = line_starts(&full);
    // starts[0] = header, starts[r] = row r (1-based); rows 2c+1, 2c+2 are configuration c.
    assert_eq!(starts.len(), 1 + 24 + 1);
    assert_eq!(*starts.last().unwrap(), full.len());
    let cuts = [
        ("empty file", 0),
        ("inside the header", 25),
        ("one byte short of the header's newline", starts[1] - 1),
        ("right after the header", starts[1]),
        ("in the middle of the first row", starts[1] + 30),
        ("at a row boundary (configuration 0 complete)", starts[3]),
        (
            "at a row boundary inside configuration 1 (first variant only)",
            starts[4],
        ),
        (
            "inside configuration 1's second variant row",
            starts[4] + 40,
        ),
        ("at a row boundary after 6 configurations", starts[13]),
        ("inside the last row", starts[24] + 10),
        ("one byte short of the end", full.len() - 1),
        ("complete file", full.len()),
    ];
    for (i, (what, at)) in cuts.iter().enumerate() {
        let name = format!("cut{i}.csv");
        let copy = d.write(&name, &full[..*at]);
        cli_sweep(&spec, &copy, &["--resume", "--threads", "2"]);
        assert_same_bytes(&d.read(&name), &full, what);
    }
}

#[test]
fn resume_skips_complete_configurations_only() {
    let (d, spec, full) = small_full();
    let sweep = Sweep::load(&spec).unwrap();
    let starts = line_starts(&full);
    let resume = Options {
        resume: true,
        ..quiet()
    };
    // (cut, configurations that must be run again)
    for (at, again) in [
        (starts[1], 12),
        (starts[3], 11),
        (starts[4], 11), // configuration 1 has one of its two rows: it is run again
        (starts[4] + 40, 11),
        (starts[5], 10),
        (full.len(), 0),
    ] {
        let copy = d.write("copy.csv", &full[..at]);
        assert_eq!(run(&sweep, &copy, &resume).unwrap(), again, "cut at {at}");
        assert_same_bytes(&d.read("copy.csv"), &full, &format!("cut at {at}"));
    }
    // The CLI says how many it ran.
    let copy = d.write("copy.csv", &full[..starts[5]]);
    qlab()
        .arg("sweep")
        .arg(&spec)
        .args(["--resume", "--out"])
        .arg(&copy)
        .assert()
        .success()
        .stderr(predicate::str::ends_with(format!(
            "sweep {}: ran 10 configurations into {}\n",
            sweep.id,
            copy.display()
        )));
}

#[test]
fn resume_refuses_a_file_of_another_sweep() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    let other_spec = d.write("other.sweep.toml", small_other());
    let (id, other_id) = (
        Sweep::load(&spec).unwrap().id,
        Sweep::load(&other_spec).unwrap().id,
    );
    assert_ne!(id, other_id, "changing an axis value changes the sweep id");
    let out = d.path("other.csv");
    cli_sweep(&other_spec, &out, &[]);
    let before = d.read("other.csv");
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--resume".as_ref(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(
        &o,
        &format!(
            "{}: cannot resume: it belongs to sweep {other_id} and this is sweep {id}; \
             use another --out or remove the file",
            out.display()
        ),
    );
    assert_eq!(d.read("other.csv"), before, "the refused file is untouched");

    // Different axis names give different columns: refused too.
    let renamed = d.write(
        "renamed.sweep.toml",
        SMALL.replace("\"x.dist\"", "\"w.dist\""),
    );
    let o = output(&[
        "sweep".as_ref(),
        renamed.as_os_str(),
        "--resume".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(
        &o,
        &format!(
            "{}: cannot resume: its columns differ from this sweep's (a different sweep, or \
             different --timings); use another --out or remove the file",
            out.display()
        ),
    );
    assert_eq!(d.read("other.csv"), before);
}

#[test]
fn resume_refuses_different_timings() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    let timed = d.path("timed.csv");
    let plain = d.path("plain.csv");
    cli_sweep(&spec, &timed, &["--timings"]);
    cli_sweep(&spec, &plain, &[]);
    let message = |p: &Path| {
        format!(
            "{}: cannot resume: its columns differ from this sweep's (a different sweep, or \
             different --timings); use another --out or remove the file",
            p.display()
        )
    };
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--resume".as_ref(),
        "--out".as_ref(),
        timed.as_os_str(),
    ]);
    assert_error(&o, &message(&timed));
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--resume".as_ref(),
        "--timings".as_ref(),
        "--out".as_ref(),
        plain.as_os_str(),
    ]);
    assert_error(&o, &message(&plain));

    // Resuming a truncated timed file with --timings works; apart from `seconds` it holds
    // what the untimed run holds.
    let bytes = d.read("timed.csv");
    let starts = line_starts(&bytes);
    let cut = d.write("cut.csv", &bytes[..starts[7] + 5]);
    cli_sweep(&spec, &cut, &["--resume", "--timings"]);
    let (th, trows) = records(&cut);
    let (ph, prows) = records(&plain);
    assert_eq!(th.last().map(String::as_str), Some("seconds"));
    assert_eq!(&th[..th.len() - 1], &ph[..]);
    assert_eq!(trows.len(), prows.len());
    for (t, p) in trows.iter().zip(&prows) {
        assert_eq!(&t[..t.len() - 1], &p[..]);
        let s: f64 = t.last().unwrap().parse().expect("seconds is a number");
        assert!(s >= 0.0 && s.is_finite(), "{s}");
    }
}

#[test]
fn resume_on_a_missing_file_runs_the_sweep() {
    let (d, spec, full) = small_full();
    let out = d.path("new.csv");
    assert!(!out.exists());
    cli_sweep(&spec, &out, &["--resume"]);
    assert_same_bytes(&d.read("new.csv"), &full, "resume on a missing file");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// Whatever byte the file was cut at, `--resume` rebuilds the uninterrupted file.
    #[test]
    fn resume_from_any_cut_rebuilds_the_file(frac in 0.0f64..=1.0) {
        let d = Dir::new();
        let spec = d.write("s.sweep.toml", inline("seed = 3", "", &(axis("x.std", "[0.5, 1.0, 2.0]") + &axis("variant.scale_rule", r#"["floor", "rceil"]"#))));
        let sweep = Sweep::load(&spec).unwrap();
        let full = d.path("full.csv");
        run(&sweep, &full, &quiet()).unwrap();
        let bytes = fs::read(&full).unwrap();
        let at = ((bytes.len() as f64) * frac) as usize;
        let copy = d.write("copy.csv", &bytes[..at]);
        run(&sweep, &copy, &Options { resume: true, threads: Some(1), ..quiet() }).unwrap();
        prop_assert!(fs::read(&copy).unwrap() == bytes, "cut at {} of {}", at, bytes.len());
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Shards and merge
// ---------------------------------------------------------------------------------------------

/// Runs the three shards of SMALL with the CLI; returns their paths.
fn shards(d: &Dir, spec: &Path) -> Vec<PathBuf> {
    (1..=3)
        .map(|i| {
            let p = d.path(&format!("part{i}.csv"));
            cli_sweep(spec, &p, &["--shard", &format!("{i}/3"), "--threads", "1"]);
            p
        })
        .collect()
}

#[test]
fn shards_merged_in_any_order_equal_the_unsharded_run() {
    let (d, spec, full) = small_full();
    let parts = shards(&d, &spec);
    for (i, p) in parts.iter().enumerate() {
        let (h, rows) = records(p);
        let configs: BTreeSet<u64> = column(&h, &rows, "config")
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        let want: BTreeSet<u64> = (0..12).filter(|c| c % 3 == i as u64).collect();
        assert_eq!(configs, want, "shard {}/3", i + 1);
        assert_eq!(rows.len(), 8);
    }
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let inputs: Vec<PathBuf> = order.iter().map(|&i| parts[i].clone()).collect();
        let out = d.path("merged.csv");
        let m = merge(&inputs, &out).unwrap();
        assert_eq!(
            m,
            Merged {
                configs: 12,
                rows: 24,
                missing_count: 0,
                missing: vec![]
            }
        );
        assert_same_bytes(&d.read("merged.csv"), &full, &format!("order {order:?}"));
    }
    let out = d.path("cli-merged.csv");
    qlab()
        .arg("merge")
        .args([&parts[2], &parts[0], &parts[1]])
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout("")
        .stderr(format!(
            "merged 12 configurations (24 rows) into {}\n",
            out.display()
        ));
    assert_same_bytes(&d.read("cli-merged.csv"), &full, "CLI merge");
    // To standard output: the bytes on stdout, the note names the stream, not "-".
    let o = qlab()
        .arg("merge")
        .args([&parts[2], &parts[0], &parts[1]])
        .args(["--out", "-"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "merged 12 configurations (24 rows) into standard output\n"
    );
    assert_same_bytes(&o.stdout, &full, "merge to -");
}

#[test]
fn shards_through_the_library_equal_the_cli_run() {
    let (d, spec, full) = small_full();
    let sweep = Sweep::load(&spec).unwrap();
    let mut inputs = Vec::new();
    for i in [2, 1] {
        let p = d.path(&format!("lib{i}.csv"));
        let shard = Shard { index: i, count: 2 };
        assert_eq!(run(&sweep, &p, &Options { shard, ..quiet() }).unwrap(), 6);
        inputs.push(p);
    }
    merge(&inputs, &d.path("m.csv")).unwrap();
    assert_same_bytes(&d.read("m.csv"), &full, "two library shards");
    // More shards than configurations: the extra shards hold only the header.
    let p = d.path("empty-shard.csv");
    let shard = Shard {
        index: 13,
        count: 20,
    };
    assert_eq!(run(&sweep, &p, &Options { shard, ..quiet() }).unwrap(), 0);
    assert_eq!(
        String::from_utf8(d.read("empty-shard.csv")).unwrap(),
        format!("{}\n", header(&sweep, false).join(","))
    );
}

#[test]
fn merge_rejects_duplicates() {
    let (d, spec, _) = small_full();
    let parts = shards(&d, &spec);
    let out = d.path("merged.csv");
    let o = output(&[
        "merge".as_ref(),
        parts[0].as_os_str(),
        parts[1].as_os_str(),
        parts[2].as_os_str(),
        parts[0].as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(
        &o,
        &format!(
            "{}: line 2: configuration 0, variant 'int8' appears twice",
            parts[0].display()
        ),
    );
    assert!(!out.exists(), "nothing written");
    // The unsharded file and a shard overlap too (shard 2's first row is configuration 1).
    let e = merge(&[d.path("full.csv"), parts[1].clone()], &out).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: line 2: configuration 1, variant 'int8' appears twice",
            parts[1].display()
        )
    );
    assert!(!out.exists());
}

#[test]
fn merge_refuses_files_of_different_sweeps() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    let other_spec = d.write("other.sweep.toml", small_other());
    let (id, other_id) = (
        Sweep::load(&spec).unwrap().id,
        Sweep::load(&other_spec).unwrap().id,
    );
    let a = d.path("a.csv");
    let b = d.path("b.csv");
    cli_sweep(&spec, &a, &["--shard", "1/2"]);
    cli_sweep(&other_spec, &b, &["--shard", "2/2"]);
    let out = d.path("m.csv");
    let o = output(&[
        "merge".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(
        &o,
        &format!(
            "{}: line 2: belongs to sweep {other_id} but earlier rows to sweep {id}",
            b.display()
        ),
    );
    assert!(!out.exists());
}

#[test]
fn merge_refuses_files_with_different_headers() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    let a = d.path("a.csv");
    let b = d.path("b.csv");
    cli_sweep(&spec, &a, &["--shard", "1/2"]);
    cli_sweep(&spec, &b, &["--shard", "2/2", "--timings"]);
    let out = d.path("m.csv");
    let o = output(&[
        "merge".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(
        &o,
        &format!(
            "{}: its columns differ from those of {}",
            b.display(),
            a.display()
        ),
    );
    assert!(!out.exists());
}

#[test]
fn merge_with_a_missing_shard_reports_the_missing_configurations() {
    let (d, spec, _) = small_full();
    let parts = shards(&d, &spec);
    let out = d.path("m.csv");
    // Without --allow-missing: an error, status 1, and nothing written.
    qlab()
        .arg("merge")
        .args([&parts[2], &parts[0]])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "qlab: error: 4 configurations missing: 1, 4, 7, 10; nothing written (merge every \
             shard, or pass --allow-missing to write the 8 configurations that are here)\n",
        );
    assert!(!out.exists());
    qlab()
        .arg("merge")
        .args([&parts[2], &parts[0]])
        .arg("--out")
        .arg(&out)
        .arg("--allow-missing")
        .assert()
        .success()
        .stdout("")
        .stderr(format!(
            "merged 8 configurations (16 rows) into {}\n\
             qlab: 4 configurations missing: 1, 4, 7, 10 (--allow-missing)\n",
            out.display()
        ));
    // The merged file is the full file without shard 2's rows.
    let (fh, frows) = records(&d.path("full.csv"));
    let (mh, mrows) = records(&out);
    assert_eq!(fh, mh);
    let kept: Vec<Vec<String>> = frows
        .into_iter()
        .filter(|r| r[1].parse::<u64>().unwrap() % 3 != 1)
        .collect();
    assert_eq!(mrows, kept);
    // The library reports the same.
    let m = merge(&[parts[0].clone(), parts[2].clone()], &out).unwrap();
    assert_eq!(
        m,
        Merged {
            configs: 8,
            rows: 16,
            missing_count: 4,
            missing: vec![1, 4, 7, 10]
        }
    );
}

#[test]
fn merge_lists_at_most_twenty_missing_configurations() {
    let d = Dir::new();
    let values: Vec<String> = (1..=30).map(|i| format!("{}.0", i)).collect();
    let spec = d.write(
        "long.sweep.toml",
        inline("", "", &axis("x.std", &format!("[{}]", values.join(", ")))),
    );
    let part = d.path("part.csv");
    cli_sweep(&spec, &part, &["--shard", "1/30"]);
    let out = d.path("m.csv");
    let shown: Vec<String> = (1..=20).map(|c| c.to_string()).collect();
    qlab()
        .arg("merge")
        .arg(&part)
        .arg("--out")
        .arg(&out)
        .arg("--allow-missing")
        .assert()
        .success()
        .stderr(format!(
            "merged 1 configuration (2 rows) into {}\n\
             qlab: 29 configurations missing: {}, … (--allow-missing)\n",
            out.display(),
            shown.join(", ")
        ));
}

#[test]
fn merge_refuses_a_csv_that_is_not_a_sweep() {
    let (d, spec, _) = small_full();
    let scenario = d.write("s.toml", BASE);
    let run_csv = d.path("run.csv");
    qlab()
        .arg("run")
        .arg(&scenario)
        .arg("--csv")
        .arg(&run_csv)
        .assert()
        .success();
    let part = d.path("part.csv");
    cli_sweep(&spec, &part, &["--shard", "1/2"]);
    let empty = d.write("empty.csv", "");
    let out = d.path("m.csv");
    for inputs in [
        vec![run_csv.clone()],
        vec![part.clone(), run_csv.clone()],
        vec![empty.clone()],
    ] {
        let bad = inputs.last().unwrap();
        let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref()];
        args.extend(inputs.iter().map(|p| p.as_os_str()));
        args.extend(["--out".as_ref(), out.as_os_str()]);
        assert_error(
            &output(&args),
            &format!(
                "{}: not a qlab sweep CSV (its first columns are not sweep_id, config, configs)",
                bad.display()
            ),
        );
        assert!(!out.exists());
    }
    // No input at all.
    assert_eq!(
        merge(&[], &out).unwrap_err().to_string(),
        "merge needs at least one input file"
    );
    qlab()
        .args(["merge", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "required arguments were not provided",
        ));
}

#[test]
fn merge_reports_an_incomplete_configuration() {
    // A shard interrupted between the two variant rows of configuration 3 (shard 1/3 holds
    // configurations 0, 3, 6, 9): the file ends at a clean row boundary, so merge reads it.
    let (d, spec, _) = small_full();
    let parts = shards(&d, &spec);
    let bytes = fs::read(&parts[0]).unwrap();
    let starts = line_starts(&bytes);
    fs::write(&parts[0], &bytes[..starts[4]]).unwrap(); // header, config 0 ×2, config 3 ×1
    let out = d.path("m.csv");
    // Today: success, "merged 10 configurations (19 rows)", "2 configurations are missing:
    // 6, 9", and configuration 3's mxfp4 row silently absent from the merged file.
    match merge(&parts, &out) {
        Err(e) => assert!(e.to_string().contains("configuration 3"), "{e}"),
        Ok(m) => assert!(
            m.missing.contains(&3),
            "configuration 3 has 1 of 2 variant rows but is not reported: {m:?}"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Header
// ---------------------------------------------------------------------------------------------

#[test]
fn header_of_a_two_axis_sweep() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    let sweep = Sweep::load(&spec).unwrap();
    let h = header(&sweep, false);
    insta::assert_snapshot!("header_two_axes", h.join("\n"));

    assert_eq!(&h[..4], LEAD_COLUMNS);
    assert_eq!(&h[..4], ["sweep_id", "config", "configs", "repeat"]);
    assert_eq!(&h[4..6], ["x.dist", "variant.block_size"]);
    assert_eq!(&h[6..11], ["scenario", "seed", "m", "k", "n"]);
    assert_eq!(h.last().map(String::as_str), Some("qlab_version"));

    // The report columns are exactly those of `qlab run --csv`.
    let scenario = d.write(
        "s.toml",
        format!("{BASE}x = {{ dist = \"normal\", std = 2.0 }}\n"),
    );
    let run_csv = d.path("run.csv");
    qlab()
        .arg("run")
        .arg(&scenario)
        .arg("--csv")
        .arg(&run_csv)
        .assert()
        .success();
    let (run_header, _) = records(&run_csv);
    assert_eq!(&h[6..], &run_header[..]);

    // --timings adds one final column.
    let t = header(&sweep, true);
    assert_eq!(&t[..h.len()], &h[..]);
    assert_eq!(t[h.len()..], ["seconds"]);

    // The files start with these headers.
    let out = d.path("out.csv");
    cli_sweep(&spec, &out, &[]);
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().next(), Some(h.join(",").as_str()));
    cli_sweep(&spec, &out, &["--timings"]);
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().next(), Some(t.join(",").as_str()));
}

#[test]
fn axis_columns_follow_the_file_order() {
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        inline(
            "",
            "x = { outlier_channels = { count = 1, factor = 10.0 } }",
            &(axis("variant.scale_rule", r#"["floor", "ceil"]"#)
                + &axis("w.std", "[1.0, 2.0]")
                + &axis("x.outlier_channels.count", "[1, 2]")),
        ),
    );
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!(
        &header(&sweep, false)[4..8],
        [
            "variant.scale_rule",
            "w.std",
            "x.outlier_channels.count",
            "scenario"
        ]
    );
    // The last axis varies fastest, the repeat slowest.
    assert_eq!(sweep.decode(0), (0, vec![0, 0, 0]));
    assert_eq!(sweep.decode(1), (0, vec![0, 0, 1]));
    assert_eq!(sweep.decode(2), (0, vec![0, 1, 0]));
    assert_eq!(sweep.decode(7), (0, vec![1, 1, 1]));
}

#[test]
fn column_names_are_unique() {
    let d = Dir::new();
    for name in ["seed", "m", "k", "n"] {
        let values = if name == "seed" { "[1, 2]" } else { "[4, 8]" };
        let spec = d.write("s.sweep.toml", inline("", "", &axis(name, values)));
        let sweep = Sweep::load(&spec).unwrap();
        let h = header(&sweep, false);
        // Today: sweep_id,config,configs,repeat,seed,scenario,seed,m,... (`seed` twice).
        let unique: BTreeSet<&String> = h.iter().collect();
        assert_eq!(unique.len(), h.len(), "axis '{name}': {}", h.join(","));
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Every sweep file in the repository parses
// ---------------------------------------------------------------------------------------------

fn repo_sweep_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["results", "scenarios"] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".sweep.toml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_sweep_file_in_the_repo_parses_and_plans() {
    let files = repo_sweep_files();
    assert!(files.len() >= 3, "found {files:?}");
    for f in &files {
        let s = Sweep::load(f).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(s.len(), 0, "{}", f.display());
        assert!(!s.is_empty());
        assert!(s.variants() > 0);
        assert!(!s.name.is_empty() && !s.description.is_empty());
        let lines = plan(&s, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lines.len() as u64, s.len().min(3), "{}", f.display());
        for (i, l) in lines.iter().enumerate() {
            assert!(l.trim_start().starts_with(&format!("{i}  repeat ")), "{l}");
        }
        // The last configuration builds too.
        s.config(s.len() - 1)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // Dry-run works on it.
        qlab()
            .arg("sweep")
            .arg(f)
            .arg("--dry-run")
            .assert()
            .success()
            .stdout(predicate::str::starts_with(format!(
                "{}: {} configurations × {} variant{}",
                s.name,
                s.len(),
                s.variants(),
                if s.variants() == 1 { "" } else { "s" }
            )));
    }
}

#[test]
fn committed_results_match_their_sweep_files() {
    for f in repo_sweep_files() {
        let csv_path = PathBuf::from(f.to_string_lossy().replace(".sweep.toml", ".csv"));
        if !csv_path.exists() {
            continue;
        }
        let s = Sweep::load(&f).unwrap();
        let (h, rows) = records(&csv_path);
        assert_eq!(h, header(&s, false), "{}", csv_path.display());
        assert_eq!(
            rows.len() as u64,
            s.len() * s.variants() as u64,
            "{}",
            csv_path.display()
        );
        assert!(
            rows.iter().all(|r| r[0] == s.id),
            "{}: rows of another sweep id than {} (stale results?)",
            csv_path.display(),
            s.id
        );
        // Configuration 0 recomputed now equals the committed rows.
        let now = run_config(&s, 0, false).unwrap();
        assert_eq!(
            &rows[..s.variants()],
            &now[..],
            "{}: configuration 0 differs from a fresh run (stale results?)",
            csv_path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Seeds
// ---------------------------------------------------------------------------------------------

#[test]
fn configurations_differing_in_a_variant_axis_share_seed_and_data() {
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        inline(
            "seed = 7\nrepeat = 2",
            "",
            &(axis("variant.block_size", "[8, 16, 32]")
                + &axis("variant.scale_rule", r#"["floor", "ceil"]"#)),
        ),
    );
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!(sweep.len(), 12);
    let configs: Vec<_> = (0..12).map(|i| sweep.config(i).unwrap()).collect();
    let data: Vec<_> = configs
        .iter()
        .map(|c| c.scenario.operands().unwrap())
        .collect();
    for i in 0..12 {
        let first = (i / 6) * 6; // the first configuration of the same repeat
        assert_eq!(configs[i].repeat, first as u64 / 6);
        assert_eq!(configs[i].scenario.seed, configs[first].scenario.seed);
        assert!(data[i] == data[first], "configuration {i}: other W/x");
    }
    assert_eq!(configs[0].scenario.seed, 7);
    assert_ne!(configs[6].scenario.seed, 7);
    assert!(data[0] != data[6], "repeats draw fresh data");

    // In the CSV: one seed per repeat, and the int8 variant (which no axis touches) gives
    // the same numbers in every configuration of a repeat.
    let out = d.path("out.csv");
    run(&sweep, &out, &quiet()).unwrap();
    let (h, rows) = records(&out);
    let seeds = column(&h, &rows, "seed");
    let sqnr = column(&h, &rows, "out_sqnr_db");
    let fmt = column(&h, &rows, "format");
    for r in 0..rows.len() {
        let first = (r / 12) * 12;
        assert_eq!(seeds[r], seeds[first]);
        if fmt[r] == "int8" {
            assert_eq!(sqnr[r], sqnr[first], "row {r}");
        }
    }
    assert_eq!(seeds[0], "7");
    assert_eq!(seeds[12], configs[6].scenario.seed.to_string());
}

#[test]
fn every_repeat_gets_its_own_seed_and_the_first_uses_the_sweep_seed() {
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        inline("seed = 11\nrepeat = 4", "", &axis("x.std", "[1.0, 2.0]")),
    );
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!((sweep.seed, sweep.repeat, sweep.len()), (11, 4, 8));
    let seeds: Vec<u64> = (0..8)
        .map(|i| sweep.config(i).unwrap().scenario.seed)
        .collect();
    assert_eq!(seeds[0], 11);
    for r in 0..4 {
        assert_eq!(seeds[2 * r], seeds[2 * r + 1], "one seed per repeat");
        assert!(seeds[2 * r] <= i64::MAX as u64, "fits a TOML integer");
    }
    let distinct: BTreeSet<u64> = seeds.iter().copied().collect();
    assert_eq!(distinct.len(), 4, "{seeds:?}");
    // The plan shows them.
    let lines = plan(&sweep, 8).unwrap();
    assert_eq!(lines[0], "     0  repeat 0  seed 11  x.std=1.0");
    assert_eq!(
        lines[7],
        format!("     7  repeat 3  seed {}  x.std=2.0", seeds[7])
    );
}

#[test]
fn the_sweep_seed_defaults_to_the_base_seed_then_to_42() {
    let d = Dir::new();
    let spec = d.write(
        "a.sweep.toml",
        inline("", "seed = 5", &axis("x.std", "[1.0]")),
    );
    let s = Sweep::load(&spec).unwrap();
    assert_eq!(s.seed, 5);
    assert_eq!(s.config(0).unwrap().scenario.seed, 5);
    let spec = d.write("b.sweep.toml", inline("", "", &axis("x.std", "[1.0]")));
    let s = Sweep::load(&spec).unwrap();
    assert_eq!(s.seed, 42);
    assert_eq!(s.config(0).unwrap().scenario.seed, 42);
    // The sweep's own seed wins over the base's.
    let spec = d.write(
        "c.sweep.toml",
        inline("seed = 9", "seed = 5", &axis("x.std", "[1.0]")),
    );
    assert_eq!(
        Sweep::load(&spec).unwrap().config(0).unwrap().scenario.seed,
        9
    );
}

#[test]
fn a_seed_axis_overrides_the_derived_seed() {
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        inline("seed = 7", "", &axis("seed", "[1, 99]")),
    );
    let sweep = Sweep::load(&spec).unwrap();
    let a = sweep.config(0).unwrap();
    let b = sweep.config(1).unwrap();
    assert_eq!((a.scenario.seed, b.scenario.seed), (1, 99));
    // The data is that of the plain scenario with that seed.
    let plain = Scenario::from_toml(
        &format!("{BASE}seed = 1\n"),
        Path::new("plain.toml"),
        PathBuf::new(),
    )
    .unwrap();
    assert!(a.scenario.operands().unwrap() == plain.operands().unwrap());
    assert!(a.scenario.operands().unwrap() != b.scenario.operands().unwrap());
    let out = d.path("out.csv");
    run(&sweep, &out, &quiet()).unwrap();
    let (h, rows) = records(&out);
    // The report's seed column (the second "seed" column) holds the seed used.
    let report_seed = h.iter().rposition(|c| c == "seed").unwrap();
    let seeds: Vec<&str> = rows.iter().map(|r| r[report_seed].as_str()).collect();
    assert_eq!(seeds, ["1", "1", "99", "99"]);
}

// ---------------------------------------------------------------------------------------------
// 7. Axes
// ---------------------------------------------------------------------------------------------

#[test]
fn a_dist_axis_drops_the_old_distribution_parameters() {
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        inline(
            "",
            "x = { dist = \"normal\", std = 2.0 }",
            &axis(
                "x.dist",
                r#"["normal", "student_t", "laplace", "uniform", "lognormal"]"#,
            ),
        ),
    );
    let sweep = Sweep::load(&spec).unwrap();
    let described: Vec<String> = (0..5)
        .map(|i| sweep.config(i).unwrap().scenario.x.describe())
        .collect();
    assert_eq!(
        described,
        [
            "normal(mean 0, std 2)",
            "student_t(nu 3, scale 1)",
            "laplace(mean 0, scale 1)",
            "uniform[-1, 1)",
            "lognormal(mu 0, sigma 1, positive sign)",
        ]
    );
    let out = d.path("out.csv");
    run(&sweep, &out, &quiet()).unwrap();
    let (h, rows) = records(&out);
    let xs: Vec<String> = column(&h, &rows, "x_source")
        .into_iter()
        .step_by(2)
        .collect();
    assert_eq!(xs, described);

    // And the other way: a base with student_t parameters swept to normal.
    let spec = d.write(
        "t.sweep.toml",
        inline(
            "",
            "x = { dist = \"student_t\", nu = 5.0, scale = 0.5 }",
            &axis("x.dist", r#"["student_t", "normal"]"#),
        ),
    );
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!(
        sweep.config(0).unwrap().scenario.x.describe(),
        "student_t(nu 5, scale 0.5)"
    );
    assert_eq!(
        sweep.config(1).unwrap().scenario.x.describe(),
        "normal(mean 0, std 1)"
    );
}

#[test]
fn a_parameter_axis_is_not_silently_dropped_by_a_later_dist_axis() {
    // axes [x.std, x.dist]: for student_t the std value is removed, so configurations
    // "x.std = 1.0" and "x.std = 3.0" are the same data while the CSV's x.std column says
    // otherwise. With the axes the other way round the sweep is refused ("'std' does not apply
    // to dist 'student_t'"): the meaning depends on the axis order.
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        inline(
            "",
            "",
            &(axis("x.std", "[1.0, 3.0]") + &axis("x.dist", r#"["normal", "student_t"]"#)),
        ),
    );
    match Sweep::load(&spec) {
        Err(e) => assert!(e.to_string().contains("x.std"), "{e}"),
        Ok(sweep) => {
            let a = sweep.config(1).unwrap(); // x.std = 1.0, student_t
            let b = sweep.config(3).unwrap(); // x.std = 3.0, student_t
            assert_ne!(
                a.scenario.x.describe(),
                b.scenario.x.describe(),
                "x.std = 1.0 and x.std = 3.0 give the same student_t data"
            );
        }
    }
}

#[test]
fn nested_axes_set_nested_tables() {
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        inline(
            "",
            "x = { outlier_channels = { count = 2, factor = 1.0 } }\n\
             w = { channel_spread = { decades = 1.0 } }",
            &(axis("x.outlier_channels.factor", "[1.0, 10.0]")
                + &axis("w.channel_spread.decades", "[0.5, 2.0]")),
        ),
    );
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!(sweep.len(), 4);
    let c = sweep.config(3).unwrap().scenario;
    let oc = c.x.modifiers.outlier_channels.as_ref().unwrap();
    assert_eq!((oc.count, oc.factor), (2, 10.0), "the count is kept");
    assert_eq!(c.w.modifiers.channel_spread.as_ref().unwrap().decades, 2.0);
    let c = sweep.config(0).unwrap().scenario;
    assert_eq!(c.x.modifiers.outlier_channels.as_ref().unwrap().factor, 1.0);
    assert_eq!(c.w.modifiers.channel_spread.as_ref().unwrap().decades, 0.5);
    let out = d.path("out.csv");
    cli_sweep(&spec, &out, &[]);
    let (h, rows) = records(&out);
    assert_eq!(rows.len(), 8);
    assert_eq!(
        column(&h, &rows, "x.outlier_channels.factor"),
        ["1.0", "1.0", "1.0", "1.0", "10.0", "10.0", "10.0", "10.0"]
    );

    // Without the table in the base, the nested axis lacks the table's other fields.
    let spec = d.write(
        "bad.sweep.toml",
        inline("", "", &axis("x.outlier_channels.factor", "[1.0]")),
    );
    let e = Sweep::load(&spec).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: axis 'x.outlier_channels.factor' = 1.0: ",
            spec.display()
        )),
        "{e}"
    );
    assert!(e.ends_with("missing field `count`"), "{e}");
}

#[test]
fn a_variant_axis_applies_to_every_variant_of_its_format() {
    let d = Dir::new();
    let variants = "\n[[scenario.variants]]\nformat = \"int8\"\n\
                    \n[[scenario.variants]]\nlabel = \"a\"\nformat = \"mxfp4\"\n\
                    \n[[scenario.variants]]\nlabel = \"b\"\nformat = \"mxfp4\"\nscale_rule = \"ceil\"\n";
    let spec = d.write(
        "s.sweep.toml",
        format!(
            "[scenario]\n{BASE}{variants}\n{}",
            axis("variant.block_size", r#"[8, "tensor"]"#)
        ),
    );
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!(sweep.variants(), 3);
    for (i, want) in [(0, BlockSize::Elements(8)), (1, BlockSize::Tensor)] {
        let s = sweep.config(i).unwrap().scenario;
        assert_eq!(s.variants[0].w_format.name(), "int8");
        for (v, rule) in [(1, ScaleRule::Floor), (2, ScaleRule::Ceil)] {
            assert_eq!(s.variants[v].w_format.name(), "mxfp4", "variant {v}");
            let config = qlab::family::mxfp4::config(&s.variants[v].w).unwrap();
            assert_eq!(config.block, want, "config {i} variant {v}");
            assert_eq!(config.rule, rule, "the other settings are kept");
        }
        assert_eq!(s.variants[1].label, "a");
        assert_eq!(s.variants[2].label, "b");
    }
    let out = d.path("out.csv");
    run(&sweep, &out, &quiet()).unwrap();
    let (h, rows) = records(&out);
    assert_eq!(
        column(&h, &rows, "block_size"),
        ["", "8", "8", "", "tensor", "tensor"]
    );
    assert_eq!(
        column(&h, &rows, "variant.block_size"),
        ["8", "8", "8", "tensor", "tensor", "tensor"]
    );

    // With no variants in the base, the axis applies to the default pair.
    let spec = d.write(
        "default.sweep.toml",
        inline("", "", &axis("variant.scale_rule", r#"["floor", "rceil"]"#)),
    );
    let sweep = Sweep::load(&spec).unwrap();
    let labels: Vec<String> = sweep
        .config(1)
        .unwrap()
        .scenario
        .variants
        .iter()
        .map(|v| v.label.clone())
        .collect();
    assert_eq!(labels, ["int8", "mxfp4 b32 rceil"]);
}

#[test]
fn a_variant_axis_is_refused_without_a_variant_of_its_format() {
    let d = Dir::new();
    for (format, name, value, wanted) in [
        ("int8", "variant.block_size", "8", "mxfp4"),
        ("mxfp4", "variant.rounding", "\"floor\"", "int8"),
        ("mxfp4", "variant.w_granularity", "\"channel\"", "int8"),
    ] {
        let spec = d.write(
            "s.sweep.toml",
            format!(
                "[scenario]\n{BASE}\n[[scenario.variants]]\nformat = \"{format}\"\n\n{}",
                axis(name, &format!("[{value}]"))
            ),
        );
        let o = output(&["sweep".as_ref(), spec.as_os_str(), "--dry-run".as_ref()]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stdout(&o), "");
        let e = stderr(&o);
        assert!(
            e.starts_with(&format!("qlab: error: {}: axis '{name}' ", spec.display())),
            "{e}"
        );
        let key = name.trim_start_matches("variant.");
        let names: Vec<&str> = qlab::family::families_with(key)
            .iter()
            .map(|f| f.name())
            .collect();
        assert!(names.contains(&wanted), "{name}");
        let wanted = qlab::family::knob::one_of(&names);
        assert!(
            e.ends_with(&format!(
                "axis '{name}' sets a setting that only {wanted} variants have, but the base \
                 scenario has none\n"
            )),
            "{e}"
        );
    }
}

#[test]
fn a_variant_axis_refusal_names_the_axis_once() {
    // Today: "s.sweep.toml: axis 'variant.block_size' = 8: axis 'variant.block_size' sets an
    // mxfp4 setting, but the base scenario has no mxfp4 variant"
    let d = Dir::new();
    let spec = d.write(
        "s.sweep.toml",
        format!(
            "[scenario]\n{BASE}\n[[scenario.variants]]\nformat = \"int8\"\n\n{}",
            axis("variant.block_size", "[8]")
        ),
    );
    let e = Sweep::load(&spec).unwrap_err().to_string();
    assert_eq!(e.matches("variant.block_size").count(), 1, "{e}");
}

#[test]
fn inline_scenario_and_base_path_both_work() {
    let d = Dir::new();
    let scenario = format!("{BASE}seed = 5\nx = {{ dist = \"laplace\", scale = 0.5 }}\n");
    let axes = axis("variant.block_size", "[8, 16]") + &axis("w.std", "[0.5, 2.0]");
    d.write("sweeps/sub/base.toml", &scenario);
    let based = d.write(
        "sweeps/based.sweep.toml",
        format!("base = \"sub/base.toml\"\n\n{axes}"),
    );
    let inl = d.write(
        "sweeps/inline.sweep.toml",
        format!("[scenario]\n{scenario}\n{axes}"),
    );
    // Run from the temp root with a relative spec path: `base` resolves against the sweep
    // file's directory, not the working directory.
    qlab()
        .current_dir(d.root())
        .args([
            "sweep",
            "sweeps/based.sweep.toml",
            "--quiet",
            "--out",
            "based.csv",
        ])
        .assert()
        .success();
    cli_sweep(&inl, &d.path("inline.csv"), &[]);
    let (bh, brows) = records(&d.path("based.csv"));
    let (ih, irows) = records(&d.path("inline.csv"));
    assert_eq!(bh, ih);
    assert_eq!(brows.len(), 8);
    // Same data and results; only the sweep id differs.
    for (b, i) in brows.iter().zip(&irows) {
        assert_eq!(b[1..], i[1..]);
    }
    let (bs, is) = (Sweep::load(&based).unwrap(), Sweep::load(&inl).unwrap());
    assert_eq!(bs.seed, 5);
    assert!(
        bs.config(3).unwrap().scenario.operands().unwrap()
            == is.config(3).unwrap().scenario.operands().unwrap()
    );
}

#[test]
fn data_files_of_a_base_scenario_resolve_against_the_base_file() {
    let d = Dir::new();
    let rows: Vec<String> = (0..8)
        .map(|r| {
            (0..64)
                .map(|c| format!("{}", ((r * 64 + c) % 17) as f32 / 8.0 - 1.0))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    d.write("data/sub/w.csv", rows.join("\n") + "\n");
    d.write("data/sub/base.toml", "n = 4\nw = { file = \"w.csv\" }\n");
    let spec = d.write(
        "data/sweep.toml",
        format!(
            "base = \"sub/base.toml\"\n\n{}",
            axis("x.std", "[1.0, 2.0]")
        ),
    );
    let sweep = Sweep::load(&spec).unwrap();
    let ops = sweep.config(0).unwrap().scenario.operands().unwrap();
    assert_eq!((ops.w.rows(), ops.w.cols()), (8, 64));
    assert_eq!(ops.w.row(1)[0], ((64 % 17) as f32) / 8.0 - 1.0);
    let out = d.path("out.csv");
    qlab()
        .current_dir(d.path("data/sub"))
        .arg("sweep")
        .arg(&spec)
        .arg("--quiet")
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let (h, rows) = records(&out);
    assert_eq!(column(&h, &rows, "k"), ["64"; 4]);
}

#[test]
fn base_and_inline_scenario_together_are_refused() {
    let d = Dir::new();
    d.write("b.toml", BASE);
    let spec = d.write(
        "s.sweep.toml",
        inline("base = \"b.toml\"", "", &axis("x.std", "[1.0]")),
    );
    let o = output(&["sweep".as_ref(), spec.as_os_str(), "--dry-run".as_ref()]);
    assert_error(
        &o,
        &format!(
            "{}: give 'base' or a [scenario] table, not both",
            spec.display()
        ),
    );
}

#[test]
fn a_missing_or_invalid_base_is_named() {
    let d = Dir::new();
    let spec = d.write(
        "sweeps/s.sweep.toml",
        format!("base = \"nope.toml\"\n\n{}", axis("x.std", "[1.0]")),
    );
    let e = Sweep::load(&spec).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: ", d.path("sweeps/nope.toml").display())),
        "relative to the sweep file: {e}"
    );
    let base = d.write("sweeps/bad.toml", format!("{BASE}mm = 3\n"));
    let spec = d.write(
        "sweeps/s.sweep.toml",
        format!("base = \"bad.toml\"\n\n{}", axis("x.std", "[1.0]")),
    );
    let e = Sweep::load(&spec).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: line 4", base.display())), "{e}");
    assert!(e.contains("unknown field `mm`"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// 8. Bad input
// ---------------------------------------------------------------------------------------------

/// `qlab sweep SPEC --dry-run` on a sweep file made of `text`: (spec path, output).
fn dry_run(d: &Dir, text: &str) -> (PathBuf, Output) {
    let spec = d.write("bad.sweep.toml", text);
    let o = output(&["sweep".as_ref(), spec.as_os_str(), "--dry-run".as_ref()]);
    (spec, o)
}

#[test]
fn an_unknown_axis_lists_the_valid_ones() {
    let d = Dir::new();
    let (spec, o) = dry_run(&d, &inline("", "", &axis("x.foo", "[1]")));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "qlab: error: {}: line 7, column 1: unknown axis 'x.foo'; valid axes: seed, m, k, n, w.dist, ",
            spec.display()
        )),
        "{e}"
    );
    // At most twelve are listed, and how many more there are; the library has them all.
    let valid = qlab::sweep::spec::valid_axes();
    assert!(
        e.contains(&format!(
            " and {} more (w.KEY and x.KEY for every operand key, variant.KEY for every format \
             setting)",
            valid.len() - 12
        )),
        "{e}"
    );
    for a in [
        "x.dist",
        "x.std",
        "w.nu",
        "x.outlier_channels.factor",
        "w.channel_spread.decades",
        "variant.block_size",
        "variant.scale_rule",
        "variant.rounding",
    ] {
        assert!(valid.iter().any(|v| v == a), "{a}");
    }
    assert!(!valid.iter().any(|v| v == "variant.seed"));
    // The message lists the first twelve axes a sweep accepts.
    let listed: Vec<&str> = e
        .split("valid axes: ")
        .nth(1)
        .unwrap()
        .split(" and ")
        .next()
        .unwrap()
        .split(", ")
        .collect();
    assert_eq!(listed, valid[..12]);
}

#[test]
fn structural_errors_have_exact_messages() {
    let d = Dir::new();
    let cases: Vec<(String, &str)> = vec![
        (
            inline("", "", &axis("x.std", "[]")),
            "line 7, column 1: axis 'x.std' has no values",
        ),
        (
            inline("", "", &(axis("x.std", "[1.0]") + &axis("x.std", "[2.0]"))),
            "line 10, column 1: axis 'x.std' is given twice",
        ),
        (
            inline("", "", ""),
            "the sweep has no [[axis]] and no repeat; add at least one axis",
        ),
        (
            inline("repeat = 1", "", ""),
            "the sweep has no [[axis]] and no repeat; add at least one axis",
        ),
        (
            inline("repeat = 0", "", &axis("x.std", "[1.0]")),
            "line 1, column 10: repeat = 0 is invalid; expected a count ≥ 1",
        ),
        (
            inline("foo = 1", "", &axis("x.std", "[1.0]")),
            "line 1, column 1: unknown field `foo`, expected one of `name`, `description`, `seed`, `repeat`, \
             `base`, `scenario`, `axis`",
        ),
        (
            inline("", "", &(axis("x.std", "[1.0]") + "typo = 3\n")),
            "line 10, column 1: unknown field `typo`, expected `name` or `values`",
        ),
    ];
    for (text, message) in cases {
        let (spec, o) = dry_run(&d, &text);
        assert_error(&o, &format!("{}: {message}", spec.display()));
    }
    // A repeat-only sweep is fine.
    let (_, o) = dry_run(&d, &inline("repeat = 3", "", ""));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(": 3 configurations × 2 variants = 6 rows"));
}

#[test]
fn repeat_zero_without_axes_says_repeat_zero() {
    // Today: "bad.sweep.toml: the sweep has no [[axis]] and no repeat; add at least one axis"
    let d = Dir::new();
    let (spec, o) = dry_run(&d, &inline("repeat = 0", "", ""));
    assert_error(
        &o,
        &format!(
            "{}: line 1, column 10: repeat = 0 is invalid; expected a count ≥ 1",
            spec.display()
        ),
    );
}

#[test]
fn a_bad_axis_value_names_the_axis_and_the_value() {
    let d = Dir::new();
    let (spec, o) = dry_run(&d, &inline("", "", &axis("x.std", "[1.0, -1]")));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "qlab: error: {}: axis 'x.std' = -1: ",
            spec.display()
        )),
        "{e}"
    );
    assert!(
        e.ends_with("x.std = -1 is invalid; expected a finite number > 0\n"),
        "{e}"
    );
    for (name, values, tail) in [
        ("m", "[8, 0]", "m = 0 is invalid; expected a size ≥ 1\n"),
        (
            "x.dist",
            r#"["normal", "cauchy"]"#,
            "unknown dist 'cauchy'; expected normal, uniform, laplace, student_t, lognormal, \
             bimodal or constant\n",
        ),
        (
            "variant.block_size",
            "[32, 0]",
            "block_size = 0 is invalid; expected an integer ≥ 1 or \"tensor\"\n",
        ),
    ] {
        let (spec, o) = dry_run(&d, &inline("", "", &axis(name, values)));
        let e = stderr(&o);
        let value = values.trim_matches(['[', ']']).split(", ").nth(1).unwrap();
        let value = value.trim_matches('"');
        assert!(
            e.starts_with(&format!(
                "qlab: error: {}: axis '{name}' = {value}: ",
                spec.display()
            )),
            "{e}"
        );
        assert!(e.ends_with(tail), "{e}");
    }
}

#[test]
fn a_bad_axis_value_has_no_position_of_the_generated_text() {
    // Today: "bad.sweep.toml: axis 'x.std' = -1: line 6, column 1: x.std = -1 is invalid; ..."
    // where line 6 of bad.sweep.toml is a comment: the position is that of the TOML qlab
    // generated for the configuration.
    let d = Dir::new();
    let text = format!(
        "# one\n# two\n# three\n# four\n# five\n# six\n# seven\n\n[scenario]\n{BASE}\n{}",
        axis("x.std", "[-1]")
    );
    let (_, o) = dry_run(&d, &text);
    let e = stderr(&o);
    assert!(e.contains("x.std = -1 is invalid"), "{e}");
    assert!(!e.contains("line 6, column 1"), "{e}");
}

#[test]
fn an_inline_scenario_error_is_not_blamed_on_an_axis() {
    // Today: "bad.sweep.toml: axis 'x.std' = 1.0: line 3, column 1: unknown field `mm`, ..."
    // (and line 3 is not where `mm` is in the sweep file).
    let d = Dir::new();
    let (_, o) = dry_run(&d, &inline("", "mm = 3", &axis("x.std", "[1.0]")));
    let e = stderr(&o);
    assert!(e.contains("unknown field `mm`"), "{e}");
    assert!(!e.contains("axis 'x.std'"), "{e}");
}

#[test]
fn an_invalid_inline_scenario_is_refused_before_anything_is_written() {
    // Today: `--dry-run` prints "bad: 2 configurations × 2 variants = 4 rows ..." and then
    // fails; `--out o.csv` fails with "bad.sweep.toml (configuration 0): line 3, column 1:
    // unknown field `mm`, ..." after writing o.csv with the header only.
    let d = Dir::new();
    let spec = d.write("bad.sweep.toml", inline("repeat = 2", "mm = 3", ""));
    assert!(Sweep::load(&spec).is_err(), "the sweep loads");
    let out = d.path("o.csv");
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists(), "a header-only file was written");
}

/// Four axes of 60 values: 12,960,000 configurations.
fn huge_sweep() -> String {
    let values: Vec<String> = (1..=60).map(|i| format!("{}.0", i)).collect();
    let values = format!("[{}]", values.join(", "));
    let axes: String = ["x.std", "w.std", "x.mean", "w.mean"]
        .iter()
        .map(|a| axis(a, &values))
        .collect();
    inline("name = \"huge\"", "", &axes)
}

#[test]
fn a_sweep_over_ten_million_configurations_needs_yes() {
    let d = Dir::new();
    let spec = d.write("huge.sweep.toml", huge_sweep());
    let sweep = Sweep::load(&spec).unwrap();
    assert_eq!(sweep.len(), 12_960_000);
    assert!(sweep.len() > LARGE_SWEEP);
    let out = d.path("huge.csv");
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(
        &o,
        &format!(
            "{}: the sweep has 12960000 configurations, more than 10000000; pass --yes to run it anyway",
            spec.display()
        ),
    );
    assert!(!out.exists());
    assert_eq!(d.listing(), ["huge.sweep.toml"]);

    // --dry-run shows the count without --yes.
    let o = output(&["sweep".as_ref(), spec.as_os_str(), "--dry-run".as_ref()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "huge: 12960000 configurations × 2 variants = 25920000 rows (sweep {})",
            sweep.id
        )
    );
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[11], "   … 12959990 more");
    assert_eq!(
        lines[1],
        "     0  repeat 0  seed 42  x.std=1.0  w.std=1.0  x.mean=1.0  w.mean=1.0"
    );

    // --yes gets past the gate (stopped here by --threads 0 before anything runs).
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--yes".as_ref(),
        "--threads".as_ref(),
        "0".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(&o, "--threads 0 is invalid; expected at least 1");
    assert_eq!(d.listing(), ["huge.sweep.toml"]);
}

#[test]
fn bad_shards_are_refused_by_the_parser() {
    let (d, spec, _) = small_full();
    let out = d.path("o.csv");
    for s in ["0/2", "3/2", "x", "1/0", "0/0", "1/2/3", "1/", "/2", " 1/2"] {
        let o = output(&[
            "sweep".as_ref(),
            spec.as_os_str(),
            "--shard".as_ref(),
            s.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{s}");
        let e = stderr(&o);
        assert!(
            e == format!(
                "qlab: error: invalid value '{s}' for '--shard <I/N>': invalid shard '{s}'; \
                 expected I/N with 1 ≤ I ≤ N, e.g. 2/8 (see --help)\n"
            ),
            "{s}: {e}"
        );
        assert_eq!(
            s.parse::<Shard>().unwrap_err().to_string(),
            format!("invalid shard '{s}'; expected I/N with 1 ≤ I ≤ N, e.g. 2/8")
        );
    }
    assert!(!out.exists());
    for s in ["-1/2", "", "1/-2", "2/1"] {
        assert_eq!(
            s.parse::<Shard>().unwrap_err().to_string(),
            format!("invalid shard '{s}'; expected I/N with 1 ≤ I ≤ N, e.g. 2/8")
        );
    }
    assert_eq!(
        "2/8".parse::<Shard>().unwrap(),
        Shard { index: 2, count: 8 }
    );
}

proptest! {
    /// Every configuration is in exactly one shard of any shard count.
    #[test]
    fn shards_partition_the_configurations(count in 1u64..40, config in 0u64..100_000) {
        let holders: Vec<u64> = (1..=count)
            .filter(|&index| Shard { index, count }.contains(config))
            .collect();
        prop_assert_eq!(holders, vec![config % count + 1]);
        let text = format!("{}/{count}", config % count + 1);
        prop_assert_eq!(text.parse::<Shard>().unwrap(), Shard { index: config % count + 1, count });
    }
}

#[test]
fn threads_zero_is_refused() {
    let (d, spec, _) = small_full();
    let out = d.path("o.csv");
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--threads".as_ref(),
        "0".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(&o, "--threads 0 is invalid; expected at least 1");
    assert!(!out.exists());
}

#[test]
fn an_unwritable_output_is_named_and_nothing_is_created() {
    let (d, spec, _) = small_full();
    let before = d.listing();
    let out = d.path("no/such/dir/o.csv");
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_error(
        &o,
        &format!("{}: No such file or directory (os error 2)", out.display()),
    );
    assert!(!d.path("no").exists());
    assert_eq!(d.listing(), before, "no stray files");
    // The output is a directory.
    fs::create_dir(d.path("adir")).unwrap();
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        d.path("adir").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!("qlab: error: {}: ", d.path("adir").display())),
        "{}",
        stderr(&o)
    );
    assert_eq!(d.listing(), before);
}

#[test]
fn a_missing_sweep_file_is_named() {
    let d = Dir::new();
    let spec = d.path("nope.sweep.toml");
    let o = output(&["sweep".as_ref(), spec.as_os_str(), "--dry-run".as_ref()]);
    assert_error(
        &o,
        &format!("{}: No such file or directory (os error 2)", spec.display()),
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Dry run
// ---------------------------------------------------------------------------------------------

#[test]
fn dry_run_prints_the_count_and_the_plan_and_writes_nothing() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    let sweep = Sweep::load(&spec).unwrap();
    // No --out needed.
    let o = output(&["sweep".as_ref(), spec.as_os_str(), "--dry-run".as_ref()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let mut want = format!(
        "small: 12 configurations × 2 variants = 24 rows (sweep {})\n",
        sweep.id
    );
    let lines = plan(&sweep, 10).unwrap();
    assert_eq!(lines.len(), 10);
    assert_eq!(
        lines[0],
        "     0  repeat 0  seed 7  x.dist=normal  variant.block_size=8"
    );
    assert_eq!(
        lines[5],
        "     5  repeat 0  seed 7  x.dist=student_t  variant.block_size=32"
    );
    assert!(lines[6].starts_with("     6  repeat 1  seed "));
    for l in &lines {
        want.push_str(l);
        want.push('\n');
    }
    want.push_str("   … 2 more\n");
    assert_eq!(stdout(&o), want);
    // With --out given, still nothing is written.
    let out = d.path("o.csv");
    let o = output(&[
        "sweep".as_ref(),
        spec.as_os_str(),
        "--dry-run".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), want);
    assert_eq!(d.listing(), ["small.sweep.toml"]);

    // Ten configurations or fewer: every line, no "more" line.
    let spec = d.write(
        "few.sweep.toml",
        inline("name = \"few\"", "", &axis("x.std", "[1.0, 2.0, 3.0]")),
    );
    let o = output(&["sweep".as_ref(), spec.as_os_str(), "--dry-run".as_ref()]);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("few: 3 configurations × 2 variants = 6 rows (sweep "));
    assert_eq!(lines[3], "     2  repeat 0  seed 42  x.std=3.0");
    assert_eq!(plan(&Sweep::load(&spec).unwrap(), 10).unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// 10. Progress
// ---------------------------------------------------------------------------------------------

#[test]
fn quiet_prints_nothing() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    qlab()
        .arg("sweep")
        .arg(&spec)
        .args(["--quiet", "--out"])
        .arg(d.path("o.csv"))
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

#[test]
fn without_a_terminal_progress_is_plain_lines() {
    let d = Dir::new();
    let spec = d.write("small.sweep.toml", SMALL);
    let id = Sweep::load(&spec).unwrap().id;
    for (extra, n) in [(vec![], 12), (vec!["--shard", "2/3"], 4)] {
        let out = d.path("o.csv");
        let o = qlab()
            .arg("sweep")
            .arg(&spec)
            .args(&extra)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success());
        assert_eq!(stdout(&o), "");
        let e = stderr(&o);
        let done = format!("sweep: {n}/{n} configurations (100%), ");
        assert_eq!(e.lines().filter(|l| l.starts_with(&done)).count(), 1, "{e}");
        assert!(
            e.lines()
                .all(|l| l.starts_with("sweep: ") || l.starts_with("sweep ")),
            "{e}"
        );
        assert!(!e.contains('\r') && !e.contains('\u{1b}'), "no bar: {e:?}");
        assert!(
            e.ends_with(&format!(
                "sweep {id}: ran {n} configurations into {}\n",
                out.display()
            )),
            "{e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 11. Plot
// ---------------------------------------------------------------------------------------------

/// Runs `qlab plot CSV --out OUT` with `args`.
fn plot_cmd(csv: &Path, out: &Path, args: &[&str]) -> Output {
    qlab()
        .arg("plot")
        .arg(csv)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run qlab plot")
}

#[test]
fn plot_draws_lines_for_numeric_x_and_bars_for_categories() {
    let (d, _, _) = small_full();
    let csv = d.path("full.csv");

    let line = d.path("line.svg");
    let o = plot_cmd(
        &csv,
        &line,
        &[
            "--x",
            "variant.block_size",
            "--y",
            "out_sqnr_db",
            "--by",
            "x.dist",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((stdout(&o), stderr(&o)), (String::new(), String::new()));
    let svg = fs::read_to_string(&line).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
    assert!(svg.contains("<polyline"), "a line chart");
    assert!(svg.contains("<circle"), "with markers");
    assert!(svg.contains("output SQNR vs block size, by x distribution"));
    // Both variants and both repeats: --by was given, so no split by variant.
    assert!(svg.contains("mean of 4 rows per point ± 95% CI"));
    assert!(svg.contains("student_t"), "legend names the series");

    let bars = d.path("bars.svg");
    let o = plot_cmd(
        &csv,
        &bars,
        &["--x", "x.dist", "--y", "out_sqnr_db", "--by", "variant"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = fs::read_to_string(&bars).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(!svg.contains("<circle"), "a bar chart has no markers");
    assert!(
        svg.matches("<rect").count() >= 2 * 4,
        "bars for 2 x × 4 variant labels"
    );

    let filtered = d.path("filtered.svg");
    let o = plot_cmd(
        &csv,
        &filtered,
        &[
            "--x",
            "x.dist",
            "--y",
            "out_sqnr_db",
            "--where",
            "format=mxfp4",
            "--where",
            "repeat=1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = fs::read_to_string(&filtered).unwrap();
    assert!(svg.contains("output SQNR vs x distribution"));
    assert!(svg.contains("format = mxfp4; repeat = 1; one row per point"));
    assert_eq!(
        d.listing(),
        [
            "bars.svg",
            "filtered.svg",
            "full.csv",
            "line.svg",
            "small.sweep.toml"
        ]
    );
}

#[test]
fn plot_series_average_the_other_rows() {
    let (d, _, _) = small_full();
    let csv = d.path("full.csv");
    let (h, rows) = records(&csv);
    let filters = [("format".to_string(), "mxfp4".to_string())];
    let series = qlab::plot::series(
        &csv,
        "variant.block_size",
        "out_sqnr_db",
        Some("x.dist"),
        &filters,
    )
    .unwrap();
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["normal", "student_t"]);
    // The mean over the two repeats, by hand.
    let mut want: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let (dist, block, fmt, y) = (
        column(&h, &rows, "x.dist"),
        column(&h, &rows, "variant.block_size"),
        column(&h, &rows, "format"),
        column(&h, &rows, "out_sqnr_db"),
    );
    for i in 0..rows.len() {
        if fmt[i] == "mxfp4" {
            want.entry((dist[i].clone(), block[i].clone()))
                .or_default()
                .push(y[i].parse().unwrap());
        }
    }
    for s in &series {
        let xs: Vec<&str> = s.points.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(xs, ["8", "16", "32"], "first-seen order");
        for (x, mean, n) in &s.points {
            assert_eq!(*n, 2, "two repeats");
            let v = &want[&(s.name.clone(), x.clone())];
            let m = (v[0] + v[1]) / 2.0;
            assert!((mean - m).abs() <= 1e-12 * m.abs(), "{mean} vs {m}");
        }
    }
    // Without --by: one series named after y, averaging both variants and repeats.
    let one = qlab::plot::series(&csv, "x.dist", "out_sqnr_db", None, &[]).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, "out_sqnr_db");
    assert!(one[0].points.iter().all(|p| p.2 == 12));
}

#[test]
fn plot_errors_have_exact_messages() {
    let (d, _, _) = small_full();
    let csv = d.path("full.csv");
    let out = d.path("o.svg");
    let (h, _) = records(&csv);
    // The first twelve columns, and how many more.
    let columns = format!("{} and {} more", h[..12].join(", "), h.len() - 12);
    for args in [
        vec!["--x", "nope", "--y", "out_sqnr_db"],
        vec!["--x", "x.dist", "--y", "nope"],
        vec!["--x", "x.dist", "--y", "out_sqnr_db", "--by", "nope"],
        vec!["--x", "x.dist", "--y", "out_sqnr_db", "--where", "nope=1"],
    ] {
        assert_error(
            &plot_cmd(&csv, &out, &args),
            &format!("{}: no column 'nope'; columns: {columns}", csv.display()),
        );
    }
    assert_error(
        &plot_cmd(
            &csv,
            &out,
            &[
                "--x",
                "x.dist",
                "--y",
                "out_sqnr_db",
                "--where",
                "format=fp8",
            ],
        ),
        &format!(
            "{}: has no rows to plot after --where: no row has format = 'fp8'; format holds: \
             int8, mxfp4",
            csv.display()
        ),
    );
    assert_error(
        &plot_cmd(&csv, &out, &["--x", "x.dist", "--y", "variant"]),
        &format!(
            "{}: line 2: column 'variant' holds 'int8', not a number",
            csv.display()
        ),
    );
    assert_error(
        &plot_cmd(&csv, &out, &["--x", "x.dist", "--y", "block_size"]),
        &format!(
            "{}: line 2: column 'block_size' holds '', not a number",
            csv.display()
        ),
    );
    let o = plot_cmd(
        &csv,
        &out,
        &["--x", "x.dist", "--y", "out_sqnr_db", "--where", "format"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("expected COLUMN=VALUE, got 'format'"),
        "{}",
        stderr(&o)
    );
    let missing = d.path("missing.csv");
    let o = plot_cmd(&missing, &out, &["--x", "a", "--y", "b"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(&format!("qlab: error: {}: ", missing.display())));
    assert!(!out.exists(), "no SVG on error");
}

#[test]
fn plot_of_only_non_finite_values_finishes() {
    // A sweep where quantization is exact: out_sqnr_db is `inf` in every row. Today the plot
    // spins at 100% CPU forever (same for a categorical x, and for y all NaN).
    let d = Dir::new();
    let spec = d.write(
        "c.sweep.toml",
        inline(
            "",
            "w = { dist = \"constant\", value = 1.0 }\nx = { dist = \"constant\", value = 1.0 }",
            &axis("x.value", "[1.0, 2.0, 4.0]"),
        ),
    );
    let csv = d.path("c.csv");
    cli_sweep(&spec, &csv, &[]);
    let (h, rows) = records(&csv);
    assert!(column(&h, &rows, "out_sqnr_db").iter().all(|v| v == "inf"));
    let o = qlab()
        .timeout(Duration::from_secs(10))
        .arg("plot")
        .arg(&csv)
        .args(["--x", "x.value", "--y", "out_sqnr_db", "--out"])
        .arg(d.path("c.svg"))
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some(),
        "qlab plot did not finish in 10 s"
    );
    assert!(
        o.status.success() || stderr(&o).starts_with("qlab: error: "),
        "{}",
        stderr(&o)
    );
}

/// The text of every `<text>` element of an SVG, in order.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

#[test]
fn plot_axes_stay_readable_at_any_magnitude_and_spread() {
    let d = Dir::new();
    // (y values, what the y title says, two tick labels that must both be there)
    let cases: [(&[&str], &str, [&str; 2]); 5] = [
        (&["1e-20", "2e-20", "3e-20"], "b (×1e-20)", ["1.4", "2.6"]),
        (&["1e-9", "2e-9", "3e-9"], "b (×1e-9)", ["1.4", "2.6"]),
        (
            &["1000000.000001", "1000000.000002", "1000000.000003"],
            "b − 1000000 (×1e-6)",
            ["1.4", "2.6"],
        ),
        (&["5", "5", "5"], "b", ["4.5", "5.5"]),
        (&["-1e300", "0", "1e300"], "b (×1e300)", ["-0.8", "0"]),
    ];
    for (i, (ys, title, ticks)) in cases.iter().enumerate() {
        let rows: String = ys
            .iter()
            .enumerate()
            .map(|(j, y)| format!("{},{y}\n", j + 1))
            .collect();
        let csv = d.write(&format!("t{i}.csv"), format!("a,b\n{rows}"));
        let out = d.path(&format!("t{i}.svg"));
        let o = plot_cmd(&csv, &out, &["--x", "a", "--y", "b"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let svg = fs::read_to_string(&out).unwrap();
        let texts = svg_texts(&svg);
        assert!(texts.iter().any(|t| t == title), "{ys:?}: {texts:?}");
        for t in ticks {
            assert!(
                texts.iter().any(|x| x == t),
                "{ys:?}: no tick {t} in {texts:?}"
            );
        }
        assert!(!texts.iter().any(|t| t == "-0" || t == "-0.0"), "{texts:?}");
        // Distinct values are drawn at distinct heights: the line is not flat.
        let line = &svg[svg.find("stroke-width=\"2\" points=\"").unwrap() + 26..];
        let ys_drawn: Vec<&str> = line[..line.find('"').unwrap()]
            .split_whitespace()
            .map(|p| p.split(',').nth(1).unwrap())
            .collect();
        if ys[0] != ys[1] {
            assert!(
                ys_drawn[0] != ys_drawn[1] && ys_drawn[1] != ys_drawn[2],
                "{ys_drawn:?}"
            );
        }
    }
    // A linear x of tiny values is labelled in its own unit, not as 0.0000000000000000094.
    let csv = d.write("x.csv", "a,b\n1e-20,1\n2e-20,2\n3e-20,3\n");
    let out = d.path("x.svg");
    assert!(
        plot_cmd(&csv, &out, &["--x", "a", "--y", "b"])
            .status
            .success()
    );
    let texts = svg_texts(&fs::read_to_string(&out).unwrap());
    assert!(texts.iter().any(|t| t == "a (×1e-20)"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "1.5"), "{texts:?}");
}
