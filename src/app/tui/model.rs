//! The model screen's state: a checkpoint's 2-D float tensors with their scan results as they
//! come in (sortable, filterable), and the scan itself, which runs off the UI thread.

use std::path::{Path, PathBuf};

use crate::core::data::checkpoint::{self, Tensor};
use crate::core::error::Result;
use crate::core::scenario::{OperandSpec, Scenario, Source};

/// One tensor of the model and, once scanned, each variant's output SQNR (or why it failed).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub dtype: String,
    pub shape: (usize, usize),
    pub sqnr: Option<std::result::Result<Vec<f64>, String>>,
}

impl Row {
    /// The lowest output SQNR over the variants (NaN counts as the lowest).
    pub fn worst(&self) -> Option<f64> {
        match &self.sqnr {
            Some(Ok(v)) => v
                .iter()
                .copied()
                .reduce(|a, b| if a.is_nan() || a < b { a } else { b }),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub path: PathBuf,
    pub rows: Vec<Row>,
    /// The variants' labels, the columns of the scan.
    pub variants: Vec<String>,
    /// Index into [`Model::visible`].
    pub cursor: usize,
    /// Worst first (by the lowest output SQNR) instead of name order.
    pub worst_first: bool,
    pub filter: String,
    /// The filter is being typed.
    pub filtering: bool,
    /// Which scan the results belong to (a newer one supersedes it).
    pub generation: u64,
}

/// Whether `path` looks like a model rather than a scenario file.
pub fn is_model(path: &Path) -> bool {
    let name = path.to_string_lossy();
    checkpoint::is_sharded(path) || name.ends_with(".safetensors") || name.ends_with(".gguf")
}

impl Model {
    /// Lists the model's 2-D float tensors (in name order, numbers as numbers).
    pub fn open(path: &Path, scenario: &Scenario) -> Result<Model> {
        let tensors: Vec<Tensor> = checkpoint::open(path)?;
        let mut rows: Vec<Row> = tensors
            .into_iter()
            .filter(|t| crate::app::scan::skip_reason(t).is_none())
            .map(|t| Row {
                dtype: t.dtype_name(),
                shape: (t.shape[0], t.shape[1]),
                name: t.name,
                sqnr: None,
            })
            .collect();
        rows.sort_by(|a, b| checkpoint::natural_cmp(&a.name, &b.name));
        if rows.is_empty() {
            return Err(crate::core::error::Error::file(
                path,
                "has no 2-D float tensor to explore; expected F32, F16 or BF16 matrices",
            ));
        }
        Ok(Model {
            path: path.to_path_buf(),
            rows,
            variants: scenario.variants.iter().map(|v| v.label.clone()).collect(),
            cursor: 0,
            worst_first: false,
            filter: String::new(),
            filtering: false,
            generation: 1,
        })
    }

    /// Row indices shown: those matching the filter (a substring, or a glob with `*`/`?`),
    /// in the chosen order.
    pub fn visible(&self) -> Vec<usize> {
        let f = self.filter.as_str();
        let glob = f.contains(['*', '?']);
        let mut v: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let n = &self.rows[i].name;
                f.is_empty()
                    || if glob {
                        crate::app::scan::glob(f, n)
                    } else {
                        n.contains(f)
                    }
            })
            .collect();
        if self.worst_first {
            // Scanned rows worst first, then the rest in name order.
            v.sort_by(
                |&a, &b| match (self.rows[a].worst(), self.rows[b].worst()) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => a.cmp(&b),
                },
            );
        }
        v
    }

    /// The row under the cursor.
    pub fn selected(&self) -> Option<&Row> {
        self.visible().get(self.cursor).map(|&i| &self.rows[i])
    }

    pub fn scanned(&self) -> usize {
        self.rows.iter().filter(|r| r.sqnr.is_some()).count()
    }

    /// `scenario` with W read from tensor `name` of the model (its size from the tensor).
    pub fn scenario_for(&self, scenario: &Scenario, name: &str) -> Scenario {
        let mut s = scenario.clone();
        s.w = OperandSpec {
            source: Source::File {
                path: self.path.clone(),
                tensor: Some(name.to_string()),
            },
            ..OperandSpec::default()
        };
        s.m = None;
        s.k = None;
        // A generated x takes K from the tensor; a data x keeps its own shape (and a K that
        // disagrees is that tensor's error, shown in its row).
        if matches!(s.x.source, Source::Random(_)) {
            s.n = s.n.or(Some(crate::app::scan::DEFAULT_TOKENS));
        }
        s
    }
}

/// A scan for the worker: every tensor of the model under the scenario's variants.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanJob {
    pub generation: u64,
    pub scenarios: Vec<(usize, Scenario)>,
}

/// Scans one tensor: each variant's output SQNR.
pub fn scan_one(s: &Scenario) -> std::result::Result<Vec<f64>, String> {
    crate::core::experiment::run(s)
        .map(|r| r.variants.iter().map(|v| v.output.sqnr_db).collect())
        .map_err(|e| e.to_string())
}
