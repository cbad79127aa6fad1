//! Kernels: the exact GEMMs of each format (which the format registry calls) and the f64
//! reference.
//!
//! Operands are stored for the kernels' convenience: W is `M × K` and x is kept transposed
//! (`N × K`), so that both operands are read along contiguous K — the layout that the blocked
//! MXFP4 format needs and that a SIMD micro-kernel wants.

pub mod int8;
pub mod mx_int;
pub mod mxfp4;
pub mod reference;
pub mod scaled_i8;
pub mod segments;

pub use mxfp4::Accumulator;

use crate::core::error::{Error, Result};
use crate::core::matrix::{Matrix, shape_str};

/// Checks that W (`M × K`) and x (`K × N`) can be multiplied and are not empty.
pub fn check_shapes(w: &Matrix, x: &Matrix) -> Result<()> {
    if w.cols() != x.rows() {
        return Err(Error::Shape(format!(
            "K mismatch: W has shape {} and x has shape {}; W's columns must equal x's rows",
            shape_str(&[w.rows(), w.cols()]),
            shape_str(&[x.rows(), x.cols()])
        )));
    }
    if w.is_empty() || x.is_empty() {
        return Err(Error::Shape(format!(
            "empty operand: W has shape {} and x has shape {}",
            shape_str(&[w.rows(), w.cols()]),
            shape_str(&[x.rows(), x.cols()])
        )));
    }
    Ok(())
}

/// The f64 reference y = W · x, `M × N` row-major.
pub fn reference(w: &Matrix, x: &Matrix) -> Result<Vec<f64>> {
    check_shapes(w, x)?;
    Ok(reference::gemm_f64(w, &x.transpose()))
}
