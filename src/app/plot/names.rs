//! What a column is called on a chart: words, a unit, and the factor to the drawn values.

/// What a column is called on a chart: words, a unit, and the factor from the CSV's values to
/// the drawn ones (fractions are drawn as percentages).
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub words: String,
    pub unit: Option<&'static str>,
    pub scale: f64,
}

impl Name {
    pub(super) fn new(words: impl Into<String>, unit: Option<&'static str>) -> Name {
        Name {
            words: words.into(),
            unit,
            scale: 1.0,
        }
    }

    pub(super) fn percent(words: &str) -> Name {
        Name {
            words: words.into(),
            unit: Some("%"),
            scale: 100.0,
        }
    }

    /// The words and, in parentheses, the unit: "output SQNR (dB)".
    pub fn title(&self) -> String {
        match self.unit {
            Some(u) => format!("{} ({u})", self.words),
            None => self.words.clone(),
        }
    }
}

/// A column's name on a chart: `out_sqnr_db` is "output SQNR (dB)", `x_clipped` "x clipped
/// (%)" (drawn ×100), `variant.block_size` "block size (elements)"; a column it does not know
/// has its dots and underscores read as spaces (`a.b_c` is "a b c").
pub fn name(column: &str) -> Name {
    if let Some(n) = known(column) {
        return n;
    }
    if let Some(rest) = column.strip_prefix("variant.") {
        return name(rest);
    }
    for (prefix, operand) in [("w.", "W"), ("x.", "x")] {
        if let Some(rest) = column.strip_prefix(prefix) {
            let key = operand_key(rest);
            return Name {
                words: format!("{operand} {}", key.words),
                ..key
            };
        }
    }
    for (prefix, operand) in [("out_", "output"), ("w_", "W"), ("x_", "x")] {
        if let Some(rest) = column.strip_prefix(prefix)
            && let Some(m) = metric(rest)
        {
            return Name {
                words: format!("{operand} {}", m.words),
                ..m
            };
        }
    }
    if let Some(s) = setting(column) {
        return s;
    }
    Name::new(words(column), None)
}

/// Columns known whole.
pub(super) fn known(column: &str) -> Option<Name> {
    let (words, unit) = match column {
        "sweep_id" => ("sweep id", None),
        "config" => ("configuration", None),
        "configs" => ("configurations", None),
        "repeat" => ("repeat", None),
        "seed" => ("seed", None),
        "m" => ("M", None),
        "k" => ("K", None),
        "n" => ("N", None),
        "scenario" => ("scenario", None),
        "variant" => ("variant", None),
        "format" => ("format", None),
        "seconds" => ("time", Some("s")),
        "compression" => ("compression vs f32", Some("×")),
        "qlab_version" => ("qlab version", None),
        "model_out_sqnr_db" => ("output SQNR, noise model", Some("dB")),
        "w_only_sqnr_db" => ("output SQNR, only W quantized", Some("dB")),
        "x_only_sqnr_db" => ("output SQNR, only x quantized", Some("dB")),
        _ => return None,
    };
    Some(Name::new(words, unit))
}

/// The metric part of `out_*`, `w_*` and `x_*` columns.
pub(super) fn metric(rest: &str) -> Option<Name> {
    let (words, unit) = match rest {
        "sqnr_db" => ("SQNR", Some("dB")),
        "model_sqnr_db" => ("SQNR, noise model", Some("dB")),
        "mse" => ("MSE", None),
        "rmse" => ("RMSE", None),
        "max_abs" => ("max |error|", None),
        "mean_rel" => ("mean relative error", None),
        "max_rel" => ("max relative error", None),
        "cosine" => ("cosine similarity", None),
        "p50" => ("median |error|", None),
        "p90" => ("90th percentile |error|", None),
        "p99" => ("99th percentile |error|", None),
        "p999" => ("99.9th percentile |error|", None),
        "non_finite" => ("non-finite values", Some("count")),
        "clipped" => return Some(Name::percent("clipped")),
        "flushed" => return Some(Name::percent("flushed to zero")),
        "nan_blocks" => ("NaN blocks", Some("count")),
        "bits_per_element" => ("bits per element", None),
        "source" => ("source", None),
        "format" => ("format", None),
        "scheme" => ("scheme", None),
        "granularity" => ("granularity", None),
        "group_size" => ("group size", Some("elements")),
        _ => return None,
    };
    Some(Name::new(words, unit))
}

/// A variant setting (a column of its own, or a `variant.` axis).
pub(super) fn setting(key: &str) -> Option<Name> {
    let (words, unit) = match key {
        "block_size" => ("block size", Some("elements")),
        "group_size" => ("group size", Some("elements")),
        "scale_rule" => ("scale rule", None),
        "rounding" => ("rounding", None),
        "element_rounding" => ("element rounding", None),
        "accumulator" => ("accumulator", None),
        "two_level" => ("two-level scaling", None),
        "exponent" => ("exponent", None),
        "signed_zero" => ("signed zero", None),
        _ => return None,
    };
    Some(Name::new(words, unit))
}

/// An operand key of a `w.` or `x.` axis.
pub(super) fn operand_key(key: &str) -> Name {
    let (words, unit) = match key {
        "dist" => ("distribution", None),
        "std" => ("std", None),
        "mean" => ("mean", None),
        "nu" => ("Student-t ν", None),
        "sparsity" => ("sparsity", None),
        "outliers.fraction" => ("outlier fraction", None),
        "outlier_channels.count" => ("outlier channels", None),
        "outlier_channels.factor" => ("outlier-channel factor", None),
        "channel_spread.decades" => ("channel spread", Some("decades")),
        _ => return Name::new(words(key), None),
    };
    Name::new(words, unit)
}

/// `a.b_c` as "a b c" (the name itself when that leaves nothing).
pub(super) fn words(column: &str) -> String {
    let w: Vec<&str> = column.split(['.', '_']).filter(|w| !w.is_empty()).collect();
    if w.is_empty() {
        column.to_string()
    } else {
        w.join(" ")
    }
}

/// Whether a column holds block or group sizes: drawn on a base-2 axis.
pub(super) fn is_size_column(column: &str) -> bool {
    column.ends_with("block_size") || column.ends_with("group_size")
}
