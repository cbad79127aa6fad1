//! Integration tests of scenario files: every shipped scenario runs, defaults, determinism,
//! the sample statistics of every distribution and modifier, every bad input with its exact
//! message, data sources (inline, .npy, .csv, .safetensors), the memory guard, `qlab run`, and
//! the CSV column list.

mod common;
#[allow(unused_imports)]
use common::*;

use std::fs;
use std::path::{Path, PathBuf};

use predicates::prelude::*;
use qlab::Matrix;
use qlab::data::npy::{NpyData, encode};
use qlab::experiment::{self, Report, TensorStats};
use qlab::report::rows::{ReportRow, csv_bytes};
use qlab::scenario::{Operands, Scenario};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Parses scenario text as if it came from `s.toml` (relative paths against the cwd).
fn parse(text: &str) -> Scenario {
    Scenario::from_toml(text, Path::new("s.toml"), PathBuf::new())
        .unwrap_or_else(|e| panic!("scenario should parse: {e}\n{text}"))
}

/// The message of a scenario that fails to parse.
fn parse_err(text: &str) -> String {
    match Scenario::from_toml(text, Path::new("s.toml"), PathBuf::new()) {
        Ok(s) => panic!("scenario should be refused, parsed as {s:?}\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn operands(s: &Scenario) -> Operands {
    s.operands()
        .unwrap_or_else(|e| panic!("operands should load: {e}\n{s:?}"))
}

/// The message of a scenario that parses but whose operands fail to load.
fn operands_err(s: &Scenario) -> String {
    match s.operands() {
        Ok(o) => panic!(
            "operands should be refused, got W {:?} and x {:?}",
            o.w.shape(),
            o.x.shape()
        ),
        Err(e) => e.to_string(),
    }
}

/// A 200 × 500 W drawn from the given `[w]` table body (x stays small).
fn w_of(body: &str) -> Matrix {
    let text = format!("name = \"d\"\nseed = 7\nm = 200\nk = 500\nn = 2\n[w]\n{body}\n");
    operands(&parse(&text)).w
}

fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

fn median(v: &[f32]) -> f64 {
    let mut s: Vec<f32> = v.to_vec();
    s.sort_by(f32::total_cmp);
    let n = s.len();
    (f64::from(s[n / 2 - 1]) + f64::from(s[n / 2])) / 2.0
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "{what}: got {got}, expected {want} within {}%",
        rel * 100.0
    );
}

/// `v` scaled as the modifiers scale it (in f64, rounded once to f32).
fn scaled(v: f32, factor: f64) -> f32 {
    (f64::from(v) * factor) as f32
}

/// Which rows of `m` differ from `base`, checking that each differing row is exactly `base`'s
/// row times `factor` and every other row is bitwise unchanged.
fn scaled_rows(m: &Matrix, base: &Matrix, factor: f64) -> Vec<usize> {
    assert_eq!(m.shape(), base.shape());
    (0..m.rows())
        .filter(|&r| {
            let (a, b) = (m.row(r), base.row(r));
            if a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()) {
                false
            } else {
                for (x, y) in a.iter().zip(b) {
                    assert_eq!(*x, scaled(*y, factor), "row {r} is not a whole scaled row");
                }
                true
            }
        })
        .collect()
}

/// As [`scaled_rows`], for columns.
fn scaled_cols(m: &Matrix, base: &Matrix, factor: f64) -> Vec<usize> {
    scaled_rows(&m.transpose(), &base.transpose(), factor)
}

fn assert_finite_stats(what: &str, s: &TensorStats) {
    for (name, v) in [
        ("mean", s.mean),
        ("std", s.std),
        ("min", s.min),
        ("max", s.max),
        ("rms", s.rms),
        ("zeros", s.zeros),
        ("kurtosis", s.kurtosis),
    ] {
        assert!(
            v.is_finite(),
            "{what}: reference {name} = {v} is not finite"
        );
    }
}

/// Values exactly representable in f16 (normal, subnormal, the largest finite).
const F16_VALUES: [f32; 6] = [0.5, -1.25, 3.0, 1024.0, 5.960_464_5e-8, -65504.0];
/// Values exactly representable in bf16 (the smallest normal f32, a large power of two).
const BF16_VALUES: [f32; 3] = [1.5, -2.0, 1.175_494_4e-38];
const F32_VALUES: [f32; 6] = [0.1, -0.2, 0.3, 1.0e-7, -3.5e8, 0.0];

/// A tempdir holding `tensors.safetensors` with an f32 `w` (2 × 3), an f16 `h` (3 × 2) and a
/// bf16 `b` (3 × 1).
fn safetensors_dir() -> TempDir {
    let dir = TempDir::new().expect("tempdir");
    let bytes = safetensors(&[
        ("w", "F32", &[2, 3], f32_bytes(&F32_VALUES)),
        ("h", "F16", &[3, 2], f16_bytes(&F16_VALUES)),
        ("b", "BF16", &[3, 1], bf16_bytes(&BF16_VALUES)),
    ]);
    fs::write(dir.path().join("tensors.safetensors"), bytes).expect("write");
    dir
}

/// Writes `text` as `dir/s.toml` and loads it.
fn load_in(dir: &Path, text: &str) -> Scenario {
    let path = dir.join("s.toml");
    fs::write(&path, text).expect("write scenario");
    Scenario::load(&path).unwrap_or_else(|e| panic!("scenario should load: {e}\n{text}"))
}

/// A small scenario that runs fast, with three labelled variants.
const SMALL: &str = r#"
name = "small-test"
description = "a small scenario"
seed = 3
m = 16
k = 64
n = 4

[w]
dist = "normal"
std = 0.05

[x]
dist = "laplace"

[[variants]]
label = "A int8"
format = "int8"

[[variants]]
label = "B mxfp4"
format = "mxfp4"

[[variants]]
label = "C mx16"
format = "mxfp4"
block_size = 16
"#;

// ---------------------------------------------------------------------------------------------
// 1. Every shipped scenario parses and runs
// ---------------------------------------------------------------------------------------------

#[test]
fn every_shipped_scenario_parses_and_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for path in &files {
        let what = path.display();
        let s = Scenario::load(path).unwrap_or_else(|e| panic!("{what} does not parse: {e}"));
        let report = experiment::run(&s).unwrap_or_else(|e| panic!("{what} does not run: {e}"));
        assert_eq!(report.scenario.name, s.name, "{what}");
        assert_eq!(report.variants.len(), s.variants.len(), "{what}");
        for (v, r) in s.variants.iter().zip(&report.variants) {
            assert_eq!(v.label, r.label, "{what}");
            assert!(
                !r.output.sqnr_db.is_nan(),
                "{what}: variant '{}' has output SQNR NaN",
                r.label
            );
        }
        assert_finite_stats(&format!("{what} W"), &report.reference.w);
        assert_finite_stats(&format!("{what} x"), &report.reference.x);
        assert_finite_stats(&format!("{what} y"), &report.reference.y);
    }
    assert!(
        files.len() >= 8,
        "expected at least 8 scenario files in {}, found {}: {files:?}",
        dir.display(),
        files.len()
    );
}

#[test]
fn the_built_in_scenario_is_the_shipped_file() {
    let file = Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/llm-outlier-channels.toml"),
    )
    .expect("parses");
    let built_in = Scenario::default();
    assert_eq!(built_in.name, file.name);
    assert_eq!(built_in.variants, file.variants);
    assert_eq!(built_in.w, file.w);
    assert_eq!(built_in.x, file.x);
}

// ---------------------------------------------------------------------------------------------
// 2. Defaults
// ---------------------------------------------------------------------------------------------

