//! Scenario files (TOML): the data (W and x) and the quantization variants to compare.
//!
//! Parsing happens in two layers: a raw layer that mirrors the file (unknown keys rejected),
//! converted with `TryFrom` into typed values during deserialization, so that a nonsense
//! parameter is reported with the line and column of the table that holds it.

mod data;
mod operand;
pub mod shipped;
mod variant;

use operand::RawOperand;
use variant::{RawVariant, variant_from_raw};

pub use crate::core::family::{Variant, default_variants};
pub use data::Operands;
pub use operand::{DISTRIBUTIONS, OPERAND_KEYS, OperandSpec, Source, View, dist_params};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::core::error::{Error, Result};

/// Shape used for generated operands when neither the file nor the data fixes it.
pub const DEFAULT_M: usize = 256;
pub const DEFAULT_K: usize = 1024;
pub const DEFAULT_N: usize = 64;
pub const DEFAULT_SEED: u64 = 42;

/// The built-in scenario the TUI and `qlab run` without a file start from.
pub const DEFAULT_SCENARIO: &str = include_str!("../../../scenarios/llm-outlier-channels.toml");

/// A whole scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// What to look for, in a few sentences: shown in the explorer and the picker.
    pub lesson: String,
    pub seed: u64,
    /// Rows of W (M), the reduction length (K), columns of x (N): used for generated operands;
    /// checked against data operands when given.
    pub m: Option<usize>,
    pub k: Option<usize>,
    pub n: Option<usize>,
    pub w: OperandSpec,
    pub x: OperandSpec,
    pub variants: Vec<Variant>,
    /// Directory that relative file paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The file as written; the spans let checks done after parsing point at the right table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    lesson: Option<String>,
    seed: Option<u64>,
    // Signed, so `m = -1` gets the same message as `m = 0` rather than serde's.
    m: Option<Spanned<i64>>,
    k: Option<Spanned<i64>>,
    n: Option<Spanned<i64>>,
    w: Option<Spanned<RawOperand>>,
    x: Option<Spanned<RawOperand>>,
    variants: Option<Spanned<Vec<Spanned<RawVariant>>>>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::from_toml(DEFAULT_SCENARIO, Path::new("<built-in>"), PathBuf::new())
            .expect("the built-in scenario parses")
    }
}

/// Line and column (1-based, columns in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Where, inside the table spanning `span` of `text`, the key an error `message` is about is
/// written: the first `name.key` in the message (`w.std = -1 …`) or, after `name: `, the first
/// quoted or leading word that the table sets (`w: 'tensor' applies to …`). `None` when the
/// message names no key the table holds; the error then points at the table.
fn key_offset(
    text: &str,
    span: &std::ops::Range<usize>,
    name: &str,
    message: &str,
) -> Option<usize> {
    // A `[w]` table's span may be its header alone: its keys run to the next header.
    let rest = text.get(span.start..)?;
    let end = rest
        .match_indices("\n[")
        .map(|(i, _)| i)
        .find(|&i| span.start + i >= span.end)
        .unwrap_or(rest.len());
    let body = &rest[..end];
    let words = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter(|w| !w.is_empty());
    let prefix = format!("{name}.");
    let candidates: Vec<&str> = words
        .map(|w| w.strip_prefix(&prefix).unwrap_or(w))
        .map(|w| w.split('.').next().unwrap_or(w))
        // An empty key (from "w." or ".5") would match everywhere.
        .filter(|w| !w.is_empty() && *w != name)
        .collect();
    candidates
        .iter()
        .find_map(|key| find_key(body, key))
        .map(|at| span.start + at)
}

/// The offset in `body` of `key` written as a key (`key = …`, also inside an inline table).
fn find_key(body: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(i) = body[from..].find(key).map(|i| i + from) {
        let before = body[..i].chars().next_back();
        let after = body[i + key.len()..].trim_start_matches([' ', '\t']);
        let word_start =
            before.is_none_or(|c| c == '\n' || c == ' ' || c == '\t' || c == '{' || c == ',');
        if word_start && after.starts_with('=') && !after.starts_with("==") {
            return Some(i);
        }
        from = i + key.len();
        if from >= bytes.len() {
            break;
        }
    }
    None
}

/// Whether a TOML error is serde's "unknown field" for one of `keys`: a file of the other
/// kind (a sweep given as a scenario, or the reverse).
pub(crate) fn is_unknown_field(message: &str, keys: &[&str]) -> bool {
    keys.iter()
        .any(|k| message.starts_with(&format!("unknown field `{k}`")))
}

/// A sweep file's top-level keys, which a scenario never has.
const SWEEP_KEYS: [&str; 4] = ["axis", "scenario", "repeat", "base"];

