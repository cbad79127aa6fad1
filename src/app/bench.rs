//! `qlab bench`: throughput of every GEMM path this CPU has, beside an f32 GEMM from a
//! well-kept crate (matrixmultiply) measured in the same run, and of the quantizers.

use std::time::Instant;

use serde::Serialize;

use crate::core::data::distribution::{Distribution, Role, sample};
use crate::core::family::{self, Variant};
use crate::core::format::{Int8Config, Int8Matrix, MxConfig, MxMatrix};
use crate::core::kernel::{Accumulator, int8, mxfp4};
use crate::core::matrix::Matrix;
use crate::core::simd::Isa;

/// Median and spread of repeated timings, as a rate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rate {
    pub name: String,
    pub size: usize,
    /// Operations per second, in units of `unit` (GOPS: 2 ops per multiply-add).
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub unit: String,
    /// median / the f32 baseline's median at the same size (GEMMs only).
    pub vs_f32: Option<f64>,
    /// median / the INT8 path's median at the same size (the best INT8 GEMM, or the INT8
    /// quantizer).
    pub vs_int8: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    pub cpu: String,
    pub features: Vec<String>,
    pub threads: usize,
    pub runs: usize,
    pub gemm: Vec<Rate>,
    pub quantize: Vec<Rate>,
    /// With `--scaling`: each GEMM on one thread against the whole pool.
    pub scaling: Vec<Scaling>,
}

/// A GEMM on one thread and on `threads`, timed in alternation (one-thread run, pool run,
/// one-thread run, ...) so that both see the same machine: on a shared VM a second core
/// comes and goes, and separate runs would compare different machines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scaling {
    pub name: String,
    pub size: usize,
    pub threads: usize,
    /// Median rates, GOPS.
    pub one_thread: f64,
    pub all_threads: f64,
    /// Median, smallest and largest of the per-pair ratios (one-thread time / pool time).
    pub speedup: f64,
    pub speedup_min: f64,
    pub speedup_max: f64,
}

/// CPU features relevant to the kernels, as detected at run time.
pub fn features() -> Vec<String> {
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => { $( if std::arch::is_x86_feature_detected!($f) { v.push($f.to_string()); } )* };
        }
        probe!(
            "sse4.1",
            "avx2",
            "fma",
            "avx512f",
            "avx512bw",
            "avx512dq",
            "avx512vl",
            "avx512vnni",
            "avxvnni",
            "avx512bf16"
        );
        // AMX needs the OS's and the process's permission as well as the CPUID bits.
        if crate::core::simd::Isa::Amx.available() {
            v.push("amx-int8".to_string());
        }
    }
    v
}

/// The CPU's model name (Linux), or the architecture.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Vec<f64> {
    std::hint::black_box(f()); // warm-up
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// `runs` pairs of timings of `f`: on a one-thread pool, then on the current pool.
fn time_pairs<T: Send>(runs: usize, f: impl Fn() -> T + Sync) -> Option<(Vec<f64>, Vec<f64>)> {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .ok()?;
    std::hint::black_box(one.install(&f)); // warm-up, both
    std::hint::black_box(f());
    let timed = |f: &dyn Fn() -> T| {
        let t = Instant::now();
        std::hint::black_box(f());
        t.elapsed().as_secs_f64()
    };
    Some(
        (0..runs)
            .map(|_| (one.install(|| timed(&f)), timed(&f)))
            .unzip(),
    )
}

fn scaling(name: &str, size: usize, (one, all): (Vec<f64>, Vec<f64>)) -> Scaling {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ops = 2.0 * (size as f64).powi(3);
    let mut ratios: Vec<f64> = one.iter().zip(&all).map(|(a, b)| a / b).collect();
    let speedup = median(&mut ratios);
    Scaling {
        name: name.into(),
        size,
        threads: rayon::current_num_threads(),
        one_thread: ops / median(&mut one.clone()) / 1e9,
        all_threads: ops / median(&mut all.clone()) / 1e9,
        speedup,
        speedup_min: ratios[0],
        speedup_max: ratios[ratios.len() - 1],
    }
}

fn rate(name: &str, size: usize, work: f64, unit: &str, secs: &[f64]) -> Rate {
    let mut r: Vec<f64> = secs.iter().map(|s| work / s / 1e9).collect();
    r.sort_by(f64::total_cmp);
    Rate {
        name: name.into(),
        size,
        median: r[r.len() / 2],
        min: r[0],
        max: r[r.len() - 1],
        unit: unit.into(),
        vs_f32: None,
        vs_int8: None,
    }
}