#[test]
fn a_three_line_scenario_takes_the_defaults() {
    let s = parse("name = \"q\"\n[x]\ndist = \"laplace\"\n");
    assert_eq!(s.name, "q");
    assert_eq!(s.seed, 42);
    assert_eq!(s.description, "");
    assert_eq!((s.m, s.k, s.n), (None, None, None));
    let labels: Vec<&str> = s.variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(labels, ["int8", "mxfp4 b32 floor"]);
    assert_eq!(s.w.describe(), "normal(mean 0, std 1)");
    assert_eq!(s.x.describe(), "laplace(mean 0, scale 1)");

    let ops = operands(&s);
    assert_eq!(ops.w.shape(), (256, 1024));
    assert_eq!(ops.x.shape(), (1024, 64));

    let report = experiment::run(&s).expect("runs");
    let sc = &report.scenario;
    assert_eq!((sc.m, sc.k, sc.n, sc.seed), (256, 1024, 64, 42));
    assert_eq!(sc.name, "q");
    let labels: Vec<&str> = report.variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(labels, ["int8", "mxfp4 b32 floor"]);
    let formats: Vec<&str> = report.variants.iter().map(|v| v.format.as_str()).collect();
    assert_eq!(formats, ["int8", "mxfp4"]);
}

#[test]
fn an_empty_scenario_is_untitled_with_normal_operands() {
    let s = parse("");
    assert_eq!(s.name, "untitled");
    assert_eq!(s.seed, 42);
    assert_eq!(s.variants.len(), 2);
    assert_eq!(s.x.describe(), "normal(mean 0, std 1)");
}

