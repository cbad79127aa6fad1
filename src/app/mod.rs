//! The front-ends: each reads its inputs, calls the core, and writes or shows what it returns.
//! None holds numerics of its own.

pub mod bench;
pub mod cli;
pub mod plot;
pub mod scan;
pub mod sweep;
pub mod table;
pub mod tui;
pub mod walkthrough;
