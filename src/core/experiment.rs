//! One scenario in, one [`Report`] out: quantize, multiply, measure, for every variant.

use rayon::prelude::*;
use serde::Serialize;

use std::sync::Arc;

use crate::core::data::distribution::Role;
use crate::core::error::Result;
use crate::core::family::{Quantized, Scope, Variant};
use crate::core::kernel::{self, reference};
use crate::core::matrix::Matrix;
use crate::core::metrics::histogram::{self, Histogram};
use crate::core::metrics::occupancy::{self, ScaleCount};
use crate::core::metrics::{ErrorStats, error_stats, model, operand_stats};
use crate::core::scenario::Scenario;

/// Bins of the error histograms.
pub const HISTOGRAM_BINS: usize = 40;

/// A variant, run: its quantized operands and its output.
#[derive(Clone, Debug)]
pub struct VariantRun {
    pub variant: Variant,
    /// The quantized W (`M × K`) and xᵀ (`N × K`).
    pub qw: Arc<dyn Quantized>,
    pub qx: Arc<dyn Quantized>,
    /// `M × N`.
    pub y: Matrix,
    /// Dequantized W (`M × K`) and x (`K × N`).
    pub w_deq: Matrix,
    pub x_deq: Matrix,
    /// deq(W)·x and W·deq(x) in f64: the output error of each operand alone.
    pub y_w_only: Vec<f64>,
    pub y_x_only: Vec<f64>,
}

/// A scenario, run: the data, the reference and every variant.
#[derive(Clone, Debug)]
pub struct Run {
    pub scenario: Scenario,
    pub w: Matrix,
    pub x: Matrix,
    /// x transposed (`N × K`): the orientation x is quantized in.
    pub xt: Matrix,
    /// f64 W·x, `M × N`.
    pub reference: Vec<f64>,
    pub variants: Vec<VariantRun>,
}

/// Loads the scenario's data and runs every variant.
pub fn execute(scenario: &Scenario) -> Result<Run> {
    let ops = scenario.operands()?;
    execute_on(scenario, ops.w, ops.x)
}

/// Runs every variant of `scenario` on the given W (`M × K`) and x (`K × N`).
pub fn execute_on(scenario: &Scenario, w: Matrix, x: Matrix) -> Result<Run> {
    kernel::check_shapes(&w, &x)?;
    let xt = x.transpose();
    let reference = reference::gemm_f64(&w, &xt);
    let variants = scenario
        .variants
        .par_iter()
        .map(|v| run_variant(v, &w, &x, &xt))
        .collect::<Result<Vec<_>>>()?;
    Ok(Run {
        scenario: scenario.clone(),
        w,
        x,
        xt,
        reference,
        variants,
    })
}

/// Quantizes W and x (x transposed, so both run along K) for `variant`.
pub fn quantize(
    variant: &Variant,
    w: &Matrix,
    x: &Matrix,
    xt: &Matrix,
) -> Result<(Box<dyn Quantized>, Box<dyn Quantized>)> {
    // Checked before the transpose, so that indices are in x's own orientation.
    variant.quantize(w, x, xt)
}

fn run_variant(variant: &Variant, w: &Matrix, x: &Matrix, xt: &Matrix) -> Result<VariantRun> {
    let (qw, qx) = quantize(variant, w, x, xt)
        .map_err(|e| crate::Error::Invalid(format!("variant '{}': {e}", variant.label)))?;
    let y = variant.gemm(&*qw, &*qx);
    let (w_deq, x_deq) = (qw.dequantize(), qx.dequantize().transpose());
    let y_w_only = reference::gemm_f64(&w_deq, xt);
    let y_x_only = reference::gemm_f64(w, &x_deq.transpose());
    Ok(VariantRun {
        variant: variant.clone(),
        qw: Arc::from(qw),
        qx: Arc::from(qx),
        y,
        w_deq,
        x_deq,
        y_w_only,
        y_x_only,
    })
}

/// Shape and summary statistics of a tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorStats {
    pub rows: usize,
    pub cols: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub rms: f64,
    /// Fraction of exact zeros.
    pub zeros: f64,
    /// Excess kurtosis: 0 for a normal distribution, large for heavy tails and outliers.
    pub kurtosis: f64,
}

