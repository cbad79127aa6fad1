//! qlab: a quantization accuracy lab. Data flows one way, and the tree shows it:
//!
//! - [`core`]: the numeric core — data sources, formats (quantizers), kernels (exact GEMMs, with
//!   SIMD beneath them), metrics, one experiment's report. It never imports a front-end.
//! - [`app`]: the front-ends over it — the command line, the explorer, sweeps, plots, the
//!   bench, the walkthrough.
//!
//! The public paths of both are re-exported at the root (`qlab::format`, `qlab::sweep`, ...).
//! (The module is named `core`: at this root, write `::core::` for the language's own crate.)
#![deny(unsafe_code)]

pub mod app;
pub mod core;

pub use app::{bench, cli, plot, sweep, table, tui, walkthrough};
pub use core::error::{Error, Result};
pub use core::matrix::Matrix;
pub use core::simd;
pub use core::{
    check, codec, data, error, experiment, family, files, format, kernel, matrix, metrics, report,
    rng, scenario, stdio, system, text,
};
