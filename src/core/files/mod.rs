//! The files a command reads and writes: only regular files are read, and within a bound;
//! outputs are resolved before any work, committed all at once or not at all, one writer at a
//! time, and no temporary outlives the process that made it.

pub mod input;
pub mod lock;
pub mod output;
pub mod temps;

pub use input::{FileId, read, read_text};
pub use output::{Content, Output, Outputs, Sink, Slot, Staged};
