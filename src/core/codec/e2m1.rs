//! E2M1, the 4-bit element of MXFP4: 1 sign bit, 2 exponent bits, 1 mantissa bit, bias 1.
//! No Inf, no NaN, two zeros. Code bit 3 is the sign; codes 0x8..0xF negate 0x0..0x7.

/// Value of every code, indexed by code.
pub const VALUES: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

/// Twice the value of every code: always an integer, which is what lets the GEMM multiply
/// elements exactly in integer arithmetic (|2·P| ≤ 12, so a product is at most 144).
pub const DOUBLED: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Largest magnitude; a scaled element beyond it saturates to ±6.
pub const MAX: f32 = 6.0;

pub const SIGN_BIT: u8 = 0x8;

pub fn decode(code: u8) -> f32 {
    VALUES[usize::from(code & 0xF)]
}

pub fn doubled(code: u8) -> i8 {
    DOUBLED[usize::from(code & 0xF)]
}

/// The (sign, exponent, mantissa) fields of a code.
pub fn fields(code: u8) -> (u8, u8, u8) {
    ((code >> 3) & 1, (code >> 1) & 0b11, code & 1)
}

/// Encodes an already scaled value: round to nearest, ties to the even code (mantissa bit 0),
/// saturating to ±6, sign kept (so -0.01 → 0x8, negative zero).
///
/// The thresholds are the midpoints between neighbouring grid values; whether a midpoint itself
/// belongs below or above is decided by which neighbour has an even code, hence the alternation
/// of `<=` and `<`. NaN has no E2M1 code: it encodes as a signed zero, and the block quantizer
/// marks its block NaN through the scale byte instead.
pub fn encode(v: f32) -> u8 {
    let sign = ((v.to_bits() >> 28) & 0x8) as u8;
    let a = v.abs();
    // Branch-free (so loops over blocks vectorise): each threshold passed adds one step.
    // `>` at a midpoint whose lower neighbour has the even code, `>=` where the upper one does.
    let magnitude = u8::from(a > 0.25)
        + u8::from(a >= 0.75)
        + u8::from(a > 1.25)
        + u8::from(a >= 1.75)
        + u8::from(a > 2.5)
        + u8::from(a >= 3.5)
        + u8::from(a > 5.0);
    sign | magnitude
}
