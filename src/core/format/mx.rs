//! The MX block quantizer (OCP Microscaling Formats v1.0) for MXFP4: blocks of E2M1 elements
//! along the reduction axis, each with one E8M0 scale byte.

use std::fmt;
use std::str::FromStr;

use crate::core::codec::dialect::Dialect;
pub use crate::core::codec::mx_block::{
    ScaleRule, block_amax, dequantize, encode_block, inverse_scale, quantize_block, scale_byte,
    split_exponent,
};
use crate::core::codec::{e2m1, e8m0};
use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;

/// How many elements share one scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockSize {
    /// Blocks of n consecutive elements along K; the last block of a row may be shorter.
    Elements(usize),
    /// One scale for the whole tensor (the seed document's choice for its 2×2 example).
    Tensor,
}

impl BlockSize {
    pub const DEFAULT: BlockSize = BlockSize::Elements(32);

    /// Block length along a row of `k` elements: a block longer than the row is the row
    /// (the same blocks, and no size a kernel must allocate or index beyond K).
    pub fn len_for(self, k: usize) -> usize {
        match self {
            BlockSize::Elements(n) => n.min(k.max(1)),
            BlockSize::Tensor => k.max(1),
        }
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize::DEFAULT
    }
}

impl fmt::Display for BlockSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockSize::Elements(n) => write!(f, "{n}"),
            BlockSize::Tensor => f.write_str("tensor"),
        }
    }
}

impl FromStr for BlockSize {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s == "tensor" {
            return Ok(BlockSize::Tensor);
        }
        match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(BlockSize::Elements(n)),
            _ => Err(Error::Invalid(format!(
                "invalid block size '{}'; expected an integer ≥ 1 or 'tensor'",
                crate::core::text::echo(s)
            ))),
        }
    }
}

/// Quantization settings of an MX operand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MxConfig {
    pub block: BlockSize,
    pub rule: ScaleRule,
    /// How elements round and the exponent is found: the spec's by default.
    pub dialect: Dialect,
}

impl MxConfig {
    /// Blocks of `block` by `rule`, in the spec's dialect.
    pub fn new(block: BlockSize, rule: ScaleRule) -> Self {
        MxConfig {
            block,
            rule,
            dialect: Dialect::SPEC,
        }
    }
}

/// A `rows × k` matrix in MXFP4, blocks running along each row (the reduction axis K).
/// Codes are kept one per byte (the packed layouts are in `format::packed`); scales are
/// `rows × blocks_per_row` bytes. With `BlockSize::Tensor`, every row carries the same
/// tensor-wide byte so that kernels see a uniform layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MxMatrix {
    rows: usize,
    k: usize,
    block: usize,
    codes: Vec<u8>,
    scales: Vec<u8>,
}

impl MxMatrix {
    /// Quantizes every row of `m` in blocks along the row.
    pub fn quantize(m: &Matrix, config: MxConfig) -> Result<Self> {
        MxMatrix::quantize_with(crate::core::simd::active(), m, config)
    }

    /// [`MxMatrix::quantize`] on a chosen instruction set; every path gives the same bytes.
    pub fn quantize_with(
        isa: crate::core::simd::Isa,
        m: &Matrix,
        config: MxConfig,
    ) -> Result<Self> {
        if config.block == BlockSize::Elements(0) {
            return Err(Error::Invalid(
                "block size 0 is invalid; expected an integer ≥ 1 or 'tensor'".into(),
            ));
        }
        let (rows, k) = m.shape();
        // MXFP4 is the MX rule with the E2M1 element: one quantizer (and one SIMD path) for
        // every element and dialect. Its independent twin, the E2M1 decision table of
        // `codec::mx_block`, is what tests/simd.rs holds it to.
        let (block, codes, scales) = super::mx_element::quantize_parts_with(
            isa,
            &crate::core::codec::minifloat::E2M1,
            m,
            config,
        );
        Ok(MxMatrix {
            rows,
            k,
            block,
            codes,
            scales,
        })
    }

    /// Builds a matrix from raw codes and scale bytes (e.g. unpacked from a file).
    pub fn from_parts(
        rows: usize,
        k: usize,
        block: usize,
        codes: Vec<u8>,
        scales: Vec<u8>,
    ) -> Result<Self> {
        if block == 0 {
            return Err(Error::Invalid("block size must be ≥ 1".into()));
        }
        let per_row = k.div_ceil(block);
        if codes.len() != rows * k || scales.len() != rows * per_row {
            return Err(Error::Shape(format!(
                "MXFP4 parts for ({rows}, {k}) with block {block} need {} codes and {} scales, got {} and {}",
                rows * k,
                rows * per_row,
                codes.len(),
                scales.len()
            )));
        }
        if let Some(c) = codes.iter().find(|&&c| c > 0xF) {
            return Err(Error::Value(format!(
                "E2M1 code {c:#04x} is out of range; expected 0x0..=0xF"
            )));
        }
        Ok(MxMatrix {
            rows,
            k,
            block,
            codes,
            scales,
        })
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

    /// Number of blocks whose scale is NaN (they held a NaN or an infinity).
    pub fn nan_blocks(&self) -> usize {
        self.scales.iter().filter(|&&b| b == e8m0::NAN).count()
    }

    /// Elements of `original` (the matrix this was quantized from) beyond ±6 · 2^e, which the
    /// encoder saturated: only the floor and even rules let that happen.
    pub fn clipped(&self, original: &Matrix) -> usize {
        let mut n = 0;
        for r in 0..self.rows {
            let scales = self.row_scales(r);
            for (j, block) in original.row(r).chunks(self.block).enumerate() {
                if scales[j] == e8m0::NAN {
                    continue;
                }
                let limit = f64::from(e2m1::MAX) * e8m0::to_f64(scales[j]);
                n += block.iter().filter(|v| f64::from(v.abs()) > limit).count();
            }
        }
        n
    }

    /// The dequantized matrix: every element P · 2^e.
    pub fn dequantize(&self) -> Matrix {
        let mut out = Vec::with_capacity(self.codes.len());
        for r in 0..self.rows {
            let scales = self.row_scales(r);
            for (j, block) in self.row_codes(r).chunks(self.block).enumerate() {
                out.extend(block.iter().map(|&c| dequantize(c, scales[j])));
            }
        }
        Matrix::new(self.rows, self.k, out).expect("shape kept")
    }
}
