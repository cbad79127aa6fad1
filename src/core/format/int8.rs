//! INT8 affine quantization: real = scale · (q − zp), codes i8.

use std::str::FromStr;

pub use crate::core::codec::rounding::{Rounding, floor, round_half_away, round_half_even};
use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

/// Asymmetric uses the full [−128, 127] with a zero point; symmetric uses the restricted
/// [−127, 127] with zp = 0 (as PyTorch's weight observers and most kernels do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Asymmetric,
    Symmetric,
}

/// One scale for the tensor, or one per channel (a row of the quantized matrix).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Granularity {
    #[default]
    Tensor,
    Channel,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Asymmetric => "asymmetric",
            Scheme::Symmetric => "symmetric",
        }
    }
}

impl FromStr for Scheme {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "asymmetric" => Ok(Scheme::Asymmetric),
            "symmetric" => Ok(Scheme::Symmetric),
            _ => Err(Error::Invalid(format!(
                "unknown scheme '{}'; expected asymmetric or symmetric",
                crate::core::text::echo(s)
            ))),
        }
    }
}

impl Granularity {
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Tensor => "tensor",
            Granularity::Channel => "channel",
        }
    }
}

impl FromStr for Granularity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tensor" => Ok(Granularity::Tensor),
            "channel" => Ok(Granularity::Channel),
            _ => Err(Error::Invalid(format!(
                "unknown granularity '{}'; expected tensor or channel",
                crate::core::text::echo(s)
            ))),
        }
    }
}

/// Quantization settings of an INT8 operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Int8Config {
    pub scheme: Scheme,
    pub granularity: Granularity,
    pub rounding: Rounding,
}

impl Int8Config {
    /// The seed's (and common practice's) choice for weights.
    pub const WEIGHTS: Int8Config = Int8Config {
        scheme: Scheme::Asymmetric,
        granularity: Granularity::Tensor,
        rounding: Rounding::HalfEven,
    };
    /// The seed's choice for activations.
    pub const ACTIVATIONS: Int8Config = Int8Config {
        scheme: Scheme::Symmetric,
        granularity: Granularity::Tensor,
        rounding: Rounding::HalfEven,
    };
}

/// Scale and zero point of one tensor or channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub scale: f32,
    pub zero_point: i32,
}

impl Affine {
    /// Range of codes the scheme may use.
    pub fn code_range(scheme: Scheme) -> (i32, i32) {
        match scheme {
            Scheme::Asymmetric => (-128, 127),
            Scheme::Symmetric => (-127, 127),
        }
    }

    /// Scale and zero point for finite values with this range. A zero range (all zeros)
    /// gets scale 1, so every code dequantizes to exactly 0.
    pub fn fit(lo: f32, hi: f32, scheme: Scheme, rounding: Rounding) -> Affine {
        Affine::fit_in(lo, hi, scheme, rounding, Affine::code_range(scheme))
    }

    /// [`Affine::fit`] for any code range (INT4: 0..=15 asymmetric, −7..=7 symmetric):
    /// asymmetric scale (hi − lo) / (qmax − qmin) and zero point qmin − round(lo / scale);
    /// symmetric scale amax / qmax.
    pub fn fit_in(
        lo: f32,
        hi: f32,
        scheme: Scheme,
        rounding: Rounding,
        (qmin, qmax): (i32, i32),
    ) -> Affine {
        match scheme {
            Scheme::Asymmetric => {
                // The range always contains 0, so that 0 is exactly representable.
                let lo = lo.min(0.0);
                let hi = hi.max(0.0);
                let steps = (qmax - qmin) as f32;
                let mut scale = (hi - lo) / steps;
                if scale == 0.0 {
                    return Affine {
                        scale: 1.0,
                        zero_point: qmin,
                    };
                }
                if scale.is_infinite() {
                    // hi − lo overflows f32 (a range wider than f32::MAX): the same quotient
                    // taken in parts, which cannot.
                    scale = hi / steps - lo / steps;
                }
                let zp = qmin as f32 - rounding.for_zero_point().round(lo / scale, 0);
                Affine {
                    scale,
                    zero_point: (zp as i32).clamp(qmin, qmax),
                }
                .finite((qmin, qmax))
            }
            Scheme::Symmetric => {
                let amax = lo.abs().max(hi.abs());
                let scale = amax / qmax as f32;
                Affine {
                    scale: if scale > 0.0 { scale } else { 1.0 },
                    zero_point: 0,
                }
                .finite((qmin, qmax))
            }
        }
    }

