//! The f64 reference's dot tiles on x86 (4 × 4 on AVX-512, 2 × 2 on AVX2). Portable twin:
//! the tile code of `kernel::reference`, which sums in the same order.

use std::arch::x86_64::*;

/// `reference::dots` for a 4 × 4 tile on AVX-512: each dot's eight partial sums (k mod 8)
/// are the eight lanes of one zmm, then summed in the portable code's order. The values are
/// f32 widened (the caller's contract), so every product of two is exact in f64 (48
/// significant bits) and one FMA gives the bits of the portable multiply-then-add, at half
/// the operations.
#[target_feature(enable = "avx512f")]
pub unsafe fn f64_dots_4x4(a: [&[f64]; 4], b: [&[f64]; 4]) -> [[f64; 4]; 4] {
    let k = a[0].len();
    let whole = k / 8 * 8;
    let mut acc = [[_mm512_setzero_pd(); 4]; 4];
    let (pa, pb) = (a.map(<[f64]>::as_ptr), b.map(<[f64]>::as_ptr));
    for base in (0..whole).step_by(8) {
        // SAFETY: base + 8 ≤ k, and all eight rows hold k values.
        unsafe {
            let x = pa.map(|p| _mm512_loadu_pd(p.add(base)));
            let y = pb.map(|p| _mm512_loadu_pd(p.add(base)));
            for (acc_r, x_r) in acc.iter_mut().zip(&x) {
                for (acc_rs, y_s) in acc_r.iter_mut().zip(&y) {
                    *acc_rs = _mm512_fmadd_pd(*x_r, *y_s, *acc_rs);
                }
            }
        }
    }
    let mut out = [[0.0f64; 4]; 4];
    for (r, (acc_r, out_r)) in acc.iter().zip(out.iter_mut()).enumerate() {
        for (s, (acc_rs, y)) in acc_r.iter().zip(out_r.iter_mut()).enumerate() {
            let mut partial = [0.0f64; 8];
            // SAFETY: 8 f64.
            unsafe { _mm512_storeu_pd(partial.as_mut_ptr(), *acc_rs) };
            let tail: f64 = a[r][whole..k]
                .iter()
                .zip(&b[s][whole..k])
                .map(|(&p, &q)| p * q)
                .sum();
            *y = partial.iter().sum::<f64>() + tail;
        }
    }
    out
}

/// `reference::dots` for a 2 × 2 tile on AVX2: each dot's eight partial sums (k mod 8)
/// are two ymm of four lanes, multiplied and added separately (no FMA, which would round
/// once instead of twice), then summed in the portable code's order.
#[target_feature(enable = "avx2")]
pub unsafe fn f64_dots_2x2(a: [&[f64]; 2], b: [&[f64]; 2]) -> [[f64; 2]; 2] {
    let k = a[0].len();
    let whole = k / 8 * 8;
    let mut acc = [[[_mm256_setzero_pd(); 2]; 2]; 2];
    let (pa, pb) = (
        [a[0].as_ptr(), a[1].as_ptr()],
        [b[0].as_ptr(), b[1].as_ptr()],
    );
    for base in (0..whole).step_by(8) {
        // SAFETY: base + 8 ≤ k, and all four rows hold k values.
        unsafe {
            let load = |p: *const f64| {
                [
                    _mm256_loadu_pd(p.add(base)),
                    _mm256_loadu_pd(p.add(base + 4)),
                ]
            };
            let (x, y) = (pa.map(load), pb.map(load));
            for r in 0..2 {
                for s in 0..2 {
                    for h in 0..2 {
                        acc[r][s][h] = _mm256_add_pd(acc[r][s][h], _mm256_mul_pd(x[r][h], y[s][h]));
                    }
                }
            }
        }
    }
    let mut out = [[0.0f64; 2]; 2];
    for r in 0..2 {
        for s in 0..2 {
            let mut partial = [0.0f64; 8];
            // SAFETY: 4 + 4 f64.
            unsafe {
                _mm256_storeu_pd(partial.as_mut_ptr(), acc[r][s][0]);
                _mm256_storeu_pd(partial.as_mut_ptr().add(4), acc[r][s][1]);
            }
            let tail: f64 = a[r][whole..k]
                .iter()
                .zip(&b[s][whole..k])
                .map(|(&p, &q)| p * q)
                .sum();
            out[r][s] = partial.iter().sum::<f64>() + tail;
        }
    }
    out
}
