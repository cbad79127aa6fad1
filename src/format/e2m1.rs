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
    let sign = if v.is_sign_negative() { SIGN_BIT } else { 0 };
    let a = v.abs();
    let magnitude = if a.is_nan() || a <= 0.25 {
        0
    } else if a < 0.75 {
        1
    } else if a <= 1.25 {
        2
    } else if a < 1.75 {
        3
    } else if a <= 2.5 {
        4
    } else if a < 3.5 {
        5
    } else if a <= 5.0 {
        6
    } else {
        7
    };
    sign | magnitude
}

/// Distance from code `c` (non-negative) to the next grid point above: the local step.
pub fn step_above(code: u8) -> f32 {
    let m = code & 0x7;
    if m == 7 {
        VALUES[7] - VALUES[6]
    } else {
        VALUES[usize::from(m) + 1] - VALUES[usize::from(m)]
    }
}
