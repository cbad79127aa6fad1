//! The `[[variants]]` tables, read against the format registry.

use toml::Spanned;

use crate::core::data::distribution::Role;
use crate::core::error::{Error, Result};
use crate::core::family::Variant;

/// A `[[variants]]` table as written: its keys (with their places in the file) and values.
pub(super) type RawVariant = std::collections::BTreeMap<Spanned<String>, toml::Value>;

/// Checks and types a `[[variants]]` table against the registry. `table` is the span of its
/// header; `at` places a message in the file. Keys are checked in file order.
pub(super) fn variant_from_raw(
    raw: RawVariant,
    table: std::ops::Range<usize>,
    index: usize,
    at: &dyn Fn(Option<std::ops::Range<usize>>, String) -> Error,
) -> Result<Variant> {
    use crate::core::family::{self, knob_for_key};
    let mut entries: Vec<(Spanned<String>, toml::Value)> = raw.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let in_table = |m: String| at(Some(table.clone()), format!("variants[{index}]: {m}"));
    let string = |key: &str, v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        other => Err(in_table(format!(
            "{key} = {} is invalid; expected a string",
            crate::core::text::echo(&other.to_string())
        ))),
    };
    // Unknown keys first, as the file's own schema would report them: at the key.
    let known = family::all_keys();
    for (k, _) in &entries {
        let key = k.get_ref().as_str();
        if key != "label" && key != "format" && !known.iter().any(|x| x == key) {
            let expected: Vec<String> = ["label", "format"]
                .iter()
                .map(std::string::ToString::to_string)
                .chain(known.iter().cloned())
                .map(|s| format!("`{s}`"))
                .collect();
            return Err(at(
                Some(k.span()),
                format!(
                    "unknown field `{}`, expected one of {}",
                    crate::core::text::echo(key),
                    expected.join(", ")
                ),
            ));
        }
    }
    let value = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|e| &e.1)
    };
    let format = match value("format") {
        Some(v) => string("format", v)?,
        None => return Err(at(Some(table.clone()), "missing field `format`".into())),
    };
    let fam = family::lookup(&format).map_err(|e| in_table(e.to_string()))?;
    let mut v = Variant::defaults(fam);
    let mut given: Vec<&str> = Vec::new();
    for (k, val) in &entries {
        let key = k.get_ref().as_str();
        if key == "label" || key == "format" {
            continue;
        }
        let Some((knob, role)) = knob_for_key(fam, key) else {
            return Err(in_table(format!(
                "'{key}' does not apply to format '{}'",
                fam.name()
            )));
        };
        let parsed = knob
            .parse_toml(key, val)
            .map_err(|e| in_table(e.to_string()))?;
        v.set(knob, role.unwrap_or(Role::W), parsed);
        given.push(knob.key);
    }
    // A setting that only means something beside another's value is refused elsewhere.
    for knob in fam.knobs() {
        if let Some((other, needed)) = knob.requires
            && given.contains(&knob.key)
            && v.w.get(other) != Some(needed)
        {
            return Err(in_table(format!(
                "'{}' applies to {other} = \"{needed}\" only",
                knob.key
            )));
        }
    }
    v.label = match value("label") {
        Some(l) => string("label", l)?,
        None => v.default_label(),
    };
    Ok(v)
}
