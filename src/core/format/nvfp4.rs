//! NVFP4 (DESIGN §7; the reference is torchao's `nvfp4_quantize`): E2M1 elements, one E4M3
//! scale per block of 16 along K and, two-level (the default), one f32 scale per tensor. All
//! arithmetic in f32:
//! - s_t = amax(tensor) / (448 · 6), or 1 when that is not a normal f32 (an all-zero tensor,
//!   or amax < 2688 · 2^−126 ≈ 3.2e−35, where a subnormal s_t would make s_t · s underflow
//!   to 0 and v / (s_t · s) NaN); 1 single-level;
//! - per block, b = amax / 6; s = E4M3(clamp(b / s_t, 2^−6, 448)) (single-level: of
//!   clamp(b, 2^−6, 448)); total = s_t · s;
//! - P = E2M1(clamp(v / total, −6, 6)), a true division; the value is P · total.

use crate::core::codec::e2m1;
use crate::core::codec::minifloat::{E2M1, E4M3};
use crate::core::format::fixed::Fixed;
use crate::core::format::mx_element::block_amaxes;
use crate::core::matrix::Matrix;
use crate::core::simd::{self, Isa};

/// Elements per NVFP4 block.
pub const BLOCK: usize = 16;
/// The E4M3 block scale's range after the clamp.
const SCALE_MIN: f32 = 0.015_625; // 2^−6
const SCALE_MAX: f32 = 448.0;

/// A matrix in NVFP4: E2M1 codes, E4M3 scale bytes per block, the tensor scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Nvfp4Matrix {
    rows: usize,
    k: usize,
    two_level: bool,
    tensor_scale: f32,
    codes: Vec<u8>,
    scales: Vec<u8>,
}

impl Nvfp4Matrix {
    /// Quantizes `m` (rows along K, finite values).
    pub fn quantize(m: &Matrix, two_level: bool) -> Nvfp4Matrix {
        Nvfp4Matrix::quantize_with(simd::active(), m, two_level)
    }

