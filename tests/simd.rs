//! Every SIMD path this CPU supports gives the same bits as its scalar twin.

mod common;
#[allow(unused_imports)]
use common::*;

use proptest::prelude::*;
use qlab::Matrix;
use qlab::format::{BlockSize, Int8Config, Int8Matrix, MxConfig, MxMatrix, ScaleRule};
use qlab::kernel::{Accumulator, int8, mxfp4};
use qlab::simd::{self, Isa};

fn data(rows: usize, cols: usize, seed: u64, spread: bool) -> Matrix {
    let v = (0..rows * cols)
        .map(|i| {
            let h = qlab::rng::splitmix64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
            let u = (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            // With `spread`, magnitudes vary over many binades so blocks get different scales.
            let mag = if spread {
                2f64.powi(((h >> 3) % 24) as i32 - 12)
            } else {
                1.0
            };
            (u * mag) as f32
        })
        .collect();
    Matrix::new(rows, cols, v).unwrap()
}

fn check_int8(m: usize, k: usize, n: usize, seed: u64, cfg: Int8Config) {
    let w = Int8Matrix::quantize(&data(m, k, seed, false), cfg).unwrap();
    let xt = Int8Matrix::quantize(&data(n, k, seed + 1, false), Int8Config::ACTIVATIONS).unwrap();
    let scalar = int8::gemm_with(Isa::Scalar, &w, &xt);
    for isa in Isa::supported() {
        assert_eq!(
            bits(&int8::gemm_with(isa, &w, &xt)),
            bits(&scalar),
            "{isa:?} m{m} k{k} n{n}"
        );
    }
}

fn check_mx(m: usize, k: usize, n: usize, seed: u64, block: BlockSize, rule: ScaleRule) {
    let cfg = MxConfig::new(block, rule);
    let w = MxMatrix::quantize(&data(m, k, seed, true), cfg).unwrap();
    let xt = MxMatrix::quantize(&data(n, k, seed + 7, true), cfg).unwrap();
    let scalar = mxfp4::gemm_with(Isa::Scalar, &w, &xt, Accumulator::F32);
    for isa in Isa::supported() {
        for acc in [Accumulator::F32, Accumulator::F64] {
            let want = mxfp4::gemm_with(Isa::Scalar, &w, &xt, acc);
            assert_eq!(
                bits(&mxfp4::gemm_with(isa, &w, &xt, acc)),
                bits(&want),
                "{isa:?} {acc:?} m{m} k{k} n{n} {block}"
            );
        }
    }
    assert_eq!(scalar.shape(), (m, n));
}

#[test]
fn reports_the_paths_it_tests() {
    let s = Isa::supported();
    assert!(s.contains(&Isa::Scalar));
    eprintln!(
        "SIMD paths tested on this CPU: {s:?} (active: {:?})",
        simd::active()
    );
}

#[test]
fn int8_awkward_shapes() {
    for (m, k, n) in [
        (1, 1, 1),
        (1, 3, 1),
        (2, 5, 3),
        (7, 13, 33),
        (9, 31, 31),
        (17, 64, 65),
        (8, 32, 32),
        (3, 97, 1),
        (41, 129, 70),
        // The AMX kernel's edges: tiles of 32 rows, K in steps of 64, panels of 32 columns.
        (32, 64, 32),
        (33, 63, 31),
        (64, 128, 64),
        (65, 191, 97),
        (95, 257, 33),
        (130, 640, 40),
    ] {
        check_int8(m, k, n, (m * 1000 + k * 10 + n) as u64, Int8Config::WEIGHTS);
    }
    let chan = Int8Config {
        granularity: qlab::format::Granularity::Channel,
        ..Int8Config::WEIGHTS
    };
    check_int8(13, 100, 37, 5, chan);
}

/// Codes at the ends of the range (W's offset bytes 1 and 255, x's codes down to −128): at
/// the longest K one i32 chunk takes, the sums are as large as the SIMD kernels ever hold and
/// the plain-AVX2 kernel's split products are at their limits; at K = 140 000 one i32 would
/// overflow, so the kernels must add chunks in i64.
#[test]
fn int8_extreme_codes_at_and_beyond_the_longest_single_chunk() {
    for k in [65_536, 140_000] {
        extreme_codes(k);
    }
}

/// The sign kernel of plain AVX2 (taken when no x code is −128): W asymmetric, mostly −128
/// (|a| = 128), against x symmetric, mostly −127, so every `vpmaddubsw` pair is 2 · 128 · 127 =
/// 32512, the most it can be, and the i32 lanes grow as fast as they can.
#[test]
fn int8_sign_kernel_at_its_limits() {
    for k in [65_536, 140_000] {
        let signs = |rows: usize, seed: u64| {
            let v = (0..rows * k)
                .map(|i| {
                    let h = qlab::rng::splitmix64(seed ^ i as u64);
                    if h.is_multiple_of(16) { 1.0 } else { -1.0 }
                })
                .collect();
            Matrix::new(rows, k, v).unwrap()
        };
        let w = Int8Matrix::quantize(&signs(9, 3), Int8Config::WEIGHTS).unwrap();
        let xt = Int8Matrix::quantize(&signs(33, 4), Int8Config::ACTIVATIONS).unwrap();
        assert_eq!(w.codes().iter().min(), Some(&-128));
        assert_eq!(
            xt.codes().iter().min(),
            Some(&-127),
            "no −128: the sign kernel"
        );
        let scalar = int8::gemm_with(Isa::Scalar, &w, &xt);
        for isa in Isa::supported() {
            assert_eq!(
                bits(&int8::gemm_with(isa, &w, &xt)),
                bits(&scalar),
                "{isa:?} K {k}"
            );
        }
    }
}

fn extreme_codes(k: usize) {
    // ±1 with mostly the sign `major`, so the sums grow long runs of the largest product:
    // W mostly +127 (offset byte 255) against x mostly −128.
    let signs = |rows: usize, seed: u64, major: f32| {
        let v = (0..rows * k)
            .map(|i| {
                let h = qlab::rng::splitmix64(seed ^ i as u64);
                if h.is_multiple_of(16) { -major } else { major }
            })
            .collect();
        Matrix::new(rows, k, v).unwrap()
    };
    let distinct = |q: &Int8Matrix| {
        let mut d = q.codes().to_vec();
        d.sort_unstable();
        d.dedup();
        d
    };
    // Symmetric W: ±127, offset bytes 1 and 255. Asymmetric x: its minimum is −128.
    let w = Int8Matrix::quantize(&signs(9, 1, 1.0), Int8Config::ACTIVATIONS).unwrap();
    let xt = Int8Matrix::quantize(&signs(33, 2, -1.0), Int8Config::WEIGHTS).unwrap();
    assert_eq!(distinct(&w), [-127, 127]);
    assert_eq!(distinct(&xt)[0], -128);
    let scalar = int8::gemm_with(Isa::Scalar, &w, &xt);
    for isa in Isa::supported() {
        assert_eq!(
            bits(&int8::gemm_with(isa, &w, &xt)),
            bits(&scalar),
            "{isa:?} K {k}"
        );
    }
}

#[test]
fn int8_k_beyond_one_i32_chunk() {
    // 65536 < K: the SIMD path sums chunks in i64 like the scalar one.
    check_int8(3, 70_001, 5, 9, Int8Config::WEIGHTS);
    // Extreme codes: −128 · −128 everywhere (asymmetric constant data).
    let k = 140_000;
    let asym = Int8Config::WEIGHTS;
    let w = Int8Matrix::quantize(&Matrix::new(2, k, vec![-1.0; 2 * k]).unwrap(), asym).unwrap();
    let xt = Int8Matrix::quantize(&Matrix::new(3, k, vec![-1.0; 3 * k]).unwrap(), asym).unwrap();
    let scalar = int8::gemm_with(Isa::Scalar, &w, &xt);
    for isa in Isa::supported() {
        assert_eq!(bits(&int8::gemm_with(isa, &w, &xt)), bits(&scalar));
    }
    assert_eq!(
        simd::int8_dots(w.codes(), xt.codes(), 2, 3, k),
        vec![140_000 * 16_384; 6]
    );
}

#[test]
fn mxfp4_awkward_shapes_and_blocks() {
    for (m, k, n) in [
        (1, 1, 1),
        (2, 3, 5),
        (7, 33, 31),
        (9, 64, 33),
        (5, 97, 64),
        (16, 256, 40),
    ] {
        for block in [
            BlockSize::Elements(32),
            BlockSize::Elements(1),
            BlockSize::Elements(7),
            BlockSize::Elements(16),
            BlockSize::Tensor,
        ] {
            check_mx(m, k, n, (m + k + n) as u64, block, ScaleRule::Floor);
        }
    }
    for rule in ScaleRule::ALL {
        check_mx(6, 200, 35, 11, BlockSize::Elements(32), rule);
    }
}

#[test]
fn mxfp4_nan_blocks_and_extreme_scales() {
    let mut w = data(4, 64, 3, true);
    let mut d = w.clone().into_data();
    d[5] = f32::NAN;
    d[64 + 40] = f32::INFINITY;
    d[128] = 3e38;
    d[192 + 1] = 1e-42;
    w = Matrix::new(4, 64, d).unwrap();
    let cfg = MxConfig::default();
    let (qw, qx) = (
        MxMatrix::quantize(&w, cfg).unwrap(),
        MxMatrix::quantize(&data(33, 64, 4, true), cfg).unwrap(),
    );
    let scalar = mxfp4::gemm_with(Isa::Scalar, &qw, &qx, Accumulator::F32);
    for isa in Isa::supported() {
        assert_eq!(
            bits(&mxfp4::gemm_with(isa, &qw, &qx, Accumulator::F32)),
            bits(&scalar),
            "{isa:?}"
        );
    }
    assert!(scalar.get(0, 0).is_nan() && scalar.get(1, 3).is_nan() && !scalar.get(2, 0).is_nan());
}

#[test]
fn large_problems_split_across_threads_agree() {
    check_int8(300, 300, 200, 21, Int8Config::WEIGHTS);
    check_mx(200, 320, 150, 22, BlockSize::Elements(32), ScaleRule::Floor);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_shapes_agree(m in 1usize..40, k in 1usize..300, n in 1usize..70, seed in any::<u64>(), block in 1usize..80) {
        check_int8(m, k, n, seed, Int8Config::WEIGHTS);
        check_mx(m, k, n, seed, BlockSize::Elements(block), ScaleRule::Floor);
    }
}

fn nasty(rows: usize, cols: usize, seed: u64) -> Matrix {
    // Spread magnitudes, exact ties of the E2M1 table and of INT8 rounding, signed zeros.
    let mut m = data(rows, cols, seed, true).into_data();
    let specials = [
        0.25f32, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.0, 0.0, 6.0, -7.9999995, 0.5, -2.5,
    ];
    for (i, v) in m.iter_mut().enumerate() {
        if i % 5 == 0 {
            *v = specials[(i / 5) % specials.len()] * 2f32.powi((i % 7) as i32 - 3);
        }
    }
    Matrix::new(rows, cols, m).unwrap()
}

/// MXFP4 by `codec::mx_block`'s E2M1 decision table, block by block: the twin, independent
/// of the element encoder that `MxMatrix` runs (codes, scale bytes).
fn e2m1_table(m: &Matrix, block: BlockSize, rule: ScaleRule) -> (Vec<u8>, Vec<u8>) {
    use qlab::format::mx::{block_amax, encode_block, scale_byte};
    let (rows, k) = m.shape();
    let len = block.len_for(k);
    let tensor = (block == BlockSize::Tensor).then(|| scale_byte(block_amax(m.data()), rule));
    let (mut codes, mut scales) = (vec![0u8; rows * k], Vec::new());
    for r in 0..rows {
        for (vals, cs) in m.row(r).chunks(len).zip(codes[r * k..].chunks_mut(len)) {
            let byte = tensor.unwrap_or_else(|| scale_byte(block_amax(vals), rule));
            encode_block(vals, byte, &mut cs[..vals.len()]);
            scales.push(byte);
        }
    }
    (codes, scales)
}

#[test]
fn quantizers_agree_on_every_path() {
    use qlab::format::{Granularity, Rounding, Scheme};
    for (rows, cols) in [(1, 1), (3, 17), (4, 64), (5, 100), (2, 1000)] {
        let m = nasty(rows, cols, (rows * cols) as u64);
        for scheme in [Scheme::Asymmetric, Scheme::Symmetric] {
            for granularity in [Granularity::Tensor, Granularity::Channel] {
                for rounding in [
                    Rounding::HalfEven,
                    Rounding::HalfAway,
                    Rounding::Floor,
                    Rounding::Stochastic { seed: 3 },
                ] {
                    let cfg = Int8Config {
                        scheme,
                        granularity,
                        rounding,
                    };
                    let want = Int8Matrix::quantize_with(Isa::Scalar, &m, cfg).unwrap();
                    for isa in Isa::supported() {
                        assert_eq!(
                            Int8Matrix::quantize_with(isa, &m, cfg).unwrap(),
                            want,
                            "{isa:?} {cfg:?} {rows}x{cols}"
                        );
                    }
                }
            }
        }
        // 8 and 24: whole AVX2 vectors but not AVX-512 ones; 7: neither.
        for block in [
            BlockSize::Elements(8),
            BlockSize::Elements(16),
            BlockSize::Elements(24),
            BlockSize::Elements(32),
            BlockSize::Elements(64),
            BlockSize::Elements(7),
            BlockSize::Tensor,
        ] {
            for rule in ScaleRule::ALL {
                let cfg = MxConfig::new(block, rule);
                let want = MxMatrix::quantize_with(Isa::Scalar, &m, cfg).unwrap();
                assert_eq!(
                    (want.codes(), want.scales()),
                    (
                        &e2m1_table(&m, block, rule).0[..],
                        &e2m1_table(&m, block, rule).1[..]
                    ),
                    "E2M1 table {cfg:?} {rows}x{cols}"
                );
                for isa in Isa::supported() {
                    assert_eq!(
                        MxMatrix::quantize_with(isa, &m, cfg).unwrap(),
                        want,
                        "{isa:?} {cfg:?} {rows}x{cols}"
                    );
                }
            }
        }
    }
}

#[test]
fn quantizers_agree_on_non_finite_input() {
    let mut d = data(2, 64, 5, true).into_data();
    d[3] = f32::NAN;
    d[70] = f32::NEG_INFINITY;
    let m = Matrix::new(2, 64, d).unwrap();
    let want = MxMatrix::quantize_with(Isa::Scalar, &m, MxConfig::default()).unwrap();
    for isa in Isa::supported() {
        assert_eq!(
            MxMatrix::quantize_with(isa, &m, MxConfig::default()).unwrap(),
            want
        );
        assert_eq!(
            Int8Matrix::quantize_with(isa, &m, Int8Config::WEIGHTS)
                .unwrap_err()
                .to_string(),
            "input: INT8 cannot quantize NaN at index (0, 3); remove NaN/Inf or use an MX format"
        );
    }
}

#[test]
fn gemms_nested_in_rayon_tasks_do_not_collide() {
    // Variants run in parallel and each GEMM waits inside rayon, where its thread can steal
    // another variant's GEMM: the per-thread packing buffers must cope (they once panicked
    // with "RefCell already borrowed").
    use rayon::prelude::*;
    // Large enough (≥ 4 M multiply-adds) for the GEMMs to go parallel themselves.
    let w = data(128, 512, 1, true);
    let x = data(512, 128, 2, true);
    let xt = x.transpose();
    let mx = MxConfig::default();
    let (qw, qx) = (
        MxMatrix::quantize(&w, mx).unwrap(),
        MxMatrix::quantize(&xt, mx).unwrap(),
    );
    let (iw, ix) = (
        Int8Matrix::quantize(&w, Int8Config::WEIGHTS).unwrap(),
        Int8Matrix::quantize(&xt, Int8Config::ACTIVATIONS).unwrap(),
    );
    let want_mx = bits(&mxfp4::gemm_with(Isa::Scalar, &qw, &qx, Accumulator::F32));
    let want_i8 = bits(&int8::gemm_with(Isa::Scalar, &iw, &ix));
    (0..16).into_par_iter().for_each(|i| {
        if i % 2 == 0 {
            assert_eq!(bits(&mxfp4::gemm(&qw, &qx, Accumulator::F32)), want_mx);
        } else {
            assert_eq!(bits(&int8::gemm(&iw, &ix)), want_i8);
        }
    });
}

/// The block dots of the segment GEMM's fast path: every ISA against the portable build, at
/// the i16 extremes, with a short last block.
#[test]
fn block_dots_agree_on_every_path() {
    let k: usize = 77;
    let rows: Vec<Vec<i16>> = (0..4)
        .map(|r| {
            (0..k)
                .map(|i| match (i + r) % 5 {
                    0 => i16::MAX,
                    1 => i16::MIN + 1,
                    _ => (qlab::rng::splitmix64((r * 1000 + i) as u64) % 901) as i16 - 450,
                })
                .collect()
        })
        .collect();
    let y: Vec<i16> = (0..k).map(|i| if i % 3 == 0 { -7 } else { 3 }).collect();
    let xs = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
    for seg in [1, 16, 32, 77] {
        let blocks = k.div_ceil(seg);
        let mut want = vec![[0i32; 4]; blocks];
        simd::block_dots_4_portable(xs, &y, seg, &mut want);
        // By hand for block 0, row 0.
        let first: i32 = (0..seg.min(k))
            .map(|i| i32::from(xs[0][i]) * i32::from(y[i]))
            .sum();
        assert_eq!(want[0][0], first);
        for isa in Isa::supported() {
            let mut got = vec![[0i32; 4]; blocks];
            if simd::block_dots_4(isa, xs, &y, seg, &mut got).is_some() {
                assert_eq!(got, want, "{isa:?} seg {seg}");
            }
        }
    }
}

/// The integer MX kernels (MXINT8, MXFP6 E2M3 through the MXFP4 block kernel with the sign
/// trick) against the portable path and against the general segment rule: awkward shapes,
/// every block size up to a partial last block, extreme scales, NaN blocks.
#[test]
fn integer_mx_kernels_agree_with_the_segment_rule() {
    use qlab::codec::minifloat::{E2M3, E3M2, INT8};
    use qlab::format::mx_element::MxElementMatrix;
    use qlab::kernel::{mx_int, segments};
    for el in [INT8, E2M3, E3M2] {
        for (m, k, n, block) in [
            (5, 70, 9, 32),
            (8, 64, 33, 16),
            (3, 7, 2, 32),
            (9, 130, 40, 8),
        ] {
            let cfg = MxConfig::new(BlockSize::Elements(block), ScaleRule::Floor);
            let mut w = nasty(m, k, 11 + m as u64).into_data();
            // Extreme binades in some blocks, a NaN in one.
            w[0] *= 1e30;
            w[k.min(40) - 1] *= 1e-30;
            if k > 35 {
                w[k + 3] = f32::NAN;
            }
            let w = Matrix::new(m, k, w).unwrap();
            let xt = nasty(n, k, 5 + n as u64);
            let qw = MxElementMatrix::quantize(el, &w, cfg).unwrap();
            let qx = MxElementMatrix::quantize(el, &xt, cfg).unwrap();
            let general = segments::gemm_general(&qw.fixed(), &qx.fixed(), Accumulator::F32);
            for isa in Isa::supported() {
                let got = mx_int::gemm_with(isa, &qw, &qx, Accumulator::F32);
                assert_eq!(
                    bits(&got),
                    bits(&general),
                    "{} {isa:?} {m}×{k}×{n} b{block}",
                    el.name
                );
            }
        }
    }
}

/// NVFP4 through the MXFP4 block kernel (E4M3 scales as s / 2 per operand) against its
/// portable GEMM: one- and two-level, partial last blocks, zero blocks, scales at the ends of
/// E4M3's range.
#[test]
fn nvfp4_kernel_agrees_with_the_portable_gemm() {
    use qlab::format::nvfp4::{self, Nvfp4Matrix};
    for two_level in [true, false] {
        for (m, k, n) in [(5, 70, 9), (8, 64, 33), (3, 7, 2), (9, 130, 40)] {
            let mut w = nasty(m, k, 21 + m as u64).into_data();
            w[..16.min(k)].fill(0.0);
            if k > 40 {
                w[k + 1] *= 1e-4;
                w[2 * k.min(m * k / 2)] *= 300.0;
            }
            let w = Matrix::new(m, k, w).unwrap();
            let xt = nasty(n, k, 7 + n as u64);
            let (qw, qx) = (
                Nvfp4Matrix::quantize(&w, two_level),
                Nvfp4Matrix::quantize(&xt, two_level),
            );
            let want = nvfp4::gemm_with(Isa::Scalar, &qw, &qx, false);
            for isa in Isa::supported() {
                let got = nvfp4::gemm_with(isa, &qw, &qx, false);
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{isa:?} {m}×{k}×{n} two-level {two_level}"
                );
            }
        }
    }
}

