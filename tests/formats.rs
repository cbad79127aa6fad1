//! The number formats of DESIGN §1–§2, pinned exhaustively and by the spec's vectors.

use qlab::Matrix;
use qlab::format::{Affine, BlockSize, Granularity, Int8Config, Int8Matrix, MxConfig, MxMatrix};
use qlab::format::{Rounding, ScaleRule, Scheme};
use qlab::format::{e2m1, e8m0, mx, packed};

/// E2M1 value from the bit fields alone: (−1)^s · (e = 0 ? m/2 : 2^(e−1) · (1 + m/2)).
fn e2m1_from_bits(code: u8) -> f64 {
    let s = if code & 8 != 0 { -1.0 } else { 1.0 };
    let e = i32::from((code >> 1) & 3);
    let m = f64::from(code & 1);
    s * if e == 0 {
        m / 2.0
    } else {
        2f64.powi(e - 1) * (1.0 + m / 2.0)
    }
}

/// Independent oracle: the nearest grid magnitude, ties to the code with mantissa bit 0,
/// saturating at 6, sign from the sign bit.
fn e2m1_oracle(v: f32) -> u8 {
    let a = f64::from(v.abs());
    let mut best = 0u8;
    for c in 1u8..8 {
        let (d, db) = (
            (e2m1_from_bits(c) - a).abs(),
            (e2m1_from_bits(best) - a).abs(),
        );
        if d < db || (d == db && c & 1 == 0) {
            best = c;
        }
    }
    best | if v.is_sign_negative() { 8 } else { 0 }
}

#[test]
fn every_e2m1_code_decodes_as_its_bits_say_and_round_trips() {
    for code in 0u8..16 {
        let v = e2m1::decode(code);
        assert_eq!(f64::from(v), e2m1_from_bits(code), "code {code:#x}");
        assert_eq!(v.is_sign_negative(), code & 8 != 0, "sign of {code:#x}");
        assert_eq!(e2m1::encode(v), code, "round trip of {code:#x}");
        assert_eq!(f32::from(e2m1::doubled(code)), 2.0 * v, "doubled {code:#x}");
    }
}

#[test]
fn e2m1_ties_go_to_the_even_code_from_both_sides() {
    // (tie, its f32 bits, code at the tie, code one ulp below, code one ulp above)
    let ties: [(f32, u32, u8, u8, u8); 7] = [
        (0.25, 0x3E80_0000, 0x0, 0x0, 0x1),
        (0.75, 0x3F40_0000, 0x2, 0x1, 0x2),
        (1.25, 0x3FA0_0000, 0x2, 0x2, 0x3),
        (1.75, 0x3FE0_0000, 0x4, 0x3, 0x4),
        (2.5, 0x4020_0000, 0x4, 0x4, 0x5),
        (3.5, 0x4060_0000, 0x6, 0x5, 0x6),
        (5.0, 0x40A0_0000, 0x6, 0x6, 0x7),
    ];
    for (tie, bits, at, below, above) in ties {
        assert_eq!(tie.to_bits(), bits);
        let dn = f32::from_bits(bits - 1);
        let up = f32::from_bits(bits + 1);
        assert_eq!(e2m1::encode(tie), at, "tie {tie}");
        assert_eq!(e2m1::encode(dn), below, "just below {tie}");
        assert_eq!(e2m1::encode(up), above, "just above {tie}");
        assert_eq!(e2m1::encode(-tie), at | 8, "tie -{tie}");
        assert_eq!(e2m1::encode(-dn), below | 8, "just above -{tie}");
        assert_eq!(e2m1::encode(-up), above | 8, "just below -{tie}");
    }
    // DESIGN: every bit counts.
    assert_eq!(e2m1::encode(0.250_000_06), 0x1);
}

