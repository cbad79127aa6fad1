//! Properties of the quantizers and the integer GEMMs (DESIGN §5), and exactness edge cases.

use proptest::prelude::*;
use qlab::Matrix;
use qlab::data::distribution::Role;
use qlab::family::Variant;
use qlab::format::{BlockSize, Granularity, Int8Config, Int8Matrix, MxConfig, MxMatrix};
use qlab::format::{Rounding, ScaleRule, Scheme};
use qlab::format::{e2m1, e8m0};
use qlab::kernel::{self, Accumulator, int8, mxfp4};

fn finite() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -100.0f32..100.0,
        2 => prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO,
        1 => Just(0.0f32),
    ]
}

/// A matrix of `rows × cols` finite values, each row's magnitude spread over many binades.
fn matrix(
    rows: impl Strategy<Value = usize>,
    cols: impl Strategy<Value = usize>,
) -> impl Strategy<Value = Matrix> {
    (rows, cols).prop_flat_map(|(r, c)| {
        prop::collection::vec(finite(), r * c).prop_map(move |d| Matrix::new(r, c, d).unwrap())
    })
}

fn rule() -> impl Strategy<Value = ScaleRule> {
    prop::sample::select(ScaleRule::ALL.to_vec())
}

fn block() -> impl Strategy<Value = BlockSize> {
    prop_oneof![
        (1usize..70).prop_map(BlockSize::Elements),
        Just(BlockSize::Elements(32)),
        Just(BlockSize::Tensor),
    ]
}

