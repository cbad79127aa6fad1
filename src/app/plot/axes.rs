//! Axis scales and ticks: a linear axis scaled to a few units, 1-2-5 log ticks, powers of two.

use super::*;

/// How one numeric axis draws its values: as `(v − offset) / 10^exp`, so that whatever the
/// data's magnitude (1e-20 or 1e300) or its spread against it (1e6 in steps of 1e-6), the
/// drawn range is a few units wide and its ticks read as distinct numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct AxisScale {
    pub(super) offset: f64,
    pub(super) exp: i32,
}

impl AxisScale {
    const PLAIN: AxisScale = AxisScale {
        offset: 0.0,
        exp: 0,
    };

    /// The scale for data spanning `lo..=hi` (finite).
    pub(super) fn of(lo: f64, hi: f64) -> AxisScale {
        let mag = lo.abs().max(hi.abs());
        if !(mag.is_finite() && mag > 0.0) {
            return AxisScale::PLAIN;
        }
        let span = hi - lo;
        // A spread too small for its magnitude to show in a tick label: drawn as the
        // difference from a round value below it.
        if span.is_finite() && span > 0.0 && span < mag * 1e-4 {
            let exp = span.log10().floor() as i32;
            // Divided by a power of ten held exactly (10^5, not 1e-5), so 1e6 stays 1e6.
            let offset = if exp + 1 < 0 {
                let per_unit = 10f64.powi(-(exp + 1));
                (lo * per_unit).floor() / per_unit
            } else {
                let step = 10f64.powi(exp + 1);
                (lo / step).floor() * step
            };
            return AxisScale { offset, exp };
        }
        // Magnitudes a tick label would show as 0.0 or as a long run of digits.
        if (1e-2..1e5).contains(&mag) {
            AxisScale::PLAIN
        } else {
            AxisScale {
                offset: 0.0,
                exp: mag.log10().floor() as i32,
            }
        }
    }

    pub(super) fn apply(self, v: f64) -> f64 {
        (v - self.offset) / 10f64.powi(self.exp)
    }

    /// What the axis title adds: ` − 1000000 (×1e-6)`, or nothing.
    pub(super) fn describe(self) -> String {
        let mut s = String::new();
        if self.offset != 0.0 {
            let sign = if self.offset < 0.0 { '+' } else { '−' };
            s.push_str(&format!(" {sign} {}", round_number(self.offset.abs())));
        }
        if self.exp != 0 {
            s.push_str(&format!(" (×1e{})", self.exp));
        }
        s
    }
}

/// A number as short as it reads exactly: plain digits for everyday magnitudes, exponent form
/// beyond.
pub(super) fn round_number(v: f64) -> String {
    if v == 0.0 || (1e-3..1e9).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A tick value with as many decimals as ticks `step` apart need, trailing zeros dropped
/// (never `0.30000000000000004`, never `-0`).
pub(super) fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() {
        (1 - step.log10().floor() as i32).clamp(0, 12) as usize
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

/// A title with a note in its parentheses: "block size (elements, log scale)", or new ones.
pub(super) fn with_note(title: &str, note: &str) -> String {
    match title.strip_suffix(')') {
        Some(head) if head.contains('(') => format!("{head}, {note})"),
        _ => format!("{title} ({note})"),
    }
}

/// An axis title with its scale: "output MSE (×1e-5)", "b − 1000000 (×1e-6)".
pub(super) fn scaled_title(title: &str, scale: AxisScale) -> String {
    if scale.offset == 0.0 && scale.exp != 0 {
        with_note(title, &format!("×1e{}", scale.exp))
    } else {
        format!("{title}{}", scale.describe())
    }
}

/// Ticks at 1, 2 and 5 per decade between `a` and `b` (log10 units), or at every decade (or
/// every few) over a wider span, each labelled with its exact value.
pub(super) fn log10_ticks(a: f64, b: f64) -> Vec<(f64, String)> {
    let span = b - a;
    let mults: &[u32] = if span <= 4.5 { &[1, 2, 5] } else { &[1] };
    let every = (span / 10.0).ceil().max(1.0) as i32;
    let mut out = Vec::new();
    for k in (a.floor() as i32)..=(b.ceil() as i32) {
        if k.rem_euclid(every) != 0 {
            continue;
        }
        for &m in mults {
            let at = f64::from(m).log10() + f64::from(k);
            if at >= a - 1e-9 && at <= b + 1e-9 {
                out.push((at, decimal(m, k)));
            }
        }
    }
    out
}

/// m · 10^k written exactly: "5", "200", "0.05", "1e-7".
pub(super) fn decimal(m: u32, k: i32) -> String {
    match k {
        0..=5 => format!("{m}{}", "0".repeat(k as usize)),
        -4..=-1 => format!("0.{}{m}", "0".repeat((-k - 1) as usize)),
        _ => format!("{m}e{k}"),
    }
}

/// Ticks at the powers of two between `a` and `b` (log2 units), every one while they fit.
pub(super) fn log2_ticks(a: f64, b: f64) -> Vec<(f64, String)> {
    let (k0, k1) = (a.ceil() as i32, b.floor() as i32);
    let count = (k1 - k0 + 1).max(0);
    let every = (count + 11) / 12;
    (k0..=k1)
        .filter(|k| every <= 1 || (k - k0) % every == 0)
        .map(|k| {
            let label = match k {
                0..=62 => (1u64 << k).to_string(),
                -12..=-1 => format!("{}", 2f64.powi(k)),
                _ => format!("2^{k}"),
            };
            (f64::from(k), label)
        })
        .collect()
}

/// A linear axis ticked where we say (no light grid lines between).
pub(super) struct Ticked {
    pub(super) inner: RangedCoordf64,
    pub(super) keys: Vec<f64>,
}

impl Ticked {
    pub(super) fn new(lo: f64, hi: f64, keys: Vec<f64>) -> Ticked {
        Ticked {
            inner: RangedCoordf64::from(lo..hi),
            keys,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Plotters' own choice of about `n` round ticks over `lo..hi`.
pub(super) fn linear_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    RangedCoordf64::from(lo..hi).key_points(n)
}

/// How a numeric x axis maps values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum XMap {
    Linear(AxisScale),
    Log10,
    Log2,
}

impl XMap {
    /// The map for positive or any values `lo..=hi` of the column `column`: base 2 for block
    /// and group sizes (and columns of powers of two), base 10 for two decades or more.
    pub(super) fn choose(column: &str, values: &[f64]) -> XMap {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let powers_of_two = values.len() >= 3
            && values.iter().all(|&v| {
                v >= 1.0 && v <= 2f64.powi(62) && (v as u64).is_power_of_two() && v.fract() == 0.0
            });
        if lo > 0.0
            && ((is_size_column(column) && hi / lo >= 2.0) || (powers_of_two && hi / lo >= 4.0))
        {
            XMap::Log2
        } else if lo > 0.0 && hi / lo >= 100.0 {
            XMap::Log10
        } else {
            XMap::Linear(AxisScale::of(lo, hi))
        }
    }

    pub(super) fn apply(self, v: f64) -> f64 {
        match self {
            XMap::Linear(s) => s.apply(v),
            XMap::Log10 => v.log10(),
            XMap::Log2 => v.log2(),
        }
    }
}