impl TensorStats {
    pub fn of(rows: usize, cols: usize, values: impl Iterator<Item = f64> + Clone) -> Self {
        let (mut n, mut sum, mut min, mut max, mut zeros) =
            (0usize, 0.0f64, f64::INFINITY, f64::NEG_INFINITY, 0usize);
        for v in values.clone().filter(|v| v.is_finite()) {
            n += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
            zeros += usize::from(v == 0.0);
        }
        if n == 0 {
            // No finite value (an all-NaN tensor): nothing to summarise, shown as n/a.
            return TensorStats {
                rows,
                cols,
                mean: f64::NAN,
                std: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                rms: f64::NAN,
                zeros: f64::NAN,
                kurtosis: f64::NAN,
            };
        }
        let nf = n as f64;
        let mean = sum / nf;
        let (mut m2, mut m4, mut sq) = (0.0, 0.0, 0.0);
        for v in values.filter(|v| v.is_finite()) {
            let d = v - mean;
            m2 += d * d;
            m4 += d * d * d * d;
            sq += v * v;
        }
        let var = m2 / nf;
        TensorStats {
            rows,
            cols,
            mean,
            std: var.sqrt(),
            min,
            max,
            rms: (sq / nf).sqrt(),
            zeros: zeros as f64 / nf,
            kurtosis: if var > 0.0 {
                m4 / nf / (var * var) - 3.0
            } else {
                0.0
            },
        }
    }

    pub fn of_matrix(m: &Matrix) -> Self {
        TensorStats::of(m.rows(), m.cols(), m.data().iter().map(|&v| f64::from(v)))
    }
}

/// The scenario as run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    /// What the scenario teaches (its `lesson`; empty when it has none).
    pub lesson: String,
    pub seed: u64,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub w_source: String,
    pub x_source: String,
}

/// The unquantized data and the reference output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReferenceInfo {
    pub w: TensorStats,
    pub x: TensorStats,
    pub y: TensorStats,
}

/// The settings of a variant, flattened; fields that do not apply are `null`. The columns are
/// those of the first two families (kept for the CSV and JSON readers that know them); each is
/// a knob read through the registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VariantParams {
    /// W's and x's format (the same for a one-family variant).
    pub w_format: String,
    pub x_format: String,
    pub w_scheme: Option<String>,
    pub w_granularity: Option<String>,
    pub x_scheme: Option<String>,
    pub x_granularity: Option<String>,
    pub rounding: Option<String>,
    pub block_size: Option<String>,
    pub scale_rule: Option<String>,
    pub accumulator: Option<String>,
    pub w_group_size: Option<String>,
    pub x_group_size: Option<String>,
    pub two_level: Option<String>,
    /// The MX dialect settings (issue 15's columns, after the older ones).
    pub element_rounding: Option<String>,
    pub exponent: Option<String>,
    pub signed_zero: Option<String>,
}

impl VariantParams {
    pub fn of(v: &Variant) -> Self {
        // A setting of the operand's own format (a GEMM setting of either); `None` where the
        // format has no such knob.
        let get = |key: &str, role: Role| {
            let k = v.knobs().into_iter().find(|k| k.key == key)?;
            if k.scope == Scope::Gemm {
                return Some(v.value(k, Role::W).to_string());
            }
            let own = v.format(role).knobs().iter().find(|o| o.key == key)?;
            // A group size means something only with granularity = "group".
            if own
                .requires
                .is_some_and(|(other, needed)| v.operand(role).get(other) != Some(needed))
            {
                return None;
            }
            Some(v.value(own, role).to_string())
        };
        VariantParams {
            w_format: v.w_format.name().to_string(),
            x_format: v.x_format.name().to_string(),
            w_scheme: get("scheme", Role::W),
            w_granularity: get("granularity", Role::W),
            x_scheme: get("scheme", Role::X),
            x_granularity: get("granularity", Role::X),
            rounding: get("rounding", Role::W).or_else(|| get("rounding", Role::X)),
            block_size: get("block_size", Role::W).or_else(|| get("block_size", Role::X)),
            scale_rule: get("scale_rule", Role::W).or_else(|| get("scale_rule", Role::X)),
            accumulator: get("accumulator", Role::W),
            w_group_size: get("group_size", Role::W),
            x_group_size: get("group_size", Role::X),
            two_level: get("two_level", Role::W).or_else(|| get("two_level", Role::X)),
            element_rounding: get("element_rounding", Role::W)
                .or_else(|| get("element_rounding", Role::X)),
            exponent: get("exponent", Role::W).or_else(|| get("exponent", Role::X)),
            signed_zero: get("signed_zero", Role::W).or_else(|| get("signed_zero", Role::X)),
        }
    }
}

