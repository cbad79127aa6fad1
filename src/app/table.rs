//! The readable table of `qlab run`: one column per variant, metrics as rows, the best value
//! in each row marked.

use crate::core::experiment::{Report, TensorStats, VariantReport};
use crate::core::text;

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// Predictions and costs that are not a contest.
    Neither,
}

#[derive(Clone, Copy, Debug)]
pub enum Fmt {
    Db,
    Sci,
    Percent,
    Fixed(usize),
    Count,
}

/// Formats a metric value the way the table shows it.
pub fn fmt(v: f64, f: Fmt) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    match f {
        Fmt::Db => format!("{v:.2}"),
        Fmt::Sci => format!("{v:.3e}"),
        Fmt::Percent => format!("{:.3}%", v * 100.0),
        Fmt::Fixed(d) => format!("{v:.d$}"),
        Fmt::Count => format!("{v:.0}"),
    }
}

/// What a row measures: the output, one operand, or neither (costs, counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Output,
    W,
    X,
    Cost,
}

/// One metric row: shared by this table and the TUI's overview.
pub struct Row {
    pub name: &'static str,
    pub better: Better,
    pub fmt: Fmt,
    pub get: fn(&VariantReport) -> f64,
    pub part: Part,
    /// Shown only when some variant has a non-zero value (counts of trouble).
    pub hide_zero: bool,
}

impl Row {
    /// Whether the table shows the row for these variants.
    pub fn shown(&self, variants: &[VariantReport]) -> bool {
        !self.hide_zero || variants.iter().any(|v| (self.get)(v) != 0.0)
    }

    /// The best marks of the row. A variant whose measured part went non-finite (an output
    /// beyond f32, a dequantized operand at ±inf) competes in none of that part's rows: its
    /// metrics cover the finite values only, and would flatter it.
    pub fn marks(&self, variants: &[VariantReport]) -> Vec<bool> {
        let values: Vec<f64> = variants.iter().map(self.get).collect();
        let broken = |v: &VariantReport| match self.part {
            Part::Output => v.output.non_finite > 0,
            Part::W => v.w.error.non_finite > 0,
            Part::X => v.x.error.non_finite > 0,
            Part::Cost => false,
        };
        if variants.iter().any(broken) {
            let eligible: Vec<f64> = variants
                .iter()
                .zip(&values)
                .filter(|(v, _)| !broken(v))
                .map(|(_, &x)| x)
                .collect();
            let marks = best(&eligible, self.better);
            let mut it = marks.into_iter();
            return variants
                .iter()
                .map(|v| !broken(v) && it.next().unwrap_or(false))
                .collect();
        }
        best(&values, self.better)
    }
}

