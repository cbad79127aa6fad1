//! INT8 GEMM: i8 × i8 products accumulated exactly in integers, the gemmlowp zero-point
//! correction, then one f32 multiply by the combined scale.

use crate::core::format::Int8Matrix;
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

pub use crate::core::simd::{EXACT_I32_K, dot};

/// Every intermediate of one output element, as a front-end shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Int8Cell {
    /// Σ_k qW·qx, the raw integer accumulator.
    pub acc: i64,
    /// −zW·Σqx − zx·ΣqW + K·zW·zx: the three zero-point terms of gemmlowp's expansion.
    pub correction: i64,
    /// acc + correction = Σ (qW − zW)(qx − zx).
    pub corrected: i64,
    /// sW · sx, in f32.
    pub scale: f32,
    /// (corrected as f32) · scale.
    pub y: f32,
}

/// Row sums of the codes, needed by the zero-point correction.
pub fn row_sums(m: &Int8Matrix) -> Vec<i64> {
    row_sums_with(simd::active(), m)
}

/// [`row_sums`] on a chosen instruction set (the same integers on every one).
pub fn row_sums_with(isa: Isa, m: &Int8Matrix) -> Vec<i64> {
    use rayon::prelude::*;
    let sum = |r: usize| simd::code_sum(isa, m.row_codes(r));
    // Part of every GEMM: on the threads too when large, or it caps their speed-up. The
    // SIMD sum takes 64 codes an instruction, so below a few MB of codes a fork-join costs
    // more than it saves (two threads at n = 512 were faster with the sums serial).
    if simd::parallel(m.rows() * m.k()) {
        (0..m.rows()).into_par_iter().map(sum).collect()
    } else {
        (0..m.rows()).map(sum).collect()
    }
}

/// One output element from its row of W and column of x (a row of xᵀ).
pub fn cell(
    w: &Int8Matrix,
    xt: &Int8Matrix,
    m: usize,
    n: usize,
    w_sum: i64,
    x_sum: i64,
) -> Int8Cell {
    finish(
        w,
        xt,
        (m, n),
        dot(w.row_codes(m), xt.row_codes(n)),
        (w_sum, x_sum),
    )
}

/// An output element from its raw accumulator: the zero-point correction and the scale.
pub fn finish(
    w: &Int8Matrix,
    xt: &Int8Matrix,
    (m, n): (usize, usize),
    acc: i64,
    (w_sum, x_sum): (i64, i64),
) -> Int8Cell {
    let pw = w.row_params(m);
    let px = xt.row_params(n);
    let (zw, zx) = (i64::from(pw.zero_point), i64::from(px.zero_point));
    let correction = simd::Int8Epilogue::correction(zw, zx, w_sum, x_sum, w.k());
    let corrected = acc + correction;
    let scale = pw.scale * px.scale;
    Int8Cell {
        acc,
        correction,
        corrected,
        scale,
        y: corrected as f32 * scale,
    }
}

/// All output elements with their intermediates, `M × N` row-major.
pub fn gemm_cells(w: &Int8Matrix, xt: &Int8Matrix) -> Vec<Int8Cell> {
    assert_eq!(w.k(), xt.k(), "INT8 GEMM: K must match");
    let w_sums = row_sums(w);
    let x_sums = row_sums(xt);
    let mut out = Vec::with_capacity(w.rows() * xt.rows());
    for (m, &w_sum) in w_sums.iter().enumerate() {
        for (n, &x_sum) in x_sums.iter().enumerate() {
            out.push(cell(w, xt, m, n, w_sum, x_sum));
        }
    }
    out
}

/// y = W · x as f32, `M × N`, on the fastest kernel this CPU has. `xt` is x transposed and
/// quantized per row (= per column of x).
pub fn gemm(w: &Int8Matrix, xt: &Int8Matrix) -> Matrix {
    gemm_with(simd::active(), w, xt)
}

/// [`gemm`] on a chosen instruction set (which must be available). Every path gives the same
/// bits: the integer accumulators are exact, and the correction and scaling are shared.
pub fn gemm_with(isa: Isa, w: &Int8Matrix, xt: &Int8Matrix) -> Matrix {
    assert_eq!(w.k(), xt.k(), "INT8 GEMM: K must match");
    let (m, n, k) = (w.rows(), xt.rows(), w.k());
    simd::on_pool(m * n * k, || gemm_on(isa, w, xt, (m, n, k)))
}

/// [`gemm_with`]'s stages, on the thread it chose.
fn gemm_on(isa: Isa, w: &Int8Matrix, xt: &Int8Matrix, (m, n, k): (usize, usize, usize)) -> Matrix {
    let params = |q: &Int8Matrix, rows: usize| -> (Vec<i64>, Vec<f32>) {
        (0..rows)
            .map(|r| (i64::from(q.row_params(r).zero_point), q.row_params(r).scale))
            .unzip()
    };
    let (w_zero, w_scale) = params(w, m);
    let (x_zero, x_scale) = params(xt, n);
    // ΣqW enters the correction only times zx: with x symmetric (every zx 0, the default)
    // that term is 0 whatever the sums are, so the pass over W is skipped.
    let w_sum = if x_zero.iter().all(|&z| z == 0) {
        vec![0; m]
    } else {
        row_sums_with(isa, w)
    };
    let x_sum = row_sums_with(isa, xt);
    let e = simd::Int8Epilogue {
        w_zero: &w_zero,
        w_scale: &w_scale,
        w_sum: &w_sum,
        x_zero: &x_zero,
        x_scale: &x_scale,
        x_sum: &x_sum,
    };
    let dims = (m, n, k);
    let y = simd::int8_gemm(isa, w.codes(), xt.codes(), dims, &e)
        .unwrap_or_else(|| simd::int8_gemm_portable(w.codes(), xt.codes(), dims, &e));
    Matrix::new(m, n, y).expect("shape")
}
