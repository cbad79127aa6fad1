//! FP8 with a real scale per tensor or per channel (DESIGN §7): TransformerEngine's "current
//! scaling" and `torch._scaled_mm`'s tensorwise / rowwise. s = amax / max in f32 (1 for a zero
//! tensor or channel), each element E4M3 or E5M2 of v / s (an f32 division, then the
//! element's rounding with saturation), worth code · s.

use crate::core::codec::minifloat::Element;
use crate::core::format::fixed::Fixed;
use crate::core::format::mx_element::block_amaxes;
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

/// A matrix of FP8 codes with one f32 scale per tensor or per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Fp8Matrix {
    element: Element,
    rows: usize,
    k: usize,
    codes: Vec<u8>,
    /// One (tensor) or `rows` (channel).
    scales: Vec<f32>,
}

/// amax / max (the values are finite: the amax's NaN rule never applies).
fn scale_of(isa: Isa, values: &[f32], el: &Element) -> f32 {
    let mut amax = [0.0f32];
    block_amaxes(isa, values, values.len().max(1), &mut amax);
    let s = amax[0] / el.max() as f32;
    if s > 0.0 { s } else { 1.0 }
}

impl Fp8Matrix {
    /// Quantizes `m` (rows along K, finite values: callers refuse NaN and Inf first).
    pub fn quantize(el: Element, m: &Matrix, per_channel: bool) -> Fp8Matrix {
        Fp8Matrix::quantize_with(simd::active(), el, m, per_channel)
    }

    /// [`Fp8Matrix::quantize`] on a chosen instruction set; every path gives the same codes.
    /// Per row, the vector path divides and codes whole vectors (`simd::element_codes`, the
    /// row as one block), and the element's own rule codes what it leaves (the tail, or a
    /// vector holding a value that is not finite).
    pub fn quantize_with(isa: Isa, el: Element, m: &Matrix, per_channel: bool) -> Fp8Matrix {
        let (rows, k) = m.shape();
        let scales: Vec<f32> = if per_channel {
            (0..rows).map(|r| scale_of(isa, m.row(r), &el)).collect()
        } else {
            vec![scale_of(isa, m.data(), &el)]
        };
        let enc = el.f32_encoder();
        let mut codes = vec![0u8; rows * k];
        for (r, cs) in codes.chunks_mut(k.max(1)).enumerate().take(rows) {
            let s = scales[if per_channel { r } else { 0 }];
            let row = m.row(r);
            // The row is one block of one scale; its length rounded up to 16 passes every
            // vector width's multiple-of check (only whole vectors are coded).
            let whole_row = (k.next_multiple_of(16), &[s][..], true);
            let done = simd::element_codes(isa, &enc, row, whole_row, false, cs).unwrap_or(0);
            for (c, &v) in cs[done..].iter_mut().zip(&row[done..]) {
                *c = el.encode(f64::from(v / s));
            }
        }
        Fp8Matrix {
            element: el,
            rows,
            k,
            codes,
            scales,
        }
    }

    pub fn element(&self) -> &Element {
        &self.element
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    pub fn row_scale(&self, r: usize) -> f32 {
        self.scales[if self.scales.len() == 1 { 0 } else { r }]
    }

    /// Every element code · s, in f32.
    pub fn dequantize(&self) -> Matrix {
        let mut out = Vec::with_capacity(self.codes.len());
        for r in 0..self.rows {
            let s = self.row_scale(r);
            out.extend(
                self.codes[r * self.k..(r + 1) * self.k]
                    .iter()
                    .map(|&c| self.element.decode(c) * s),
            );
        }
        Matrix::new(self.rows, self.k, out).expect("shape kept")
    }

    /// Elements beyond ±max · s, saturated (only an f32 division that rounds up past max can
    /// do it, since s = amax / max).
    pub fn clipped(&self, original: &Matrix) -> usize {
        let max = self.element.max();
        (0..self.rows)
            .map(|r| {
                let s = self.row_scale(r);
                original
                    .row(r)
                    .iter()
                    .filter(|&&v| f64::from((v / s).abs()) > max)
                    .count()
            })
            .sum()
    }

    /// As scaled integers: element integers, one scale per row.
    pub fn fixed(&self) -> Fixed {
        Fixed {
            rows: self.rows,
            k: self.k,
            ints: {
                let mut ints = Fixed::int_buffer(self.codes.len());
                self.element.to_ints_into(&self.codes, &mut ints);
                ints
            },
            frac: self.element.frac(),
            seg: self.k.max(1),
            scales: (0..self.rows)
                .map(|r| f64::from(self.row_scale(r)))
                .collect(),
        }
    }
}
