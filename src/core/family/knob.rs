//! A family's settings as data: one [`Knob`] per setting, and [`Settings`], the values a
//! variant gives them (canonical text, as files and CSVs write them: `asymmetric`, `32`,
//! `tensor`).

use crate::core::data::distribution::Role;
use crate::core::error::{Error, Result};
use crate::core::text;

/// What values a knob takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One of these names.
    Choice(&'static [&'static str]),
    /// Elements per block: an integer ≥ 1, or `tensor` (one block for the whole tensor).
    BlockSize,
    /// A 64-bit seed.
    Seed,
    /// `true` or `false` (a TOML boolean, or the word).
    Bool,
    /// Elements per group: an integer ≥ 1.
    Count,
}

/// What a knob applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each operand has its own value: keys `w_KEY` and `x_KEY`.
    PerOperand,
    /// One value for both operands: key `KEY`.
    Shared,
    /// A setting of the GEMM, not of an operand: key `KEY`.
    Gemm,
}

/// One setting of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knob {
    pub key: &'static str,
    /// The setting in prose, for messages and the editor (`scale rule`).
    pub noun: &'static str,
    /// One line for `--help` and the editor.
    pub help: &'static str,
    pub kind: Kind,
    pub scope: Scope,
    /// The defaults for W and for x.
    pub defaults: [&'static str; 2],
    /// The values the explorer's editor steps through, in order (none: not in the editor).
    pub steps: &'static [&'static str],
    /// Whether a sweep may make it an axis (`variant.KEY`).
    pub axis: bool,
    /// Given only together with this value of another knob (`seed` with `rounding =
    /// stochastic`).
    pub requires: Option<(&'static str, &'static str)>,
}

/// `a`, `a or b`, `a, b or c`.
pub fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

impl Knob {
    /// The default for operand `role`.
    pub fn default(&self, role: Role) -> &'static str {
        match role {
            Role::W => self.defaults[0],
            Role::X => self.defaults[1],
        }
    }

    /// The keys a scenario file writes it with.
    pub fn file_keys(&self) -> Vec<String> {
        match self.scope {
            Scope::PerOperand => vec![format!("w_{}", self.key), format!("x_{}", self.key)],
            Scope::Shared | Scope::Gemm => vec![self.key.to_string()],
        }
    }

    /// Whether file key `key` names this knob: `Some(None)` for the knob as a whole (shared,
    /// GEMM), `Some(Some(role))` for one operand's value.
    pub fn matches(&self, key: &str) -> Option<Option<Role>> {
        match self.scope {
            Scope::PerOperand => match key.split_once('_') {
                Some(("w", k)) if k == self.key => Some(Some(Role::W)),
                Some(("x", k)) if k == self.key => Some(Some(Role::X)),
                _ => None,
            },
            Scope::Shared | Scope::Gemm => (key == self.key).then_some(None),
        }
    }

    /// The command-line option for a file key (`w_scheme` → `--w-scheme`).
    pub fn option(file_key: &str) -> String {
        format!("--{}", file_key.replace('_', "-"))
    }

    /// What the knob accepts, in words.
    pub fn expected(&self) -> String {
        match self.kind {
            Kind::Choice(c) => one_of(c),
            Kind::BlockSize => "an integer ≥ 1 or 'tensor'".into(),
            Kind::Seed => "an integer from 0 to 2^64 − 1".into(),
            Kind::Bool => "true or false".into(),
            Kind::Count => "an integer ≥ 1".into(),
        }
    }

    /// Checks a value given as text (the command line, a sweep axis) and returns its
    /// canonical form.
    pub fn parse(&self, v: &str) -> Result<String> {
        match self.kind {
            Kind::Choice(c) if c.contains(&v) => Ok(v.to_string()),
            Kind::Choice(c) => Err(Error::Invalid(format!(
                "unknown {} '{}'; expected {}",
                self.noun,
                text::echo(v),
                one_of(c)
            ))),
            Kind::BlockSize => match v {
                "tensor" => Ok(v.to_string()),
                _ => match v.parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(n.to_string()),
                    _ => Err(Error::Invalid(format!(
                        "invalid {} '{}'; expected {}",
                        self.noun,
                        text::echo(v),
                        self.expected()
                    ))),
                },
            },
            Kind::Bool => match v {
                "true" | "false" => Ok(v.to_string()),
                _ => Err(Error::Invalid(format!(
                    "invalid {} '{}'; expected true or false",
                    self.noun,
                    text::echo(v)
                ))),
            },
            Kind::Count => match v.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n.to_string()),
                _ => Err(Error::Invalid(format!(
                    "invalid {} '{}'; expected an integer ≥ 1",
                    self.noun,
                    text::echo(v)
                ))),
            },
            Kind::Seed => v.parse::<u64>().map(|n| n.to_string()).map_err(|_| {
                Error::Invalid(format!(
                    "invalid {} '{}'; expected {}",
                    self.noun,
                    text::echo(v),
                    self.expected()
                ))
            }),
        }
    }

    /// Checks a value from a TOML file, written under `key`.
    pub fn parse_toml(&self, key: &str, v: &toml::Value) -> Result<String> {
        use toml::Value;
        let wrong = || {
            Error::Invalid(format!(
                "{key} = {} is invalid; expected {}",
                text::echo(&v.to_string()),
                match self.kind {
                    Kind::BlockSize => "an integer ≥ 1 or \"tensor\"".to_string(),
                    _ => self.expected(),
                }
            ))
        };
        match (self.kind, v) {
            (Kind::Choice(_), Value::String(s)) => self.parse(s),
            (Kind::BlockSize, Value::Integer(n)) if *n >= 1 => Ok(n.to_string()),
            (Kind::BlockSize, Value::String(s)) => self.parse(s),
            (Kind::Seed, Value::Integer(n)) if *n >= 0 => Ok(n.to_string()),
            (Kind::Bool, Value::Boolean(b)) => Ok(b.to_string()),
            (Kind::Count, Value::Integer(n)) if *n >= 1 => Ok(n.to_string()),
            _ => Err(wrong()),
        }
    }
}

