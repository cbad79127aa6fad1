//! The f64 reference product of the unquantized f32 inputs: what every error is measured against.

use rayon::prelude::*;

use crate::core::matrix::Matrix;
use crate::core::simd;

/// Σ_k a[r][k]·b[s][k] in f64 for every pair of an R-row and an S-row group, in one fixed
/// order: eight partial sums (k mod 8), added in turn, then the tail past the last multiple
/// of 8. The partial sums let the compiler vectorise (a single running sum would serialise on
/// the add latency); the tiles let one load of a row serve S (or R) dot products. This is the
/// scalar twin of `simd::f64_dots_2x2` (AVX2), which does the same operations in the same
/// order, so gives the same bits.
#[inline(always)]
pub(crate) fn dots<const R: usize, const S: usize>(
    a: [&[f64]; R],
    b: [&[f64]; S],
) -> [[f64; S]; R] {
    let k = a.first().map_or(0, |r| r.len());
    let whole = k / 8 * 8;
    let mut acc = [[[0.0f64; 8]; S]; R];
    for base in (0..whole).step_by(8) {
        for (acc_r, a_r) in acc.iter_mut().zip(&a) {
            let x = &a_r[base..base + 8];
            for (acc_rs, b_s) in acc_r.iter_mut().zip(&b) {
                let y = &b_s[base..base + 8];
                for i in 0..8 {
                    acc_rs[i] += x[i] * y[i];
                }
            }
        }
    }
    let mut out = [[0.0f64; S]; R];
    for (r, a_r) in a.iter().enumerate() {
        for (s, b_s) in b.iter().enumerate() {
            let tail: f64 = a_r[whole..k]
                .iter()
                .zip(&b_s[whole..k])
                .map(|(&p, &q)| p * q)
                .sum();
            out[r][s] = acc[r][s].iter().sum::<f64>() + tail;
        }
    }
    out
}

/// One element of the reference: the dot product of two f64 rows, in `dots`' order.
pub fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    dots::<1, 1>([a], [b])[0][0]
}

/// y = W · x in f64, `M × N` row-major. `xt` is x transposed (`N × K`), so both operands are
/// read along contiguous rows (converted to f64 once, exactly). Rows of y are computed in
/// parallel tasks, in tiles: 4 × 4 on AVX-512, 2 × 2 on AVX2 and on the portable path (as the
/// active kernel path allows). Every element has the same bits as [`dot_f64`] of its row and
/// column.
pub fn gemm_f64(w: &Matrix, xt: &Matrix) -> Vec<f64> {
    assert_eq!(w.cols(), xt.cols(), "reference GEMM: K must match");
    let (m, n, k) = (w.rows(), xt.rows(), w.cols());
    let mut out = vec![0.0f64; m * n];
    if n == 0 || m == 0 {
        return out;
    }
    // xᵀ is widened once; W a task's rows at a time (the widening is exact, so the result is
    // the same as widening all of W, without a second copy of W twice its size).
    let b: Vec<f64> = xt.data().par_iter().map(|&x| f64::from(x)).collect();
    let isa = simd::active();
    if simd::f64_tile(isa) == 4 {
        tiled::<4>(w, &b, (n, k), &mut out, |a4, b4| {
            simd::f64_dots_4x4(isa, a4, b4).unwrap_or_else(|| dots(a4, b4))
        });
    } else {
        tiled::<2>(w, &b, (n, k), &mut out, |a2, b2| {
            simd::f64_dots_2x2(isa, a2, b2).unwrap_or_else(|| dots(a2, b2))
        });
    }
    out
}

fn row(v: &[f64], k: usize, i: usize) -> &[f64] {
    &v[i * k..(i + 1) * k]
}

