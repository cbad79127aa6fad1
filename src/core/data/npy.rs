//! numpy `.npy` files: read float32 / float64 arrays of one or two dimensions, write the
//! arrays qlab produces. Hand-written rather than a crate because the format is small and
//! qlab must name every way a file can be wrong (dtype, order, rank, truncation) in one line,
//! and check declared sizes against the file before allocating anything.

use std::path::Path;

use crate::core::error::{Error, Result};
use crate::core::matrix::{Matrix, shape_str};
use crate::core::text;

const MAGIC: &[u8] = b"\x93NUMPY";

/// An array read from a `.npy` file, converted to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    /// The dtype as the file declared it, e.g. `<f8`.
    pub descr: String,
    pub data: Vec<f32>,
}

impl NpyArray {
    /// As a matrix: a 1-D array of length k becomes `1 × k` (one row, blocks along it).
    pub fn into_matrix(self) -> Matrix {
        let (r, c) = match self.shape[..] {
            [r, c] => (r, c),
            _ => (1, self.data.len()),
        };
        Matrix::new(r, c, self.data).expect("size checked on read")
    }
}

/// Data to write, with its numpy dtype.
pub enum NpyData<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
    U8(&'a [u8]),
    I8(&'a [i8]),
    U16(&'a [u16]),
    I32(&'a [i32]),
}

impl NpyData<'_> {
    fn descr(&self) -> &'static str {
        match self {
            NpyData::F32(_) => "<f4",
            NpyData::F64(_) => "<f8",
            NpyData::U8(_) => "|u1",
            NpyData::I8(_) => "|i1",
            NpyData::U16(_) => "<u2",
            NpyData::I32(_) => "<i4",
        }
    }

    fn len(&self) -> usize {
        match self {
            NpyData::F32(d) => d.len(),
            NpyData::F64(d) => d.len(),
            NpyData::U8(d) => d.len(),
            NpyData::I8(d) => d.len(),
            NpyData::U16(d) => d.len(),
            NpyData::I32(d) => d.len(),
        }
    }

    fn extend_le(&self, out: &mut Vec<u8>) {
        match self {
            NpyData::F32(d) => d.iter().for_each(|v| out.extend(v.to_le_bytes())),
            NpyData::F64(d) => d.iter().for_each(|v| out.extend(v.to_le_bytes())),
            NpyData::U8(d) => out.extend_from_slice(d),
            NpyData::I8(d) => out.extend(d.iter().map(|&v| v as u8)),
            NpyData::U16(d) => d.iter().for_each(|v| out.extend(v.to_le_bytes())),
            NpyData::I32(d) => d.iter().for_each(|v| out.extend(v.to_le_bytes())),
        }
    }
}

/// Encodes a `.npy` (format 1.0) in memory.
pub fn encode(shape: &[usize], data: &NpyData) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "npy: shape and data disagree"
    );
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        data.descr(),
        shape_str(shape)
    );
    // Pad so that magic + version + length + header is a multiple of 64, ending in '\n'.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    data.extend_le(&mut out);
    out
}

/// Index `i` of a flat array, formatted in the array's own shape: `(i,)` for 1-D, `(r, c)`
/// for 2-D.
pub fn index_str(shape: &[usize], i: usize) -> String {
    match shape {
        [_, c] if *c > 0 => format!("({}, {})", i / c, i % c),
        _ => format!("({i},)"),
    }
}

/// Index of the first NaN or infinite value, formatted in the array's own shape.
pub fn first_non_finite(shape: &[usize], data: &[f32]) -> Option<(String, f32)> {
    let i = data.iter().position(|v| !v.is_finite())?;
    Some((index_str(shape, i), data[i]))
}

/// An f64 as qlab's f32, refusing a finite value beyond f32's range (it would become ±inf
/// without a word). NaN and ±inf stay what they are.
pub fn f64_to_f32(v: f64) -> std::result::Result<f32, String> {
    let f = v as f32;
    if f.is_infinite() && v.is_finite() {
        Err(format!(
            "{v:e} is finite in float64 but beyond float32's range (±{:e}); qlab computes in \
             float32: rescale the data",
            f32::MAX
        ))
    } else {
        Ok(f)
    }
}

/// Reads a float array (float16, bfloat16 as ml_dtypes writes it, float32, float64) of one or
/// two dimensions, in C or Fortran order.
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = crate::core::files::read(path)?;
    decode(&bytes).map_err(|msg| Error::file(path, msg))
}

/// Reads an array of activations laid out `(…, K)`: any number of dimensions, the leading
/// ones merged into tokens, as a `tokens × K` matrix (a 1-D array is one token), with the
/// file's shape.
pub fn read_tokens_k(path: &Path) -> Result<(Matrix, Vec<usize>)> {
    let bytes = crate::core::files::read(path)?;
    decode_tokens_k(&bytes).map_err(|msg| Error::file(path, msg))
}

