//! Real tensors from `.safetensors` and `.csv` files, as f32 matrices.

use std::path::Path;

use safetensors::Dtype;

use crate::core::data::checkpoint::{self, Tensor};

use crate::core::data::npy::{f64_to_f32, index_str};
use crate::core::error::{Error, Result};
use crate::core::matrix::{Matrix, shape_str};
use crate::core::text;

/// Reads tensor `name` from a `.safetensors` file or a sharded checkpoint (a folder, or its
/// `*.index.json`): the header, then that tensor's bytes only. f32, f64, f16 and bf16 become
/// f32. A 1-D tensor of length k becomes `1 × k`, and the flag says it was 1-D.
pub fn read_safetensors(path: &Path, name: Option<&str>) -> Result<(Matrix, bool)> {
    read_tensor(path, name, false)
}

/// [`read_safetensors`]; with `tokens_k`, a tensor of any rank laid out `(…, K)` as a
/// `tokens × K` matrix, its leading axes merged.
pub fn read_tensor(path: &Path, name: Option<&str>, tokens_k: bool) -> Result<(Matrix, bool)> {
    let all = checkpoint::open(path)?;
    let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    let available = || format!("{} tensors: {}", names.len(), text::list(&names, 5));
    if names.is_empty() {
        // Only a `__metadata__` block, or `{}`: nothing to name, so say so plainly.
        return Err(Error::file(
            path,
            "holds no tensors (its header lists none); expected at least one",
        ));
    }
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
    let shown = text::echo(name);
    let entry = all.iter().find(|t| t.name == name).ok_or_else(|| {
        // The matrices a scenario can use: 2-D float tensors, the closest names first.
        let matrices: Vec<&str> = all
            .iter()
            .filter(|t| t.is_float() && t.shape.len() == 2)
            .map(|t| t.name.as_str())
            .collect();
        let closest = text::closest(name, &matrices, 3);
        let hint = match closest.as_slice() {
            [] => String::new(),
            [one] => format!("did you mean '{}'? ", text::echo(one)),
            many => format!(
                "closest: {}; ",
                many.iter()
                    .map(|n| format!("'{}'", text::echo(n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let listed = if matrices.len() == names.len() {
            available()
        } else if matrices.is_empty() {
            format!("none of its {} tensors is a 2-D float matrix", names.len())
        } else {
            format!(
                "{} of its {} tensors are 2-D float matrices: {}",
                matrices.len(),
                names.len(),
                text::list(&matrices, 5)
            )
        };
        Error::file(path, format!("no tensor named '{shown}' ({hint}{listed})"))
    })?;
    tensor_matrix(path, entry, &entry.read_bytes()?, tokens_k)
}

/// A tensor's bytes as an f32 matrix (see [`read_safetensors`]); `path` names it in errors.
pub fn tensor_matrix(
    path: &Path,
    entry: &Tensor,
    data: &[u8],
    tokens_k: bool,
) -> Result<(Matrix, bool)> {
    let shown = text::echo(&entry.name);
    if !matches!(entry.packing, checkpoint::Packing::Plain) {
        if !entry.is_float() {
            return Err(Error::file(
                path,
                format!(
                    "tensor '{shown}' is {}; expected F32, F64, F16, BF16 or MXFP4",
                    entry.dtype_name()
                ),
            ));
        }
        return Ok((entry.unpack(data)?, false));
    }
    let shape = entry.shape.clone();
    let (rows, cols) = match shape[..] {
        [k] => (1, k),
        [r, c] => (r, c),
        [.., k] if tokens_k => (shape.iter().product::<usize>() / k.max(1), k),
        _ => {
            return Err(Error::file(
                path,
                format!(
                    "tensor '{shown}' has shape {}; expected 1 or 2 dimensions",
                    shape_str(&shape)
                ),
            ));
        }
    };
    let values: Vec<f32> = match entry.dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .enumerate()
            .map(|(i, c)| {
                let v = f64::from_le_bytes(c.try_into().expect("8 bytes"));
                f64_to_f32(v).map_err(|m| {
                    Error::file(
                        path,
                        format!(
                            "tensor '{shown}', value at index {}: {m}",
                            index_str(&shape, i)
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?,
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
                format!("tensor '{shown}' has dtype {other:?}; expected F32, F64, F16 or BF16"),
            ));
        }
    };
    if values.is_empty() {
        return Err(Error::file(
            path,
            format!("tensor '{shown}' of shape {} is empty", shape_str(&shape)),
        ));
    }
    let m = Matrix::new(rows, cols, values).map_err(|e| Error::file(path, e.to_string()))?;
    Ok((m, shape.len() == 1))
}

/// Reads a numeric matrix from a `.csv` file (see [`parse_csv`]).
pub fn read_csv(path: &Path) -> Result<Matrix> {
    let bytes = crate::core::files::read(path)?;
    parse_csv(&bytes).map_err(|m| Error::file(path, m))
}

/// Parses a numeric CSV: comma-separated numbers, one row per line; blank lines and lines
/// starting with `#` are skipped; a field may be wrapped in double quotes. A first row none
/// of whose fields is a number is a header and skipped; a first row with some numbers and
/// some not is an error like any other row. Errors name the physical line (counting every
/// line of the file) and the column.
pub fn parse_csv(bytes: &[u8]) -> std::result::Result<Matrix, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut data = Vec::new();
    let mut cols = None;
    let mut rows = 0usize;
    let mut first = true;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line).trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let fields: Vec<Vec<u8>> =
            split_fields(line).map_err(|what| format!("line {line_no}, {what}"))?;
        let fields: Vec<&[u8]> = fields.iter().map(std::vec::Vec::as_slice).collect();
        let parsed: Vec<std::result::Result<f32, String>> =
            fields.iter().map(|f| parse_number(f)).collect();
        if first {
            first = false;
            // A header: no field of the first row reads as a number — not even one out of
            // range, which is data that is refused, not a name.
            let numeric =
                |f: &&[u8]| std::str::from_utf8(f).is_ok_and(|t| t.parse::<f64>().is_ok());
            if !fields.iter().any(numeric) {
                continue;
            }
        }
        let mut values = Vec::with_capacity(fields.len());
        for (c, p) in parsed.into_iter().enumerate() {
            match p {
                Ok(v) => values.push(v),
                Err(what) => return Err(format!("line {line_no}, column {}: {what}", c + 1)),
            }
        }
        match cols {
            None => cols = Some(values.len()),
            Some(n) if n != values.len() => {
                return Err(format!(
                    "line {line_no} has {} values; earlier rows have {n}",
                    values.len()
                ));
            }
            _ => {}
        }
        data.extend(values);
        rows += 1;
    }
    let cols = cols.unwrap_or(0);
    if rows == 0 || cols == 0 {
        return Err("holds no numeric rows".into());
    }
    Matrix::new(rows, cols, data).map_err(|e| e.to_string())
}

/// The fields of one line: split at commas outside double quotes, each without surrounding
/// whitespace and its quotes (`""` inside quotes is one quote), so `"3,0"` is one field.
fn split_fields(line: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        match (b, quoted) {
            (b'"', true) if line.get(i + 1) == Some(&b'"') => {
                field.push(b'"');
                i += 1;
            }
            (b'"', _) => quoted = !quoted,
            (b',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(b),
        }
        i += 1;
    }
    if quoted {
        // A field cannot run on to the next line: numbers hold no line breaks.
        return Err(format!(
            "column {}: a quote opens a field that does not close on its line; expected \
             \"...\" around one field",
            fields.len() + 1
        ));
    }
    fields.push(field);
    Ok(fields
        .into_iter()
        .map(|f| f.trim_ascii().to_vec())
        .collect())
}

/// Whether a field spells infinity itself (`inf`, `-Infinity`), rather than a decimal too
/// large for any float.
fn is_infinity_word(field: &str) -> bool {
    let word = field.trim_start_matches(['+', '-']).to_ascii_lowercase();
    word == "inf" || word == "infinity"
}

/// A CSV field as an f32: correctly rounded from its decimal text, with a finite number
/// beyond f32's range refused rather than turned into ±inf.
fn parse_number(field: &[u8]) -> std::result::Result<f32, String> {
    let Ok(field) = std::str::from_utf8(field) else {
        return Err("not UTF-8 text".into());
    };
    if field.is_empty() {
        return Err("the field is empty; expected a number".into());
    }
    match field.parse::<f32>() {
        // ±inf from a finite decimal: beyond f32, refused; an explicit "inf" stays.
        Ok(v) if v.is_infinite() => match field.parse::<f64>() {
            Ok(d) if d.is_finite() => f64_to_f32(d),
            _ if is_infinity_word(field) => Ok(v),
            _ => Err(format!(
                "'{}' is a finite number beyond float64's range, let alone float32's (±{:e}); \
                 write inf if infinity is meant",
                text::echo(field),
                f32::MAX
            )),
        },
        Ok(v) => Ok(v),
        Err(_) => Err(format!("'{}' is not a number", text::echo(field))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_quote_is_an_error_even_in_a_first_row() {
        assert_eq!(
            parse_csv(b"\"1,2\n3,4\n").unwrap_err(),
            "line 1, column 1: a quote opens a field that does not close on its line; expected \
             \"...\" around one field"
        );
        assert!(
            parse_csv(b"1,2\n3,\"4\n")
                .unwrap_err()
                .starts_with("line 2, column 2: ")
        );
    }

    #[test]
    fn decimals_beyond_every_float_are_refused_and_inf_is_kept() {
        let e = parse_csv(b"1,1e999\n").unwrap_err();
        assert!(
            e.starts_with("line 1, column 2: '1e999' is a finite number beyond"),
            "{e}"
        );
        let digits = format!("1{}\n", "0".repeat(100_000));
        let e = parse_csv(digits.as_bytes()).unwrap_err();
        assert!(e.contains("(99941 more characters)"), "{e}");
        let m = parse_csv(b"inf,-Infinity,+INF\n").unwrap();
        assert_eq!(m.data(), &[f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY]);
    }

    #[test]
    fn quoted_fields_are_one_field_each() {
        assert_eq!(
            split_fields(b" \"a,b\" , \"say \"\"hi\"\"\",3").unwrap(),
            vec![b"a,b".to_vec(), b"say \"hi\"".to_vec(), b"3".to_vec()]
        );
        let m = parse_csv(b"\"x\",\"y\"\n\"1\", 2\n").unwrap();
        assert_eq!((m.rows(), m.cols(), m.data()), (1, 2, &[1.0, 2.0][..]));
        assert_eq!(
            parse_csv(b"1,\"3,0\"\n").unwrap_err(),
            "line 1, column 2: '3,0' is not a number"
        );
    }

    #[test]
    fn lines_count_every_physical_line() {
        assert_eq!(
            parse_csv(b"\xef\xbb\xbf# c\r\n\r\n1,2\r\n3,x\r\n").unwrap_err(),
            "line 4, column 2: 'x' is not a number"
        );
    }
}
