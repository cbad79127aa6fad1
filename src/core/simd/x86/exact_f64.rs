//! The block GEMM of integer elements too wide for bytes (MXFP8 E4M3 as int · 2^−9 up to
//! 2^17.8, MXFP6 E3M2, mixed MX pairs), exact in f64: every product is an integer and every
//! partial sum of a block stays below 2^53 (the caller checks max|a| · max|b| · block), so
//! FMA chains add without rounding and give the exact block dot. Each block's term is that
//! dot times a power-of-two scale (exact), rounded once to f32, summed in f32 in K order —
//! `kernel::segments`'s rule, whose same-block code (`run`) is the portable twin. With real
//! scales (f32 values: FP8's per-tensor and per-channel scales, one block per row) the
//! product dot · sa · sb is rounded once by `codec::exact::round_once`'s fast path — the f64
//! product, its FMA residual, a round-to-odd nudge, then f32 — whose twin is the general
//! segment rule. Integers too wide for one exact sum (MXFP8 E5M2) take two sums per block,
//! split by the products' magnitude, and their exact total ([`F64Blocks::Split`]).
//!
//! Micro-kernel: 4 rows of W × 32 columns of xᵀ (16 zmm of f64 sums), the columns packed in
//! panels of f64 along K.

use std::arch::x86_64::*;

use super::super::F64Blocks;
use super::super::blocked::{self, MicroKernel, NR, TileOut};

/// Rows of W per tile.
const MR: usize = 4;

/// y = A · Bᵀ: `a` (`m × k`) and `b` (`n × k`) integers (each exact in f64: the bound
/// makes them far smaller than 2^53), converted to f64 as they are packed; blocks of
/// `block` along K with one power-of-two scale each (`sa`: `m × blocks`, `sb`: `n × blocks`,
/// NaN for a NaN block; their products exact in f64); `mode` says how a block's term is
/// formed and rounded (see [`F64Blocks`]). Needs AVX-512 F and DQ (the caller checks).
pub fn block_gemm(
    (a, b): (&[i64], &[i64]),
    (sa, sb): (&[f64], &[f64]),
    (m, n, k, block): (usize, usize, usize, usize),
    mode: F64Blocks,
) -> Vec<f32> {
    if m == 0 || n == 0 {
        return vec![0f32; m * n];
    }
    let blocks = k.div_ceil(block);
    let panels = n.div_ceil(NR);
    // In the thread's reused buffers (fresh ones of this size were a quarter of the GEMM in
    // page faults), zeroed first: padding columns and rows are zero with scale zero.
    blocked::with_f64_scratch(|[packed, scales, ap]| {
        let zeroed = |v: &mut Vec<f64>, len: usize| {
            v.clear();
            v.resize(len, 0.0);
        };
        // Panels of NR columns along K (k-major inside a panel), and each panel's scales per
        // block.
        zeroed(packed, panels * NR * k);
        zeroed(scales, panels * blocks * NR);
        blocked::for_chunks(packed, NR * k, n * k * 8, |(p, dst)| {
            for (c, j) in (p * NR..((p + 1) * NR).min(n)).enumerate() {
                for (kk, &v) in b[j * k..(j + 1) * k].iter().enumerate() {
                    dst[kk * NR + c] = v as f64;
                }
            }
        });
        for (p, dst) in scales.chunks_mut(blocks * NR).enumerate() {
            for (c, j) in (p * NR..((p + 1) * NR).min(n)).enumerate() {
                for blk in 0..blocks {
                    dst[blk * NR + c] = sb[j * blocks + blk];
                }
            }
        }
        // W's rows padded to whole tiles.
        let mp = m.div_ceil(MR) * MR;
        zeroed(ap, mp * k);
        for (d, &v) in ap.iter_mut().zip(a) {
            *d = v as f64;
        }
        let mut sap = sa.to_vec();
        sap.resize(mp * blocks, 0.0);
        let tiles = Tiles {
            a: ap,
            sa: &sap,
            packed,
            scales,
            k,
            block,
            blocks,
            mode,
        };
        blocked::gemm(&tiles, m, n, m * n * k)
    })
}

struct Tiles<'a> {
    a: &'a [f64],
    sa: &'a [f64],
    packed: &'a [f64],
    scales: &'a [f64],
    k: usize,
    block: usize,
    blocks: usize,
    mode: F64Blocks,
}

