//! Dialects: the ways real MX quantizers depart from the OCP rule, as named options, so that
//! the lab can study them (`element_rounding`, `exponent`, `signed_zero` on the MX formats) and
//! `qlab check` can name the one a peer's output follows. The spec's choice is each enum's
//! default; [`Dialect::SPEC`] is all of them.
//!
//! - **Element rounding** at an exact midpoint of two grid values: to the even code (OCP,
//!   IEEE), toward zero (llama.cpp's and MLX's MXFP4 tables), or away from zero
//!   (microxcaling's default `nearest`).
//! - **Exponent**: the binade E of the block's amax from the float's exponent bits (exact), or
//!   from `floor(log2f(amax))`, which rounds up to the next power of two for the topmost floats
//!   of a binade (7.9999995 gives E = 3, not 2), one scale byte too high (llama.cpp,
//!   microxcaling's Python path). qlab evaluates log2f correctly rounded (log2 in f64, then to
//!   f32), so the dialect is the same on every platform.
//! - **Signed zero**: an element that rounds to zero keeps its sign (−0, the spec) or is stored
//!   as +0 (llama.cpp, MLX).
//! - **Scale range**: an exponent below E8M0's −127 is clamped to byte 0x00 (the spec), or
//!   wraps modulo 256 as an unchecked `(uint8_t)(e + 127)` does, turning a tiny block's scale
//!   into a huge one or NaN (llama.cpp, MLX). Detected by `qlab check`; not a lab option.

use std::fmt;

use crate::core::error::{Error, Result};

