//! The MX formats with any element (DESIGN §7): MXFP8 (E4M3, E5M2), MXFP6 (E2M3, E3M2) and
//! MXINT8. One E8M0 scale per block of K from the block's amax by a scale rule, as MXFP4
//! (whose own module keeps its SIMD paths); the element is a [`minifloat::Element`].

use crate::core::codec::dialect::{self, Dialect, Exponent, ScaleRange, SignedZero, Ties};
use crate::core::codec::minifloat::{Element, Specials};
use crate::core::codec::mx_block::{block_amax, split_exponent};
use crate::core::codec::{e8m0, minifloat};
use crate::core::error::{Error, Result};
use crate::core::format::fixed::Fixed;
use crate::core::format::{BlockSize, MxConfig, ScaleRule};
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

/// Whether `rule` bumps the shared exponent for a significand with 23 fraction bits `frac`
/// (sig = 1 + frac / 2^23), for element `el`: even at sig ≥ 2 − 2^−(m+1), rceil at
/// sig > max / 2^emax (DESIGN §7's table). Compared on the bits: no rounding anywhere.
pub fn bumps(rule: ScaleRule, el: &Element, frac: u32) -> bool {
    let m = el.mantissa_bits;
    match rule {
        ScaleRule::Floor => false,
        ScaleRule::Ceil => frac > 0,
        ScaleRule::Even => frac >= (1 << 23) - (1 << (22 - m)),
        ScaleRule::Rceil => {
            // max / 2^emax = 1 + t / 2^m with t the largest mantissa of the top binade
            // (MXINT8: 127/64 = 1 + 63/64).
            let t = (el.max_int() >> (el.max_int().ilog2() - m)) as u32 & ((1 << m) - 1);
            frac > t << (23 - m)
        }
    }
}

/// The E8M0 byte of a block with largest magnitude `amax` (0 for a zero block, the NaN byte
/// for NaN or ±Inf).
pub fn scale_byte(el: &Element, amax: f32, rule: ScaleRule) -> u8 {
    scale_byte_in(el, amax, rule, &Dialect::SPEC)
}

/// [`scale_byte`] in a dialect: the binade from log2f (one higher for the topmost floats of a
/// binade; no rule bumps it further, since amax is then below that power of two), and an
/// exponent below −127 wrapped modulo 256 instead of clamped.
pub fn scale_byte_in(el: &Element, amax: f32, rule: ScaleRule, d: &Dialect) -> u8 {
    if !amax.is_finite() {
        return e8m0::NAN;
    }
    if amax == 0.0 {
        return 0;
    }
    let (mut e, frac) = split_exponent(amax);
    let mut bump = bumps(rule, el, frac);
    if d.exponent == Exponent::Log2f && dialect::log2f_floor(amax) > e {
        e += 1;
        bump = false;
    }
    let x = e - el.emax() + i32::from(bump);
    match d.scale_range {
        ScaleRange::Clamp => e8m0::from_exponent(x),
        ScaleRange::Wrap => (x + e8m0::BIAS).rem_euclid(256) as u8,
    }
}

/// The amax of each block of `len` values of `v` into `out` (NaN for a block holding a NaN):
/// `simd::block_amaxes` where the ISA has it, else [`block_amax`] block by block. Shared by
/// the block-scaled quantizers (MX, NVFP4, FP8's tensor and channel scales).
pub fn block_amaxes(isa: Isa, v: &[f32], len: usize, out: &mut [f32]) {
    if simd::block_amaxes(isa, v, len, out).is_none() {
        for (o, b) in out.iter_mut().zip(v.chunks(len)) {
            *o = block_amax(b);
        }
    }
}

/// [`scale_byte_in`] with the element's, the rule's and the dialect's constants taken once
/// (per matrix, not per block): a rule's bump is "the fraction bits exceed a threshold"
/// (ceil: 0; even and rceil: their table's), so each block costs the split, one compare and
/// the clamp. The log2f dialect takes [`scale_byte_in`] itself.
pub struct ScaleBytes<'a> {
    el: &'a Element,
    rule: ScaleRule,
    d: &'a Dialect,
    emax: i32,
    /// The largest fraction that does not bump.
    keep: u32,
}