/// Half the spacing of the E2M1 grid around a scaled magnitude a ≤ 6.
fn half_step(a: f32) -> f32 {
    if a < 2.0 {
        0.25
    } else if a < 4.0 {
        0.5
    } else {
        1.0
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mx_error_is_at_most_half_a_step_unless_clipped(m in matrix(1usize..4, 1usize..100), rule in rule(), block in block()) {
        let q = MxMatrix::quantize(&m, MxConfig::new(block, rule)).unwrap();
        for r in 0..m.rows() {
            for (k, &v) in m.row(r).iter().enumerate() {
                let byte = q.row_scales(r)[k / q.block()];
                let e = e8m0::exponent(byte).unwrap();
                let code = q.row_codes(r)[k];
                prop_assert!(code < 16);
                // Exact in f64: |v| · 2^−e and the grid value.
                let a = (f64::from(v.abs()) * e8m0::pow2(-e)) as f32;
                let p = e2m1::decode(code).abs();
                if a <= e2m1::MAX {
                    prop_assert!((a - p).abs() <= half_step(a), "v {} a {} p {}", v, a, p);
                } else {
                    prop_assert_eq!(p, e2m1::MAX, "clipped values saturate");
                    // ceil and rceil choose e so that amax / 2^e ≤ 6; floor and even do not.
                    prop_assert!(matches!(rule, ScaleRule::Floor | ScaleRule::Even), "{} clipped", rule);
                }
                prop_assert_eq!(q.dequantize().get(r, k), (f64::from(e2m1::decode(code)) * e8m0::pow2(e)) as f32);
            }
        }
    }

    #[test]
    fn mx_quantizing_a_dequantized_tensor_is_the_identity(m in matrix(1usize..4, 1usize..100), rule in rule(), block in block()) {
        let config = MxConfig::new(block, rule);
        let q = MxMatrix::quantize(&m, config).unwrap();
        let d = q.dequantize();
        // An amax near f32::MAX can round up to 4 · 2^126 = 2^128 under a bumping rule: a valid
        // MXFP4 value that f32 cannot hold.
        prop_assume!(d.data().iter().all(|v| v.is_finite()));
        let again = MxMatrix::quantize(&d, config).unwrap();
        let bits = |m: &Matrix| m.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&again.dequantize()), bits(&d));
        if rule == ScaleRule::Floor {
            // Under floor the codes and scales themselves come back.
            prop_assert_eq!(again, q);
        }
    }

    #[test]
    fn mx_scaling_the_input_by_2_to_the_k_shifts_every_scale_byte_by_k(
        vals in prop::collection::vec(prop_oneof![Just(0.0f32), (-60i32..60, 1.0f32..2.0, any::<bool>()).prop_map(|(e, s, neg)| if neg { -s } else { s } * 2f32.powi(e))], 1..100),
        k in -30i32..30,
        rule in rule(),
    ) {
        let m = Matrix::new(1, vals.len(), vals.clone()).unwrap();
        let scaled = Matrix::new(1, vals.len(), vals.iter().map(|v| v * 2f32.powi(k)).collect()).unwrap();
        let config = MxConfig::new(BlockSize::Elements(16), rule);
        let (a, b) = (MxMatrix::quantize(&m, config).unwrap(), MxMatrix::quantize(&scaled, config).unwrap());
        prop_assert_eq!(a.codes(), b.codes());
        for (&x, &y) in a.scales().iter().zip(b.scales()) {
            if x == 0 && y == 0 { continue; } // zero block
            prop_assert_eq!(i32::from(y) - i32::from(x), k);
        }
    }

    #[test]
    fn int8_gemm_equals_an_i64_reference(
        w in matrix(1usize..6, 1usize..40),
        n in 1usize..6,
        seed in any::<u64>(),
        wa in any::<bool>(), xa in any::<bool>(), wc in any::<bool>(), xc in any::<bool>(),
        round in 0usize..4,
    ) {
        let k = w.cols();
        let xs: Vec<f32> = (0..k * n).map(|i| ((int8_hash(seed, i) % 2001) as f32 - 1000.0) / 37.0).collect();
        let x = Matrix::new(k, n, xs).unwrap();
        let rounding = [Rounding::HalfEven, Rounding::HalfAway, Rounding::Floor, Rounding::Stochastic { seed }][round];
        let cfg = |asym: bool, chan: bool| Int8Config {
            scheme: if asym { Scheme::Asymmetric } else { Scheme::Symmetric },
            granularity: if chan { Granularity::Channel } else { Granularity::Tensor },
            rounding,
        };
        let (qw, qx) = (Int8Matrix::quantize(&w, cfg(wa, wc)).unwrap(), Int8Matrix::quantize(&x.transpose(), cfg(xa, xc)).unwrap());
        let cells = int8::gemm_cells(&qw, &qx);
        let y = int8::gemm(&qw, &qx);
        for m in 0..w.rows() {
            for j in 0..n {
                let (pw, px) = (qw.row_params(m), qx.row_params(j));
                let exact: i64 = qw.row_codes(m).iter().zip(qx.row_codes(j))
                    .map(|(&a, &b)| (i64::from(a) - i64::from(pw.zero_point)) * (i64::from(b) - i64::from(px.zero_point)))
                    .sum();
                let c = cells[m * n + j];
                prop_assert_eq!(c.corrected, exact);
                prop_assert_eq!(c.acc + c.correction, exact);
                prop_assert_eq!(y.get(m, j), exact as f32 * (pw.scale * px.scale));
            }
        }
    }

    #[test]
    fn mxfp4_gemm_matches_the_f64_product_of_dequantized_operands(
        w in matrix(1usize..5, 1usize..150),
        n in 1usize..5,
        seed in any::<u64>(),
        rule in rule(),
        block in block(),
    ) {
        let k = w.cols();
        let xs: Vec<f32> = (0..k * n).map(|i| ((int8_hash(seed, i) % 4001) as f32 - 2000.0) / 97.0).collect();
        let x = Matrix::new(k, n, xs).unwrap();
        let config = MxConfig::new(block, rule);
        let (qw, qx) = (MxMatrix::quantize(&w, config).unwrap(), MxMatrix::quantize(&x.transpose(), config).unwrap());
        let (dw, dx) = (qw.dequantize(), qx.dequantize());
        let y32 = mxfp4::gemm(&qw, &qx, Accumulator::F32);
        let y64 = mxfp4::gemm(&qw, &qx, Accumulator::F64);
        for m in 0..w.rows() {
            for j in 0..n {
                let terms: Vec<f64> = dw.row(m).iter().zip(dx.row(j)).map(|(&a, &b)| f64::from(a) * f64::from(b)).collect();
                let exact: f64 = terms.iter().sum();
                let mag: f64 = terms.iter().map(|t| t.abs()).sum();
                let blocks = qw.blocks_per_row() as f64;
                // Beyond f32's range the output is rightly infinite.
                prop_assume!(mag < 1e38);
                // f32 accumulation: one rounding per block term and per addition.
                let tol32 = 2.0 * blocks * f64::from(f32::EPSILON) * mag + f64::from(f32::MIN_POSITIVE);
                prop_assert!((f64::from(y32.get(m, j)) - exact).abs() <= tol32, "f32 acc {} vs {}", y32.get(m, j), exact);
                // f64 accumulation: exact terms, a final rounding to f32.
                let tol64 = f64::from(f32::EPSILON) * mag + f64::from(f32::MIN_POSITIVE);
                prop_assert!((f64::from(y64.get(m, j)) - exact).abs() <= tol64, "f64 acc {} vs {}", y64.get(m, j), exact);
            }
        }
    }
}

