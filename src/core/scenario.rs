//! Scenario files (TOML): the data (W and x) and the quantization variants to compare.
//!
//! Parsing happens in two layers: a raw layer that mirrors the file (unknown keys rejected),
//! converted with `TryFrom` into typed values during deserialization, so that a nonsense
//! parameter is reported with the line and column of the table that holds it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::core::data::distribution::{
    ChannelAxis, ChannelOutliers, ChannelSpread, Distribution, Modifiers, Role, ScatteredOutliers,
    Sign,
};
use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;

/// Shape used for generated operands when neither the file nor the data fixes it.
pub const DEFAULT_M: usize = 256;
pub const DEFAULT_K: usize = 1024;
pub const DEFAULT_N: usize = 64;
pub const DEFAULT_SEED: u64 = 42;

/// The built-in scenario the TUI and `qlab run` without a file start from.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/llm-outlier-channels.toml");

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
    /// A one-line description, e.g. `student_t(nu 3, scale 1), 2 K channels ×50`.
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
];

/// The operand table as written in the file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOperand {
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
    means: Option<[f64; 2]>,
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
    fn from_raw(r: RawOperand, name: &str) -> Result<Self> {
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
                    means: r.means.unwrap_or([-1.0, 1.0]),
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
        let view = View {
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

pub use crate::core::family::{Variant, default_variants};

/// A `[[variants]]` table as written: its keys (with their places in the file) and values.
type RawVariant = std::collections::BTreeMap<Spanned<String>, toml::Value>;

/// Checks and types a `[[variants]]` table against the registry. `table` is the span of its
/// header; `at` places a message in the file. Keys are checked in file order.
fn variant_from_raw(
    raw: RawVariant,
    table: std::ops::Range<usize>,
    index: usize,
    at: &dyn Fn(Option<std::ops::Range<usize>>, String) -> Error,
) -> Result<Variant> {
    use crate::core::family::{self, knob_for_key};
    let mut entries: Vec<(Spanned<String>, toml::Value)> = raw.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let in_table = |m: String| at(Some(table.clone()), format!("variants[{index}]: {m}"));
    let string = |key: &str, v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        other => Err(in_table(format!(
            "{key} = {} is invalid; expected a string",
            crate::core::text::echo(&other.to_string())
        ))),
    };
    // Unknown keys first, as the file's own schema would report them: at the key.
    let known = family::all_keys();
    for (k, _) in &entries {
        let key = k.get_ref().as_str();
        if key != "label" && key != "format" && !known.iter().any(|x| x == key) {
            let expected: Vec<String> = ["label", "format"]
                .iter()
                .map(|s| s.to_string())
                .chain(known.iter().cloned())
                .map(|s| format!("`{s}`"))
                .collect();
            return Err(at(
                Some(k.span()),
                format!(
                    "unknown field `{}`, expected one of {}",
                    crate::core::text::echo(key),
                    expected.join(", ")
                ),
            ));
        }
    }
    let value = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|e| &e.1)
    };
    let format = match value("format") {
        Some(v) => string("format", v)?,
        None => return Err(at(Some(table.clone()), "missing field `format`".into())),
    };
    let fam = family::lookup(&format).map_err(|e| in_table(e.to_string()))?;
    let mut v = Variant::defaults(fam);
    let mut given: Vec<&str> = Vec::new();
    for (k, val) in &entries {
        let key = k.get_ref().as_str();
        if key == "label" || key == "format" {
            continue;
        }
        let Some((knob, role)) = knob_for_key(fam, key) else {
            return Err(in_table(format!(
                "'{key}' does not apply to format '{}'",
                fam.name()
            )));
        };
        let parsed = knob
            .parse_toml(key, val)
            .map_err(|e| in_table(e.to_string()))?;
        v.set(knob, role.unwrap_or(Role::W), parsed);
        given.push(knob.key);
    }
    // A setting that only means something beside another's value is refused elsewhere.
    for knob in fam.knobs() {
        if let Some((other, needed)) = knob.requires
            && given.contains(&knob.key)
            && v.w.get(other) != Some(needed)
        {
            return Err(in_table(format!(
                "'{}' applies to {other} = \"{needed}\" only",
                knob.key
            )));
        }
    }
    v.label = match value("label") {
        Some(l) => string("label", l)?,
        None => v.default_label(),
    };
    Ok(v)
}

/// A whole scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    /// Rows of W (M), the reduction length (K), columns of x (N): used for generated operands;
    /// checked against data operands when given.
    pub m: Option<usize>,
    pub k: Option<usize>,
    pub n: Option<usize>,
    pub w: OperandSpec,
    pub x: OperandSpec,
    pub variants: Vec<Variant>,
    /// Directory that relative file paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The file as written; the spans let checks done after parsing point at the right table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    seed: Option<u64>,
    // Signed, so `m = -1` gets the same message as `m = 0` rather than serde's.
    m: Option<Spanned<i64>>,
    k: Option<Spanned<i64>>,
    n: Option<Spanned<i64>>,
    w: Option<Spanned<RawOperand>>,
    x: Option<Spanned<RawOperand>>,
    variants: Option<Spanned<Vec<Spanned<RawVariant>>>>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::from_toml(DEFAULT_SCENARIO, Path::new("<built-in>"), PathBuf::new())
            .expect("the built-in scenario parses")
    }
}