/// The metric rows, in display order.
pub const ROWS: &[Row] = &[
    Row {
        name: "output NaN / inf",
        better: Better::Lower,
        fmt: Fmt::Count,
        get: |v| v.output.non_finite as f64,
        part: Part::Cost,
        hide_zero: true,
    },
    Row {
        name: "W NaN / inf after quantizing",
        better: Better::Lower,
        fmt: Fmt::Count,
        get: |v| v.w.error.non_finite as f64,
        part: Part::Cost,
        hide_zero: true,
    },
    Row {
        name: "x NaN / inf after quantizing",
        better: Better::Lower,
        fmt: Fmt::Count,
        get: |v| v.x.error.non_finite as f64,
        part: Part::Cost,
        hide_zero: true,
    },
    Row {
        name: "output SQNR (dB)",
        better: Better::Higher,
        fmt: Fmt::Db,
        get: |v| v.output.sqnr_db,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "  noise-model SQNR (dB)",
        better: Better::Neither,
        fmt: Fmt::Db,
        get: |v| v.model_output_sqnr_db,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "  W quantized alone (dB)",
        better: Better::Higher,
        fmt: Fmt::Db,
        get: |v| v.decomposition.w_only_sqnr_db,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "  x quantized alone (dB)",
        better: Better::Higher,
        fmt: Fmt::Db,
        get: |v| v.decomposition.x_only_sqnr_db,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output RMSE",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.rmse,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output max |err|",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.max_abs,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output |err| p50",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.p50,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output |err| p90",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.p90,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output |err| p99",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.p99,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output |err| p99.9",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.p999,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output mean rel err",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.mean_rel,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output max rel err",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.output.max_rel,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "output cosine",
        better: Better::Higher,
        fmt: Fmt::Fixed(6),
        get: |v| v.output.cosine,
        part: Part::Output,
        hide_zero: false,
    },
    Row {
        name: "W SQNR (dB)",
        better: Better::Higher,
        fmt: Fmt::Db,
        get: |v| v.w.error.sqnr_db,
        part: Part::W,
        hide_zero: false,
    },
    Row {
        name: "  noise-model SQNR (dB)",
        better: Better::Neither,
        fmt: Fmt::Db,
        get: |v| v.w.model_sqnr_db,
        part: Part::W,
        hide_zero: false,
    },
    Row {
        name: "W max |err|",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.w.error.max_abs,
        part: Part::W,
        hide_zero: false,
    },
    Row {
        name: "W clipped",
        better: Better::Lower,
        fmt: Fmt::Percent,
        get: |v| v.w.clipped,
        part: Part::W,
        hide_zero: false,
    },
    Row {
        name: "W flushed to zero",
        better: Better::Lower,
        fmt: Fmt::Percent,
        get: |v| v.w.flushed,
        part: Part::W,
        hide_zero: false,
    },
    Row {
        name: "x SQNR (dB)",
        better: Better::Higher,
        fmt: Fmt::Db,
        get: |v| v.x.error.sqnr_db,
        part: Part::X,
        hide_zero: false,
    },
    Row {
        name: "  noise-model SQNR (dB)",
        better: Better::Neither,
        fmt: Fmt::Db,
        get: |v| v.x.model_sqnr_db,
        part: Part::X,
        hide_zero: false,
    },
    Row {
        name: "x max |err|",
        better: Better::Lower,
        fmt: Fmt::Sci,
        get: |v| v.x.error.max_abs,
        part: Part::X,
        hide_zero: false,
    },
    Row {
        name: "x clipped",
        better: Better::Lower,
        fmt: Fmt::Percent,
        get: |v| v.x.clipped,
        part: Part::X,
        hide_zero: false,
    },
    Row {
        name: "x flushed to zero",
        better: Better::Lower,
        fmt: Fmt::Percent,
        get: |v| v.x.flushed,
        part: Part::X,
        hide_zero: false,
    },
    Row {
        name: "NaN blocks (W + x)",
        better: Better::Neither,
        fmt: Fmt::Count,
        get: |v| (v.w.nan_blocks + v.x.nan_blocks) as f64,
        part: Part::Cost,
        hide_zero: true,
    },
    Row {
        name: "W bits / element",
        better: Better::Lower,
        fmt: Fmt::Fixed(3),
        get: |v| v.w.bits_per_element,
        part: Part::Cost,
        hide_zero: false,
    },
    Row {
        name: "x bits / element",
        better: Better::Lower,
        fmt: Fmt::Fixed(3),
        get: |v| v.x.bits_per_element,
        part: Part::Cost,
        hide_zero: false,
    },
    Row {
        name: "W compression vs f32",
        better: Better::Higher,
        fmt: Fmt::Fixed(2),
        get: |v| v.compression,
        part: Part::Cost,
        hide_zero: false,
    },
];

/// Which values are the best of their row (all of them if several tie), or none when every
/// value ties or the row is not a contest.
pub fn best(values: &[f64], better: Better) -> Vec<bool> {
    let none = vec![false; values.len()];
    if better == Better::Neither || values.len() < 2 || values.iter().any(|v| v.is_nan()) {
        return none;
    }
    let top = values.iter().copied().fold(values[0], |a, b| match better {
        Better::Higher => a.max(b),
        _ => a.min(b),
    });
    let marks: Vec<bool> = values.iter().map(|&v| v == top).collect();
    if marks.iter().all(|&m| m) {
        none
    } else {
        marks
    }
}

fn stats_line(name: &str, s: &TensorStats) -> String {
    format!(
        "{name:<10}{:>12}{:>12}{:>12}{:>12}{:>12}{:>10}{:>10}\n",
        format!("{}×{}", s.rows, s.cols),
        fmt(s.mean, Fmt::Sci),
        fmt(s.std, Fmt::Sci),
        fmt(s.min, Fmt::Sci),
        fmt(s.max, Fmt::Sci),
        fmt(s.kurtosis, Fmt::Fixed(2)),
        fmt(s.zeros, Fmt::Percent)
    )
}

/// The longest variant label a column shows.
const LABEL_MAX: usize = 40;

