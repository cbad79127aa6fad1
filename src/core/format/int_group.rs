//! Affine integers with one scale (and zero point) per group of K (DESIGN §7): INT4 per group
//! (GPTQ / AWQ round-to-nearest style; per channel and per tensor too) and INT8 per group. The
//! arithmetic of INT8 (§1) with the code range of the width:
//! - INT4 asymmetric: codes 0..=15, s = (max − min) / 15 over a range widened to hold 0,
//!   zp = clamp(−round(min / s), 0, 15); symmetric: codes −7..=7, s = amax / 7;
//! - INT8: −128..=127 (asymmetric) or −127..=127 (symmetric), as §1.

use crate::core::error::{Error, Result};
use crate::core::format::fixed::{Fixed, Fixed8};
use crate::core::format::int8::{Affine, Rounding, Scheme};
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

/// How the scales tile a matrix (rows along K).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// One scale for the whole tensor.
    Tensor,
    /// One per row (a row of W, a column of x: a token).
    Channel,
    /// One per group of this many elements along K in each row (the last may be shorter).
    Group(usize),
}

/// The typed settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntGroupConfig {
    /// 4 or 8.
    pub bits: u32,
    pub scheme: Scheme,
    pub grouping: Grouping,
    pub rounding: Rounding,
}

impl IntGroupConfig {
    /// The codes the scheme may use at this width.
    pub fn code_range(&self) -> (i32, i32) {
        match (self.bits, self.scheme) {
            (4, Scheme::Asymmetric) => (0, 15),
            (4, Scheme::Symmetric) => (-7, 7),
            (_, s) => Affine::code_range(s),
        }
    }
}

/// A matrix of affine integer codes with one [`Affine`] per segment.
#[derive(Clone, Debug, PartialEq)]
pub struct IntGroupMatrix {
    rows: usize,
    k: usize,
    config: IntGroupConfig,
    /// Elements per segment along K (K for tensor and channel).
    seg: usize,
    codes: Vec<i8>,
    /// `rows × segments` (one for the tensor).
    params: Vec<Affine>,
}

impl IntGroupMatrix {
    /// Quantizes `m` (rows along K, finite values: callers refuse NaN and Inf first).
    pub fn quantize(m: &Matrix, config: IntGroupConfig) -> Result<Self> {
        IntGroupMatrix::quantize_with(simd::active(), m, config)
    }

