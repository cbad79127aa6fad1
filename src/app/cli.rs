//! The command line: argument parsing and the headless commands. No numerics live here; every
//! command reads its inputs, calls the library, and writes or prints what it returns.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::walkthrough::{self, Mode};
use crate::core::data::npy::{self, NpyData};
use crate::core::error::{Error, Result};
use crate::core::files::{Content, Outputs};
use crate::core::format::{
    self, BlockSize, Granularity, Int8Config, Int8Matrix, MxConfig, MxMatrix, Rounding, ScaleRule,
    Scheme, e2m1, e8m0, packed,
};
use crate::core::kernel::{self, Accumulator, Method, Operands};
use crate::core::matrix::{Matrix, shape_str};
use crate::core::metrics;
use crate::core::scenario::Scenario;
use crate::core::stdio;
use crate::core::{experiment, report, text};
use crate::note;

#[derive(Parser, Debug)]
#[command(
    name = "qlab",
    version,
    about = "A quantization accuracy lab: what INT8 and MXFP4 do to a matmul.",
    long_about = "A quantization accuracy lab: runs the same matrix multiplication through \
                  bit-exact INT8 and MXFP4 integer kernels and shows what the quantization did.\n\
                  Without a command, opens the interactive explorer on the built-in scenario."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Worker threads for every command [default: all cores]
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Force a kernel path: scalar, avx2, avx2-vnni or avx512-vnni [default: the best this CPU has;
    /// also QLAB_KERNEL]
    #[arg(long, global = true)]
    pub kernel: Option<crate::core::kernel::simd::Isa>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the interactive explorer (the default command)
    Tui {
        /// Scenario file (TOML); the built-in default scenario when omitted
        scenario: Option<PathBuf>,
    },
    /// Quantize a .npy array (blocks / channels along its rows) and write the dequantized array
    Quantize(QuantizeArgs),
    /// Multiply W (M × K) by x (K × N or K) through INT8, MXFP4 or the f64 reference
    Matmul(MatmulArgs),
    /// Replay the seed document's INT8 and MXFP4 examples step by step
    Walkthrough {
        /// document (as the document computes), spec (as the standards compute), or both
        #[arg(long, default_value = "both")]
        mode: Mode,
    },
    /// Print the E2M1 table, the E8M0 range and the storage cost of each format
    Formats,
    /// Run a scenario: every variant side by side against the f64 reference
    Run(RunArgs),
    /// Run a sweep (the Cartesian product of its axes) into a tidy CSV
    Sweep(SweepArgs),
    /// Combine sweep CSVs (shards) into one
    Merge(MergeArgs),
    /// Chart a sweep CSV as SVG
    Plot(PlotArgs),
    /// Measure the GEMM paths and quantizers on this CPU
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Square sizes n (n × n × n GEMMs), comma-separated
    #[arg(long, value_delimiter = ',', default_value = "256,512,1024")]
    pub sizes: Vec<usize>,
    /// Timed runs per measurement (the median is reported)
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    /// Print JSON instead of the table
    #[arg(long)]
    pub json: bool,
    /// Also time the best INT8 and MXFP4 GEMMs on one thread against all threads, in
    /// alternating runs, and report the speed-up
    #[arg(long)]
    pub scaling: bool,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Sweep file (TOML)
    pub spec: PathBuf,
    /// Output CSV (one row per configuration × variant)
    #[arg(long, value_name = "FILE.csv", required_unless_present = "dry_run")]
    pub out: Option<PathBuf>,
    /// Continue a partial output file, skipping the configurations it holds
    #[arg(long)]
    pub resume: bool,
    /// Run only part I of N (configurations whose index is I-1 modulo N)
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::app::sweep::Shard>,
    /// Print the number of configurations and the first rows of the plan, run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// No progress output
    #[arg(long)]
    pub quiet: bool,
    /// Add a 'seconds' column (makes the file differ from run to run)
    #[arg(long)]
    pub timings: bool,
    /// Run sweeps of more than 10 million configurations
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Sweep CSVs to combine (shards of one sweep)
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output CSV
    #[arg(long, value_name = "ALL.csv")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A sweep or run CSV
    pub csv: PathBuf,
    /// Column for the x axis (numbers give a line chart, anything else a bar chart)
    #[arg(long)]
    pub x: String,
    /// Column for the y axis (averaged over rows that share x and --by)
    #[arg(long)]
    pub y: String,
    /// One series per value of this column
    #[arg(long)]
    pub by: Option<String>,
    /// Keep only rows where COLUMN equals VALUE (repeatable), e.g. --where format=mxfp4
    #[arg(long = "where", value_name = "COLUMN=VALUE", value_parser = parse_filter)]
    pub filters: Vec<(String, String)>,
    /// Output SVG
    #[arg(long, value_name = "FIG.svg")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario file (TOML); the built-in default scenario when omitted
    pub scenario: Option<PathBuf>,
    /// Print the whole report as JSON instead of the table
    #[arg(long)]
    pub json: bool,
    /// Also write one CSV row per variant to this file
    #[arg(long, value_name = "OUT.csv")]
    pub csv: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QuantFormat {
    Int8,
    Mxfp4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RoundingArg {
    HalfEven,
    HalfAway,
    Floor,
    Stochastic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MatmulFormat {
    Int8,
    Mxfp4,
    F64,
}

/// MXFP4 options shared by `quantize` and `matmul`.
#[derive(Args, Debug, Default)]
pub struct MxArgs {
    /// MXFP4: elements per scale, an integer ≥ 1 or 'tensor' [default: 32]
    #[arg(long)]
    pub block_size: Option<BlockSize>,
    /// MXFP4: shared-exponent rule: floor, ceil, even or rceil [default: floor]
    #[arg(long)]
    pub scale_rule: Option<ScaleRule>,
}

#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// Input .npy (float32 or float64, 1-D or 2-D, C order)
    pub input: PathBuf,
    /// Target format
    #[arg(long, value_enum)]
    pub format: QuantFormat,
    #[command(flatten)]
    pub mx: MxArgs,
    /// INT8: asymmetric or symmetric [default: asymmetric]
    #[arg(long)]
    pub scheme: Option<Scheme>,
    /// INT8: tensor or channel (one scale per row) [default: tensor]
    #[arg(long)]
    pub granularity: Option<Granularity>,
    /// INT8: rounding of value / scale [default: half-even]
    #[arg(long, value_enum)]
    pub rounding: Option<RoundingArg>,
    /// INT8: seed of stochastic rounding
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output .npy: the dequantized array (float32, the input's shape)
    #[arg(long)]
    pub out: PathBuf,
    /// Output .npy: the codes (MXFP4: u8 4-bit codes; INT8: i8), the input's shape
    #[arg(long)]
    pub codes: Option<PathBuf>,
    /// Output .npy: MXFP4 E8M0 bytes (u8, rows × blocks); INT8 scales (f32, one per tensor or row)
    #[arg(long)]
    pub scales: Option<PathBuf>,
    /// Output .npy: INT8 zero points (i32, one per tensor or row)
    #[arg(long)]
    pub zero_points: Option<PathBuf>,
    /// Output .npy: MXFP4 codes packed two per byte, element 2j in the low nibble (u8, rows × ceil(K/2))
    #[arg(long)]
    pub packed: Option<PathBuf>,
    /// Output .npy: MXFP4 as ggml block_mxfp4 bytes (u8, rows × K/32·17; block size 32 only)
    #[arg(long)]
    pub ggml: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MatmulArgs {
    /// W, an (M, K) .npy
    pub w: PathBuf,
    /// x, a (K, N) or (K,) .npy
    pub x: PathBuf,
    /// Which GEMM
    #[arg(long, value_enum)]
    pub format: MatmulFormat,
    /// Output .npy: y (float32, (M, N), or (M,) for a vector x)
    #[arg(long)]
    pub out: PathBuf,
    /// INT8: scheme of W [default: asymmetric]
    #[arg(long)]
    pub w_scheme: Option<Scheme>,
    /// INT8: scheme of x [default: symmetric]
    #[arg(long)]
    pub x_scheme: Option<Scheme>,
    /// INT8: granularity of W, tensor or channel (= rows of W) [default: tensor]
    #[arg(long)]
    pub w_granularity: Option<Granularity>,
    /// INT8: granularity of x, tensor or channel (= columns of x) [default: tensor]
    #[arg(long)]
    pub x_granularity: Option<Granularity>,
    /// INT8: rounding of value / scale, for both operands [default: half-even]
    #[arg(long, value_enum)]
    pub rounding: Option<RoundingArg>,
    /// INT8: seed of stochastic rounding
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub mx: MxArgs,
    /// MXFP4: accumulator across blocks, f32 (as hardware) or f64 [default: f32]
    #[arg(long)]
    pub accumulator: Option<Accumulator>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output went away (`| head`): end quietly, with the status
        // a shell reports for a process that SIGPIPE ended.
        Err(Error::Closed) => ExitCode::from(CLOSED_PIPE),
        // A signal is ending the process; its handler removed the files this failed on.
        Err(_) if crate::core::files::temps::dying() => ExitCode::FAILURE,
        Err(e) => {
            // Messages carry text from files: escaped, so they stay one line and cannot drive
            // the terminal, and bounded, whatever a file echoes into them.
            note!("qlab: error: {}", text::cut(&e.to_string(), MESSAGE_MAX));
            ExitCode::FAILURE
        }
    }
}

/// 128 + SIGPIPE.
const CLOSED_PIPE: u8 = 141;

/// The longest error line qlab prints (a path can be long; a file's echo is cut before).
const MESSAGE_MAX: usize = 2000;

/// Prints clap's own message (help, version, a usage error) as clap would, colours and
/// all, but survives a closed or full standard output.
fn clap_exit(e: &clap::Error) -> ExitCode {
    match e.print() {
        Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
        Err(io) if io.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(CLOSED_PIPE),
        Err(io) => {
            note!("qlab: error: standard output: {io}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> Result<()> {
    // --kernel wins over QLAB_KERNEL; without it, a QLAB_KERNEL that names no kernel is an
    // error, not silently the default.
    let kernel = match cli.kernel {
        Some(isa) => Some(isa),
        None => crate::core::kernel::simd::from_env()?,
    };
    if let Some(isa) = kernel {
        crate::core::kernel::simd::force(isa);
    }
    let threads = threads(cli.threads)?;
    if let Some(n) = threads {
        // The global pool serves every command; a sweep's own pool uses the same count.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    match cli.command {
        None => tui_cmd(None),
        Some(Command::Tui { scenario }) => tui_cmd(scenario.as_deref()),
        Some(Command::Walkthrough { mode }) => {
            stdio::print(&walkthrough::render(&walkthrough::sections(mode)))
        }
        Some(Command::Formats) => stdio::print(&formats_text()),
        Some(Command::Quantize(a)) => quantize_cmd(&a),
        Some(Command::Matmul(a)) => matmul_cmd(&a),
        Some(Command::Run(a)) => run_cmd(&a),
        Some(Command::Sweep(a)) => sweep_cmd(&a, threads),
        Some(Command::Merge(a)) => merge_cmd(&a),
        Some(Command::Bench(a)) => bench_cmd(&a),
        Some(Command::Plot(a)) => plot_cmd(&a),
    }
}

/// The most worker threads qlab starts, per core: more only costs memory and switches.
const THREADS_PER_CORE: usize = 8;

/// `--threads`: at least 1, and at most [`THREADS_PER_CORE`] per core (a larger count is
/// capped, with a note: a million threads would exhaust the machine before any work).
fn threads(asked: Option<usize>) -> Result<Option<usize>> {
    match asked {
        Some(0) => Err(Error::Invalid(
            "--threads 0 is invalid; expected at least 1".into(),
        )),
        Some(n) => {
            let cores = crate::core::system::cores();
            let max = cores.saturating_mul(THREADS_PER_CORE);
            if n > max {
                note!(
                    "qlab: --threads {n} is more than {THREADS_PER_CORE} per core ({cores} \
                     core{} here); using {max}",
                    if cores == 1 { "" } else { "s" }
                );
                Ok(Some(max))
            } else {
                Ok(Some(n))
            }
        }
        None => Ok(None),
    }
}

/// The largest `qlab bench` size: an n³ GEMM on the portable kernels at n = 8192 already
/// takes minutes per run.
const BENCH_MAX_SIZE: usize = 8192;
/// The most timed runs per measurement.
const BENCH_MAX_RUNS: usize = 1000;
/// Bytes `qlab bench` holds per n² (f32 operands and their transposes, codes, outputs).
const BENCH_BYTES_PER_ELEMENT: u64 = 40;

fn bench_cmd(a: &BenchArgs) -> Result<()> {
    if a.runs == 0 || a.runs > BENCH_MAX_RUNS {
        return Err(Error::Invalid(format!(
            "--runs {} is invalid; expected 1 to {BENCH_MAX_RUNS}",
            a.runs
        )));
    }
    if let Some(&n) = a.sizes.iter().find(|&&n| n == 0 || n > BENCH_MAX_SIZE) {
        return Err(Error::Invalid(format!(
            "--sizes {n} is invalid; expected sizes from 1 to {BENCH_MAX_SIZE}"
        )));
    }
    let largest = a.sizes.iter().copied().max().unwrap_or(0) as u64;
    let need = largest * largest * BENCH_BYTES_PER_ELEMENT;
    let available = crate::core::system::available_memory();
    if need > available {
        return Err(Error::Invalid(format!(
            "--sizes {largest} needs about {} of memory; {} is available",
            crate::core::system::gib(need),
            crate::core::system::gib(available)
        )));
    }
    if a.scaling && rayon::current_num_threads() < 2 {
        return Err(Error::Invalid(
            "--scaling compares one thread with several; give --threads 2 or more \
             (or leave it out on a machine with more than one core)"
                .into(),
        ));
    }
    let r = crate::app::bench::run(&a.sizes, a.runs, a.scaling);
    if a.json {
        let json =
            serde_json::to_string_pretty(&r).map_err(|e| Error::Invalid(format!("JSON: {e}")))?;
        stdio::print(&format!("{json}\n"))
    } else {
        stdio::print(&crate::app::bench::render(&r))
    }
}

fn merge_cmd(a: &MergeArgs) -> Result<()> {
    let m = crate::app::sweep::merge::merge(&a.inputs, &a.out)?;
    note!(
        "merged {} configurations ({} rows) into {}",
        m.configs,
        m.rows,
        a.out.display()
    );
    if m.missing_count > 0 {
        let shown: Vec<String> = m.missing.iter().map(|c| c.to_string()).collect();
        note!(
            "qlab: {} configurations are missing: {}{}",
            m.missing_count,
            shown.join(", "),
            if m.missing_count > m.missing.len() as u64 {
                ", …"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn plot_cmd(a: &PlotArgs) -> Result<()> {
    let mut outs = Outputs::new(&[&a.csv]);
    let slot = outs.add("--out", &a.out, Content::Text)?;
    let chart = crate::app::plot::plot(&a.csv, &a.x, &a.y, a.by.as_deref(), &a.filters)?;
    if chart.skipped > 0 {
        note!(
            "qlab: plot: {} of {} rows skipped: their x or y is not a finite number",
            chart.skipped,
            chart.rows
        );
    }
    outs.put(slot, chart.svg.into_bytes());
    outs.commit()
}

fn tui_cmd(scenario: Option<&Path>) -> Result<()> {
    use std::io::IsTerminal;
    let scenario = match scenario {
        Some(p) => Scenario::load(p)?,
        None => Scenario::default(),
    };
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::Invalid(
            "the interactive explorer needs a terminal; for headless use try `qlab run`, \
             `qlab walkthrough` or `qlab --help`"
                .into(),
        ));
    }
    crate::app::tui::run(scenario)
}

/// Refuses options that do not apply to the chosen format, naming them.
fn refuse(format: &str, given: &[(&str, bool)]) -> Result<()> {
    let wrong: Vec<&str> = given.iter().filter(|g| g.1).map(|g| g.0).collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        let verb = if wrong.len() == 1 { "does" } else { "do" };
        Err(Error::Invalid(format!(
            "{} {verb} not apply to --format {format}",
            wrong.join(", ")
        )))
    }
}

fn rounding(arg: Option<RoundingArg>, seed: Option<u64>) -> Result<Rounding> {
    let r = match arg.unwrap_or(RoundingArg::HalfEven) {
        RoundingArg::HalfEven => Rounding::HalfEven,
        RoundingArg::HalfAway => Rounding::HalfAway,
        RoundingArg::Floor => Rounding::Floor,
        RoundingArg::Stochastic => Rounding::Stochastic {
            seed: seed.unwrap_or(0),
        },
    };
    if seed.is_some() && !matches!(r, Rounding::Stochastic { .. }) {
        return Err(Error::Invalid(
            "--seed applies to --rounding stochastic only".into(),
        ));
    }
    Ok(r)
}

/// The MXFP4 settings; clap has already refused a block size of 0.
fn mx_config(mx: &MxArgs) -> MxConfig {
    MxConfig {
        block: mx.block_size.unwrap_or_default(),
        rule: mx.scale_rule.unwrap_or_default(),
    }
}

/// The shape of a per-row output (scales, zero points) for an input of `shape`:
/// `(rows, per_row)`, or `(per_row,)` for a 1-D input.
fn per_row_shape(input_shape: &[usize], rows: usize, per_row: usize) -> Vec<usize> {
    if input_shape.len() == 1 {
        vec![per_row]
    } else {
        vec![rows, per_row]
    }
}

/// Refuses NaN and Inf for INT8, naming the file and the index in the array's own shape.
fn check_finite_for_int8(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    match npy::first_non_finite(shape, data) {
        Some((at, v)) => Err(Error::file(
            path,
            format!("INT8 cannot quantize {v} at index {at}; remove NaN/Inf or use MXFP4"),
        )),
        None => Ok(()),
    }
}

/// Names the input file in errors about its values (e.g. a range too wide for a scale).
fn about(path: &Path, e: Error) -> Error {
    match e {
        Error::Value(m) | Error::Invalid(m) => Error::file(path, m),
        other => other,
    }
}

fn quantize_cmd(a: &QuantizeArgs) -> Result<()> {
    match a.format {
        QuantFormat::Mxfp4 => refuse(
            "mxfp4",
            &[
                ("--scheme", a.scheme.is_some()),
                ("--granularity", a.granularity.is_some()),
                ("--rounding", a.rounding.is_some()),
                ("--seed", a.seed.is_some()),
                ("--zero-points", a.zero_points.is_some()),
            ],
        )?,
        QuantFormat::Int8 => refuse(
            "int8",
            &[
                ("--block-size", a.mx.block_size.is_some()),
                ("--scale-rule", a.mx.scale_rule.is_some()),
                ("--packed", a.packed.is_some()),
                ("--ggml", a.ggml.is_some()),
            ],
        )?,
    }
    // Every output is resolved before the input is read and written together at the end:
    // a bad output path costs no work, and a failure anywhere writes nothing.
    let mut outs = Outputs::new(&[&a.input]);
    let mut slot = |flag: &str, path: &Option<PathBuf>| {
        path.as_ref()
            .map(|p| outs.add(flag, p, Content::Binary))
            .transpose()
    };
    let out = slot("--out", &Some(a.out.clone()))?;
    let codes = slot("--codes", &a.codes)?;
    let scales = slot("--scales", &a.scales)?;
    let zero_points = slot("--zero-points", &a.zero_points)?;
    let packed_out = slot("--packed", &a.packed)?;
    let ggml_out = slot("--ggml", &a.ggml)?;
    let arr = npy::read(&a.input)?;
    let shape = arr.shape.clone();
    let m = arr.into_matrix();
    let mut put = |slot: Option<crate::core::files::Slot>, shape: &[usize], data: NpyData| {
        if let Some(s) = slot {
            outs.put(s, npy::encode(shape, &data));
        }
    };
    match a.format {
        QuantFormat::Mxfp4 => {
            let q = MxMatrix::quantize(&m, mx_config(&a.mx))?;
            let ggml = match ggml_out {
                Some(_) => packed::to_ggml(&q)?,
                None => Vec::new(),
            };
            let deq = q.dequantize();
            put(out, &shape, NpyData::F32(deq.data()));
            put(codes, &shape, NpyData::U8(q.codes()));
            let per_row = |n| per_row_shape(&shape, q.rows(), n);
            put(
                scales,
                &per_row(q.blocks_per_row()),
                NpyData::U8(q.scales()),
            );
            if packed_out.is_some() {
                let packed = packed::pack_linear(&q);
                put(
                    packed_out,
                    &per_row(q.k().div_ceil(2)),
                    NpyData::U8(&packed),
                );
            }
            put(
                ggml_out,
                &per_row(ggml.len() / q.rows()),
                NpyData::U8(&ggml),
            );
            let nan = q.nan_blocks();
            if nan > 0 {
                note!(
                    "qlab: {nan} of {} blocks held NaN or Inf and dequantize to NaN (scale byte 0xFF)",
                    q.scales().len()
                );
            }
            note_overflow(m.data(), deq.data());
        }
        QuantFormat::Int8 => {
            let config = Int8Config {
                scheme: a.scheme.unwrap_or(Scheme::Asymmetric),
                granularity: a.granularity.unwrap_or_default(),
                rounding: rounding(a.rounding, a.seed)?,
            };
            check_finite_for_int8(&a.input, &shape, m.data())?;
            let q = Int8Matrix::quantize(&m, config).map_err(|e| about(&a.input, e))?;
            put(out, &shape, NpyData::F32(q.dequantize().data()));
            put(codes, &shape, NpyData::I8(q.codes()));
            let n = q.params().len();
            let scales_v: Vec<f32> = q.params().iter().map(|p| p.scale).collect();
            put(scales, &[n], NpyData::F32(&scales_v));
            let zps: Vec<i32> = q.params().iter().map(|p| p.zero_point).collect();
            put(zero_points, &[n], NpyData::I32(&zps));
        }
    }
    outs.commit()
}

/// Says how many finite inputs dequantize beyond f32's range. Only MX scale rules that round
/// the scale up do this: near f32::MAX, ceil, even and rceil give 2^126, and the E2M1 value 4
/// (or 6) times that is 2^128 or more, which f32 cannot hold.
fn note_overflow(input: &[f32], dequantized: &[f32]) {
    let n = input
        .iter()
        .zip(dequantized)
        .filter(|(v, d)| v.is_finite() && d.is_infinite())
        .count();
    if n > 0 {
        note!(
            "qlab: {n} of {} finite values dequantize beyond f32's range (the block scale times \
             the element is 2^128 or more) and are written as ±inf; the floor scale rule keeps \
             them finite",
            input.len()
        );
    }
}

fn read_w(path: &Path) -> Result<Matrix> {
    let arr = npy::read(path)?;
    if arr.shape.len() != 2 {
        return Err(Error::file(
            path,
            format!("W must be 2-D (M, K); got shape {}", shape_str(&arr.shape)),
        ));
    }
    Ok(arr.into_matrix())
}

/// x as a `K × N` matrix, and whether it was a 1-D vector.
/// x as a `K × N` matrix (a vector becomes one column), with its shape as the file has it.
/// Either way the matrix's data is in the file's order.
fn read_x(path: &Path) -> Result<(Matrix, Vec<usize>)> {
    let arr = npy::read(path)?;
    let shape = arr.shape.clone();
    let m = arr.into_matrix();
    Ok(if shape.len() == 1 {
        (m.transpose(), shape)
    } else {
        (m, shape)
    })
}

fn matmul_cmd(a: &MatmulArgs) -> Result<()> {
    let mut outs = Outputs::new(&[&a.w, &a.x]);
    let out = outs.add("--out", &a.out, Content::Binary)?;
    let w = read_w(&a.w)?;
    let (x, x_shape) = read_x(&a.x)?;
    let vector = x_shape.len() == 1;
    if w.cols() != x.rows() {
        return Err(Error::Shape(format!(
            "K mismatch: W ({}) has shape {} and x ({}) has shape {}; W's columns must equal x's rows",
            a.w.display(),
            shape_str(&[w.rows(), w.cols()]),
            a.x.display(),
            shape_str(&x_shape)
        )));
    }
    let int8_opts = [
        ("--w-scheme", a.w_scheme.is_some()),
        ("--x-scheme", a.x_scheme.is_some()),
        ("--w-granularity", a.w_granularity.is_some()),
        ("--x-granularity", a.x_granularity.is_some()),
        ("--rounding", a.rounding.is_some()),
        ("--seed", a.seed.is_some()),
    ];
    let mx_opts = [
        ("--block-size", a.mx.block_size.is_some()),
        ("--scale-rule", a.mx.scale_rule.is_some()),
        ("--accumulator", a.accumulator.is_some()),
    ];
    let (method, name) = match a.format {
        MatmulFormat::F64 => {
            refuse("f64", &[int8_opts.as_slice(), mx_opts.as_slice()].concat())?;
            (Method::Reference, "f64")
        }
        MatmulFormat::Int8 => {
            refuse("int8", &mx_opts)?;
            check_finite_for_int8(&a.w, &[w.rows(), w.cols()], w.data())?;
            check_finite_for_int8(&a.x, &x_shape, x.data())?;
            let rounding = rounding(a.rounding, a.seed)?;
            let w = Int8Config {
                scheme: a.w_scheme.unwrap_or(Scheme::Asymmetric),
                granularity: a.w_granularity.unwrap_or_default(),
                rounding,
            };
            let x = Int8Config {
                scheme: a.x_scheme.unwrap_or(Scheme::Symmetric),
                granularity: a.x_granularity.unwrap_or_default(),
                rounding,
            };
            (Method::Int8 { w, x }, "int8")
        }
        MatmulFormat::Mxfp4 => {
            refuse("mxfp4", &int8_opts)?;
            let config = mx_config(&a.mx);
            let acc = a.accumulator.unwrap_or_default();
            (Method::Mxfp4 { config, acc }, "mxfp4")
        }
    };
    let reference = kernel::reference(&w, &x)?;
    let operands = kernel::quantize(&w, &x, method).map_err(|e| about(&a.w, e))?;
    let y = match &operands {
        Some(ops) => ops.multiply(),
        None => Matrix::new(
            w.rows(),
            x.cols(),
            reference.iter().map(|&v| v as f32).collect(),
        )?,
    };
    let out_shape = if vector {
        vec![w.rows()]
    } else {
        vec![w.rows(), x.cols()]
    };
    outs.put(out, npy::encode(&out_shape, &NpyData::F32(y.data())));
    outs.commit()?;

    let mut summary = format!(
        "{name}: W {} · x {} → y {}: SQNR {:.2} dB, max abs error {:.3e} vs the f64 reference",
        shape_str(&[w.rows(), w.cols()]),
        shape_str(&x_shape),
        shape_str(&out_shape),
        metrics::sqnr_db(y.data(), &reference),
        metrics::max_abs_error(y.data(), &reference)
    );
    if let Some(Operands::Mxfp4 { w, xt, .. }) = &operands {
        let (nw, nx) = (w.nan_blocks(), xt.nan_blocks());
        if nw + nx > 0 {
            summary.push_str(&format!(
                "; NaN blocks (NaN/Inf inputs): {nw} of {} in W, {nx} of {} in x",
                w.scales().len(),
                xt.scales().len()
            ));
        }
    }
    let non_finite = y.data().iter().filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        summary.push_str(&format!(
            "; {non_finite} of {} outputs are NaN or infinite (beyond f32's range or from NaN blocks)",
            y.len()
        ));
    }
    note!("{summary}");
    Ok(())
}

fn run_cmd(a: &RunArgs) -> Result<()> {
    let csv_to_stdout = a
        .csv
        .as_deref()
        .is_some_and(crate::core::files::output::is_stdout_path);
    if csv_to_stdout && a.json {
        return Err(Error::Invalid(
            "--csv - and --json would both write to standard output; give --csv a file".into(),
        ));
    }
    let scenario = match &a.scenario {
        Some(p) => Scenario::load(p)?,
        None => Scenario::default(),
    };
    let mut inputs = scenario.data_files();
    inputs.extend(a.scenario.clone());
    let mut outs = Outputs::new(&inputs);
    let csv = a
        .csv
        .as_ref()
        .map(|p| outs.add("--csv", p, Content::Text))
        .transpose()?;
    let report = experiment::run(&scenario).map_err(|e| match &a.scenario {
        Some(p) => e.in_file(p),
        None => e,
    })?;
    if let Some(slot) = csv {
        outs.put(slot, report::csv_bytes(&report::ReportRow::all(&report))?);
        outs.commit()?;
    }
    if csv_to_stdout {
        Ok(())
    } else if a.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Invalid(format!("JSON: {e}")))?;
        stdio::print(&format!("{json}\n"))
    } else {
        stdio::print(&crate::app::table::render(&report))
    }
}

fn parse_filter(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(c, v)| (c.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected COLUMN=VALUE, got '{s}'"))
}

fn sweep_cmd(a: &SweepArgs, threads: Option<usize>) -> Result<()> {
    use crate::app::sweep::{self, LARGE_SWEEP, Progress, Shard, Sweep};
    let spec = Sweep::load(&a.spec)?;
    let n = spec.len();
    if a.dry_run {
        let v = spec.variants();
        let mut lines = format!(
            "{}: {n} configuration{} × {v} variant{} = {} rows (sweep {})\n",
            text::printable(&spec.name),
            if n == 1 { "" } else { "s" },
            if v == 1 { "" } else { "s" },
            n.saturating_mul(v as u64),
            spec.id
        );
        for line in sweep::run::plan(&spec, 10)? {
            lines.push_str(&format!("{}\n", text::printable(&line)));
        }
        if n > 10 {
            lines.push_str(&format!("   … {} more\n", n - 10));
        }
        return stdio::print(&lines);
    }
    if n > LARGE_SWEEP && !a.yes {
        return Err(Error::Invalid(format!(
            "{}: the sweep has {n} configurations, more than {LARGE_SWEEP}; pass --yes to run it anyway",
            a.spec.display()
        )));
    }
    let out = a
        .out
        .as_ref()
        .expect("clap requires --out without --dry-run");
    let opts = sweep::Options {
        threads,
        resume: a.resume,
        shard: a.shard.unwrap_or(Shard::ALL),
        timings: a.timings,
        progress: if a.quiet {
            Progress::Quiet
        } else {
            Progress::Auto
        },
    };
    let ran = sweep::run(&spec, out, &opts)?;
    if !a.quiet {
        note!(
            "sweep {}: ran {ran} configurations into {}",
            spec.id,
            out.display()
        );
    }
    Ok(())
}

/// The `formats` command's text: E2M1 table, E8M0 range, storage costs.
pub fn formats_text() -> String {
    let mut s = String::from("E2M1 (MXFP4 element): 1 sign, 2 exponent, 1 mantissa bit, bias 1\n");
    s.push_str("code  bits     value   2·value\n");
    for code in 0u8..16 {
        let (sign, exp, man) = e2m1::fields(code);
        s.push_str(&format!(
            "0x{code:X}   {sign} {exp:02b} {man}  {:>6}   {:>4}\n",
            format!("{:?}", e2m1::decode(code)),
            e2m1::doubled(code)
        ));
    }
    s.push_str(&format!(
        "\nE8M0 (MXFP4 block scale): byte b means 2^(b-127); 0x00 = 2^-127 = {:e}, 0x7F = 1, \
         0xFE = 2^127 = {:e}; 0xFF = NaN; no zero, no sign\n",
        e8m0::to_f64(0),
        e8m0::to_f64(0xFE)
    ));
    s.push_str("\nstorage                         bits/element  vs f32\n");
    let mut row = |name: String, bits: f64| {
        s.push_str(&format!("{name:<32}{bits:>12.4}  {:>5.2}×\n", 32.0 / bits));
    };
    row("f32".into(), 32.0);
    row(
        "INT8, per tensor (1M elements)".into(),
        format::int8_bits_per_element(1 << 20),
    );
    row(
        "INT8, per channel (K = 4096)".into(),
        format::int8_bits_per_element(4096),
    );
    for b in [8, 16, 32, 64] {
        row(
            format!("MXFP4, block {b}"),
            format::mxfp4_bits_per_element(b),
        );
    }
    s
}
