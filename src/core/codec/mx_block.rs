//! One MX block: the E8M0 shared exponent from the block's largest magnitude (by the chosen
//! scale rule), the E2M1 codes of its elements, and back. The scalar code every quantizer (and
//! every SIMD quantizer's test) agrees with.

use std::fmt;
use std::str::FromStr;

use super::{e2m1, e8m0};
use crate::core::error::{Error, Result};

/// E2M1's largest exponent: 6 = 1.5 · 2^2.
const E2M1_EMAX: i32 = 2;

/// How the shared exponent is chosen from the block's largest magnitude amax = sig · 2^E.
/// Every rule starts from e = E − 2 and bumps it by one under its own condition on sig.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ScaleRule {
    /// Never bump: the OCP spec's algorithm (also microxcaling, torchao's default, ggml).
    /// amax may scale to just under 8 and clip to 6.
    #[default]
    Floor,
    /// Bump when sig > 1: nothing ever clips, small values lose resolution (torchao CEIL).
    Ceil,
    /// Bump when sig ≥ 1.75 (torchao EVEN).
    Even,
    /// Bump when sig > 1.5, i.e. e = ceil(log2(amax / 6)): amax never clips (cuBLAS,
    /// TransformerEngine, torchao RCEIL).
    Rceil,
}

impl ScaleRule {
    pub const ALL: [ScaleRule; 4] = [
        ScaleRule::Floor,
        ScaleRule::Ceil,
        ScaleRule::Even,
        ScaleRule::Rceil,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScaleRule::Floor => "floor",
            ScaleRule::Ceil => "ceil",
            ScaleRule::Even => "even",
            ScaleRule::Rceil => "rceil",
        }
    }

    /// The rule in one line with its formula, as MXFP4 computes it (write the block's
    /// amax = sig · 2^E, sig in [1, 2); e = E − emax, emax = 2 for E2M1, plus a bump). The other
    /// MX elements use the same rules with their own emax and thresholds (`qlab formats`).
    pub fn definition(self) -> &'static str {
        match self {
            ScaleRule::Floor => {
                "e = E − emax, never bumped (OCP spec): amax/2^e in [4, 8), so values above 6 clip"
            }
            ScaleRule::Ceil => {
                "e = E − emax, +1 when sig > 1: amax/2^e in (2, 4], never clips, coarser steps"
            }
            ScaleRule::Even => {
                "e = E − emax, +1 when sig ≥ 1.75 (torchao EVEN): a block whose amax/2^e would be ≥ 7 goes a binade up"
            }
            ScaleRule::Rceil => {
                "e = ceil(log2(amax / 6)), i.e. +1 when sig > 1.5 (cuBLAS, TransformerEngine): amax ≤ 6·2^e, never clips"
            }
        }
    }

    /// Whether the rule bumps e for a significand whose 23 fraction bits are `frac`
    /// (sig = 1 + frac / 2^23). Compared on the bits, so there is no rounding anywhere.
    fn bumps(self, frac: u32) -> bool {
        match self {
            ScaleRule::Floor => false,
            ScaleRule::Ceil => frac > 0,
            ScaleRule::Even => frac >= 0x60_0000,
            ScaleRule::Rceil => frac > 0x40_0000,
        }
    }
}

impl fmt::Display for ScaleRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ScaleRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ScaleRule::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown scale rule '{}'; expected floor, ceil, even or rceil",
                    crate::core::text::echo(s)
                ))
            })
    }
}

/// amax = sig · 2^E exactly, from the f32 bits: returns (E, the 23 fraction bits of sig).
/// Subnormals are normalised first. `x` must be finite and non-zero.
pub fn split_exponent(x: f32) -> (i32, u32) {
    let bits = x.to_bits() & 0x7FFF_FFFF;
    let exp_field = (bits >> 23) as i32;
    let mantissa = bits & 0x7F_FFFF;
    if exp_field != 0 {
        (exp_field - 127, mantissa)
    } else {
        // Subnormal: value = mantissa · 2^−149. Move the leading one to bit 23.
        let shift = mantissa.leading_zeros() - 8;
        let normalised = mantissa << shift;
        (-126 - shift as i32, normalised & 0x7F_FFFF)
    }
}

/// The E8M0 scale byte for a block whose largest magnitude is `amax`.
/// Zero blocks get 0x00; a NaN or infinite amax gives the NaN byte.
pub fn scale_byte(amax: f32, rule: ScaleRule) -> u8 {
    if !amax.is_finite() {
        return e8m0::NAN;
    }
    if amax == 0.0 {
        return 0;
    }
    let (e, frac) = split_exponent(amax);
    let bump = i32::from(rule.bumps(frac));
    e8m0::from_exponent(e - E2M1_EMAX + bump)
}

/// 2^−e as f32 for a finite scale byte. With e in [−127, 126] (the most an f32 amax can
/// produce), 2^−e is a normal f32, so multiplying by it is the exact division by the scale.
pub fn inverse_scale(byte: u8) -> f32 {
    let e = e8m0::exponent(byte).expect("finite scale byte");
    f32::from_bits(((e8m0::BIAS - e).clamp(1, 254) as u32) << 23)
}

/// Largest magnitude of a block; NaN when the block holds a NaN, +Inf when it holds an Inf.
pub fn block_amax(values: &[f32]) -> f32 {
    // One pass with no early exit: a NaN fails every comparison, so it is noted apart rather
    // than lost in the maximum. (The vector twin is `simd::block_amaxes`.)
    let (mut amax, mut nan) = (0.0f32, false);
    for &v in values {
        let a = v.abs();
        nan |= v.is_nan();
        amax = if a > amax { a } else { amax };
    }
    if nan { f32::NAN } else { amax }
}

/// Quantizes one block into `codes` given its scale byte (a NaN scale gives zero codes).
pub fn encode_block(values: &[f32], byte: u8, codes: &mut [u8]) {
    if byte == e8m0::NAN {
        codes.fill(0);
        return;
    }
    let inv = inverse_scale(byte);
    for (c, &v) in codes.iter_mut().zip(values) {
        *c = e2m1::encode(v * inv);
    }
}

/// Quantizes one block: returns the scale byte and writes one E2M1 code per element.
pub fn quantize_block(values: &[f32], rule: ScaleRule, codes: &mut [u8]) -> u8 {
    let byte = scale_byte(block_amax(values), rule);
    encode_block(values, byte, codes);
    byte
}

/// Value of one element: P · 2^e, NaN for a NaN block.
pub fn dequantize(code: u8, byte: u8) -> f32 {
    (f64::from(e2m1::decode(code)) * e8m0::to_f64(byte)) as f32
}