impl<'a> ScaleBytes<'a> {
    pub fn new(el: &'a Element, rule: ScaleRule, d: &'a Dialect) -> ScaleBytes<'a> {
        // By bisection: every rule bumps on a top range of fractions or on none, and none
        // bumps at 0.
        let (mut keep, mut bumped) = (0u32, 0x7F_FFFFu32);
        if !bumps(rule, el, bumped) {
            keep = bumped;
        }
        while bumped - keep > 1 {
            let mid = keep + (bumped - keep) / 2;
            if bumps(rule, el, mid) {
                bumped = mid;
            } else {
                keep = mid;
            }
        }
        ScaleBytes {
            el,
            rule,
            d,
            emax: el.emax(),
            keep,
        }
    }

    /// The byte of every amax in `amaxes`, into `out`.
    pub fn fill(&self, amaxes: &[f32], out: &mut [u8]) {
        if self.d.exponent == Exponent::Log2f {
            for (o, &a) in out.iter_mut().zip(amaxes) {
                *o = scale_byte_in(self.el, a, self.rule, self.d);
            }
            return;
        }
        // Normal amaxes branch-free (the loop vectorises): e is the exponent field less the
        // bias, the fraction the low 23 bits.
        let wrap = self.d.scale_range == ScaleRange::Wrap;
        for (o, &amax) in out.iter_mut().zip(amaxes) {
            let bits = amax.to_bits() & 0x7FFF_FFFF;
            let x = (bits >> 23) as i32 - 127 - self.emax + i32::from(bits & 0x7F_FFFF > self.keep);
            *o = if wrap {
                (x + e8m0::BIAS) as u8
            } else {
                (x.clamp(e8m0::MIN_EXPONENT, e8m0::MAX_EXPONENT) + e8m0::BIAS) as u8
            };
        }
        // Then the few others (zero and subnormal amaxes, NaN, Inf) by the rule itself.
        for (o, &amax) in out.iter_mut().zip(amaxes) {
            let field = amax.to_bits() >> 23 & 0xFF;
            if field == 0 || field == 0xFF {
                *o = scale_byte_in(self.el, amax, self.rule, self.d);
            }
        }
    }
}

/// One block: the code of every element given its scale byte (zeros in a NaN block).
pub fn quantize_block(el: &Element, values: &[f32], byte: u8, codes: &mut [u8]) {
    quantize_block_in(el, values, byte, &Dialect::SPEC, codes);
}

/// [`quantize_block`] in a dialect (its element rounding and signed zeros), by the portable
/// code (the twin of the row quantizer's SIMD path).
pub fn quantize_block_in(el: &Element, values: &[f32], byte: u8, d: &Dialect, codes: &mut [u8]) {
    let Some(e) = e8m0::exponent(byte) else {
        codes.fill(0);
        return;
    };
    let inv = e8m0::pow2(-e);
    if d.ties == Ties::Even {
        // The bit-level encoder on v · 2^−e in f32: exact wherever the element can tell (a
        // product that is not a normal f32 lies far below the element's smallest step, and
        // both give a signed zero).
        let inv32 = inv as f32;
        for (c, &v) in codes.iter_mut().zip(values) {
            let code = el
                .encode_f32(v * inv32)
                .unwrap_or_else(|| el.encode(f64::from(v) * inv));
            *c = if d.signed_zero == SignedZero::FlushPositive && code == el.sign_bit() {
                0
            } else {
                code
            };
        }
        return;
    }
    for (c, &v) in codes.iter_mut().zip(values) {
        *c = el.encode_with(f64::from(v) * inv, d.ties, d.signed_zero);
    }
}

/// Codes and scale bytes of `m` in blocks (`rows × k` codes, `rows × blocks` bytes), for any
/// element and dialect.
pub fn quantize_parts(el: &Element, m: &Matrix, config: MxConfig) -> (usize, Vec<u8>, Vec<u8>) {
    quantize_parts_with(simd::active(), el, m, config)
}

