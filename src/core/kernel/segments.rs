//! The GEMM of any two scaled-integer operands (DESIGN §7, "weights and activations are
//! chosen separately"): every format whose element values are integers times a power of two,
//! with one real scale per segment of K (an MX or NVFP4 block, an INT group, a channel, the
//! tensor), reduces to a [`Fixed`] operand. Two of them multiply over the common refinement of
//! their segment grids: per K-range where both scales are constant, the exact integer dot,
//! times both scales, rounded once to f32 and accumulated in f32 (or f64) in K order.
//!
//! This is the GEMM of the MX formats other than MXFP4 and of every mixed pair; it is also a
//! cross-check of MXFP4's own kernel, whose rule it shares.

use rayon::prelude::*;

use super::Accumulator;
use crate::core::codec::exact::round_once;
pub use crate::core::format::fixed::Fixed;
use crate::core::matrix::Matrix;

/// One term of an output element: a K-range where both scales are constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Term {
    pub start: usize,
    pub end: usize,
    pub scale_a: f64,
    pub scale_b: f64,
    /// Σ ia · ib over the range, exact.
    pub dot: i128,
    /// dot · 2^−(fa + fb) · sa · sb, rounded once to f32.
    pub value: f32,
}

/// The terms of `y[i][j]` in K order: one per range of the common refinement.
pub fn terms(a: &Fixed, b: &Fixed, i: usize, j: usize) -> Vec<Term> {
    let mut out = Vec::new();
    for_terms(a, b, i, j, narrow(a, b), |t| out.push(t));
    out
}

/// The narrowest sum every range's dot fits: |ia| · |ib| · (the longer segment) below 2^31
/// (i32, which the compiler vectorises) or 2^62 (i64), else i128.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sum {
    I32,
    I64,
    I128,
}

fn narrow(a: &Fixed, b: &Fixed) -> Sum {
    sum_for((max_int(a), max_int(b)), a.seg.max(b.seg))
}

/// The largest |integer| of an operand.
fn max_int(f: &Fixed) -> u64 {
    f.ints.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0)
}

/// [`narrow`] from the operands' largest |integers| and the longer segment.
fn sum_for((ma, mb): (u64, u64), seg: usize) -> Sum {
    let bound = u128::from(ma) * u128::from(mb) * seg as u128;
    if bound < 1 << 31 {
        Sum::I32
    } else if bound < 1 << 62 {
        Sum::I64
    } else {
        Sum::I128
    }
}

/// An operand's integers in the narrowest type that holds them (less memory to stream).
trait Int: Copy + Sync {
    fn wide(self) -> i64;
}

impl Int for i16 {
    fn wide(self) -> i64 {
        i64::from(self)
    }
}

impl Int for i32 {
    fn wide(self) -> i64 {
        i64::from(self)
    }
}

impl Int for i64 {
    fn wide(self) -> i64 {
        self
    }
}

/// Calls `f` on each term of `y[i][j]`; `narrow` ([`narrow`]) sums the dots in i64, which
/// gives the same integers as i128, faster.
fn for_terms(a: &Fixed, b: &Fixed, i: usize, j: usize, narrow: Sum, f: impl FnMut(Term)) {
    terms_of(a, b, (&a.ints, &b.ints), (i, j), narrow, f);
}

/// [`for_terms`] over the operands' integers as `ia`, `ib` (the same values, any width).
fn terms_of<T: Int>(
    a: &Fixed,
    b: &Fixed,
    (ia, ib): (&[T], &[T]),
    (i, j): (usize, usize),
    narrow: Sum,
    mut f: impl FnMut(Term),
) {
    let k = a.k;
    let (ra, rb) = (&ia[i * k..(i + 1) * k], &ib[j * k..(j + 1) * k]);
    let shift = -(a.frac + b.frac);
    let mut start = 0;
    while start < a.k {
        let end = (start / a.seg + 1) * a.seg;
        let end = end.min((start / b.seg + 1) * b.seg).min(a.k);
        let (x, y) = (&ra[start..end], &rb[start..end]);
        let dot: i128 = match narrow {
            Sum::I32 => i128::from(
                x.iter()
                    .zip(y)
                    .map(|(&p, &q)| p.wide() as i32 * q.wide() as i32)
                    .sum::<i32>(),
            ),
            Sum::I64 => i128::from(
                x.iter()
                    .zip(y)
                    .map(|(&p, &q)| p.wide() * q.wide())
                    .sum::<i64>(),
            ),
            Sum::I128 => x
                .iter()
                .zip(y)
                .map(|(&p, &q)| i128::from(p.wide()) * i128::from(q.wide()))
                .sum(),
        };
        let (sa, sb) = (a.scale(i, start), b.scale(j, start));
        f(Term {
            start,
            end,
            scale_a: sa,
            scale_b: sb,
            dot,
            value: round_once(dot, sa * sb, shift),
        });
        start = end;
    }
}

