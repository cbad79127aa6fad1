//! `qlab scan`: every 2-D float tensor of a checkpoint as W, through every variant, into one
//! tidy CSV, a worst-first table, a per-variant summary and a chart.
//!
//! A scan is a sweep: its base scenario reads W from the model (`w.file`), its one axis is
//! `w.tensor` (with each tensor's activations linked to it as x, where given, and its dtype
//! as a note column), so it runs, resumes, shards and merges exactly as a sweep does, and each
//! row is the row `qlab run` writes for that tensor. Each configuration reads its tensor alone
//! (the header, then that tensor's bytes).

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::app::sweep::spec::{Axis, Sweep};
use crate::core::data::checkpoint::{self, Tensor};
use crate::core::error::{Error, Result};
use crate::core::scenario::{DEFAULT_SEED, Scenario};
use crate::core::text;

/// Tokens (columns of x) of the synthetic activations.
pub const DEFAULT_TOKENS: usize = 64;

/// The synthetic activations: LLM-like, a normal body with 4 channels along K 50× larger (as
/// `scenarios/llm-outlier-channels.toml`).
pub const DEFAULT_X: &str = "dist = \"normal\", std = 1.0, outlier_channels = { count = 4, \
                             factor = 50.0 }";

/// Tensors with fewer columns (K) than this are skipped: the synthetic x's outlier channels
/// need room, and a matmul over so short a K says little.
const MIN_K: usize = 8;

/// Where the variants come from.
#[derive(Clone, Debug)]
pub enum Variants {
    /// The scenario's defaults.
    Default,
    /// `--formats a,b,c`: each format at its defaults.
    Formats(Vec<String>),
    /// `--variants FILE.toml`: a scenario file's `[[variants]]`.
    File(PathBuf),
}

/// What to scan.
#[derive(Clone, Debug)]
pub struct Spec {
    pub model: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub variants: Variants,
    pub activations: Option<PathBuf>,
    /// The synthetic x's operand table, inline TOML (`dist = "laplace", scale = 1`).
    pub x_dist: Option<String>,
    pub tokens: usize,
    pub seed: u64,
}

impl Spec {
    pub fn new(model: PathBuf) -> Spec {
        Spec {
            model,
            include: Vec::new(),
            exclude: Vec::new(),
            variants: Variants::Default,
            activations: None,
            x_dist: None,
            tokens: DEFAULT_TOKENS,
            seed: DEFAULT_SEED,
        }
    }
}

/// A scan, planned: the sweep to run and what was left out.
pub struct Plan {
    pub sweep: Sweep,
    /// The tensors scanned, in configuration order.
    pub tensors: Vec<Tensor>,
    /// How many tensors were left out, and why (`1-D`, `dtype I64`, `excluded`), in order.
    pub skipped: Vec<(String, usize)>,
    /// Tensors whose x came from `--activations`.
    pub with_activations: usize,
}

impl Plan {
    pub fn skipped_text(&self) -> String {
        skipped_text(&self.skipped)
    }
}

