//! Packing x into the panels of the blocked driver on AVX-512: the whole groups of 4 bytes of
//! a full panel by 16 × 16 transposes of u32. Portable twin: the column loop of
//! `blocked::pack_panels`.

use std::arch::x86_64::*;

use super::super::blocked::NR;

/// The whole groups of 4 bytes of one full panel: `dst[g·NR·4 + 4c ..][..4]` =
/// `b[(c0 + c)·k + 4g ..][..4]` for every column c < NR and group g < k / 4. Sixteen columns'
/// 64 bytes (sixteen groups) are loaded as sixteen registers of u32, transposed so that each
/// register holds one group of the sixteen columns, and stored as half a row of the panel:
/// a quarter of the column loop's stores, all 64 bytes wide. The last groups (fewer than
/// sixteen) are read and written under a mask.
#[target_feature(enable = "avx512f")]
pub fn pack_groups_16s(b: &[u8], k: usize, c0: usize, dst: &mut [u8]) {
    let whole = k / 4;
    assert!(b.len() >= (c0 + NR) * k && dst.len() >= whole * NR * 4);
    for g0 in (0..whole).step_by(16) {
        let groups = (whole - g0).min(16);
        // The low `groups` lanes: only those are read and written.
        let mask = (1u32 << groups).wrapping_sub(1) as u16;
        for half in 0..NR / 16 {
            let rows: [__m512i; 16] = std::array::from_fn(|c| {
                let at = (c0 + 16 * half + c) * k + 4 * g0;
                // SAFETY: the mask's lanes read b[at .. at + 4·groups], inside column
                // c0 + 16·half + c's k bytes (4·(g0 + groups) ≤ k), itself inside `b`
                // (asserted above); masked-out lanes are not read.
                unsafe { _mm512_maskz_loadu_epi32(mask, b.as_ptr().add(at).cast()) }
            });
            let cols = transpose_16x16(rows);
            for (g, v) in cols.iter().enumerate().take(groups) {
                let at = (g0 + g) * NR * 4 + 64 * half;
                // SAFETY: group g0 + g < whole: its NR · 4 bytes lie inside `dst` (asserted
                // above), of which this half's 64 are written.
                unsafe { _mm512_storeu_si512(dst.as_mut_ptr().add(at).cast(), *v) };
            }
        }
    }
}

/// The 16 × 16 transpose of u32: lane j of register i becomes lane i of register j. Within
/// each 128-bit lane, 32- then 64-bit interleaves gather four rows' groups; two shuffles of
/// 128-bit lanes then put the four lanes of each group side by side.
#[target_feature(enable = "avx512f")]
fn transpose_16x16(r: [__m512i; 16]) -> [__m512i; 16] {
    // t[2i] / t[2i + 1]: rows 2i and 2i + 1 interleaved, lanes 0–1 / 2–3 of each quarter.
    let t: [__m512i; 16] = std::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(a, b)
        } else {
            _mm512_unpackhi_epi32(a, b)
        }
    });
    // u[4q + j], quarter l: rows 4q .. 4q + 4 of lane 4l + j.
    let u: [__m512i; 16] = std::array::from_fn(|i| {
        let (q, j) = (i / 4, i % 4);
        let (a, b) = (t[4 * q + j / 2], t[4 * q + 2 + j / 2]);
        if j % 2 == 0 {
            _mm512_unpacklo_epi64(a, b)
        } else {
            _mm512_unpackhi_epi64(a, b)
        }
    });
    // Lane 4l + j of the output: quarter l of u[j], u[4 + j], u[8 + j], u[12 + j].
    let mut out = [_mm512_setzero_si512(); 16];
    for j in 0..4 {
        let (a, b, c, d) = (u[j], u[4 + j], u[8 + j], u[12 + j]);
        let ab_lo = _mm512_shuffle_i32x4::<0x44>(a, b); // a0 a1 b0 b1
        let ab_hi = _mm512_shuffle_i32x4::<0xEE>(a, b); // a2 a3 b2 b3
        let cd_lo = _mm512_shuffle_i32x4::<0x44>(c, d);
        let cd_hi = _mm512_shuffle_i32x4::<0xEE>(c, d);
        out[j] = _mm512_shuffle_i32x4::<0x88>(ab_lo, cd_lo); // a0 b0 c0 d0
        out[4 + j] = _mm512_shuffle_i32x4::<0xDD>(ab_lo, cd_lo); // a1 b1 c1 d1
        out[8 + j] = _mm512_shuffle_i32x4::<0x88>(ab_hi, cd_hi);
        out[12 + j] = _mm512_shuffle_i32x4::<0xDD>(ab_hi, cd_hi);
    }
    out
}