impl MicroKernel for Tiles<'_> {
    const MR: usize = MR;
    const TASK_ROWS: usize = MR * 8;

    fn panel_bytes(&self) -> usize {
        NR * self.k * 8
    }

    fn tile(&self, i0: usize, p: usize, mut out: TileOut<'_>) {
        let (k, blocks) = (self.k, self.blocks);
        let mut tile = [0f32; MR * NR];
        let args = (
            &self.a[i0 * k..(i0 + MR) * k],
            &self.sa[i0 * blocks..(i0 + MR) * blocks],
            &self.packed[p * NR * k..(p + 1) * NR * k],
            &self.scales[p * blocks * NR..(p + 1) * blocks * NR],
            (k, self.block),
        );
        // SAFETY: AVX-512 F/DQ are available (the dispatcher checked); the slices hold MR
        // rows of k values and their MR · blocks scales, one panel of NR · k values and its
        // blocks · NR scales.
        unsafe {
            match self.mode {
                F64Blocks::PowerOfTwo => kernel_4x32::<false>(args, &mut tile),
                F64Blocks::RealScales => kernel_4x32::<true>(args, &mut tile),
                F64Blocks::Split { threshold } => {
                    // Two sums per output need twice the registers: two rows at a time.
                    let (a, sa, panel, sb, dims) = args;
                    let (top, bottom) = tile.split_at_mut(2 * NR);
                    for (h, half) in [top, bottom].into_iter().enumerate() {
                        let rows = (&a[2 * h * k..], &sa[2 * h * blocks..]);
                        kernel_split_2x32((rows.0, rows.1, panel, sb, dims), threshold, half);
                    }
                }
            }
        }
        out.store(&tile);
    }
}

/// The operands of one tile: MR rows of W and their scales, one panel and its scales, (k,
/// block).
type TileArgs<'a> = (&'a [f64], &'a [f64], &'a [f64], &'a [f64], (usize, usize));

/// MR rows against one panel, block by block: the exact f64 block dots (FMA chains), each
/// times sa · sb (exact), rounded once to f32 (`REAL`: with the residual's nudge) and added
/// to the f32 sums.
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn kernel_4x32<const REAL: bool>(
    (a, sa, panel, sb, (k, block)): TileArgs<'_>,
    tile: &mut [f32; MR * NR],
) {
    let blocks = k.div_ceil(block);
    let (pa, pb) = (a.as_ptr(), panel.as_ptr());
    let mut y = [[_mm256_setzero_ps(); 4]; MR];
    for blk in 0..blocks {
        let mut acc = [[_mm512_setzero_pd(); 4]; MR];
        for kk in blk * block..((blk + 1) * block).min(k) {
            // SAFETY: kk < k: inside each of the MR rows and the panel's k groups of NR.
            unsafe {
                let bq: [__m512d; 4] =
                    std::array::from_fn(|q| _mm512_loadu_pd(pb.add(kk * NR + 8 * q)));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_pd(*pa.add(r * k + kk));
                    for (acc_rq, &b) in acc_r.iter_mut().zip(&bq) {
                        *acc_rq = _mm512_fmadd_pd(av, b, *acc_rq);
                    }
                }
            }
        }
        for (r, (acc_r, y_r)) in acc.iter().zip(y.iter_mut()).enumerate() {
            let s = _mm512_set1_pd(sa[r * blocks + blk]);
            for (q, (&dot, y_rq)) in acc_r.iter().zip(y_r.iter_mut()).enumerate() {
                // SAFETY: 8 scales at blk · NR + 8q, inside the panel's blocks · NR.
                let sbq = unsafe { _mm512_loadu_pd(sb.as_ptr().add(blk * NR + 8 * q)) };
                // sa · sb is exact (a power of two, or two f32 significands in 53 bits).
                let scale = _mm512_mul_pd(s, sbq);
                let v = if REAL {
                    round_once_8(dot, scale)
                } else {
                    // Exact: an integer below 2^53 times a power of two in f64's range; one
                    // rounding to f32.
                    _mm512_cvtpd_ps(_mm512_mul_pd(dot, scale))
                };
                *y_rq = _mm256_add_ps(*y_rq, v);
            }
        }
    }
    for (r, y_r) in y.iter().enumerate() {
        for (q, &v) in y_r.iter().enumerate() {
            // SAFETY: the tile holds MR rows of NR f32.
            unsafe { _mm256_storeu_ps(tile.as_mut_ptr().add(r * NR + 8 * q), v) };
        }
    }
}