/// `3 1-D, 1 of dtype I64`.
fn skipped_text(skipped: &[(String, usize)]) -> String {
    skipped
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `*` any run of characters, `?` any one; everything else literal.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The dtype a `.npy` descr (one qlab reads) stands for.
fn dtype_of(descr: &str) -> safetensors::Dtype {
    match descr.trim_start_matches(['<', '>', '=', '|']) {
        "f2" => safetensors::Dtype::F16,
        "V2" => safetensors::Dtype::BF16,
        "f8" => safetensors::Dtype::F64,
        _ => safetensors::Dtype::F32,
    }
}

/// The tensors of a model: a checkpoint's, or a `.npy` as one tensor named by its stem.
fn model_tensors(model: &Path) -> Result<Vec<Tensor>> {
    let npy = model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if npy {
        let a = crate::core::data::npy::read(model)?;
        let dtype = dtype_of(&a.descr);
        let name = model
            .file_stem()
            .map_or("array".into(), |s| s.to_string_lossy().into_owned());
        return Ok(vec![Tensor {
            name,
            dtype,
            shape: a.shape,
            file: model.to_path_buf(),
            offset: 0,
            len: 0,
            packing: checkpoint::Packing::Plain,
        }]);
    }
    let npz = model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    if npz {
        // Each array, read once for its shape and dtype (one at a time), then dropped.
        let mut out = Vec::new();
        for m in crate::core::data::npz::members(model)? {
            // An array qlab cannot read (ints, strings, compressed) is listed as such and
            // skipped, as a .safetensors' would be; any rank is read, for its shape.
            let read = crate::core::data::npz::read_member(model, Some(&m.name))
                .and_then(|b| crate::core::data::npy::decode_any_rank(&b).map_err(Error::Invalid));
            let (dtype, shape, packing) = match read {
                Ok(a) => (dtype_of(&a.descr), a.shape, checkpoint::Packing::Plain),
                Err(e) => {
                    let why = e.to_string();
                    let why = why.rsplit(": ").next().unwrap_or(&why);
                    let label = format!("unreadable ({})", text::cut(why, 60));
                    (
                        safetensors::Dtype::U8,
                        vec![0],
                        checkpoint::Packing::Other(label),
                    )
                }
            };
            out.push(Tensor {
                name: m.name,
                dtype,
                shape,
                file: model.to_path_buf(),
                offset: m.offset,
                len: m.len,
                packing,
            });
        }
        return Ok(out);
    }
    checkpoint::open(model)
}

/// Why a tensor is not scanned (`None`: it is a 2-D float matrix with K ≥ 8); the explorer's
/// model screen lists the same tensors.
pub fn skip_reason(t: &Tensor) -> Option<String> {
    if !t.is_float() {
        Some(format!("of dtype {}", t.dtype_name()))
    } else if t.shape.len() != 2 {
        Some(format!("{}-D", t.shape.len()))
    } else if t.shape.contains(&0) {
        Some("empty".into())
    } else if t.shape[1] < MIN_K {
        Some(format!("with K < {MIN_K}"))
    } else {
        None
    }
}

fn count(skipped: &mut Vec<(String, usize)>, why: String) {
    match skipped.iter_mut().find(|(w, _)| *w == why) {
        Some((_, n)) => *n += 1,
        None => skipped.push((why, 1)),
    }
}

/// The activations for `w` (K = its columns): the entry named like the tensor, or like its
/// module (the name without `.weight`). A `.safetensors` / checkpoint, or a folder of `.npy`
/// files named `<name>.npy`.
fn activation_table(acts: &Path, entries: &Acts, w: &Tensor) -> Result<Option<(Table, usize)>> {
    let k = w.shape[1];
    let module = w.name.strip_suffix(".weight");
    let (file, tensor, shape) = match entries {
        Acts::Tensors(list) => {
            let found = list
                .iter()
                .find(|t| t.name == w.name)
                .or_else(|| module.and_then(|m| list.iter().find(|t| t.name == m)));
            match found {
                None => return Ok(None),
                Some(t) => (acts.to_path_buf(), Some(t.name.clone()), t.shape.clone()),
            }
        }
        Acts::Npy(dir) => {
            let mut candidates = vec![dir.join(format!("{}.npy", w.name))];
            if let Some(m) = module {
                candidates.push(dir.join(format!("{m}.npy")));
            }
            let Some(path) = candidates.into_iter().find(|p| p.is_file()) else {
                return Ok(None);
            };
            let shape = crate::core::data::npy::read_tokens_k(&path)?.1;
            (path, None, shape)
        }
    };
    // (tokens, K) as PyTorch stores a layer's input, or (K, N) as qlab's x; a square one is
    // read the PyTorch way.
    // N-D (batch, seq, …, K): the leading axes merged into tokens.
    let nd = shape.len() > 2 && shape.last() == Some(&k);
    let (transpose, tokens) = match shape[..] {
        _ if nd => (false, shape.iter().product::<usize>() / k),
        [r, c] if c == k => (true, r),
        [r, c] if r == k => (false, c),
        _ => {
            return Err(Error::file(
                &file,
                format!(
                    "activations for tensor '{}' have shape {}; expected (tokens, {k}), (…, {k}) \
                     or ({k}, N)",
                    text::echo(&w.name),
                    crate::core::matrix::shape_str(&shape)
                ),
            ));
        }
    };
    let mut t = Table::new();
    t.insert(
        "file".into(),
        Value::String(file.to_string_lossy().into_owned()),
    );
    if let Some(name) = tensor {
        t.insert("tensor".into(), Value::String(name));
    }
    if transpose {
        t.insert("transpose".into(), Value::Boolean(true));
    }
    if nd {
        t.insert("layout".into(), Value::String("tokens-k".into()));
    }
    Ok(Some((t, tokens)))
}

enum Acts {
    Tensors(Vec<Tensor>),
    Npy(PathBuf),
}

fn open_activations(path: &Path) -> Result<Acts> {
    if path.is_dir() {
        let has_npy = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(std::result::Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "npy"));
        if has_npy {
            return Ok(Acts::Npy(path.to_path_buf()));
        }
    }
    Ok(Acts::Tensors(checkpoint::open(path)?))
}