/// Every MX element the row quantizer's vector path covers.
const MX_ELEMENTS: [qlab::codec::minifloat::Element; 6] = {
    use qlab::codec::minifloat::{E2M1, E2M3, E3M2, E4M3, E5M2, INT8};
    [E2M1, E2M3, E3M2, E4M3, E5M2, INT8]
};

/// The element's finite values ≥ 0 in code order (+0 first, then up to the max).
fn grid_values(el: &qlab::codec::minifloat::Element) -> Vec<f64> {
    let mut v: Vec<f64> = (0..el.codes())
        .map(|c| f64::from(el.decode(c as u8)))
        .filter(|v| v.is_finite() && v.is_sign_positive())
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

#[test]
fn element_encoder_agrees_with_encode_f32_across_the_f32_line() {
    // Every 4099th bit pattern (about a million floats of both signs, subnormals included),
    // plus each element's exact midpoints and their neighbours one ulp either side.
    for el in MX_ELEMENTS {
        let mut values: Vec<f32> = (0..=u32::MAX)
            .step_by(4099)
            .map(f32::from_bits)
            .filter(|v| v.is_finite())
            .collect();
        let positive = grid_values(&el);
        for w in positive.windows(2) {
            let mid = ((w[0] + w[1]) / 2.0) as f32;
            for v in [
                mid,
                f32::from_bits(mid.to_bits() - 1),
                f32::from_bits(mid.to_bits() + 1),
            ] {
                values.extend([v, -v]);
            }
        }
        // Whole 16-lane vectors, so that every path (AVX-512 too) codes them all.
        values.truncate(values.len() / 16 * 16);
        let enc = el.f32_encoder();
        for flush in [false, true] {
            let want: Vec<u8> = values
                .iter()
                .map(|&v| {
                    let c = el.encode_f32(v).unwrap();
                    if flush && c == el.sign_bit() { 0 } else { c }
                })
                .collect();
            for isa in Isa::supported() {
                let mut got = vec![0u8; values.len()];
                let Some(done) = simd::element_codes(
                    isa,
                    &enc,
                    &values,
                    (values.len(), &[1.0], false),
                    flush,
                    &mut got,
                ) else {
                    continue;
                };
                assert_eq!(done, values.len(), "{} {isa:?}", el.name);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g, w, "{} {isa:?} flush {flush}: {:e}", el.name, values[i]);
                }
            }
        }
    }
}