/// The values of one operand's (or the GEMM's) knobs, in the family's knob order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Settings {
    values: Vec<(&'static str, String)>,
}

impl Settings {
    /// Every knob of the scope at its default for `role`: operand knobs (per-operand and
    /// shared) or, with `gemm`, the GEMM's.
    pub fn defaults(knobs: &[Knob], role: Role, gemm: bool) -> Settings {
        Settings {
            values: knobs
                .iter()
                .filter(|k| (k.scope == Scope::Gemm) == gemm)
                .map(|k| (k.key, k.default(role).to_string()))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, which the family's own settings always hold.
    pub fn value(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("setting '{key}' missing: settings are built from the knobs"))
    }

    pub fn set(&mut self, key: &'static str, value: String) {
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.values.push((key, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHOICE: Knob = Knob {
        key: "scheme",
        noun: "scheme",
        help: "",
        kind: Kind::Choice(&["asymmetric", "symmetric"]),
        scope: Scope::PerOperand,
        defaults: ["asymmetric", "symmetric"],
        steps: &[],
        axis: true,
        requires: None,
    };

    #[test]
    fn keys_and_matches() {
        assert_eq!(CHOICE.file_keys(), ["w_scheme", "x_scheme"]);
        assert_eq!(CHOICE.matches("x_scheme"), Some(Some(Role::X)));
        assert_eq!(CHOICE.matches("scheme"), None);
        assert_eq!(Knob::option("w_scheme"), "--w-scheme");
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
    }

    #[test]
    fn values_are_checked_with_messages() {
        assert_eq!(CHOICE.parse("symmetric").unwrap(), "symmetric");
        assert_eq!(
            CHOICE.parse("x").unwrap_err().to_string(),
            "unknown scheme 'x'; expected asymmetric or symmetric"
        );
        let block = Knob {
            key: "block_size",
            noun: "block size",
            kind: Kind::BlockSize,
            scope: Scope::Shared,
            ..CHOICE
        };
        assert_eq!(block.parse("16").unwrap(), "16");
        assert_eq!(block.parse("tensor").unwrap(), "tensor");
        assert_eq!(
            block.parse("0").unwrap_err().to_string(),
            "invalid block size '0'; expected an integer ≥ 1 or 'tensor'"
        );
        assert_eq!(
            block
                .parse_toml("block_size", &toml::Value::Integer(-4))
                .unwrap_err()
                .to_string(),
            "block_size = -4 is invalid; expected an integer ≥ 1 or \"tensor\""
        );
        assert_eq!(
            block
                .parse_toml("block_size", &toml::Value::Float(1.5))
                .unwrap_err()
                .to_string(),
            "block_size = 1.5 is invalid; expected an integer ≥ 1 or \"tensor\""
        );
    }
}
