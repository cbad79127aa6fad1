//! The element formats of the MX family and of FP8 (DESIGN §7), as one parametrised codec:
//! E2M1, E2M3, E3M2, E4M3 (fn: no Inf, one NaN per sign), E5M2 (IEEE Inf/NaN) and the MXINT8
//! element (q / 64). A code is the element's bit pattern, sign in the top bit, in a u8.
//!
//! Every element value is an integer times 2^−frac (frac = bias − 1 + mantissa bits; 6 for
//! MXINT8), which is what lets the GEMMs multiply elements exactly in integers.

use super::dialect::{self, SignedZero, Ties};

/// Special values an element format has beside its finite grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Specials {
    /// None: every code is finite (E2M1, E2M3, E3M2).
    None,
    /// One NaN per sign, S.1111.111, and no Inf (E4M3 "fn").
    NanOnly,
    /// IEEE: the all-ones exponent is Inf (mantissa 0) or NaN (E5M2).
    Ieee,
    /// Two's complement integers q in [−127, 127] worth q / 64; −128 is not used (MXINT8).
    Int,
}

/// One element format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element {
    /// `E4M3`, `INT8`.
    pub name: &'static str,
    /// Total bits (sign included).
    pub bits: u32,
    pub exponent_bits: u32,
    pub mantissa_bits: u32,
    pub bias: i32,
    pub specials: Specials,
}

/// [`Element::encode_f32`]'s rule as numbers (see [`Element::f32_encoder`]): for a finite x
/// with magnitude bits a, the code is the sign moved to bit `sign_shift` or'd with `max_mag`
/// when a ≥ `max_bits`; else, when a ≥ `normal_bits`, the bits rounded to the element's
/// mantissa (half-even, `shift` bits dropped) less `rebias`; else RNE(|x| · `sub_scale`).
/// MXINT8 (`int`): q = min(RNE(|x| · 64), 127), negated in two's complement for x < 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct F32Encoder {
    pub int: bool,
    pub sign_shift: u32,
    pub max_bits: u32,
    pub max_mag: u32,
    pub normal_bits: u32,
    pub shift: u32,
    pub rebias: u32,
    pub sub_scale: f32,
}

pub const E2M1: Element = Element {
    name: "E2M1",
    bits: 4,
    exponent_bits: 2,
    mantissa_bits: 1,
    bias: 1,
    specials: Specials::None,
};
pub const E2M3: Element = Element {
    name: "E2M3",
    bits: 6,
    exponent_bits: 2,
    mantissa_bits: 3,
    bias: 1,
    specials: Specials::None,
};
pub const E3M2: Element = Element {
    name: "E3M2",
    bits: 6,
    exponent_bits: 3,
    mantissa_bits: 2,
    bias: 3,
    specials: Specials::None,
};
pub const E4M3: Element = Element {
    name: "E4M3",
    bits: 8,
    exponent_bits: 4,
    mantissa_bits: 3,
    bias: 7,
    specials: Specials::NanOnly,
};
pub const E5M2: Element = Element {
    name: "E5M2",
    bits: 8,
    exponent_bits: 5,
    mantissa_bits: 2,
    bias: 15,
    specials: Specials::Ieee,
};
pub const INT8: Element = Element {
    name: "INT8",
    bits: 8,
    exponent_bits: 0,
    mantissa_bits: 6,
    bias: 0,
    specials: Specials::Int,
};

/// Each element's `decode` as a plain function, for the screens' codec descriptions (which
/// hold `fn(u8) -> f32`).
pub fn decode_e2m3(c: u8) -> f32 {
    E2M3.decode(c)
}
pub fn decode_e3m2(c: u8) -> f32 {
    E3M2.decode(c)
}
pub fn decode_e4m3(c: u8) -> f32 {
    E4M3.decode(c)
}
pub fn decode_e5m2(c: u8) -> f32 {
    E5M2.decode(c)
}
pub fn decode_int8(c: u8) -> f32 {
    INT8.decode(c)
}

impl Element {
    /// How many codes there are: 2^bits.
    pub fn codes(&self) -> u16 {
        1 << self.bits
    }

    /// The sign bit of a code.
    pub fn sign_bit(&self) -> u8 {
        1 << (self.bits - 1)
    }

    /// Value = integer · 2^−frac for every finite code.
    pub fn frac(&self) -> i32 {
        match self.specials {
            Specials::Int => 6,
            _ => self.bias - 1 + self.mantissa_bits as i32,
        }
    }

