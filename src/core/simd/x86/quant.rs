//! The quantizers on x86 (AVX-512 and AVX2): the range scan, INT8 codes under half-even,
//! half-away and floor rounding, the MX blocks' amax and the codes of any MX element.
//! Portable twins: `format::int8` (the row loop), `codec::mx_block::block_amax`,
//! `Element::encode_f32`.

use std::arch::x86_64::*;

use crate::core::codec::minifloat::F32Encoder;
use crate::core::codec::rounding::Rounding;

/// [`min_max_finite`] on AVX2, 8 lanes at a time.
#[target_feature(enable = "avx2")]
pub unsafe fn min_max_finite_avx2(data: &[f32]) -> Option<(f32, f32)> {
    let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let inf = _mm256_set1_ps(f32::INFINITY);
    let sign = _mm256_set1_ps(-0.0);
    let mut finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        // SAFETY: 8 floats.
        let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        // |v| < inf is false for ±inf and for NaN (an ordered comparison).
        let ok = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_andnot_ps(sign, v), inf);
        finite = _mm256_and_ps(finite, ok);
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    let (mut los, mut his) = ([0f32; 8], [0f32; 8]);
    // SAFETY: 8 floats each.
    unsafe {
        _mm256_storeu_ps(los.as_mut_ptr(), lo);
        _mm256_storeu_ps(his.as_mut_ptr(), hi);
    }
    let mut ok = _mm256_movemask_ps(finite) == 0xFF;
    let (mut l, mut h) = (los[0], his[0]);
    for (&a, &b) in los.iter().zip(&his).skip(1) {
        l = if a < l { a } else { l };
        h = if b > h { b } else { h };
    }
    for &v in tail {
        ok &= v.is_finite();
        l = if v < l { v } else { l };
        h = if v > h { v } else { h };
    }
    ok.then_some((l, h))
}

#[target_feature(enable = "avx512f")]
pub unsafe fn min_max_finite(data: &[f32]) -> Option<(f32, f32)> {
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let inf = _mm512_set1_ps(f32::INFINITY);
    let mut finite: u16 = 0xFFFF;
    let chunks = data.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        // SAFETY: 16 floats.
        let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
        // |v| < inf is false for ±inf and for NaN (an ordered comparison).
        finite &= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(_mm512_abs_ps(v), inf);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    let (mut l, mut h) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
    let mut ok = finite == 0xFFFF;
    for &v in tail {
        ok &= v.is_finite();
        l = if v < l { v } else { l };
        h = if v > h { v } else { h };
    }
    ok.then_some((l, h))
}

/// The arguments of the INT8 row quantizers: scale, zero point (as f32), the code range
/// (as f32) and the rounding.
pub type Int8RowArgs = (f32, f32, (f32, f32), Rounding);

/// INT8 codes of `src` (a multiple of 16 values): clamp(round(v / scale) + zp), the
/// portable loop's arithmetic, 16 lanes at a time.
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn int8_quantize_16s(
    src: &[f32],
    (scale, zp, (qmin, qmax), rounding): Int8RowArgs,
    dst: &mut [i8],
) {
    let (s, zp) = (_mm512_set1_ps(scale), _mm512_set1_ps(zp));
    let (lo, hi) = (_mm512_set1_ps(qmin), _mm512_set1_ps(qmax));
    let half = _mm512_set1_ps(0.5);
    for i in (0..src.len()).step_by(16) {
        // SAFETY: the length is a multiple of 16, so i + 16 ≤ len for both slices.
        unsafe {
            let q = _mm512_div_ps(_mm512_loadu_ps(src.as_ptr().add(i)), s);
            let r = match rounding {
                Rounding::Floor => {
                    _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(q)
                }
                Rounding::HalfAway => {
                    // Only exact halves differ from half-even; for them q ± 0.5 is exact.
                    let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                        q,
                    );
                    let tie =
                        _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(_mm512_abs_ps(_mm512_sub_ps(q, r)), half);
                    let away = _mm512_add_ps(
                        q,
                        _mm512_or_ps(half, _mm512_and_ps(q, _mm512_set1_ps(-0.0))),
                    );
                    _mm512_mask_blend_ps(tie, r, away)
                }
                _ => _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q),
            };
            let c = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, zp), lo), hi);
            _mm_storeu_si128(
                dst.as_mut_ptr().add(i) as *mut _,
                _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(c)),
            );
        }
    }
}

