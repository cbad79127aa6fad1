//! Criterion benchmarks of the quantizers and GEMMs (run: `cargo bench --bench kernels`).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qlab::data::distribution::{Distribution, Role, sample};
use qlab::format::{Int8Config, Int8Matrix, MxConfig, MxMatrix};
use qlab::kernel::{Accumulator, int8, mxfp4, reference};
use qlab::simd::Isa;

fn operands(n: usize) -> (qlab::Matrix, qlab::Matrix) {
    let d = Distribution::Normal {
        mean: 0.0,
        std: 1.0,
    };
    (sample(&d, n, n, Role::W, 1), sample(&d, n, n, Role::X, 1))
}

fn gemms(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    g.sample_size(10);
    for n in [256usize, 1024] {
        let (w, x) = operands(n);
        let xt = x.transpose();
        g.throughput(Throughput::Elements((n * n * n) as u64));
        let (qw, qx) = (
            Int8Matrix::quantize(&w, Int8Config::WEIGHTS).unwrap(),
            Int8Matrix::quantize(&xt, Int8Config::ACTIVATIONS).unwrap(),
        );
        g.bench_with_input(BenchmarkId::new("int8", n), &n, |b, _| {
            b.iter(|| int8::gemm(&qw, &qx));
        });
        let (mw, mx) = (
            MxMatrix::quantize(&w, MxConfig::default()).unwrap(),
            MxMatrix::quantize(&xt, MxConfig::default()).unwrap(),
        );
        for isa in Isa::supported() {
            g.bench_with_input(
                BenchmarkId::new(format!("mxfp4/{}", isa.name()), n),
                &n,
                |b, _| b.iter(|| mxfp4::gemm_with(isa, &mw, &mx, Accumulator::F32)),
            );
        }
        g.bench_with_input(BenchmarkId::new("f64_reference", n), &n, |b, _| {
            b.iter(|| reference::gemm_f64(&w, &xt));
        });
    }
    g.finish();
}

fn quantizers(c: &mut Criterion) {
    let mut g = c.benchmark_group("quantize");
    let (w, _) = operands(1024);
    g.throughput(Throughput::Elements(w.len() as u64));
    g.bench_function("int8_asymmetric", |b| {
        b.iter(|| Int8Matrix::quantize(&w, Int8Config::WEIGHTS).unwrap());
    });
    g.bench_function("mxfp4_floor_32", |b| {
        b.iter(|| MxMatrix::quantize(&w, MxConfig::default()).unwrap());
    });
    g.finish();
}

/// Every format of the registry at its defaults, GEMM and quantizer, at one size (the
/// portable kernels of most are slow).
fn formats(c: &mut Criterion) {
    let n = 256;
    let (w, x) = operands(n);
    let xt = x.transpose();
    let mut g = c.benchmark_group("format_gemm");
    g.sample_size(10);
    g.throughput(Throughput::Elements((n * n * n) as u64));
    for &f in qlab::family::REGISTRY {
        let v = qlab::family::Variant::pair(f, f);
        let (qw, qx) = v.quantize(&w, &x, &xt).unwrap();
        g.bench_function(f.name(), |b| b.iter(|| v.gemm(&*qw, &*qx)));
    }
    g.finish();
    let mut g = c.benchmark_group("format_quantize");
    g.sample_size(10);
    g.throughput(Throughput::Elements(w.len() as u64));
    for &f in qlab::family::REGISTRY {
        let v = qlab::family::Variant::pair(f, f);
        g.bench_function(f.name(), |b| b.iter(|| f.quantize(&w, &v.w).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, gemms, quantizers, formats);
criterion_main!(benches);