/// [`decode`] of an array of any rank ≥ 1 (its shape as the file gives it).
pub fn decode_any_rank(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    decode_with(bytes, true)
}

/// [`read_tokens_k`] of `.npy` bytes.
pub fn decode_tokens_k(bytes: &[u8]) -> std::result::Result<(Matrix, Vec<usize>), String> {
    let a = decode_with(bytes, true)?;
    let k = *a.shape.last().expect("at least one dimension");
    let tokens = a.data.len() / k.max(1);
    let m = Matrix::new(tokens, k, a.data).map_err(|e| e.to_string())?;
    Ok((m, a.shape))
}

/// An array from a `.npy`, or member `key` of a `.npz` (`--key`; the only one when `None`).
pub fn read_keyed(path: &Path, key: Option<&str>) -> Result<NpyArray> {
    let npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    match (npz, key) {
        (true, k) => crate::core::data::npz::read(path, k),
        (false, None) => read(path),
        (false, Some(_)) => Err(Error::file(
            path,
            "--key names an array inside a .npz archive; this is not one",
        )),
    }
}

/// Reads a file as a matrix (see [`NpyArray::into_matrix`]).
pub fn read_matrix(path: &Path) -> Result<Matrix> {
    read(path).map(NpyArray::into_matrix)
}

/// Parses `.npy` bytes; the error is the message without the file name.
pub fn decode(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    decode_with(bytes, false)
}

/// The element types qlab reads, by `descr`: (little-endian, bytes, kind).
fn element(descr: &str) -> Option<(bool, usize, Elem)> {
    Some(match descr {
        "<f4" | "=f4" => (true, 4, Elem::F32),
        "<f8" | "=f8" => (true, 8, Elem::F64),
        ">f4" => (false, 4, Elem::F32),
        ">f8" => (false, 8, Elem::F64),
        "<f2" | "=f2" => (true, 2, Elem::F16),
        ">f2" => (false, 2, Elem::F16),
        // ml_dtypes' bfloat16 has no numpy type code: np.save writes it as two raw bytes.
        "<V2" | "|V2" => (true, 2, Elem::Bf16),
        _ => return None,
    })
}

#[derive(Clone, Copy)]
enum Elem {
    F16,
    Bf16,
    F32,
    F64,
}

/// The header of `.npy` bytes and the payload after it.
fn split(bytes: &[u8]) -> std::result::Result<(Header, &[u8]), String> {
    if !bytes.starts_with(MAGIC) {
        return Err("not a .npy file (missing the \\x93NUMPY magic)".into());
    }
    let (header_len, start): (usize, usize) = match bytes.get(6) {
        Some(1) if bytes.len() >= 10 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        Some(2 | 3) if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        Some(1..=3) => return Err("truncated .npy header".into()),
        Some(v) => {
            return Err(format!(
                "unsupported .npy format version {v}; expected 1, 2 or 3"
            ));
        }
        None => return Err("truncated .npy header".into()),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated .npy header")?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| "the .npy header is not UTF-8")?;
    Ok((parse_header(header)?, &bytes[end..]))
}

/// Reads a `.npy` array of bytes (uint8, or int8 taken as its bits) of any rank ≥ 1, in C
/// order: codes, scale bytes, packed nibbles.
pub fn read_u8(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = crate::core::files::read(path)?;
    decode_u8(&bytes).map_err(|msg| Error::file(path, msg))
}

/// [`read_u8`] of `.npy` bytes.
pub fn decode_u8(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<u8>), String> {
    let (header, payload) = split(bytes)?;
    if !matches!(
        header.descr.as_str(),
        "|u1" | "<u1" | ">u1" | "|i1" | "<i1" | ">i1"
    ) {
        return Err(format!(
            "dtype '{}' is not supported here; expected uint8 ('|u1') or int8 ('|i1')",
            text::echo(&header.descr)
        ));
    }
    if header.shape.is_empty() {
        return Err("array is a scalar (shape ()); expected at least 1 dimension".into());
    }
    let need = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if need != Some(payload.len()) {
        return Err(format!(
            "header declares shape {} of {} but the file holds {} bytes after the header",
            shape_str(&header.shape),
            header.descr,
            payload.len()
        ));
    }
    let data = if header.fortran_order {
        to_c_order(&header.shape, payload)
    } else {
        payload.to_vec()
    };
    Ok((header.shape, data))
}

/// [`decode`]; `any_rank` takes arrays of any rank ≥ 1 (activations), else 1 or 2.
fn decode_with(bytes: &[u8], any_rank: bool) -> std::result::Result<NpyArray, String> {
    let (header, payload) = split(bytes)?;
    let Some((little, itemsize, elem)) = element(&header.descr) else {
        let other = header.descr.as_str();
        return Err(format!(
            "dtype '{}'{} is not supported; expected float16 ('<f2'), bfloat16 ('<V2', as \
             ml_dtypes saves it), float32 ('<f4') or float64 ('<f8')",
            text::echo(other),
            dtype_name(other)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ));
    };
    match header.shape.len() {
        1 | 2 => {}
        0 => return Err("array is a scalar (shape ()); expected 1 or 2 dimensions".into()),
        _ if any_rank => {}
        n => {
            return Err(format!(
                "array has {n} dimensions (shape {}); expected 1 or 2",
                shape_str(&header.shape)
            ));
        }
    }
    if header.shape.contains(&0) {
        return Err(format!(
            "array of shape {} is empty; expected at least one element",
            shape_str(&header.shape)
        ));
    }
    let need = header
        .shape
        .iter()
        .try_fold(itemsize, |acc: usize, &d| acc.checked_mul(d));
    match need {
        Some(n) if n == payload.len() => {}
        _ => {
            return Err(format!(
                "header declares shape {} of {} ({} bytes of data) but the file holds {} bytes after the header",
                shape_str(&header.shape),
                header.descr,
                need.map_or("more than 2^64".to_string(), |n| n.to_string()),
                payload.len()
            ));
        }
    }
    let two = |c: &[u8]| if little { [c[0], c[1]] } else { [c[1], c[0]] };
    let data: Vec<f32> = match elem {
        Elem::F16 => payload
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes(two(c)).to_f32())
            .collect(),
        Elem::Bf16 => payload
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes(two(c)).to_f32())
            .collect(),
        Elem::F32 => payload
            .chunks_exact(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                if little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                }
            })
            .collect(),
        Elem::F64 => payload
            .chunks_exact(8)
            .enumerate()
            .map(|(i, c)| {
                let b: [u8; 8] = c.try_into().expect("8 bytes");
                let v = if little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                // The index in the array's own (C) terms.
                let at = if header.fortran_order {
                    c_index(&header.shape, i)
                } else {
                    i
                };
                f64_to_f32(v)
                    .map_err(|m| format!("value at index {}: {m}", index_str(&header.shape, at)))
            })
            .collect::<std::result::Result<_, _>>()?,
    };
    let data = if header.fortran_order {
        to_c_order(&header.shape, &data)
    } else {
        data
    };
    Ok(NpyArray {
        shape: header.shape,
        descr: header.descr,
        data,
    })
}

