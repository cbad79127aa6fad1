//! Sweep files: a base scenario and axes; the sweep is the Cartesian product of the axes.
//!
//! Each configuration is the base scenario's TOML with the axes' values written into it, parsed
//! like any scenario file, so a sweep can vary anything a scenario can say and every value is
//! checked by the same rules.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Spanned, Table, Value};

use crate::core::error::{Error, Result};
use crate::core::family;
use crate::core::rng::splitmix64;
use crate::core::scenario::{self, Scenario};

/// Refuse sweeps larger than this without `--yes`.
pub const LARGE_SWEEP: u64 = 10_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    description: Option<String>,
    seed: Option<u64>,
    repeat: Option<Spanned<u64>>,
    base: Option<PathBuf>,
    scenario: Option<Table>,
    #[serde(default)]
    axis: Vec<Spanned<RawAxis>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    name: String,
    values: Vec<Value>,
}

/// One axis: a scenario or variant field and the values it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub name: String,
    pub values: Vec<Value>,
    /// Fields set in step with this one (value `j` with value `j`): a scan sets `w.tensor`
    /// and, with it, that tensor's activations as a whole `x` table. Each gets a column.
    pub linked: Vec<Axis>,
    /// Columns that describe each value without setting anything (a tensor's dtype).
    pub notes: Vec<(String, Vec<String>)>,
}