/// [`quantize_parts`] on a chosen instruction set; every path gives the same bytes. Per row:
/// the blocks' amax, their scale bytes, then the codes, on the SIMD path where it applies
/// (ties to even) and block by block by [`quantize_block_in`] wherever it stops.
pub fn quantize_parts_with(
    isa: Isa,
    el: &Element,
    m: &Matrix,
    config: MxConfig,
) -> (usize, Vec<u8>, Vec<u8>) {
    let (rows, k) = m.shape();
    let block = config.block.len_for(k);
    let per_row = k.div_ceil(block);
    let mut codes = vec![0u8; rows * k];
    let mut scales = vec![0u8; rows * per_row];
    let d = &config.dialect;
    let tensor_byte = (config.block == BlockSize::Tensor).then(|| {
        let mut a = [0f32];
        block_amaxes(isa, m.data(), m.data().len().max(1), &mut a);
        scale_byte_in(el, a[0], config.rule, d)
    });
    let enc = el.f32_encoder();
    let bytes = ScaleBytes::new(el, config.rule, d);
    // 2^−e of every scale byte (NaN for the NaN byte), looked up per block.
    let inverse: [f32; 256] = std::array::from_fn(|b| {
        e8m0::exponent(b as u8).map_or(f32::NAN, |e| e8m0::pow2(-e) as f32)
    });
    let flush = d.signed_zero == SignedZero::FlushPositive;
    let (mut amax, mut invs) = (vec![0f32; per_row], vec![0f32; per_row]);
    for ((row, cs), sc) in (0..rows)
        .map(|r| m.row(r))
        .zip(codes.chunks_mut(k.max(1)))
        .zip(scales.chunks_mut(per_row.max(1)))
    {
        match tensor_byte {
            Some(byte) => sc.fill(byte),
            None => {
                block_amaxes(isa, row, block, &mut amax);
                bytes.fill(&amax, sc);
            }
        }
        // A NaN byte (which a wrapped exponent can give a finite block) scales by NaN, so
        // the vector path stops at the block and the portable code zeroes it.
        for (inv, &byte) in invs.iter_mut().zip(sc.iter()) {
            *inv = inverse[usize::from(byte)];
        }
        // The vector path from `start` until it stops; the block it stopped in portably.
        let mut start = 0;
        while start < k {
            let j0 = start / block;
            let done = if d.ties == Ties::Even {
                simd::element_codes(
                    isa,
                    &enc,
                    &row[start..],
                    (block, &invs[j0..], false),
                    flush,
                    &mut cs[start..],
                )
                .unwrap_or(0)
            } else {
                0
            };
            let j = (start + done) / block;
            if j >= per_row {
                break;
            }
            let end = ((j + 1) * block).min(k);
            quantize_block_in(el, &row[j * block..end], sc[j], d, &mut cs[j * block..end]);
            start = end;
        }
    }
    (block, codes, scales)
}

/// A matrix in an MX format: one code per element, one E8M0 byte per block of each row.
#[derive(Clone, Debug, PartialEq)]
pub struct MxElementMatrix {
    element: Element,
    rows: usize,
    k: usize,
    block: usize,
    codes: Vec<u8>,
    scales: Vec<u8>,
}