/// Declares a dialect enum with its names (the first variant is the spec's).
macro_rules! named {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub enum $name {
            #[default]
            $($(#[$vm])* $v),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub const NAMES: &'static [&'static str] = &[$($s),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }

            /// The value named `s`, or an error naming the setting and what it takes.
            pub fn parse(s: &str, noun: &str) -> Result<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let (last, rest) = Self::NAMES.split_last().expect("a dialect has names");
                    let expected = if rest.is_empty() {
                        (*last).to_string()
                    } else {
                        format!("{} or {last}", rest.join(", "))
                    };
                    Error::Invalid(format!(
                        "unknown {noun} '{}'; expected {expected}",
                        crate::core::text::echo(s)
                    ))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named!(
    /// Which neighbour an exact midpoint rounds to.
    Ties {
        /// The neighbour whose code is even (mantissa bit 0): the OCP rule.
        Even => "ties-to-even",
        /// The neighbour of smaller magnitude.
        TowardZero => "ties-toward-zero",
        /// The neighbour of larger magnitude.
        Away => "ties-away",
    }
);

named!(
    /// Where the binade of a block's amax comes from.
    Exponent {
        /// The float's exponent bits: exact.
        Bits => "bits",
        /// floor(log2f(amax)), correctly rounded log2f.
        Log2f => "log2f",
    }
);

named!(
    /// What an element that rounds to zero keeps of its sign.
    SignedZero {
        /// −0 stays −0.
        Keep => "keep",
        /// Every zero is +0.
        FlushPositive => "flush-positive",
    }
);

named!(
    /// What happens to a shared exponent below E8M0's range.
    ScaleRange {
        /// Clamped to 2^−127 (byte 0x00).
        Clamp => "clamp",
        /// Wrapped modulo 256.
        Wrap => "wrap",
    }
);

/// One way of quantizing an MX block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dialect {
    pub ties: Ties,
    pub exponent: Exponent,
    pub signed_zero: SignedZero,
    pub scale_range: ScaleRange,
}

impl Dialect {
    /// The OCP MX v1.0 rule.
    pub const SPEC: Dialect = Dialect {
        ties: Ties::Even,
        exponent: Exponent::Bits,
        signed_zero: SignedZero::Keep,
        scale_range: ScaleRange::Clamp,
    };

    pub fn is_spec(&self) -> bool {
        *self == Dialect::SPEC
    }

    /// The departures from the spec, as their names (`ties-toward-zero`, `log2f`, ...); empty
    /// for the spec.
    pub fn departures(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.ties != Ties::Even {
            v.push(self.ties.name());
        }
        if self.exponent != Exponent::Bits {
            v.push(self.exponent.name());
        }
        if self.signed_zero != SignedZero::Keep {
            v.push("+0 for -0");
        }
        if self.scale_range != ScaleRange::Clamp {
            v.push("unclamped scales");
        }
        v
    }
}

/// Rounds a non-negative `x` to an integer, a midpoint by `ties`.
pub fn round(x: f64, ties: Ties) -> f64 {
    // Below 2^51 the integer part and the fraction are exact by integer conversion, which
    // costs one instruction where `round`/`floor` are library calls on baseline x86-64 (the
    // quantizers call this per element).
    if (0.0..TWO_51).contains(&x) {
        let f = x as i64 as f64;
        let frac = x - f;
        let up = match ties {
            Ties::Even => frac > 0.5 || (frac == 0.5 && (f as i64) & 1 == 1),
            Ties::Away => frac >= 0.5,
            Ties::TowardZero => frac > 0.5,
        };
        return if up { f + 1.0 } else { f };
    }
    match ties {
        Ties::Even => x.round_ties_even(),
        Ties::Away => x.round(),
        Ties::TowardZero => {
            let f = x.floor();
            if x - f > 0.5 { f + 1.0 } else { f }
        }
    }
}

const TWO_51: f64 = 2_251_799_813_685_248.0;

/// floor(log2f(x)) for a finite x > 0, with log2f correctly rounded to f32: the binade a
/// `log2f`-based quantizer sees. It exceeds the true binade by one for the topmost floats
/// below a power of two, and never differs otherwise.
pub fn log2f_floor(x: f32) -> i32 {
    (f64::from(x).log2() as f32).floor() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_rounding_is_the_library_one() {
        for i in 0..200_000u64 {
            let state = crate::core::rng::splitmix64(i);
            // Integers, halves and arbitrary fractions, small and up to 2^52.
            let x = match i % 3 {
                0 => (state % 1000) as f64 / 2.0,
                1 => f64::from_bits(state >> 2) % 4096.0,
                _ => (state >> 11) as f64 / 2.0,
            };
            if !x.is_finite() || x < 0.0 {
                continue;
            }
            assert_eq!(round(x, Ties::Even), x.round_ties_even(), "{x}");
            assert_eq!(round(x, Ties::Away), x.round(), "{x}");
            let f = x.floor();
            let zero = if x - f > 0.5 { f + 1.0 } else { f };
            assert_eq!(round(x, Ties::TowardZero), zero, "{x}");
        }
    }

    #[test]
    fn rounding_at_and_beside_midpoints() {
        for (x, even, zero, away) in [
            (0.5, 0.0, 0.0, 1.0),
            (1.5, 2.0, 1.0, 2.0),
            (2.5, 2.0, 2.0, 3.0),
            (2.4999, 2.0, 2.0, 2.0),
            (2.5001, 3.0, 3.0, 3.0),
            (3.0, 3.0, 3.0, 3.0),
        ] {
            assert_eq!(round(x, Ties::Even), even, "{x}");
            assert_eq!(round(x, Ties::TowardZero), zero, "{x}");
            assert_eq!(round(x, Ties::Away), away, "{x}");
        }
    }

    #[test]
    fn log2f_rounds_up_just_below_a_power_of_two() {
        // 7.9999995 = 8 − 2^−21: log2 = 2.99999991..., within half an f32 ulp of 3.
        let x = 8.0f32 - 2f32.powi(-21);
        assert_eq!(x, 7.999_999_5);
        assert_eq!(log2f_floor(x), 3);
        // 8 − 2^−20 (two floats further down) is far enough: log2 rounds below 3.
        assert_eq!(log2f_floor(8.0 - 2f32.powi(-20)), 2);
        assert_eq!(log2f_floor(8.0), 3);
        assert_eq!(log2f_floor(6.0), 2);
        // Far from 1 the f32 grid of log2 is coarser, so more floats are hit.
        let below = f32::from_bits((2f32.powi(-100)).to_bits() - 40);
        assert_eq!(log2f_floor(below), -100);
    }

    #[test]
    fn names_round_trip_and_errors_name_the_setting() {
        for t in Ties::ALL {
            assert_eq!(Ties::parse(t.name(), "element rounding").unwrap(), *t);
        }
        let e = Exponent::parse("log2", "exponent").unwrap_err().to_string();
        assert!(
            e.contains("unknown exponent 'log2'; expected bits or log2f"),
            "{e}"
        );
        assert!(Dialect::SPEC.is_spec() && Dialect::default().is_spec());
    }
}
