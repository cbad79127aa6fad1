//! `qlab bench`: the GEMM paths and quantizers of this CPU, timed, with their limits checked.

use clap::Args;

use crate::core::error::{Error, Result};
use crate::core::stdio;

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
    /// Only the INT8 and MXFP4 kernel paths: skip the GEMM and quantizer of every other format
    /// (and the W4A8 / W4A16 pairs), which run on portable code and take longer
    #[arg(long)]
    pub kernels_only: bool,
}

/// The largest `qlab bench` size: an n³ GEMM on the portable kernels at n = 8192 already
/// takes minutes per run.
const BENCH_MAX_SIZE: usize = 8192;
/// The most timed runs per measurement.
const BENCH_MAX_RUNS: usize = 1000;
/// Bytes `qlab bench` holds per n² (f32 operands and their transposes, codes, outputs).
const BENCH_BYTES_PER_ELEMENT: u64 = 40;

pub(super) fn cmd(a: &BenchArgs) -> Result<()> {
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
    let r = crate::app::bench::run(&a.sizes, a.runs, a.scaling, !a.kernels_only);
    if a.json {
        let json =
            serde_json::to_string_pretty(&r).map_err(|e| Error::Invalid(format!("JSON: {e}")))?;
        stdio::print(&format!("{json}\n"))
    } else {
        stdio::print(&crate::app::bench::render(&r))
    }
}