#[test]
fn e2m1_saturates_and_keeps_the_sign() {
    assert_eq!(e2m1::encode(6.0), 0x7);
    assert_eq!(e2m1::encode(7.999), 0x7);
    assert_eq!(e2m1::encode(1e30), 0x7);
    assert_eq!(e2m1::encode(f32::INFINITY), 0x7);
    assert_eq!(e2m1::encode(f32::NEG_INFINITY), 0xF);
    assert_eq!(e2m1::encode(-0.01), 0x8);
    assert_eq!(e2m1::encode(-0.0), 0x8);
    assert_eq!(e2m1::encode(0.0), 0x0);
    assert_eq!(e2m1::encode(f32::from_bits(1)), 0x0);
}

#[test]
fn e2m1_encode_matches_the_nearest_value_oracle_across_f32() {
    // Every 97th positive f32 bit pattern up to 16 (and its negative): ~11 million values,
    // every binade, subnormals included.
    let top = 16f32.to_bits();
    for bits in (0..top).step_by(97).chain([top]) {
        let v = f32::from_bits(bits);
        assert_eq!(e2m1::encode(v), e2m1_oracle(v), "v = {v:e} ({bits:#010x})");
        assert_eq!(e2m1::encode(-v), e2m1_oracle(-v), "v = -{v:e}");
    }
}

/// 2^e by repeated doubling or halving, independent of the library's bit construction.
fn pow2_slow(e: i32) -> f64 {
    let mut v = 1.0f64;
    for _ in 0..e.abs() {
        v = if e > 0 { v * 2.0 } else { v / 2.0 };
    }
    v
}

#[test]
fn every_e8m0_byte() {
    for b in 0u8..=255 {
        if b == 0xFF {
            assert_eq!(e8m0::exponent(b), None);
            assert!(e8m0::to_f64(b).is_nan());
            assert!(e8m0::to_f32(b).is_nan());
            continue;
        }
        let e = i32::from(b) - 127;
        assert_eq!(e8m0::exponent(b), Some(e));
        assert_eq!(e8m0::from_exponent(e), b);
        assert_eq!(e8m0::to_f64(b), pow2_slow(e), "byte {b:#04x}");
        // 2^−127 is an f32 subnormal and still exact.
        assert_eq!(
            f64::from(e8m0::to_f32(b)),
            pow2_slow(e),
            "byte {b:#04x} as f32"
        );
    }
    assert_eq!(e8m0::from_exponent(-500), 0x00);
    assert_eq!(e8m0::from_exponent(500), 0xFE);
}

#[test]
fn scale_exponent_comes_from_the_bits() {
    // Just below a power of two a floating log2 rounds up; the bits do not.
    assert_eq!(mx::scale_byte(7.999_999_5, ScaleRule::Floor), 0x7F);
    assert_eq!(mx::scale_byte(8.0, ScaleRule::Floor), 0x80);
    // Every power of two, normal and subnormal: floor gives clamp(k − 2).
    for k in -149..=127 {
        let v = pow2_slow(k) as f32;
        let want = (k - 2).clamp(-127, 127) + 127;
        assert_eq!(
            i32::from(mx::scale_byte(v, ScaleRule::Floor)),
            want,
            "2^{k}"
        );
        // A power of two has sig = 1: no rule bumps it.
        for rule in ScaleRule::ALL {
            assert_eq!(i32::from(mx::scale_byte(v, rule)), want, "2^{k} {rule}");
        }
    }
    // Subnormal with more than one bit set: 3 · 2^−149 = 1.5 · 2^−148.
    assert_eq!(mx::split_exponent(f32::from_bits(3)), (-148, 0x40_0000));
}