    /// The same parameters, with the scale stepped down (by single ulps) until every code of
    /// `range` dequantizes to a finite value. Only ranges that reach f32::MAX need a step:
    /// there amax / 127 · 127 can round up past f32::MAX, and a finite input would come back
    /// as ±inf. The values nearest ±f32::MAX then clip to the largest finite code instead.
    fn finite(mut self, range: (i32, i32)) -> Affine {
        let reach = (range.1 - self.zero_point)
            .abs()
            .max((range.0 - self.zero_point).abs()) as f32;
        while self.scale.is_finite() && (self.scale * reach).is_infinite() {
            self.scale = self.scale.next_down();
        }
        self
    }

    /// round(v / scale) + zp, before the clamp.
    pub fn unclamped(self, v: f32, rounding: Rounding, index: u64) -> f32 {
        self.shifted(rounding.round(v / self.scale, index))
    }

    /// r + zp for a rounded quotient r, in f32: exact for every value the clamp lets through
    /// (|r| < 2^24), and beyond that the clamp decides whatever the rounding.
    #[inline]
    fn shifted(self, rounded: f32) -> f32 {
        rounded + self.zero_point as f32
    }

    /// q = clamp(round(v / scale) + zp, qmin, qmax).
    pub fn quantize(self, v: f32, rounding: Rounding, index: u64, range: (i32, i32)) -> i8 {
        clamp_code(self.unclamped(v, rounding, index), range)
    }

    pub fn dequantize(self, q: i8) -> f32 {
        self.scale * (i32::from(q) - self.zero_point) as f32
    }
}

/// A `rows × k` matrix in INT8: codes plus one `Affine` per tensor or per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Matrix {
    rows: usize,
    k: usize,
    config: Int8Config,
    codes: Vec<i8>,
    params: Vec<Affine>,
}

/// The clamp to the code range, and the code.
#[inline]
fn clamp_code(q: f32, (qmin, qmax): (i32, i32)) -> i8 {
    q.clamp(qmin as f32, qmax as f32) as i8
}

/// Quantizes one row with [`Affine::quantize`]'s arithmetic, the rounding passed in as a
/// closure so that the loop, one per rounding mode, compiles to vector code.
fn fill_row(
    dst: &mut [i8],
    src: &[f32],
    p: Affine,
    range: (i32, i32),
    round: impl Fn(f32, usize) -> f32,
) {
    for (c, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
        *d = clamp_code(p.shifted(round(v / p.scale, c)), range);
    }
}

/// Refuses NaN and Inf, which an affine scale cannot represent, naming the first one.
pub fn check_finite(name: &str, m: &Matrix) -> Result<()> {
    match m.first_non_finite() {
        Some((r, c)) => Err(Error::Value(format!(
            "{name}: INT8 cannot quantize {} at index ({r}, {c}); remove NaN/Inf or use an MX format",
            m.get(r, c)
        ))),
        None => Ok(()),
    }
}

impl Int8Matrix {
    /// Quantizes `m`; channels are rows. NaN and Inf are refused (an affine scale cannot
    /// represent them), naming the first offending element.
    pub fn quantize(m: &Matrix, config: Int8Config) -> Result<Self> {
        Int8Matrix::quantize_with(crate::core::simd::active(), m, config)
    }