    /// [`IntGroupMatrix::quantize`] on a chosen instruction set; every path gives the same
    /// codes. Each group's range by `simd::min_max_finite`, its codes by INT8's row quantizer
    /// (`simd::int8_quantize_row`, with this width's code range) for whole vectors and by
    /// [`Affine::quantize`] for the rest.
    pub fn quantize_with(isa: Isa, m: &Matrix, config: IntGroupConfig) -> Result<Self> {
        let (rows, k) = m.shape();
        if config.grouping == Grouping::Group(0) {
            return Err(Error::Invalid(
                "group size 0 is invalid; expected an integer ≥ 1".into(),
            ));
        }
        let seg = match config.grouping {
            Grouping::Group(g) => g.min(k).max(1),
            Grouping::Tensor | Grouping::Channel => k.max(1),
        };
        let range = config.code_range();
        let fit = |values: &[f32]| {
            // The range with 0 in it (both schemes' fits take 0 in anyway), on the vector
            // path; without one, or past a NaN (which callers refuse), the plain fold.
            let (lo, hi) = simd::min_max_finite(isa, values)
                .flatten()
                .unwrap_or_else(|| {
                    values
                        .iter()
                        .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)))
                });
            Affine::fit_in(lo, hi, config.scheme, config.rounding, range)
        };
        let segments = k.div_ceil(seg);
        let params: Vec<Affine> = match config.grouping {
            Grouping::Tensor => vec![fit(m.data())],
            _ => (0..rows)
                .flat_map(|r| m.row(r).chunks(seg).map(fit).collect::<Vec<_>>())
                .collect(),
        };
        if let Some(p) = params.iter().find(|p| !p.scale.is_finite()) {
            return Err(Error::Value(format!(
                "INT{} scale overflows f32 (range too wide: scale {}); values must span less \
                 than ~1e36",
                config.bits, p.scale
            )));
        }
        let mut codes = vec![0i8; rows * k];
        for (r, row_codes) in codes.chunks_mut(k.max(1)).enumerate().take(rows) {
            let chunks = row_codes.chunks_mut(seg).zip(m.row(r).chunks(seg));
            for (j, (dst, src)) in chunks.enumerate() {
                let p = params[if params.len() == 1 {
                    0
                } else {
                    r * segments + j
                }];
                let (scale, zp) = (p.scale, p.zero_point);
                let done =
                    simd::int8_quantize_row(isa, src, (scale, zp), range, config.rounding, dst)
                        .unwrap_or(0);
                let base = r * k + j * seg;
                for (c, (d, &v)) in dst.iter_mut().zip(src).enumerate().skip(done) {
                    *d = p.quantize(v, config.rounding, (base + c) as u64, range);
                }
            }
        }
        Ok(IntGroupMatrix {
            rows,
            k,
            config,
            seg,
            codes,
            params,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn config(&self) -> IntGroupConfig {
        self.config
    }

    /// Elements per scale along K.
    pub fn segment(&self) -> usize {
        self.seg
    }

    pub fn segments_per_row(&self) -> usize {
        self.k.div_ceil(self.seg)
    }

    pub fn codes(&self) -> &[i8] {
        &self.codes
    }

    pub fn row_codes(&self, r: usize) -> &[i8] {
        &self.codes[r * self.k..(r + 1) * self.k]
    }

    /// Every scale and zero point: one, or `rows × segments`.
    pub fn params(&self) -> &[Affine] {
        &self.params
    }

    /// The parameters of element (r, c).
    pub fn param(&self, r: usize, c: usize) -> Affine {
        if self.params.len() == 1 {
            self.params[0]
        } else {
            self.params[r * self.segments_per_row() + c / self.seg]
        }
    }

    /// Elements the clamp to the code range changed.
    pub fn clipped(&self, original: &Matrix) -> usize {
        let (qmin, qmax) = self.config.code_range();
        let mut n = 0;
        for r in 0..self.rows {
            for (c, &v) in original.row(r).iter().enumerate() {
                let q =
                    self.param(r, c)
                        .unclamped(v, self.config.rounding, (r * self.k + c) as u64);
                n += usize::from(q < qmin as f32 || q > qmax as f32);
            }
        }
        n
    }

    pub fn dequantize(&self) -> Matrix {
        let mut out = Vec::with_capacity(self.codes.len());
        for r in 0..self.rows {
            for (c, &q) in self.row_codes(r).iter().enumerate() {
                out.push(self.param(r, c).dequantize(q));
            }
        }
        Matrix::new(self.rows, self.k, out).expect("shape kept")
    }

    /// As scaled integers: q − zp, one scale per segment.
    pub fn fixed(&self) -> Fixed {
        let segments = self.segments_per_row();
        let mut ints = Vec::with_capacity(self.codes.len());
        let mut scales = Vec::with_capacity(self.rows * segments);
        for r in 0..self.rows {
            for (c, &q) in self.row_codes(r).iter().enumerate() {
                ints.push(i64::from(q) - i64::from(self.param(r, c).zero_point));
            }
            for j in 0..segments {
                scales.push(f64::from(self.param(r, j * self.seg).scale));
            }
        }
        Fixed {
            rows: self.rows,
            k: self.k,
            ints,
            frac: 0,
            seg: self.seg,
            scales,
        }
    }
}

impl IntGroupMatrix {
    /// [`IntGroupMatrix::fixed`] as bytes, when every q − zp lies in −127..=127 (always for
    /// INT4).
    pub fn fixed8(&self) -> Option<Fixed8> {
        let segments = self.segments_per_row();
        let scales = (0..self.rows)
            .flat_map(|r| (0..segments).map(move |j| f64::from(self.param(r, j * self.seg).scale)))
            .collect();
        Fixed8::from_codes(
            (self.rows, self.k, self.seg),
            &self.codes,
            |r, j| self.param(r, j * self.seg).zero_point,
            scales,
        )
    }
}

/// The GEMM of two affine integer operands with INT8's rule, per range of the common
/// refinement of their segments: (corrected integer dot as f32) · (sa · sb in f32), summed in
/// f32. With one segment per row it is exactly the INT8 kernel's y = corrected · (sW · sx).
pub fn gemm(a: &Fixed, b: &Fixed) -> Matrix {
    use rayon::prelude::*;
    assert_eq!(a.k, b.k, "INT GEMM: operands disagree about K");
    let (m, n, k) = (a.rows, b.rows, a.k);
    let mut y = vec![0f32; m * n];
    if n > 0 {
        y.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            let ra = a.row(i);
            for (j, out) in row.iter_mut().enumerate() {
                let rb = b.row(j);
                let mut acc = 0.0f32;
                let mut start = 0;
                while start < k {
                    let end = ((start / a.seg + 1) * a.seg)
                        .min((start / b.seg + 1) * b.seg)
                        .min(k);
                    let dot: i64 = ra[start..end]
                        .iter()
                        .zip(&rb[start..end])
                        .map(|(&p, &q)| p * q)
                        .sum();
                    let scale = (a.scale(i, start) as f32) * (b.scale(j, start) as f32);
                    acc += dot as f32 * scale;
                    start = end;
                }
                *out = acc;
            }
        });
    }
    Matrix::new(m, n, y).expect("m × n values")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int4(scheme: Scheme, grouping: Grouping) -> IntGroupConfig {
        IntGroupConfig {
            bits: 4,
            scheme,
            grouping,
            rounding: Rounding::HalfEven,
        }
    }

    #[test]
    fn int4_asymmetric_by_hand() {
        // Range [−1, 2]: s = 3/15 = 0.2, zp = clamp(−round(−1 / 0.2), 0, 15) = 5.
        let m = Matrix::from_rows(&[[-1.0, 0.0, 0.3, 2.0]]).unwrap();
        let q = IntGroupMatrix::quantize(&m, int4(Scheme::Asymmetric, Grouping::Tensor)).unwrap();
        assert_eq!(
            q.params(),
            [Affine {
                scale: 0.2,
                zero_point: 5
            }]
        );
        // 0.3 / 0.2 in f32: 0.30000001 / 0.20000000 = 1.50000004, which rounds to 1.5 in f32,
        // a tie, to the even 2 → code 7.
        assert_eq!(q.codes(), [0, 5, 7, 15]);
    }

    #[test]
    fn int4_symmetric_and_groups() {
        // Two groups of 2: amax 7 and 0.7 → scales 1 and 0.1; q in [−7, 7].
        let m = Matrix::from_rows(&[[7.0, -3.5, 0.7, -0.05]]).unwrap();
        let q = IntGroupMatrix::quantize(&m, int4(Scheme::Symmetric, Grouping::Group(2))).unwrap();
        assert_eq!(q.params().len(), 2);
        assert_eq!(q.params()[0].scale, 1.0);
        assert_eq!(q.params()[1].scale, 0.7f32 / 7.0);
        // −3.5 → −4 (half to even); −0.05 / 0.1 = −0.5 → −0.
        assert_eq!(q.codes(), [7, -4, 7, 0]);
        // An all-zero group gets scale 1.
        let z = Matrix::from_rows(&[[0.0, 0.0, 1.0, 1.0]]).unwrap();
        let q = IntGroupMatrix::quantize(&z, int4(Scheme::Asymmetric, Grouping::Group(2))).unwrap();
        assert_eq!(
            q.params()[0],
            Affine {
                scale: 1.0,
                zero_point: 0
            }
        );
    }
}
