//! The `[w]` and `[x]` tables: where an operand's values come from (a distribution, inline
//! values, a file), how a file is reshaped, and the modifiers applied after.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::core::data::distribution::{
    ChannelAxis, ChannelOutliers, ChannelSpread, Distribution, Modifiers, ScatteredOutliers, Sign,
};
use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;

/// Where an operand's values come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Random(Distribution),
    /// Inline values from the scenario file.
    Values(#[serde(skip)] Matrix),
    /// A `.npy`, `.safetensors` or `.csv` file, with an optional tensor name.
    File {
        path: PathBuf,
        tensor: Option<String>,
    },
}

/// Optional reshaping of data sources: transpose, then keep a range of rows and columns.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct View {
    /// `layout = "tokens-k"`: the file holds a layer's input as PyTorch does, `(…, K)`; its
    /// leading axes are merged into tokens and the result transposed to `K × tokens` (x only).
    pub tokens_k: bool,
    pub transpose: bool,
    pub rows: Option<[usize; 2]>,
    pub cols: Option<[usize; 2]>,
}

/// One operand of the scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OperandSpec {
    pub source: Source,
    pub view: View,
    pub modifiers: Modifiers,
}

impl Default for OperandSpec {
    fn default() -> Self {
        OperandSpec {
            source: Source::Random(Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            }),
            view: View::default(),
            modifiers: Modifiers::default(),
        }
    }
}

impl OperandSpec {
    /// A one-line description, e.g. `student_t(nu 3, scale 1), 2 channels along K ×50`.
    pub fn describe(&self) -> String {
        let mut s = match &self.source {
            Source::Random(d) => d.describe(),
            Source::Values(m) if m.rows() == 1 => format!("inline vector of {}", m.cols()),
            Source::Values(m) => format!("inline values {}×{}", m.rows(), m.cols()),
            Source::File { path, tensor } => match tensor {
                Some(t) => format!("{}[{t}]", path.display()),
                None => path.display().to_string(),
            },
        };
        if self.view.tokens_k {
            s.push_str(", layout tokens-k");
        }
        if self.view.transpose {
            s.push_str(", transposed");
        }
        if let Some([a, b]) = self.view.rows {
            s.push_str(&format!(", rows {a}..{b}"));
        }
        if let Some([a, b]) = self.view.cols {
            s.push_str(&format!(", cols {a}..{b}"));
        }
        if !self.modifiers.is_empty() {
            s.push_str(", ");
            s.push_str(&self.modifiers.describe());
        }
        s
    }
}

/// Every distribution and the parameters it takes.
pub const DISTRIBUTIONS: &[(&str, &[&str])] = &[
    ("normal", &["mean", "std"]),
    ("uniform", &["low", "high"]),
    ("laplace", &["mean", "scale"]),
    ("student_t", &["nu", "scale"]),
    ("lognormal", &["mu", "sigma", "sign"]),
    ("bimodal", &["means", "std", "weight"]),
    ("constant", &["value"]),
];

/// The parameters of distribution `name`, or `None` for an unknown name.
pub fn dist_params(name: &str) -> Option<&'static [&'static str]> {
    DISTRIBUTIONS.iter().find(|d| d.0 == name).map(|d| d.1)
}

/// Keys of an operand table other than the data source, with nested ones dotted.
pub const OPERAND_KEYS: &[&str] = &[
    "dist",
    "mean",
    "std",
    "low",
    "high",
    "scale",
    "nu",
    "mu",
    "sigma",
    "sign",
    "means",
    "weight",
    "value",
    "sparsity",
    "outliers.fraction",
    "outliers.multiplier",
    "outlier_channels.count",
    "outlier_channels.factor",
    "outlier_channels.axis",
    "channel_spread.decades",
    "channel_spread.axis",
    "layout",
    "transpose",
];