/// Rows whose blocks each open with the element's max times a power of two (so that the
/// block's scale is that power) and go on with the element's midpoints, their neighbours,
/// signed zeros and values past the max, at that scale.
fn element_grid(el: &qlab::codec::minifloat::Element, rows: usize, cols: usize) -> Matrix {
    let positive = grid_values(el);
    let mut interesting: Vec<f64> = positive.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    interesting.extend([
        0.0,
        -0.0,
        el.max() * 1.01,
        el.max() * 4.0,
        positive[1] / 3.0,
    ]);
    let mut d = Vec::with_capacity(rows * cols);
    for i in 0..rows * cols {
        let s = 2f64.powi((i / 32 % 9) as i32 * 7 - 28);
        let v = if i % 32 == 0 {
            (el.max() * s) as f32
        } else {
            let x = interesting[i % interesting.len()] * s;
            let x = x as f32;
            match i % 3 {
                0 => x,
                1 => -x,
                _ => f32::from_bits(x.to_bits() ^ 1),
            }
        };
        d.push(v);
    }
    Matrix::new(rows, cols, d).unwrap()
}

#[test]
fn mx_element_quantizers_agree_on_every_path() {
    use qlab::codec::dialect::{Dialect, Exponent, ScaleRange, SignedZero, Ties};
    use qlab::format::mx_element::quantize_parts_with;
    let dialects = [
        Dialect::SPEC,
        Dialect {
            signed_zero: SignedZero::FlushPositive,
            ..Dialect::SPEC
        },
        Dialect {
            exponent: Exponent::Log2f,
            scale_range: ScaleRange::Wrap,
            ..Dialect::SPEC
        },
        Dialect {
            ties: Ties::Away,
            ..Dialect::SPEC
        },
    ];
    for el in MX_ELEMENTS {
        for (rows, cols) in [(1, 1), (3, 17), (4, 64), (5, 100), (2, 1000), (3, 96)] {
            let mut grids = vec![
                element_grid(&el, rows, cols),
                nasty(rows, cols, cols as u64),
            ];
            // Non-finite values in some blocks, and magnitudes at both ends of f32.
            let mut d = grids[1].clone().into_data();
            for (i, v) in d.iter_mut().enumerate() {
                *v = match i % 41 {
                    7 => f32::NAN,
                    19 => f32::NEG_INFINITY,
                    23 => 3.0e38,
                    29 => 1.0e-42,
                    _ => *v,
                };
            }
            grids.push(Matrix::new(rows, cols, d).unwrap());
            for m in &grids {
                for block in [
                    BlockSize::Elements(8),
                    BlockSize::Elements(16),
                    BlockSize::Elements(24),
                    BlockSize::Elements(32),
                    BlockSize::Elements(7),
                    BlockSize::Tensor,
                ] {
                    for rule in ScaleRule::ALL {
                        for dialect in dialects {
                            let cfg = MxConfig {
                                block,
                                rule,
                                dialect,
                            };
                            let want = quantize_parts_with(Isa::Scalar, &el, m, cfg);
                            for isa in Isa::supported() {
                                let got = quantize_parts_with(isa, &el, m, cfg);
                                assert!(got == want, "{} {isa:?} {cfg:?} {rows}x{cols}", el.name);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The block kernels' round-once step against `codec::exact::round_once` on products built
/// to land within an f64 rounding of an f32 midpoint (from both sides, and on it exactly),
/// where rounding the f64 product once more would go the wrong way; plus ordinary ones.
#[test]
fn round_once_step_rounds_once() {
    use qlab::codec::exact::round_once;
    let mut cases: Vec<(i32, f64)> = Vec::new();
    let mut seed = 0u64;
    let mut next = || {
        seed += 1;
        qlab::core::rng::splitmix64(seed)
    };
    for _ in 0..4000 {
        let d = (next() % (1 << 30)) as i32 + 1;
        let d = if next() % 2 == 0 { d } else { -d };
        // An f32 midpoint M (25 significant bits, the last one set) near 2^(e), and the f64
        // nearest M / d: d · s is M up to half an f64 step of s, times d.
        let e = (next() % 120) as i32 - 60;
        let m = ((next() % (1 << 24)) | (1 << 24) | 1) as f64 * 2f64.powi(e - 24);
        let s = m / f64::from(d).abs();
        for nudge in [-1i64, 0, 1] {
            cases.push((d, f64::from_bits((s.to_bits() as i64 + nudge) as u64)));
        }
        // And an ordinary product of two f32 scales.
        let f = |x: u64| f64::from(f32::from_bits(0x3000_0000 + (x % 0x1800_0000) as u32));
        cases.push((d, f(next()) * f(next())));
    }
    cases.push((0, 1.5));
    let mut differs_from_plain = 0;
    for isa in Isa::supported() {
        for chunk in cases.chunks_exact(8) {
            let dot: [i32; 8] = std::array::from_fn(|l| chunk[l].0);
            let s: [f64; 8] = std::array::from_fn(|l| chunk[l].1);
            let Some(got) = simd::round_once_lanes(isa, dot, s) else {
                continue;
            };
            for l in 0..8 {
                let want = round_once(i128::from(dot[l]), s[l], 0);
                assert_eq!(
                    got[l].to_bits(),
                    want.to_bits(),
                    "{isa:?}: {} · {:e}",
                    dot[l],
                    s[l]
                );
                differs_from_plain += usize::from(((f64::from(dot[l]) * s[l]) as f32) != want);
            }
        }
    }
    // The cases do reach the step that plain double rounding gets wrong.
    assert!(
        Isa::supported().len() == 1 || differs_from_plain > 100,
        "{differs_from_plain}"
    );
}

/// INT4 (and INT8) per group, channel or tensor through the block kernel against INT's
/// portable rule (`int_group::gemm`): both schemes, groups that nest with each other or with
/// a channel, partial last groups, ranges from 1e−30 to 1e30, and groups that do not nest
/// (the portable rule, which must then be what runs).
#[test]
fn int_group_kernel_agrees_with_the_int_rule() {
    use qlab::format::fixed::Fixed8;
    use qlab::format::int_group::{self, Grouping, IntGroupConfig, IntGroupMatrix};
    use qlab::format::{Rounding, Scheme};
    use qlab::kernel::scaled_i8;
    let config = |bits, scheme, grouping| IntGroupConfig {
        bits,
        scheme,
        grouping,
        rounding: Rounding::HalfEven,
    };
    let pairs = [
        (
            4,
            Scheme::Asymmetric,
            Grouping::Group(32),
            4,
            Grouping::Group(32),
        ),
        (
            4,
            Scheme::Symmetric,
            Grouping::Group(128),
            4,
            Grouping::Group(32),
        ),
        (
            4,
            Scheme::Asymmetric,
            Grouping::Group(16),
            4,
            Grouping::Channel,
        ),
        (
            4,
            Scheme::Asymmetric,
            Grouping::Tensor,
            4,
            Grouping::Group(8),
        ),
        (
            8,
            Scheme::Symmetric,
            Grouping::Group(32),
            8,
            Grouping::Group(64),
        ),
        (
            4,
            Scheme::Asymmetric,
            Grouping::Group(32),
            4,
            Grouping::Group(48),
        ),
    ];
    for (wb, scheme, wg, xb, xg) in pairs {
        for (m, k, n) in [(5, 70, 9), (8, 256, 33), (3, 7, 2), (9, 130, 40)] {
            let mut w = nasty(m, k, 31 + m as u64).into_data();
            // A tiny row and a huge one.
            w[..k].iter_mut().for_each(|v| *v *= 1e-30);
            w[k..2 * k.min(m * k / 2)]
                .iter_mut()
                .for_each(|v| *v *= 1e30);
            let w = Matrix::new(m, k, w).unwrap();
            let xt = nasty(n, k, 17 + n as u64);
            let qw = IntGroupMatrix::quantize(&w, config(wb, scheme, wg)).unwrap();
            let qx = IntGroupMatrix::quantize(&xt, config(xb, Scheme::Symmetric, xg)).unwrap();
            let (a, b) = (qw.fixed8().unwrap(), qx.fixed8().unwrap());
            assert_eq!(
                a,
                Fixed8::from_fixed(&qw.fixed()).unwrap(),
                "fixed8 is fixed as bytes"
            );
            let want = int_group::gemm(&qw.fixed(), &qx.fixed());
            // 32 and 48 do not nest unless one group spans the row.
            let nests = k <= 32 || !matches!((wg, xg), (Grouping::Group(32), Grouping::Group(48)));
            for isa in Isa::supported() {
                let label = format!("{isa:?} {m}×{k}×{n} W int{wb} {scheme:?} {wg:?} x {xg:?}");
                let kernel = scaled_i8::int_rule(isa, &a, &b);
                assert_eq!(kernel.is_some(), isa != Isa::Scalar && nests, "{label}");
                let got = scaled_i8::int_gemm_with(isa, &a, &b);
                assert_eq!(bits(&got), bits(&want), "{label}");
            }
        }
    }
}

/// Mixed INT pairs (W4A8: INT4 groups against INT8 per tensor, per channel or per group)
/// through the block kernel against the general segment rule.
#[test]
fn mixed_int_kernel_agrees_with_the_segment_rule() {
    use qlab::format::int_group::{Grouping, IntGroupConfig, IntGroupMatrix};
    use qlab::format::{Rounding, Scheme};
    use qlab::kernel::{scaled_i8, segments};
    let config = |bits, scheme, grouping| IntGroupConfig {
        bits,
        scheme,
        grouping,
        rounding: Rounding::HalfEven,
    };
    for (wg, xg) in [
        (Grouping::Group(128), Grouping::Tensor),
        (Grouping::Group(32), Grouping::Channel),
        (Grouping::Group(16), Grouping::Group(64)),
        (Grouping::Channel, Grouping::Group(8)),
    ] {
        for (m, k, n) in [(5, 70, 9), (8, 256, 33), (3, 7, 2), (9, 130, 40)] {
            let mut w = nasty(m, k, 41 + m as u64).into_data();
            w[..k].iter_mut().for_each(|v| *v *= 1e-20);
            let w = Matrix::new(m, k, w).unwrap();
            let xt = nasty(n, k, 27 + n as u64);
            let qw = IntGroupMatrix::quantize(&w, config(4, Scheme::Asymmetric, wg)).unwrap();
            let qx = IntGroupMatrix::quantize(&xt, config(8, Scheme::Symmetric, xg)).unwrap();
            let (a, b) = (qw.fixed8().unwrap(), qx.fixed8().unwrap());
            for acc in [Accumulator::F32, Accumulator::F64] {
                let want = segments::gemm_general(&qw.fixed(), &qx.fixed(), acc);
                for isa in Isa::supported() {
                    let label = format!("{isa:?} {m}×{k}×{n} {wg:?} · {xg:?} {acc:?}");
                    let kernel = scaled_i8::segment_rule(isa, &a, &b, acc);
                    assert_eq!(
                        kernel.is_some(),
                        isa != Isa::Scalar && acc == Accumulator::F32,
                        "{label}"
                    );
                    let got = scaled_i8::segment_gemm_with(isa, &a, &b, acc);
                    assert_eq!(bits(&got), bits(&want), "{label}");
                }
            }
        }
    }
}

/// The exact-f64 block kernel (MXFP8, MXFP6 E3M2 and mixed MX pairs, whose integers do not
/// fit bytes) on every path against the general segment rule: the elements' extremes, scales
/// from 2^−127 to 2^127 and NaN blocks, partial last blocks, blocks of 32 and 16.
#[test]
fn exact_f64_block_kernel_agrees_with_the_segment_rule() {
    use qlab::codec::minifloat::{E2M1, E3M2, E4M3, E5M2};
    use qlab::format::mx_element::MxElementMatrix;
    use qlab::kernel::segments;
    let pairs = [
        (E4M3, E4M3),
        (E3M2, E3M2),
        (E2M1, E4M3),
        (E4M3, E5M2),
        (E5M2, E5M2),
    ];
    for (we, xe) in pairs {
        for (m, k, n, block) in [
            (5, 70, 9, 32),
            (8, 64, 33, 16),
            (3, 7, 2, 32),
            (9, 130, 40, 32),
        ] {
            let cfg = MxConfig::new(BlockSize::Elements(block), ScaleRule::Floor);
            let mut w = nasty(m, k, 51 + m as u64).into_data();
            w[0] *= 1e36;
            w[k.min(40) - 1] *= 1e-36;
            if k > 35 {
                w[k + 3] = f32::NAN;
            }
            let w = Matrix::new(m, k, w).unwrap();
            let xt = nasty(n, k, 15 + n as u64);
            let a = MxElementMatrix::quantize(we, &w, cfg).unwrap().fixed();
            let b = MxElementMatrix::quantize(xe, &xt, cfg).unwrap().fixed();
            let want = segments::gemm_general(&a, &b, Accumulator::F32);
            let widest = |f: &segments::Fixed| f.ints.iter().map(|v| v.unsigned_abs()).max();
            let bound =
                u128::from(widest(&a).unwrap()) * u128::from(widest(&b).unwrap()) * block as u128;
            let exact = bound < 1 << 53;
            let shift = 2f64.powi(-(a.frac + b.frac));
            let sb: Vec<f64> = b.scales.iter().map(|&s| s * shift).collect();
            // E5M2's integers (up to 2^31.8) overflow f64's significand in any pair: the
            // kernel is not for them.
            assert_eq!(exact, xe.name != "E5M2", "{}", we.name);
            for isa in Isa::supported().into_iter().filter(|_| exact) {
                let label = format!("{} · {} {isa:?} {m}×{k}×{n} b{block}", we.name, xe.name);
                let got = simd::exact_f64_block_gemm(
                    isa,
                    (&a.ints, &b.ints),
                    (&a.scales, &sb),
                    (m, n, k, block),
                    simd::F64Blocks::PowerOfTwo,
                );
                assert_eq!(got.is_some(), simd::has_exact_f64_blocks(isa), "{label}");
                if let Some(got) = got {
                    let got = Matrix::new(m, n, got).unwrap();
                    assert_eq!(bits(&got), bits(&want), "{label}");
                }
                // And the dispatching GEMM, whichever path it takes.
                assert_eq!(
                    bits(&segments::gemm(&a, &b, Accumulator::F32)),
                    bits(&want),
                    "{label}"
                );
            }
        }
    }
}

/// FP8's quantizer (v / s, a real f32 scale, then the element's rounding) on every ISA
/// against the rule written out here: s = amax / max (1 for a zero row or tensor), code =
/// `encode(v / s)`. Rows of lengths that are not multiples of any vector width, quotients at
/// every element midpoint and one ulp either side, signed zeros, and rows so small that the
/// scale is subnormal or flushes to 0 (then 1).
#[test]
fn fp8_quantizer_agrees_with_its_rule_on_every_isa() {
    use qlab::codec::minifloat::{E4M3, E5M2};
    use qlab::format::scaled_fp8::Fp8Matrix;
    for el in [E4M3, E5M2] {
        let positive = grid_values(&el);
        let mids: Vec<f64> = positive.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
        for &(rows, k) in &[(3usize, 77usize), (4, 160), (2, 3), (1, 1000)] {
            let mut d = Vec::with_capacity(rows * k);
            for r in 0..rows {
                // Row 0 is tiny (a subnormal or zero scale), the others span binades.
                let s0 = if r == 0 {
                    1e-42
                } else {
                    0.37 * 4f64.powi(r as i32 * 3 - 4)
                };
                for c in 0..k {
                    let v = if c == 0 {
                        el.max() * s0
                    } else if c % 17 == 5 {
                        -0.0
                    } else {
                        mids[c % mids.len()] * s0
                    };
                    let v = v as f32;
                    // One ulp either side (of the magnitude: zeros stay zeros).
                    d.push(match c % 3 {
                        _ if v == 0.0 => v,
                        0 => v,
                        1 => -f32::from_bits(v.to_bits() + 1),
                        _ => f32::from_bits(v.to_bits() - 1),
                    });
                }
            }
            let m = Matrix::new(rows, k, d).unwrap();
            for per_channel in [false, true] {
                let scale = |vals: &[f32]| {
                    let s = vals.iter().fold(0f32, |a, v| a.max(v.abs())) / el.max() as f32;
                    if s > 0.0 { s } else { 1.0 }
                };
                for isa in Isa::supported() {
                    let q = Fp8Matrix::quantize_with(isa, el, &m, per_channel);
                    for r in 0..rows {
                        let s = if per_channel {
                            scale(m.row(r))
                        } else {
                            scale(m.data())
                        };
                        assert_eq!(q.row_scale(r).to_bits(), s.to_bits(), "{} {isa:?}", el.name);
                        for (c, &v) in m.row(r).iter().enumerate() {
                            assert_eq!(
                                q.codes()[r * k + c],
                                el.encode(f64::from(v / s)),
                                "{} {isa:?} {rows}×{k} channel {per_channel}: {v:e} / {s:e}",
                                el.name
                            );
                        }
                    }
                }
            }
        }
    }
}

/// INT4 / INT8 per group (and per channel, per tensor): the quantizer on every ISA against
/// the rule written out here — each segment's range by a plain fold from 0, its parameters
/// by `Affine::fit_in`, each code by `Affine::quantize` at its flat index. Half the rows are
/// built so that every quotient v / scale is an exact half-integer (ties for every rounding
/// mode, on both sides of 0 and past the clamp); the rest are `nasty`. Group sizes that are
/// and are not multiples of the vector widths.
#[test]
fn int_group_quantizer_agrees_with_its_rule_on_every_isa() {
    use qlab::format::Affine;
    use qlab::format::int_group::{Grouping, IntGroupConfig, IntGroupMatrix};
    use qlab::format::{Rounding, Scheme};
    let (rows, k) = (6, 200);
    let mut d = nasty(rows, k, 5).into_data();
    for r in (0..rows).step_by(2) {
        for (c, v) in d[r * k..(r + 1) * k].iter_mut().enumerate() {
            // Scale 2^e whatever the group: hi = 10 · 2^e and lo = −5 · 2^e open each run of
            // 16 (asymmetric INT4 then has (hi − lo) / 15 = 2^e; symmetric, amax / 7 is not a
            // power of two, so its quotients are not ties: the other rows' nasty values and
            // the INT8 widths cover those).
            let e = 2f32.powi((r as i32) - 3);
            *v = match c % 16 {
                0 => 10.0 * e,
                1 => -5.0 * e,
                t => (t as f32 - 8.5) * e * if c % 32 < 16 { 1.0 } else { 1.5 },
            };
        }
    }
    let m = Matrix::new(rows, k, d).unwrap();
    let roundings = [
        Rounding::HalfEven,
        Rounding::HalfAway,
        Rounding::Floor,
        Rounding::Stochastic { seed: 9 },
    ];
    let groupings = [
        Grouping::Group(16),
        Grouping::Group(32),
        Grouping::Group(7),
        Grouping::Group(128),
        Grouping::Channel,
        Grouping::Tensor,
    ];
    for bits in [4, 8] {
        for scheme in [Scheme::Asymmetric, Scheme::Symmetric] {
            for grouping in groupings {
                for rounding in roundings {
                    let config = IntGroupConfig {
                        bits,
                        scheme,
                        grouping,
                        rounding,
                    };
                    let range = config.code_range();
                    let seg = match grouping {
                        Grouping::Group(g) => g,
                        _ => k,
                    };
                    let fit = |vals: &[f32]| {
                        let (lo, hi) = vals
                            .iter()
                            .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                        Affine::fit_in(lo, hi, scheme, rounding, range)
                    };
                    let tensor = fit(m.data());
                    for isa in Isa::supported() {
                        let label =
                            format!("{isa:?} int{bits} {scheme:?} {grouping:?} {rounding:?}");
                        let q = IntGroupMatrix::quantize_with(isa, &m, config).unwrap();
                        for r in 0..rows {
                            for (j, vals) in m.row(r).chunks(seg).enumerate() {
                                let p = if grouping == Grouping::Tensor {
                                    tensor
                                } else {
                                    fit(vals)
                                };
                                assert_eq!(q.param(r, j * seg), p, "{label} row {r} group {j}");
                                for (t, &v) in vals.iter().enumerate() {
                                    let c = j * seg + t;
                                    let want = p.quantize(v, rounding, (r * k + c) as u64, range);
                                    assert_eq!(
                                        q.codes()[r * k + c],
                                        want,
                                        "{label} ({r}, {c}) {v:e}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// NVFP4's quantizer on every ISA against its rule written out the plain way (torchao's
/// steps: amax by a fold, the E4M3 byte by `Element::encode`, each code by `e2m1::encode` of
/// the clamped quotient). Blocks whose quotients are exact E2M1 midpoints (a tensor amax of
/// 336 makes s_t = 1/8, a block amax of 6 · 2^e makes the block scale a power of two), nasty
/// blocks, and rows whose last block is short.
#[test]
fn nvfp4_quantizer_agrees_with_its_rule_on_every_isa() {
    use qlab::codec::e2m1;
    use qlab::codec::minifloat::E4M3;
    use qlab::format::nvfp4::Nvfp4Matrix;
    let mids = [0.25f32, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 0.0, 6.5];
    for &(rows, k) in &[(4usize, 64usize), (3, 77), (2, 5), (5, 160)] {
        let mut d = nasty(rows, k, 3 + k as u64).into_data();
        for (i, v) in d.iter_mut().enumerate() {
            let (r, c) = (i / k, i % k);
            if r % 2 == 0 {
                let e = 2f32.powi((c / 16) as i32 % 6 - 3);
                let sign = if c % 3 == 1 { -1.0 } else { 1.0 };
                *v = if c % 16 == 0 {
                    6.0 * e
                } else {
                    sign * mids[c % mids.len()] * e
                };
            }
        }
        d[0] = 336.0;
        let m = Matrix::new(rows, k, d).unwrap();
        for two_level in [true, false] {
            let amax = |v: &[f32]| v.iter().fold(0f32, |a, x| a.max(x.abs()));
            let t = if two_level {
                let t = amax(m.data()) / (448.0 * 6.0);
                if t.is_normal() { t } else { 1.0 }
            } else {
                1.0
            };
            let (mut codes, mut bytes) = (Vec::new(), Vec::new());
            for r in 0..rows {
                for vals in m.row(r).chunks(16) {
                    let b = amax(vals) / 6.0;
                    let s = if two_level { b / t } else { b };
                    let byte = E4M3.encode(f64::from(s.clamp(2f32.powi(-6), 448.0)));
                    let total = t * E4M3.decode(byte);
                    codes.extend(
                        vals.iter()
                            .map(|&v| e2m1::encode((v / total).clamp(-6.0, 6.0))),
                    );
                    bytes.push(byte);
                }
            }
            for isa in Isa::supported() {
                let q = Nvfp4Matrix::quantize_with(isa, &m, two_level);
                let label = format!("{isa:?} {rows}×{k} two-level {two_level}");
                assert_eq!(q.tensor_scale().to_bits(), t.to_bits(), "{label}");
                assert_eq!(q.scales(), &bytes[..], "{label}");
                assert_eq!(q.codes(), &codes[..], "{label}");
            }
        }
    }
}

/// FP8 with real scales (per tensor and per channel, on either side) on the exact-f64 block
/// kernel's round-once epilogue, against the general segment rule (`round_once` in 192-bit
/// integers) on every ISA, in both accumulators (one term per element: they agree). E5M2's
/// integers are too wide for the kernel: its GEMM must still be the rule's.
#[test]
fn fp8_gemm_agrees_with_the_segment_rule_on_every_isa() {
    use qlab::codec::minifloat::{E4M3, E5M2};
    use qlab::format::scaled_fp8::Fp8Matrix;
    use qlab::kernel::segments;
    for el in [E4M3, E5M2] {
        for (m, k, n) in [(5, 70, 9), (8, 256, 33), (3, 7, 2), (9, 130, 40)] {
            let mut w = nasty(m, k, 71 + m as u64).into_data();
            // A row of huge values and one of tiny ones (per channel: far-apart scales).
            w[..k].iter_mut().for_each(|v| *v *= 3e30);
            w[k..2 * k.min(m * k / 2)]
                .iter_mut()
                .for_each(|v| *v *= 1e-30);
            let w = Matrix::new(m, k, w).unwrap();
            let xt = nasty(n, k, 29 + n as u64);
            for (wc, xc) in [(false, false), (true, true), (false, true), (true, false)] {
                let a = Fp8Matrix::quantize(el, &w, wc).fixed();
                let b = Fp8Matrix::quantize(el, &xt, xc).fixed();
                for acc in [Accumulator::F32, Accumulator::F64] {
                    let want = segments::gemm_general(&a, &b, acc);
                    let label = format!("{} {m}×{k}×{n} channel {wc}/{xc} {acc:?}", el.name);
                    // The dispatching GEMM, whichever path this CPU takes.
                    assert_eq!(bits(&segments::gemm(&a, &b, acc)), bits(&want), "{label}");
                    if el.name == "E5M2" {
                        continue;
                    }
                    let shift = 2f64.powi(-(a.frac + b.frac));
                    let sa: Vec<f64> = (0..m)
                        .map(|r| a.scales[r.min(a.scales.len() - 1)])
                        .collect();
                    let sb: Vec<f64> = (0..n)
                        .map(|r| b.scales[r.min(b.scales.len() - 1)] * shift)
                        .collect();
                    for isa in Isa::supported() {
                        let got = simd::exact_f64_block_gemm(
                            isa,
                            (&a.ints, &b.ints),
                            (&sa, &sb),
                            (m, n, k, k),
                            simd::F64Blocks::RealScales,
                        );
                        assert_eq!(got.is_some(), simd::has_exact_f64_blocks(isa), "{label}");
                        if let Some(got) = got {
                            let got = Matrix::new(m, n, got).unwrap();
                            assert_eq!(bits(&got), bits(&want), "{isa:?} {label}");
                        }
                    }
                }
            }
        }
    }
}

/// Block amaxes on every ISA against `block_amax` block by block: blocks of 16, 32, 48 and 7
/// over rows of 1 to 40 blocks (sixteen at once and the rest), with NaN, ±Inf, signed zeros,
/// subnormals and the largest finite values each in some blocks, and a short last block.
#[test]
fn block_amaxes_agree_with_block_amax_on_every_isa() {
    use qlab::format::mx::block_amax;
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        f32::from_bits(1),
        -f32::MAX,
        f32::MAX,
    ];
    for block in [16usize, 32, 48, 7] {
        for blocks in [1usize, 15, 16, 17, 33, 40] {
            for short in [0usize, 5] {
                let len = blocks * block - if blocks > 1 { short } else { 0 };
                let mut v = data(1, len, (block * 100 + blocks) as u64, true).into_data();
                for (i, x) in v.iter_mut().enumerate() {
                    let b = i / block;
                    // One special in some blocks, at a block-dependent place.
                    if b % 3 == 1 && i % block == (b * 5) % block {
                        *x = specials[b % specials.len()];
                    }
                    if b % 5 == 0 {
                        *x = -x.abs();
                    }
                }
                let want: Vec<u32> = v.chunks(block).map(|c| block_amax(c).to_bits()).collect();
                for isa in Isa::supported() {
                    let mut got = vec![0f32; want.len()];
                    if simd::block_amaxes(isa, &v, block, &mut got).is_none() {
                        continue;
                    }
                    let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
                    assert_eq!(got, want, "{isa:?} block {block} × {blocks} short {short}");
                }
            }
        }
    }
}

/// The first NaN / ±Inf on every ISA against the portable finder: at every position of a
/// vector (and of the tail), after a clean stretch, with a second one behind it, and none.
#[test]
fn first_non_finite_agrees_with_the_portable_finder_on_every_isa() {
    let clean: Vec<f32> = data(1, 203, 77, true).into_data();
    for isa in Isa::supported() {
        assert_eq!(simd::first_non_finite(isa, &clean), None, "{isa:?}");
        assert_eq!(simd::first_non_finite(isa, &[]), None, "{isa:?}");
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN] {
            for at in (0..40).chain(180..203) {
                let mut d = clean.clone();
                d[at] = bad;
                d[202.min(at + 9)] = f32::INFINITY;
                let want = qlab::matrix::first_non_finite(&d);
                assert_eq!(want, Some(at));
                assert_eq!(
                    simd::first_non_finite(isa, &d),
                    want,
                    "{isa:?} {bad} at {at}"
                );
            }
        }
    }
}

/// MXFP8 E5M2 pairs (integers up to 2^31.8, no single exact f64 sum) on the split kernel:
/// every product to a low or a high f64 sum by magnitude, the block dot their exact total
/// (two-sum), rounded once. Against the general segment rule on every ISA, directly and
/// through the dispatching GEMM, on quantized data (NaN blocks, blocks spanning many binades)
/// and on a hand-built block whose dot is an f32 midpoint plus one: 2^62 + 2^38 + 1, which
/// only a correct two-sum and round-to-odd step round up.
#[test]
fn split_f64_block_kernel_agrees_with_the_segment_rule() {
    use qlab::codec::minifloat::{E4M3, E5M2};
    use qlab::format::mx_element::MxElementMatrix;
    use qlab::kernel::segments::{self, Fixed};
    let check = |a: &Fixed, b: &Fixed, label: &str| {
        let want = segments::gemm_general(a, b, Accumulator::F32);
        assert_eq!(
            bits(&segments::gemm(a, b, Accumulator::F32)),
            bits(&want),
            "{label}"
        );
        let shift = 2f64.powi(-(a.frac + b.frac));
        let sb: Vec<f64> = b.scales.iter().map(|&s| s * shift).collect();
        for isa in Isa::supported() {
            let got = simd::exact_f64_block_gemm(
                isa,
                (&a.ints, &b.ints),
                (&a.scales, &sb),
                (a.rows, b.rows, a.k, a.seg),
                simd::F64Blocks::Split {
                    threshold: 2f64.powi(52 - a.seg.next_power_of_two().trailing_zeros() as i32),
                },
            );
            if let Some(got) = got {
                let got = Matrix::new(a.rows, b.rows, got).unwrap();
                assert_eq!(bits(&got), bits(&want), "{isa:?} {label}");
            }
        }
    };
    for (we, xe) in [(E5M2, E5M2), (E5M2, E4M3), (E4M3, E5M2)] {
        for (m, k, n) in [(5, 70, 9), (8, 64, 33), (3, 7, 2), (9, 130, 40)] {
            let cfg = MxConfig::new(BlockSize::Elements(32), ScaleRule::Floor);
            let mut w = nasty(m, k, 81 + m as u64).into_data();
            w[0] *= 1e30;
            if k > 35 {
                w[k + 3] = f32::NAN;
            }
            let w = Matrix::new(m, k, w).unwrap();
            let xt = nasty(n, k, 45 + n as u64);
            let a = MxElementMatrix::quantize(we, &w, cfg).unwrap().fixed();
            let b = MxElementMatrix::quantize(xe, &xt, cfg).unwrap().fixed();
            check(&a, &b, &format!("{} · {} {m}×{k}×{n}", we.name, xe.name));
        }
    }
    // The midpoint block, in both signs, beside an ordinary one (rows of 2 blocks of 32).
    let (rows, k, seg) = (4usize, 64usize, 32usize);
    let mut ia = vec![0i64; rows * k];
    let mut ib = vec![0i64; rows * k];
    for r in 0..rows {
        let sign = if r % 2 == 0 { 1 } else { -1 };
        ia[r * k..r * k + 3].copy_from_slice(&[sign << 31, 1 << 19, 1]);
        ib[r * k..r * k + 3].copy_from_slice(&[1 << 31, 1 << 19, 1]);
        for c in 32..k {
            ia[r * k + c] = ((c * 7 + r) % 15) as i64 - 7;
            ib[r * k + c] = ((c * 5 + r) % 13) as i64 - 6;
        }
    }
    let fixed = |ints: Vec<i64>| Fixed {
        rows,
        k,
        ints,
        frac: 0,
        seg,
        scales: vec![1.0; rows * 2],
    };
    let (a, b) = (fixed(ia), fixed(ib));
    let want = segments::gemm_general(&a, &b, Accumulator::F32);
    // The rule's own value: 2^62 + 2^39 (rounded up), not the tie-to-even 2^62.
    assert_eq!(want.get(0, 0), 2f32.powi(62) + 2f32.powi(39));
    check(&a, &b, "midpoint + 1");
}

/// W4A8 as the families build it: INT4 per group for W, x in the INT8 format itself
/// (`Int8Matrix`, per tensor or per token, symmetric or asymmetric), the x bytes from
/// `Quantized::fixed8` (q − zp, when every difference fits). On every ISA, the block kernel
/// against the general segment rule of the same operands; symmetric x always fits.
#[test]
fn w4a8_with_int8_activations_agrees_with_the_segment_rule() {
    use qlab::family::Quantized;
    use qlab::format::int_group::{Grouping, IntGroupConfig, IntGroupMatrix};
    use qlab::format::{Granularity, Rounding, Scheme};
    use qlab::kernel::{scaled_i8, segments};
    let w_config = IntGroupConfig {
        bits: 4,
        scheme: Scheme::Asymmetric,
        grouping: Grouping::Group(32),
        rounding: Rounding::HalfEven,
    };
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        for granularity in [Granularity::Tensor, Granularity::Channel] {
            let x_config = Int8Config {
                scheme,
                granularity,
                rounding: Rounding::HalfEven,
            };
            for (m, k, n) in [(5, 70, 9), (8, 256, 33), (3, 7, 2)] {
                let w = nasty(m, k, 61 + m as u64);
                let mut xt = nasty(n, k, 33 + n as u64).into_data();
                // A token of positive values only: its asymmetric zero point sits at the
                // range's end.
                xt[..k].iter_mut().for_each(|v| *v = v.abs() + 0.5);
                let xt = Matrix::new(n, k, xt).unwrap();
                let qw = IntGroupMatrix::quantize(&w, w_config).unwrap();
                let qx = Int8Matrix::quantize(&xt, x_config).unwrap();
                let label = format!("{m}×{k}×{n} x {scheme:?} {granularity:?}");
                let (a, b) = (qw.fixed8().unwrap(), Quantized::fixed8(&qx));
                assert!(b.is_some() || scheme == Scheme::Asymmetric, "{label}");
                let Some(b) = b else { continue };
                let want = segments::gemm_general(
                    &qw.fixed(),
                    &Quantized::fixed(&qx).unwrap(),
                    Accumulator::F32,
                );
                for isa in Isa::supported() {
                    let got = scaled_i8::segment_gemm_with(isa, &a, &b, Accumulator::F32);
                    assert_eq!(bits(&got), bits(&want), "{isa:?} {label}");
                }
            }
        }
    }
}

/// The INT8 GEMM's code sums (`vpsadbw` on the flipped bytes, the excess taken back) against
/// an i64 fold: every length through several vector widths and a tail, at both ends of the
/// code range (where a wrong excess or a lane overflow shows) and on mixed codes.
#[test]
fn code_sums_agree_on_every_path() {
    let mut state = 0x5eed_u64;
    for len in (0..=300).chain([4095, 65_536, 65_537, 200_003]) {
        let mixed: Vec<i8> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as i8
            })
            .collect();
        for v in [vec![i8::MIN; len], vec![i8::MAX; len], mixed] {
            let want: i64 = v.iter().map(|&q| i64::from(q)).sum();
            for isa in Isa::supported() {
                assert_eq!(simd::code_sum(isa, &v), want, "{isa:?}, {len} codes");
            }
        }
    }
}

#[test]
fn byte_tables_map_every_code_on_every_path() {
    // Every code, in runs that end inside and at the end of a 64-byte step, through tables
    // with and without the rejected byte; the mapping is checked against the table itself.
    let src: Vec<u8> = (0..1000).map(|i| (i * 37 + i / 256) as u8).collect();
    for seed in 0..4u64 {
        let mut table: [u8; 256] =
            std::array::from_fn(|c| qlab::rng::splitmix64(seed ^ c as u64) as u8 | 1);
        if seed % 2 == 1 {
            table[200] = 0x80;
        }
        for isa in Isa::supported() {
            for len in [0, 1, 63, 64, 65, 256, 1000] {
                let src = &src[..len];
                let got = simd::map_bytes(isa, &table, src, 0x80);
                let rejected = src.iter().any(|&c| table[usize::from(c)] == 0x80);
                match got {
                    None => assert!(
                        rejected,
                        "{isa:?} seed {seed} len {len}: rejected for nothing"
                    ),
                    Some(v) => {
                        assert!(!rejected, "{isa:?} seed {seed} len {len}: missed a reject");
                        let want: Vec<u8> = src.iter().map(|&c| table[usize::from(c)]).collect();
                        assert_eq!(v, want, "{isa:?} seed {seed} len {len}");
                    }
                }
            }
        }
    }
}