/// What quantization did to one operand.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OperandReport {
    pub error: ErrorStats,
    /// Fraction of elements saturated at the edge of the grid.
    pub clipped: f64,
    /// Fraction of non-zero elements that became zero.
    pub flushed: f64,
    /// MXFP4 blocks with a NaN scale (they held NaN or Inf).
    pub nan_blocks: usize,
    /// Storage cost, scales and zero points included.
    pub bits_per_element: f64,
    /// Code occupancy: 16 E2M1 codes, or 256 INT8 codes indexed by code + 128.
    pub codes: Vec<u64>,
    /// MXFP4: the E8M0 scale bytes used (empty for INT8).
    pub scales: Vec<ScaleCount>,
    /// SQNR predicted by the uniform-noise model.
    pub model_sqnr_db: f64,
}

/// Output SQNR with only W, only x, or both quantized.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decomposition {
    pub w_only_sqnr_db: f64,
    pub x_only_sqnr_db: f64,
    pub both_sqnr_db: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantReport {
    pub label: String,
    pub format: String,
    pub params: VariantParams,
    pub w: OperandReport,
    pub x: OperandReport,
    pub output: ErrorStats,
    pub decomposition: Decomposition,
    /// Output SQNR predicted from the operands' modelled noise.
    pub model_output_sqnr_db: f64,
    /// Compression of W against f32.
    pub compression: f64,
    /// Histograms of the output error (out − ref): linear, and log-spaced over |error|.
    pub error_histogram: Histogram,
    pub error_histogram_log: Histogram,
}

/// Everything `qlab run` reports, as `--json` writes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub qlab_version: String,
    pub scenario: ScenarioInfo,
    pub reference: ReferenceInfo,
    pub variants: Vec<VariantReport>,
}

fn operand_report(
    original: &Matrix,
    dequantized: &Matrix,
    q: &dyn Quantized,
) -> (OperandReport, Vec<f64>) {
    let mut report = measured(original, dequantized, q);
    let noise = modelled(&mut report, original, q);
    (report, noise)
}

/// What the dequantized operand shows: everything but the noise model.
fn measured(original: &Matrix, dequantized: &Matrix, q: &dyn Quantized) -> OperandReport {
    let n = original.len().max(1) as f64;
    OperandReport {
        error: operand_stats(dequantized.data(), original.data()),
        clipped: q.clipped(original) as f64 / n,
        flushed: occupancy::flushed(original.data(), dequantized.data()) as f64 / n,
        nan_blocks: q.nan_blocks(),
        bits_per_element: q.bits_per_element(original.len()),
        codes: q.code_counts(),
        scales: occupancy::scale_counts(q.scale_bytes()),
        model_sqnr_db: f64::NAN,
    }
}

/// The noise model's per-element variance, and the operand SQNR it predicts.
fn modelled(report: &mut OperandReport, original: &Matrix, q: &dyn Quantized) -> Vec<f64> {
    let noise = q.noise(original);
    report.model_sqnr_db = model::operand_sqnr_db(original.data(), &noise);
    noise
}

/// The output's side of a variant's report, from its output and the pieces measured so far.
struct OutputParts<'a> {
    variant: &'a Variant,
    y: &'a Matrix,
    y_w_only: &'a [f64],
    y_x_only: &'a [f64],
}

fn variant_report(
    run: (&Matrix, &Matrix, &[f64]),
    o: &OutputParts,
    (w_rep, w_noise): (OperandReport, &[f64]),
    (x_rep, x_noise): (OperandReport, &[f64]),
) -> VariantReport {
    let (w, xt, reference) = run;
    let errors: Vec<f64> =
        o.y.data()
            .iter()
            .zip(reference)
            .map(|(&out, &r)| f64::from(out) - r)
            .collect();
    let output = error_stats(o.y.data(), reference);
    VariantReport {
        label: o.variant.label.clone(),
        format: o.variant.format_name(),
        params: VariantParams::of(o.variant),
        decomposition: Decomposition {
            w_only_sqnr_db: sqnr(o.y_w_only, reference),
            x_only_sqnr_db: sqnr(o.y_x_only, reference),
            both_sqnr_db: output.sqnr_db,
        },
        model_output_sqnr_db: model::output_sqnr_db(w, w_noise, xt, x_noise, reference),
        compression: 32.0 / w_rep.bits_per_element,
        error_histogram: histogram::linear(&errors, HISTOGRAM_BINS),
        error_histogram_log: histogram::log(&errors, HISTOGRAM_BINS),
        output,
        w: w_rep,
        x: x_rep,
    }
}

