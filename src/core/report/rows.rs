//! The CSV row: one per variant, flat, stable column names. `qlab run --csv` writes these, and
//! sweeps write the same columns after their own.

use std::path::Path;

use serde::Serialize;

use crate::core::error::{Error, Result};
use crate::core::experiment::{Report, VariantReport};
use crate::core::files::{Content, Outputs};

/// One variant of one scenario. Field order is the column order; renaming a field is a
/// breaking change for users' notebooks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReportRow {
    pub scenario: String,
    pub seed: u64,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub w_source: String,
    pub x_source: String,
    pub variant: String,
    pub format: String,
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
    pub element_rounding: Option<String>,
    pub exponent: Option<String>,
    pub signed_zero: Option<String>,
    pub out_sqnr_db: f64,
    pub out_mse: f64,
    pub out_rmse: f64,
    pub out_max_abs: f64,
    pub out_mean_rel: f64,
    pub out_max_rel: f64,
    pub out_cosine: f64,
    pub out_p50: f64,
    pub out_p90: f64,
    pub out_p99: f64,
    pub out_p999: f64,
    pub out_non_finite: usize,
    pub model_out_sqnr_db: f64,
    pub w_only_sqnr_db: f64,
    pub x_only_sqnr_db: f64,
    pub w_sqnr_db: f64,
    pub w_rmse: f64,
    pub w_max_abs: f64,
    pub w_clipped: f64,
    pub w_flushed: f64,
    pub w_model_sqnr_db: f64,
    pub w_nan_blocks: usize,
    pub w_bits_per_element: f64,
    pub x_sqnr_db: f64,
    pub x_rmse: f64,
    pub x_max_abs: f64,
    pub x_clipped: f64,
    pub x_flushed: f64,
    pub x_model_sqnr_db: f64,
    pub x_nan_blocks: usize,
    pub x_bits_per_element: f64,
    pub compression: f64,
    pub qlab_version: String,
}

impl ReportRow {
    pub fn new(report: &Report, v: &VariantReport) -> Self {
        let s = &report.scenario;
        let p = v.params.clone();
        ReportRow {
            scenario: s.name.clone(),
            seed: s.seed,
            m: s.m,
            k: s.k,
            n: s.n,
            w_source: s.w_source.clone(),
            x_source: s.x_source.clone(),
            variant: v.label.clone(),
            format: v.format.clone(),
            w_format: p.w_format,
            x_format: p.x_format,
            w_scheme: p.w_scheme,
            w_granularity: p.w_granularity,
            x_scheme: p.x_scheme,
            x_granularity: p.x_granularity,
            rounding: p.rounding,
            block_size: p.block_size,
            scale_rule: p.scale_rule,
            accumulator: p.accumulator,
            w_group_size: p.w_group_size,
            x_group_size: p.x_group_size,
            two_level: p.two_level,
            element_rounding: p.element_rounding,
            exponent: p.exponent,
            signed_zero: p.signed_zero,
            out_sqnr_db: v.output.sqnr_db,
            out_mse: v.output.mse,
            out_rmse: v.output.rmse,
            out_max_abs: v.output.max_abs,
            out_mean_rel: v.output.mean_rel,
            out_max_rel: v.output.max_rel,
            out_cosine: v.output.cosine,
            out_p50: v.output.p50,
            out_p90: v.output.p90,
            out_p99: v.output.p99,
            out_p999: v.output.p999,
            out_non_finite: v.output.non_finite,
            model_out_sqnr_db: v.model_output_sqnr_db,
            w_only_sqnr_db: v.decomposition.w_only_sqnr_db,
            x_only_sqnr_db: v.decomposition.x_only_sqnr_db,
            w_sqnr_db: v.w.error.sqnr_db,
            w_rmse: v.w.error.rmse,
            w_max_abs: v.w.error.max_abs,
            w_clipped: v.w.clipped,
            w_flushed: v.w.flushed,
            w_model_sqnr_db: v.w.model_sqnr_db,
            w_nan_blocks: v.w.nan_blocks,
            w_bits_per_element: v.w.bits_per_element,
            x_sqnr_db: v.x.error.sqnr_db,
            x_rmse: v.x.error.rmse,
            x_max_abs: v.x.error.max_abs,
            x_clipped: v.x.clipped,
            x_flushed: v.x.flushed,
            x_model_sqnr_db: v.x.model_sqnr_db,
            x_nan_blocks: v.x.nan_blocks,
            x_bits_per_element: v.x.bits_per_element,
            compression: v.compression,
            qlab_version: report.qlab_version.clone(),
        }
    }