/// f32 C = A · B with matrixmultiply (its own runtime-dispatched SIMD).
fn sgemm(a: &Matrix, b: &Matrix) -> Vec<f32> {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    let mut c = vec![0f32; m * n];
    crate::core::simd::sgemm_baseline(a.data(), b.data(), &mut c, (m, k, n));
    c
}

/// The GEMMs of every registered format at its defaults, and the W × x pairs deployments use
/// (W4A8, W4A16), each as `(name, variant)`.
fn registry_variants() -> Vec<(String, Variant)> {
    let mut v: Vec<(String, Variant)> = family::REGISTRY
        .iter()
        .map(|&f| (f.name().to_string(), Variant::pair(f, f)))
        .collect();
    for (name, w, x) in [
        ("W4A8 (int4 · int8)", "int4", "int8"),
        ("W4A16 (int4 · bf16)", "int4", "bf16"),
    ] {
        if let (Ok(w), Ok(x)) = (family::lookup(w), family::lookup(x)) {
            v.push((name.to_string(), Variant::pair(w, x)));
        }
    }
    v
}

/// Measures every path at every size, `runs` times each, on the current rayon pool; with
/// `scale`, also the best INT8 and MXFP4 paths on one thread against the pool. With `formats`,
/// also every format's GEMM and quantizer (at most 3 runs each: the portable ones are slow).
pub fn run(sizes: &[usize], runs: usize, scale: bool, formats: bool) -> BenchReport {
    let d = Distribution::Normal {
        mean: 0.0,
        std: 1.0,
    };
    let mut gemm = Vec::new();
    let mut quantize = Vec::new();
    let mut scalings = Vec::new();
    for &n in sizes {
        let (w, x) = (sample(&d, n, n, Role::W, 1), sample(&d, n, n, Role::X, 2));
        let xt = x.transpose();
        let ops = 2.0 * (n as f64).powi(3);
        let base = rate(
            "f32 sgemm (matrixmultiply)",
            n,
            ops,
            "GFLOP/s",
            &time(runs, || sgemm(&w, &x)),
        );
        let base_median = base.median;
        gemm.push(base);
        let (qw, qx) = (
            Int8Matrix::quantize(&w, Int8Config::WEIGHTS).expect("finite"),
            Int8Matrix::quantize(&xt, Int8Config::ACTIVATIONS).expect("finite"),
        );
        let (mw, mx) = (
            MxMatrix::quantize(&w, MxConfig::default()).expect("valid"),
            MxMatrix::quantize(&xt, MxConfig::default()).expect("valid"),
        );
        // A forced path (--kernel, QLAB_KERNEL) is measured alone; otherwise every path.
        let paths = crate::core::simd::forced().map_or_else(Isa::supported, |i| vec![i]);
        let alone = paths.len() == 1;
        for isa in paths {
            let mut r = rate(
                &format!("int8 gemm ({})", isa.name()),
                n,
                ops,
                "GOPS",
                &time(runs, || int8::gemm_with(isa, &qw, &qx)),
            );
            r.vs_f32 = Some(r.median / base_median);
            gemm.push(r);
            // AVX2-VNNI's MXFP4 GEMM is the AVX2 one: measured on its own row unless the
            // path was forced alone. AMX has its own.
            if isa == Isa::Avx2Vnni && !alone {
                continue;
            }
            let mut r = rate(
                &format!("mxfp4 gemm ({})", mx_path(isa).name()),
                n,
                ops,
                "GOPS",
                &time(runs, || mxfp4::gemm_with(isa, &mw, &mx, Accumulator::F32)),
            );
            r.vs_f32 = Some(r.median / base_median);
            gemm.push(r);
        }
        if scale {
            let isa = crate::core::simd::active();
            let pairs = time_pairs(runs, || int8::gemm_with(isa, &qw, &qx));
            if let Some(p) = pairs {
                scalings.push(scaling(&format!("int8 gemm ({})", isa.name()), n, p));
            }
            {
                let pairs = time_pairs(runs, || mxfp4::gemm_with(isa, &mw, &mx, Accumulator::F32));
                if let Some(p) = pairs {
                    let name = format!("mxfp4 gemm ({})", mx_path(isa).name());
                    scalings.push(scaling(&name, n, p));
                }
            }
        }
        let best_int8 = gemm
            .iter()
            .filter(|r| r.size == n && r.name.starts_with("int8 gemm"))
            .map(|r| r.median)
            .fold(0.0, f64::max);
        for r in gemm.iter_mut().filter(|r| r.size == n && r.unit == "GOPS") {
            r.vs_int8 = Some(r.median / best_int8);
        }
        let elems = (n * n) as f64;
        let q_int8 = rate(
            "int8 quantize (asymmetric)",
            n,
            elems,
            "G elements/s",
            &time(runs, || Int8Matrix::quantize(&w, Int8Config::WEIGHTS)),
        );
        let q_base = q_int8.median;
        quantize.push(q_int8);
        quantize.push(rate(
            "mxfp4 quantize (floor, 32)",
            n,
            elems,
            "G elements/s",
            &time(runs, || MxMatrix::quantize(&w, MxConfig::default())),
        ));
        if formats {
            let few = runs.min(3);
            for (name, v) in registry_variants() {
                // A format whose kernels have rows of their own (per path) is not repeated.
                if gemm
                    .iter()
                    .any(|r| r.name.starts_with(&format!("{name} gemm (")))
                {
                    continue;
                }
                let Ok((qw, qx)) = v.quantize(&w, &x, &xt) else {
                    continue;
                };
                let mut r = rate(
                    &format!("{name} gemm"),
                    n,
                    ops,
                    "GOPS",
                    &time(few, || v.gemm(&*qw, &*qx)),
                );
                r.vs_f32 = Some(r.median / base_median);
                r.vs_int8 = Some(r.median / best_int8);
                gemm.push(r);
                if v.is_mixed() {
                    continue;
                }
                let mut q = rate(
                    &format!("{name} quantize"),
                    n,
                    elems,
                    "G elements/s",
                    &time(few, || v.w_format.quantize(&w, &v.w)),
                );
                q.vs_int8 = Some(q.median / q_base);
                quantize.push(q);
            }
        }
        for q in quantize
            .iter_mut()
            .filter(|q| q.size == n && q.vs_int8.is_none())
        {
            q.vs_int8 = Some(q.median / q_base);
        }
    }
    BenchReport {
        cpu: cpu_name(),
        features: features(),
        threads: rayon::current_num_threads(),
        runs,
        gemm,
        quantize,
        scaling: scalings,
    }
}

