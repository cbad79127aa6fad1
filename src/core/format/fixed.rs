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

thread_local! {
    /// Integer buffers handed back by [`Fixed::recycle`], for the next operand built on this
    /// thread. A fresh one of a few MB is mapped and faulted in page by page, and glibc
    /// returns it to the system on free (its trim threshold is twice the largest freed
    /// chunk, so two such operands exceed it): that was a third of an FP8 GEMM at n = 512.
    static SPARE_INTS: std::cell::RefCell<Vec<Vec<i64>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// At most this many spare buffers are kept per thread (the two operands of a GEMM).
const SPARES: usize = 2;
/// A buffer larger than this (64 MB of i64) is freed, not kept: a model's tensor must not
/// stay resident after its GEMM.
const MAX_SPARE: usize = 8 << 20;

impl Fixed {
    /// An empty integer buffer with room for `len`: a spare one when this thread has one
    /// (the largest), else a new one.
    pub fn int_buffer(len: usize) -> Vec<i64> {
        let spare = SPARE_INTS.with(|s| s.borrow_mut().pop());
        let mut v = spare.unwrap_or_default();
        v.clear();
        v.reserve(len);
        v
    }

    /// Hands this operand's integer buffer back for [`Fixed::int_buffer`] (what a GEMM does
    /// with its operands once it has run); one of more than 64 MB is freed instead.
    pub fn recycle(self) {
        if self.ints.capacity() > MAX_SPARE {
            return;
        }
        SPARE_INTS.with(|s| {
            let mut s = s.borrow_mut();
            s.push(self.ints);
            s.sort_by_key(Vec::capacity);
            if s.len() > SPARES {
                s.remove(0);
            }
        });
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
        let mut ints = vec![0i8; rows * k];
        for (r, row) in ints.chunks_mut(k.max(1)).enumerate().take(rows) {
            let src = codes[r * k..(r + 1) * k].chunks(seg);
            for (j, (dst, chunk)) in row.chunks_mut(seg).zip(src).enumerate() {
                let zp = zero_points(r, j);
                let outside = if zp == 0 {
                    // Symmetric (the default for x): the codes themselves, a copy and a
                    // search for −128, not a widening pass.
                    dst.copy_from_slice(chunk);
                    chunk.contains(&i8::MIN)
                } else {
                    // One branch-free pass (it vectorises): the difference, and whether any
                    // leaves the byte range.
                    let mut outside = false;
                    for (d, &q) in dst.iter_mut().zip(chunk) {
                        let v = i32::from(q) - zp;
                        outside |= !(-127..=127).contains(&v);
                        *d = v as i8;
                    }
                    outside
                };
                if outside {
                    return None;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A recycled operand's buffer comes back empty with its room, the largest first, and
    /// no more than two are kept.
    #[test]
    fn recycled_integer_buffers_come_back_empty_and_largest_first() {
        // A thread of its own: the spares are per thread.
        std::thread::spawn(|| {
            let make = |len: usize| Fixed {
                rows: 1,
                k: len,
                ints: vec![7; len],
                frac: 0,
                seg: len.max(1),
                scales: vec![1.0],
            };
            for len in [1000, 10, 5000] {
                make(len).recycle();
            }
            let first = Fixed::int_buffer(3);
            assert!(first.is_empty() && first.capacity() >= 5000);
            let second = Fixed::int_buffer(3);
            assert!(second.is_empty() && (1000..5000).contains(&second.capacity()));
            // The 10-element one was dropped: a third buffer is new.
            assert_eq!(Fixed::int_buffer(0).capacity(), 0);
            // One above the cap is freed, not kept (reserved only: no page is touched).
            let mut big = make(0);
            big.ints = Vec::with_capacity(MAX_SPARE + 1);
            big.recycle();
            assert_eq!(Fixed::int_buffer(0).capacity(), 0);
        })
        .join()
        .unwrap();
    }

    /// `from_codes` is q − zp per segment as bytes, and `None` exactly when one difference
    /// leaves −127..=127: at each edge (−127 and 127 fit, −128 and 128 do not), in the first,
    /// a middle and the short last segment of a row.
    #[test]
    fn from_codes_takes_the_zero_point_per_segment_and_refuses_what_does_not_fit() {
        let (rows, k, seg) = (2usize, 10usize, 4usize);
        let zp = |r: usize, j: usize| (r as i32) * 3 - j as i32;
        let codes: Vec<i8> = (0..rows * k).map(|i| (i as i8).wrapping_mul(37)).collect();
        let got = Fixed8::from_codes((rows, k, seg), &codes, zp, vec![1.0; 6]).unwrap();
        for r in 0..rows {
            for c in 0..k {
                let want = i32::from(codes[r * k + c]) - zp(r, c / seg);
                assert_eq!(i32::from(got.ints[r * k + c]), want, "({r}, {c})");
            }
        }
        for at in [0usize, 5, 9, 19] {
            for (q, z, fits) in [
                (-127i8, 0, true),
                (127, 0, true),
                (-128, 0, false),
                (127, -1, false),
                (-100, 27, true),
                (-100, 28, false),
            ] {
                let mut c = vec![0i8; rows * k];
                c[at] = q;
                let seg_of_at = (at / k, (at % k) / seg);
                let z = move |r: usize, j: usize| if (r, j) == seg_of_at { z } else { 0 };
                let f = Fixed8::from_codes((rows, k, seg), &c, z, vec![1.0; 6]);
                assert_eq!(f.is_some(), fits, "q {q} zp at {at}");
            }
        }
    }
}
