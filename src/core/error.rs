//! The one error type of the library. Every variant renders as a single line that names what
//! was wrong (file, field, index, shape) and what was expected, because users see these verbatim.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file was read but its content is not what qlab accepts.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// Operand shapes do not fit together.
    #[error("{0}")]
    Shape(String),
    /// A value (NaN, Inf, out of range) that the chosen operation cannot take.
    #[error("{0}")]
    Value(String),
    /// An option or parameter outside its valid range.
    #[error("{0}")]
    Invalid(String),
    /// Standard output was closed by its reader (`| head`): not a failure to report.
    #[error("standard output was closed")]
    Closed,
}

impl Error {
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A CSV reading error, in the words of the rest of qlab: the line, and what was wrong.
    pub fn csv(path: impl Into<PathBuf>, e: csv::Error) -> Self {
        let path = path.into();
        let at =
            |p: Option<&csv::Position>| p.map_or(String::new(), |p| format!("line {}", p.line()));
        let message = match e.into_kind() {
            csv::ErrorKind::Io(io) => return Error::io(path, io),
            csv::ErrorKind::Utf8 { pos, err } => {
                format!(
                    "{}, field {}: not UTF-8 text",
                    at(pos.as_ref()),
                    err.field() + 1
                )
            }
            csv::ErrorKind::UnequalLengths {
                pos,
                expected_len,
                len,
            } => format!(
                "{} has {len} fields; the first row has {expected_len}",
                at(pos.as_ref())
            ),
            // Seeking and serde errors do not arise when reading records.
            other => format!("not a valid CSV: {other:?}"),
        };
        Error::file(path, message)
    }

    /// Names `path` in a message that names no file yet: a shape or memory problem found
    /// while building a scenario's operands is reported against the scenario file.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            Error::Shape(m) | Error::Value(m) | Error::Invalid(m) => Error::file(path, m),
            named => named,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
