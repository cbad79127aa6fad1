//! Headless outputs of a [`crate::experiment::Report`]: a readable table, JSON, CSV rows.

pub mod rows;
pub mod table;

pub use rows::{ReportRow, write_csv};
pub use table::render;