/// The synthetic x as an operand table.
fn x_table(x_dist: Option<&str>) -> Result<Table> {
    let inline = x_dist.unwrap_or(DEFAULT_X);
    let doc: Table = toml::from_str(&format!("x = {{ {inline} }}")).map_err(|e| {
        Error::Invalid(format!(
            "--x-dist: {}; expected an operand table's keys inline, e.g. 'dist = \"laplace\", \
             scale = 1.0'",
            text::cut_quoted(e.message())
        ))
    })?;
    match doc.get("x") {
        Some(Value::Table(t)) => Ok(t.clone()),
        _ => Err(Error::Invalid("--x-dist: expected an operand table".into())),
    }
}

/// The variants as a TOML array (`None`: the scenario's defaults).
fn variants_value(v: &Variants) -> Result<Option<Value>> {
    match v {
        Variants::Default => Ok(None),
        Variants::Formats(names) => {
            let mut list = Vec::new();
            for n in names {
                let f = crate::core::family::lookup(n)
                    .map_err(|e| Error::Invalid(format!("--formats: {e}")))?;
                let mut t = Table::new();
                t.insert("format".into(), Value::String(f.name().into()));
                list.push(Value::Table(t));
            }
            if list.is_empty() {
                return Err(Error::Invalid(
                    "--formats: no format given; expected a list such as int8,mxfp4".into(),
                ));
            }
            Ok(Some(Value::Array(list)))
        }
        Variants::File(path) => {
            // The file must be a valid scenario: its errors name it and its lines.
            Scenario::load(path)?;
            let text = crate::core::files::read_text(path)?;
            let t: Table = toml::from_str(&text)
                .map_err(|e| Error::file(path, text::cut_quoted(e.message())))?;
            Ok(t.get("variants").cloned())
        }
    }
}