/// The operand table as written in the file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOperand {
    dist: Option<String>,
    mean: Option<f64>,
    std: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
    scale: Option<f64>,
    nu: Option<f64>,
    mu: Option<f64>,
    sigma: Option<f64>,
    sign: Option<String>,
    /// Read as a list so that a list of any other length is an error, not cut to two.
    means: Option<Vec<f64>>,
    weight: Option<f64>,
    value: Option<f64>,
    sparsity: Option<f64>,
    outliers: Option<RawScattered>,
    outlier_channels: Option<RawChannels>,
    channel_spread: Option<RawSpread>,
    values: Option<InlineValues>,
    file: Option<PathBuf>,
    tensor: Option<String>,
    transpose: Option<bool>,
    layout: Option<String>,
    rows: Option<Vec<usize>>,
    cols: Option<Vec<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScattered {
    fraction: f64,
    multiplier: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannels {
    count: usize,
    factor: f64,
    axis: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpread {
    decades: f64,
    axis: Option<String>,
}

fn parse_axis(
    operand: &str,
    key: &str,
    axis: Option<&str>,
    default: ChannelAxis,
) -> Result<ChannelAxis> {
    match axis {
        None => Ok(default),
        Some("k") => Ok(ChannelAxis::K),
        Some("outer") => Ok(ChannelAxis::Outer),
        Some(a) => Err(Error::Invalid(format!(
            "{operand}.{key}.axis = '{}' is unknown; expected k or outer",
            crate::core::text::echo(a)
        ))),
    }
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "values: expected a list of numbers or a list of equal-length lists of numbers"
)]
enum InlineValues {
    // f64, as TOML writes them: read as f32 directly, a value beyond f32's range would
    // become ±inf without a word.
    Vector(Vec<f64>),
    Matrix(Vec<Vec<f64>>),
}

impl OperandSpec {
    /// Checks and types the operand table `name` (`w` or `x`).
    pub(super) fn from_raw(r: RawOperand, name: &str) -> Result<Self> {
        let bad = |m: String| Error::Invalid(format!("{name}: {m}"));
        let params: [(&str, bool); 12] = [
            ("mean", r.mean.is_some()),
            ("std", r.std.is_some()),
            ("low", r.low.is_some()),
            ("high", r.high.is_some()),
            ("scale", r.scale.is_some()),
            ("nu", r.nu.is_some()),
            ("mu", r.mu.is_some()),
            ("sigma", r.sigma.is_some()),
            ("sign", r.sign.is_some()),
            ("means", r.means.is_some()),
            ("weight", r.weight.is_some()),
            ("value", r.value.is_some()),
        ];
        let sources = [r.dist.is_some(), r.values.is_some(), r.file.is_some()];
        if sources.iter().filter(|&&s| s).count() > 1 {
            return Err(bad(
                "give one of 'dist', 'values' or 'file', not several".into()
            ));
        }
        let source = if let Some(values) = r.values {
            Source::Values(inline_matrix(values).map_err(|e| bad(e.to_string()))?)
        } else if let Some(path) = r.file {
            if path.as_os_str().is_empty() {
                return Err(bad(
                    "file = \"\" is empty; expected the path of a .npy, .safetensors or .csv file"
                        .into(),
                ));
            }
            Source::File {
                path,
                tensor: r.tensor.clone(),
            }
        } else {
            let dist = r.dist.as_deref().unwrap_or("normal");
            let Some(takes) = dist_params(dist) else {
                return Err(bad(format!(
                    "unknown dist '{}'; expected normal, uniform, laplace, student_t, \
                     lognormal, bimodal or constant",
                    crate::core::text::echo(dist)
                )));
            };
            if let Some((p, _)) = params
                .iter()
                .find(|(p, given)| *given && !takes.contains(p))
            {
                return Err(bad(format!(
                    "'{p}' does not apply to dist '{dist}' (it takes {})",
                    takes.join(", ")
                )));
            }
            let d = match dist {
                "normal" => Distribution::Normal {
                    mean: r.mean.unwrap_or(0.0),
                    std: r.std.unwrap_or(1.0),
                },
                "uniform" => Distribution::Uniform {
                    low: r.low.unwrap_or(-1.0),
                    high: r.high.unwrap_or(1.0),
                },
                "laplace" => Distribution::Laplace {
                    mean: r.mean.unwrap_or(0.0),
                    scale: r.scale.unwrap_or(1.0),
                },
                "student_t" => Distribution::StudentT {
                    nu: r.nu.unwrap_or(3.0),
                    scale: r.scale.unwrap_or(1.0),
                },
                "lognormal" => Distribution::LogNormal {
                    mu: r.mu.unwrap_or(0.0),
                    sigma: r.sigma.unwrap_or(1.0),
                    sign: match r.sign.as_deref().unwrap_or("positive") {
                        "positive" => Sign::Positive,
                        "negative" => Sign::Negative,
                        "random" => Sign::Random,
                        s => {
                            return Err(bad(format!(
                                "unknown sign '{}'; expected positive, negative or random",
                                crate::core::text::echo(s)
                            )));
                        }
                    },
                },
                "bimodal" => Distribution::Bimodal {
                    means: match r.means.as_deref() {
                        None => [-1.0, 1.0],
                        Some(&[a, b]) => [a, b],
                        Some(other) => {
                            return Err(bad(format!(
                                "means holds {} value{}; expected two, the means of the two \
                                 modes: means = [-1.0, 1.0]",
                                other.len(),
                                if other.len() == 1 { "" } else { "s" }
                            )));
                        }
                    },
                    std: r.std.unwrap_or(0.25),
                    weight: r.weight.unwrap_or(0.5),
                },
                _ => Distribution::Constant {
                    value: r.value.unwrap_or(1.0),
                },
            };
            d.validate(name)?;
            Source::Random(d)
        };
        if !matches!(source, Source::Random(_))
            && let Some((p, _)) = params.iter().find(|(_, given)| *given)
        {
            return Err(bad(format!("'{p}' applies to 'dist' operands only")));
        }
        if r.tensor.is_some() && !matches!(source, Source::File { .. }) {
            return Err(bad("'tensor' applies to 'file' operands only".into()));
        }
        let tokens_k = match r.layout.as_deref() {
            None | Some("k-n") => false,
            Some("tokens-k") if name == "x" => true,
            Some("tokens-k") => {
                return Err(bad(
                    "layout = \"tokens-k\" applies to x only (a layer's input, (…, K))".into(),
                ));
            }
            Some(other) => {
                return Err(bad(format!(
                    "layout = '{}' is unknown; expected \"k-n\" (as stored, the default) or \
                     \"tokens-k\" (…, K)",
                    crate::core::text::echo(other)
                )));
            }
        };
        if tokens_k && !matches!(source, Source::File { .. }) {
            return Err(bad("'layout' applies to 'file' operands only".into()));
        }
        let view = View {
            tokens_k,
            transpose: r.transpose.unwrap_or(false),
            rows: range(name, "rows", r.rows)?,
            cols: range(name, "cols", r.cols)?,
        };
        if matches!(source, Source::Random(_)) && view != View::default() {
            return Err(bad(
                "'transpose', 'rows' and 'cols' apply to 'values' and 'file' operands only".into(),
            ));
        }
        for (name, range) in [("rows", view.rows), ("cols", view.cols)] {
            if let Some([a, b]) = range
                && a >= b
            {
                return Err(bad(format!(
                    "{name} = [{a}, {b}] is empty; expected [start, end) with start < end"
                )));
            }
        }
        let modifiers = Modifiers {
            channel_spread: match r.channel_spread {
                None => None,
                Some(c) => Some(ChannelSpread {
                    decades: c.decades,
                    axis: parse_axis(
                        name,
                        "channel_spread",
                        c.axis.as_deref(),
                        ChannelAxis::Outer,
                    )?,
                }),
            },
            sparsity: r.sparsity.unwrap_or(0.0),
            outliers: r.outliers.map(|o| ScatteredOutliers {
                fraction: o.fraction,
                multiplier: o.multiplier,
            }),
            outlier_channels: match r.outlier_channels {
                None => None,
                Some(c) => Some(ChannelOutliers {
                    count: c.count,
                    factor: c.factor,
                    axis: parse_axis(name, "outlier_channels", c.axis.as_deref(), ChannelAxis::K)?,
                }),
            },
        };
        modifiers.validate(name)?;
        Ok(OperandSpec {
            source,
            view,
            modifiers,
        })
    }
}

/// A `rows` / `cols` slice: exactly `[start, end]`.
fn range(operand: &str, key: &str, v: Option<Vec<usize>>) -> Result<Option<[usize; 2]>> {
    match v.as_deref() {
        None => Ok(None),
        Some(&[a, b]) => Ok(Some([a, b])),
        Some(other) => Err(Error::Invalid(format!(
            "{operand}: {key} = {other:?} is invalid; expected [start, end]"
        ))),
    }
}

fn inline_matrix(v: InlineValues) -> Result<Matrix> {
    let narrow = |row: Vec<f64>, r: Option<usize>| -> Result<Vec<f32>> {
        row.into_iter()
            .enumerate()
            .map(|(c, v)| {
                crate::core::data::npy::f64_to_f32(v).map_err(|m| {
                    let at = r.map_or(format!("[{c}]"), |r| format!("[{r}][{c}]"));
                    Error::Invalid(format!("values{at}: {m}"))
                })
            })
            .collect()
    };
    let m = match v {
        InlineValues::Vector(v) => {
            let v = narrow(v, None)?;
            Matrix::new(1, v.len(), v)?
        }
        InlineValues::Matrix(rows) => {
            let rows = rows
                .into_iter()
                .enumerate()
                .map(|(r, row)| narrow(row, Some(r)))
                .collect::<Result<Vec<_>>>()?;
            Matrix::from_rows(&rows)?
        }
    };
    if m.is_empty() {
        return Err(Error::Invalid("'values' is empty".into()));
    }
    Ok(m)
}