impl Axis {
    pub fn new(name: impl Into<String>, values: Vec<Value>) -> Axis {
        Axis {
            name: name.into(),
            values,
            linked: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The columns this axis writes: its own, its linked fields' (but `seed`, `m`, `k` and
    /// `n`, which the report columns hold already), its notes'.
    pub fn columns(&self) -> Vec<String> {
        let mut c = vec![self.name.clone()];
        c.extend(self.shown_links().map(|l| l.name.clone()));
        c.extend(self.notes.iter().map(|n| n.0.clone()));
        c
    }

    fn shown_links(&self) -> impl Iterator<Item = &Axis> {
        self.linked
            .iter()
            .filter(|l| !matches!(l.name.as_str(), "seed" | "m" | "k" | "n"))
    }

    /// The cells of value `j`, in [`Axis::columns`] order.
    pub fn cells(&self, j: usize) -> Vec<String> {
        let mut c = vec![value_text(&self.values[j])];
        c.extend(self.shown_links().map(|l| value_text(&l.values[j])));
        c.extend(self.notes.iter().map(|n| n.1[j].clone()));
        c
    }
}

/// A parsed sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub name: String,
    pub description: String,
    /// The sweep seed: configuration seeds derive from it.
    pub seed: u64,
    /// Repetitions of every configuration with fresh data.
    pub repeat: u64,
    pub axes: Vec<Axis>,
    base: Table,
    base_dir: PathBuf,
    origin: PathBuf,
    /// The files the sweep reads: its own, the base scenario's, their data files.
    inputs: Vec<PathBuf>,
    /// Identifies the sweep: a hash of the base scenario, the axes, the seed, the repeat count
    /// and the qlab version. Resume and merge refuse files of another sweep.
    pub id: String,
}

/// One point of the sweep.
#[derive(Clone, Debug)]
pub struct Config {
    pub index: u64,
    pub repeat: u64,
    /// Index into each axis's values.
    pub choice: Vec<usize>,
    pub scenario: Scenario,
}

/// How many valid axes an unknown axis's message lists.
const AXES_SHOWN: usize = 12;

/// Every axis name a sweep accepts.
pub fn valid_axes() -> Vec<String> {
    let mut v: Vec<String> = ["seed", "m", "k", "n"]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    for op in ["w", "x"] {
        v.extend(scenario::OPERAND_KEYS.iter().map(|k| format!("{op}.{k}")));
        // The data source: a file, and the tensor inside a checkpoint.
        v.extend(["file", "tensor"].iter().map(|k| format!("{op}.{k}")));
    }
    // The formats themselves: every variant's (`format`), or one operand's.
    for key in ["format", "w_format", "x_format"] {
        v.push(format!("variant.{key}"));
    }
    for f in family::REGISTRY {
        for k in f.knobs().iter().filter(|k| k.axis) {
            for key in k.file_keys() {
                let axis = format!("variant.{key}");
                if !v.contains(&axis) {
                    v.push(axis);
                }
            }
        }
    }
    v
}

/// An error's message without the file and the line and column: those point into the TOML
/// generated for a configuration, which the user never sees.
fn strip_position(e: &Error) -> String {
    let msg = match e {
        Error::File { message, .. } => message.clone(),
        other => other.to_string(),
    };
    match msg.split_once(": ") {
        Some((pos, rest)) if pos.starts_with("line ") && pos.contains(", column ") => {
            rest.to_string()
        }
        _ => msg,
    }
}

/// The largest operands (elements of W and x together) a sweep generates before it starts, to
/// try an axis value the way its run will.
const PREFLIGHT_ELEMENTS: usize = 1 << 22;

/// Tries a configuration's data as its run will: generates the operands (when they are small
/// enough to do it in passing) and checks them against every variant's format, so that a
/// distribution that overflows f32 or a modifier that does not fit the shape fails before the
/// sweep starts. Larger ones, and data files, get the memory check only.
fn preflight(s: &Scenario) -> Result<()> {
    use crate::core::scenario::{DEFAULT_K, DEFAULT_M, DEFAULT_N, Source};
    let files = [&s.w, &s.x]
        .iter()
        .any(|o| !matches!(o.source, Source::Random(_)));
    let (m, k, n) = (
        s.m.unwrap_or(DEFAULT_M),
        s.k.unwrap_or(DEFAULT_K),
        s.n.unwrap_or(DEFAULT_N),
    );
    if files {
        return Ok(());
    }
    crate::core::data::check_memory(m, k, n)?;
    let elements = m.saturating_mul(k).saturating_add(k.saturating_mul(n));
    if elements > PREFLIGHT_ELEMENTS {
        return Ok(());
    }
    let ops = s.operands()?;
    for v in &s.variants {
        v.w_format
            .check_input(&ops.w, "W")
            .and_then(|()| v.x_format.check_input(&ops.x, "x"))
            .map_err(|e| Error::Invalid(format!("variant '{}': {e}", v.label)))?;
    }
    Ok(())
}

/// Sets a variant table's `format` (both operands) or `w_format` / `x_format` to `value`,
/// and removes the settings neither of its formats then has.
fn set_format(v: &mut toml::Table, key: &str, value: &toml::Value) -> Result<()> {
    use toml::Value;
    let Value::String(name) = value else {
        return Err(Error::Invalid(format!(
            "axis 'variant.{key}': {} is not a format name; expected a string",
            crate::core::text::echo(&value.to_string())
        )));
    };
    let f =
        family::lookup(name).map_err(|e| Error::Invalid(format!("axis 'variant.{key}': {e}")))?;
    let named = |v: &toml::Table, k: &str| v.get(k).and_then(Value::as_str).and_then(family::find);
    let both = named(v, "format");
    let (mut w, mut x) = (named(v, "w_format").or(both), named(v, "x_format").or(both));
    match key {
        "format" => {
            v.remove("w_format");
            v.remove("x_format");
            (w, x) = (Some(f), Some(f));
        }
        "w_format" => w = Some(f),
        _ => x = Some(f),
    }
    v.insert(key.to_string(), value.clone());
    // The label follows the formats (a fixed label would name every configuration alike).
    v.remove("label");
    // With one operand's format given, the other keeps what `format` said.
    if key != "format"
        && let Some(b) = both
    {
        let other = if key == "w_format" {
            "x_format"
        } else {
            "w_format"
        };
        v.entry(other.to_string())
            .or_insert_with(|| Value::String(b.name().into()));
        v.remove("format");
    }
    let keeps = |k: &str| {
        [w, x].iter().flatten().any(|f| {
            family::knob_for_key(*f, k).is_some()
                || ["w_", "x_"].iter().any(|p| {
                    k.strip_prefix(p)
                        .is_some_and(|rest| family::knob_for_key(*f, rest).is_some())
                })
        })
    };
    let stale: Vec<String> = v
        .keys()
        .filter(|k| !matches!(k.as_str(), "label" | "format" | "w_format" | "x_format"))
        .filter(|k| !keeps(k))
        .cloned()
        .collect();
    for k in stale {
        v.remove(&k);
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable hash for identities written into files.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Renders a TOML value for a CSV cell or a plan line: strings bare, numbers as written.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A TOML value for a message: [`value_text`], with extreme floats in exponent form and long
/// text cut.
pub fn value_brief(v: &Value) -> String {
    match v {
        Value::Float(f) if *f != 0.0 && f.is_finite() && !(1e-6..1e16).contains(&f.abs()) => {
            format!("{f:e}")
        }
        other => crate::core::text::echo(&value_text(other)),
    }
}

fn set_path(table: &mut Table, path: &[&str], value: Value) {
    if let [last] = path {
        table.insert(last.to_string(), value);
        return;
    }
    let entry = table
        .entry(path[0].to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    if let Value::Table(t) = entry {
        set_path(t, &path[1..], value);
    }
}

/// A scenario's top-level keys that a sweep file does not have.
const SCENARIO_KEYS: [&str; 6] = ["m", "k", "n", "w", "x", "variants"];

impl Sweep {
    /// Parses sweep text; `origin` names it in errors and anchors `base` and data paths.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Sweep> {
        let dir = origin.parent().map(Path::to_path_buf).unwrap_or_default();
        // Errors name the file and, where there is one, the line and column.
        let at = |span: Option<std::ops::Range<usize>>, msg: String| {
            let place = span
                .map(|r| {
                    let (l, c) = scenario::line_col(text, r.start);
                    format!("line {l}, column {c}: ")
                })
                .unwrap_or_default();
            Error::file(
                origin,
                format!("{place}{}", crate::core::text::cut_quoted(msg.trim_end())),
            )
        };
        let raw: RawSpec = toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            // A scenario given where a sweep was expected: say so, not "unknown field `n`".
            if scenario::is_unknown_field(&message, &SCENARIO_KEYS) {
                return Error::file(
                    origin,
                    "this is a scenario file, not a sweep; run it with `qlab run FILE` (a sweep \
                     holds a scenario in [scenario] or names it in `base`, then [[axis]] tables)",
                );
            }
            at(e.span(), message)
        })?;
        let mut inputs = vec![origin.to_path_buf()];
        let (base, base_dir, base_text) = match (raw.base, raw.scenario) {
            (Some(_), Some(_)) => {
                return Err(Error::file(
                    origin,
                    "give 'base' or a [scenario] table, not both",
                ));
            }
            (Some(p), None) => {
                let path = if p.is_absolute() { p } else { dir.join(p) };
                let text = crate::core::files::read_text(&path)?;
                // The base must be a valid scenario on its own.
                let scenario = Scenario::from_toml(
                    &text,
                    &path,
                    path.parent().map(Path::to_path_buf).unwrap_or_default(),
                )?;
                inputs.push(path.clone());
                inputs.extend(scenario.data_files());
                let table: Table = toml::from_str(&text)
                    .map_err(|e| Error::file(&path, crate::core::text::cut_quoted(e.message())))?;
                let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (table, base_dir, text)
            }
            (None, t) => {
                let table = t.unwrap_or_default();
                let text = toml::to_string(&table).unwrap_or_default();
                (table, dir.clone(), text)
            }
        };
        if let Some(r) = raw.repeat.as_ref().filter(|r| *r.get_ref() == 0) {
            return Err(at(
                Some(r.span()),
                "repeat = 0 is invalid; expected a count ≥ 1".into(),
            ));
        }
        let repeat = raw.repeat.map_or(1, Spanned::into_inner);
        if raw.axis.is_empty() && repeat <= 1 {
            return Err(Error::file(
                origin,
                "the sweep has no [[axis]] and no repeat; add at least one axis",
            ));
        }
        let valid = valid_axes();
        let mut axes = Vec::new();
        for a in raw.axis {
            let span = Some(a.span());
            let a = a.into_inner();
            if !valid.contains(&a.name) {
                let hint = crate::core::text::did_you_mean(&a.name, &valid)
                    .map(|v| format!("did you mean '{v}'? "))
                    .unwrap_or_default();
                return Err(at(
                    span,
                    format!(
                        "unknown axis '{}'; {hint}valid axes: {} (w.KEY and x.KEY for every operand \
                         key, variant.KEY for every format setting)",
                        crate::core::text::echo(&a.name),
                        crate::core::text::list(&valid, AXES_SHOWN)
                    ),
                ));
            }
            if a.values.is_empty() {
                return Err(at(span, format!("axis '{}' has no values", a.name)));
            }
            if axes.iter().any(|b: &Axis| b.name == a.name) {
                return Err(at(span, format!("axis '{}' is given twice", a.name)));
            }
            axes.push(Axis::new(a.name, a.values));
        }
        if axes
            .iter()
            .try_fold(repeat, |n, a| n.checked_mul(a.values.len() as u64))
            .is_none()
        {
            return Err(Error::file(
                origin,
                "the sweep has more than 2^64 configurations (the axes' lengths times the \
                 repeat count); make it smaller",
            ));
        }
        if repeat > 1 && axes.iter().any(|a| a.name == "seed") {
            return Err(Error::file(
                origin,
                "a 'seed' axis and repeat > 1 would repeat identical data; give one or the other",
            ));
        }
        let base_seed = base
            .get("seed")
            .and_then(Value::as_integer)
            .unwrap_or(scenario::DEFAULT_SEED as i64);
        let seed = raw.seed.unwrap_or(base_seed as u64);
        let axes_text: String = axes
            .iter()
            .map(|a| {
                format!(
                    "{}={:?};",
                    a.name,
                    a.values.iter().map(value_text).collect::<Vec<_>>()
                )
            })
            .collect();
        let id = format!(
            "{:016x}",
            fnv1a(
                format!(
                    "{base_text}\n{axes_text}\n{seed}\n{repeat}\n{}",
                    env!("CARGO_PKG_VERSION")
                )
                .as_bytes()
            )
        );
        let mut sweep = Sweep {
            name: raw.name.unwrap_or_else(|| {
                origin
                    .file_stem()
                    .map_or("sweep".into(), |s| s.to_string_lossy().into_owned())
            }),
            description: raw.description.unwrap_or_default(),
            seed,
            repeat,
            axes,
            base,
            base_dir,
            origin: origin.to_path_buf(),
            inputs,
            id,
        };
        let base = sweep.check_values()?;
        sweep.inputs.extend(base.data_files());
        Ok(sweep)
    }

    /// Reads a sweep file.
    pub fn load(path: &Path) -> Result<Sweep> {
        let text = crate::core::files::read_text(path)?;
        Sweep::from_toml(&text, path)
    }

    /// Links fields to axis `i` (each set in step with its values) and adds note columns;
    /// checks every value as [`Sweep::from_toml`] does, adds the files the linked values
    /// read to the sweep's inputs, and folds the links into the sweep's id.
    pub fn link(
        mut self,
        i: usize,
        linked: Vec<Axis>,
        notes: Vec<(String, Vec<String>)>,
    ) -> Result<Sweep> {
        let n = self.axes[i].values.len();
        if linked.iter().any(|l| l.values.len() != n) || notes.iter().any(|c| c.1.len() != n) {
            return Err(Error::Invalid(format!(
                "sweep: a field linked to axis '{}' has another number of values",
                self.axes[i].name
            )));
        }
        let text = format!("{}\n{linked:?}\n{notes:?}", self.id);
        self.id = format!("{:016x}", fnv1a(text.as_bytes()));
        self.axes[i].linked = linked;
        self.axes[i].notes = notes;
        self.check_values()?;
        for j in 0..n {
            let mut choice = vec![0; self.axes.len()];
            choice[i] = j;
            for f in self.build(0, 0, &choice)?.data_files() {
                if !self.inputs.contains(&f) {
                    self.inputs.push(f);
                }
            }
        }
        Ok(self)
    }

    /// Number of configurations: the product of the axis lengths times the repeat count.
    pub fn len(&self) -> u64 {
        self.axes
            .iter()
            .fold(self.repeat, |n, a| n.saturating_mul(a.values.len() as u64))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Variants per configuration (every configuration has the base's variants).
    pub fn variants(&self) -> usize {
        self.base
            .get("variants")
            .and_then(Value::as_array)
            .map_or(family::default_variants().len(), Vec::len)
    }

    /// The sweep file (or what stands for it in messages).
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The files the sweep reads (its own file, the base scenario's, their data files): an
    /// output may be none of them.
    /// Adds files the sweep reads beyond its own (a scan's shards, variants, activations,
    /// original): an output may be none of them either.
    pub fn add_inputs(&mut self, files: impl IntoIterator<Item = PathBuf>) {
        for f in files {
            if !self.inputs.contains(&f) {
                self.inputs.push(f);
            }
        }
    }

    pub fn input_files(&self) -> &[PathBuf] {
        &self.inputs
    }

    /// Builds every value of every axis once (with the others at their first value), so a bad
    /// value is reported before the sweep starts. Returns the base scenario.
    fn check_values(&self) -> Result<Scenario> {
        // The base itself first, so that its errors are not blamed on an axis value.
        let mut t = self.base.clone();
        t.insert("seed".into(), Value::Integer(self.seed as i64));
        let text = toml::to_string(&t).map_err(|e| Error::Invalid(format!("sweep: {e}")))?;
        let base =
            Scenario::from_toml(&text, &self.origin, self.base_dir.clone()).map_err(|e| {
                Error::file(
                    &self.origin,
                    format!("the base scenario: {}", strip_position(&e)),
                )
            })?;
        for (i, a) in self.axes.iter().enumerate() {
            for j in 0..a.values.len() {
                let mut choice = vec![0; self.axes.len()];
                choice[i] = j;
                self.build(0, 0, &choice)
                    .and_then(|s| preflight(&s))
                    .map_err(|e| {
                        let msg = strip_position(&e);
                        // Messages that name the axis already need no prefix.
                        if msg.contains(&format!("axis '{}'", a.name)) {
                            Error::file(&self.origin, msg)
                        } else {
                            // The other axes sit at their first values: name them, since the
                            // failure may come from the combination.
                            let others: Vec<String> = self
                                .axes
                                .iter()
                                .filter(|b| b.name != a.name)
                                .map(|b| format!("{} = {}", b.name, value_brief(&b.values[0])))
                                .collect();
                            let with = if others.is_empty() {
                                String::new()
                            } else {
                                format!(" (with {})", others.join(", "))
                            };
                            Error::file(
                                &self.origin,
                                format!(
                                    "axis '{}' = {}{with}: {msg}",
                                    a.name,
                                    value_brief(&a.values[j])
                                ),
                            )
                        }
                    })?;
            }
        }
        Ok(base)
    }

    /// Splits a configuration index into the repeat number and the axis choices (the last
    /// axis varies fastest, the repeat slowest).
    pub fn decode(&self, index: u64) -> (u64, Vec<usize>) {
        let mut rest = index;
        let mut choice = vec![0; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            let n = a.values.len() as u64;
            choice[i] = (rest % n) as usize;
            rest /= n;
        }
        (rest, choice)
    }

    /// Configuration `index`.
    pub fn config(&self, index: u64) -> Result<Config> {
        let (repeat, choice) = self.decode(index);
        let scenario = self.build(index, repeat, &choice)?;
        Ok(Config {
            index,
            repeat,
            choice,
            scenario,
        })
    }

    /// The scenario of one point. Its seed derives from the sweep seed and the repeat number
    /// only, so configurations that differ in format settings see the same data (common random
    /// numbers); a `seed` axis overrides it.
    fn build(&self, index: u64, repeat: u64, choice: &[usize]) -> Result<Scenario> {
        let mut t = self.base.clone();
        // 63 bits: TOML integers (and so scenario files) hold at most i64::MAX.
        let seed = if repeat == 0 {
            self.seed
        } else {
            splitmix64(self.seed ^ repeat) >> 1
        };
        t.insert("seed".into(), Value::Integer(seed as i64));
        // Distribution axes first: a new `dist` drops the old distribution's parameters, so a
        // parameter axis must be applied after it, whatever the file's order.
        let mut order: Vec<usize> = (0..self.axes.len()).collect();
        order.sort_by_key(|&i| !self.axes[i].name.ends_with(".dist"));
        for i in order {
            let a = &self.axes[i];
            self.apply(&mut t, a, &a.values[choice[i]])?;
            for l in &a.linked {
                self.apply(&mut t, l, &l.values[choice[i]])?;
            }
        }
        let text = toml::to_string(&t).map_err(|e| Error::Invalid(format!("sweep: {e}")))?;
        let origin = PathBuf::from(format!("{} (configuration {index})", self.origin.display()));
        Scenario::from_toml(&text, &origin, self.base_dir.clone())
    }

    fn apply(&self, t: &mut Table, axis: &Axis, value: &Value) -> Result<()> {
        let parts: Vec<&str> = axis.name.split('.').collect();
        match parts[0] {
            "w" | "x" => {
                let op = t
                    .entry(parts[0].to_string())
                    .or_insert_with(|| Value::Table(Table::new()));
                let Value::Table(op) = op else {
                    unreachable!("operands are tables")
                };
                // The whole operand table (a linked axis: a tensor's own activations).
                if parts.len() == 1 {
                    if let Value::Table(whole) = value {
                        *op = whole.clone();
                    }
                    return Ok(());
                }
                // A new source replaces the old one: a file drops the distribution (and its
                // modifiers' defaults stay), a distribution drops the file.
                let drop_keys: &[&str] = match parts[1] {
                    "file" => &["dist", "values"],
                    "dist" => &["file", "tensor", "values"],
                    _ => &[],
                };
                for k in drop_keys {
                    op.remove(*k);
                }
                if parts[1] == "file" {
                    let params: Vec<String> = op
                        .keys()
                        .filter(|k| {
                            scenario::DISTRIBUTIONS
                                .iter()
                                .any(|d| d.1.contains(&k.as_str()))
                        })
                        .cloned()
                        .collect();
                    for k in params {
                        op.remove(&k);
                    }
                }
                if parts[1] == "dist" {
                    // A new distribution drops the parameters of the old one.
                    let name = value.as_str().unwrap_or("");
                    if let Some(takes) = scenario::dist_params(name) {
                        let stale: Vec<String> = op
                            .keys()
                            .filter(|k| {
                                scenario::DISTRIBUTIONS
                                    .iter()
                                    .any(|d| d.1.contains(&k.as_str()))
                                    && !takes.contains(&k.as_str())
                            })
                            .cloned()
                            .collect();
                        for k in stale {
                            op.remove(&k);
                        }
                    }
                }
                set_path(op, &parts[1..], value.clone());
            }
            "variant" => {
                let key = parts[1];
                let format_axis = matches!(key, "format" | "w_format" | "x_format");
                let variants = t.entry("variants".to_string()).or_insert_with(|| {
                    if format_axis {
                        // A format axis over no variants: one variant, the axis's format.
                        return Value::Array(vec![Value::Table(Table::new())]);
                    }
                    Value::Array(
                        family::default_variants()
                            .iter()
                            .map(|v| {
                                let mut t = Table::new();
                                t.insert("format".into(), Value::String(v.w_format.name().into()));
                                Value::Table(t)
                            })
                            .collect(),
                    )
                });
                let Value::Array(list) = variants else {
                    return Err(Error::Invalid(
                        "sweep: 'variants' in the base scenario is not a list".into(),
                    ));
                };
                // A format axis sets every variant's format (or one operand's); settings the
                // new format lacks are dropped, so each configuration runs it at its defaults.
                if format_axis {
                    for v in list.iter_mut().filter_map(Value::as_table_mut) {
                        set_format(v, key, value)?;
                    }
                    return Ok(());
                }
                // The setting goes to every variant whose format (W's or x's) has it.
                let takes = family::families_with(key);
                let mut hit = false;
                for v in list.iter_mut().filter_map(Value::as_table_mut) {
                    let named = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                    let both = named("format");
                    let formats = [
                        named("w_format").or(both.clone()),
                        named("x_format").or(both),
                    ];
                    if takes.iter().any(|f| {
                        formats
                            .iter()
                            .flatten()
                            .any(|n| family::find(n) == Some(*f))
                    }) {
                        v.insert(key.to_string(), value.clone());
                        hit = true;
                    }
                }
                if !hit {
                    let names: Vec<&str> = takes.iter().map(|f| f.name()).collect();
                    let wanted = crate::core::family::knob::one_of(&names);
                    return Err(Error::Invalid(format!(
                        "axis '{}' sets a setting that only {wanted} variants have, but the base \
                         scenario has none",
                        axis.name
                    )));
                }
            }
            _ => {
                t.insert(parts[0].to_string(), value.clone());
            }
        }
        Ok(())
    }
}
