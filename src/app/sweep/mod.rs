//! Headless sweeps: many configurations of a scenario into one tidy CSV.

pub mod merge;
pub mod run;
pub mod spec;

pub use run::{Options, Progress, Shard, run};
pub use spec::{LARGE_SWEEP, Sweep};
