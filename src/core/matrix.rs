//! A dense row-major f32 matrix: the one currency between data sources, quantizers and kernels.

use crate::core::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// Wraps `data` (row-major) as a `rows × cols` matrix; the length must match.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        match rows.checked_mul(cols) {
            Some(n) if n == data.len() => Ok(Matrix { rows, cols, data }),
            _ => Err(Error::Shape(format!(
                "matrix of shape ({rows}, {cols}) needs {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            ))),
        }
    }

    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Builds a matrix from equal-length rows (handy in tests and examples).
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(Error::Shape(format!(
                    "row {i} has {} values, row 0 has {cols}",
                    r.len()
                )));
            }
            data.extend_from_slice(r);
        }
        Ok(Matrix {
            rows: rows.len(),
            cols,
            data,
        })
    }

    /// A `k × 1` column vector.
    pub fn column(values: Vec<f32>) -> Self {
        Matrix {
            rows: values.len(),
            cols: 1,
            data: values,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    pub fn get(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.cols + c]
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    pub fn transpose(&self) -> Matrix {
        // In 32 × 32 blocks, so both the rows read and the rows written stay in cache (a
        // column-at-a-time walk misses on every read once a column spans more than L1).
        const B: usize = 32;
        let (rows, cols) = (self.rows, self.cols);
        let mut out = vec![0.0f32; self.data.len()];
        for r0 in (0..rows).step_by(B) {
            for c0 in (0..cols).step_by(B) {
                for c in c0..(c0 + B).min(cols) {
                    let dst = &mut out[c * rows + r0..c * rows + (r0 + B).min(rows)];
                    for (r, d) in (r0..).zip(dst) {
                        *d = self.data[r * cols + c];
                    }
                }
            }
        }
        Matrix {
            rows: cols,
            cols: rows,
            data: out,
        }
    }

    /// Row-major index of the first NaN or infinite value, if any.
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        first_non_finite(&self.data).map(|i| (i / self.cols, i % self.cols))
    }
}

/// The index of the first value that is NaN or ±Inf: what formats without them refuse. A
/// branch-free pass over chunks (which vectorises: an exponent field of all ones is the
/// test) finds the chunk; only that chunk is searched value by value.
pub fn first_non_finite(data: &[f32]) -> Option<usize> {
    const CHUNK: usize = 256;
    let bad = |c: &[f32]| {
        c.iter().fold(false, |any, v| {
            any | (v.to_bits() & 0x7F80_0000 == 0x7F80_0000)
        })
    };
    let chunk = data.chunks(CHUNK).position(bad)?;
    let start = chunk * CHUNK;
    data[start..]
        .iter()
        .position(|v| !v.is_finite())
        .map(|i| start + i)
}

/// Shape as numpy prints it: `(3, 4)`.
pub fn shape_str(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_elements() {
        let m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).unwrap();
        let t = m.transpose();
        assert_eq!(t.shape(), (3, 2));
        assert_eq!(t.data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(t.transpose(), m);
    }

    #[test]
    fn transpose_is_exact_across_block_edges() {
        // Sizes around the 32-element blocks: every element lands at (c, r).
        for (rows, cols) in [(1, 1), (1, 70), (70, 1), (31, 33), (32, 32), (65, 97)] {
            let m = Matrix::new(rows, cols, (0..rows * cols).map(|i| i as f32).collect()).unwrap();
            let t = m.transpose();
            assert_eq!(t.shape(), (cols, rows));
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t.get(c, r), m.get(r, c), "({r}, {c}) of {rows}×{cols}");
                }
            }
        }
    }

    #[test]
    fn new_rejects_wrong_length() {
        let e = Matrix::new(2, 3, vec![0.0; 5]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "matrix of shape (2, 3) needs 6 values, got 5"
        );
    }

    #[test]
    fn first_non_finite_reports_row_and_column() {
        let m = Matrix::from_rows(&[[1.0, 2.0], [f32::INFINITY, f32::NAN]]).unwrap();
        assert_eq!(m.first_non_finite(), Some((1, 0)));
        assert_eq!(shape_str(&[3]), "(3,)");
        assert_eq!(shape_str(&[3, 4]), "(3, 4)");
    }

    #[test]
    fn first_non_finite_is_the_first_nan_or_inf_wherever_it_lies() {
        // Finite extremes (the largest, the smallest subnormal, −0) are never reported.
        let finite = [f32::MAX, -f32::MAX, f32::from_bits(1), -0.0, 1.0];
        let base: Vec<f32> = (0..1000).map(|i| finite[i % finite.len()]).collect();
        assert_eq!(first_non_finite(&base), None);
        assert_eq!(first_non_finite(&[]), None);
        for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            // Chunk edges (255 | 256), the ends, and a second bad value after the first.
            for at in [0, 1, 255, 256, 257, 511, 999] {
                let mut d = base.clone();
                d[at] = bad;
                d[999.min(at + 300)] = f32::NAN;
                assert_eq!(first_non_finite(&d), Some(at), "{bad} at {at}");
            }
        }
    }
}
