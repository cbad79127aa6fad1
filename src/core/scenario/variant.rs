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
    // An error about one key points at that key's line; one about the variant as a whole (a
    // missing format) at its table.
    let key_span = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map_or(table.clone(), |(k, _)| k.span())
    };
    let at_key = |key: &str, m: String| at(Some(key_span(key)), format!("variants[{index}]: {m}"));
    let string = |key: &str, v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        other => Err(at_key(
            key,
            format!(
                "{key} = {} is invalid; expected a string",
                crate::core::text::echo(&other.to_string())
            ),
        )),
    };
    // Unknown keys first, as the file's own schema would report them: at the key.
    const NAMES: [&str; 4] = ["label", "format", "w_format", "x_format"];
    let known = family::all_keys();
    let is_named = |key: &str| NAMES.contains(&key);
    for (k, _) in &entries {
        let key = k.get_ref().as_str();
        if !is_named(key) && !known.iter().any(|x| x == key) {
            let expected: Vec<String> = NAMES
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
    let named = |key: &str| -> Result<Option<&'static dyn family::Family>> {
        match value(key) {
            Some(v) => {
                let name = string(key, v)?;
                Ok(Some(family::lookup(&name).map_err(|e| {
                    at_key(
                        key,
                        if key == "format" {
                            e.to_string()
                        } else {
                            format!("{key}: {e}")
                        },
                    )
                })?))
            }
            None => Ok(None),
        }
    };
    let both = named("format")?;
    let (Some(wf), Some(xf)) = (named("w_format")?.or(both), named("x_format")?.or(both)) else {
        return Err(at(
            Some(table.clone()),
            "missing field `format` (or `w_format` and `x_format`)".into(),
        ));
    };
    let mut v = Variant::pair(wf, xf);
    let mut given: Vec<(&str, Role)> = Vec::new();
    for (k, val) in &entries {
        let key = k.get_ref().as_str();
        if is_named(key) {
            continue;
        }
        // Which operands the key reaches: a per-operand key (`w_scheme`) one, a shared key
        // (`block_size`) every operand whose format has it, and a shared key written for one
        // operand (`x_block_size`) that one.
        let mut reached = false;
        for (role, f) in [(Role::W, wf), (Role::X, xf)] {
            let hit = match knob_for_key(f, key) {
                Some((knob, Some(r))) => (r == role).then_some(knob),
                Some((knob, None)) => Some(knob),
                None => key
                    .strip_prefix(if role == Role::W { "w_" } else { "x_" })
                    .and_then(|rest| knob_for_key(f, rest))
                    .and_then(|(knob, r)| {
                        (r.is_none() && knob.scope == family::Scope::Shared).then_some(knob)
                    }),
            };
            let Some(knob) = hit else { continue };
            let parsed = knob
                .parse_toml(key, val)
                .map_err(|e| at_key(key, e.to_string()))?;
            match knob.scope {
                family::Scope::Gemm => v.gemm.set(knob.key, parsed),
                _ if role == Role::W => v.w.set(knob.key, parsed),
                _ => v.x.set(knob.key, parsed),
            }
            given.push((knob.key, role));
            reached = true;
        }
        if !reached {
            return Err(at_key(
                key,
                format!("'{key}' does not apply to format '{}'", v.format_name()),
            ));
        }
    }
    // A setting that only means something beside another's value is refused elsewhere.
    for (role, f) in [(Role::W, wf), (Role::X, xf)] {
        for knob in f.knobs() {
            if let Some((other, needed)) = knob.requires
                && given.contains(&(knob.key, role))
                && v.operand(role).get(other) != Some(needed)
            {
                return Err(at_key(
                    knob.key,
                    format!("'{}' applies to {other} = \"{needed}\" only", knob.key),
                ));
            }
        }
    }
    v.label = match value("label") {
        Some(l) => string("label", l)?,
        None => v.default_label(),
    };
    Ok(v)
}