/// The sum of an element's terms in K order, in the accumulator's precision.
pub fn accumulate(terms: impl Iterator<Item = f32>, acc: Accumulator) -> f32 {
    match acc {
        Accumulator::F32 => terms.fold(0.0f32, |s, t| s + t),
        Accumulator::F64 => terms.fold(0.0f64, |s, t| s + f64::from(t)) as f32,
    }
}

/// y = A · Bᵀ for `a` (`M × K`, W) and `b` (`N × K`, xᵀ), `M × N`.
pub fn gemm(a: &Fixed, b: &Fixed, acc: Accumulator) -> Matrix {
    assert_eq!(a.k, b.k, "segment GEMM: operands disagree about K");
    if let Some(y) = same_blocks::gemm(a, b, acc) {
        return y;
    }
    gemm_general(a, b, acc)
}

/// [`gemm`] of two operands built for it, whose integer buffers then go back to this
/// thread's spares (`Fixed::recycle`) for the next one.
pub fn gemm_recycling(a: Fixed, b: Fixed, acc: Accumulator) -> Matrix {
    let y = gemm(&a, &b, acc);
    a.recycle();
    b.recycle();
    y
}

/// [`gemm`] by the general rule alone (the fast path's oracle in tests).
pub fn gemm_general(a: &Fixed, b: &Fixed, acc: Accumulator) -> Matrix {
    let (ma, mb) = (max_int(a), max_int(b));
    let sum = sum_for((ma, mb), a.seg.max(b.seg));
    let widest = ma.max(mb);
    if widest <= i16::MAX as u64 {
        let to = |f: &Fixed| f.ints.iter().map(|&v| v as i16).collect::<Vec<i16>>();
        return general_with(a, b, (&to(a), &to(b)), sum, acc);
    }
    if widest <= i32::MAX as u64 {
        let to = |f: &Fixed| f.ints.iter().map(|&v| v as i32).collect::<Vec<i32>>();
        return general_with(a, b, (&to(a), &to(b)), sum, acc);
    }
    general_with(a, b, (&a.ints, &b.ints), sum, acc)
}

fn general_with<T: Int>(
    a: &Fixed,
    b: &Fixed,
    ints: (&[T], &[T]),
    narrow: Sum,
    acc: Accumulator,
) -> Matrix {
    let (m, n) = (a.rows, b.rows);
    let mut y = vec![0f32; m * n];
    if n > 0 {
        y.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, out) in row.iter_mut().enumerate() {
                let mut s32 = 0.0f32;
                let mut s64 = 0.0f64;
                terms_of(a, b, ints, (i, j), narrow, |t| {
                    s32 += t.value;
                    s64 += f64::from(t.value);
                });
                *out = match acc {
                    Accumulator::F32 => s32,
                    Accumulator::F64 => s64 as f32,
                };
            }
        });
    }
    Matrix::new(m, n, y).expect("m × n values")
}

/// The common case of the rule, fast: both operands in blocks of the same length with
/// power-of-two scales (every MX pair of one block size). Then each term is one block, its
/// dot fits an i32 (or an i64) and is formed by a loop the compiler vectorises, and
/// `dot · 2^(ea + eb − fa − fb)` is exact in f64, so its one cast to f32 is `round_once`.
mod same_blocks {
    use rayon::prelude::*;

    use super::{Accumulator, Fixed};
    use crate::core::matrix::Matrix;
    use crate::core::simd::F64Blocks;

    /// The largest |scale exponent| taken: products of two stay far inside f64's range.
    const MAX_EXP: i32 = 400;
    /// Rows of W per pass.
    const ROWS: usize = 4;

    /// Whether every scale is NaN or a power of two within 2^±MAX_EXP.
    fn powers_of_two(scales: &[f64]) -> bool {
        scales.iter().all(|&s| {
            s.is_nan()
                || (s > 0.0
                    && s.to_bits() & ((1 << 52) - 1) == 0
                    && (s.to_bits() >> 52) as i32 - 1023 >= -MAX_EXP
                    && (s.to_bits() >> 52) as i32 - 1023 <= MAX_EXP)
        })
    }

