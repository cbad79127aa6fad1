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

/// A [`Fixed`] whose integers all lie in −127..=127, held as bytes (an eighth of the memory,
/// and what the SIMD block kernel reads): INT4, and INT8 whenever q − zp fits.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixed8 {
    pub rows: usize,
    pub k: usize,
    pub ints: Vec<i8>,
    pub frac: i32,
    pub seg: usize,
    pub scales: Vec<f64>,
}

impl Fixed8 {
    /// `f` as bytes, when every integer fits.
    pub fn from_fixed(f: &Fixed) -> Option<Fixed8> {
        let ints = f
            .ints
            .iter()
            .map(|&v| (-127..=127).contains(&v).then_some(v as i8))
            .collect::<Option<Vec<i8>>>()?;
        Some(Fixed8 {
            rows: f.rows,
            k: f.k,
            ints,
            frac: f.frac,
            seg: f.seg,
            scales: f.scales.clone(),
        })
    }

    /// From per-row codes and their integer offsets (q − zp per segment), when every
    /// difference fits: the fast way in for the affine INT formats.
    pub fn from_codes(
        (rows, k, seg): (usize, usize, usize),
        codes: &[i8],
        zero_points: impl Fn(usize, usize) -> i32,
        scales: Vec<f64>,
    ) -> Option<Fixed8> {
        let seg = seg.max(1);
        let mut ints = Vec::with_capacity(rows * k);
        for r in 0..rows {
            for (j, chunk) in codes[r * k..(r + 1) * k].chunks(seg).enumerate() {
                let zp = zero_points(r, j);
                let (lo, hi) = chunk.iter().fold((i32::MAX, i32::MIN), |(lo, hi), &q| {
                    (lo.min(i32::from(q)), hi.max(i32::from(q)))
                });
                if lo - zp < -127 || hi - zp > 127 {
                    return None;
                }
                ints.extend(chunk.iter().map(|&q| (i32::from(q) - zp) as i8));
            }
        }
        Some(Fixed8 {
            rows,
            k,
            ints,
            frac: 0,
            seg,
            scales,
        })
    }

    pub fn segments(&self) -> usize {
        self.k.div_ceil(self.seg.max(1))
    }

    /// Back to i64 integers (the portable rules' operand).
    pub fn widen(&self) -> Fixed {
        Fixed {
            rows: self.rows,
            k: self.k,
            ints: self.ints.iter().map(|&v| i64::from(v)).collect(),
            frac: self.frac,
            seg: self.seg,
            scales: self.scales.clone(),
        }
    }
}