    /// The largest exponent of a normal value (E of max = 1.m · 2^emax); 0 for MXINT8,
    /// whose largest value 127/64 is 1.984375 · 2^0.
    pub fn emax(&self) -> i32 {
        match self.specials {
            Specials::Int => 0,
            _ => self.max_field() as i32 - self.bias,
        }
    }

    /// The largest exponent field holding finite values.
    fn max_field(&self) -> u32 {
        let all = (1 << self.exponent_bits) - 1;
        if self.specials == Specials::Ieee {
            all - 1
        } else {
            all
        }
    }

    /// The largest mantissa field of the largest binade.
    fn max_mantissa(&self) -> u32 {
        let all = (1 << self.mantissa_bits) - 1;
        if self.specials == Specials::NanOnly {
            all - 1
        } else {
            all
        }
    }

    /// The integer (value · 2^frac) of the largest finite value.
    pub fn max_int(&self) -> i64 {
        match self.specials {
            Specials::Int => 127,
            _ => {
                let m = i64::from((1 << self.mantissa_bits) | self.max_mantissa());
                m << (self.max_field() - 1)
            }
        }
    }

    /// The largest finite value.
    pub fn max(&self) -> f64 {
        self.max_int() as f64 * (-self.frac() as f64).exp2()
    }

    /// The smallest positive value (a subnormal; 1/64 for MXINT8).
    pub fn min_subnormal(&self) -> f64 {
        (-self.frac() as f64).exp2()
    }

    /// The grid step around magnitude `a` (in units of the scale): the spacing of the binade
    /// that holds it (the subnormal spacing below the smallest normal).
    pub fn step_at(&self, a: f64) -> f64 {
        let lowest = (-self.frac() as f64).exp2();
        if self.specials == Specials::Int || a == 0.0 {
            return lowest;
        }
        let e = exponent_of(a).max(1 - self.bias);
        ((e - self.mantissa_bits as i32) as f64).exp2().max(lowest)
    }

    /// Whether a code is NaN (or Inf): not a finite element.
    pub fn is_special(&self, code: u8) -> bool {
        let mag = u32::from(code & (self.sign_bit() - 1));
        match self.specials {
            Specials::None => false,
            Specials::Int => code == 0x80,
            Specials::NanOnly => mag == (1 << (self.bits - 1)) - 1,
            Specials::Ieee => mag >> self.mantissa_bits == (1 << self.exponent_bits) - 1,
        }
    }

    /// The value of a finite code as an integer times 2^−frac (0 for a special code).
    pub fn to_int(&self, code: u8) -> i64 {
        if self.is_special(code) {
            return 0;
        }
        if self.specials == Specials::Int {
            return i64::from(code as i8);
        }
        let sign = code & self.sign_bit() != 0;
        let mag = u32::from(code & (self.sign_bit() - 1));
        let field = mag >> self.mantissa_bits;
        let mantissa = i64::from(mag & ((1 << self.mantissa_bits) - 1));
        let v = if field == 0 {
            mantissa
        } else {
            ((1 << self.mantissa_bits) | mantissa) << (field - 1)
        };
        if sign { -v } else { v }
    }

    /// [`Element::to_int`] of every code of `codes` appended to `out` (a reused buffer),
    /// through a table of all 256 bytes built once: a lookup per element rather than a
    /// decode.
    pub fn to_ints_into(&self, codes: &[u8], out: &mut Vec<i64>) {
        let table: [i64; 256] = std::array::from_fn(|c| self.to_int(c as u8));
        out.extend(codes.iter().map(|&c| table[usize::from(c)]));
    }

    /// The value of a code: NaN and ±Inf for the special codes, −0 for the negative zero.
    pub fn decode(&self, code: u8) -> f32 {
        let code = code & ((self.codes() - 1) as u8);
        if self.is_special(code) {
            let inf =
                self.specials == Specials::Ieee && code & ((1 << self.mantissa_bits) - 1) == 0;
            return match (inf, code & self.sign_bit() != 0) {
                (true, false) => f32::INFINITY,
                (true, true) => f32::NEG_INFINITY,
                _ => f32::NAN,
            };
        }
        let v = self.to_int(code) as f64 * pow2(-self.frac());
        let v = v as f32;
        if code & self.sign_bit() != 0 && v == 0.0 {
            -0.0
        } else {
            v
        }
    }

    /// The code of `v` (already divided by its scale): round to nearest, ties to the even
    /// code, saturating to ±max (never Inf or NaN for a finite `v`), sign kept (−0.001 → −0).
    /// NaN gives the NaN code where there is one, else +0 (MX blocks mark NaN by their scale).
    pub fn encode(&self, v: f64) -> u8 {
        self.encode_with(v, Ties::Even, SignedZero::Keep)
    }