/// The report as a table.
pub fn render(r: &BenchReport) -> String {
    let mut s = format!(
        "CPU: {}\nfeatures: {}\nthreads: {} · {} runs each (median [min–max])\n\n",
        r.cpu,
        r.features.join(" "),
        r.threads,
        r.runs
    );
    let ratio = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}×"));
    s.push_str(&format!(
        "{:<34}{:>6}{:>12}{:>22}{:>10}{:>10}\n",
        "GEMM", "n", "median", "range", "vs f32", "vs int8"
    ));
    for g in &r.gemm {
        s.push_str(&format!(
            "{:<34}{:>6}{:>12.1}{:>22}{:>10}{:>10}  {}\n",
            g.name,
            g.size,
            g.median,
            format!("[{:.1}–{:.1}]", g.min, g.max),
            ratio(g.vs_f32),
            ratio(g.vs_int8),
            g.unit
        ));
    }
    s.push_str(&format!(
        "\n{:<34}{:>6}{:>12}{:>22}{:>10}\n",
        "quantizer", "n", "median", "range", "vs int8"
    ));
    for q in &r.quantize {
        s.push_str(&format!(
            "{:<34}{:>6}{:>12.3}{:>22}{:>10}  {}\n",
            q.name,
            format!("{}²", q.size),
            q.median,
            format!("[{:.3}–{:.3}]", q.min, q.max),
            ratio(q.vs_int8),
            q.unit
        ));
    }
    if !r.scaling.is_empty() {
        s.push_str(&format!(
            "\n{:<34}{:>6}{:>12}{:>12}{:>10}{:>20}\n",
            "scaling (alternating runs)",
            "n",
            "1 thread",
            format!("{} threads", r.threads),
            "speed-up",
            "range"
        ));
        for g in &r.scaling {
            s.push_str(&format!(
                "{:<34}{:>6}{:>12.1}{:>12.1}{:>9.2}×{:>20}  GOPS\n",
                g.name,
                g.size,
                g.one_thread,
                g.all_threads,
                g.speedup,
                format!("[{:.2}–{:.2}]", g.speedup_min, g.speedup_max),
            ));
        }
    }
    s
}

/// The path whose MXFP4 kernel `isa` runs: AVX2-VNNI's is AVX2's; every other its own.
fn mx_path(isa: Isa) -> Isa {
    match isa {
        Isa::Avx2Vnni => Isa::Avx2,
        other => other,
    }
}