/// Line and column (1-based, columns in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

impl Scenario {
    /// Parses scenario text; `origin` names it in errors, `base_dir` anchors relative paths.
    pub fn from_toml(text: &str, origin: &Path, base_dir: PathBuf) -> Result<Self> {
        let at = |span: Option<std::ops::Range<usize>>, msg: String| {
            let place = span
                .map(|r| {
                    let (l, c) = line_col(text, r.start);
                    format!("line {l}, column {c}: ")
                })
                .unwrap_or_default();
            Error::file(origin, format!("{place}{}", msg.trim_end()))
        };
        let raw: RawScenario =
            toml::from_str(text).map_err(|e| at(e.span(), e.message().to_string()))?;
        let operand = |r: Option<Spanned<RawOperand>>, name: &str| match r {
            None => Ok(OperandSpec::default()),
            Some(s) => {
                let span = s.span();
                OperandSpec::from_raw(s.into_inner(), name)
                    .map_err(|e| at(Some(span), e.to_string()))
            }
        };
        let variants = match raw.variants {
            None => default_variants(),
            Some(list) => {
                let span = list.span();
                let list = list.into_inner();
                if list.is_empty() {
                    return Err(at(
                        Some(span),
                        "'variants' is empty; list at least one, or leave it out for the defaults"
                            .into(),
                    ));
                }
                list.into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let span = v.span();
                        variant_from_raw(v.into_inner(), span, i, &at)
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let size = |v: Option<Spanned<i64>>, name: &str| match v {
            Some(s) => match usize::try_from(*s.get_ref()) {
                Ok(size) if size >= 1 => Ok(Some(size)),
                _ => Err(at(
                    Some(s.span()),
                    format!("{name} = {} is invalid; expected a size ≥ 1", s.get_ref()),
                )),
            },
            None => Ok(None),
        };
        let (m, k, n) = (size(raw.m, "m")?, size(raw.k, "k")?, size(raw.n, "n")?);
        let mut labels: Vec<&str> = variants.iter().map(|v| v.label.as_str()).collect();
        labels.sort_unstable();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::file(
                origin,
                format!(
                    "two variants are labelled '{}'; give each a unique 'label'",
                    crate::core::text::echo(w[0])
                ),
            ));
        }
        Ok(Scenario {
            name: raw.name.unwrap_or_else(|| "untitled".into()),
            description: raw.description.unwrap_or_default(),
            seed: raw.seed.unwrap_or(DEFAULT_SEED),
            m,
            k,
            n,
            w: operand(raw.w, "w")?,
            x: operand(raw.x, "x")?,
            variants,
            base_dir,
        })
    }

    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::core::files::read_text(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Scenario::from_toml(&text, path, base)
    }
}

impl Scenario {
    /// The data files the scenario reads (relative paths resolved against its directory).
    pub fn data_files(&self) -> Vec<PathBuf> {
        [&self.w, &self.x]
            .into_iter()
            .filter_map(|op| match &op.source {
                Source::File { path, .. } => Some(if path.is_absolute() {
                    path.clone()
                } else {
                    self.base_dir.join(path)
                }),
                _ => None,
            })
            .collect()
    }
}

/// The operands of a scenario, materialised.
#[derive(Clone, Debug, PartialEq)]
pub struct Operands {
    /// `M × K`.
    pub w: Matrix,
    /// `K × N`.
    pub x: Matrix,
}

/// A data operand as loaded, before its shape is fixed: `vector` marks 1-D sources.
struct Loaded {
    m: Matrix,
    vector: bool,
}

fn load_source(spec: &OperandSpec, base: &Path) -> Result<Option<Loaded>> {
    let (m, vector) = match &spec.source {
        Source::Random(_) => return Ok(None),
        Source::Values(m) => (m.clone(), m.rows() == 1),
        Source::File { path, tensor } => {
            let full = if path.is_absolute() {
                path.clone()
            } else {
                base.join(path)
            };
            crate::core::files::input::check_regular(&full)?;
            let ext = full
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if tensor.is_some() && ext != "safetensors" {
                return Err(Error::file(
                    &full,
                    "'tensor' names a tensor inside a .safetensors file; this is not one",
                ));
            }
            match ext.as_str() {
                "npy" => {
                    let a = crate::core::data::npy::read(&full)?;
                    let vector = a.shape.len() == 1;
                    (a.into_matrix(), vector)
                }
                "safetensors" => {
                    crate::core::data::tensors::read_safetensors(&full, tensor.as_deref())?
                }
                "csv" => (crate::core::data::tensors::read_csv(&full)?, false),
                _ => {
                    return Err(Error::file(
                        &full,
                        "unknown file type; expected .npy, .safetensors or .csv",
                    ));
                }
            }
        }
    };
    let v = &spec.view;
    let mut m = if v.transpose { m.transpose() } else { m };
    if v.rows.is_some() || v.cols.is_some() {
        let [r0, r1] = v.rows.unwrap_or([0, m.rows()]);
        let [c0, c1] = v.cols.unwrap_or([0, m.cols()]);
        if r1 > m.rows() || c1 > m.cols() {
            return Err(Error::Shape(format!(
                "slice rows {r0}..{r1}, cols {c0}..{c1} exceeds the data's shape ({}, {})",
                m.rows(),
                m.cols()
            )));
        }
        let data = (r0..r1)
            .flat_map(|r| m.row(r)[c0..c1].iter().copied())
            .collect();
        m = Matrix::new(r1 - r0, c1 - c0, data)?;
    }
    Ok(Some(Loaded {
        vector: vector && !v.transpose && m.rows() == 1,
        m,
    }))
}

