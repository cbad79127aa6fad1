//! qlab: a quantization accuracy lab. Data flows one way:
//! data → format (quantize) → kernel (integer GEMMs) → metrics → front-ends (cli).
#![deny(unsafe_code)]

pub mod bench;
pub mod cli;
pub mod data;
pub mod error;
pub mod experiment;
pub mod files;
pub mod format;
pub mod kernel;
pub mod matrix;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod simd;
pub mod stdio;
pub mod sweep;
pub mod system;
pub mod text;
pub mod tui;
pub mod walkthrough;

pub use error::{Error, Result};
pub use matrix::Matrix;