/// [`int8_quantize_16s`] on AVX2, 8 lanes at a time (a multiple of 8 values).
#[target_feature(enable = "avx2")]
pub unsafe fn int8_quantize_8s_avx2(
    src: &[f32],
    (scale, zp, (qmin, qmax), rounding): Int8RowArgs,
    dst: &mut [i8],
) {
    let (s, zp) = (_mm256_set1_ps(scale), _mm256_set1_ps(zp));
    let (lo, hi) = (_mm256_set1_ps(qmin), _mm256_set1_ps(qmax));
    let (half, sign) = (_mm256_set1_ps(0.5), _mm256_set1_ps(-0.0));
    for i in (0..src.len()).step_by(8) {
        // SAFETY: the length is a multiple of 8, so i + 8 ≤ len for both slices.
        unsafe {
            let q = _mm256_div_ps(_mm256_loadu_ps(src.as_ptr().add(i)), s);
            let r = match rounding {
                Rounding::Floor => {
                    _mm256_round_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(q)
                }
                Rounding::HalfAway => {
                    let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q);
                    // |q − r| == 0.5 marks the ties; there q ± 0.5 is exact.
                    let diff = _mm256_andnot_ps(sign, _mm256_sub_ps(q, r));
                    let tie = _mm256_cmp_ps::<_CMP_EQ_OQ>(diff, half);
                    let away = _mm256_add_ps(q, _mm256_or_ps(half, _mm256_and_ps(q, sign)));
                    _mm256_blendv_ps(r, away, tie)
                }
                _ => _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(q),
            };
            let c = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, zp), lo), hi);
            // Clamped to [−128, 127]: the saturating packs are exact.
            let w = _mm256_cvtps_epi32(c);
            let w16 = _mm_packs_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
            _mm_storel_epi64(dst.as_mut_ptr().add(i) as *mut _, _mm_packs_epi16(w16, w16));
        }
    }
}