#[test]
fn variant_labels_default_to_what_differs() {
    let s = parse(
        r#"
[[variants]]
format = "int8"
w_granularity = "channel"
x_scheme = "asymmetric"

[[variants]]
format = "mxfp4"
block_size = 16
scale_rule = "rceil"
accumulator = "f64"

[[variants]]
format = "mxfp4"
"#,
    );
    let labels: Vec<&str> = s.variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "int8 w:channel x:asymmetric",
            "mxfp4 b16 rceil acc64",
            "mxfp4 b32 floor"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn the_same_seed_gives_the_same_data_and_report() {
    let a = parse(SMALL);
    let b = parse(SMALL);
    let (oa, ob) = (operands(&a), operands(&b));
    assert_eq!(bits(&oa.w), bits(&ob.w));
    assert_eq!(bits(&oa.x), bits(&ob.x));
    let ja = serde_json::to_string(&experiment::run(&a).expect("runs")).expect("json");
    let jb = serde_json::to_string(&experiment::run(&b).expect("runs")).expect("json");
    assert_eq!(ja, jb);
}

#[test]
fn another_seed_gives_other_data() {
    let a = operands(&parse(SMALL));
    let b = operands(&parse(&SMALL.replace("seed = 3", "seed = 4")));
    assert_ne!(bits(&a.w), bits(&b.w));
    assert_ne!(bits(&a.x), bits(&b.x));
}

#[test]
fn changing_one_operand_leaves_the_other_unchanged() {
    let a = operands(&parse(SMALL));
    // x's distribution and modifiers change: W is bitwise the same.
    let b = operands(&parse(&SMALL.replace(
        "dist = \"laplace\"",
        "dist = \"student_t\"\nnu = 4.0\nsparsity = 0.5\noutliers = { fraction = 0.1, multiplier = 8.0 }",
    )));
    assert_eq!(bits(&a.w), bits(&b.w));
    assert_ne!(bits(&a.x), bits(&b.x));
    // W's distribution changes: x is bitwise the same.
    let c = operands(&parse(&SMALL.replace(
        "dist = \"normal\"\nstd = 0.05",
        "dist = \"uniform\"\nlow = -3.0\nhigh = 0.5\nsparsity = 0.2",
    )));
    assert_eq!(bits(&a.x), bits(&c.x));
    assert_ne!(bits(&a.w), bits(&c.w));
}

// ---------------------------------------------------------------------------------------------
// 4. Distributions and modifiers
// ---------------------------------------------------------------------------------------------

#[test]
fn normal_has_its_mean_and_std() {
    let w = w_of("dist = \"normal\"\nmean = 3.0\nstd = 2.0");
    assert_eq!(w.shape(), (200, 500));
    let (mean, std) = mean_std(w.data());
    assert!((mean - 3.0).abs() < 0.03, "mean {mean}");
    close("std", std, 2.0, 0.02);
}

#[test]
fn uniform_stays_in_its_range() {
    let w = w_of("dist = \"uniform\"\nlow = -2.0\nhigh = 6.0");
    let min = w.data().iter().copied().fold(f32::INFINITY, f32::min);
    let max = w.data().iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!((-2.0..-1.99).contains(&min), "min {min}");
    assert!(max < 6.0 && max > 5.99, "max {max}");
    let (mean, std) = mean_std(w.data());
    assert!((mean - 2.0).abs() < 0.03, "mean {mean}");
    close("std", std, 8.0 / 12f64.sqrt(), 0.02);
}

#[test]
fn laplace_has_std_scale_sqrt2() {
    let w = w_of("dist = \"laplace\"\nmean = 1.0\nscale = 0.5");
    let (mean, std) = mean_std(w.data());
    assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
    close("std", std, 0.5 * 2f64.sqrt(), 0.03);
    close("median", median(w.data()), 1.0, 0.01);
}

#[test]
fn student_t_has_std_scale_sqrt_nu_over_nu_minus_2() {
    let w = w_of("dist = \"student_t\"\nnu = 5.0\nscale = 2.0");
    let (mean, std) = mean_std(w.data());
    assert!(mean.abs() < 0.05, "mean {mean}");
    close("std", std, 2.0 * (5.0f64 / 3.0).sqrt(), 0.05);
}

#[test]
fn lognormal_is_positive_with_median_e_to_the_mu() {
    let w = w_of("dist = \"lognormal\"\nmu = 0.5\nsigma = 0.8");
    assert!(w.data().iter().all(|&v| v > 0.0));
    close("median", median(w.data()), 0.5f64.exp(), 0.02);
    // log-values are N(mu, sigma²)
    let logs: Vec<f32> = w.data().iter().map(|v| v.ln()).collect();
    let (mean, std) = mean_std(&logs);
    assert!((mean - 0.5).abs() < 0.01, "mean of ln {mean}");
    close("std of ln", std, 0.8, 0.02);
}

#[test]
fn lognormal_signs() {
    let neg = w_of("dist = \"lognormal\"\nsign = \"negative\"");
    assert!(neg.data().iter().all(|&v| v < 0.0));

    let w = w_of("dist = \"lognormal\"\nmu = -1.0\nsigma = 0.5\nsign = \"random\"");
    let negatives = w.data().iter().filter(|&&v| v < 0.0).count() as f64 / w.len() as f64;
    assert!(
        (negatives - 0.5).abs() < 0.02,
        "negative fraction {negatives}"
    );
    assert!(w.data().iter().all(|&v| v != 0.0));
    let abs: Vec<f32> = w.data().iter().map(|v| v.abs()).collect();
    close("median |v|", median(&abs), (-1.0f64).exp(), 0.02);
}

#[test]
fn bimodal_has_two_modes_with_their_weight() {
    let w = w_of("dist = \"bimodal\"\nmeans = [-3.0, 5.0]\nstd = 0.25\nweight = 0.3");
    let (low, high): (Vec<f32>, Vec<f32>) = w.data().iter().partition(|&&v| v < 1.0);
    let weight = low.len() as f64 / w.len() as f64;
    assert!((weight - 0.3).abs() < 0.01, "weight {weight}");
    assert!(
        w.data().iter().all(|&v| !(-1.5..=3.5).contains(&v)),
        "values between the modes"
    );
    let (m0, s0) = mean_std(&low);
    let (m1, s1) = mean_std(&high);
    assert!((m0 + 3.0).abs() < 0.01, "first mode {m0}");
    assert!((m1 - 5.0).abs() < 0.01, "second mode {m1}");
    close("std of first mode", s0, 0.25, 0.03);
    close("std of second mode", s1, 0.25, 0.03);
}

#[test]
fn constant_is_constant() {
    let w = w_of("dist = \"constant\"\nvalue = 2.5");
    assert!(w.data().iter().all(|&v| v == 2.5));
    let w = w_of("dist = \"constant\"");
    assert!(w.data().iter().all(|&v| v == 1.0));
}

#[test]
fn sparsity_zeroes_its_fraction() {
    let w = w_of("dist = \"normal\"\nsparsity = 0.3");
    let zeros = w.data().iter().filter(|&&v| v == 0.0).count() as f64 / w.len() as f64;
    assert!((zeros - 0.3).abs() < 0.01, "zero fraction {zeros}");
    let none = w_of("dist = \"normal\"");
    assert!(none.data().iter().all(|&v| v != 0.0));
    // Non-zeroed elements keep their values.
    for (a, b) in w.data().iter().zip(none.data()) {
        assert!(*a == 0.0 || a.to_bits() == b.to_bits());
    }
    let all = w_of("dist = \"normal\"\nsparsity = 1.0");
    assert!(all.data().iter().all(|&v| v == 0.0));
}

#[test]
fn scattered_outliers_multiply_their_fraction() {
    let base = w_of("dist = \"uniform\"\nlow = 1.0\nhigh = 2.0");
    let w = w_of(
        "dist = \"uniform\"\nlow = 1.0\nhigh = 2.0\noutliers = { fraction = 0.01, multiplier = 100.0 }",
    );
    let mut changed = 0;
    for (&v, &b) in w.data().iter().zip(base.data()) {
        if v.to_bits() != b.to_bits() {
            assert_eq!(v, scaled(b, 100.0));
            changed += 1;
        }
    }
    let big = w.data().iter().filter(|&&v| v >= 10.0).count();
    assert_eq!(big, changed, "every changed element is ≥ 10× larger");
    let fraction = changed as f64 / w.len() as f64;
    assert!(
        (fraction - 0.01).abs() < 0.002,
        "outlier fraction {fraction}"
    );
}

/// A scenario whose W is 200 × 500 and x 500 × 40, both normal, with `w_extra` / `x_extra`
/// appended to their tables.
fn channels(w_extra: &str, x_extra: &str) -> Operands {
    operands(&parse(&format!(
        "seed = 11\nm = 200\nk = 500\nn = 40\n[w]\ndist = \"normal\"\n{w_extra}\n[x]\ndist = \"normal\"\n{x_extra}\n"
    )))
}

#[test]
fn outlier_channels_on_x_scale_whole_rows_or_columns() {
    let base = channels("", "");
    let k = channels("", "outlier_channels = { count = 3, factor = 50.0 }");
    assert_eq!(bits(&k.w), bits(&base.w));
    // Exactly three rows are scaled as a whole; every other row is bitwise unchanged.
    assert_eq!(scaled_rows(&k.x, &base.x, 50.0).len(), 3, "3 rows of x (K)");

    let explicit = channels(
        "",
        "outlier_channels = { count = 3, factor = 50.0, axis = \"k\" }",
    );
    assert_eq!(bits(&explicit.x), bits(&k.x));

    let outer = channels(
        "",
        "outlier_channels = { count = 3, factor = 50.0, axis = \"outer\" }",
    );
    assert_eq!(bits(&outer.w), bits(&base.w));
    assert_eq!(
        scaled_cols(&outer.x, &base.x, 50.0).len(),
        3,
        "3 columns of x (outer)"
    );
}

#[test]
fn outlier_channels_on_w_scale_whole_columns_or_rows() {
    let base = channels("", "");
    let k = channels("outlier_channels = { count = 3, factor = 50.0 }", "");
    assert_eq!(bits(&k.x), bits(&base.x));
    assert_eq!(
        scaled_cols(&k.w, &base.w, 50.0).len(),
        3,
        "3 columns of W (K)"
    );

    let outer = channels(
        "outlier_channels = { count = 3, factor = 50.0, axis = \"outer\" }",
        "",
    );
    assert_eq!(bits(&outer.x), bits(&base.x));
    assert_eq!(
        scaled_rows(&outer.w, &base.w, 50.0).len(),
        3,
        "3 rows of W (outer)"
    );
}

#[test]
fn channel_spread_scales_each_channel_by_its_own_power_of_ten() {
    let base = channels("", "");
    // Default axis for channel_spread is outer: rows of W.
    let spread = channels("channel_spread = { decades = 2.0 }", "");
    assert_eq!(bits(&spread.x), bits(&base.x));
    let mut logs = Vec::new();
    for r in 0..base.w.rows() {
        let factor = f64::from(spread.w.get(r, 0)) / f64::from(base.w.get(r, 0));
        assert!(
            (0.1 * (1.0 - 1e-6)..=10.0 * (1.0 + 1e-6)).contains(&factor),
            "row {r}: factor {factor} outside 10^±1"
        );
        for (a, b) in spread.w.row(r).iter().zip(base.w.row(r)) {
            close(
                &format!("row {r} scaled as a whole"),
                f64::from(*a),
                f64::from(*b) * factor,
                1e-6,
            );
        }
        logs.push(factor.log10() as f32);
    }
    // log10 of the factors is uniform in [-1, 1]: mean 0, std 2/√12.
    let (mean, std) = mean_std(&logs);
    assert!(mean.abs() < 0.15, "mean log10 factor {mean}");
    close("std of log10 factor", std, 2.0 / 12f64.sqrt(), 0.15);

    // axis = "k" on x: rows of x; decades = 0 changes nothing.
    let k = channels("", "channel_spread = { decades = 1.0, axis = \"k\" }");
    for r in 0..base.x.rows() {
        let factor = f64::from(k.x.get(r, 0)) / f64::from(base.x.get(r, 0));
        for (a, b) in k.x.row(r).iter().zip(base.x.row(r)) {
            close(
                &format!("row {r} of x scaled as a whole"),
                f64::from(*a),
                f64::from(*b) * factor,
                1e-6,
            );
        }
    }
    let zero = channels("channel_spread = { decades = 0.0 }", "");
    assert_eq!(bits(&zero.w), bits(&base.w));
}

#[test]
fn modifiers_apply_to_data_operands_too() {
    let s = parse(
        "[w]\nvalues = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]\noutlier_channels = { count = 3, factor = 10.0 }\n[x]\nvalues = [1.0, 1.0, 1.0]\n",
    );
    let ops = operands(&s);
    assert_eq!(ops.w.data(), [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input
// ---------------------------------------------------------------------------------------------

/// Checks every `(scenario text, expected message)`, listing all mismatches at once.
fn check_messages(cases: &[(&str, &str)]) {
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = parse_err(text);
        if got != *want {
            wrong.push(format!(
                "input:\n{text}\n  expected: {want}\n  got:      {got}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn toml_syntax_errors_name_line_and_column() {
    check_messages(&[
        (
            "name = \"q\"\n[w\ndist = \"normal\"\n",
            "s.toml: line 2, column 3: unclosed table, expected `]`",
        ),
        (
            "name = \"q\"\nseed = 3\n\n[x]\ndist = \"normal\nstd = 2.0\n",
            "s.toml: line 5, column 15: invalid basic string, expected `\"`",
        ),
        (
            "name = \"q\"\nseed = -1\n",
            "s.toml: line 2, column 8: invalid value: integer `-1`, expected u64",
        ),
        (
            "name = \"q\"\n[w]\ndist = 3\n",
            "s.toml: line 3, column 8: invalid type: integer `3`, expected a string",
        ),
    ]);
}

#[test]
fn unknown_keys_are_named() {
    check_messages(&[
        (
            "name = \"q\"\nbogus = 1\n",
            "s.toml: line 2, column 1: unknown field `bogus`, expected one of `name`, \
             `description`, `lesson`, `seed`, `m`, `k`, `n`, `w`, `x`, `variants`",
        ),
        (
            "name = \"q\"\n[x]\ndist = \"normal\"\nstdev = 1\n",
            "s.toml: line 4, column 1: unknown field `stdev`, expected one of `dist`, `mean`, \
             `std`, `low`, `high`, `scale`, `nu`, `mu`, `sigma`, `sign`, `means`, `weight`, \
             `value`, `sparsity`, `outliers`, `outlier_channels`, `channel_spread`, `values`, `file`, `tensor`, \
             `transpose`, `layout`, `rows`, `cols`",
        ),
        (
            "[x]\noutliers = { fraction = 0.5, multiplier = 2.0, foo = 1 }\n",
            "s.toml: line 2, column 48: unknown field `foo`, expected `fraction` or `multiplier`",
        ),
        (
            "[x]\noutliers = { fraction = 0.5 }\n",
            "s.toml: line 2, column 12: missing field `multiplier`",
        ),
    ]);
    let msg = parse_err("[[variants]]\nformat = \"int8\"\nblocksize = 3\n");
    assert!(
        msg.starts_with("s.toml: line 3, column 1: unknown field `blocksize`, expected one of "),
        "{msg}"
    );
}

#[test]
fn bad_parameters_are_refused() {
    // Errors found while converting a table are reported at the table's header.
    check_messages(&[
        (
            "name = \"q\"\n[w]\ndist = \"cauchy\"\n",
            "s.toml: line 3, column 1: w: unknown dist 'cauchy'; expected normal, uniform, \
             laplace, student_t, lognormal, bimodal or constant",
        ),
        (
            "name = \"q\"\n[w]\ndist = \"normal\"\nnu = 3.0\n",
            "s.toml: line 4, column 1: w: 'nu' does not apply to dist 'normal' (it takes mean, std)",
        ),
        (
            "name = \"q\"\n[w]\ndist = \"student_t\"\nstd = 3.0\n",
            "s.toml: line 4, column 1: w: 'std' does not apply to dist 'student_t' (it takes nu, scale)",
        ),
        (
            "name = \"q\"\n[x]\ndist = \"normal\"\nvalues = [1.0, 2.0]\n",
            "s.toml: line 3, column 1: x: give one of 'dist', 'values' or 'file', not several",
        ),
        (
            "[x]\nvalues = [1.0, 2.0]\nfile = \"x.npy\"\n",
            "s.toml: line 2, column 1: x: give one of 'dist', 'values' or 'file', not several",
        ),
        (
            "[w]\nvalues = [1.0]\nstd = 2.0\n",
            "s.toml: line 3, column 1: w: 'std' applies to 'dist' operands only",
        ),
        (
            "[w]\ntensor = \"a\"\n",
            "s.toml: line 2, column 1: w: 'tensor' applies to 'file' operands only",
        ),
        (
            "[w]\ndist = \"normal\"\ntranspose = true\n",
            "s.toml: line 3, column 1: w: 'transpose', 'rows' and 'cols' apply to 'values' and \
             'file' operands only",
        ),
        (
            "[w]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\nrows = [1, 1]\n",
            "s.toml: line 3, column 1: w: rows = [1, 1] is empty; expected [start, end) with start < end",
        ),
        (
            "[w]\nvalues = [[1.0, 2.0], [3.0]]\n",
            "s.toml: line 2, column 1: w: row 1 has 1 values, row 0 has 2",
        ),
        (
            "[w]\nvalues = []\n",
            "s.toml: line 2, column 1: w: 'values' is empty",
        ),
        (
            "[w]\ndist = \"lognormal\"\nsign = \"both\"\n",
            "s.toml: line 3, column 1: w: unknown sign 'both'; expected positive, negative or random",
        ),
        (
            "[x]\noutlier_channels = { count = 3, factor = 50.0, axis = \"m\" }\n",
            "s.toml: line 2, column 1: x.outlier_channels.axis = 'm' is unknown; expected k or outer",
        ),
        (
            "name = \"q\"\n[[variants]]\nformat = \"mxfp4\"\nblock_size = 0\n",
            "s.toml: line 4, column 1: variants[0]: block_size = 0 is invalid; expected an integer ≥ 1 or \"tensor\"",
        ),
        (
            "[[variants]]\nformat = \"mxfp4\"\nblock_size = -4\n",
            "s.toml: line 3, column 1: variants[0]: block_size = -4 is invalid; expected an integer ≥ 1 or \"tensor\"",
        ),
        (
            "[[variants]]\nformat = \"mxfp4\"\nblock_size = \"x\"\n",
            "s.toml: line 3, column 1: variants[0]: invalid block size 'x'; expected an integer ≥ 1 or 'tensor'",
        ),
        (
            "name = \"q\"\n[[variants]]\nformat = \"mxfp4\"\nw_scheme = \"symmetric\"\n",
            "s.toml: line 4, column 1: variants[0]: 'w_scheme' does not apply to format 'mxfp4'",
        ),
        (
            "[[variants]]\nformat = \"int8\"\nscale_rule = \"rceil\"\n",
            "s.toml: line 3, column 1: variants[0]: 'scale_rule' does not apply to format 'int8'",
        ),
        (
            "[[variants]]\nformat = \"int8\"\nw_scheme = \"x\"\n",
            "s.toml: line 3, column 1: variants[0]: unknown scheme 'x'; expected asymmetric or symmetric",
        ),
        (
            "name = \"q\"\n[[variants]]\nformat = \"fp8\"\n",
            "s.toml: line 3, column 1: variants[0]: unknown format 'fp8'; did you mean fp8-e4m3 or \
             fp8-e5m2? expected int8, mxfp4, mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, \
             mxint8, nvfp4, int4, fp8-e4m3, fp8-e5m2, bf16, fp16 or f32",
        ),
        (
            "[[variants]]\nlabel = \"a\"\n",
            "s.toml: line 1, column 1: missing field `format` (or `w_format` and `x_format`)",
        ),
        // Duplicate labels are found across entries: the message names no line. Empty lists and
        // zero sizes point at their key.
        (
            "name = \"q\"\n[[variants]]\nformat = \"int8\"\n[[variants]]\nformat = \"int8\"\n",
            "s.toml: two variants are labelled 'int8'; give each a unique 'label'",
        ),
        (
            "[[variants]]\nlabel = \"a\"\nformat = \"int8\"\n[[variants]]\nlabel = \"a\"\nformat = \"mxfp4\"\n",
            "s.toml: two variants are labelled 'a'; give each a unique 'label'",
        ),
        (
            "name = \"q\"\nvariants = []\n",
            "s.toml: line 2, column 12: 'variants' is empty; list at least one, or leave it out for the defaults",
        ),
        (
            "name = \"q\"\nm = 0\n",
            "s.toml: line 2, column 5: m = 0 is invalid; expected a size ≥ 1",
        ),
        (
            "n = 0\n",
            "s.toml: line 1, column 5: n = 0 is invalid; expected a size ≥ 1",
        ),
        (
            "m = -3\n",
            "s.toml: line 1, column 5: m = -3 is invalid; expected a size ≥ 1",
        ),
    ]);
}

/// Value checks of distributions and modifiers name the operand and the key.
#[test]
fn bad_values_are_refused() {
    check_messages(&[
        (
            "name = \"q\"\n[w]\ndist = \"normal\"\nstd = -1.0\n",
            "s.toml: line 4, column 1: w.std = -1 is invalid; expected a finite number > 0",
        ),
        (
            "[w]\nstd = inf\n",
            "s.toml: line 2, column 1: w.std = inf is invalid; expected a finite number > 0",
        ),
        (
            "name = \"q\"\nseed = 1\n\n[x]\ndist = \"student_t\"\nnu = 0.0\n",
            "s.toml: line 6, column 1: x.nu = 0 is invalid; expected a finite number > 0",
        ),
        (
            "[w]\ndist = \"student_t\"\nnu = -2\n",
            "s.toml: line 3, column 1: w.nu = -2 is invalid; expected a finite number > 0",
        ),
        (
            "[w]\ndist = \"uniform\"\nlow = 1.0\nhigh = 1.0\n",
            "s.toml: line 3, column 1: w: uniform needs low < high; got low = 1, high = 1",
        ),
        (
            "[x]\ndist = \"uniform\"\nlow = 2.0\nhigh = -1.0\n",
            "s.toml: line 3, column 1: x: uniform needs low < high; got low = 2, high = -1",
        ),
        (
            "[w]\ndist = \"bimodal\"\nweight = 1.5\n",
            "s.toml: line 3, column 1: w.weight = 1.5 is invalid; expected a fraction in [0, 1]",
        ),
        (
            "[w]\ndist = \"constant\"\nvalue = nan\n",
            "s.toml: line 3, column 1: w.value = NaN is invalid; expected a finite number",
        ),
        (
            "[w]\nsparsity = 1.5\n",
            "s.toml: line 2, column 1: w.sparsity = 1.5 is invalid; expected a fraction in [0, 1]",
        ),
        (
            "[x]\nsparsity = -0.1\n",
            "s.toml: line 2, column 1: x.sparsity = -0.1 is invalid; expected a fraction in [0, 1]",
        ),
        (
            "name = \"q\"\n[x]\noutliers = { fraction = 1.5, multiplier = 10.0 }\n",
            "s.toml: line 3, column 1: x.outliers.fraction = 1.5 is invalid; expected a \
             fraction in [0, 1]",
        ),
        (
            "[w]\nchannel_spread = { decades = 31.0 }\n",
            "s.toml: line 2, column 1: w.channel_spread.decades = 31 is invalid; expected a \
             number in [0, 30]",
        ),
        (
            "[w]\nchannel_spread = { decades = 1.0, axis = \"rows\" }\n",
            "s.toml: line 2, column 1: w.channel_spread.axis = 'rows' is unknown; expected k or \
             outer",
        ),
    ]);
}

/// An error in a later `[[variants]]` entry names that entry and the offending key's line.
#[test]
fn an_error_in_a_later_variant_names_its_line() {
    let msg = parse_err(
        "name = \"q\"\n[[variants]]\nformat = \"int8\"\n\n[[variants]]\nformat = \"mxfp4\"\nrounding = \"floor\"\n",
    );
    assert_eq!(
        msg,
        "s.toml: line 7, column 1: variants[1]: 'rounding' does not apply to format 'mxfp4'"
    );
}

/// BUG (reported): a value of the wrong type for `block_size` or `values` reports serde's
/// internal type name ("data did not match any variant of untagged enum RawBlockSize").
#[test]
fn wrongly_typed_block_size_or_values_say_what_is_expected() {
    let cases = [
        (
            "[[variants]]\nformat = \"mxfp4\"\nblock_size = 1.5\n",
            "block_size",
        ),
        ("[w]\nvalues = [1.0, [2.0]]\n", "values"),
        ("[w]\nvalues = [\"a\"]\n", "values"),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(text, key)| (text, key, parse_err(text)))
        .filter(|(_, key, msg)| msg.contains("untagged enum") || !msg.contains(*key))
        .map(|(text, _, msg)| format!("input:\n{text}got: {msg}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// BUG (reported): `seed` on an INT8 variant whose rounding is not stochastic is silently
/// ignored, while every other key that does not apply is refused (and `qlab matmul` refuses
/// `--seed` without `--rounding stochastic`).
#[test]
fn a_seed_without_stochastic_rounding_is_refused() {
    let ok = parse("[[variants]]\nformat = \"int8\"\nrounding = \"stochastic\"\nseed = 5\n");
    assert_eq!(ok.variants[0].label, "int8 stochastic");
    let text = "[[variants]]\nformat = \"int8\"\nseed = 5\n";
    match Scenario::from_toml(text, Path::new("s.toml"), PathBuf::new()) {
        Ok(s) => panic!(
            "'seed' with rounding half-even was accepted (and ignored) as variant '{}'",
            s.variants[0].label
        ),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("s.toml: line 3, column 1: variants[0]: ") && msg.contains("seed"),
                "{msg}"
            );
        }
    }
}

#[test]
fn outlier_channel_count_beyond_the_axis_is_refused() {
    let msg = operands_err(&parse(
        "k = 100\nn = 8\n[x]\noutlier_channels = { count = 101, factor = 50.0 }\n",
    ));
    assert!(
        msg.ends_with("x.outlier_channels.count = 101 exceeds the 100 channels available"),
        "{msg}"
    );
    let msg = operands_err(&parse(
        "m = 4\nk = 100\n[w]\noutlier_channels = { count = 5, factor = 2.0, axis = \"outer\" }\n",
    ));
    assert!(
        msg.ends_with("w.outlier_channels.count = 5 exceeds the 4 channels available"),
        "{msg}"
    );
    // BUG (reported): the operand is named twice, `x: x.outlier_channels.count = ...`.
    let msg = operands_err(&parse(
        "k = 100\nn = 8\n[x]\noutlier_channels = { count = 101, factor = 50.0 }\n",
    ));
    assert!(!msg.starts_with("x: x."), "operand named twice: {msg}");
}

#[test]
fn cli_reports_bad_scenarios_with_the_file_and_line() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("bad.toml");
    fs::write(&path, "name = \"bad\"\n\n[w]\ndist = \"cauchy\"\n").expect("write");
    qlab()
        .arg("run")
        .arg(&path)
        .assert()
        .failure()
        .stdout("")
        .stderr(format!(
            "qlab: error: {}: line 4, column 1: w: unknown dist 'cauchy'; expected normal, uniform, \
             laplace, student_t, lognormal, bimodal or constant\n",
            path.display()
        ));

    fs::write(&path, "name = \"bad\"\nseed = 1\nm = = 3\n").expect("write");
    qlab()
        .arg("run")
        .arg(&path)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "qlab: error: {}: line 3, column ",
            path.display()
        )));

    let missing = dir.path().join("missing.toml");
    qlab()
        .arg("run")
        .arg(&missing)
        .assert()
        .failure()
        .stdout("")
        .stderr(format!(
            "qlab: error: {}: No such file or directory (os error 2)\n",
            missing.display()
        ));
}

// ---------------------------------------------------------------------------------------------
// 6. Data sources
// ---------------------------------------------------------------------------------------------

#[test]
fn inline_values_vector_x_and_matrix_w() {
    let s =
        parse("[w]\nvalues = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]\n[x]\nvalues = [0.5, -1.0, 2.0]\n");
    let ops = operands(&s);
    assert_eq!(ops.w.shape(), (2, 3));
    assert_eq!(ops.w.data(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
    assert_eq!(ops.x.shape(), (3, 1), "a vector x is K × 1");
    assert_eq!(ops.x.data(), [0.5, -1.0, 2.0]);
    assert_eq!(s.w.describe(), "inline values 2×3");
    assert_eq!(s.x.describe(), "inline vector of 3");

    let report = experiment::run(&s).expect("runs");
    assert_eq!(
        (report.scenario.m, report.scenario.k, report.scenario.n),
        (2, 3, 1)
    );
    // y = W·x, exactly.
    assert_eq!(report.reference.y.min, 4.5);
    assert_eq!(report.reference.y.max, 10.0);

    // A data operand fixes its dimensions; the other operand is generated to fit.
    let ops = operands(&parse(
        "n = 5\n[w]\nvalues = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]\n",
    ));
    assert_eq!(ops.x.shape(), (3, 5));
    let ops = operands(&parse("m = 7\n[x]\nvalues = [1.0, 2.0, 3.0, 4.0]\n"));
    assert_eq!(ops.w.shape(), (7, 4));
    assert_eq!(ops.x.shape(), (4, 1));
}

#[test]
fn transpose_then_slice() {
    // W's data is 3 × 4; transposed 4 × 3; rows 1..3 and cols 0..2 keep a 2 × 2.
    let s = parse(
        "[w]\nvalues = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]\ntranspose = true\nrows = [1, 3]\ncols = [0, 2]\n[x]\nvalues = [[1.0], [1.0]]\n",
    );
    assert_eq!(
        s.w.describe(),
        "inline values 3×4, transposed, rows 1..3, cols 0..2"
    );
    let ops = operands(&s);
    assert_eq!(ops.w.shape(), (2, 2));
    assert_eq!(ops.w.data(), [2.0, 6.0, 3.0, 7.0]);

    // Only cols: all rows kept.
    let ops = operands(&parse(
        "[w]\nvalues = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]\ncols = [1, 3]\n[x]\nvalues = [1.0, 1.0]\n",
    ));
    assert_eq!(ops.w.data(), [2.0, 3.0, 5.0, 6.0]);

    // A transposed row vector is already a column.
    let ops = operands(&parse(
        "[w]\nvalues = [[1.0, 2.0, 3.0]]\n[x]\nvalues = [1.0, 2.0, 3.0]\ntranspose = true\n",
    ));
    assert_eq!(ops.x.shape(), (3, 1));
}

#[test]
fn shape_disagreements_name_both_sides() {
    let msg = operands_err(&parse(
        "[w]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\n[x]\nvalues = [1.0, 2.0, 3.0]\n",
    ));
    assert_eq!(
        msg,
        "K (columns of W, rows of x) disagrees: W's data gives 2, x's data gives 3"
    );
    let msg = operands_err(&parse("k = 3\n[w]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\n"));
    assert_eq!(
        msg,
        "K (columns of W, rows of x) disagrees: k gives 3, W's data gives 2"
    );
    let msg = operands_err(&parse("m = 5\n[w]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\n"));
    assert_eq!(msg, "M (rows of W) disagrees: m gives 5, W's data gives 2");
    let msg = operands_err(&parse("n = 2\n[x]\nvalues = [1.0, 2.0]\n"));
    assert_eq!(
        msg,
        "N (columns of x) disagrees: n gives 2, x's data gives 1"
    );
    // Agreeing explicit sizes are fine.
    let ops = operands(&parse(
        "m = 2\nk = 2\nn = 1\n[w]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\n[x]\nvalues = [1.0, 2.0]\n",
    ));
    assert_eq!(ops.w.shape(), (2, 2));
}

#[test]
fn slices_beyond_the_data_are_refused() {
    let msg = operands_err(&parse(
        "[w]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\nrows = [0, 3]\n",
    ));
    assert_eq!(
        msg,
        "w: slice rows 0..3, cols 0..2 exceeds the data's shape (2, 2)"
    );
    let msg = operands_err(&parse(
        "[x]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\ntranspose = true\ncols = [1, 5]\n",
    ));
    assert_eq!(
        msg,
        "x: slice rows 0..2, cols 1..5 exceeds the data's shape (2, 2)"
    );
}

#[test]
fn npy_files_relative_to_the_scenario() {
    let dir = TempDir::new().expect("tempdir");
    fs::create_dir(dir.path().join("data")).expect("mkdir");
    let w = [1.5f32, -2.0, 0.25, 3.0, 0.0, -0.125];
    fs::write(
        dir.path().join("data/w.npy"),
        encode(&[2, 3], &NpyData::F32(&w)),
    )
    .expect("write");
    // A 1-D float64 x: a K-vector.
    fs::write(
        dir.path().join("data/x.npy"),
        encode(&[3], &NpyData::F64(&[0.5, 0.25, -4.0])),
    )
    .expect("write");
    let s = load_in(
        dir.path(),
        "[w]\nfile = \"data/w.npy\"\n[x]\nfile = \"data/x.npy\"\n",
    );
    assert_eq!(s.base_dir, dir.path());
    assert_eq!(s.w.describe(), "data/w.npy");
    let ops = operands(&s);
    assert_eq!(ops.w.shape(), (2, 3));
    assert_eq!(ops.w.data(), w);
    assert_eq!(ops.x.shape(), (3, 1));
    assert_eq!(ops.x.data(), [0.5, 0.25, -4.0]);
    let report = experiment::run(&s).expect("runs");
    assert_eq!(report.scenario.w_source, "data/w.npy");
    assert_eq!(report.variants.len(), 2);

    // A 2-D x of shape (K, N) stays as it is.
    fs::write(
        dir.path().join("data/x2.npy"),
        encode(&[3, 2], &NpyData::F32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
    )
    .expect("write");
    let s = load_in(
        dir.path(),
        "[w]\nfile = \"data/w.npy\"\n[x]\nfile = \"data/x2.npy\"\n",
    );
    assert_eq!(operands(&s).x.shape(), (3, 2));

    // A missing file names its full path.
    let s = load_in(dir.path(), "[w]\nfile = \"data/nope.npy\"\n");
    assert_eq!(
        operands_err(&s),
        format!(
            "{}: No such file or directory (os error 2)",
            dir.path().join("data/nope.npy").display()
        )
    );
}

#[test]
fn relative_paths_resolve_against_the_scenario_not_the_cwd() {
    let dir = TempDir::new().expect("tempdir");
    fs::write(
        dir.path().join("w.npy"),
        encode(&[2, 2], &NpyData::F32(&[1.0, 2.0, 3.0, 4.0])),
    )
    .expect("write");
    fs::write(
        dir.path().join("s.toml"),
        "name = \"rel\"\nn = 3\n[w]\nfile = \"w.npy\"\n",
    )
    .expect("write");
    // Run from another directory.
    let elsewhere = TempDir::new().expect("tempdir");
    qlab()
        .current_dir(elsewhere.path())
        .arg("run")
        .arg(dir.path().join("s.toml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("rel").and(predicate::str::contains("W 2×2: w.npy")));
}

#[test]
fn csv_files_with_and_without_a_header() {
    let dir = TempDir::new().expect("tempdir");
    fs::write(dir.path().join("plain.csv"), "1,2,3\n4,5,6.5\n").expect("write");
    fs::write(
        dir.path().join("header.csv"),
        "a, b, c\n1, 2, 3\n4, 5, 6.5\n",
    )
    .expect("write");
    fs::write(dir.path().join("x.csv"), "k\n0.5\n-1\n2\n").expect("write");
    for file in ["plain.csv", "header.csv"] {
        let s = load_in(
            dir.path(),
            &format!("[w]\nfile = \"{file}\"\n[x]\nfile = \"x.csv\"\n"),
        );
        let ops = operands(&s);
        assert_eq!(ops.w.shape(), (2, 3), "{file}");
        assert_eq!(ops.w.data(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.5], "{file}");
        assert_eq!(ops.x.shape(), (3, 1), "{file}");
        assert_eq!(ops.x.data(), [0.5, -1.0, 2.0], "{file}");
    }
    // A non-numeric cell after the first row names its line and column.
    fs::write(dir.path().join("bad.csv"), "1,2\n3,x\n").expect("write");
    let s = load_in(dir.path(), "[w]\nfile = \"bad.csv\"\n");
    assert_eq!(
        operands_err(&s),
        format!(
            "{}: line 2, column 2: 'x' is not a number",
            dir.path().join("bad.csv").display()
        )
    );
    // An unknown extension.
    let s = load_in(dir.path(), "[w]\nfile = \"w.txt\"\n");
    assert_eq!(
        operands_err(&s),
        format!(
            "{}: unknown file type; expected .npy, .npz, .safetensors, .gguf, .csv, a checkpoint folder or its *.index.json",
            dir.path().join("w.txt").display()
        )
    );
}

#[test]
fn safetensors_f32_f16_bf16_are_converted_exactly() {
    // bf16 is the upper half of an f32: check the hand encoding against `half`.
    assert_eq!(bf16_bytes(&[1.5, -2.0]), [0xC0, 0x3F, 0x00, 0xC0]);
    assert_eq!(f16_bytes(&[1.5, -2.0]), [0x00, 0x3E, 0x00, 0xC0]);

    let dir = safetensors_dir();
    let s = load_in(
        dir.path(),
        "[w]\nfile = \"tensors.safetensors\"\ntensor = \"w\"\n[x]\nfile = \"tensors.safetensors\"\ntensor = \"h\"\n",
    );
    assert_eq!(s.w.describe(), "tensors.safetensors[w]");
    let ops = operands(&s);
    assert_eq!(ops.w.shape(), (2, 3));
    let want: Vec<u32> = F32_VALUES.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits(&ops.w), want);
    assert_eq!(ops.x.shape(), (3, 2));
    assert_eq!(ops.x.data(), F16_VALUES);

    let s = load_in(
        dir.path(),
        "[w]\nfile = \"tensors.safetensors\"\ntensor = \"h\"\ntranspose = true\n[x]\nfile = \"tensors.safetensors\"\ntensor = \"b\"\n",
    );
    let ops = operands(&s);
    assert_eq!(ops.w.shape(), (2, 3));
    assert_eq!(ops.x.shape(), (3, 1));
    assert_eq!(ops.x.data(), BF16_VALUES);
    experiment::run(&s).expect("runs");
}

#[test]
fn safetensors_tensor_names_are_checked() {
    let dir = safetensors_dir();
    let path = dir.path().join("tensors.safetensors");
    let s = load_in(
        dir.path(),
        "[w]\nfile = \"tensors.safetensors\"\ntensor = \"weight\"\n",
    );
    assert_eq!(
        operands_err(&s),
        format!(
            "{}: no tensor named 'weight' (3 tensors: b, h, w)",
            path.display()
        )
    );
    // A typo: the closest 2-D name is suggested (never the 1-D 'b').
    let s = load_in(
        dir.path(),
        "[w]\nfile = \"tensors.safetensors\"\ntensor = \"ww\"\n",
    );
    assert_eq!(
        operands_err(&s),
        format!(
            "{}: no tensor named 'ww' (did you mean 'w'? 3 tensors: b, h, w)",
            path.display()
        )
    );
    let s = load_in(dir.path(), "[w]\nfile = \"tensors.safetensors\"\n");
    assert_eq!(
        operands_err(&s),
        format!(
            "{}: holds several tensors; name one with `tensor = \"...\"` (3 tensors: b, h, w)",
            path.display()
        )
    );
    // A file with one tensor needs no name.
    fs::write(
        dir.path().join("one.safetensors"),
        safetensors(&[("only", "F32", &[2, 2], f32_bytes(&[1.0, 2.0, 3.0, 4.0]))]),
    )
    .expect("write");
    let s = load_in(dir.path(), "[w]\nfile = \"one.safetensors\"\n");
    assert_eq!(operands(&s).w.data(), [1.0, 2.0, 3.0, 4.0]);
    // A header with only `__metadata__` (or `{}`) holds nothing to name, with or without a name.
    let mut meta = b"{\"__metadata__\":{\"a\":\"b\"}}  ".to_vec();
    meta.splice(0..0, (meta.len() as u64).to_le_bytes());
    for (file, bytes) in [
        ("meta.safetensors", meta),
        ("empty.safetensors", safetensors(&[])),
    ] {
        fs::write(dir.path().join(file), bytes).expect("write");
        for tensor in ["", "tensor = \"w\"\n"] {
            let s = load_in(dir.path(), &format!("[w]\nfile = \"{file}\"\n{tensor}"));
            assert_eq!(
                operands_err(&s),
                format!(
                    "{}: holds no tensors (its header lists none); expected at least one",
                    dir.path().join(file).display()
                )
            );
        }
    }
    // 'tensor' on a non-safetensors file.
    let s = load_in(dir.path(), "[w]\nfile = \"w.npy\"\ntensor = \"w\"\n");
    assert_eq!(
        operands_err(&s),
        format!(
            "{}: 'tensor' names a tensor inside a .safetensors file (or an array inside a .npz); this is not one",
            dir.path().join("w.npy").display()
        )
    );
}

/// BUG (reported): a 1-D x from `.npy` is a K-vector (K × 1), but a 1-D x from `.safetensors`
/// becomes 1 × K and then disagrees with W about K.
#[test]
fn a_1d_safetensors_x_is_a_k_vector_like_npy() {
    let dir = TempDir::new().expect("tempdir");
    fs::write(
        dir.path().join("t.safetensors"),
        safetensors(&[
            (
                "w",
                "F32",
                &[2, 3],
                f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            ),
            ("v", "BF16", &[3], bf16_bytes(&BF16_VALUES)),
        ]),
    )
    .expect("write");
    let s = load_in(
        dir.path(),
        "[w]\nfile = \"t.safetensors\"\ntensor = \"w\"\n[x]\nfile = \"t.safetensors\"\ntensor = \"v\"\n",
    );
    match s.operands() {
        Ok(ops) => {
            assert_eq!(ops.x.shape(), (3, 1));
            assert_eq!(ops.x.data(), BF16_VALUES);
        }
        Err(e) => panic!("a 1-D safetensors x should be K × 1 as a 1-D .npy is; got: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Memory guard
// ---------------------------------------------------------------------------------------------

#[test]
fn huge_shapes_are_refused_before_allocating() {
    let s = parse("m = 10000000\nk = 10000000\nn = 10000000\n");
    let msg = operands_err(&s);
    let prefix = "W (10000000 × 10000000), x (10000000 × 10000000) and y (10000000 × 10000000) \
                  need about 8940696.7 GiB of memory; ";
    assert!(msg.starts_with(prefix), "{msg}");
    assert!(msg.ends_with(" GiB is available"), "{msg}");
    assert!(msg.contains("of memory"));
    // The same through `experiment::run`.
    let e = experiment::run(&s).expect_err("refused").to_string();
    assert_eq!(e, msg);

    // Beyond u64: the need is not computed.
    let msg = operands_err(&parse("m = 5000000000\nk = 5000000000\nn = 2\n"));
    assert!(
        msg.starts_with(
            "W (5000000000 × 5000000000), x (5000000000 × 2) and y (5000000000 × 2) need more \
             than 16 EiB of memory; "
        ),
        "{msg}"
    );

    // Through the CLI.
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("huge.toml");
    fs::write(&path, "m = 10000000\nk = 10000000\nn = 10000000\n").expect("write");
    qlab()
        .arg("run")
        .arg(&path)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "qlab: error: {}: {prefix}",
            path.display()
        )));
}

// ---------------------------------------------------------------------------------------------
// 8. `qlab run`
// ---------------------------------------------------------------------------------------------

fn small_file(dir: &Path) -> PathBuf {
    let path = dir.join("small.toml");
    fs::write(&path, SMALL).expect("write");
    path
}

#[test]
fn run_prints_the_table() {
    let dir = TempDir::new().expect("tempdir");
    let out = qlab()
        .arg("run")
        .arg(small_file(dir.path()))
        .assert()
        .success()
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.starts_with("small-test — a small scenario\nseed 3 · W 16×64: normal(mean 0, std 0.05) · x 64×4: laplace(mean 0, scale 1)\n"),
        "{text}"
    );
    for needle in [
        "A int8",
        "B mxfp4",
        "C mx16",
        "output SQNR (dB)",
        "reference",
    ] {
        assert!(text.contains(needle), "missing '{needle}' in\n{text}");
    }
    // The same text as the library renders.
    let report = experiment::run(&parse(SMALL)).expect("runs");
    assert_eq!(text, qlab::table::render(&report));
}

#[test]
fn run_json_is_the_report() {
    let dir = TempDir::new().expect("tempdir");
    let out = qlab()
        .arg("run")
        .arg(small_file(dir.path()))
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(json["qlab_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["scenario"]["name"], "small-test");
    assert_eq!(json["scenario"]["seed"], 3);
    assert_eq!(json["scenario"]["m"], 16);
    let variants = json["variants"].as_array().expect("variants array");
    let labels: Vec<&str> = variants
        .iter()
        .map(|v| v["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["A int8", "B mxfp4", "C mx16"]);
    for v in variants {
        assert!(v["output"]["sqnr_db"].is_number(), "{v}");
    }
    // Identical to the library's report.
    let report: Report = experiment::run(&parse(SMALL)).expect("runs");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(
        text,
        format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("serializes")
        )
    );
}

#[test]
fn run_csv_writes_one_row_per_variant() {
    let dir = TempDir::new().expect("tempdir");
    let csv = dir.path().join("out.csv");
    qlab()
        .arg("run")
        .arg(small_file(dir.path()))
        .arg("--csv")
        .arg(&csv)
        .assert()
        .success()
        .stdout(predicate::str::contains("output SQNR (dB)"));
    let text = fs::read_to_string(&csv).expect("csv written");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("scenario,seed,m,k,n,w_source,x_source,variant,format,"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 4, "header + 3 variants:\n{text}");
    assert!(
        lines[1].starts_with("small-test,3,16,64,4,"),
        "{}",
        lines[1]
    );
    for (line, label) in lines[1..].iter().zip(["A int8", "B mxfp4", "C mx16"]) {
        assert!(line.contains(&format!(",{label},")), "{line}");
    }
    let report = experiment::run(&parse(SMALL)).expect("runs");
    assert_eq!(
        text.as_bytes(),
        csv_bytes(&ReportRow::all(&report)).expect("csv")
    );
}

#[test]
fn run_without_a_file_runs_the_built_in_scenario() {
    let built_in = Scenario::default();
    let out = qlab()
        .arg("run")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.starts_with(&built_in.name), "{text}");
    for v in &built_in.variants {
        assert!(text.contains(&v.label), "missing '{}' in\n{text}", v.label);
    }
    assert!(text.contains("output SQNR (dB)"));
}

// ---------------------------------------------------------------------------------------------
// 9. CSV columns
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_header_is_stable() {
    let report = experiment::run(&parse(SMALL)).expect("runs");
    let bytes = csv_bytes(&ReportRow::all(&report)).expect("csv");
    let text = String::from_utf8(bytes).expect("utf-8");
    let header = text.lines().next().expect("a header");
    let want = [
        "scenario",
        "seed",
        "m",
        "k",
        "n",
        "w_source",
        "x_source",
        "variant",
        "format",
        "w_format",
        "x_format",
        "w_scheme",
        "w_granularity",
        "x_scheme",
        "x_granularity",
        "rounding",
        "block_size",
        "scale_rule",
        "accumulator",
        "w_group_size",
        "x_group_size",
        "two_level",
        "element_rounding",
        "exponent",
        "signed_zero",
        "out_sqnr_db",
        "out_mse",
        "out_rmse",
        "out_max_abs",
        "out_mean_rel",
        "out_max_rel",
        "out_cosine",
        "out_p50",
        "out_p90",
        "out_p99",
        "out_p999",
        "out_non_finite",
        "model_out_sqnr_db",
        "w_only_sqnr_db",
        "x_only_sqnr_db",
        "w_sqnr_db",
        "w_rmse",
        "w_max_abs",
        "w_clipped",
        "w_flushed",
        "w_model_sqnr_db",
        "w_nan_blocks",
        "w_bits_per_element",
        "x_sqnr_db",
        "x_rmse",
        "x_max_abs",
        "x_clipped",
        "x_flushed",
        "x_model_sqnr_db",
        "x_nan_blocks",
        "x_bits_per_element",
        "compression",
        "qlab_version",
    ]
    .join(",");
    assert_eq!(header, want);
    assert_eq!(text.lines().count(), 1 + report.variants.len());
    // Fields that do not apply are empty: INT8 rows have no block size, MXFP4 rows no scheme.
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    let col = |name: &str| want.split(',').position(|c| c == name).expect("column");
    assert_eq!(&rows[0][col("w_source")], "normal(mean 0, std 0.05)");
    assert_eq!(&rows[0][col("variant")], "A int8");
    assert_eq!(&rows[0][col("w_scheme")], "asymmetric");
    assert_eq!(&rows[0][col("block_size")], "");
    assert_eq!(&rows[1][col("w_scheme")], "");
    assert_eq!(&rows[1][col("block_size")], "32");
    assert_eq!(&rows[2][col("block_size")], "16");
    assert_eq!(&rows[2][col("qlab_version")], env!("CARGO_PKG_VERSION"));
}

/// Every shipped scenario's whole report (every metric, histogram and count) is the same on
/// every kernel path this CPU has: the SIMD kernels and quantizers change the speed, never a
/// bit of the results.
#[test]
fn every_scenario_reports_the_same_on_every_kernel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let paths = qlab::simd::Isa::supported();
    for f in &files {
        let reports: Vec<Vec<u8>> = paths
            .iter()
            .map(|isa| {
                qlab()
                    .args(["--kernel", isa.name(), "run", "--json"])
                    .arg(f)
                    .assert()
                    .success()
                    .get_output()
                    .stdout
                    .clone()
            })
            .collect();
        for (isa, r) in paths.iter().zip(&reports).skip(1) {
            assert!(
                *r == reports[0],
                "{}: {} differs from {}",
                f.display(),
                isa.name(),
                paths[0].name()
            );
        }
    }
}