/// dot · s rounded once to f32, for an exact integer |dot| < 2^53 and s > 0 whose product
/// stays far inside f64's normal range (f32 scales: 2^±300 at most): the f64 product p and
/// its exact residual e = dot · s − p (one FMA), then [`odd_f32`] — `codec::exact::round_once`'s
/// fast path lane by lane. A zero dot gives +0; a NaN scale NaN.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn round_once_8(dot: __m512d, s: __m512d) -> __m256 {
    let p = _mm512_mul_pd(dot, s);
    odd_f32(p, _mm512_fmsub_pd(dot, s, p))
}

/// The f32 nearest to p + e, for an f64 p and the exact remainder e of a value below half an
/// ulp of p: p moved one step toward e when p is even and e ≠ 0 (round to odd, 53 ≥ 24 + 2
/// bits, so the f32 rounding that follows is the correct one). No nudge for a NaN e (the
/// compare is ordered).
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn odd_f32(p: __m512d, e: __m512d) -> __m256 {
    let bits = _mm512_castpd_si512(p);
    let even = _mm512_testn_epi64_mask(bits, _mm512_set1_epi64(1));
    let inexact = _mm512_cmp_pd_mask::<_CMP_NEQ_OQ>(e, _mm512_setzero_pd());
    // +1 (away from zero) when e has p's sign, else −1.
    let differ = _mm512_srai_epi64::<63>(_mm512_xor_si512(_mm512_castpd_si512(e), bits));
    let step = _mm512_or_si512(differ, _mm512_set1_epi64(1));
    let odd = _mm512_mask_add_epi64(bits, even & inexact, bits, step);
    _mm512_cvtpd_ps(_mm512_castsi512_pd(odd))
}

/// Two rows against one panel for integers too wide for one exact f64 sum (MXFP8 E5M2, up to
/// 2^31.8): each product (exact: few significant bits) goes to the low sum when its
/// magnitude is below `threshold`, else to the high one — the caller's bound keeps both
/// exact. A block's dot is then hi + lo exactly: their f64 sum and its error (Knuth's
/// two-sum), scaled by the power-of-two scales (exact), rounded once by [`odd_f32`].
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn kernel_split_2x32(
    (a, sa, panel, sb, (k, block)): TileArgs<'_>,
    threshold: f64,
    tile: &mut [f32],
) {
    let blocks = k.div_ceil(block);
    let (pa, pb) = (a.as_ptr(), panel.as_ptr());
    let t = _mm512_set1_pd(threshold);
    let mut y = [[_mm256_setzero_ps(); 4]; 2];
    for blk in 0..blocks {
        let (mut hi, mut lo) = ([[_mm512_setzero_pd(); 4]; 2], [[_mm512_setzero_pd(); 4]; 2]);
        for kk in blk * block..((blk + 1) * block).min(k) {
            // SAFETY: kk < k: inside each of the two rows and the panel's k groups of NR.
            unsafe {
                let bq: [__m512d; 4] =
                    std::array::from_fn(|q| _mm512_loadu_pd(pb.add(kk * NR + 8 * q)));
                for r in 0..2 {
                    let av = _mm512_set1_pd(*pa.add(r * k + kk));
                    for (q, &b) in bq.iter().enumerate() {
                        let p = _mm512_mul_pd(av, b);
                        let big = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(_mm512_abs_pd(p), t);
                        hi[r][q] = _mm512_mask_add_pd(hi[r][q], big, hi[r][q], p);
                        lo[r][q] = _mm512_mask_add_pd(lo[r][q], !big, lo[r][q], p);
                    }
                }
            }
        }
        for r in 0..2 {
            let s = _mm512_set1_pd(sa[r * blocks + blk]);
            for q in 0..4 {
                // SAFETY: 8 scales at blk · NR + 8q, inside the panel's blocks · NR.
                let sbq = unsafe { _mm512_loadu_pd(sb.as_ptr().add(blk * NR + 8 * q)) };
                let (h, l) = (hi[r][q], lo[r][q]);
                let sum = _mm512_add_pd(h, l);
                let back = _mm512_sub_pd(sum, h);
                let err = _mm512_add_pd(
                    _mm512_sub_pd(h, _mm512_sub_pd(sum, back)),
                    _mm512_sub_pd(l, back),
                );
                let scale = _mm512_mul_pd(s, sbq);
                let v = odd_f32(_mm512_mul_pd(sum, scale), _mm512_mul_pd(err, scale));
                y[r][q] = _mm256_add_ps(y[r][q], v);
            }
        }
    }
    for (r, y_r) in y.iter().enumerate() {
        for (q, &v) in y_r.iter().enumerate() {
            // SAFETY: the half tile holds two rows of NR f32.
            unsafe { _mm256_storeu_ps(tile.as_mut_ptr().add(r * NR + 8 * q), v) };
        }
    }
}
