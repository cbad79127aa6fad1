//! Histograms whose range adapts to the data: linear bins over [min, max] of the signed
//! error, and log-spaced bins over [smallest non-zero, largest] |error|. Nothing is clipped to
//! a fixed range (llama.cpp's quantize-stats histogram saturates at a fixed bound).

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinScale {
    Linear,
    Log,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    pub scale: BinScale,
    /// `bins + 1` edges; bin i holds `[edges[i], edges[i+1])`, the last bin includes its end.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    /// Log bins only: values that are exactly zero (a log axis has no place for them).
    pub zeros: u64,
    /// NaN or infinite values, left out.
    pub non_finite: u64,
}

fn bin_of(v: f64, lo: f64, width: f64, bins: usize) -> usize {
    (((v - lo) / width) as usize).min(bins - 1)
}

/// `bins` equal-width bins over [min, max] of the finite values.
pub fn linear(values: &[f64], bins: usize) -> Histogram {
    let bins = bins.max(1);
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let non_finite = (values.len() - finite.len()) as u64;
    let (lo, hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if finite.is_empty() {
        return Histogram {
            scale: BinScale::Linear,
            edges: vec![0.0, 1.0],
            counts: vec![0],
            zeros: 0,
            non_finite,
        };
    }
    // A single value still gets a bin of non-zero width around it.
    let (lo, hi) = if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u64; bins];
    for &v in &finite {
        counts[bin_of(v, lo, width, bins)] += 1;
    }
    Histogram {
        scale: BinScale::Linear,
        edges: (0..=bins).map(|i| lo + width * i as f64).collect(),
        counts,
        zeros: 0,
        non_finite,
    }
}

/// `bins` log-spaced bins over the magnitudes of the non-zero finite values.
pub fn log(values: &[f64], bins: usize) -> Histogram {
    let bins = bins.max(1);
    let mags: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite() && **v != 0.0)
        .map(|v| v.abs())
        .collect();
    let zeros = values.iter().filter(|&&v| v == 0.0).count() as u64;
    let non_finite = values.iter().filter(|v| !v.is_finite()).count() as u64;
    if mags.is_empty() {
        return Histogram {
            scale: BinScale::Log,
            edges: vec![1.0, 10.0],
            counts: vec![0],
            zeros,
            non_finite,
        };
    }
    let (lo, hi) = mags
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let (llo, lhi) = if lo == hi {
        (lo.log10() - 0.5, lo.log10() + 0.5)
    } else {
        (lo.log10(), hi.log10())
    };
    let width = (lhi - llo) / bins as f64;
    let mut counts = vec![0u64; bins];
    for &v in &mags {
        counts[bin_of(v.log10(), llo, width, bins)] += 1;
    }
    Histogram {
        scale: BinScale::Log,
        edges: (0..=bins)
            .map(|i| 10f64.powf(llo + width * i as f64))
            .collect(),
        counts,
        zeros,
        non_finite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_bins_span_the_data() {
        let h = linear(&[-1.0, 0.0, 0.5, 1.0, f64::NAN], 4);
        assert_eq!(h.edges, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(h.counts, vec![1, 0, 1, 2]);
        assert_eq!(h.non_finite, 1);
        // Far outliers widen the range instead of piling up in an end bin.
        let h = linear(&[0.0, 1e6], 2);
        assert_eq!(h.edges[2], 1e6);
        let h = linear(&[3.0, 3.0], 3);
        assert_eq!(h.counts.iter().sum::<u64>(), 2);
    }

    #[test]
    fn log_bins_cover_every_decade() {
        let h = log(&[1e-6, -1e-3, 1.0, 0.0, 0.0], 3);
        assert_eq!(h.zeros, 2);
        assert_eq!(h.counts, vec![1, 1, 1]);
        assert!((h.edges[0] - 1e-6).abs() < 1e-18 && (h.edges[3] - 1.0).abs() < 1e-12);
        assert!((h.edges[1] - 1e-4).abs() < 1e-16);
    }
}