    /// Whether every scale is a positive finite f32 value (so that the product of two is
    /// exact in f64 and far inside its normal range).
    fn f32_values(scales: &[f64]) -> bool {
        scales
            .iter()
            .all(|&s| s > 0.0 && s.is_finite() && f64::from(s as f32) == s)
    }

    /// `None` when the operands are not of this case.
    pub fn gemm(a: &Fixed, b: &Fixed, acc: Accumulator) -> Option<Matrix> {
        if a.seg != b.seg || a.seg == 0 {
            return None;
        }
        let pow2 = powers_of_two(&a.scales) && powers_of_two(&b.scales);
        let (ma, mb) = (super::max_int(a), super::max_int(b));
        let bound = u128::from(ma) * u128::from(mb) * a.seg as u128;
        // One term per element (one segment spans K: FP8's tensor and channel scales) sums
        // the same in either accumulator: 0 + t, in f32 or in f64 and back.
        let one_term = a.seg >= a.k;
        let real = !pow2 && one_term && f32_values(&a.scales) && f32_values(&b.scales);
        let mode = if real {
            F64Blocks::RealScales
        } else {
            F64Blocks::PowerOfTwo
        };
        if bound < 1 << 53
            && (acc == Accumulator::F32 || one_term)
            && (pow2 || real)
            && let Some(y) = exact_f64(a, b, mode)
        {
            return Some(y);
        }
        if !pow2 {
            return None;
        }
        // Too wide for one exact sum: two, where the CPU has the kernel and the split holds.
        if acc == Accumulator::F32
            && bound >= 1 << 53
            && crate::core::simd::has_exact_f64_blocks(crate::core::simd::active())
            && let Some(threshold) = split_threshold(a, b)
            && let Some(y) = exact_f64(a, b, F64Blocks::Split { threshold })
        {
            return Some(y);
        }
        if bound < 1 << 31 && ma.max(mb) <= i16::MAX as u64 {
            let narrow = |f: &Fixed| f.ints.iter().map(|&v| v as i16).collect::<Vec<i16>>();
            let (ia, ib) = (narrow(a), narrow(b));
            return Some(run_i16(a, b, acc, (&ia, &ib)));
        }
        if bound < 1 << 53 {
            let dot = |x: &[i64], y: &[i64]| -> i64 { x.iter().zip(y).map(|(&p, &q)| p * q).sum() };
            return Some(run(a, b, acc, (&a.ints, &b.ints), dot));
        }
        None
    }

    /// The widest significand (odd part) of any integer of `f`, in bits.
    fn significand_bits(f: &Fixed) -> u32 {
        f.ints
            .iter()
            .filter(|&&v| v != 0)
            .map(|v| 64 - v.unsigned_abs().leading_zeros() - v.trailing_zeros())
            .max()
            .unwrap_or(0)
    }

    /// The threshold of [`F64Blocks::Split`] for these operands, when the split keeps both
    /// sums exact: with T = 2^τ, τ = 52 − ⌈log2 block⌉, the low sum (products below T) stays
    /// below 2^52; every product is exact (the significands' widths sum to at most 53), and one
    /// of at least T is a multiple of 2^g, g = τ − (the widths' sum) + 1, so the high sum is
    /// exact while block · max|a| · max|b| < 2^(53 + g). MXFP8 E5M2 (integers to 2^31.8, 3-bit
    /// significands) passes with room to spare.
    fn split_threshold(a: &Fixed, b: &Fixed) -> Option<f64> {
        let (ma, mb) = (super::max_int(a), super::max_int(b));
        if ma >= 1 << 53 || mb >= 1 << 53 {
            return None;
        }
        let widths = significand_bits(a) + significand_bits(b);
        let tau = 52 - a.seg.next_power_of_two().trailing_zeros() as i32;
        let g = (tau - widths as i32 + 1).max(0);
        let bound = u128::from(ma) * u128::from(mb) * a.seg as u128;
        (widths <= 53 && tau > 0 && g < 64 && bound < 1u128 << (53 + g))
            .then(|| crate::core::codec::e8m0::pow2(tau))
    }

