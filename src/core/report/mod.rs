//! The rows of a [`crate::core::experiment::Report`] as CSV (the JSON is the report itself;
//! the table a terminal shows is `app::table`).

pub mod rows;

pub use rows::{HistogramRow, ReportRow, csv_bytes, export};
