//! The command line: argument parsing and the headless commands. No numerics live here; every
//! command reads its inputs, calls the library, and writes or prints what it returns.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod check;
mod formats;
mod knobs;
mod matmul;
mod quantize;
mod run;
pub mod scan;
mod sweep;

pub use bench::BenchArgs;
pub use check::CheckArgs;
pub use formats::{format_text, formats_text};
pub use knobs::{MatmulKnobs, QuantizeKnobs};
pub use matmul::MatmulArgs;
pub use quantize::QuantizeArgs;
pub use run::RunArgs;
pub use sweep::{MergeArgs, PlotArgs, SweepArgs};

use crate::app::walkthrough::{self, Mode};
use crate::core::error::{Error, Result};
use crate::core::scenario::Scenario;
use crate::core::stdio;
use crate::core::text;
use crate::note;

#[derive(Parser, Debug)]
#[command(
    name = "qlab",
    version,
    propagate_version = true,
    about = "A quantization accuracy lab: what INT8, MXFP4, NVFP4, FP8 … do to a matmul.",
    long_about = "A quantization accuracy lab: runs the same matrix multiplication through \
                  bit-exact kernels of every format (INT8, MXFP4, MXFP8, MXFP6, MXINT8, NVFP4, \
                  INT4, FP8, bf16/fp16; W and x apart) and shows what the quantization did.\n\
                  Without a command, opens the interactive explorer on the built-in scenario."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Worker threads for every command [default: all cores]
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Force a kernel path: scalar, avx2, avx2-vnni, avx512-vnni or amx [default: the best this CPU has;
    /// also QLAB_KERNEL]
    #[arg(long, global = true)]
    pub kernel: Option<crate::core::simd::Isa>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the interactive explorer (the default command)
    Tui {
        /// Scenario file (TOML), a shipped scenario's name (gaussian, …), or a model
        /// (.safetensors, a checkpoint folder or its *.index.json) to open on the model screen;
        /// the built-in scenario when omitted
        scenario: Option<PathBuf>,
        /// Where `e` writes its CSVs (never over an earlier export)
        #[arg(long, value_name = "DIR", default_value = ".")]
        export_dir: PathBuf,
    },
    /// Quantize a .npy array (blocks / channels along its rows) and write the dequantized array
    Quantize(QuantizeArgs),
    /// Multiply W (M × K) by x (K × N or K) through any format (W and x apart) or the f64 reference
    Matmul(MatmulArgs),
    /// Replay a published worked example of INT8 and MXFP4, step by step
    Walkthrough {
        /// document (as the worked example computes), spec (as the standards compute), or both
        #[arg(long, default_value = "both")]
        mode: Mode,
    },
    /// List every format (element, scales, bits per element); with NAME, its code table
    Formats {
        /// A format (`mxfp8-e4m3`) or an element (`e4m3`) whose every code to print
        name: Option<String>,
    },
    /// Run a scenario: every variant side by side against the f64 reference
    Run(RunArgs),
    /// Run a sweep (the Cartesian product of its axes) into a tidy CSV
    Sweep(SweepArgs),
    /// Scan a model: every 2-D float tensor as W, through every variant, worst layers first
    Scan(scan::ScanArgs),
    /// Combine sweep or scan CSVs (shards) into one
    Merge(MergeArgs),
    /// Chart a sweep CSV as SVG
    Plot(PlotArgs),
    /// Measure the GEMM paths and quantizers on this CPU
    Bench(BenchArgs),
    /// Compare someone else's MX quantization of an input with qlab's reference: every
    /// difference classified, their dialect named; exit 0 only when everything matches
    Check(CheckArgs),
    /// Print a shell completion script: `qlab completions bash > ~/.local/share/bash-completion/completions/qlab`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `qlab man > qlab.1; man ./qlab.1`
    Man,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let result = run(cli);
    if std::env::var_os("QLAB_REPORT_MEMORY").is_some() {
        note!(
            "qlab: peak memory {}",
            crate::core::system::peak_memory_text()
        );
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        // A check that found differences: the report said so.
        Ok(false) => ExitCode::FAILURE,
        // The reader of standard output went away (`| head`): end quietly, with the status
        // a shell reports for a process that SIGPIPE ended.
        Err(Error::Closed) => ExitCode::from(CLOSED_PIPE),
        // A signal is ending the process; its handler removed the files this failed on.
        Err(_) if crate::core::files::temps::dying() => ExitCode::FAILURE,
        Err(e) => {
            // Messages carry text from files: escaped, so they stay one line and cannot drive
            // the terminal, and bounded, whatever a file echoes into them.
            note!("qlab: error: {}", error_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error as one printable line. A long path is shortened in its middle, so the line keeps
/// both ends of the path and, above all, the reason after it.
fn error_line(e: &Error) -> String {
    let path_and = |path: &Path, rest: String| {
        format!(
            "{}: {}",
            text::cut_middle(&path.display().to_string(), PATH_MAX),
            text::cut(&rest, MESSAGE_MAX)
        )
    };
    match e {
        Error::Io { path, source } => path_and(path, source.to_string()),
        Error::File { path, message } => path_and(path, message.clone()),
        other => text::cut(&other.to_string(), MESSAGE_MAX),
    }
}

/// The most characters of a path an error line shows.
const PATH_MAX: usize = 200;

/// 128 + SIGPIPE.
const CLOSED_PIPE: u8 = 141;

/// The longest error line qlab prints (a path can be long; a file's echo is cut before).
const MESSAGE_MAX: usize = 2000;

/// Prints clap's own message: help and version as clap would (colours and all, surviving a
/// closed or full standard output); a usage error as every other error, one line
/// `qlab: error: …` with what was typed escaped, and status 2.
fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        note!("qlab: error: {}", usage_line(&plain_usage_error(e)));
        return ExitCode::from(2);
    }
    match e.print() {
        Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
        Err(io) if io.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(CLOSED_PIPE),
        Err(io) => {
            note!("qlab: error: standard output: {io}");
            ExitCode::FAILURE
        }
    }
}

/// clap's usage error with what the user typed exactly as typed, and each long or hostile
/// argument already cut and escaped as every echo is. clap's own rendering strips escape
/// sequences from the text it quotes (so `3\e[2J2` would read as a valid `32`); the error is
/// made again by a parser without styles, whose text holds nothing but clap's words and the
/// arguments.
fn plain_usage_error(e: &clap::Error) -> String {
    use clap::CommandFactory;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut rendered = match Cli::command()
        .styles(clap::builder::Styles::plain())
        .try_get_matches_from(&args)
    {
        Err(plain) if plain.kind() == e.kind() => plain.render().ansi().to_string(),
        _ => e.render().to_string(),
    };
    let mut typed: Vec<String> = Vec::new();
    for arg in args.iter().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        if let Some((_, value)) = arg.strip_prefix('-').and_then(|a| a.split_once('=')) {
            typed.push(value.to_string());
        }
        typed.push(arg);
    }
    typed.retain(|a| text::echo(a) != *a);
    typed.sort_by_key(|a| std::cmp::Reverse(a.len()));
    for arg in &typed {
        rendered = rendered.replace(arg.as_str(), &text::echo(arg));
    }
    rendered
}

/// clap's usage error (`error: …`, a tip, a usage block, "For more information…") as one
/// line: the error and its details, then where to look.
fn usage_line(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u);
        } else if !line.starts_with("For more information") {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    let mut s = text::printable(&parts.join(" ")).into_owned();
    match usage {
        Some(u) => s.push_str(&format!(" (usage: {u}; see --help)")),
        None => s.push_str(" (see --help)"),
    }
    text::cut(&s, MESSAGE_MAX)
}

