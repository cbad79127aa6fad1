//! The numeric core: data → format (quantize) → kernel (exact GEMMs) → metrics → one
//! experiment's report. Nothing here imports a front-end (`crate::app`).

pub mod check;
pub mod codec;
pub mod data;
pub mod error;
pub mod experiment;
pub mod family;
pub mod files;
pub mod format;
pub mod kernel;
pub mod matrix;
pub mod metrics;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod simd;
pub mod stdio;
pub mod system;
pub mod text;