/// One variant measured with as few full-size copies alive at once as the numbers allow:
/// the dequantized W lives only while the W-alone product and its statistics are taken, the
/// noise model after it. The same functions on the same inputs as [`Run::report`], so the
/// same report to the bit.
fn lean_variant(
    variant: &Variant,
    w: &Matrix,
    x: &Matrix,
    xt: &Matrix,
    reference: &[f64],
) -> Result<VariantReport> {
    let (qw, qx) = quantize(variant, w, x, xt)
        .map_err(|e| crate::Error::Invalid(format!("variant '{}': {e}", variant.label)))?;
    let y = variant.gemm(&*qw, &*qx);
    // xᵀ as quantized (the transpose of `VariantRun::x_deq`, which is what both use).
    let x_deq_t = qx.dequantize();
    let y_x_only = reference::gemm_f64(w, &x_deq_t);
    let (x_rep, x_noise) = operand_report(xt, &x_deq_t, &*qx);
    drop(x_deq_t);
    let w_deq = qw.dequantize();
    let y_w_only = reference::gemm_f64(&w_deq, xt);
    let mut w_rep = measured(w, &w_deq, &*qw);
    drop(w_deq);
    let w_noise = modelled(&mut w_rep, w, &*qw);
    drop(qw);
    let parts = OutputParts {
        variant,
        y: &y,
        y_w_only: &y_w_only,
        y_x_only: &y_x_only,
    };
    Ok(variant_report(
        (w, xt, reference),
        &parts,
        (w_rep, &w_noise),
        (x_rep, &x_noise),
    ))
}

fn sqnr(out: &[f64], reference: &[f64]) -> f64 {
    let (s, n) = out
        .iter()
        .zip(reference)
        .fold((0.0, 0.0), |(s, n), (&o, &r)| {
            (s + r * r, n + (o - r) * (o - r))
        });
    crate::core::metrics::error::db(s, n)
}

impl Run {
    /// Measures everything, for the table, the JSON and the CSV.
    pub fn report(&self) -> Report {
        let xt = &self.xt;
        let s = &self.scenario;
        let variants = self
            .variants
            .par_iter()
            .map(|v| {
                let w_rep = operand_report(&self.w, &v.w_deq, &*v.qw);
                let x_rep = operand_report(xt, &v.x_deq.transpose(), &*v.qx);
                let parts = OutputParts {
                    variant: &v.variant,
                    y: &v.y,
                    y_w_only: &v.y_w_only,
                    y_x_only: &v.y_x_only,
                };
                variant_report(
                    (&self.w, xt, &self.reference),
                    &parts,
                    (w_rep.0, &w_rep.1),
                    (x_rep.0, &x_rep.1),
                )
            })
            .collect();
        header(s, &self.w, &self.x, &self.reference, variants)
    }
}

/// The report around its variants: the scenario as run and the data's statistics.
fn header(
    s: &Scenario,
    w: &Matrix,
    x: &Matrix,
    reference: &[f64],
    variants: Vec<VariantReport>,
) -> Report {
    let (m, k) = w.shape();
    let n = x.cols();
    Report {
        qlab_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioInfo {
            name: s.name.clone(),
            description: s.description.clone(),
            lesson: s.lesson.clone(),
            seed: s.seed,
            m,
            k,
            n,
            w_source: s.w.describe(),
            x_source: s.x.describe(),
        },
        reference: ReferenceInfo {
            w: TensorStats::of_matrix(w),
            x: TensorStats::of_matrix(x),
            y: TensorStats::of(m, n, reference.iter().copied()),
        },
        variants,
    }
}

/// Loads, runs and reports in one call: the report of [`execute`] then [`Run::report`], to
/// the bit, with the variants measured one after another and nothing kept that the report
/// does not need (a 30522 × 384 tensor stays within a few copies of itself).
pub fn run(scenario: &Scenario) -> Result<Report> {
    let ops = scenario.operands()?;
    let (w, x) = (ops.w, ops.x);
    kernel::check_shapes(&w, &x)?;
    let xt = x.transpose();
    let reference = reference::gemm_f64(&w, &xt);
    let variants = scenario
        .variants
        .iter()
        .map(|v| lean_variant(v, &w, &x, &xt, &reference))
        .collect::<Result<Vec<_>>>()?;
    Ok(header(scenario, &w, &x, &reference, variants))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lean path (`run`) and the explorer's (`execute` then `report`) give the same
    /// report, byte for byte as JSON, on every shipped scenario.
    #[test]
    fn the_lean_run_reports_what_execute_then_report_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let s = Scenario::load(&p).unwrap();
            let lean = serde_json::to_string(&run(&s).unwrap()).unwrap();
            let full = serde_json::to_string(&execute(&s).unwrap().report()).unwrap();
            assert!(lean == full, "{}", p.display());
            seen += 1;
        }
        assert!(seen >= 10, "{seen} scenarios");
    }
}
