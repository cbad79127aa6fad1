//! The MX formats whose elements are small integers once scaled by 2^frac — MXINT8 (q) and
//! MXFP6 E2M3 (8·v), |int| ≤ 127 — through the SIMD block kernel that MXFP4 uses, with the
//! sign trick for signed bytes. Every other case (an f64 accumulator, mixed elements or block
//! sizes, wider integers, a block too long for an exact f32 dot) and every CPU without the
//! kernel take the segment rule, which is also what the kernel computes, bit for bit.

use super::Accumulator;
use super::segments;
use crate::core::format::mx_element::MxElementMatrix;
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

/// y = W · x (`xt` is xᵀ) by the MX block rule.
pub fn gemm(w: &MxElementMatrix, xt: &MxElementMatrix, acc: Accumulator) -> Matrix {
    gemm_with(simd::active(), w, xt, acc)
}

/// [`gemm`] on a chosen instruction set; every path gives the same bits.
pub fn gemm_with(isa: Isa, w: &MxElementMatrix, xt: &MxElementMatrix, acc: Accumulator) -> Matrix {
    fast(isa, w, xt, acc).unwrap_or_else(|| segments::gemm_recycling(w.fixed(), xt.fixed(), acc))
}

/// The SIMD kernel, when it applies.
fn fast(isa: Isa, w: &MxElementMatrix, xt: &MxElementMatrix, acc: Accumulator) -> Option<Matrix> {
    let el = *w.element();
    if acc != Accumulator::F32
        || el != *xt.element()
        || w.block() != xt.block()
        || w.k() != xt.k()
        // |dot| ≤ block · 127² must stay below 2^24 for the exact f32 route.
        || w.block() as u64 * 127 * 127 >= 1 << 24
    {
        return None;
    }
    // The integers as bytes, when every one lies in −127..=127 (so no x byte is −128): one
    // table of the 256 codes, then a lookup per element (0x80 marks "does not fit").
    let table: [u8; 256] = std::array::from_fn(|c| {
        let v = el.to_int(c as u8);
        if (-127..=127).contains(&v) {
            v as i8 as u8
        } else {
            0x80
        }
    });
    let ints = |q: &MxElementMatrix| simd::map_bytes(isa, &table, q.codes(), 0x80);
    let (a, b) = (ints(w)?, ints(xt)?);
    let (m, n, k) = (w.rows(), xt.rows(), w.k());
    let y = simd::mx_gemm_i8(
        isa,
        (&a, &b),
        (w.scales(), xt.scales()),
        (m, n, k, w.block()),
        el.frac(),
    )?;
    Matrix::new(m, n, y).ok()
}