    /// The SIMD twin of [`run`] (f32 sums) and of the general rule's `round_once`, where the
    /// CPU has it: the integers as f64, x's scales times 2^−(fa + fb).
    fn exact_f64(a: &Fixed, b: &Fixed, mode: F64Blocks) -> Option<Matrix> {
        let isa = crate::core::simd::active();
        if !crate::core::simd::has_exact_f64_blocks(isa) {
            return None;
        }
        let shift = crate::core::codec::e8m0::pow2(-(a.frac + b.frac));
        let sb: Vec<f64> = b.scales.iter().map(|&s| s * shift).collect();
        let y = crate::core::simd::exact_f64_block_gemm(
            isa,
            (&a.ints, &b.ints),
            (&a.scales, &sb),
            (a.rows, b.rows, a.k, a.seg),
            mode,
        )?;
        Matrix::new(a.rows, b.rows, y).ok()
    }

    /// [`run`] for i16 integers, four rows of W at a time through `simd::block_dots_4`.
    fn run_i16(a: &Fixed, b: &Fixed, acc: Accumulator, (ia, ib): (&[i16], &[i16])) -> Matrix {
        let (m, n, k, seg) = (a.rows, b.rows, a.k, a.seg);
        let blocks = k.div_ceil(seg);
        let shift = crate::core::codec::e8m0::pow2(-(a.frac + b.frac));
        let isa = crate::core::simd::active();
        let mut y = vec![0f32; m * n];
        if n == 0 {
            return Matrix::new(m, n, y).expect("m × n values");
        }
        y.par_chunks_mut(ROWS * n)
            .enumerate()
            .for_each(|(t, rows)| {
                let i0 = t * ROWS;
                let count = rows.len() / n;
                // Missing rows of the last group repeat its first row (their sums are dropped).
                let xs: [&[i16]; ROWS] = std::array::from_fn(|r| {
                    let i = i0 + if r < count { r } else { 0 };
                    &ia[i * k..(i + 1) * k]
                });
                let mut dots = vec![[0i32; ROWS]; blocks];
                for j in 0..n {
                    let rb = &ib[j * k..(j + 1) * k];
                    let sb = &b.scales[j * blocks..(j + 1) * blocks];
                    crate::core::simd::block_dots_4(isa, xs, rb, seg, &mut dots).unwrap_or_else(
                        || {
                            crate::core::simd::block_dots_4_portable(xs, rb, seg, &mut dots);
                        },
                    );
                    for r in 0..count {
                        let i = i0 + r;
                        let sa = &a.scales[i * blocks..(i + 1) * blocks];
                        let (mut s32, mut s64) = (0.0f32, 0.0f64);
                        for (blk, d) in dots.iter().enumerate() {
                            // Exact: |dot| < 2^31 and the scale a power of two in f64's range.
                            let value = (f64::from(d[r]) * (sa[blk] * sb[blk] * shift)) as f32;
                            s32 += value;
                            s64 += f64::from(value);
                        }
                        rows[r * n + j] = match acc {
                            Accumulator::F32 => s32,
                            Accumulator::F64 => s64 as f32,
                        };
                    }
                }
            });
        Matrix::new(m, n, y).expect("m × n values")
    }

