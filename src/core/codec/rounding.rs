//! How a real value / scale becomes an integer: the rounding modes the INT8 family (and the
//! SIMD quantizers, which must agree with it bit for bit) use.

use std::fmt;

use crate::core::error::{Error, Result};
use crate::core::rng::splitmix64;

/// How x / scale becomes an integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Round half to even: ONNX QuantizeLinear, PyTorch, numpy.
    #[default]
    HalfEven,
    /// Round half away from zero (gemmlowp).
    HalfAway,
    /// Round toward −∞: what reproduces the seed document's integers.
    Floor,
    /// Round up with probability equal to the fractional part. The uniform draw for element i
    /// is a hash of (seed, i), so results do not depend on evaluation order or threads.
    Stochastic { seed: u64 },
}

impl Rounding {
    pub fn name(self) -> &'static str {
        match self {
            Rounding::HalfEven => "half-even",
            Rounding::HalfAway => "half-away",
            Rounding::Floor => "floor",
            Rounding::Stochastic { .. } => "stochastic",
        }
    }

    /// Parses a rounding name; `seed` is used by `stochastic` only.
    pub fn parse(s: &str, seed: u64) -> Result<Self> {
        match s {
            "half-even" => Ok(Rounding::HalfEven),
            "half-away" => Ok(Rounding::HalfAway),
            "floor" => Ok(Rounding::Floor),
            "stochastic" => Ok(Rounding::Stochastic { seed }),
            _ => Err(Error::Invalid(format!(
                "unknown rounding '{}'; expected half-even, half-away, floor or stochastic",
                crate::core::text::echo(s)
            ))),
        }
    }

    /// Rounds `v` to an integer-valued f32. `index` identifies the element for stochastic
    /// rounding.
    pub fn round(self, v: f32, index: u64) -> f32 {
        match self {
            Rounding::HalfEven => round_half_even(v),
            Rounding::HalfAway => round_half_away(v),
            Rounding::Floor => floor(v),
            Rounding::Stochastic { seed } => {
                let low = floor(v);
                // v − floor(v) is exact in f32; u is uniform on [0, 1) in steps of 2^−24.
                let u = (splitmix64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 40) as f32
                    * (1.0 / 16_777_216.0);
                if u < v - low { low + 1.0 } else { low }
            }
        }
    }

    /// The rounding used for zero points: stochastic rounding of a zero point would make the
    /// representable zero random, so it falls back to half-even.
    pub fn for_zero_point(self) -> Rounding {
        match self {
            Rounding::Stochastic { .. } => Rounding::HalfEven,
            r => r,
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Round half to even, as `f32::round_ties_even`, without a libm call: for |v| < 2^23,
/// adding and subtracting 2^23 leaves the nearest integer (the FPU rounds to nearest even);
/// larger values are integers already. Loops over it vectorise on any x86-64.
#[inline]
pub fn round_half_even(v: f32) -> f32 {
    const TWO23: f32 = 8_388_608.0;
    let a = v.abs();
    if a < TWO23 {
        ((a + TWO23) - TWO23).copysign(v)
    } else {
        v
    }
}

/// `f32::floor` without a libm call.
#[inline]
pub fn floor(v: f32) -> f32 {
    let r = round_half_even(v);
    if r > v { r - 1.0 } else { r }
}

/// `f32::round` (half away from zero) without a libm call: only exact halves differ from
/// half-even, and for them v ± 0.5 is exact.
#[inline]
pub fn round_half_away(v: f32) -> f32 {
    let r = round_half_even(v);
    if (v - r).abs() == 0.5 {
        v + 0.5f32.copysign(v)
    } else {
        r
    }
}