/// Codes of v · `invs[j]` for a row's values in blocks of `block` (a multiple of 8; block j
/// scaled by `invs[j]`) by `Element::encode_f32`'s rule (its constants in `e`), 8 lanes at a
/// time, a negative zero stored as +0 when `flush_zero`: returns how many leading values it
/// coded — whole vectors, stopping before the first vector with a product that is not finite
/// or that runs past the row (for the caller's portable loop).
#[target_feature(enable = "avx2")]
pub unsafe fn element_codes_avx2(
    e: &F32Encoder,
    src: &[f32],
    (block, invs, divide): (usize, &[f32], bool),
    flush_zero: bool,
    codes: &mut [u8],
) -> usize {
    let n = src.len().min(codes.len()).min(block * invs.len()) / 8 * 8;
    let exp_mask = _mm256_set1_epi32(0x7F80_0000);
    let abs_mask = _mm256_set1_epi32(0x7FFF_FFFF);
    let byte = _mm256_set1_epi32(0xFF);
    let shift = _mm_cvtsi32_si128(e.shift as i32);
    let sign_shift = _mm_cvtsi32_si128(e.sign_shift as i32);
    let sat_above = _mm256_set1_epi32(e.max_bits as i32 - 1);
    let normal_above = _mm256_set1_epi32(e.normal_bits as i32 - 1);
    let max_mag = _mm256_set1_epi32(e.max_mag as i32);
    let half = _mm256_set1_epi32((1 << (e.shift - 1)) - 1);
    let one = _mm256_set1_epi32(1);
    let rebias = _mm256_set1_epi32(e.rebias as i32);
    let sub_scale = _mm256_set1_ps(e.sub_scale);
    let zero_code = _mm256_set1_epi32(1 << e.sign_shift);
    let (q_max, int_scale) = (_mm256_set1_ps(127.0), _mm256_set1_ps(64.0));
    // Block by block (one inverse scale each; no division per vector), 8 values at a time.
    let (mut inv, mut next, mut left) = (_mm256_setzero_ps(), invs.iter(), 0);
    for i in (0..n).step_by(8) {
        if left == 0 {
            // n ≤ block · invs.len(): a block starts here only while scales remain.
            inv = _mm256_set1_ps(next.next().copied().unwrap_or(0.0));
            left = block;
        }
        left -= 8;
        // SAFETY: i + 8 ≤ n ≤ both lengths.
        let v = unsafe { _mm256_loadu_ps(src.as_ptr().add(i)) };
        let x = if divide {
            _mm256_div_ps(v, inv)
        } else {
            _mm256_mul_ps(v, inv)
        };
        let bits = _mm256_castps_si256(x);
        if _mm256_movemask_epi8(_mm256_cmpeq_epi32(
            _mm256_and_si256(bits, exp_mask),
            exp_mask,
        )) != 0
        {
            return i;
        }
        let a = _mm256_and_si256(bits, abs_mask);
        let mut code = if e.int {
            // q = min(RNE(|x| · 64), 127), then (q ^ s) − s negates where the sign s is −1.
            let y = _mm256_mul_ps(_mm256_castsi256_ps(a), int_scale);
            let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
            let q = _mm256_cvtps_epi32(_mm256_min_ps(r, q_max));
            let s = _mm256_srai_epi32::<31>(bits);
            _mm256_sub_epi32(_mm256_xor_si256(q, s), s)
        } else {
            // The mantissa rounded half-even on the bits (a carry moves into the exponent).
            let carry = _mm256_and_si256(_mm256_srl_epi32(a, shift), one);
            let normal =
                _mm256_srl_epi32(_mm256_add_epi32(_mm256_add_epi32(a, half), carry), shift);
            let normal = _mm256_sub_epi32(normal, rebias);
            // The element's subnormals: |x| in units of the smallest step, rounded to even.
            let y = _mm256_mul_ps(_mm256_castsi256_ps(a), sub_scale);
            let sub = _mm256_cvtps_epi32(_mm256_round_ps::<
                { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
            >(y));
            let is_normal = _mm256_cmpgt_epi32(a, normal_above);
            let mag = _mm256_blendv_epi8(sub, normal, is_normal);
            let mag = _mm256_blendv_epi8(mag, max_mag, _mm256_cmpgt_epi32(a, sat_above));
            _mm256_or_si256(
                mag,
                _mm256_sll_epi32(_mm256_srli_epi32::<31>(bits), sign_shift),
            )
        };
        if flush_zero {
            code = _mm256_andnot_si256(_mm256_cmpeq_epi32(code, zero_code), code);
        }
        // Bytes 0..=255 after the mask: both unsigned packs are exact.
        let code = _mm256_and_si256(code, byte);
        let w16 = _mm_packus_epi32(
            _mm256_castsi256_si128(code),
            _mm256_extracti128_si256::<1>(code),
        );
        // SAFETY: i + 8 ≤ n ≤ codes.len().
        unsafe {
            _mm_storel_epi64(
                codes.as_mut_ptr().add(i) as *mut _,
                _mm_packus_epi16(w16, w16),
            );
        }
    }
    n
}

/// `mx_block::block_amax` of each block of `block` values of a row (the last may be short)
/// on AVX2, into `out`: the largest |v|, NaN when the block holds a NaN.
#[target_feature(enable = "avx2")]
pub unsafe fn block_amaxes_avx2(src: &[f32], block: usize, out: &mut [f32]) {
    let sign = _mm256_set1_ps(-0.0);
    for (vals, o) in src.chunks(block).zip(out.iter_mut()) {
        let (mut amax, mut nan) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let chunks = vals.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: 8 floats.
            let a = _mm256_andnot_ps(sign, unsafe { _mm256_loadu_ps(c.as_ptr()) });
            // max_ps returns its second operand when either is NaN: NaNs are kept apart.
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a));
            amax = _mm256_max_ps(a, amax);
        }
        // The horizontal maximum: halves, then pairs, then neighbours (all non-NaN).
        let h = _mm_max_ps(
            _mm256_castps256_ps128(amax),
            _mm256_extractf128_ps::<1>(amax),
        );
        let h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_max_ss(h, _mm_shuffle_ps::<1>(h, h));
        let mut has_nan = _mm256_movemask_ps(nan) != 0;
        let mut m = _mm_cvtss_f32(h);
        for &v in tail {
            has_nan |= v.is_nan();
            m = if v.abs() > m { v.abs() } else { m };
        }
        *o = if has_nan { f32::NAN } else { m };
    }
}

