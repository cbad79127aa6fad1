//! Measurements of a quantized run: errors, histograms, occupancy, textbook predictions.

pub mod error;
pub mod histogram;
pub mod hotspots;
pub mod model;
pub mod occupancy;

pub use error::{ErrorStats, error_stats, operand_stats};

/// Signal-to-quantization-noise ratio in dB: 10·log10(Σ ref² / Σ (out − ref)²).
/// +∞ when the output is exact; −∞ when the reference is all zeros but the output is not.
pub fn sqnr_db(out: &[f32], reference: &[f64]) -> f64 {
    let (signal, noise) = out
        .iter()
        .zip(reference)
        .fold((0.0f64, 0.0f64), |(s, n), (&o, &r)| {
            let e = f64::from(o) - r;
            (s + r * r, n + e * e)
        });
    error::db(signal, noise)
}

/// Largest |out − ref|; NaN if any output is NaN.
pub fn max_abs_error(out: &[f32], reference: &[f64]) -> f64 {
    out.iter()
        .zip(reference)
        .map(|(&o, &r)| (f64::from(o) - r).abs())
        .fold(0.0, |m: f64, e| {
            if e.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(e)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqnr_by_hand() {
        // signal 3² + 4² = 25, noise 0.5² = 0.25: 10·log10(100) = 20 dB.
        assert_eq!(sqnr_db(&[3.5, 4.0], &[3.0, 4.0]), 20.0);
        assert_eq!(sqnr_db(&[3.0], &[3.0]), f64::INFINITY);
        assert_eq!(sqnr_db(&[1.0], &[0.0]), f64::NEG_INFINITY);
    }

    #[test]
    fn max_abs_by_hand() {
        assert_eq!(max_abs_error(&[1.0, -2.5, 3.0], &[1.25, -2.0, 3.0]), 0.5);
        assert!(max_abs_error(&[f32::NAN, 1.0], &[0.0, 0.0]).is_nan());
    }
}