    /// [`Int8Matrix::quantize`] on a chosen instruction set; every path gives the same codes.
    pub fn quantize_with(isa: Isa, m: &Matrix, config: Int8Config) -> Result<Self> {
        let (rows, k) = m.shape();
        let range_of = |values: &[f32]| match simd::min_max_finite(isa, values)
            .unwrap_or_else(|| simd::min_max_finite_portable(values))
        {
            Some(r) => Ok(r),
            None => check_finite("input", m).map(|()| (0.0, 0.0)),
        };
        let params: Vec<Affine> = match config.granularity {
            Granularity::Tensor => {
                let (lo, hi) = range_of(m.data())?;
                vec![Affine::fit(lo, hi, config.scheme, config.rounding)]
            }
            Granularity::Channel => (0..rows)
                .map(|r| {
                    let (lo, hi) = range_of(m.row(r))?;
                    Ok(Affine::fit(lo, hi, config.scheme, config.rounding))
                })
                .collect::<Result<_>>()?,
        };
        if let Some(p) = params.iter().find(|p| !p.scale.is_finite()) {
            return Err(Error::Value(format!(
                "INT8 scale overflows f32 (range too wide: scale {}); values must span less than ~1e36",
                p.scale
            )));
        }
        let range = Affine::code_range(config.scheme);
        let mut codes = vec![0i8; rows * k];
        for (r, (dst, src)) in codes
            .chunks_mut(k.max(1))
            .zip(m.data().chunks(k.max(1)))
            .enumerate()
        {
            let p = params[if params.len() == 1 { 0 } else { r }];
            let (scale, zp) = (p.scale, p.zero_point);
            // The SIMD path takes whole vectors; the portable loop, one per rounding mode so
            // that each compiles to vector code, the rest (or all of it).
            let done = simd::int8_quantize_row(isa, src, (scale, zp), range, config.rounding, dst)
                .unwrap_or(0);
            let (dst, src) = (&mut dst[done..], &src[done..]);
            let base = (r * k + done) as u64;
            match config.rounding {
                Rounding::HalfEven => fill_row(dst, src, p, range, |v, _| round_half_even(v)),
                Rounding::HalfAway => fill_row(dst, src, p, range, |v, _| round_half_away(v)),
                Rounding::Floor => fill_row(dst, src, p, range, |v, _| floor(v)),
                rd @ Rounding::Stochastic { .. } => {
                    fill_row(dst, src, p, range, |v, c| rd.round(v, base + c as u64));
                }
            }
        }
        Ok(Int8Matrix {
            rows,
            k,
            config,
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

    pub fn config(&self) -> Int8Config {
        self.config
    }

    pub fn codes(&self) -> &[i8] {
        &self.codes
    }

    pub fn row_codes(&self, r: usize) -> &[i8] {
        &self.codes[r * self.k..(r + 1) * self.k]
    }

    /// One entry per tensor or per row.
    pub fn params(&self) -> &[Affine] {
        &self.params
    }

    pub fn row_params(&self, r: usize) -> Affine {
        self.params[if self.params.len() == 1 { 0 } else { r }]
    }

    /// Elements of `original` (the matrix this was quantized from) whose code the clamp
    /// saturated. Min/max scales clip nothing under round-to-nearest; floor and stochastic
    /// rounding, or params fitted on other data, can.
    pub fn clipped(&self, original: &Matrix) -> usize {
        let range = Affine::code_range(self.config.scheme);
        let mut n = 0;
        for r in 0..self.rows {
            let p = self.row_params(r);
            n += original
                .row(r)
                .iter()
                .enumerate()
                .filter(|&(c, &v)| {
                    let q = p.unclamped(v, self.config.rounding, (r * self.k + c) as u64);
                    q < range.0 as f32 || q > range.1 as f32
                })
                .count();
        }
        n
    }

    pub fn dequantize(&self) -> Matrix {
        let mut out = Vec::with_capacity(self.codes.len());
        for r in 0..self.rows {
            let p = self.row_params(r);
            out.extend(self.row_codes(r).iter().map(|&q| p.dequantize(q)));
        }
        Matrix::new(self.rows, self.k, out).expect("shape kept")
    }
}
