//! Textbook predictions beside the measurements: each element's rounding error modelled as
//! independent uniform noise of variance Δ²/12, Δ the grid step where the element lies. When
//! the measured SQNR departs from the prediction, the data breaks the model (clipping,
//! flushing, errors that correlate with the signal).

use crate::core::format::{Int8Matrix, MxMatrix, e2m1, e8m0};
use crate::core::matrix::Matrix;

/// Per-element noise variance of an INT8 operand: scale²/12 for the element's tensor or row.
pub fn int8_noise(q: &Int8Matrix) -> Vec<f64> {
    let mut v = Vec::with_capacity(q.rows() * q.k());
    for r in 0..q.rows() {
        let s = f64::from(q.row_params(r).scale);
        v.extend(std::iter::repeat_n(s * s / 12.0, q.k()));
    }
    v
}

/// Per-element noise variance of an MXFP4 operand: (local E2M1 step · 2^e)²/12 inside the
/// grid, the actual squared clipping error beyond ±6, 0 for NaN blocks.
pub fn mx_noise(q: &MxMatrix, original: &Matrix) -> Vec<f64> {
    let mut v = Vec::with_capacity(q.rows() * q.k());
    for r in 0..q.rows() {
        let scales = q.row_scales(r);
        for (k, &x) in original.row(r).iter().enumerate() {
            let Some(e) = e8m0::exponent(scales[k / q.block()]) else {
                v.push(0.0);
                continue;
            };
            let s = e8m0::pow2(e);
            let a = f64::from(x.abs()) / s;
            v.push(if a > f64::from(e2m1::MAX) {
                ((a - f64::from(e2m1::MAX)) * s).powi(2)
            } else {
                let step = if a < 2.0 {
                    0.5
                } else if a < 4.0 {
                    1.0
                } else {
                    2.0
                };
                (step * s).powi(2) / 12.0
            });
        }
    }
    v
}

/// The modelled noise variance of one element `x` of a format whose element is `el`, scaled
/// by `scale`: Δ²/12 with Δ the grid step at |x| / scale, or the squared clipping error
/// beyond ±max; 0 for a NaN scale (a NaN block is counted apart).
pub fn element_noise(el: &crate::core::codec::minifloat::Element, scale: f64, x: f32) -> f64 {
    if !scale.is_finite() || scale == 0.0 {
        return 0.0;
    }
    let a = f64::from(x.abs()) / scale;
    if a > el.max() {
        return ((a - el.max()) * scale).powi(2);
    }
    let step = el.step_at(a) * scale;
    step * step / 12.0
}

/// Predicted SQNR (dB) of an operand with per-element noise variances `noise`.
pub fn operand_sqnr_db(original: &[f32], noise: &[f64]) -> f64 {
    let signal: f64 = original.iter().map(|&v| f64::from(v).powi(2)).sum();
    super::error::db(signal, noise.iter().sum())
}

/// Predicted SQNR (dB) of y = W·x when W (`M × K`) and xᵀ (`N × K`) carry independent
/// zero-mean noise of the given per-element variances:
/// E Σ err² = Σ_k (Σ_m σw²)(Σ_n x²) + (Σ_m w²)(Σ_n σx²) + (Σ_m σw²)(Σ_n σx²).
pub fn output_sqnr_db(
    w: &Matrix,
    w_noise: &[f64],
    xt: &Matrix,
    x_noise: &[f64],
    reference: &[f64],
) -> f64 {
    let k = w.cols();
    let col_sums = |m: &Matrix, f: &dyn Fn(usize) -> f64| {
        let mut s = vec![0.0f64; k];
        for r in 0..m.rows() {
            for (c, acc) in s.iter_mut().enumerate() {
                *acc += f(r * k + c);
            }
        }
        s
    };
    let a = col_sums(w, &|i| w_noise[i]);
    let c = col_sums(w, &|i| f64::from(w.data()[i]).powi(2));
    let b = col_sums(xt, &|i| f64::from(xt.data()[i]).powi(2));
    let d = col_sums(xt, &|i| x_noise[i]);
    let noise: f64 = (0..k)
        .map(|i| a[i] * b[i] + c[i] * d[i] + a[i] * d[i])
        .sum();
    let signal: f64 = reference.iter().map(|r| r * r).sum();
    super::error::db(signal, noise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::format::{Int8Config, MxConfig};

    #[test]
    fn int8_noise_is_scale_squared_over_twelve() {
        let m = Matrix::from_rows(&[[1.27, -1.27]]).unwrap();
        let q = Int8Matrix::quantize(&m, Int8Config::ACTIVATIONS).unwrap();
        let s = f64::from(q.params()[0].scale);
        assert_eq!(int8_noise(&q), vec![s * s / 12.0; 2]);
    }

    #[test]
    fn mx_noise_uses_the_local_step_and_the_clipping_error() {
        // amax 7.5 → e = 0 (floor); 7.5 clips by 1.5; 3.0 sits in the step-1 region;
        // 0.3 in the step-0.5 region.
        let m = Matrix::from_rows(&[[7.5, 3.0, 0.3]]).unwrap();
        let q = MxMatrix::quantize(&m, MxConfig::default()).unwrap();
        assert_eq!(mx_noise(&q, &m), vec![1.5 * 1.5, 1.0 / 12.0, 0.25 / 12.0]);
    }

    #[test]
    fn output_prediction_by_hand() {
        // W = [[1, 2]], x = [[3], [4]] (xᵀ = [[3, 4]]), σw² = [0.1, 0.2], σx² = [0.01, 0.02].
        let w = Matrix::from_rows(&[[1.0, 2.0]]).unwrap();
        let xt = Matrix::from_rows(&[[3.0, 4.0]]).unwrap();
        // Σ_k: 0.1·9 + 1·0.01 + 0.1·0.01 + 0.2·16 + 4·0.02 + 0.2·0.02 = 4.195; y = 11.
        let want = 10.0 * (121.0f64 / 4.195).log10();
        let got = output_sqnr_db(&w, &[0.1, 0.2], &xt, &[0.01, 0.02], &[11.0]);
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }
}