/// Renders the report as a table for a terminal. Names, descriptions, labels and sources come
/// from files: they are shown with control characters escaped, and long ones cut.
pub fn render(r: &Report) -> String {
    let s = &r.scenario;
    let mut out = text::cut(&s.name, 200);
    if !s.description.is_empty() {
        out.push_str(&format!(" — {}", text::cut(&s.description, 1000)));
    }
    out.push_str(&format!(
        "\nseed {} · W {}×{}: {} · x {}×{}: {}\n\n",
        s.seed,
        s.m,
        s.k,
        text::cut(&s.w_source, 300),
        s.k,
        s.n,
        text::cut(&s.x_source, 300)
    ));
    out.push_str(&format!(
        "{:<10}{:>12}{:>12}{:>12}{:>12}{:>12}{:>10}{:>10}\n",
        "reference", "shape", "mean", "std", "min", "max", "kurtosis", "zeros"
    ));
    out.push_str(&stats_line("W", &r.reference.w));
    out.push_str(&stats_line("x", &r.reference.x));
    out.push_str(&stats_line("y = W·x", &r.reference.y));
    out.push('\n');

    let labels: Vec<String> = r
        .variants
        .iter()
        .map(|v| text::short(&v.label, LABEL_MAX))
        .collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(12)
        + 2;
    let name_width = ROWS
        .iter()
        .filter(|row| row.shown(&r.variants))
        .map(|row| row.name.len())
        .max()
        .unwrap_or(0)
        + 2;
    out.push_str(&format!("{:<name_width$}", "metric"));
    for label in &labels {
        out.push_str(&format!("{label:>width$}"));
    }
    out.push('\n');
    for row in ROWS {
        if !row.shown(&r.variants) {
            continue;
        }
        let values: Vec<f64> = r.variants.iter().map(row.get).collect();
        let arrow = match row.better {
            Better::Higher => "↑",
            Better::Lower => "↓",
            Better::Neither => " ",
        };
        out.push_str(&format!("{:<w$}{arrow}", row.name, w = name_width - 1));
        let marks = row.marks(&r.variants);
        for (&v, &marked) in values.iter().zip(&marks) {
            let mark = if marked { "*" } else { " " };
            out.push_str(&format!("{:>w$}{mark}", fmt(v, row.fmt), w = width - 1));
        }
        out.push('\n');
    }
    out.push_str(
        "\n* best in its row · ↑ higher is better, ↓ lower is better · noise-model SQNR: \
         predicted from uniform rounding noise, Δ²/12 per element\n",
    );
    out.push_str(&non_finite_notes(r));
    out
}

/// One line per variant whose output or dequantized operands hold NaN or ±inf: their error
/// metrics cover the finite values only, so the table says so rather than look perfect.
pub fn non_finite_notes(r: &Report) -> String {
    let mut out = String::new();
    let (m, k, n) = (r.scenario.m, r.scenario.k, r.scenario.n);
    for v in &r.variants {
        for (what, count, total, why) in [
            (
                "outputs",
                v.output.non_finite,
                m * n,
                "beyond f32's range, or from NaN blocks",
            ),
            (
                "values of W",
                v.w.error.non_finite,
                m * k,
                "dequantized beyond f32's range, or in NaN blocks",
            ),
            (
                "values of x",
                v.x.error.non_finite,
                k * n,
                "dequantized beyond f32's range, or in NaN blocks",
            ),
        ] {
            if count > 0 {
                let metrics = if count >= total {
                    "none of its metrics of them can be measured (n/a)"
                } else {
                    "its metrics of them cover the finite ones only"
                };
                out.push_str(&format!(
                    "note: {}: {count} of {total} {what} are NaN or ±inf ({why}); {metrics}\n",
                    text::short(&v.label, LABEL_MAX)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_respects_direction_and_ties() {
        assert_eq!(best(&[1.0, 3.0, 2.0], Better::Higher), [false, true, false]);
        assert_eq!(best(&[1.0, 3.0, 0.5], Better::Lower), [false, false, true]);
        assert_eq!(best(&[0.0, 1.0, 0.0], Better::Lower), [true, false, true]);
        assert_eq!(best(&[2.0, 2.0], Better::Lower), [false, false]);
        assert_eq!(best(&[f64::INFINITY, 3.0], Better::Higher), [true, false]);
        assert_eq!(best(&[1.0, 2.0], Better::Neither), [false, false]);
    }

    #[test]
    fn formats_special_values() {
        assert_eq!(fmt(f64::INFINITY, Fmt::Db), "inf");
        assert_eq!(fmt(0.001234, Fmt::Percent), "0.123%");
        assert_eq!(fmt(12345.678, Fmt::Sci), "1.235e4");
    }
}