/// Runs a command; `Ok(false)` when it ran but its answer is "no" (`check` found differences).
pub fn run(cli: Cli) -> Result<bool> {
    // --kernel wins over QLAB_KERNEL; without it, a QLAB_KERNEL that names no kernel is an
    // error, not silently the default.
    let kernel = match cli.kernel {
        Some(isa) => Some(isa),
        None => crate::core::simd::from_env()?,
    };
    if let Some(isa) = kernel {
        crate::core::simd::force(isa);
    }
    let threads = threads(cli.threads)?;
    if let Some(n) = threads {
        // The global pool serves every command; a sweep's own pool uses the same count.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let done = match cli.command {
        None => tui_cmd(None, PathBuf::from(".")),
        Some(Command::Tui {
            scenario,
            export_dir,
        }) => tui_cmd(scenario.as_deref(), export_dir),
        Some(Command::Walkthrough { mode }) => {
            stdio::print(&walkthrough::render(&walkthrough::sections(mode)))
        }
        Some(Command::Formats { name: None }) => stdio::print(&formats_text()),
        Some(Command::Formats { name: Some(n) }) => {
            stdio::print(&formats::format_text(n.as_str())?)
        }
        Some(Command::Quantize(a)) => quantize::cmd(&a),
        Some(Command::Matmul(a)) => matmul::cmd(&a),
        Some(Command::Run(a)) => run::cmd(&a),
        Some(Command::Sweep(a)) => sweep::sweep_cmd(&a, threads),
        Some(Command::Merge(a)) => sweep::merge_cmd(&a),
        Some(Command::Scan(a)) => scan::cmd(&a, threads),
        Some(Command::Bench(a)) => bench::cmd(&a),
        Some(Command::Plot(a)) => sweep::plot_cmd(&a),
        Some(Command::Check(a)) => return check::cmd(&a),
        Some(Command::Completions { shell }) => stdio::print(&completions(shell)),
        Some(Command::Man) => stdio::print(&man_page()?),
    };
    done.map(|()| true)
}

/// The completion script for `shell`, generated from the parser itself (so it cannot drift).
fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "qlab", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The manual page, generated from the parser: the top-level page with every subcommand listed.
fn man_page() -> Result<String> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::Invalid(format!("man page: {e}")))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
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

fn tui_cmd(scenario: Option<&Path>, export_dir: PathBuf) -> Result<()> {
    use std::io::IsTerminal;
    // A model opens on the model screen, under the built-in scenario's x and variants.
    let model = match scenario {
        Some(p) if crate::app::tui::model::is_model(p) => Some(
            crate::app::tui::model::Model::open(p, &Scenario::default())?,
        ),
        _ => None,
    };
    let scenario = match scenario {
        Some(_) if model.is_some() => Scenario::default(),
        Some(p) => Scenario::load(p)?,
        None => Scenario::default(),
    };
    if !export_dir.is_dir() {
        return Err(Error::file(
            &export_dir,
            "--export-dir: not a directory; expected an existing directory",
        ));
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::Invalid(
            "the interactive explorer needs a terminal; for headless use try `qlab run`, \
             `qlab walkthrough` or `qlab --help`"
                .into(),
        ));
    }
    match model {
        Some(m) => crate::app::tui::run_model(scenario, m, export_dir),
        None => crate::app::tui::run(scenario, export_dir),
    }
}