    /// [`Element::encode`] in a dialect: midpoints rounded by `ties`, and a zero result stored
    /// as +0 under [`SignedZero::FlushPositive`].
    pub fn encode_with(&self, v: f64, ties: Ties, zero: SignedZero) -> u8 {
        let sign = if v.is_sign_negative() {
            self.sign_bit()
        } else {
            0
        };
        if v.is_nan() {
            return match self.specials {
                Specials::NanOnly | Specials::Ieee => (self.codes() - 1) as u8 & !self.sign_bit(),
                _ => 0,
            };
        }
        let a = v.abs();
        let magnitude = if self.specials == Specials::Int {
            // q = round(v · 64), clamped to ±127; two's complement below.
            dialect::round(a * 64.0, ties).min(127.0) as u8
        } else {
            // The step at a's binade (subnormals share the lowest normal binade's step):
            // a / step is exact in f64 (a power-of-two scaling), and rounding it gives the
            // integer of the nearest grid value (a midpoint by `ties`; ties to even is the
            // even mantissa).
            let emin = 1 - self.bias;
            let e = if a == 0.0 {
                emin
            } else {
                (exponent_of(a)).max(emin)
            };
            let step_exp = e - self.mantissa_bits as i32;
            let q = dialect::round(a * pow2(-step_exp), ties);
            // The integer in units of 2^−frac (the lowest step), saturated.
            let int = (q * pow2(step_exp + self.frac())).min(self.max_int() as f64);
            self.code_of_int(int as i64)
        };
        let sign = if magnitude == 0 && zero == SignedZero::FlushPositive {
            0
        } else {
            sign
        };
        if self.specials == Specials::Int {
            return if sign != 0 {
                (magnitude as i8).wrapping_neg() as u8
            } else {
                magnitude
            };
        }
        sign | magnitude
    }

    /// The constants of [`Element::encode_f32`] as plain numbers, for the vector encoders
    /// of `simd` (which must give the same codes lane by lane).
    pub fn f32_encoder(&self) -> F32Encoder {
        let m = self.mantissa_bits;
        let emin = 1 - self.bias;
        F32Encoder {
            int: self.specials == Specials::Int,
            sign_shift: self.bits - 1,
            max_bits: ((self.max_int() as f64 * pow2(-self.frac())) as f32).to_bits(),
            max_mag: self.max_field() << m | self.max_mantissa(),
            normal_bits: ((emin + 127).max(0) as u32) << 23,
            shift: 23 - m,
            rebias: ((127 - self.bias) as u32) << m,
            sub_scale: pow2(m as i32 - emin) as f32,
        }
    }

    /// [`Element::encode`] of a finite f32, ties to even, by integer operations on its bits
    /// (no f64, no library calls): what the MX quantizers call per element. `None` for NaN
    /// and ±Inf (the caller takes [`Element::encode`]).
    #[inline]
    pub fn encode_f32(&self, x: f32) -> Option<u8> {
        if !x.is_finite() {
            return None;
        }
        let bits = x.to_bits();
        let sign = if bits >> 31 != 0 { self.sign_bit() } else { 0 };
        let a = bits & 0x7FFF_FFFF;
        let m = self.mantissa_bits;
        if self.specials == Specials::Int {
            // q = RNE(|x| · 64), at most 127: |x| · 64 is exact (a power-of-two scaling), and
            // the magic constant 2^23 rounds an f32 below 2^22 to an integer, ties to even.
            let y = f32::from_bits(a) * 64.0;
            let q = if y >= 127.0 {
                127
            } else {
                ((y + 8_388_608.0) - 8_388_608.0) as u8
            };
            return Some(if sign != 0 {
                (q as i8).wrapping_neg() as u8
            } else {
                q
            });
        }
        let max_mag = (self.max_field() << m | self.max_mantissa()) as u8;
        let max = (self.max_int() as f64 * pow2(-self.frac())) as f32;
        if a >= max.to_bits() {
            return Some(sign | max_mag);
        }
        let emin = 1 - self.bias;
        let exp = (a >> 23) as i32 - 127;
        let mag = if exp >= emin {
            // Normal in the element: round the 23 mantissa bits to m, ties to even, on the
            // bits (a carry moves into the exponent, as it should), then rebias.
            let shift = 23 - m;
            let r = (a + ((1 << (shift - 1)) - 1) + ((a >> shift) & 1)) >> shift;
            (r - (((127 - self.bias) as u32) << m)) as u8
        } else {
            // The element's subnormals (and zero): |x| in units of the smallest step, rounded
            // with the magic constant (|x| / step < 2^m + 1, so far below 2^22).
            let y = f32::from_bits(a) * pow2(m as i32 - emin) as f32;
            ((y + 8_388_608.0) - 8_388_608.0) as u8
        };
        Some(sign | mag)
    }

