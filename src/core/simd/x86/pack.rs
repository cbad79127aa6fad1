//! Laying operands out for the kernels on AVX-512: x's panels for the blocked driver (the
//! whole groups of 4 bytes of a full panel by 16 × 16 transposes of u32; portable twin: the
//! column loop of `blocked::pack_panels`), and codes mapped through a byte table (VBMI).

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

/// dst[i] = table[src[i]] for every byte, 64 at a time by two `vpermi2b` (the table's low
/// and high 128 entries) blended on each code's top bit; whether any output byte is
/// `reject`. Portable twin: `simd::map_bytes`'s scalar path.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub fn map_bytes_vbmi(table: &[u8; 256], src: &[u8], dst: &mut [u8], reject: u8) -> bool {
    assert_eq!(src.len(), dst.len());
    // SAFETY: the table holds four 64-byte quarters.
    let t = |q: usize| unsafe { _mm512_loadu_si512(table.as_ptr().add(64 * q).cast()) };
    let (t0, t1, t2, t3) = (t(0), t(1), t(2), t(3));
    let bad = _mm512_set1_epi8(reject as i8);
    let mut hit = 0u64;
    let whole = src.len() / 64 * 64;
    for at in (0..whole).step_by(64) {
        // SAFETY: at + 64 ≤ len of both slices (equal lengths, asserted above).
        let c = unsafe { _mm512_loadu_si512(src.as_ptr().add(at).cast()) };
        let low = _mm512_permutex2var_epi8(t0, c, t1);
        let high = _mm512_permutex2var_epi8(t2, c, t3);
        let v = _mm512_mask_blend_epi8(_mm512_movepi8_mask(c), low, high);
        hit |= _mm512_cmpeq_epi8_mask(v, bad);
        // SAFETY: as above.
        unsafe { _mm512_storeu_si512(dst.as_mut_ptr().add(at).cast(), v) };
    }
    for (d, &c) in dst[whole..].iter_mut().zip(&src[whole..]) {
        *d = table[usize::from(c)];
        hit |= u64::from(*d == reject);
    }
    hit != 0
}
