//! Operands of small integers with real scales — INT4 and INT8 per group, channel or tensor,
//! and the mixed pairs among them (W4A8: INT4 groups · INT8) — through the SIMD block kernel
//! that the MX formats use: the integers as bytes, one block per range of the common
//! refinement of the two segment grids, each block's exact i32 dot turned into its term by
//! INT's rule or the segment rule. Whatever the kernel does not cover (wider integers,
//! grids that do not nest, an f64 accumulator, a CPU without the kernel) returns `None`, and
//! the caller runs the portable rule, which is also the kernel's twin in tests.

use super::Accumulator;
use crate::core::format::fixed::Fixed8;
use crate::core::matrix::Matrix;
use crate::core::simd::{self, BlockRule, Isa};

/// The longest block the kernel takes: (int + 128) · int summed over a block stays in i32.
const MAX_BLOCK: usize = ((1u64 << 31) / (255 * 128)) as usize;

/// y = A · Bᵀ by INT's rule (`format::int_group::gemm`) on `isa`: the kernel when it
/// applies, else the portable rule. Every path gives the same bits.
pub fn int_gemm_with(isa: Isa, a: &Fixed8, b: &Fixed8) -> Matrix {
    int_rule(isa, a, b)
        .unwrap_or_else(|| crate::core::format::int_group::gemm(&a.widen(), &b.widen()))
}

/// y = A · Bᵀ by the segment rule (`kernel::segments::gemm`) on `isa`, likewise.
pub fn segment_gemm_with(isa: Isa, a: &Fixed8, b: &Fixed8, acc: Accumulator) -> Matrix {
    segment_rule(isa, a, b, acc)
        .unwrap_or_else(|| super::segments::gemm(&a.widen(), &b.widen(), acc))
}

/// INT's rule on `isa`, when the kernel applies.
pub fn int_rule(isa: Isa, a: &Fixed8, b: &Fixed8) -> Option<Matrix> {
    // INT's rule reads the scales as f32 and has no fractional bits.
    if a.frac != 0 || b.frac != 0 {
        return None;
    }
    run(isa, a, b, BlockRule::IntF32)
}

/// The segment rule (`kernel::segments::gemm`) on `isa`, when the kernel applies: f32
/// accumulation and scales that keep every term inside the fast path of `round_once`.
pub fn segment_rule(isa: Isa, a: &Fixed8, b: &Fixed8, acc: Accumulator) -> Option<Matrix> {
    if acc != Accumulator::F32 {
        return None;
    }
    run(isa, a, b, BlockRule::RoundOnce)
}

fn run(isa: Isa, a: &Fixed8, b: &Fixed8, rule: BlockRule) -> Option<Matrix> {
    let k = a.k;
    if b.k != k || k == 0 || a.rows == 0 || b.rows == 0 || a.seg == 0 || b.seg == 0 {
        return None;
    }
    // The refinement is one grid of blocks when the shorter segment divides the longer
    // (or the longer spans the row).
    let (short, long) = (a.seg.min(b.seg), a.seg.max(b.seg));
    if long < k && long % short != 0 {
        return None;
    }
    let block = short.min(k);
    if block > MAX_BLOCK {
        return None;
    }
    let (sa, sb) = (scales(a, block, rule)?, scales(b, block, rule)?);
    let y = simd::scaled_i8_gemm(
        isa,
        (&a.ints, &b.ints),
        (&sa, &sb),
        (a.rows, b.rows, k, block),
        rule,
    )?;
    Matrix::new(a.rows, b.rows, y).ok()
}

/// One scale per row and block (times 2^−frac), when every one suits `rule`: for the segment
/// rule finite, positive, an f32 significand (so that sa · sb is exact in f64) and an
/// exponent within ±200 (so that every term is a normal f64 far from the ends, the domain
/// where the kernel's round-once step is `round_once`'s).
fn scales(f: &Fixed8, block: usize, rule: BlockRule) -> Option<Vec<f64>> {
    let (segments, blocks) = (f.segments(), f.k.div_ceil(block));
    let unit = (-f64::from(f.frac)).exp2();
    let suits = |s: f64| match rule {
        BlockRule::IntF32 => true,
        BlockRule::RoundOnce => {
            s.is_finite()
                && s > 0.0
                && s.to_bits() & ((1 << 29) - 1) == 0
                && (2f64.powi(-200)..=2f64.powi(200)).contains(&s)
        }
    };
    let mut out = Vec::with_capacity(f.rows * blocks);
    for r in 0..f.rows {
        for blk in 0..blocks {
            let s = f.scales[r * segments + blk * block / f.seg] * unit;
            if !suits(s) {
                return None;
            }
            out.push(s);
        }
    }
    Some(out)
}