    /// Every row of a report.
    pub fn all(report: &Report) -> Vec<ReportRow> {
        report
            .variants
            .iter()
            .map(|v| ReportRow::new(report, v))
            .collect()
    }
}

/// Serializes rows as CSV (header included). Floats are written in their shortest
/// round-tripping form.
pub fn csv_bytes<T: Serialize>(rows: &[T]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .map_err(|e| Error::Invalid(format!("CSV: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| Error::Invalid(format!("CSV: {e}")))
}

/// One bin of an exported error histogram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistogramRow {
    pub scenario: String,
    pub seed: u64,
    pub variant: String,
    /// `linear` (signed error) or `log` (|error|).
    pub bins: String,
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
}

impl HistogramRow {
    pub fn all(report: &Report) -> Vec<HistogramRow> {
        let mut rows = Vec::new();
        for v in &report.variants {
            for (name, h) in [
                ("linear", &v.error_histogram),
                ("log", &v.error_histogram_log),
            ] {
                for (i, &count) in h.counts.iter().enumerate() {
                    rows.push(HistogramRow {
                        scenario: report.scenario.name.clone(),
                        seed: report.scenario.seed,
                        variant: v.label.clone(),
                        bins: name.into(),
                        lo: h.edges[i],
                        hi: h.edges[i + 1],
                        count,
                    });
                }
            }
        }
        rows
    }
}

/// Writes `<stem>.csv` (the report rows) and `<stem>-histograms.csv` (every error histogram)
/// into `dir`, both or neither, never over one of `inputs`; returns the paths. The stem comes
/// from the scenario's name, so it is made a plain file name first (no separators, no dot
/// files, no control characters).
pub fn export(
    dir: &Path,
    stem: &str,
    report: &Report,
    inputs: &[std::path::PathBuf],
) -> Result<Vec<std::path::PathBuf>> {
    // Never over an earlier export: the first free `-2`, `-3`, … (an edited scenario keeps its
    // name and seed, so the same stem comes back).
    let base = file_stem(stem);
    let pair = |stem: &str| {
        (
            dir.join(format!("{stem}.csv")),
            dir.join(format!("{stem}-histograms.csv")),
        )
    };
    let taken = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    let (rows, hist) = (1..=MAX_EXPORTS)
        .map(|i| {
            if i == 1 {
                pair(&base)
            } else {
                pair(&format!("{base}-{i}"))
            }
        })
        .find(|(a, b)| !taken(a) && !taken(b))
        .ok_or_else(|| {
            Error::file(
                dir,
                format!("holds {MAX_EXPORTS} exports of {base} already; move some away"),
            )
        })?;
    let mut outs = Outputs::new(inputs);
    let a = outs.add("export", &rows, Content::Text)?;
    let b = outs.add("export", &hist, Content::Text)?;
    outs.put(a, csv_bytes(&ReportRow::all(report))?);
    outs.put(b, csv_bytes(&HistogramRow::all(report))?);
    outs.commit()?;
    Ok(vec![rows, hist])
}

/// How many exports of one scenario and seed a directory may hold before `export` refuses.
const MAX_EXPORTS: usize = 1000;

/// `name` as a safe file name: letters, digits, `-`, `_`, `.` and `+` kept, anything else
/// (separators, spaces, controls) as `_`, no leading dot, at most 100 characters.
pub fn file_stem(name: &str) -> String {
    let mut s: String = name
        .chars()
        .take(100)
        .map(|c| {
            if c.is_alphanumeric() && !c.is_control() || matches!(c, '-' | '_' | '.' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.starts_with('.') {
        s.replace_range(..1, "_");
    }
    if s.is_empty() { "qlab".into() } else { s }
}
