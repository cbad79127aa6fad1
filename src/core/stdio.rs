//! Standard output and standard error are files too: a reader that goes away (`| head`)
//! ends the command quietly, as SIGPIPE would; a full device is one error line; a message that
//! cannot reach standard error is dropped rather than turned into a panic.

use std::io::{IsTerminal, Write};

use crate::core::error::{Error, Result};

/// Writes `bytes` to standard output and flushes them. A closed pipe becomes
/// [`Error::Closed`], which the binary turns into a quiet exit.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Error::Closed,
            _ => Error::io("standard output", e),
        })
}

/// Prints `text` on standard output. On a terminal, control characters other than line
/// breaks and tabs are shown as escapes: text from files cannot drive the terminal.
pub fn print(text: &str) -> Result<()> {
    if std::io::stdout().is_terminal() {
        write_stdout(crate::core::text::for_terminal(text).as_bytes())
    } else {
        write_stdout(text.as_bytes())
    }
}

/// Writes text bytes (a CSV, an SVG) to standard output, as [`print()`] does.
pub fn print_bytes(bytes: &[u8]) -> Result<()> {
    if std::io::stdout().is_terminal() {
        print(&String::from_utf8_lossy(bytes))
    } else {
        write_stdout(bytes)
    }
}

/// Prints one line on standard error, ignoring a failure to do so (there is nowhere left to
/// report it).
pub fn note(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(line.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}

/// `note!("...", args)`: [`note`] with `format!` arguments.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::core::stdio::note(&format!($($arg)*))
    };
}
