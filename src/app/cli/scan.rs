//! `qlab scan`: a whole checkpoint, every 2-D float tensor through every variant.

use std::path::PathBuf;

use clap::Args;

use crate::app::scan::{self, Spec, Variants};
use crate::app::sweep::{self, Progress, Shard};
use crate::core::error::{Error, Result};
use crate::core::files::{Content, Outputs};
use crate::core::{stdio, text};
use crate::note;

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The model: a .safetensors file, a sharded checkpoint (its folder or its *.index.json),
    /// or a .npy
    pub model: PathBuf,
    /// Scan only tensors whose name matches GLOB (`*` any run, `?` one character; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out tensors whose name matches GLOB (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// The variants of this scenario file's `[[variants]]` [default: the scenario defaults]
    #[arg(long, value_name = "SCENARIO.toml", conflicts_with = "formats")]
    pub variants: Option<PathBuf>,
    /// Each of these formats at its defaults, e.g. int8,mxfp4,nvfp4
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub formats: Vec<String>,
    /// Activations per tensor: a .safetensors (or checkpoint) or a folder of .npy, entries
    /// named like the tensor (or its module, without `.weight`), shaped (tokens, K) as PyTorch
    /// stores a layer's input, or (K, N)
    #[arg(long, value_name = "ACTS")]
    pub activations: Option<PathBuf>,
    /// The synthetic x for tensors without activations, as an operand table's keys inline
    /// [default: dist = "normal", std = 1.0, outlier_channels = { count = 4, factor = 50.0 }]
    #[arg(long, value_name = "TOML")]
    pub x_dist: Option<String>,
    /// Tokens (columns) of the synthetic x
    #[arg(long, value_name = "N", default_value_t = scan::DEFAULT_TOKENS)]
    pub tokens: usize,
    /// Seed of the synthetic x (one x per K, the same for every tensor of that K)
    #[arg(long, default_value_t = crate::core::scenario::DEFAULT_SEED)]
    pub seed: u64,
    /// Output CSV: one row per tensor × variant (the columns of a sweep: w.tensor, dtype, then
    /// `qlab run`'s)
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// Continue a partial --out, skipping the tensors it holds
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Scan only part I of N (tensors whose index is I-1 modulo N); `qlab merge` joins the
    /// parts
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Print the rows and the summary as JSON instead of the table
    #[arg(long)]
    pub json: bool,
    /// Also draw output SQNR per tensor, one line per variant, as SVG
    #[arg(long, value_name = "FIG.svg")]
    pub svg: Option<PathBuf>,
    /// The high-precision original of an MXFP4 checkpoint: each shipped MXFP4 tensor is
    /// compared with qlab's MXFP4 of the original's tensor of the same name under every scale
    /// rule ("is this checkpoint floor or rceil?")
    #[arg(long, value_name = "ORIGINAL")]
    pub original: Option<PathBuf>,
    /// Rows the table shows, worst first
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// No progress output
    #[arg(long)]
    pub quiet: bool,
}

