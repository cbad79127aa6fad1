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
    for_terms(a, b, i, j, |t| out.push(t));
    out
}

fn for_terms(a: &Fixed, b: &Fixed, i: usize, j: usize, mut f: impl FnMut(Term)) {
    let (ra, rb) = (a.row(i), b.row(j));
    let shift = -(a.frac + b.frac);
    let mut start = 0;
    while start < a.k {
        let end = (start / a.seg + 1) * a.seg;
        let end = end.min((start / b.seg + 1) * b.seg).min(a.k);
        let dot: i128 = ra[start..end]
            .iter()
            .zip(&rb[start..end])
            .map(|(&p, &q)| i128::from(p) * i128::from(q))
            .sum();
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
    let (m, n) = (a.rows, b.rows);
    let mut y = vec![0f32; m * n];
    if n > 0 {
        y.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, out) in row.iter_mut().enumerate() {
                let mut s32 = 0.0f32;
                let mut s64 = 0.0f64;
                for_terms(a, b, i, j, |t| {
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

#[cfg(test)]
mod tests {
    use super::*;

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