/// Picks one size from the candidates, or reports which sources disagree.
fn agree(name: &str, candidates: &[(&str, Option<usize>)], default: usize) -> Result<usize> {
    let given: Vec<(&str, usize)> = candidates
        .iter()
        .filter_map(|&(who, v)| v.map(|v| (who, v)))
        .collect();
    match given.first() {
        None => Ok(default),
        Some(&(_, v)) => match given.iter().find(|g| g.1 != v) {
            None => Ok(v),
            Some(_) => Err(Error::Shape(format!(
                "{name} disagrees: {}",
                given
                    .iter()
                    .map(|(who, v)| format!("{who} gives {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

impl Scenario {
    /// Loads or generates W and x, fixing the shape from data, the file's m/k/n and defaults.
    pub fn operands(&self) -> Result<Operands> {
        let w_data = load_source(&self.w, &self.base_dir).map_err(|e| in_operand("w", e))?;
        let x_data = load_source(&self.x, &self.base_dir)
            .map_err(|e| in_operand("x", e))?
            .map(|l| {
                // A 1-D x is a K-vector: one column.
                if l.vector { l.m.transpose() } else { l.m }
            });
        let w_shape = w_data.as_ref().map(|l| l.m.shape());
        let x_shape = x_data.as_ref().map(|m| m.shape());
        let m = agree(
            "M (rows of W)",
            &[("m", self.m), ("W's data", w_shape.map(|s| s.0))],
            DEFAULT_M,
        )?;
        let k = agree(
            "K (columns of W, rows of x)",
            &[
                ("k", self.k),
                ("W's data", w_shape.map(|s| s.1)),
                ("x's data", x_shape.map(|s| s.0)),
            ],
            DEFAULT_K,
        )?;
        let n = agree(
            "N (columns of x)",
            &[("n", self.n), ("x's data", x_shape.map(|s| s.1))],
            DEFAULT_N,
        )?;
        crate::core::data::check_memory(m, k, n)?;
        let generate = |spec: &OperandSpec, role, rows, cols| match &spec.source {
            Source::Random(d) => {
                crate::core::data::distribution::sample(d, rows, cols, role, self.seed)
            }
            _ => unreachable!("data operands are loaded"),
        };
        let mut w = w_data.map_or_else(|| generate(&self.w, Role::W, m, k), |l| l.m);
        let mut x = x_data.unwrap_or_else(|| generate(&self.x, Role::X, k, n));
        // A file may hold NaN and ±inf (MXFP4 has an answer for them); numbers qlab makes up
        // may not: a distribution or modifier that reaches beyond f32 is the scenario's
        // mistake, and is said to be.
        let first_non_finite = |m: &Matrix| m.data().iter().position(|v| !v.is_finite());
        let beyond = |name: &str, what: String, m: &Matrix, i: usize| {
            Error::Invalid(format!(
                "{name}: {} gives {} at index ({}, {}), beyond float32's range; choose smaller \
                 parameters",
                crate::core::text::echo(&what),
                m.data()[i],
                i / m.cols(),
                i % m.cols()
            ))
        };
        for (name, spec, m, role) in [
            ("w", &self.w, &mut w, Role::W),
            ("x", &self.x, &mut x, Role::X),
        ] {
            let finite_before = first_non_finite(m).is_none();
            if let (Source::Random(d), Some(i)) = (&spec.source, first_non_finite(m)) {
                return Err(beyond(name, d.describe(), m, i));
            }
            spec.modifiers
                .apply(m, role, self.seed)
                .map_err(|e| in_operand(name, e))?;
            if finite_before && let Some(i) = first_non_finite(m) {
                return Err(beyond(name, spec.modifiers.describe(), m, i));
            }
        }
        Ok(Operands { w, x })
    }
}

/// Names the operand in a message that does not name it already.
fn in_operand(name: &str, e: Error) -> Error {
    match e {
        Error::Invalid(m) | Error::Shape(m) if m.starts_with(&format!("{name}.")) => {
            Error::Invalid(m)
        }
        Error::Invalid(m) | Error::Shape(m) => Error::Invalid(format!("{name}: {m}")),
        other => other,
    }
}