/// The C-order index of the element at Fortran-order position `f` (first axis fastest).
fn c_index(shape: &[usize], mut f: usize) -> usize {
    let mut c = 0;
    let mut stride = 1;
    let strides: Vec<usize> = {
        let mut v = vec![0; shape.len()];
        for (i, &d) in shape.iter().enumerate().rev() {
            v[i] = stride;
            stride *= d;
        }
        v
    };
    for (i, &d) in shape.iter().enumerate() {
        c += (f % d) * strides[i];
        f /= d;
    }
    c
}

/// A Fortran-order array's values in C order (`np.save(a.T)` writes `a`'s memory as the
/// transpose's Fortran order).
fn to_c_order<T: Copy + Default>(shape: &[usize], data: &[T]) -> Vec<T> {
    let mut out = vec![T::default(); data.len()];
    for (f, &v) in data.iter().enumerate() {
        out[c_index(shape, f)] = v;
    }
    out
}

fn dtype_name(descr: &str) -> Option<String> {
    let kind = descr.trim_start_matches(['<', '>', '=', '|']);
    let (k, size) = kind.split_at(kind.find(|c: char| c.is_ascii_digit())?);
    let bytes: usize = size.parse().ok()?;
    let name = match k {
        "f" => "float",
        "i" => "int",
        "u" => "uint",
        "c" => "complex",
        "b" => return Some("bool".into()),
        "U" => return Some("unicode string".into()),
        "S" => return Some("byte string".into()),
        _ => return None,
    };
    Some(format!("{name}{}", bytes * 8))
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the header, a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(dict: &str) -> std::result::Result<Header, String> {
    let bad = || format!("malformed .npy header: {}", text::echo(dict.trim_end()));
    let mut p = Parser {
        s: dict.as_bytes(),
        i: 0,
    };
    p.expect(b'{').ok_or_else(bad)?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string().ok_or_else(bad)?;
        p.expect(b':').ok_or_else(bad)?;
        p.skip_ws();
        match key.as_str() {
            "descr" if descr.is_none() => descr = Some(p.string().ok_or_else(bad)?),
            "fortran_order" if fortran.is_none() => fortran = Some(p.boolean().ok_or_else(bad)?),
            "shape" if shape.is_none() => shape = Some(p.tuple().ok_or_else(bad)?),
            "descr" | "fortran_order" | "shape" => {
                return Err(format!("the .npy header gives '{key}' twice"));
            }
            _ => {
                return Err(format!(
                    "unexpected key '{}' in .npy header",
                    text::echo(&key)
                ));
            }
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}').ok_or_else(bad)?;
            break;
        }
    }
    Ok(Header {
        descr: descr.ok_or("the .npy header has no 'descr'")?,
        fortran_order: fortran.ok_or("the .npy header has no 'fortran_order'")?,
        shape: shape.ok_or("the .npy header has no 'shape'")?,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        let hit = self.s.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    fn string(&mut self) -> Option<String> {
        self.skip_ws();
        let quote = *self.s.get(self.i).filter(|&&q| q == b'\'' || q == b'"')?;
        let rest = &self.s[self.i + 1..];
        let len = rest.iter().position(|&c| c == quote)?;
        self.i += len + 2;
        String::from_utf8(rest[..len].to_vec()).ok()
    }

    fn boolean(&mut self) -> Option<bool> {
        for (word, v) in [("True", true), ("False", false)] {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                return Some(v);
            }
        }
        None
    }

    fn tuple(&mut self) -> Option<Vec<usize>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Some(dims);
            }
            self.skip_ws();
            let len = self.s[self.i..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let digits = std::str::from_utf8(&self.s[self.i..self.i + len]).ok()?;
            dims.push(digits.parse().ok()?);
            self.i += len;
            if !self.eat(b',') {
                self.expect(b')')?;
                return Some(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_padded_to_64_bytes() {
        let bytes = encode(&[2, 3], &NpyData::F32(&[0.0; 6]));
        let header_end = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert_eq!(header_end % 64, 0);
        assert_eq!(bytes[header_end - 1], b'\n');
        assert_eq!(bytes.len(), header_end + 24);
    }

    #[test]
    fn round_trips_f32_and_f64() {
        let back = decode(&encode(&[3], &NpyData::F64(&[1.5, -2.0, 0.1]))).unwrap();
        assert_eq!(back.shape, vec![3]);
        assert_eq!(back.data, vec![1.5, -2.0, 0.1f64 as f32]);
        let back = decode(&encode(&[2, 2], &NpyData::F32(&[1.0, 2.0, 3.0, 4.0]))).unwrap();
        assert_eq!(back.shape, vec![2, 2]);
    }

    #[test]
    fn parses_headers_numpy_writes() {
        let h =
            parse_header("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }   \n").unwrap();
        assert_eq!(
            (h.descr.as_str(), h.fortran_order, h.shape),
            ("<f8", false, vec![5])
        );
        let h = parse_header("{'descr': '>f4', 'fortran_order': True, 'shape': ()}").unwrap();
        assert!(h.fortran_order);
        assert!(h.shape.is_empty());
    }

    #[test]
    fn names_unsupported_dtypes() {
        let mut bytes = encode(&[2], &NpyData::I32(&[1, 2]));
        assert_eq!(
            decode(&bytes).unwrap_err(),
            "dtype '<i4' (int32) is not supported; expected float16 ('<f2'), bfloat16 ('<V2', as ml_dtypes saves it), float32 ('<f4') or float64 ('<f8')"
        );
        bytes.truncate(bytes.len() - 1);
        assert!(decode(&bytes).unwrap_err().starts_with("dtype '<i4'"));
    }

    #[test]
    fn rejects_truncated_data_before_allocating() {
        let mut bytes = encode(&[4], &NpyData::F32(&[1.0; 4]));
        bytes.truncate(bytes.len() - 3);
        assert_eq!(
            decode(&bytes).unwrap_err(),
            "header declares shape (4,) of <f4 (16 bytes of data) but the file holds 13 bytes after the header"
        );
    }

    #[test]
    fn big_endian_is_read() {
        let mut bytes = encode(&[1], &NpyData::F32(&[0.0]));
        let n = bytes.len();
        let pos = bytes.windows(3).position(|w| w == b"<f4").unwrap();
        bytes[pos] = b'>';
        bytes[n - 4..].copy_from_slice(&1.5f32.to_be_bytes());
        assert_eq!(decode(&bytes).unwrap().data, vec![1.5]);
    }

    #[test]
    fn fortran_order_becomes_c_order_in_any_rank() {
        // a[i][j][k] = 100i + 10j + k, shape (2, 3, 4); Fortran memory runs i fastest.
        let mut fortran = vec![0.0f32; 24];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    fortran[i + 2 * (j + 3 * k)] = (100 * i + 10 * j + k) as f32;
                }
            }
        }
        let c: Vec<f32> = (0..2)
            .flat_map(|i| {
                (0..3).flat_map(move |j| (0..4).map(move |k| (100 * i + 10 * j + k) as f32))
            })
            .collect();
        assert_eq!(to_c_order(&[2, 3, 4], &fortran), c);
    }
}
