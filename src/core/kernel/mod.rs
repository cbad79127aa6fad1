//! Kernels: the quantized GEMMs and the f64 reference, behind one interface.
//!
//! Operands are stored for the kernels' convenience: W is `M × K` and x is kept transposed
//! (`N × K`), so that both operands are read along contiguous K — the layout that the blocked
//! MXFP4 format needs and that a SIMD micro-kernel wants.

pub mod int8;
pub mod mxfp4;
pub mod reference;
pub mod simd;

pub use mxfp4::Accumulator;

use crate::core::error::{Error, Result};
use crate::core::format::{Int8Config, Int8Matrix, MxConfig, MxMatrix};
use crate::core::matrix::{Matrix, shape_str};

/// Which GEMM to run and how its operands are quantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// The f64 product of the unquantized inputs (returned rounded to f32).
    Reference,
    Int8 {
        w: Int8Config,
        x: Int8Config,
    },
    /// Blocks run along K for both operands, so one block size and rule serve both.
    Mxfp4 {
        config: MxConfig,
        acc: Accumulator,
    },
}

/// Quantized operands, x transposed.
#[derive(Clone, Debug, PartialEq)]
pub enum Operands {
    Int8 {
        w: Int8Matrix,
        xt: Int8Matrix,
    },
    Mxfp4 {
        w: MxMatrix,
        xt: MxMatrix,
        acc: Accumulator,
    },
}

impl Operands {
    /// Dequantized W (`M × K`) and x (`K × N`): what the quantizer kept of each input.
    pub fn dequantized(&self) -> (Matrix, Matrix) {
        match self {
            Operands::Int8 { w, xt } => (w.dequantize(), xt.dequantize().transpose()),
            Operands::Mxfp4 { w, xt, .. } => (w.dequantize(), xt.dequantize().transpose()),
        }
    }

    /// Runs the integer kernel: y = W · x, `M × N`.
    pub fn multiply(&self) -> Matrix {
        match self {
            Operands::Int8 { w, xt } => int8::gemm(w, xt),
            Operands::Mxfp4 { w, xt, acc } => mxfp4::gemm(w, xt, *acc),
        }
    }
}

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

/// Quantizes W and x for `method`; `None` for the reference, which has nothing to quantize.
pub fn quantize(w: &Matrix, x: &Matrix, method: Method) -> Result<Option<Operands>> {
    check_shapes(w, x)?;
    let xt = x.transpose();
    Ok(match method {
        Method::Reference => None,
        Method::Int8 { w: cw, x: cx } => {
            // Checked here rather than in the quantizer so that indices are in x's own
            // orientation, not in that of its transpose.
            crate::core::format::int8::check_finite("W", w)?;
            crate::core::format::int8::check_finite("x", x)?;
            Some(Operands::Int8 {
                w: Int8Matrix::quantize(w, cw)?,
                xt: Int8Matrix::quantize(&xt, cx)?,
            })
        }
        Method::Mxfp4 { config, acc } => Some(Operands::Mxfp4 {
            w: MxMatrix::quantize(w, config)?,
            xt: MxMatrix::quantize(&xt, config)?,
            acc,
        }),
    })
}

/// The f64 reference y = W · x, `M × N` row-major.
pub fn reference(w: &Matrix, x: &Matrix) -> Result<Vec<f64>> {
    check_shapes(w, x)?;
    Ok(reference::gemm_f64(w, &x.transpose()))
}

/// y = W · x through `method`, as f32.
pub fn matmul(w: &Matrix, x: &Matrix, method: Method) -> Result<Matrix> {
    match quantize(w, x, method)? {
        Some(ops) => Ok(ops.multiply()),
        None => {
            let y = reference(w, x)?.into_iter().map(|v| v as f32).collect();
            Matrix::new(w.rows(), x.cols(), y)
        }
    }
}