#[test]
fn scale_rules_bump_at_their_thresholds() {
    let ulp_above = |v: f32| f32::from_bits(v.to_bits() + 1);
    let ulp_below = |v: f32| f32::from_bits(v.to_bits() - 1);
    // sig values around each threshold, with E = 0 so floor gives byte 0x7D (e = −2).
    let cases: [(f32, [u8; 4]); 7] = [
        // sig        floor ceil  even  rceil
        (1.0, [0x7D, 0x7D, 0x7D, 0x7D]),
        (ulp_above(1.0), [0x7D, 0x7E, 0x7D, 0x7D]),
        (1.5, [0x7D, 0x7E, 0x7D, 0x7D]),
        (ulp_above(1.5), [0x7D, 0x7E, 0x7D, 0x7E]),
        (ulp_below(1.75), [0x7D, 0x7E, 0x7D, 0x7E]),
        (1.75, [0x7D, 0x7E, 0x7E, 0x7E]),
        (ulp_below(2.0), [0x7D, 0x7E, 0x7E, 0x7E]),
    ];
    for (amax, want) in cases {
        for (rule, w) in ScaleRule::ALL.into_iter().zip(want) {
            assert_eq!(mx::scale_byte(amax, rule), w, "amax {amax} rule {rule}");
        }
    }
    // rceil is ceil(log2(amax / 6)): amax = 6 · 2^k never clips.
    assert_eq!(mx::scale_byte(6.0, ScaleRule::Rceil), 0x7F);
    assert_eq!(mx::scale_byte(ulp_above(6.0), ScaleRule::Rceil), 0x80);
    assert_eq!(mx::scale_byte(0.0, ScaleRule::Floor), 0x00);
    assert_eq!(mx::scale_byte(f32::NAN, ScaleRule::Floor), 0xFF);
    assert_eq!(mx::scale_byte(f32::INFINITY, ScaleRule::Rceil), 0xFF);
}

fn codes_from_hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

/// Quantizes one block (padded with zeros to 32, as DESIGN §2 computes) and returns the
/// scale byte and the codes of the unpadded elements.
fn quantize_padded(values: &[f32], rule: ScaleRule) -> (u8, Vec<u8>) {
    let mut padded = values.to_vec();
    padded.resize(32, 0.0);
    let mut codes = vec![0u8; 32];
    let byte = mx::quantize_block(&padded, rule, &mut codes);
    codes.truncate(values.len());
    (byte, codes)
}

const FIRST_BLOCK: [f32; 32] = [
    0.7, -0.2, -0.5, 0.1, 0.3, -0.05, 0.0, 0.65, -0.7, 0.45, 0.2, -0.33, 0.125, -0.0625, 0.55,
    0.06, -0.15, 0.24, 0.26, -0.6, 0.4, -0.45, 0.35, 0.09, -0.01, 0.69, -0.25, 0.18, 0.5, -0.375,
    0.0, 0.15,
];

#[test]
fn design_spec_vectors() {
    let floor = ScaleRule::Floor;
    let rceil = ScaleRule::Rceil;
    let tiny = [
        f32::from_bits(0x0080_0000),
        -f32::from_bits(0x0040_0000),
        f32::from_bits(0x0008_0000),
    ];
    assert_eq!(tiny, [2f32.powi(-126), -(2f32.powi(-127)), 2f32.powi(-130)]);
    let cases: Vec<(&[f32], ScaleRule, u8, &str)> = vec![
        (
            &FIRST_BLOCK,
            floor,
            0x7C,
            "7 B E 2 4 9 0 7 F 6 3 D 2 9 6 1 A 4 4 E 5 E 5 1 8 7 C 3 6 D 0 2",
        ),
        (
            &[
                6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5,
                -5.0, -6.0,
            ],
            floor,
            0x7F,
            "7 0 2 2 4 4 6 6 8 A A C C E E F",
        ),
        (&[7.9, -7.0, 6.5, 1.0], floor, 0x7F, "7 F 7 2"),
        (&[7.9, -7.0, 6.5, 1.0], rceil, 0x80, "6 E 5 1"),
        (&tiny, floor, 0x00, "4 A 0"),
        (&[3e38, -1e38, 1.0], floor, 0xFC, "7 C 0"),
        (&[3e38, -1e38, 1.0], rceil, 0xFD, "6 A 0"),
        (&[1.0, -0.0, -0.1, 0.1], floor, 0x7D, "6 8 9 1"),
        (&[7.999_999_5, 1.0], floor, 0x7F, "7 2"),
        (
            &[0.0; 32],
            floor,
            0x00,
            "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
        ),
    ];
    for (values, rule, byte, codes) in cases {
        let (b, c) = quantize_padded(values, rule);
        assert_eq!(b, byte, "scale of {values:?} ({rule})");
        assert_eq!(c, codes_from_hex(codes), "codes of {values:?} ({rule})");
    }
    for bad in [
        [1.0, f32::NAN],
        [1.0, f32::INFINITY],
        [f32::NEG_INFINITY, 0.0],
    ] {
        let (b, _) = quantize_padded(&bad, floor);
        assert_eq!(b, 0xFF, "{bad:?}");
        let m =
            MxMatrix::quantize(&Matrix::from_rows(&[bad]).unwrap(), MxConfig::default()).unwrap();
        assert!(
            m.dequantize().data().iter().all(|v| v.is_nan()),
            "{bad:?} dequantizes to NaN"
        );
        assert_eq!(m.nan_blocks(), 1);
    }
}

