//! The f64 reference product of the unquantized f32 inputs: what every error is measured against.

use crate::matrix::Matrix;

/// y = W · x in f64, `M × N` row-major. `xt` is x transposed (`N × K`), so both operands are
/// read along contiguous rows.
pub fn gemm_f64(w: &Matrix, xt: &Matrix) -> Vec<f64> {
    assert_eq!(w.cols(), xt.cols(), "reference GEMM: K must match");
    let mut out = Vec::with_capacity(w.rows() * xt.rows());
    for m in 0..w.rows() {
        let a = w.row(m);
        for n in 0..xt.rows() {
            let b = xt.row(n);
            out.push(
                a.iter()
                    .zip(b)
                    .map(|(&p, &q)| f64::from(p) * f64::from(q))
                    .sum(),
            );
        }
    }
    out
}