impl Scenario {
    /// Parses scenario text; `origin` names it in errors, `base_dir` anchors relative paths.
    pub fn from_toml(text: &str, origin: &Path, base_dir: PathBuf) -> Result<Self> {
        let at = |span: Option<std::ops::Range<usize>>, msg: String| {
            let place = span
                .map(|r| {
                    let (l, c) = line_col(text, r.start);
                    format!("line {l}, column {c}: ")
                })
                .unwrap_or_default();
            Error::file(
                origin,
                format!("{place}{}", crate::core::text::cut_quoted(msg.trim_end())),
            )
        };
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            // A sweep file given where a scenario was expected: say so, not "unknown field".
            if is_unknown_field(&message, &SWEEP_KEYS) {
                return Error::file(
                    origin,
                    "this is a sweep file (it has [[axis]] or [scenario]); run it with \
                     `qlab sweep FILE --out OUT.csv`",
                );
            }
            at(e.span(), message)
        })?;
        let operand = |r: Option<Spanned<RawOperand>>, name: &str| match r {
            None => Ok(OperandSpec::default()),
            Some(s) => {
                let span = s.span();
                OperandSpec::from_raw(s.into_inner(), name).map_err(|e| {
                    let message = e.to_string();
                    let key = key_offset(text, &span, name, &message);
                    at(Some(key.map_or(span, |k| k..k + 1)), message)
                })
            }
        };
        let variants = match raw.variants {
            None => default_variants(),
            Some(list) => {
                let span = list.span();
                let list = list.into_inner();
                if list.is_empty() {
                    return Err(at(
                        Some(span),
                        "'variants' is empty; list at least one, or leave it out for the defaults"
                            .into(),
                    ));
                }
                list.into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let span = v.span();
                        variant_from_raw(v.into_inner(), span, i, &at)
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let size = |v: Option<Spanned<i64>>, name: &str| match v {
            Some(s) => match usize::try_from(*s.get_ref()) {
                Ok(size) if size >= 1 => Ok(Some(size)),
                _ => Err(at(
                    Some(s.span()),
                    format!("{name} = {} is invalid; expected a size ≥ 1", s.get_ref()),
                )),
            },
            None => Ok(None),
        };
        let (m, k, n) = (size(raw.m, "m")?, size(raw.k, "k")?, size(raw.n, "n")?);
        let mut labels: Vec<&str> = variants.iter().map(|v| v.label.as_str()).collect();
        labels.sort_unstable();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::file(
                origin,
                format!(
                    "two variants are labelled '{}'; give each a unique 'label'",
                    crate::core::text::echo(w[0])
                ),
            ));
        }
        Ok(Scenario {
            name: raw.name.unwrap_or_else(|| "untitled".into()),
            description: raw.description.unwrap_or_default(),
            lesson: raw.lesson.unwrap_or_default(),
            seed: raw.seed.unwrap_or(DEFAULT_SEED),
            m,
            k,
            n,
            w: operand(raw.w, "w")?,
            x: operand(raw.x, "x")?,
            variants,
            base_dir,
        })
    }

    /// A scenario shipped in the binary, by name (`gaussian`).
    pub fn shipped(name: &str) -> Result<Self> {
        let s = shipped::by_name(name).ok_or_else(|| {
            let names: Vec<&str> = shipped::SHIPPED.iter().map(|s| s.name).collect();
            Error::Invalid(format!(
                "no shipped scenario '{}'; the shipped ones are {}",
                crate::core::text::echo(name),
                names.join(", ")
            ))
        })?;
        Scenario::from_toml(s.text, Path::new(s.name), PathBuf::new())
    }

    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Self> {
        // A bare name that is no file here is a shipped scenario (`qlab run gaussian`).
        if let Some(s) = shipped::by_path(path) {
            return Scenario::from_toml(s.text, path, PathBuf::new());
        }
        let text = crate::core::files::read_text(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Scenario::from_toml(&text, path, base)
    }
}

impl Scenario {
    /// The data files the scenario reads (relative paths resolved against its directory).
    pub fn data_files(&self) -> Vec<PathBuf> {
        [&self.w, &self.x]
            .into_iter()
            .filter_map(|op| match &op.source {
                Source::File { path, .. } => Some(if path.is_absolute() {
                    path.clone()
                } else {
                    self.base_dir.join(path)
                }),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{find_key, key_offset};

    #[test]
    fn keys_are_found_as_keys_and_empty_ones_never() {
        let text = "[w]\ndist = \"normal\"\nstd = -1\nx = { std = 2 }\n";
        assert_eq!(find_key(text, "std"), text.find("std = -1"));
        assert_eq!(find_key(text, ""), None);
        assert_eq!(find_key("stdx = 1\n", "std"), None);
        // A message whose words leave an empty key ("w." at a sentence's end, ".5") ends.
        assert_eq!(
            key_offset(text, &(0..3), "w", "w: bad value .5 for w."),
            None
        );
        assert_eq!(
            key_offset(text, &(0..3), "w", "w.std = -1 is invalid"),
            text.find("std = -1")
        );
    }
}
