//! Error statistics of a quantized result against its reference.

use serde::Serialize;

/// Relative errors divide by max(|ref|, floor), with floor = REL_FLOOR_FRACTION · RMS(ref),
/// so that reference values near zero do not explode the relative error.
pub const REL_FLOOR_FRACTION: f64 = 0.01;

/// Everything measured about one error vector e = out − ref.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ErrorStats {
    /// Number of compared elements.
    pub count: usize,
    /// Outputs that are NaN or ±Inf (left out of every statistic below).
    pub non_finite: usize,
    pub mse: f64,
    pub rmse: f64,
    /// 10·log10(Σ ref² / Σ e²); +∞ (JSON null) when exact.
    pub sqnr_db: f64,
    pub max_abs: f64,
    pub mean_rel: f64,
    pub max_rel: f64,
    /// The floor used by the relative errors.
    pub rel_floor: f64,
    /// cos(out, ref); 1 when both are zero.
    pub cosine: f64,
    /// Percentiles of |e| (linear interpolation between order statistics, as numpy).
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Percentiles `ps` (0..=100) of unsorted values by numpy's default 'linear' method, using
/// selection rather than a full sort. `values` is reordered.
pub fn percentiles<const N: usize>(values: &mut [f64], ps: [f64; N]) -> [f64; N] {
    let n = values.len();
    let mut out = [f64::NAN; N];
    if n == 0 {
        return out;
    }
    // Smallest first: once rank `done` is selected, everything from it on is at least as
    // large as everything before it, so a higher rank is selected within values[done..]
    // (p50, p90, p99, p99.9 cost about 1.6 passes instead of 4).
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    order.sort_by(|&i, &j| ps[i].total_cmp(&ps[j]));
    let mut done = 0;
    for i in order {
        let pos = ps[i] / 100.0 * (n - 1) as f64;
        let lo = (pos.floor() as usize).max(done);
        let (_, &mut a, rest) = values[done..].select_nth_unstable_by(lo - done, f64::total_cmp);
        // The next order statistic is the smallest of what lies above.
        let b = rest.iter().copied().min_by(f64::total_cmp).unwrap_or(a);
        out[i] = a + (b - a) * (pos - lo as f64);
        done = lo;
    }
    out
}

