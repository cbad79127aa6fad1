//! Real tensors from `.safetensors` and `.csv` files, as f32 matrices.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::matrix::{Matrix, shape_str};

/// Reads tensor `name` from a `.safetensors` file; f32, f64, f16 and bf16 become f32.
/// A 1-D tensor of length k becomes `1 × k`, and the flag says it was 1-D.
pub fn read_safetensors(path: &Path, name: Option<&str>) -> Result<(Matrix, bool)> {
    let bytes = crate::data::read_bounded(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::file(path, format!("not a valid .safetensors file: {e}")))?;
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    let available = || {
        if names.is_empty() {
            "the file holds no tensors".to_string()
        } else {
            format!("available: {}", names.join(", "))
        }
    };
    let name = match name {
        Some(n) => n,
        None if names.len() == 1 => names[0],
        None => {
            return Err(Error::file(
                path,
                format!(
                    "holds several tensors; name one with `tensor = \"...\"` ({})",
                    available()
                ),
            ));
        }
    };
    let view = st
        .tensor(name)
        .map_err(|_| Error::file(path, format!("no tensor named '{name}' ({})", available())))?;
    let shape = view.shape().to_vec();
    let (rows, cols) = match shape[..] {
        [k] => (1, k),
        [r, c] => (r, c),
        _ => {
            return Err(Error::file(
                path,
                format!(
                    "tensor '{name}' has shape {}; expected 1 or 2 dimensions",
                    shape_str(&shape)
                ),
            ));
        }
    };
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(Error::file(
                path,
                format!("tensor '{name}' has dtype {other:?}; expected F32, F64, F16 or BF16"),
            ));
        }
    };
    if values.is_empty() {
        return Err(Error::file(
            path,
            format!("tensor '{name}' of shape {} is empty", shape_str(&shape)),
        ));
    }
    let m = Matrix::new(rows, cols, values).map_err(|e| Error::file(path, e.to_string()))?;
    Ok((m, shape.len() == 1))
}

/// Reads a numeric matrix from a `.csv` file (comma-separated; a first row that is not
/// numeric is taken as a header and skipped).
pub fn read_csv(path: &Path) -> Result<Matrix> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_path(path)
        .map_err(|e| Error::csv(path, e))?;
    let mut data = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    // Byte records, so a field that is not UTF-8 gets its line and column like any other (and
    // a header row in another encoding is still just a header).
    for (i, record) in reader.byte_records().enumerate() {
        let record = record.map_err(|e| Error::csv(path, e))?;
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        let parsed: std::result::Result<Vec<f32>, usize> = record
            .iter()
            .enumerate()
            .map(|(c, f)| {
                std::str::from_utf8(f)
                    .ok()
                    .and_then(|f| f.parse::<f32>().ok())
                    .ok_or(c)
            })
            .collect();
        let values = match parsed {
            Ok(v) => v,
            Err(_) if rows == 0 && i == 0 => continue, // a header row
            Err(c) => {
                let what = match std::str::from_utf8(&record[c]) {
                    Ok(text) => format!("'{text}' is not a number"),
                    Err(_) => "not UTF-8 text".into(),
                };
                return Err(Error::file(
                    path,
                    format!("line {line}, column {}: {what}", c + 1),
                ));
            }
        };
        match cols {
            None => cols = Some(values.len()),
            Some(n) if n != values.len() => {
                return Err(Error::file(
                    path,
                    format!(
                        "line {line} has {} values; earlier rows have {n}",
                        values.len()
                    ),
                ));
            }
            _ => {}
        }
        data.extend(values);
        rows += 1;
    }
    let cols = cols.unwrap_or(0);
    if rows == 0 || cols == 0 {
        return Err(Error::file(path, "holds no numeric rows"));
    }
    Matrix::new(rows, cols, data)
}