#[test]
fn first_block_packs_to_the_design_bytes() {
    let m = Matrix::from_rows(&[FIRST_BLOCK]).unwrap();
    let q = MxMatrix::quantize(&m, MxConfig::default()).unwrap();
    let hex: String = packed::pack_linear(&q)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, "b72e94706fd392164ae4e515783cd620");
    assert_eq!(q.scales(), &[0x7C]);
    assert_eq!(
        packed::unpack_linear(&packed::pack_linear(&q), 1, 32).unwrap(),
        q.codes()
    );
    // ggml: scale first, then element j in the low nibble and j + 16 in the high nibble.
    let g = packed::to_ggml(&q).unwrap();
    assert_eq!(g.len(), 17);
    assert_eq!(g[0], 0x7C);
    let c = q.codes();
    for j in 0..16 {
        assert_eq!(g[1 + j], c[j] | c[j + 16] << 4, "qs[{j}]");
    }
    assert_eq!(packed::from_ggml(&g, 1, 32).unwrap(), q);
}

#[test]
fn packed_layouts_handle_odd_rows_and_refuse_bad_shapes() {
    let m = Matrix::from_rows(&[[1.0, -2.0, 3.0], [0.5, 0.0, -6.0]]).unwrap();
    let q = MxMatrix::quantize(&m, MxConfig::default()).unwrap();
    let bytes = packed::pack_linear(&q);
    assert_eq!(bytes.len(), 4, "two bytes per row of three");
    assert_eq!(bytes[1] >> 4, 0, "padding nibble is zero");
    assert_eq!(packed::unpack_linear(&bytes, 2, 3).unwrap(), q.codes());
    assert_eq!(
        packed::to_ggml(&q).unwrap_err().to_string(),
        "ggml block_mxfp4 needs block size 32 and K a multiple of 32; got block 3, K 3"
    );
    assert!(packed::from_ggml(&[0u8; 16], 1, 32).is_err());
    // A 2 × 64 matrix: blocks in row order.
    let big: Vec<f32> = (0..128).map(|i| (i as f32 - 64.0) / 7.0).collect();
    let q = MxMatrix::quantize(&Matrix::new(2, 64, big).unwrap(), MxConfig::default()).unwrap();
    let g = packed::to_ggml(&q).unwrap();
    assert_eq!(g.len(), 4 * 17);
    assert_eq!(packed::from_ggml(&g, 2, 64).unwrap(), q);
}

#[test]
fn partial_last_block_has_its_own_scale() {
    // 40 elements, block 32: the last 8 form a block whose amax is 0.1, not 4.
    let mut row = vec![4.0f32; 32];
    row.extend([0.1f32; 8]);
    let q = MxMatrix::quantize(&Matrix::new(1, 40, row).unwrap(), MxConfig::default()).unwrap();
    assert_eq!(q.blocks_per_row(), 2);
    // 4 = 1 · 2^2 → e = 0; 0.1 = 1.6 · 2^−4 → e = −6.
    assert_eq!(q.scales(), &[0x7F, 0x79]);
    assert_eq!(
        q.dequantize().data()[39],
        0.09375,
        "0.1 · 64 = 6.4 → 6 · 2^−6"
    );
}