/// The GEMM loops around a T × T `tile` of [`dots`]: tasks of 16 rows; inside, columns in
/// blocks of about 256 KiB of xᵀ, so a block stays in cache while the task's rows pass over it
/// (streaming all of xᵀ for every row group made the product memory-bound). Rows and columns
/// past the last whole tile take [`dot_f64`] one element at a time.
fn tiled<const T: usize>(
    w: &Matrix,
    b: &[f64],
    (n, k): (usize, usize),
    out: &mut [f64],
    tile: impl Fn([&[f64]; T], [&[f64]; T]) -> [[f64; T]; T] + Sync,
) {
    const ROWS_PER_TASK: usize = 16;
    let cols = n / T * T;
    let block = ((1usize << 18) / (8 * k).max(1)).clamp(T, n.max(T)) / T * T;
    out.par_chunks_mut(ROWS_PER_TASK * n)
        .with_min_len((1 << 16) / (ROWS_PER_TASK * k * n).max(1) + 1)
        .enumerate()
        .for_each(|(t, task)| {
            let rows = task.len() / n;
            let a: Vec<f64> = w.data()[t * ROWS_PER_TASK * k..][..rows * k]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            let a = a.as_slice();
            let groups = rows / T;
            for j0 in (0..cols).step_by(block) {
                for g in 0..groups {
                    let at: [&[f64]; T] = std::array::from_fn(|r| row(a, k, g * T + r));
                    for j in (j0..(j0 + block).min(cols)).step_by(T) {
                        let bt: [&[f64]; T] = std::array::from_fn(|s| row(b, k, j + s));
                        let y = tile(at, bt);
                        for (r, y_r) in y.iter().enumerate() {
                            let at_row = (g * T + r) * n + j;
                            task[at_row..at_row + T].copy_from_slice(y_r);
                        }
                    }
                }
            }
            for (r, y) in task.chunks_mut(n).enumerate() {
                let rest = if r < groups * T { cols..n } else { 0..n };
                for j in rest {
                    y[j] = dot_f64(row(a, k, r), row(b, k, j));
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order of [`dots`], written out: eight partial sums, added in turn, then the tail.
    fn dot_by_hand(a: &[f64], b: &[f64]) -> f64 {
        let whole = a.len() / 8 * 8;
        let mut acc = [0.0f64; 8];
        for (i, (x, y)) in a[..whole].iter().zip(&b[..whole]).enumerate() {
            acc[i % 8] += x * y;
        }
        let mut sum = -0.0f64;
        for v in acc {
            sum += v;
        }
        let mut tail = -0.0f64;
        for (x, y) in a[whole..].iter().zip(&b[whole..]) {
            tail += x * y;
        }
        sum + tail
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = crate::core::rng::splitmix64(seed ^ i as u64);
                ((h >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2f32.powi((h % 40) as i32 - 20)
            })
            .collect()
    }

    #[test]
    fn every_element_is_the_dot_in_its_fixed_order() {
        // Odd sizes: tiles, edge rows and columns, and tails of every length.
        for (m, k, n) in [
            (1, 1, 1),
            (3, 7, 5),
            (5, 17, 4),
            (6, 64, 9),
            (2, 8, 2),
            (7, 101, 3),
            (37, 9, 33),
            (33, 3000, 70),
        ] {
            let w = Matrix::new(m, k, values(m * k, 1)).unwrap();
            let xt = Matrix::new(n, k, values(n * k, 2)).unwrap();
            let y = gemm_f64(&w, &xt);
            for i in 0..m {
                for j in 0..n {
                    let a: Vec<f64> = w.row(i).iter().map(|&v| f64::from(v)).collect();
                    let b: Vec<f64> = xt.row(j).iter().map(|&v| f64::from(v)).collect();
                    assert_eq!(
                        y[i * n + j].to_bits(),
                        dot_by_hand(&a, &b).to_bits(),
                        "({i}, {j}) of {m}×{k}×{n}"
                    );
                }
            }
        }
    }

    #[test]
    fn tiles_equal_single_dots_on_every_path() {
        let k = 203;
        let rows: Vec<Vec<f64>> = (0..4)
            .map(|s| values(k, s).iter().map(|&v| f64::from(v)).collect())
            .collect();
        let (a2, b2) = ([&rows[0][..], &rows[1][..]], [&rows[2][..], &rows[3][..]]);
        let want = [
            [dot_f64(a2[0], b2[0]), dot_f64(a2[0], b2[1])],
            [dot_f64(a2[1], b2[0]), dot_f64(a2[1], b2[1])],
        ];
        assert_eq!(dots(a2, b2), want);
        for isa in simd::Isa::supported() {
            if let Some(t) = simd::f64_dots_2x2(isa, a2, b2) {
                assert_eq!(t, want, "{isa:?}");
            }
        }
        let more: Vec<Vec<f64>> = (4..8)
            .map(|s| values(k, s).iter().map(|&v| f64::from(v)).collect())
            .collect();
        let a4 = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
        let b4 = [&more[0][..], &more[1][..], &more[2][..], &more[3][..]];
        let want: [[f64; 4]; 4] =
            std::array::from_fn(|r| std::array::from_fn(|s| dot_f64(a4[r], b4[s])));
        assert_eq!(dots(a4, b4), want);
        for isa in simd::Isa::supported() {
            if let Some(t) = simd::f64_dots_4x4(isa, a4, b4) {
                assert_eq!(t, want, "{isa:?}");
            }
        }
    }
}