/// [`element_codes_avx2`] on AVX-512, 16 lanes at a time (`block` a multiple of 16).
#[target_feature(enable = "avx512f")]
pub unsafe fn element_codes_16s(
    e: &F32Encoder,
    src: &[f32],
    (block, invs, divide): (usize, &[f32], bool),
    flush_zero: bool,
    codes: &mut [u8],
) -> usize {
    let n = src.len().min(codes.len()).min(block * invs.len()) / 16 * 16;
    let max_finite = _mm512_set1_epi32(0x7F7F_FFFF);
    let abs_mask = _mm512_set1_epi32(0x7FFF_FFFF);
    let shift = _mm_cvtsi32_si128(e.shift as i32);
    let sign_down = _mm_cvtsi32_si128(31 - e.sign_shift as i32);
    let normal_above = _mm512_set1_epi32(e.normal_bits as i32 - 1);
    let max_mag = _mm512_set1_epi32(e.max_mag as i32);
    let half_rebias =
        _mm512_set1_epi32((((1u32 << (e.shift - 1)) - 1).wrapping_sub(e.rebias << e.shift)) as i32);
    let one = _mm512_set1_epi32(1);
    let sub_scale = _mm512_set1_ps(e.sub_scale);
    let zero_code = _mm512_set1_epi32(1 << e.sign_shift);
    let (q_max, int_scale) = (_mm512_set1_ps(127.0), _mm512_set1_ps(64.0));
    let (mut inv, mut next, mut left) = (_mm512_setzero_ps(), invs.iter(), 0);
    for i in (0..n).step_by(16) {
        if left == 0 {
            inv = _mm512_set1_ps(next.next().copied().unwrap_or(0.0));
            left = block;
        }
        left -= 16;
        // SAFETY: i + 16 ≤ n ≤ both lengths.
        let v = unsafe { _mm512_loadu_ps(src.as_ptr().add(i)) };
        let x = if divide {
            _mm512_div_ps(v, inv)
        } else {
            _mm512_mul_ps(v, inv)
        };
        let bits = _mm512_castps_si512(x);
        let a = _mm512_and_si512(bits, abs_mask);
        // NaN and ±Inf are the magnitudes above f32::MAX's bits.
        if _mm512_cmpgt_epi32_mask(a, max_finite) != 0 {
            return i;
        }
        let mut code = if e.int {
            // q = min(RNE(|x| · 64), 127) (the conversion's own rounding, to even), negated
            // by (q ^ s) − s where the sign s is −1.
            let y = _mm512_min_ps(_mm512_mul_ps(_mm512_castsi512_ps(a), int_scale), q_max);
            let q =
                _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
            let s = _mm512_srai_epi32::<31>(bits);
            _mm512_sub_epi32(_mm512_xor_si512(q, s), s)
        } else {
            // Normal: the mantissa rounded half-even on the bits, the rebias folded into the
            // rounding constant (exact: a multiple of 2^shift). In the subnormal range the
            // result is garbage, replaced below. The code grows with a, so the saturation
            // to the max is an unsigned min (garbage below is huge and replaced too).
            let carry = _mm512_and_si512(_mm512_srl_epi32(a, shift), one);
            let normal = _mm512_srl_epi32(
                _mm512_add_epi32(_mm512_add_epi32(a, half_rebias), carry),
                shift,
            );
            let normal = _mm512_min_epu32(normal, max_mag);
            // Subnormal: |x| in units of the smallest step, rounded to even by the conversion.
            let y = _mm512_mul_ps(_mm512_castsi512_ps(a), sub_scale);
            let sub =
                _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
            let mag =
                _mm512_mask_blend_epi32(_mm512_cmpgt_epi32_mask(a, normal_above), sub, normal);
            // mag | (the sign moved to its bit), one ternary-logic op: A | (B & C).
            let sign = _mm512_srl_epi32(bits, sign_down);
            _mm512_ternarylogic_epi32::<0xF8>(mag, sign, zero_code)
        };
        if flush_zero {
            code = _mm512_mask_mov_epi32(
                code,
                _mm512_cmpeq_epi32_mask(code, zero_code),
                _mm512_setzero_si512(),
            );
        }
        // The low byte of each lane (truncation keeps two's complement codes as they are).
        // SAFETY: i + 16 ≤ n ≤ codes.len().
        unsafe {
            _mm_storeu_si128(
                codes.as_mut_ptr().add(i) as *mut _,
                _mm512_cvtepi32_epi8(code),
            );
        }
    }
    n
}