    /// The positive code whose integer value is `int` (which lies on the grid).
    fn code_of_int(&self, int: i64) -> u8 {
        let m = self.mantissa_bits;
        if int < 1 << m {
            return int as u8; // subnormal (or zero): field 0, mantissa = int
        }
        let top = 63 - int.leading_zeros(); // position of the leading one, ≥ m
        let field = top - m + 1;
        let mantissa = (int >> (top - m)) & ((1 << m) - 1);
        ((field << m) as i64 | mantissa) as u8
    }
}

/// 2^e exactly: from the bits in f64's normal range (no libm call in the per-element loops),
/// else by `exp2`, which is exact for an integer exponent too.
fn pow2(e: i32) -> f64 {
    if (-1022..=1023).contains(&e) {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from(e).exp2()
    }
}

/// E of x = sig · 2^E (x finite, non-zero), exactly from the f64 bits.
fn exponent_of(x: f64) -> i32 {
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7FF) as i32;
    if field == 0 {
        -1022 - ((bits & ((1 << 52) - 1)).leading_zeros() as i32 - 12)
    } else {
        field - 1023
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_constants() {
        // DESIGN §7's table: max, min subnormal, emax.
        let want = [
            (E2M1, 6.0, 0.5, 2),
            (E2M3, 7.5, 0.125, 2),
            (E3M2, 28.0, 0.0625, 4),
            (E4M3, 448.0, 2f64.powi(-9), 8),
            (E5M2, 57344.0, 2f64.powi(-16), 15),
            (INT8, 127.0 / 64.0, 1.0 / 64.0, 0),
        ];
        for (e, max, min, emax) in want {
            assert_eq!(e.max(), max, "{}", e.name);
            assert_eq!(e.min_subnormal(), min, "{}", e.name);
            assert_eq!(e.emax(), emax, "{}", e.name);
        }
    }

    /// The bit-level encoder against the reference one: every f32 whose exponent lies in or
    /// around each element's range (all 2^23 mantissas at a stride, plus every midpoint of
    /// the element's grid and its two f32 neighbours), both signs, zeros and saturation.
    #[test]
    fn encode_f32_is_encode() {
        for el in [E2M1, E2M3, E3M2, E4M3, E5M2, INT8] {
            let check = |x: f32| {
                assert_eq!(
                    el.encode_f32(x),
                    Some(el.encode(f64::from(x))),
                    "{} {x:e} ({:#010x})",
                    el.name,
                    x.to_bits()
                );
            };
            let (lo, hi) = (-(el.bias + el.mantissa_bits as i32) - 12, el.emax() + 4);
            for e in lo.max(-126)..=hi {
                for mant in (0..1u32 << 23).step_by(997) {
                    let x = f32::from_bits((((e + 127) as u32) << 23) | mant);
                    check(x);
                    check(-x);
                }
            }
            // Every midpoint of the grid (and its neighbours) for the codes' magnitudes.
            let mut values: Vec<f64> = (0..el.codes() as u32 / 2)
                .map(|c| f64::from(el.decode(c as u8)))
                .filter(|v| v.is_finite())
                .collect();
            values.sort_by(f64::total_cmp);
            for w in values.windows(2) {
                let mid = ((w[0] + w[1]) / 2.0) as f32;
                for x in [
                    mid,
                    f32::from_bits(mid.to_bits() + 1),
                    f32::from_bits(mid.to_bits() - 1),
                ] {
                    check(x);
                    check(-x);
                }
            }
            for x in [
                0.0f32,
                -0.0,
                1e-40,
                -1e-40,
                f32::MIN_POSITIVE,
                1e30,
                -1e30,
                f32::MAX,
            ] {
                check(x);
            }
            assert_eq!(el.encode_f32(f32::NAN), None);
        }
    }

    #[test]
    fn e2m1_matches_the_mxfp4_codec_on_every_code() {
        for c in 0..16u8 {
            assert_eq!(
                E2M1.decode(c).to_bits(),
                super::super::e2m1::decode(c).to_bits()
            );
        }
    }
}