    fn run<T: Sync>(
        a: &Fixed,
        b: &Fixed,
        acc: Accumulator,
        (ia, ib): (&[T], &[T]),
        dot: impl Fn(&[T], &[T]) -> i64 + Sync,
    ) -> Matrix {
        let (m, n, k, seg) = (a.rows, b.rows, a.k, a.seg);
        let blocks = k.div_ceil(seg);
        let shift = crate::core::codec::e8m0::pow2(-(a.frac + b.frac));
        let mut y = vec![0f32; m * n];
        if n > 0 {
            // Rows of W in fours: each block of xᵀ is read once for four dots, and the four
            // f32 sums are independent chains.
            y.par_chunks_mut(ROWS * n)
                .enumerate()
                .for_each(|(t, rows)| {
                    let i0 = t * ROWS;
                    let count = rows.len() / n;
                    for j in 0..n {
                        let rb = &ib[j * k..(j + 1) * k];
                        let sb = &b.scales[j * blocks..(j + 1) * blocks];
                        let mut s32 = [0.0f32; ROWS];
                        let mut s64 = [0.0f64; ROWS];
                        for (blk, &sbk) in sb.iter().enumerate() {
                            let span = blk * seg..((blk + 1) * seg).min(k);
                            let y = &rb[span.clone()];
                            for r in 0..count {
                                let i = i0 + r;
                                let x = &ia[i * k + span.start..i * k + span.end];
                                let scale = a.scales[i * blocks + blk] * sbk * shift;
                                // Exact: |dot| < 2^53 and the scale a power of two in f64's range.
                                let value = (dot(x, y) as f64 * scale) as f32;
                                s32[r] += value;
                                s64[r] += f64::from(value);
                            }
                        }
                        for r in 0..count {
                            rows[r * n + j] = match acc {
                                Accumulator::F32 => s32[r],
                                Accumulator::F64 => s64[r] as f32,
                            };
                        }
                    }
                });
        }
        Matrix::new(m, n, y).expect("m × n values")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path against the general rule on MX-like operands: random integers at every
    /// bound of the two dot widths, scales from 2^−140 to 2^140 and NaN, partial last blocks.
    #[test]
    fn same_blocks_is_the_general_rule_bit_for_bit() {
        let mut count = 0u64;
        let mut next = move || {
            count += 1;
            crate::core::rng::splitmix64(count)
        };
        for (max, frac) in [
            (12i64, 1),
            (127, 6),
            (448, 4),
            (60, 3),
            (229_376, 9),
            (1 << 30, 16),
        ] {
            for (rows, k, seg) in [
                (3usize, 70usize, 32usize),
                (2, 64, 16),
                (4, 5, 32),
                (1, 33, 1),
            ] {
                let mut operand = |rows: usize| {
                    let blocks = k.div_ceil(seg);
                    let ints = (0..rows * k)
                        .map(|_| (next() % (2 * max as u64 + 1)) as i64 - max)
                        .collect();
                    let scales = (0..rows * blocks)
                        .map(|_| match next() % 20 {
                            0 => f64::NAN,
                            _ => 2f64.powi((next() % 281) as i32 - 140),
                        })
                        .collect();
                    fixed(rows, k, ints, frac, seg, scales)
                };
                let (a, b) = (operand(rows), operand(rows + 1));
                for acc in [Accumulator::F32, Accumulator::F64] {
                    let fast = gemm(&a, &b, acc);
                    let general = gemm_general(&a, &b, acc);
                    let bits = |m: &Matrix| {
                        m.data()
                            .iter()
                            .map(|v| if v.is_nan() { u32::MAX } else { v.to_bits() })
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(
                        bits(&fast),
                        bits(&general),
                        "max {max} k {k} seg {seg} {acc:?}"
                    );
                }
            }
        }
    }

    fn fixed(
        rows: usize,
        k: usize,
        ints: Vec<i64>,
        frac: i32,
        seg: usize,
        scales: Vec<f64>,
    ) -> Fixed {
        Fixed {
            rows,
            k,
            ints,
            frac,
            seg,
            scales,
        }
    }

    #[test]
    fn the_common_refinement_of_two_grids() {
        // K = 10: segments of 4 against segments of 3 → ranges 0..3, 3..4, 4..6, 6..8, 8..9,
        // 9..10.
        let a = fixed(1, 10, vec![1; 10], 0, 4, vec![1.0, 2.0, 4.0]);
        let b = fixed(1, 10, vec![1; 10], 0, 3, vec![1.0, 10.0, 100.0, 1000.0]);
        let t = terms(&a, &b, 0, 0);
        let ranges: Vec<(usize, usize)> = t.iter().map(|t| (t.start, t.end)).collect();
        assert_eq!(ranges, [(0, 3), (3, 4), (4, 6), (6, 8), (8, 9), (9, 10)]);
        let values: Vec<f32> = t.iter().map(|t| t.value).collect();
        // scale products: 1·1 ×3, 1·10 ×1, 2·10 ×2, 2·100 ×2, 4·100 ×1, 4·1000 ×1.
        assert_eq!(values, [3.0, 10.0, 40.0, 400.0, 400.0, 4000.0]);
        assert_eq!(gemm(&a, &b, Accumulator::F32).data(), [4853.0]);
    }

    #[test]
    fn fractions_and_signs() {
        // 0.5 · −0.25 (as 1 · 2^−1 and −1 · 2^−2) with scales 8 and 0.5.
        let a = fixed(1, 1, vec![1], 1, 1, vec![8.0]);
        let b = fixed(1, 1, vec![-1], 2, 1, vec![0.5]);
        assert_eq!(gemm(&a, &b, Accumulator::F32).data(), [-0.5]);
        let nan = fixed(1, 1, vec![1], 0, 1, vec![f64::NAN]);
        assert!(gemm(&nan, &b, Accumulator::F32).data()[0].is_nan());
    }
}
