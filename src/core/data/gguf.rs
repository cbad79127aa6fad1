//! GGUF files (llama.cpp, ggml): the header's tensor table, read without the data. F32, F16,
//! BF16 and MXFP4 (`block_mxfp4`, type 39) tensors are read; ggml's other quantizations are
//! listed by their type number and skipped.
//!
//! Layout (GGUF v2/v3, little-endian): magic `GGUF`, version u32, tensor count u64, metadata
//! count u64, the metadata (key string, type u32, value), then per tensor: name string, n_dims
//! u32, n_dims × u64 extents (innermost first), type u32, offset u64 (from the data section).
//! The data section starts at the next multiple of `general.alignment` (default 32). A string
//! is a u64 length and that many bytes.

use std::os::unix::fs::FileExt;
use std::path::Path;

use safetensors::Dtype;

use super::checkpoint::{Packing, Tensor};
use crate::core::error::{Error, Result};

/// A cursor over the file, reading through positioned reads in chunks.
struct Reader<'a> {
    file: std::fs::File,
    len: u64,
    at: u64,
    path: &'a Path,
}

impl Reader<'_> {
    fn bad(&self, why: &str) -> Error {
        Error::file(self.path, format!("not a valid GGUF file: {why}"))
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > self.len.saturating_sub(self.at) || n > 1 << 30 {
            return Err(self.bad("it ends inside its header"));
        }
        let mut b = vec![0u8; n as usize];
        self.file
            .read_exact_at(&mut b, self.at)
            .map_err(|e| Error::io(self.path, e))?;
        self.at += n;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8")))
    }

    fn string(&mut self) -> Result<String> {
        let n = self.u64()?;
        let b = self.bytes(n)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Skips (or, for a u32 / u64, returns) a metadata value of type `t`.
    fn value(&mut self, t: u32, depth: u32) -> Result<Option<u64>> {
        let size = match t {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => {
                self.string()?;
                return Ok(None);
            }
            9 if depth == 0 => {
                let (inner, n) = (self.u32()?, self.u64()?);
                // Fixed-size items are skipped in one step (a hostile count ends at the
                // file's end at once, not one read per item).
                let item = match inner {
                    0 | 1 | 7 => Some(1u64),
                    2 | 3 => Some(2),
                    4..=6 => Some(4),
                    10..=12 => Some(8),
                    _ => None,
                };
                if let Some(size) = item {
                    let skip = n
                        .checked_mul(size)
                        .filter(|&b| b <= self.len.saturating_sub(self.at))
                        .ok_or_else(|| self.bad("it ends inside its header"))?;
                    self.at += skip;
                } else {
                    for _ in 0..n {
                        self.value(inner, depth + 1)?;
                    }
                }
                return Ok(None);
            }
            _ => return Err(self.bad(&format!("a metadata value of unknown type {t}"))),
        };
        let b = self.bytes(size)?;
        Ok(match t {
            4 => Some(u64::from(u32::from_le_bytes(b.try_into().expect("4")))),
            10 => Some(u64::from_le_bytes(b.try_into().expect("8"))),
            _ => None,
        })
    }
}

/// The tensors of a GGUF file, sorted by name, with shapes in row-major order (rows first).
pub fn header(path: &Path) -> Result<Vec<Tensor>> {
    let (file, meta) = crate::core::files::input::open(path)?;
    let mut r = Reader {
        file,
        len: meta.len(),
        at: 0,
        path,
    };
    if r.bytes(4).ok().as_deref() != Some(b"GGUF") {
        return Err(r.bad("missing the GGUF magic"));
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(r.bad(&format!("version {version}; expected 2 or 3")));
    }
    let (count, kvs) = (r.u64()?, r.u64()?);
    let mut alignment = 32u64;
    for _ in 0..kvs {
        let key = r.string()?;
        let t = r.u32()?;
        if let Some(v) = r.value(t, 0)?
            && key == "general.alignment"
        {
            alignment = v.max(1);
        }
    }
    let mut infos = Vec::new();
    for _ in 0..count {
        let name = r.string()?;
        let dims = r.u32()?;
        if dims == 0 || dims > 8 {
            return Err(r.bad(&format!(
                "tensor '{}' has {dims} dimensions",
                crate::core::text::echo(&name)
            )));
        }
        let mut ne = Vec::new();
        for _ in 0..dims {
            ne.push(usize::try_from(r.u64()?).map_err(|_| r.bad("an extent beyond memory"))?);
        }
        let (t, offset) = (r.u32()?, r.u64()?);
        infos.push((name, ne, t, offset));
    }
    let data = r.at.div_ceil(alignment) * alignment;
    let mut out = Vec::new();
    for (name, ne, t, offset) in infos {
        let shape: Vec<usize> = ne.iter().rev().copied().collect();
        let n = ne
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .ok_or_else(|| r.bad("a tensor larger than 2^64 elements"))?;
        let (dtype, len, packing) = match t {
            0 => (Dtype::F32, n.checked_mul(4), Packing::Plain),
            1 => (Dtype::F16, n.checked_mul(2), Packing::Plain),
            30 => (Dtype::BF16, n.checked_mul(2), Packing::Plain),
            39 if ne[0].is_multiple_of(32) => (Dtype::U8, Some(n / 32 * 17), Packing::Ggml),
            other => (
                Dtype::U8,
                Some(0),
                Packing::Other(format!("GGUF type {other}")),
            ),
        };
        let len = len.ok_or_else(|| r.bad("a tensor larger than 2^64 bytes"))?;
        let at = data
            .checked_add(offset)
            .filter(|a| a.checked_add(len).is_some_and(|e| e <= r.len))
            .ok_or_else(|| {
                r.bad(&format!(
                    "tensor '{}' lies beyond the end of the file",
                    crate::core::text::echo(&name)
                ))
            })?;
        out.push(Tensor {
            name,
            dtype,
            shape,
            file: path.to_path_buf(),
            offset: at,
            len,
            packing,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