    /// [`Nvfp4Matrix::quantize`] on a chosen instruction set; every path gives the same
    /// bytes. Per row: the blocks' amax, their E4M3 bytes (`encode_f32`, the bit rule), then
    /// the codes v / total by the vector element encoder (E2M1 saturates at ±6, as the clamp
    /// does) and by `e2m1::encode` for what it leaves (a short last block).
    pub fn quantize_with(isa: Isa, m: &Matrix, two_level: bool) -> Nvfp4Matrix {
        let (rows, k) = m.shape();
        let tensor_scale = if two_level {
            let mut a = [0.0f32];
            block_amaxes(isa, m.data(), m.data().len().max(1), &mut a);
            let t = a[0] / (448.0 * 6.0);
            if t.is_normal() { t } else { 1.0 }
        } else {
            1.0
        };
        let per_row = k.div_ceil(BLOCK);
        let mut codes = vec![0u8; rows * k];
        let mut scales = vec![0u8; rows * per_row];
        let e4m3: [f32; 256] = std::array::from_fn(|c| E4M3.decode(c as u8));
        let (e2m1_enc, e4m3_enc) = (E2M1.f32_encoder(), E4M3.f32_encoder());
        let (mut amax, mut totals) = (vec![0f32; per_row], vec![0f32; per_row]);
        for ((row, cs), bytes) in (0..rows)
            .map(|r| m.row(r))
            .zip(codes.chunks_mut(k.max(1)))
            .zip(scales.chunks_mut(per_row.max(1)))
        {
            block_amaxes(isa, row, BLOCK, &mut amax);
            // The clamped block scales, in place (a loop the compiler vectorises), then their
            // E4M3 bytes by the vector element encoder (times 1, exact) and `encode_f32`.
            for a in &mut amax {
                let b = *a / 6.0;
                *a = if two_level { b / tensor_scale } else { b }.clamp(SCALE_MIN, SCALE_MAX);
            }
            let whole = (per_row.next_multiple_of(16), &[1.0f32][..], false);
            let done = simd::element_codes(isa, &e4m3_enc, &amax, whole, false, bytes).unwrap_or(0);
            for (byte, &s) in bytes.iter_mut().zip(&amax).skip(done) {
                *byte = E4M3
                    .encode_f32(s)
                    .unwrap_or_else(|| E4M3.encode(f64::from(s)));
            }
            for (total, &byte) in totals.iter_mut().zip(bytes.iter()) {
                *total = tensor_scale * e4m3[usize::from(byte)];
            }
            let done = simd::element_codes(isa, &e2m1_enc, row, (BLOCK, &totals, true), false, cs)
                .unwrap_or(0);
            for (c, (code, &v)) in cs.iter_mut().zip(row).enumerate().skip(done) {
                *code = e2m1::encode((v / totals[c / BLOCK]).clamp(-6.0, 6.0));
            }
        }
        Nvfp4Matrix {
            rows,
            k,
            two_level,
            tensor_scale,
            codes,
            scales,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn two_level(&self) -> bool {
        self.two_level
    }

    pub fn tensor_scale(&self) -> f32 {
        self.tensor_scale
    }

    pub fn blocks_per_row(&self) -> usize {
        self.k.div_ceil(BLOCK)
    }

    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// The E4M3 bytes of the block scales, `rows × ceil(k / 16)`.
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

    /// The block scale of block `j` of row `r` (the E4M3 value).
    pub fn block_scale(&self, r: usize, j: usize) -> f32 {
        E4M3.decode(self.row_scales(r)[j])
    }

    /// What a code of block `j` of row `r` is multiplied by: s_t · s, in f32.
    pub fn total(&self, r: usize, j: usize) -> f32 {
        self.tensor_scale * self.block_scale(r, j)
    }

    /// Every element P · total, in f32.
    pub fn dequantize(&self) -> Matrix {
        let mut out = Vec::with_capacity(self.codes.len());
        for r in 0..self.rows {
            for (j, block) in self.row_codes(r).chunks(BLOCK).enumerate() {
                let t = self.total(r, j);
                out.extend(block.iter().map(|&c| e2m1::decode(c) * t));
            }
        }
        Matrix::new(self.rows, self.k, out).expect("shape kept")
    }

    /// Elements whose |v / total| exceeded 6 and were clamped.
    pub fn clipped(&self, original: &Matrix) -> usize {
        (0..self.rows)
            .map(|r| {
                original
                    .row(r)
                    .chunks(BLOCK)
                    .enumerate()
                    .map(|(j, b)| {
                        let t = self.total(r, j);
                        b.iter().filter(|&&v| (v / t).abs() > 6.0).count()
                    })
                    .sum::<usize>()
            })
            .sum()
    }

    /// As scaled integers: doubled E2M1 codes, and the total scale of each block.
    pub fn fixed(&self) -> Fixed {
        let mut scales = Vec::with_capacity(self.scales.len());
        for r in 0..self.rows {
            for j in 0..self.blocks_per_row() {
                scales.push(f64::from(self.total(r, j)));
            }
        }
        Fixed {
            rows: self.rows,
            k: self.k,
            ints: self
                .codes
                .iter()
                .map(|&c| i64::from(e2m1::doubled(c)))
                .collect(),
            frac: 1,
            seg: BLOCK,
            scales,
        }
    }
}

/// Σ (2Pa)(2Pb) over one block pair and its scale (s_a · s_b) / 4: both exact in f32 (the dot
/// is at most 16 · 144, the scale product has at most 8 significant bits).
pub fn block_term(a: &Nvfp4Matrix, b: &Nvfp4Matrix, i: usize, j: usize, blk: usize) -> (i32, f32) {
    let span = blk * BLOCK..((blk + 1) * BLOCK).min(a.k);
    let dot: i32 = a.row_codes(i)[span.clone()]
        .iter()
        .zip(&b.row_codes(j)[span])
        .map(|(&p, &q)| i32::from(e2m1::doubled(p)) * i32::from(e2m1::doubled(q)))
        .sum();
    (dot, a.block_scale(i, blk) * b.block_scale(j, blk) / 4.0)
}

/// The NVFP4 GEMM: per block pair dot · (s_a · s_b) / 4, summed in f32 (or f64) across
/// blocks, then times s_ta · s_tb.
pub fn gemm(a: &Nvfp4Matrix, b: &Nvfp4Matrix, f64_acc: bool) -> Matrix {
    gemm_with(crate::core::simd::active(), a, b, f64_acc)
}

/// [`gemm`] on a chosen instruction set (the SIMD block kernel for the f32 accumulator);
/// every path gives the same bits.
pub fn gemm_with(
    isa: crate::core::simd::Isa,
    a: &Nvfp4Matrix,
    b: &Nvfp4Matrix,
    f64_acc: bool,
) -> Matrix {
    use rayon::prelude::*;
    assert_eq!(a.k, b.k, "NVFP4 GEMM: operands disagree about K");
    let (m, n) = (a.rows, b.rows);
    let tensor = a.tensor_scale * b.tensor_scale;
    if !f64_acc
        && let Some(mut y) = crate::core::simd::nvfp4_gemm(
            isa,
            (&a.codes, &b.codes),
            (&a.scales, &b.scales),
            (m, n, a.k),
        )
    {
        for v in &mut y {
            *v *= tensor;
        }
        return Matrix::new(m, n, y).expect("m × n values");
    }
    let mut y = vec![0f32; m * n];
    if n > 0 {
        y.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, out) in row.iter_mut().enumerate() {
                let terms = (0..a.blocks_per_row()).map(|blk| {
                    let (dot, s) = block_term(a, b, i, j, blk);
                    dot as f32 * s
                });
                let acc = if f64_acc {
                    terms.fold(0.0f64, |s, t| s + f64::from(t)) as f32
                } else {
                    terms.fold(0.0f32, |s, t| s + t)
                };
                *out = acc * tensor;
            }
        });
    }
    Matrix::new(m, n, y).expect("m × n values")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK16: [f32; 16] = [
        0.7, -0.2, -0.5, 0.1, 0.3, -0.05, 0.0, 0.65, -0.7, 0.45, 0.2, -0.33, 0.125, -0.0625, 0.55,
        0.06,
    ];
    const CODES: [u8; 16] = [
        0x7, 0xB, 0xE, 0x2, 0x5, 0x9, 0x0, 0x7, 0xF, 0x6, 0x3, 0xD, 0x2, 0x9, 0x6, 0x1,
    ];

    #[test]
    fn the_published_single_level_vector() {
        // b = 0.7 / 6 = 0.11666667 → E4M3 0x1F (0.1171875).
        let m = Matrix::from_rows(&[BLOCK16]).unwrap();
        let q = Nvfp4Matrix::quantize(&m, false);
        assert_eq!(q.scales(), [0x1F]);
        assert_eq!(q.block_scale(0, 0), 0.117_187_5);
        assert_eq!(q.codes(), CODES);
        assert_eq!(q.tensor_scale(), 1.0);
    }

    #[test]
    fn the_published_two_level_vector() {
        // s_t = 0.7 / 2688; b / s_t = 448 → byte 0x7E; the same codes.
        let m = Matrix::from_rows(&[BLOCK16]).unwrap();
        let q = Nvfp4Matrix::quantize(&m, true);
        assert_eq!(q.tensor_scale(), 0.7f32 / 2688.0);
        assert_eq!(q.scales(), [0x7E]);
        assert_eq!(q.codes(), CODES);
    }

    #[test]
    fn zero_tensors_and_tiny_blocks_clamp_the_scale() {
        let m = Matrix::from_rows(&[[0.0f32; 20]]).unwrap();
        let q = Nvfp4Matrix::quantize(&m, true);
        assert_eq!(q.tensor_scale(), 1.0);
        // clamp(0, 2^−6, 448) = 2^−6: E4M3 0x08.
        assert_eq!(q.scales(), [0x08, 0x08]);
        assert!(q.dequantize().data().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_tensor_scale_below_the_normal_range_becomes_one() {
        // amax = 2^−120: 2^−120 / 2688 ≈ 2^−131.4 is subnormal → s_t = 1; the block scale
        // clamps to 2^−6 and every element flushes to zero (finite, not NaN).
        let tiny = 2f32.powi(-120);
        let m = Matrix::from_rows(&[[tiny; 16]]).unwrap();
        let q = Nvfp4Matrix::quantize(&m, true);
        assert_eq!(q.tensor_scale(), 1.0);
        assert_eq!(q.scales(), [0x08]);
        assert!(q.dequantize().data().iter().all(|&v| v == 0.0));
        // amax = 2^−100: s_t ≈ 2^−111.4 is normal; b / s_t = 448 → 0x7E and every code 6.
        let small = 2f32.powi(-100);
        let m = Matrix::from_rows(&[[small; 16]]).unwrap();
        let q = Nvfp4Matrix::quantize(&m, true);
        assert_eq!(q.tensor_scale(), small / 2688.0);
        assert!(q.tensor_scale().is_normal());
        assert_eq!(q.scales(), [0x7E]);
        assert_eq!(q.codes(), [0x7; 16]);
    }
}