impl MxElementMatrix {
    /// Quantizes `m` (rows along K). `even` is refused for MXINT8, whose element has no
    /// mantissa to round to even.
    pub fn quantize(el: Element, m: &Matrix, config: MxConfig) -> Result<Self> {
        if el.specials == Specials::Int && config.rule == ScaleRule::Even {
            return Err(Error::Invalid(
                "scale rule 'even' is not offered for mxint8 (its element is an integer); \
                 expected floor, ceil or rceil"
                    .into(),
            ));
        }
        if config.block == BlockSize::Elements(0) {
            return Err(Error::Invalid(
                "block size 0 is invalid; expected an integer ≥ 1 or 'tensor'".into(),
            ));
        }
        let (rows, k) = m.shape();
        let (block, codes, scales) = quantize_parts(&el, m, config);
        Ok(MxElementMatrix {
            element: el,
            rows,
            k,
            block,
            codes,
            scales,
        })
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

    pub fn block(&self) -> usize {
        self.block
    }

    pub fn blocks_per_row(&self) -> usize {
        self.k.div_ceil(self.block)
    }

    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    pub fn scales(&self) -> &[u8] {
        &self.scales
    }

    pub fn row_codes(&self, r: usize) -> &[u8] {
        &self.codes[r * self.k..(r + 1) * self.k]
    }

    pub fn row_scales(&self, r: usize) -> &[u8] {
        let n = self.blocks_per_row();
        &self.scales[r * n..(r + 1) * n]
    }

    pub fn nan_blocks(&self) -> usize {
        self.scales.iter().filter(|&&b| b == e8m0::NAN).count()
    }

    /// Elements beyond ±max · 2^e, which the encoder saturated.
    pub fn clipped(&self, original: &Matrix) -> usize {
        let max = self.element.max();
        (0..self.rows)
            .map(|r| {
                let scales = self.row_scales(r);
                original
                    .row(r)
                    .chunks(self.block)
                    .enumerate()
                    .filter(|(j, _)| scales[*j] != e8m0::NAN)
                    .map(|(j, b)| {
                        let limit = max * e8m0::to_f64(scales[j]);
                        b.iter().filter(|v| f64::from(v.abs()) > limit).count()
                    })
                    .sum::<usize>()
            })
            .sum()
    }

    /// Every element P · 2^e (NaN in a NaN block), exact: P has at most 8 significant bits
    /// and 2^e with e ≥ −127 keeps the product inside f32 or rounds it once at the bottom.
    pub fn dequantize(&self) -> Matrix {
        let mut out = Vec::with_capacity(self.codes.len());
        for r in 0..self.rows {
            let scales = self.row_scales(r);
            for (j, block) in self.row_codes(r).chunks(self.block).enumerate() {
                let s = e8m0::to_f64(scales[j]);
                out.extend(
                    block
                        .iter()
                        .map(|&c| (f64::from(self.element.decode(c)) * s) as f32),
                );
            }
        }
        Matrix::new(self.rows, self.k, out).expect("shape kept")
    }

    /// As scaled integers, for the segment GEMM: element integers, 2^e per block.
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
            seg: self.block,
            scales: self.scales.iter().map(|&b| e8m0::to_f64(b)).collect(),
        }
    }
}

