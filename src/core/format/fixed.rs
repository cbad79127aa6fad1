//! An operand as scaled integers: what every format whose elements are integers times a power
//! of two (MX, NVFP4, INT, FP8) has in common, and what the segment GEMM of a mixed W/x pair
//! multiplies.

/// An operand as scaled integers, rows along K: element (r, k) is worth
/// `ints[r·k + k] · 2^−frac · scales[r·segments + k / seg]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixed {
    pub rows: usize,
    pub k: usize,
    /// The integer of every element (for an affine INT format, q − zero point).
    pub ints: Vec<i64>,
    pub frac: i32,
    /// Elements per segment along K (≥ 1; the last segment of a row may be shorter).
    pub seg: usize,
    /// One exact scale per segment, `rows × ceil(k / seg)`; NaN for a NaN block.
    pub scales: Vec<f64>,
}

impl Fixed {
    pub fn segments(&self) -> usize {
        self.k.div_ceil(self.seg.max(1))
    }

    pub fn row(&self, r: usize) -> &[i64] {
        &self.ints[r * self.k..(r + 1) * self.k]
    }

    pub fn scale(&self, r: usize, k: usize) -> f64 {
        self.scales[r * self.segments() + k / self.seg]
    }

    /// The exact value of an element, as f64 (exact while ints and scales are, which holds
    /// for every format qlab has).
    pub fn value(&self, r: usize, k: usize) -> f64 {
        self.row(r)[k] as f64 * (-self.frac as f64).exp2() * self.scale(r, k)
    }
}
