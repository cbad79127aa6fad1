//! A scenario's operands, materialised: data files loaded and reshaped, shapes agreed,
//! random operands generated and modified.

use std::path::Path;

use super::{DEFAULT_K, DEFAULT_M, DEFAULT_N, OperandSpec, Scenario, Source};
use crate::core::data::distribution::Role;
use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;

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
            let sharded = crate::core::data::checkpoint::is_sharded(&full);
            if !sharded {
                crate::core::files::input::check_regular(&full)?;
            }
            let ext = full
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if tensor.is_some()
                && !["safetensors", "npz", "gguf"].contains(&ext.as_str())
                && !sharded
            {
                return Err(Error::file(
                    &full,
                    "'tensor' names a tensor inside a .safetensors file (or an array inside a \
                     .npz); this is not one",
                ));
            }
            let tokens_k = spec.view.tokens_k;
            let (m, vector) = match ext.as_str() {
                _ if sharded => {
                    crate::core::data::tensors::read_tensor(&full, tensor.as_deref(), tokens_k)?
                }
                "npy" if tokens_k => (crate::core::data::npy::read_tokens_k(&full)?.0, false),
                "npy" => {
                    let a = crate::core::data::npy::read(&full)?;
                    let vector = a.shape.len() == 1;
                    (a.into_matrix(), vector)
                }
                "safetensors" | "gguf" => {
                    crate::core::data::tensors::read_tensor(&full, tensor.as_deref(), tokens_k)?
                }
                "npz" if tokens_k => {
                    let bytes = crate::core::data::npz::read_member(&full, tensor.as_deref())?;
                    let (m, _) = crate::core::data::npy::decode_tokens_k(&bytes)
                        .map_err(|msg| Error::file(&full, msg))?;
                    (m, false)
                }
                "npz" => {
                    let a = crate::core::data::npz::read(&full, tensor.as_deref())?;
                    let vector = a.shape.len() == 1;
                    (a.into_matrix(), vector)
                }
                "csv" => (crate::core::data::tensors::read_csv(&full)?, false),
                _ => {
                    return Err(Error::file(
                        &full,
                        "unknown file type; expected .npy, .npz, .safetensors, .gguf, .csv, a checkpoint folder or its *.index.json",
                    ));
                }
            };
            // (tokens, K) becomes qlab's K × tokens; the 1-D case is one token, one column.
            if tokens_k {
                (m.transpose(), false)
            } else {
                (m, vector)
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
        let x_shape = x_data.as_ref().map(super::super::matrix::Matrix::shape);
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