/// Plans a scan: lists the model's tensors, keeps the 2-D float ones that pass the globs, and
/// builds the sweep.
pub fn plan(spec: &Spec) -> Result<Plan> {
    let all = model_tensors(&spec.model)?;
    if all.is_empty() {
        return Err(Error::file(
            &spec.model,
            "holds no tensors (its header lists none); expected at least one",
        ));
    }
    let mut skipped = Vec::new();
    let mut tensors = Vec::new();
    for t in all {
        let name = &t.name;
        if !spec.include.is_empty() && !spec.include.iter().any(|g| glob(g, name)) {
            count(&mut skipped, "not included".into());
        } else if spec.exclude.iter().any(|g| glob(g, name)) {
            count(&mut skipped, "excluded".into());
        } else if let Some(why) = skip_reason(&t) {
            count(&mut skipped, why);
        } else {
            tensors.push(t);
        }
    }
    tensors.sort_by(|a, b| checkpoint::natural_cmp(&a.name, &b.name));
    if tensors.is_empty() {
        let why = if skipped.is_empty() {
            String::new()
        } else {
            format!(" (skipped: {})", skipped_text(&skipped))
        };
        return Err(Error::file(
            &spec.model,
            format!("has no 2-D float tensor to scan{why}; expected F32, F16 or BF16 matrices"),
        ));
    }
    // The sweep's file paths are relative to its origin's folder: the model's.
    let model_name = spec
        .model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::file(&spec.model, "is not a file or folder name"))?;
    let mut stem = model_name.as_str();
    for suffix in [".index.json", ".safetensors", ".npy", ".npz", ".gguf"] {
        stem = stem.strip_suffix(suffix).unwrap_or(stem);
    }
    let stem = stem.to_string();
    let x = x_table(spec.x_dist.as_deref())?;
    let mut base = Table::new();
    base.insert("name".into(), Value::String(stem.clone()));
    base.insert(
        "description".into(),
        Value::String(format!("qlab scan of {model_name}")),
    );
    base.insert("seed".into(), Value::Integer(spec.seed as i64));
    let mut w = Table::new();
    w.insert("file".into(), Value::String(model_name.clone()));
    base.insert("w".into(), Value::Table(w));
    base.insert("x".into(), Value::Table(x.clone()));
    if let Some(v) = variants_value(&spec.variants)? {
        base.insert("variants".into(), v);
    }
    base.insert("n".into(), Value::Integer(spec.tokens as i64));
    // A `.npy` model is one tensor, named by the file: the axis is the file.
    let npy_model = spec
        .model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (axis_name, names): (&str, Vec<Value>) = if npy_model {
        ("w.file", vec![Value::String(model_name.clone())])
    } else {
        (
            "w.tensor",
            tensors
                .iter()
                .map(|t| Value::String(t.name.clone()))
                .collect(),
        )
    };
    let mut axis = Table::new();
    axis.insert("name".into(), Value::String(axis_name.into()));
    axis.insert("values".into(), Value::Array(names));
    let mut doc = Table::new();
    doc.insert("name".into(), Value::String(stem));
    doc.insert("seed".into(), Value::Integer(spec.seed as i64));
    doc.insert("scenario".into(), Value::Table(base));
    doc.insert("axis".into(), Value::Array(vec![Value::Table(axis)]));
    let text = toml::to_string(&doc).map_err(|e| Error::Invalid(format!("scan: {e}")))?;
    let sweep = Sweep::from_toml(&text, &spec.model)?;
    // x per tensor: its own activations where given (with their tokens as N), the synthetic
    // x otherwise; linked to the tensor axis only when there are activations at all.
    let mut linked = Vec::new();
    let mut with_activations = 0;
    if let Some(p) = &spec.activations {
        // Absolute: the sweep resolves relative paths against the model's folder.
        let p = absolute(p)?;
        let acts = open_activations(&p)?;
        let (mut xs, mut ns) = (Vec::new(), Vec::new());
        for t in &tensors {
            match activation_table(&p, &acts, t)? {
                Some((table, tokens)) => {
                    with_activations += 1;
                    xs.push(Value::Table(table));
                    ns.push(Value::Integer(tokens as i64));
                }
                None => {
                    xs.push(Value::Table(x.clone()));
                    ns.push(Value::Integer(spec.tokens as i64));
                }
            }
        }
        linked = vec![Axis::new("x", xs), Axis::new("n", ns)];
    }
    let dtypes: Vec<String> = tensors.iter().map(Tensor::dtype_name).collect();
    let mut sweep = sweep.link(0, linked, vec![("dtype".into(), dtypes)])?;
    // Every file the scan reads is an input no output may replace: the shards, the index,
    // the variants, the activations (a folder's files too).
    let mut inputs: Vec<PathBuf> = tensors.iter().map(|t| t.file.clone()).collect();
    inputs.push(spec.model.clone());
    if let Variants::File(p) = &spec.variants {
        inputs.push(p.clone());
    }
    for p in [&spec.model]
        .into_iter()
        .chain(spec.activations.as_ref())
        .filter(|p| p.is_dir())
    {
        if let Ok(entries) = std::fs::read_dir(p) {
            inputs.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    inputs.extend(spec.activations.clone());
    sweep.add_inputs(inputs);
    Ok(Plan {
        sweep,
        tensors,
        skipped,
        with_activations,
    })
}

/// One row of a scan's CSV, as the table, the summary, the JSON and the chart use it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    pub tensor: String,
    pub dtype: String,
    pub m: usize,
    pub k: usize,
    pub variant: String,
    pub out_sqnr_db: f64,
    pub w_sqnr_db: f64,
    pub w_only_sqnr_db: f64,
    pub x_only_sqnr_db: f64,
    pub w_clipped: f64,
    pub w_flushed: f64,
    pub w_bits_per_element: f64,
    /// Outputs that are NaN or ±inf (left out of the SQNR).
    pub out_non_finite: usize,
}

