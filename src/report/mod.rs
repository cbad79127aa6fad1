//! Headless outputs of a [`crate::experiment::Report`]: a readable table, JSON, CSV rows.

pub mod rows;
pub mod table;

pub use rows::{HistogramRow, ReportRow, csv_bytes, export};
pub use table::render;
