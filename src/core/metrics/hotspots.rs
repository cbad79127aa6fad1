//! Where the largest output errors are: the rows and columns with the highest RMS error and
//! the single worst elements.

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Hotspots {
    /// (row, RMS error of that row), worst first.
    pub rows: Vec<(usize, f64)>,
    /// (column, RMS error of that column), worst first.
    pub cols: Vec<(usize, f64)>,
    /// (row, column, output, reference), worst |error| first.
    pub elements: Vec<(usize, usize, f32, f64)>,
}

/// The `n` largest by `key`, largest first: a selection, then a sort of just those.
fn top<T: Copy>(mut v: Vec<T>, key: impl Fn(&T) -> f64, n: usize) -> Vec<T> {
    let by = |a: &T, b: &T| key(b).total_cmp(&key(a));
    if v.len() > n && n > 0 {
        v.select_nth_unstable_by(n - 1, by);
    }
    v.truncate(n);
    v.sort_by(by);
    v
}

/// The `n` worst rows, columns and elements of an `rows × cols` output. NaN errors count as
/// the worst.
pub fn find(out: &[f32], reference: &[f64], rows: usize, cols: usize, n: usize) -> Hotspots {
    let err = |i: usize| {
        let e = f64::from(out[i]) - reference[i];
        if e.is_nan() { f64::INFINITY } else { e }
    };
    let mut row_sq = vec![0.0f64; rows];
    let mut col_sq = vec![0.0f64; cols];
    for (r, row) in row_sq.iter_mut().enumerate() {
        for (c, col) in col_sq.iter_mut().enumerate() {
            let e = err(r * cols + c);
            *row += e * e;
            *col += e * e;
        }
    }
    let rms = |sq: Vec<f64>, count: usize| -> Vec<(usize, f64)> {
        sq.into_iter()
            .enumerate()
            .map(|(i, s)| (i, (s / count.max(1) as f64).sqrt()))
            .collect()
    };
    let elements: Vec<(usize, usize, f32, f64)> = (0..rows * cols)
        .map(|i| (i / cols, i % cols, out[i], reference[i]))
        .collect();
    Hotspots {
        rows: top(rms(row_sq, cols), |p| p.1, n),
        cols: top(rms(col_sq, rows), |p| p.1, n),
        elements: top(
            elements,
            |&(_, _, o, r)| {
                let e = (f64::from(o) - r).abs();
                if e.is_nan() { f64::INFINITY } else { e }
            },
            n,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_worst_row_column_and_element() {
        // 2 × 3 output; the error sits at (1, 2) = 3 and (0, 0) = 1.
        let reference = [0.0; 6];
        let out = [1.0, 0.0, 0.0, 0.0, 0.0, 3.0];
        let h = find(&out, &reference, 2, 3, 2);
        assert_eq!(h.rows[0], (1, (9.0f64 / 3.0).sqrt()));
        assert_eq!(h.cols[0], (2, (9.0f64 / 2.0).sqrt()));
        assert_eq!(h.elements[0], (1, 2, 3.0, 0.0));
        assert_eq!(h.elements[1], (0, 0, 1.0, 0.0));
    }
}
