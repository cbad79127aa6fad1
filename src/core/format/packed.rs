//! Packed MXFP4 storage: what "4.25 bits per element" means in memory.
//!
//! Two layouts, never to be confused:
//! - linear (torchao, Hugging Face gpt-oss): per row, element 2j in the low nibble of byte j,
//!   element 2j+1 in the high nibble; scale bytes kept separately, one per block;
//! - ggml's `block_mxfp4`: 17 bytes per 32-element block, the scale byte first, then
//!   `qs[j] = c[j] | c[j + 16] << 4` — element j and element j + 16 share a byte.

use super::mx::MxMatrix;
use crate::core::error::{Error, Result};

/// Elements per ggml `block_mxfp4`.
pub const GGML_BLOCK: usize = 32;
/// Bytes per ggml `block_mxfp4`: one scale byte and 16 bytes of nibbles.
pub const GGML_BLOCK_BYTES: usize = 1 + GGML_BLOCK / 2;

/// Packs codes in the linear layout, `ceil(k / 2)` bytes per row (an odd row ends with a
/// zero high nibble).
pub fn pack_linear(m: &MxMatrix) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.rows() * m.k().div_ceil(2));
    for r in 0..m.rows() {
        out.extend(
            m.row_codes(r)
                .chunks(2)
                .map(|p| p[0] | p.get(1).copied().unwrap_or(0) << 4),
        );
    }
    out
}

/// Inverse of [`pack_linear`]: one code per element for a `rows × k` matrix.
pub fn unpack_linear(bytes: &[u8], rows: usize, k: usize) -> Result<Vec<u8>> {
    let per_row = k.div_ceil(2);
    if bytes.len() != rows * per_row {
        return Err(Error::Shape(format!(
            "linear MXFP4 data for ({rows}, {k}) needs {} bytes, got {}",
            rows * per_row,
            bytes.len()
        )));
    }
    let mut codes = Vec::with_capacity(rows * k);
    for row in bytes.chunks(per_row.max(1)).take(rows) {
        for (i, &b) in row.iter().enumerate() {
            codes.push(b & 0xF);
            if 2 * i + 1 < k {
                codes.push(b >> 4);
            }
        }
    }
    Ok(codes)
}

fn check_ggml_shape(block: usize, k: usize) -> Result<()> {
    if block != GGML_BLOCK || !k.is_multiple_of(GGML_BLOCK) {
        return Err(Error::Invalid(format!(
            "ggml block_mxfp4 needs block size 32 and K a multiple of 32; got block {block}, K {k}"
        )));
    }
    Ok(())
}

/// Converts to ggml's `block_mxfp4` array: `rows · k / 32` blocks of 17 bytes.
pub fn to_ggml(m: &MxMatrix) -> Result<Vec<u8>> {
    check_ggml_shape(m.block(), m.k())?;
    let mut out = Vec::with_capacity(m.rows() * m.blocks_per_row() * GGML_BLOCK_BYTES);
    for r in 0..m.rows() {
        let scales = m.row_scales(r);
        for (j, c) in m.row_codes(r).chunks(GGML_BLOCK).enumerate() {
            out.push(scales[j]);
            out.extend((0..GGML_BLOCK / 2).map(|i| c[i] | c[i + GGML_BLOCK / 2] << 4));
        }
    }
    Ok(out)
}

/// Reads ggml's `block_mxfp4` array back into a `rows × k` matrix with blocks of 32.
pub fn from_ggml(bytes: &[u8], rows: usize, k: usize) -> Result<MxMatrix> {
    check_ggml_shape(GGML_BLOCK, k)?;
    let blocks = rows * k / GGML_BLOCK;
    if bytes.len() != blocks * GGML_BLOCK_BYTES {
        return Err(Error::Shape(format!(
            "ggml block_mxfp4 data for ({rows}, {k}) needs {} bytes, got {}",
            blocks * GGML_BLOCK_BYTES,
            bytes.len()
        )));
    }
    let mut codes = Vec::with_capacity(rows * k);
    let mut scales = Vec::with_capacity(blocks);
    for b in bytes.chunks(GGML_BLOCK_BYTES) {
        scales.push(b[0]);
        let qs = &b[1..];
        codes.extend(qs.iter().map(|q| q & 0xF));
        codes.extend(qs.iter().map(|q| q >> 4));
    }
    MxMatrix::from_parts(rows, k, GGML_BLOCK, codes, scales)
}