/// Reads a scan's CSV (its own rows, or a merge of its shards).
pub fn read_rows(csv_bytes: &[u8], shown: &Path) -> Result<Vec<Row>> {
    let mut r = csv::Reader::from_reader(csv_bytes);
    let h = r.headers().map_err(|e| Error::csv(shown, e))?.clone();
    let col = |name: &str| {
        h.iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::file(shown, format!("not a scan CSV: no '{name}' column")))
    };
    let tensor = col("w.tensor").or_else(|_| col("w.file"))?;
    let cols = [
        "dtype",
        "m",
        "k",
        "variant",
        "out_sqnr_db",
        "w_sqnr_db",
        "w_only_sqnr_db",
        "x_only_sqnr_db",
        "w_clipped",
        "w_flushed",
        "w_bits_per_element",
        "out_non_finite",
    ]
    .map(col);
    let [
        dtype,
        m,
        k,
        variant,
        out,
        w,
        w_only,
        x_only,
        clipped,
        flushed,
        bits,
        non_finite,
    ] = cols;
    let (dtype, m, k, variant) = (dtype?, m?, k?, variant?);
    let (out, w, w_only, x_only) = (out?, w?, w_only?, x_only?);
    let (clipped, flushed, bits, non_finite) = (clipped?, flushed?, bits?, non_finite?);
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::csv(shown, e))?;
        let num = |i: usize| {
            rec.get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let int = |i: usize| {
            rec.get(i)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let txt = |i: usize| rec.get(i).unwrap_or("").to_string();
        rows.push(Row {
            tensor: txt(tensor),
            dtype: txt(dtype),
            m: int(m),
            k: int(k),
            variant: txt(variant),
            out_sqnr_db: num(out),
            w_sqnr_db: num(w),
            w_only_sqnr_db: num(w_only),
            x_only_sqnr_db: num(x_only),
            w_clipped: num(clipped),
            w_flushed: num(flushed),
            w_bits_per_element: num(bits),
            out_non_finite: int(non_finite),
        });
    }
    Ok(rows)
}

/// One variant across the model.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    pub variant: String,
    pub tensors: usize,
    pub median_out_sqnr_db: f64,
    pub worst_out_sqnr_db: f64,
    pub worst_tensor: String,
    pub mean_bits_per_element: f64,
}

/// NaN sorts as the worst (a tensor whose output is not finite is worse than any number).
fn worst_first(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(&b),
    }
}

/// Each variant's median and worst output SQNR over the tensors, in first-seen order.
pub fn summarise(rows: &[Row]) -> Vec<Summary> {
    let mut order: Vec<&str> = Vec::new();
    for r in rows {
        if !order.contains(&r.variant.as_str()) {
            order.push(&r.variant);
        }
    }
    order
        .iter()
        .map(|v| {
            let mut mine: Vec<&Row> = rows.iter().filter(|r| r.variant == *v).collect();
            mine.sort_by(|a, b| worst_first(a.out_sqnr_db, b.out_sqnr_db));
            let vals: Vec<f64> = mine.iter().map(|r| r.out_sqnr_db).collect();
            let n = vals.len();
            let median = if n == 0 {
                f64::NAN
            } else if n % 2 == 1 {
                vals[n / 2]
            } else {
                (vals[n / 2 - 1] + vals[n / 2]) / 2.0
            };
            Summary {
                variant: v.to_string(),
                tensors: n,
                median_out_sqnr_db: median,
                worst_out_sqnr_db: vals.first().copied().unwrap_or(f64::NAN),
                worst_tensor: mine.first().map(|r| r.tensor.clone()).unwrap_or_default(),
                mean_bits_per_element: mine.iter().map(|r| r.w_bits_per_element).sum::<f64>()
                    / n.max(1) as f64,
            }
        })
        .collect()
}

fn db(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v}")
    }
}

fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}%", v * 100.0)
    } else {
        "n/a".into()
    }
}

