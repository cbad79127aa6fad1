//! Elementwise baselines with no scale (DESIGN §7): bf16 and fp16 (IEEE round to nearest even,
//! with IEEE overflow to ±Inf), and f32 itself (unquantized: x left as it is).

use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

use crate::core::matrix::Matrix;

/// Which element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bf16,
    Fp16,
    F32,
}

impl Kind {
    pub fn bits(self) -> u32 {
        match self {
            Kind::Bf16 | Kind::Fp16 => 16,
            Kind::F32 => 32,
        }
    }

    /// The value `v` rounds to, and its 16-bit pattern (f32: the value itself, no code).
    pub fn round(self, v: f32) -> (f32, u16) {
        match self {
            Kind::Bf16 => {
                let h = half::bf16::from_f32(v);
                (h.to_f32(), h.to_bits())
            }
            Kind::Fp16 => {
                let h = half::f16::from_f32(v);
                (h.to_f32(), h.to_bits())
            }
            Kind::F32 => (v, 0),
        }
    }

    /// The spacing of the grid at |v| (for the noise model): 2^(E − mantissa bits), with the
    /// subnormal spacing below the smallest normal.
    pub fn step_at(self, v: f32) -> f64 {
        let (mant, emin) = match self {
            Kind::Bf16 => (7, -126),
            Kind::Fp16 => (10, -14),
            Kind::F32 => (23, -126),
        };
        let a = f64::from(v.abs());
        let e = if a > 0.0 && a.is_finite() {
            (a.log2().floor() as i32).max(emin)
        } else {
            emin
        };
        f64::from(e - mant).exp2()
    }
}

/// A matrix rounded elementwise.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementwiseMatrix {
    kind: Kind,
    values: Matrix,
    codes: Vec<u16>,
}

impl ElementwiseMatrix {
    /// Each value rounded as [`Kind::round`] does, a slice at a time (branch-free bf16 on
    /// the bits, `half`'s F16C slice converter for fp16) rather than a pair of pushes per
    /// element: the loops vectorise.
    pub fn quantize(kind: Kind, m: &Matrix) -> ElementwiseMatrix {
        let src = m.data();
        let mut values = vec![0.0f32; src.len()];
        let codes = match kind {
            Kind::Bf16 => {
                // bf16 is f32's top half: round the low 16 bits half-even on the bits (a
                // carry moves into the exponent, up to Inf, as IEEE's rounding does), NaN kept
                // quiet.
                let codes: Vec<u16> = src
                    .iter()
                    .map(|v| {
                        let b = v.to_bits();
                        if v.is_nan() {
                            (b >> 16) as u16 | 0x0040
                        } else {
                            ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
                        }
                    })
                    .collect();
                for (v, &c) in values.iter_mut().zip(&codes) {
                    *v = f32::from_bits(u32::from(c) << 16);
                }
                codes
            }
            Kind::Fp16 => {
                let mut codes = vec![0u16; src.len()];
                let h = codes.reinterpret_cast_mut::<half::f16>();
                h.convert_from_f32_slice(src);
                h.convert_to_f32_slice(&mut values);
                codes
            }
            Kind::F32 => {
                values.copy_from_slice(src);
                Vec::new()
            }
        };
        ElementwiseMatrix {
            kind,
            values: Matrix::new(m.rows(), m.cols(), values).expect("shape kept"),
            codes,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn values(&self) -> &Matrix {
        &self.values
    }

    /// The 16-bit patterns (empty for f32).
    pub fn codes(&self) -> &[u16] {
        &self.codes
    }

    /// Finite inputs that overflowed to ±Inf (fp16 beyond 65504 + half a step).
    pub fn clipped(&self, original: &Matrix) -> usize {
        original
            .data()
            .iter()
            .zip(self.values.data())
            .filter(|(o, q)| o.is_finite() && !q.is_finite())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_and_fp16_round_to_nearest_even_with_ieee_overflow() {
        // bf16 has 8 significant bits: 1 + 2^−8 is a tie between 1 and 1 + 2^−7 → 1 (even);
        // 1 + 3·2^−8 ties up to 1 + 2^−6.
        assert_eq!(Kind::Bf16.round(1.0 + 2f32.powi(-8)), (1.0, 0x3F80));
        assert_eq!(
            Kind::Bf16.round(1.0 + 3.0 * 2f32.powi(-8)).0,
            1.0 + 2f32.powi(-6)
        );
        // fp16: 65504 is the largest; 65520 (the midpoint to 65536) overflows to Inf.
        assert_eq!(Kind::Fp16.round(65504.0), (65504.0, 0x7BFF));
        assert_eq!(Kind::Fp16.round(65519.0).0, 65504.0);
        assert_eq!(Kind::Fp16.round(65520.0), (f32::INFINITY, 0x7C00));
        // Subnormal fp16: 2^−24 is the smallest; a quarter of it flushes to +0, sign kept.
        assert_eq!(Kind::Fp16.round(2f32.powi(-24)), (2f32.powi(-24), 0x0001));
        assert_eq!(Kind::Fp16.round(-(2f32.powi(-26))).1, 0x8000);
        assert_eq!(Kind::F32.round(0.1).0, 0.1);
    }

    /// The slice quantizer against `Kind::round` (half's scalar converters) element by
    /// element, on values at and beside every midpoint of both grids (low bits 0x0FFF /
    /// 0x1000 / 0x1001 for fp16's 13 dropped bits, 0x7FFF / 0x8000 / 0x8001 for bf16's 16),
    /// over every sign and exponent, with overflow, subnormals, NaN and Inf: a slice path
    /// with another rounding fails it.
    #[test]
    fn slice_quantizer_is_round_on_every_element() {
        let mut values = Vec::new();
        for hi in (0..=0x1FFu32).map(|e| e << 23) {
            for mant in [0u32, 1 << 16, 0x40_0000, 0x7F_FFFF, 0x12_3456] {
                for low in [
                    0u32, 1, 0x0FFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0x8001, 0xFFFF,
                ] {
                    values.push(f32::from_bits(hi | (mant & !0xFFFF) | low));
                }
            }
        }
        // Not a multiple of the vector width, so the converters' tails run too.
        values.push(65520.0);
        let m = Matrix::new(1, values.len(), values.clone()).unwrap();
        for kind in [Kind::Bf16, Kind::Fp16, Kind::F32] {
            let q = ElementwiseMatrix::quantize(kind, &m);
            for (i, &v) in values.iter().enumerate() {
                let (r, code) = kind.round(v);
                let got = q.values().data()[i];
                assert!(
                    got.to_bits() == r.to_bits() || (got.is_nan() && r.is_nan()),
                    "{kind:?} {v:e}: {got:e}, expected {r:e}"
                );
                if kind != Kind::F32 {
                    assert_eq!(q.codes()[i], code, "{kind:?} {:#010x}", v.to_bits());
                }
            }
        }
    }
}
