//! MXFP4 GEMM the way hardware does it: per block an exact integer dot product of doubled
//! E2M1 codes, scaled by 2^(ea + eb − 2) and accumulated across blocks in f32 (or f64).

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;

use crate::core::error::{Error, Result};
use crate::core::format::MxMatrix;
use crate::core::format::e2m1;
use crate::core::format::e8m0;
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

/// Precision of the running sum across blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Accumulator {
    /// As tensor cores do.
    #[default]
    F32,
    /// A lab option that isolates the quantization error from the accumulation error.
    F64,
}

impl Accumulator {
    pub fn name(self) -> &'static str {
        match self {
            Accumulator::F32 => "f32",
            Accumulator::F64 => "f64",
        }
    }
}

impl fmt::Display for Accumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Accumulator {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Accumulator::F32),
            "f64" => Ok(Accumulator::F64),
            _ => Err(Error::Invalid(format!(
                "unknown accumulator '{}'; expected f32 or f64",
                crate::core::text::echo(s)
            ))),
        }
    }
}

/// Σ (2·Pa)(2·Pb) over one block: an exact integer (|·| ≤ 144 per element).
pub fn block_dot(a: &[u8], b: &[u8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&p, &q)| i32::from(e2m1::doubled(p)) * i32::from(e2m1::doubled(q)))
        .sum()
}

/// One block's contribution to an output element, before accumulation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockTerm {
    /// Σ (2Pa)(2Pb), exact.
    pub dot: i32,
    /// Scale bytes of the two blocks.
    pub scale_a: u8,
    pub scale_b: u8,
    /// dot · 2^(ea + eb − 2), exact in f64 (NaN if a scale is NaN).
    pub value: f64,
}

/// dot · 2^(ea + eb − 2), exact in f64; NaN if either scale is NaN.
fn scaled(dot: i32, scale_a: u8, scale_b: u8) -> f64 {
    match (e8m0::exponent(scale_a), e8m0::exponent(scale_b)) {
        (Some(ea), Some(eb)) => f64::from(dot) * e8m0::pow2(ea + eb - 2),
        _ => f64::NAN,
    }
}

fn block_term(a: &[u8], b: &[u8], scale_a: u8, scale_b: u8) -> BlockTerm {
    let dot = block_dot(a, b);
    BlockTerm {
        dot,
        scale_a,
        scale_b,
        value: scaled(dot, scale_a, scale_b),
    }
}

/// The block terms of output element (m, n).
pub fn cell_terms(w: &MxMatrix, xt: &MxMatrix, m: usize, n: usize) -> Vec<BlockTerm> {
    let (sa, sb) = (w.row_scales(m), xt.row_scales(n));
    w.row_codes(m)
        .chunks(w.block())
        .zip(xt.row_codes(n).chunks(xt.block()))
        .enumerate()
        .map(|(j, (a, b))| block_term(a, b, sa[j], sb[j]))
        .collect()
}

/// Sums block terms in order with the chosen accumulator. In f32 each term is first rounded
/// to f32 (the scaled block product as the hardware forms it), then added.
pub fn accumulate(terms: impl IntoIterator<Item = BlockTerm>, acc: Accumulator) -> f32 {
    match acc {
        Accumulator::F32 => terms.into_iter().fold(0.0f32, |s, t| s + t.value as f32),
        Accumulator::F64 => terms.into_iter().fold(0.0f64, |s, t| s + t.value) as f32,
    }
}

fn check(w: &MxMatrix, xt: &MxMatrix) {
    assert_eq!(w.k(), xt.k(), "MXFP4 GEMM: K must match");
    assert_eq!(w.block(), xt.block(), "MXFP4 GEMM: block sizes must match");
}

/// Twice the E2M1 value of every code, as i8: the integers the block dot products multiply.
fn doubled(codes: &[u8]) -> Vec<i8> {
    codes.iter().map(|&c| e2m1::doubled(c)).collect()
}

/// Σ a·b of doubled codes over one block, exact in i32 for any block shorter than 2^24 / 144.
fn dot_doubled(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&p, &q)| i32::from(p) * i32::from(q))
        .sum()
}

/// y = W · x as f32, `M × N`, on the fastest kernel this CPU has. `xt` is x transposed, so
/// both operands' blocks run along K.
pub fn gemm(w: &MxMatrix, xt: &MxMatrix, acc: Accumulator) -> Matrix {
    gemm_with(simd::active(), w, xt, acc)
}

/// [`gemm`] on a chosen instruction set (which must be available); every path gives the same
/// bits. The f64 accumulator always runs the portable kernel.
pub fn gemm_with(isa: Isa, w: &MxMatrix, xt: &MxMatrix, acc: Accumulator) -> Matrix {
    check(w, xt);
    if acc == Accumulator::F32
        && let Some(y) = simd::mx_gemm_f32(
            isa,
            w.codes(),
            xt.codes(),
            w.scales(),
            xt.scales(),
            (w.rows(), xt.rows(), w.k(), w.block()),
        )
    {
        return Matrix::new(w.rows(), xt.rows(), y).expect("shape");
    }
    gemm_portable(w, xt, acc)
}

/// The portable kernel, the scalar twin of the SIMD ones. Rows of y are computed in parallel;
/// each element's block order, and so its rounding, is the same as in [`cell_terms`] +
/// [`accumulate`].
fn gemm_portable(w: &MxMatrix, xt: &MxMatrix, acc: Accumulator) -> Matrix {
    let (k, block, n) = (w.k(), w.block(), xt.rows());
    let (dw, dx) = (doubled(w.codes()), doubled(xt.codes()));
    let mut y = vec![0.0f32; w.rows() * n];
    if n > 0 && k > 0 {
        y.par_chunks_mut(n)
            .with_min_len((1 << 16) / (k * n).max(1) + 1)
            .enumerate()
            .for_each(|(m, row)| {
                let (a, sa) = (&dw[m * k..(m + 1) * k], w.row_scales(m));
                for (j, out) in row.iter_mut().enumerate() {
                    let (b, sb) = (&dx[j * k..(j + 1) * k], xt.row_scales(j));
                    let terms =
                        a.chunks(block)
                            .zip(b.chunks(block))
                            .enumerate()
                            .map(|(i, (a, b))| {
                                let dot = dot_doubled(a, b);
                                BlockTerm {
                                    dot,
                                    scale_a: sa[i],
                                    scale_b: sb[i],
                                    value: scaled(dot, sa[i], sb[i]),
                                }
                            });
                    *out = accumulate(terms, acc);
                }
            });
    }
    Matrix::new(w.rows(), n, y).expect("shape")
}