/// The index of the first NaN or ±Inf among the whole vectors of 16 (the caller looks at
/// the tail): a magnitude above f32::MAX's bits, one compare per vector.
#[target_feature(enable = "avx512f")]
pub unsafe fn first_non_finite_16s(data: &[f32]) -> Option<usize> {
    let (abs, max) = (
        _mm512_set1_epi32(0x7FFF_FFFF),
        _mm512_set1_epi32(0x7F7F_FFFF),
    );
    for (v, c) in data.chunks_exact(16).enumerate() {
        // SAFETY: 16 floats.
        let x = unsafe { _mm512_loadu_si512(c.as_ptr() as *const _) };
        let bad = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, abs), max);
        if bad != 0 {
            return Some(v * 16 + bad.trailing_zeros() as usize);
        }
    }
    None
}

/// [`first_non_finite_16s`] on AVX2, 8 lanes at a time.
#[target_feature(enable = "avx2")]
pub unsafe fn first_non_finite_avx2(data: &[f32]) -> Option<usize> {
    let (abs, max) = (
        _mm256_set1_epi32(0x7FFF_FFFF),
        _mm256_set1_epi32(0x7F7F_FFFF),
    );
    for (v, c) in data.chunks_exact(8).enumerate() {
        // SAFETY: 8 floats.
        let x = unsafe { _mm256_loadu_si256(c.as_ptr() as *const _) };
        let bad = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs), max);
        let mask = _mm256_movemask_ps(_mm256_castsi256_ps(bad));
        if mask != 0 {
            return Some(v * 8 + mask.trailing_zeros() as usize);
        }
    }
    None
}