#[test]
fn block_sizes_from_one_to_whole_tensor() {
    let m = Matrix::from_rows(&[[0.7, -0.2, 3.0], [-0.5, 0.1, 0.0]]).unwrap();
    let one =
        MxMatrix::quantize(&m, MxConfig::new(BlockSize::Elements(1), ScaleRule::Floor)).unwrap();
    assert_eq!(one.blocks_per_row(), 3);
    assert_eq!(one.scales()[5], 0x00, "a lone zero is a zero block");
    let tensor =
        MxMatrix::quantize(&m, MxConfig::new(BlockSize::Tensor, ScaleRule::Floor)).unwrap();
    // One scale for everything, from the tensor's amax 3 = 1.5 · 2^1 → e = −1.
    assert_eq!(tensor.scales(), &[0x7E, 0x7E]);
    assert_eq!(
        tensor.dequantize().data()[4],
        0.0,
        "0.1 / 2^−1 = 0.2 flushes to zero"
    );
    assert!(
        MxMatrix::quantize(&m, MxConfig::new(BlockSize::Elements(0), ScaleRule::Floor)).is_err()
    );
    assert_eq!("tensor".parse::<BlockSize>().unwrap(), BlockSize::Tensor);
    assert_eq!(
        "0".parse::<BlockSize>().unwrap_err().to_string(),
        "invalid block size '0'; expected an integer ≥ 1 or 'tensor'"
    );
}

fn int8_codes(rounding: Rounding) -> Vec<i8> {
    let p = Affine {
        scale: 0.5,
        zero_point: 0,
    };
    [0.25f32, 0.75, 1.25, -0.25, -0.75, -1.25, 100.0, -100.0]
        .iter()
        .enumerate()
        .map(|(i, &v)| p.quantize(v, rounding, i as u64, (-128, 127)))
        .collect()
}

#[test]
fn int8_rounding_vectors() {
    assert_eq!(
        int8_codes(Rounding::HalfEven),
        [0, 2, 2, 0, -2, -2, 127, -128]
    );
    assert_eq!(
        int8_codes(Rounding::HalfAway),
        [1, 2, 3, -1, -2, -3, 127, -128]
    );
    assert_eq!(
        int8_codes(Rounding::Floor),
        [0, 1, 2, -1, -2, -3, 127, -128]
    );
    let s = int8_codes(Rounding::Stochastic { seed: 7 });
    assert_eq!(
        s,
        int8_codes(Rounding::Stochastic { seed: 7 }),
        "seeded: reproducible"
    );
    for (q, (lo, hi)) in s.iter().zip([
        (0, 1),
        (1, 2),
        (2, 3),
        (-1, 0),
        (-2, -1),
        (-3, -2),
        (127, 127),
        (-128, -128),
    ]) {
        assert!((lo..=hi).contains(q), "{q} outside [{lo}, {hi}]");
    }
}

#[test]
fn stochastic_rounding_is_unbiased_and_seed_dependent() {
    let r = Rounding::Stochastic { seed: 42 };
    let n = 100_000u64;
    let mean = (0..n).map(|i| f64::from(r.round(2.3, i))).sum::<f64>() / n as f64;
    assert!((mean - 2.3).abs() < 0.01, "mean {mean}");
    let other = Rounding::Stochastic { seed: 43 };
    assert!((0..64).any(|i| r.round(0.5, i) != other.round(0.5, i)));
    assert_eq!(r.round(3.0, 5), 3.0, "integers stay put");
}

fn quantize_int8(
    rows: &[&[f32]],
    scheme: Scheme,
    granularity: Granularity,
    rounding: Rounding,
) -> Int8Matrix {
    let m = Matrix::from_rows(rows).unwrap();
    Int8Matrix::quantize(
        &m,
        Int8Config {
            scheme,
            granularity,
            rounding,
        },
    )
    .unwrap()
}

