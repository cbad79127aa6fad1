//! E8M0, the MX block scale: 8 exponent bits, no sign, no mantissa. Byte b means 2^(b − 127)
//! for b in 0..=254; 0xFF is NaN. There is no zero.

pub const BIAS: i32 = 127;
pub const NAN: u8 = 0xFF;
pub const MIN_EXPONENT: i32 = -127;
pub const MAX_EXPONENT: i32 = 127;

/// The unbiased exponent of a scale byte, or `None` for the NaN byte.
pub fn exponent(byte: u8) -> Option<i32> {
    (byte != NAN).then(|| i32::from(byte) - BIAS)
}

/// The byte for exponent `e`, clamped to the representable range [−127, 127].
pub fn from_exponent(e: i32) -> u8 {
    (e.clamp(MIN_EXPONENT, MAX_EXPONENT) + BIAS) as u8
}

/// 2^(b − 127) exactly (2^−127 is an f32 subnormal, still exact); NaN for 0xFF.
pub fn to_f32(byte: u8) -> f32 {
    to_f64(byte) as f32
}

/// 2^(b − 127) exactly; NaN for 0xFF.
pub fn to_f64(byte: u8) -> f64 {
    match exponent(byte) {
        Some(e) => pow2(e),
        None => f64::NAN,
    }
}

/// 2^e exactly for any e in f64's normal range, built from the bits (no libm rounding).
pub fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}