/// Percentile `p` (0..=100) of sorted values, numpy's default 'linear' method.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = p / 100.0 * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// 10·log10(signal / noise) with the conventions of [`ErrorStats::sqnr_db`].
pub fn db(signal: f64, noise: f64) -> f64 {
    if signal.is_nan() || noise.is_nan() {
        // A NaN in the data: unknown, not exact.
        f64::NAN
    } else if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Compares `out` with `reference` element by element.
pub fn error_stats(out: &[f32], reference: &[f64]) -> ErrorStats {
    assert_eq!(out.len(), reference.len());
    stats_by(out, |i| reference[i])
}

/// [`error_stats`] against `reference(i)`: two passes over the data (the relative errors
/// need the signal's RMS first), holding one f64 per element (for the percentiles) and no
/// copy of the reference.
fn stats_by(out: &[f32], reference: impl Fn(usize) -> f64) -> ErrorStats {
    let mut non_finite = 0;
    let mut abs = Vec::with_capacity(out.len());
    let (mut sig, mut noise, mut dot, mut out2) = (0.0, 0.0, 0.0, 0.0);
    for (i, &o) in out.iter().enumerate() {
        if !o.is_finite() {
            non_finite += 1;
            continue;
        }
        let (o, r) = (f64::from(o), reference(i));
        let e = o - r;
        sig += r * r;
        noise += e * e;
        dot += o * r;
        out2 += o * o;
        abs.push(e.abs());
    }
    let n = abs.len();
    if n == 0 {
        // Nothing finite to measure: every statistic is unknown (NaN: "n/a" in the table,
        // null in JSON, empty in CSV), never a perfect-looking zero.
        return ErrorStats {
            count: out.len(),
            non_finite,
            mse: f64::NAN,
            rmse: f64::NAN,
            sqnr_db: f64::NAN,
            max_abs: f64::NAN,
            mean_rel: f64::NAN,
            max_rel: f64::NAN,
            rel_floor: f64::NAN,
            cosine: f64::NAN,
            p50: f64::NAN,
            p90: f64::NAN,
            p99: f64::NAN,
            p999: f64::NAN,
        };
    }
    let rel_floor = REL_FLOOR_FRACTION * (sig / n as f64).sqrt();
    let (mut rel_sum, mut max_rel) = (0.0f64, 0.0f64);
    for (i, &o) in out.iter().enumerate().filter(|(_, o)| o.is_finite()) {
        let r = reference(i);
        let (e, r) = ((f64::from(o) - r).abs(), r.abs());
        let rel = if e == 0.0 { 0.0 } else { e / r.max(rel_floor) };
        rel_sum += rel;
        max_rel = max_rel.max(rel);
    }
    let max_abs = abs.iter().copied().fold(0.0, f64::max);
    let [p50, p90, p99, p999] = percentiles(&mut abs, [50.0, 90.0, 99.0, 99.9]);
    let mse = noise / n as f64;
    let cosine = if sig == 0.0 && out2 == 0.0 {
        1.0
    } else {
        dot / (sig * out2).sqrt()
    };
    ErrorStats {
        count: out.len(),
        non_finite,
        mse,
        rmse: mse.sqrt(),
        sqnr_db: db(sig, noise),
        max_abs,
        mean_rel: rel_sum / n as f64,
        max_rel,
        rel_floor,
        cosine,
        p50,
        p90,
        p99,
        p999,
    }
}

/// [`error_stats`] of a quantized operand against its f32 original.
pub fn operand_stats(quantized: &[f32], original: &[f32]) -> ErrorStats {
    assert_eq!(quantized.len(), original.len());
    stats_by(quantized, |i| f64::from(original[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_case() {
        // ref = [3, 4, 0, -2], out = [3.5, 4, 0.1, -2]: e = [0.5, 0, 0.1, 0].
        let s = error_stats(&[3.5, 4.0, 0.1, -2.0], &[3.0, 4.0, 0.0, -2.0]);
        assert_eq!(s.count, 4);
        assert!((s.mse - 0.26 / 4.0).abs() < 1e-9);
        assert!((s.rmse - (0.065f64).sqrt()).abs() < 1e-9);
        // Σref² = 29, Σe² = 0.26 (with out[2] = 0.1f32 ≈ 0.1).
        assert!((s.sqnr_db - 10.0 * (29.0f64 / 0.26).log10()).abs() < 1e-5);
        assert!((s.max_abs - 0.5).abs() < 1e-12);
        // floor = 0.01 · sqrt(29 / 4) ≈ 0.026926; rel = [0.5/3, 0, 0.1/0.026926, 0].
        let floor = 0.01 * (29.0f64 / 4.0).sqrt();
        assert!((s.rel_floor - floor).abs() < 1e-12);
        assert!((s.max_rel - 0.1 / floor).abs() < 1e-5);
        assert!((s.mean_rel - (0.5 / 3.0 + 0.1 / floor) / 4.0).abs() < 1e-5);
        // cos = (10.5 + 16 + 0 + 4) / (sqrt(29) · sqrt(12.25 + 16 + 0.01 + 4)).
        let cos = 30.5 / (29.0f64.sqrt() * 32.26f64.sqrt());
        assert!((s.cosine - cos).abs() < 1e-6);
        // |e| sorted = [0, 0, 0.1, 0.5]: p50 = 0.05, p90 at 2.7 → 0.1 + 0.7·0.4 = 0.38.
        assert!((s.p50 - 0.05).abs() < 1e-6);
        assert!((s.p90 - 0.38).abs() < 1e-6);
    }

    #[test]
    fn nothing_finite_is_unknown_not_exact() {
        let s = error_stats(&[f32::INFINITY, f32::NAN], &[1.0, 2.0]);
        assert_eq!((s.count, s.non_finite), (2, 2));
        for v in [
            s.mse, s.rmse, s.sqnr_db, s.max_abs, s.mean_rel, s.max_rel, s.cosine, s.p50, s.p999,
        ] {
            assert!(v.is_nan(), "{s:?}");
        }
    }

    #[test]
    fn selection_percentiles_equal_sorted_ones() {
        let mut v: Vec<f64> = (0..1001)
            .map(|i| ((i * 7919) % 1009) as f64 / 3.0)
            .collect();
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let ps = [0.0, 12.5, 50.0, 90.0, 99.9, 100.0];
        let got = percentiles(&mut v, ps);
        for (g, p) in got.iter().zip(ps) {
            assert_eq!(*g, percentile(&sorted, p), "p{p}");
        }
    }

    #[test]
    fn percentiles_match_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 100.0), 10.0);
        assert!((percentile(&v, 90.0) - 7.6).abs() < 1e-12); // np.percentile(v, 90)
        assert_eq!(percentile(&[7.0], 99.9), 7.0);
    }

    #[test]
    fn percentiles_by_selection_equal_those_of_the_sorted_values() {
        let mut v: Vec<f64> = (0..1001)
            .map(|i| ((i * 7919) % 1009) as f64 * if i % 3 == 0 { -0.5 } else { 1.0 })
            .collect();
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        // Out of order on purpose, with repeats and the ends.
        let ps = [99.9, 50.0, 0.0, 90.0, 100.0, 50.0, 99.0, 12.5];
        let got = percentiles(&mut v, ps);
        for (p, g) in ps.iter().zip(got) {
            assert_eq!(g.to_bits(), percentile(&sorted, *p).to_bits(), "p{p}");
        }
    }

    #[test]
    fn exact_outputs_and_non_finite_values() {
        let s = error_stats(&[1.0, 2.0], &[1.0, 2.0]);
        assert_eq!(s.sqnr_db, f64::INFINITY);
        assert_eq!((s.max_abs, s.cosine), (0.0, 1.0));
        let s = error_stats(&[f32::NAN, 2.0], &[1.0, 2.5]);
        assert_eq!((s.count, s.non_finite), (2, 1));
        assert_eq!(s.max_abs, 0.5);
    }
}