/// A deterministic pseudo-random stream for test data.
fn int8_hash(seed: u64, i: usize) -> u64 {
    qlab::rng::splitmix64(seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

#[test]
fn int8_gemm_is_exact_beyond_the_i32_range_of_k() {
    // K = 140000 elements of −1 on both sides, both asymmetric: codes −128, zero points 127.
    // The raw accumulator 140000 · 16384 = 2.29e9 overflows i32; chunking keeps it exact.
    let k = 140_000;
    let w = Matrix::new(1, k, vec![-1.0; k]).unwrap();
    let x = Matrix::new(k, 1, vec![-1.0; k]).unwrap();
    let asym = Int8Config {
        scheme: Scheme::Asymmetric,
        granularity: Granularity::Tensor,
        rounding: Rounding::HalfEven,
    };
    let (qw, qx) = (
        Int8Matrix::quantize(&w, asym).unwrap(),
        Int8Matrix::quantize(&x.transpose(), asym).unwrap(),
    );
    assert_eq!(qw.params()[0].zero_point, 127);
    assert!(qw.codes().iter().all(|&c| c == -128));
    let c = int8::gemm_cells(&qw, &qx)[0];
    assert_eq!(c.acc, 140_000 * 16_384);
    assert_eq!(c.corrected, 140_000 * 255 * 255);
    // y = (corrected as f32) · (sW · sx), with sW = sx = 1/255 in f32.
    let s = 1.0f32 / 255.0;
    assert_eq!(qw.params()[0].scale, s);
    assert_eq!(c.y, (140_000i64 * 255 * 255) as f32 * (s * s));
    assert!((c.y - 140_000.0).abs() < 0.05);
}

#[test]
fn mxfp4_block_products_are_exact_integers_times_powers_of_two() {
    // One block each: W = [6, −1.5, −4, 1] · 2^−3 against x = [6, 4, 0, 0] · 2^−3.
    let w = MxMatrix::from_parts(1, 4, 32, vec![0x7, 0xB, 0xE, 0x2], vec![0x7C]).unwrap();
    let x = MxMatrix::from_parts(1, 4, 32, vec![0x7, 0x6, 0x0, 0x8], vec![0x7C]).unwrap();
    let t = mxfp4::cell_terms(&w, &x, 0, 0);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].dot, 12 * 12 + (-3) * 8);
    assert_eq!(t[0].value, 120.0 / 256.0);
    // A NaN scale poisons the output element.
    let nan = MxMatrix::from_parts(1, 4, 32, vec![0; 4], vec![0xFF]).unwrap();
    assert!(mxfp4::gemm(&w, &nan, Accumulator::F32).get(0, 0).is_nan());
    // Extreme scales: 2^(−127 −127 −2) underflows in f32 but not in the f64 accumulator's terms.
    let lo = MxMatrix::from_parts(1, 1, 1, vec![0x7], vec![0x00]).unwrap();
    assert_eq!(
        mxfp4::cell_terms(&lo, &lo, 0, 0)[0].value,
        144.0 * 2f64.powi(-256)
    );
    assert_eq!(mxfp4::gemm(&lo, &lo, Accumulator::F32).get(0, 0), 0.0);
}

