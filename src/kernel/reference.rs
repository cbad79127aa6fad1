//! The f64 reference product of the unquantized f32 inputs: what every error is measured against.

use rayon::prelude::*;

use crate::matrix::Matrix;

/// Σ a·b in f64 with eight independent partial sums, so the compiler can vectorise the loop
/// (a single running sum would serialise on the add latency). The order of additions differs
/// from a plain loop only in the last bits of an f64, far below any f32 quantity.
fn dot_f64(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += f64::from(x[i]) * f64::from(y[i]);
        }
    }
    let tail: f64 = ra
        .iter()
        .zip(rb)
        .map(|(&p, &q)| f64::from(p) * f64::from(q))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// y = W · x in f64, `M × N` row-major. `xt` is x transposed (`N × K`), so both operands are
/// read along contiguous rows. Rows of y are computed in parallel.
pub fn gemm_f64(w: &Matrix, xt: &Matrix) -> Vec<f64> {
    assert_eq!(w.cols(), xt.cols(), "reference GEMM: K must match");
    let n = xt.rows();
    let mut out = vec![0.0f64; w.rows() * n];
    if n == 0 {
        return out;
    }
    out.par_chunks_mut(n)
        .with_min_len((1 << 16) / (w.cols() * n).max(1) + 1)
        .enumerate()
        .for_each(|(m, row)| {
            let a = w.row(m);
            for (j, y) in row.iter_mut().enumerate() {
                *y = dot_f64(a, xt.row(j));
            }
        });
    out
}