#[test]
fn int8_affine_schemes() {
    let w: [&[f32]; 2] = [&[0.7, -0.2], &[-0.5, 0.1]];
    // DESIGN §1, §3: asymmetric, exact f32 scale 1.2 / 255.
    let q = quantize_int8(
        &w,
        Scheme::Asymmetric,
        Granularity::Tensor,
        Rounding::HalfEven,
    );
    assert_eq!(
        q.params(),
        &[Affine {
            scale: (0.7f32 + 0.5) / 255.0,
            zero_point: -22
        }]
    );
    assert_eq!(q.codes(), &[127, -64, -128, -1]);
    let q = quantize_int8(&w, Scheme::Asymmetric, Granularity::Tensor, Rounding::Floor);
    assert_eq!(q.params()[0].zero_point, -21);
    assert_eq!(q.codes(), &[127, -64, -128, 0]);
    // Symmetric: restricted range, zp 0; −amax maps to −127, never −128.
    let q = quantize_int8(
        &[&[-0.8, 0.6]],
        Scheme::Symmetric,
        Granularity::Tensor,
        Rounding::HalfEven,
    );
    assert_eq!(
        q.params(),
        &[Affine {
            scale: 0.8 / 127.0,
            zero_point: 0
        }]
    );
    assert_eq!(q.codes(), &[-127, 95]);
    // Per channel: one scale per row.
    let q = quantize_int8(
        &w,
        Scheme::Symmetric,
        Granularity::Channel,
        Rounding::HalfEven,
    );
    assert_eq!(q.params().len(), 2);
    assert_eq!(q.params()[1].scale, 0.5 / 127.0);
    assert_eq!(q.codes(), &[127, -36, -127, 25]);
}

#[test]
fn int8_zero_is_exact_and_zero_ranges_are_safe() {
    // Positive-only data still gets a range containing 0.
    let q = quantize_int8(
        &[&[1.0, 2.0, 0.0]],
        Scheme::Asymmetric,
        Granularity::Tensor,
        Rounding::HalfEven,
    );
    assert_eq!(q.params()[0].zero_point, -128);
    assert_eq!(q.dequantize().data()[2], 0.0);
    for scheme in [Scheme::Asymmetric, Scheme::Symmetric] {
        let q = quantize_int8(
            &[&[0.0, -0.0, 0.0]],
            scheme,
            Granularity::Tensor,
            Rounding::HalfEven,
        );
        assert_eq!(q.params()[0].scale, 1.0, "{scheme:?}");
        assert!(
            q.dequantize().data().iter().all(|&v| v == 0.0),
            "{scheme:?}"
        );
    }
}

#[test]
fn int8_refuses_nan_and_inf_naming_the_index() {
    let m = Matrix::from_rows(&[[1.0, 2.0], [3.0, f32::NAN]]).unwrap();
    let e = Int8Matrix::quantize(&m, Int8Config::WEIGHTS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input: INT8 cannot quantize NaN at index (1, 1); remove NaN/Inf or use an MX format"
    );
    let m = Matrix::from_rows(&[[f32::NEG_INFINITY]]).unwrap();
    assert!(
        Int8Matrix::quantize(&m, Int8Config::ACTIVATIONS)
            .unwrap_err()
            .to_string()
            .contains("-inf at index (0, 0)")
    );
}

#[test]
fn option_names_parse_and_reject_with_the_valid_list() {
    for rule in ScaleRule::ALL {
        assert_eq!(rule.name().parse::<ScaleRule>().unwrap(), rule);
    }
    assert_eq!(
        "round".parse::<ScaleRule>().unwrap_err().to_string(),
        "unknown scale rule 'round'; expected floor, ceil, even or rceil"
    );
    assert_eq!(
        Rounding::parse("nearest", 0).unwrap_err().to_string(),
        "unknown rounding 'nearest'; expected half-even, half-away, floor or stochastic"
    );
    assert_eq!(
        "channel".parse::<Granularity>().unwrap(),
        Granularity::Channel
    );
    assert_eq!("symmetric".parse::<Scheme>().unwrap(), Scheme::Symmetric);
}