pub(super) fn cmd(a: &ScanArgs, threads: Option<usize>) -> Result<()> {
    if a.tokens == 0 {
        return Err(Error::Invalid(
            "--tokens 0 is invalid; expected a count ≥ 1".into(),
        ));
    }
    let mut spec = Spec::new(a.model.clone());
    spec.include = a.include.clone();
    spec.exclude = a.exclude.clone();
    spec.variants = match (&a.variants, a.formats.is_empty()) {
        (Some(p), _) => Variants::File(p.clone()),
        (None, false) => Variants::Formats(a.formats.clone()),
        (None, true) => Variants::Default,
    };
    spec.activations = a.activations.clone();
    spec.x_dist = a.x_dist.clone();
    spec.tokens = a.tokens;
    spec.seed = a.seed;
    let mut plan = scan::plan(&spec)?;
    plan.sweep.add_inputs(a.original.clone());
    if let Some(svg) = &a.svg {
        if crate::core::files::output::is_stdout_path(svg) {
            return Err(Error::Invalid(
                "--svg - would mix the SVG with the table on standard output; give it a file"
                    .into(),
            ));
        }
        let same = |x: &std::path::Path, y: &std::path::Path| {
            x == y || matches!((x.canonicalize(), y.canonicalize()), (Ok(p), Ok(q)) if p == q)
        };
        if a.out.as_deref().is_some_and(|o| same(o, svg)) {
            return Err(Error::Invalid(format!(
                "--out and --svg are the same file ({}); give each its own",
                text::printable(&svg.display().to_string())
            )));
        }
    }
    // The sweep's inputs hold every file the scan reads (shards, variants, activations,
    // the original): the SVG may be none of them either.
    let mut outs = Outputs::new(plan.sweep.input_files());
    let svg = a
        .svg
        .as_ref()
        .map(|p| outs.add("--svg", p, Content::Text))
        .transpose()?;
    let to_stdout = a
        .out
        .as_deref()
        .is_some_and(crate::core::files::output::is_stdout_path);
    if to_stdout && (a.json || svg.is_some()) {
        return Err(Error::Invalid(
            "--out - streams the CSV to standard output; --json and --svg need it in a file".into(),
        ));
    }
    if !a.quiet {
        let skipped = if plan.skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped {}", plan.skipped_text())
        };
        let acts = if a.activations.is_some() {
            format!(
                "; {} of them with their own activations",
                plan.with_activations
            )
        } else {
            String::new()
        };
        note!(
            "scan {}: {} × {}{acts}{skipped}",
            plan.sweep.id,
            text::count(plan.tensors.len() as u64, "tensor"),
            text::count(plan.sweep.variants() as u64, "variant"),
        );
    }
    // Without --out the rows go to a private temporary file, read back for the table.
    let temp = match &a.out {
        Some(_) => None,
        None => Some(TempCsv::new()),
    };
    let out: PathBuf = match (&a.out, &temp) {
        (Some(p), _) => p.clone(),
        (_, Some(t)) => t.0.clone(),
        (None, None) => unreachable!("one of the two"),
    };
    let opts = sweep::Options {
        threads,
        resume: a.resume,
        shard: a.shard.unwrap_or(Shard::ALL),
        timings: false,
        // Tensors above 16 MB as f32 are scanned one at a time, so that peak memory follows
        // the largest tensor, not the largest times the threads.
        one_at_a_time: plan
            .tensors
            .iter()
            .any(|t| t.shape.iter().product::<usize>() > 4 << 20),
        progress: if a.quiet {
            Progress::Quiet
        } else {
            Progress::Auto
        },
    };
    // The comparison with an original first: its errors come before any row is written.
    let shipped = match &a.original {
        Some(o) => scan::shipped_rules(&plan, o)?,
        None => Vec::new(),
    };
    if a.original.is_some() && shipped.is_empty() {
        note!(
            "qlab: --original: no MXFP4 tensor of the model has a same-named original to compare"
        );
    }
    sweep::run(&plan.sweep, &out, &opts)?;
    if to_stdout {
        return outs.commit();
    }
    let bytes = crate::core::files::read(&out)?;
    let rows = scan::read_rows(&bytes, &out)?;
    drop(temp);
    if let Some(slot) = svg {
        let name = a
            .model
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned());
        outs.put(slot, scan::svg(&name, &rows)?.into_bytes());
    }
    outs.commit()?;
    if a.json {
        stdio::print(&scan::json(
            &a.model,
            &plan.sweep.id,
            &rows,
            &plan.skipped,
            &shipped,
        )?)
    } else if shipped.is_empty() {
        stdio::print(&scan::table(&rows, a.top))
    } else {
        stdio::print(&(scan::table(&rows, a.top) + &scan::shipped_text(&shipped)))
    }
}

/// A temporary CSV in the system's temporary folder, removed when dropped.
struct TempCsv(PathBuf);

impl TempCsv {
    fn new() -> TempCsv {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        TempCsv(std::env::temp_dir().join(format!(".qlab-scan-{}-{nanos}.csv", std::process::id())))
    }
}

impl Drop for TempCsv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let lock = self.0.with_file_name(format!(
            ".{}.lock",
            self.0
                .file_name()
                .map_or("".into(), |n| n.to_string_lossy())
        ));
        let _ = std::fs::remove_file(lock);
    }
}