/// The terminal table: the `top` worst rows by output SQNR, then the per-variant summary.
pub fn table(rows: &[Row], top: usize) -> String {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| worst_first(a.out_sqnr_db, b.out_sqnr_db));
    let shown: Vec<&Row> = sorted.iter().take(top).copied().collect();
    let name_w = shown
        .iter()
        .map(|r| r.tensor.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 56);
    let var_w = rows
        .iter()
        .map(|r| r.variant.chars().count())
        .max()
        .unwrap_or(7)
        .clamp(7, 28);
    let fit = text::fit_end;
    let mut out = String::new();
    let title = if rows.len() > shown.len() {
        format!(
            "worst {} of {} rows (by output SQNR)\n",
            shown.len(),
            rows.len()
        )
    } else {
        format!("{} rows, worst first (by output SQNR)\n", rows.len())
    };
    out.push_str(&title);
    out.push_str(&format!(
        "{}  {:<11}  {:<5}  {}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>5}\n",
        fit("tensor", name_w),
        "shape",
        "dtype",
        fit("variant", var_w),
        "out dB",
        "W dB",
        "W-only",
        "x-only",
        "W clip",
        "bits"
    ));
    for r in &shown {
        // `!`: some outputs are NaN or ±inf, which the SQNR leaves out.
        let out_db = if r.out_non_finite > 0 {
            format!("{}!", db(r.out_sqnr_db))
        } else {
            db(r.out_sqnr_db)
        };
        out.push_str(&format!(
            "{}  {:<11}  {:<5}  {}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>5.2}\n",
            fit(&r.tensor, name_w),
            format!("{}×{}", r.m, r.k),
            text::printable(&r.dtype),
            fit(&r.variant, var_w),
            out_db,
            db(r.w_sqnr_db),
            db(r.w_only_sqnr_db),
            db(r.x_only_sqnr_db),
            percent(r.w_clipped),
            r.w_bits_per_element
        ));
    }
    let bad = rows.iter().filter(|r| r.out_non_finite > 0).count();
    if bad > 0 {
        out.push_str(&format!(
            "! {bad} of {} rows have NaN or ±inf outputs (out_non_finite in the CSV); their \
             SQNR counts the finite ones only\n",
            rows.len()
        ));
    }
    out.push_str("\nper variant (output SQNR over the tensors)\n");
    out.push_str(&format!(
        "{}  {:>7}  {:>8}  {:>8}  {:>5}  worst tensor\n",
        fit("variant", var_w),
        "tensors",
        "median",
        "worst",
        "bits"
    ));
    for s in summarise(rows) {
        out.push_str(&format!(
            "{}  {:>7}  {:>8}  {:>8}  {:>5.2}  {}\n",
            fit(&s.variant, var_w),
            s.tensors,
            db(s.median_out_sqnr_db),
            db(s.worst_out_sqnr_db),
            s.mean_bits_per_element,
            text::printable(&s.worst_tensor)
        ));
    }
    out
}

/// The JSON: every row and the summary.
pub fn json(
    model: &Path,
    sweep_id: &str,
    rows: &[Row],
    skipped: &[(String, usize)],
    shipped: &[Shipped],
) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        model: String,
        scan: &'a str,
        skipped: Vec<serde_json::Value>,
        summary: Vec<Summary>,
        rows: &'a [Row],
        #[serde(skip_serializing_if = "<[Shipped]>::is_empty")]
        shipped: &'a [Shipped],
    }
    let doc = Doc {
        model: model.display().to_string(),
        scan: sweep_id,
        skipped: skipped
            .iter()
            .map(|(why, n)| serde_json::json!({"why": why, "tensors": n}))
            .collect(),
        summary: summarise(rows),
        rows,
        shipped,
    };
    serde_json::to_string_pretty(&doc)
        .map(|s| s + "\n")
        .map_err(|e| Error::Invalid(format!("JSON: {e}")))
}

/// The chart: output SQNR per tensor (in scan order), one line per variant.
pub fn svg(model: &str, rows: &[Row]) -> Result<String> {
    use crate::app::plot::Series;
    let mut tensors: Vec<&str> = Vec::new();
    for r in rows {
        if !tensors.contains(&r.tensor.as_str()) {
            tensors.push(&r.tensor);
        }
    }
    let series: Vec<Series> = summarise(rows)
        .iter()
        .map(|s| Series {
            name: s.variant.clone(),
            points: rows
                .iter()
                .filter(|r| r.variant == s.variant && r.out_sqnr_db.is_finite())
                .map(|r| {
                    let i = tensors.iter().position(|t| *t == r.tensor).unwrap_or(0);
                    (i.to_string(), r.out_sqnr_db, 1)
                })
                .collect(),
        })
        .collect();
    crate::app::plot::svg(
        &series,
        "tensor (index in scan order)",
        "output SQNR (dB)",
        &format!("{model}: SQNR per layer, one line per variant"),
    )
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .map_err(|e| Error::io(p, e))
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob("*.weight", "layer.0.attn.weight"));
        assert!(glob("layer.?.*", "layer.3.mlp.weight"));
        assert!(!glob("layer.?.*", "layer.12.mlp.weight"));
        assert!(glob("*", ""));
        assert!(!glob("*.bias", "layer.0.weight"));
        assert!(glob("*mlp*", "model.layers.0.mlp.down_proj.weight"));
    }
}