/// The element of every MX format but MXFP4, by family name.
pub const ELEMENTS: [(&str, Element); 5] = [
    ("mxfp8-e4m3", minifloat::E4M3),
    ("mxfp8-e5m2", minifloat::E5M2),
    ("mxfp6-e2m3", minifloat::E2M3),
    ("mxfp6-e3m2", minifloat::E3M2),
    ("mxint8", minifloat::INT8),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::codec::dialect::{Exponent, ScaleRange};
    use crate::core::codec::minifloat::{E2M1, E2M3, E3M2, E4M3, E5M2, INT8};

    /// The batch scale bytes against `scale_byte_in` one by one, for every element, rule and
    /// dialect, on amaxes at every exponent field (subnormals too) with fractions at and
    /// beside every rule's threshold, and 0, Inf, NaN.
    #[test]
    fn batch_scale_bytes_are_scale_byte_in() {
        let mut fracs = vec![0u32, 1, 0x7F_FFFF, 0x40_0000, 0x12_3456];
        for m in 0..=7 {
            for t in 0..(1u32 << m) {
                let f = t << (23 - m);
                let even = (1u32 << 23) - (1 << (22 - m));
                fracs.extend([
                    f,
                    f.saturating_sub(1),
                    (f + 1).min(0x7F_FFFF),
                    even,
                    even - 1,
                ]);
            }
        }
        let mut amaxes: Vec<f32> = (0..=0xFEu32)
            .flat_map(|e| {
                fracs
                    .iter()
                    .map(move |&f| f32::from_bits(e << 23 | (f & 0x7F_FFFF)))
            })
            .collect();
        amaxes.extend([0.0, f32::INFINITY, f32::NAN, f32::from_bits(1)]);
        let rules = [
            ScaleRule::Floor,
            ScaleRule::Ceil,
            ScaleRule::Even,
            ScaleRule::Rceil,
        ];
        for el in [E2M1, E2M3, E3M2, E4M3, E5M2, INT8] {
            for rule in rules {
                for exponent in [Exponent::Bits, Exponent::Log2f] {
                    for scale_range in [ScaleRange::Clamp, ScaleRange::Wrap] {
                        let d = Dialect {
                            exponent,
                            scale_range,
                            ..Dialect::SPEC
                        };
                        let mut got = vec![0u8; amaxes.len()];
                        ScaleBytes::new(&el, rule, &d).fill(&amaxes, &mut got);
                        for (&a, &g) in amaxes.iter().zip(&got) {
                            let want = scale_byte_in(&el, a, rule, &d);
                            assert_eq!(g, want, "{} {rule:?} {d:?} amax {a:e}", el.name);
                        }
                    }
                }
            }
        }
    }

    /// sig thresholds of DESIGN §7's table as fractions of 2^23.
    fn frac_of(sig: f64) -> u32 {
        ((sig - 1.0) * f64::from(1u32 << 23)) as u32
    }

    #[test]
    fn the_bump_thresholds_of_the_table() {
        let table = [
            (E2M1, Some(1.75), 1.5),
            (E2M3, Some(1.9375), 1.875),
            (E3M2, Some(1.875), 1.75),
            (E4M3, Some(1.9375), 1.75),
            (E5M2, Some(1.875), 1.75),
            (INT8, None, 1.984375),
        ];
        for (el, even, rceil) in table {
            let t = frac_of(rceil);
            assert!(!bumps(ScaleRule::Rceil, &el, t), "{} rceil at", el.name);
            assert!(
                bumps(ScaleRule::Rceil, &el, t + 1),
                "{} rceil above",
                el.name
            );
            if let Some(even) = even {
                let t = frac_of(even);
                assert!(bumps(ScaleRule::Even, &el, t), "{} even at", el.name);
                assert!(
                    !bumps(ScaleRule::Even, &el, t - 1),
                    "{} even below",
                    el.name
                );
            }
            assert!(!bumps(ScaleRule::Ceil, &el, 0) && bumps(ScaleRule::Ceil, &el, 1));
            assert!(!bumps(ScaleRule::Floor, &el, (1 << 23) - 1));
        }
    }

    #[test]
    fn the_microxcaling_mxfp8_block() {
        // amax 960 = 1.875 · 2^9 → e = 9 − 8 = 1 (byte 0x80); 957 / 2 = 478.5 saturates to
        // 448, worth 896.
        let m = Matrix::from_rows(&[[960.0, 957.0, 1.0, -3.0]]).unwrap();
        let q = MxElementMatrix::quantize(E4M3, &m, MxConfig::default()).unwrap();
        assert_eq!(q.scales(), [0x80]);
        assert_eq!(q.dequantize().data(), [896.0, 896.0, 1.0, -3.0]);
        assert_eq!(q.row_codes(0)[..2], [0x7E, 0x7E]);
        assert_eq!(q.clipped(&m), 2);
    }

    #[test]
    fn mxint8_refuses_even_and_rounds_q_over_64() {
        let m = Matrix::from_rows(&[[1.0, 0.5, -0.0078125, 0.0234375]]).unwrap();
        let even = MxConfig {
            rule: ScaleRule::Even,
            ..MxConfig::default()
        };
        assert!(MxElementMatrix::quantize(INT8, &m, even).is_err());
        let q = MxElementMatrix::quantize(INT8, &m, MxConfig::default()).unwrap();
        // amax 1 → e = 0: q = RNE(v · 64): 64, 32, −0.5 → −0 (0), 1.5 → 2.
        assert_eq!(q.scales(), [127]);
        assert_eq!(q.row_codes(0), [64, 32, 0, 2]);
    }
}