#[test]
fn awkward_shapes_agree_with_the_dequantized_product() {
    for (m, k, n) in [
        (1, 1, 1),
        (1, 33, 1),
        (7, 13, 5),
        (3, 97, 2),
        (2, 64, 3),
        (5, 1, 7),
    ] {
        let w = Matrix::new(
            m,
            k,
            (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 9.0)
                .collect(),
        )
        .unwrap();
        let x = Matrix::new(
            k,
            n,
            (0..k * n)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 11.0)
                .collect(),
        )
        .unwrap();
        // Every registered family, its GEMM summing exactly where it can choose.
        for &f in qlab::family::REGISTRY {
            let mut v = Variant::defaults(f);
            if let Some(k) = f.knobs().iter().find(|k| k.key == "accumulator") {
                v.set(k, Role::W, "f64".into());
            }
            let (y, dw, dx) = product(&v, &w, &x).unwrap();
            assert_eq!(y.shape(), (m, n));
            assert_eq!((dw.shape(), dx.shape()), ((m, k), (k, n)));
            for i in 0..m {
                for j in 0..n {
                    let exact: f64 = (0..k)
                        .map(|t| f64::from(dw.get(i, t)) * f64::from(dx.get(t, j)))
                        .sum();
                    let mag: f64 = (0..k)
                        .map(|t| (f64::from(dw.get(i, t)) * f64::from(dx.get(t, j))).abs())
                        .sum();
                    assert!(
                        (f64::from(y.get(i, j)) - exact).abs() <= 1e-5 * mag + 1e-6,
                        "{} ({m},{k},{n}) [{i},{j}]",
                        v.label
                    );
                }
            }
        }
        let r = kernel::reference(&w, &x).unwrap();
        assert_eq!(r.len(), m * n);
    }
}

/// A variant's product y = W · x, with the dequantized W and x.
fn product(v: &Variant, w: &Matrix, x: &Matrix) -> qlab::Result<(Matrix, Matrix, Matrix)> {
    kernel::check_shapes(w, x)?;
    let xt = x.transpose();
    let (qw, qx) = qlab::experiment::quantize(v, w, x, &xt)?;
    let y = v.gemm(&*qw, &*qx);
    Ok((y, qw.dequantize(), qx.dequantize().transpose()))
}

#[test]
fn matmul_reports_shape_and_value_errors() {
    let w = Matrix::new(2, 3, vec![1.0; 6]).unwrap();
    let x = Matrix::new(4, 1, vec![1.0; 4]).unwrap();
    assert_eq!(
        kernel::reference(&w, &x).unwrap_err().to_string(),
        "K mismatch: W has shape (2, 3) and x has shape (4, 1); W's columns must equal x's rows"
    );
    let mut xs = vec![1.0; 6];
    xs[4] = f32::NAN; // x[2][0] of a 3 × 2 x
    let x = Matrix::new(3, 2, xs).unwrap();
    let int8 = Variant::defaults(qlab::family::lookup("int8").unwrap());
    assert_eq!(
        product(&int8, &w, &x).unwrap_err().to_string(),
        "x: INT8 cannot quantize NaN at index (2, 0); remove NaN/Inf or use an MX format"
    );
    let mx = Variant::defaults(qlab::family::lookup("mxfp4").unwrap());
    let (y, _, _) = product(&mx, &w, &x).unwrap();
    assert!(y.get(0, 0).is_nan() && !y.get(0, 1).is_nan());
}