/// How a shipped MXFP4 tensor compares with qlab's MXFP4 of its high-precision original under
/// one scale rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RuleMatch {
    pub rule: String,
    /// Fraction of blocks whose scale byte is the shipped one.
    pub scales: f64,
    /// Fraction of elements whose code is the shipped one.
    pub codes: f64,
}

/// One shipped tensor against its original.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Shipped {
    pub tensor: String,
    pub original: String,
    pub rules: Vec<RuleMatch>,
}

/// For every MXFP4 tensor of the plan, the original's tensor of the same name (or with or
/// without `.weight`; leading axes merged, as gpt-oss's experts are) quantized with blocks of 32
/// under each scale rule, and how many scale bytes and codes equal the shipped ones.
pub fn shipped_rules(plan: &Plan, original: &Path) -> Result<Vec<Shipped>> {
    use crate::core::data::checkpoint::Packing;
    use crate::core::format::mx::{MxConfig, MxMatrix};
    use crate::core::format::{BlockSize, ScaleRule};
    let originals = checkpoint::open(original)?;
    let mut out = Vec::new();
    for t in &plan.tensors {
        if !matches!(t.packing, Packing::GptOss { .. } | Packing::Ggml) {
            continue;
        }
        let candidates = [
            t.name.clone(),
            format!("{}.weight", t.name),
            t.name
                .strip_suffix(".weight")
                .unwrap_or(&t.name)
                .to_string(),
        ];
        let Some(o) = candidates
            .iter()
            .find_map(|c| originals.iter().find(|o| &o.name == c))
        else {
            continue;
        };
        let (m, _) = crate::core::data::tensors::read_tensor(original, Some(&o.name), true)?;
        if (m.rows(), m.cols()) != (t.shape[0], t.shape[1]) {
            return Err(Error::file(
                original,
                format!(
                    "tensor '{}' has {} × {} values; the shipped '{}' has {} × {}",
                    text::echo(&o.name),
                    m.rows(),
                    m.cols(),
                    text::echo(&t.name),
                    t.shape[0],
                    t.shape[1]
                ),
            ));
        }
        let shipped = t.unpack_mx(&t.read_bytes()?)?;
        let mut rules = Vec::new();
        for rule in [
            ScaleRule::Floor,
            ScaleRule::Ceil,
            ScaleRule::Even,
            ScaleRule::Rceil,
        ] {
            let q = MxMatrix::quantize(&m, MxConfig::new(BlockSize::Elements(32), rule))?;
            let same = |a: &[u8], b: &[u8]| {
                a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64
            };
            rules.push(RuleMatch {
                rule: rule.name().to_string(),
                scales: same(q.scales(), shipped.scales()),
                codes: same(q.codes(), shipped.codes()),
            });
        }
        out.push(Shipped {
            tensor: t.name.clone(),
            original: o.name.clone(),
            rules,
        });
    }
    Ok(out)
}

/// The comparison as text: per tensor, each rule's share of equal scale bytes and codes, and
/// the rule that matches best.
pub fn shipped_text(s: &[Shipped]) -> String {
    let mut out = String::from(
        "\nshipped MXFP4 against qlab's MXFP4 of the original (equal scale bytes / codes)\n",
    );
    for t in s {
        let best = t.rules.iter().max_by(|a, b| {
            (a.scales, a.codes)
                .partial_cmp(&(b.scales, b.codes))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let cells: Vec<String> = t
            .rules
            .iter()
            .map(|r| {
                format!(
                    "{} {:.2}% / {:.2}%",
                    r.rule,
                    r.scales * 100.0,
                    r.codes * 100.0
                )
            })
            .collect();
        out.push_str(&format!(
            "{}: {}; best: {}\n",
            text::printable(&t.tensor),
            cells.join(", "),
            best.map_or("none", |b| b.rule.as_str())
        ));
    }
    out
}