/// [`block_amaxes_avx2`] on AVX-512, 16 lanes at a time: sixteen whole blocks at once where
/// the block is a multiple of 16 ([`amaxes_of_16_blocks`]), the rest block by block.
#[target_feature(enable = "avx512f")]
pub unsafe fn block_amaxes_16s(src: &[f32], block: usize, out: &mut [f32]) {
    let mut done = 0;
    if block.is_multiple_of(16) {
        let groups = (src.len() / (16 * block)).min(out.len() / 16);
        for g in 0..groups {
            let vals = &src[g * 16 * block..(g + 1) * 16 * block];
            // SAFETY: AVX-512 F is available (this function's contract).
            let m = unsafe { amaxes_of_16_blocks(vals, block) };
            out[g * 16..(g + 1) * 16].copy_from_slice(&m);
        }
        done = groups * 16;
    }
    let rest = src.get(done * block..).unwrap_or(&[]);
    for (vals, o) in rest.chunks(block).zip(out[done..].iter_mut()) {
        let mut amax = _mm512_setzero_ps();
        let mut nan: u16 = 0;
        let chunks = vals.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: 16 floats.
            let a = _mm512_abs_ps(unsafe { _mm512_loadu_ps(c.as_ptr()) });
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a);
            amax = _mm512_max_ps(a, amax);
        }
        let mut has_nan = nan != 0;
        let mut m = _mm512_reduce_max_ps(amax);
        for &v in tail {
            has_nan |= v.is_nan();
            m = if v.abs() > m { v.abs() } else { m };
        }
        *o = if has_nan { f32::NAN } else { m };
    }
}

/// The amax of 16 consecutive blocks of `block` values (a multiple of 16), by integers: the
/// magnitude bits of non-negative floats order as the floats do, and every NaN's lie above
/// Inf's, so the largest magnitude bits of a block are its amax — or a NaN, made the
/// canonical one. Each block folds to one vector, and the sixteen vectors reduce together
/// (halves, quarters, pairs, lanes: 15 max steps for 16 horizontal maxima).
#[target_feature(enable = "avx512f")]
unsafe fn amaxes_of_16_blocks(vals: &[f32], block: usize) -> [f32; 16] {
    let abs = _mm512_set1_epi32(0x7FFF_FFFF);
    let v: [__m512i; 16] = std::array::from_fn(|b| {
        let mut m = _mm512_setzero_si512();
        for c in vals[b * block..(b + 1) * block].chunks_exact(16) {
            // SAFETY: 16 floats.
            let x = unsafe { _mm512_loadu_si512(c.as_ptr() as *const _) };
            m = _mm512_max_epu32(m, _mm512_and_si512(x, abs));
        }
        m
    });
    // Halves: [a0 a1 b0 b1] against [a2 a3 b2 b3] (128-bit chunks).
    let w: [__m512i; 8] = std::array::from_fn(|i| {
        let (a, b) = (v[2 * i], v[2 * i + 1]);
        _mm512_max_epu32(
            _mm512_shuffle_i32x4::<0b01_00_01_00>(a, b),
            _mm512_shuffle_i32x4::<0b11_10_11_10>(a, b),
        )
    });
    // Quarters: one chunk per source vector, four vectors each.
    let u: [__m512i; 4] = std::array::from_fn(|i| {
        let (a, b) = (w[2 * i], w[2 * i + 1]);
        _mm512_max_epu32(
            _mm512_shuffle_i32x4::<0b10_00_10_00>(a, b),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(a, b),
        )
    });
    // Pairs, then single lanes, inside each chunk.
    let r: [__m512i; 2] = std::array::from_fn(|i| {
        let (a, b) = (u[2 * i], u[2 * i + 1]);
        _mm512_max_epu32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
    });
    let (a, b) = (_mm512_castsi512_ps(r[0]), _mm512_castsi512_ps(r[1]));
    let last = _mm512_max_epu32(
        _mm512_castps_si512(_mm512_shuffle_ps::<0b10_00_10_00>(a, b)),
        _mm512_castps_si512(_mm512_shuffle_ps::<0b11_01_11_01>(a, b)),
    );
    // Lane 4c + l now holds block 4l + c: back to block order, NaN made canonical.
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let m = _mm512_permutexvar_epi32(order, last);
    let nan = _mm512_cmpgt_epu32_mask(m, _mm512_set1_epi32(0x7F80_0000));
    let m = _mm512_mask_mov_epi32(m, nan, _mm512_set1_epi32(f32::NAN.to_bits() as i32));
    let mut out = [0f32; 16];
    // SAFETY: 16 lanes into 16 floats.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr() as *mut _, m) };
    out
}
