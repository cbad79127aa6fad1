//! The format options of `quantize` and `matmul`, generated from the registry: one option per
//! knob (`--block-size`; `--w-scheme` / `--x-scheme` for a per-operand knob in `matmul`), one
//! per extra output of `quantize` (`--codes`, `--packed`, ...). What was given is checked
//! against the chosen family: an option it does not have is refused by name.

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgMatches, Command};

use crate::core::data::distribution::Role;
use crate::core::error::{Error, Result};
use crate::core::family::{self, Family, Kind, Knob, Scope, Variant};

/// Which command the options are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum For {
    /// One operand: per-operand knobs are written `--KEY`; no GEMM knobs.
    Quantize,
    /// Two operands and a GEMM: `--w-KEY` / `--x-KEY`, and the GEMM's.
    Matmul,
    /// One operand's settings, as for `quantize`, without the outputs (`check` reads files of
    /// those names instead).
    Check,
}

/// One generated option.
#[derive(Debug)]
struct Opt {
    /// `--w-scheme`, `--codes`.
    flag: String,
    /// The clap id (the flag without dashes).
    id: &'static str,
    what: What,
}

#[derive(Debug)]
enum What {
    /// A knob, for one operand (`Some`) or as a whole.
    Knob(&'static Knob, Option<Role>),
    /// An extra output of `quantize`.
    Output(&'static str),
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The options of `mode`, in registry order (knobs of each family, then the outputs), each
/// once. Built once per process.
fn options(mode: For) -> &'static [Opt] {
    static QUANTIZE: OnceLock<Vec<Opt>> = OnceLock::new();
    static MATMUL: OnceLock<Vec<Opt>> = OnceLock::new();
    static CHECK: OnceLock<Vec<Opt>> = OnceLock::new();
    let build = || {
        let mut opts: Vec<Opt> = Vec::new();
        let mut push = |key: String, what: What| {
            let flag = Knob::option(&key);
            if !opts.iter().any(|o| o.flag == flag) {
                let id = leak(flag.trim_start_matches('-').to_string());
                opts.push(Opt { flag, id, what });
            }
        };
        for f in family::REGISTRY {
            for k in f.knobs() {
                match (k.scope, mode) {
                    (Scope::Gemm, For::Quantize | For::Check) => {}
                    (Scope::PerOperand, For::Quantize | For::Check)
                    | (Scope::Shared | Scope::Gemm, _) => {
                        push(k.key.to_string(), What::Knob(k, None));
                    }
                    (Scope::PerOperand, For::Matmul) => {
                        for (p, role) in [("w", Role::W), ("x", Role::X)] {
                            push(format!("{p}_{}", k.key), What::Knob(k, Some(role)));
                        }
                    }
                }
            }
        }
        if mode == For::Quantize {
            for f in family::REGISTRY {
                for o in f.outputs() {
                    push(o.name.to_string(), What::Output(o.name));
                }
            }
        }
        opts
    };
    match mode {
        For::Quantize => QUANTIZE.get_or_init(build),
        For::Matmul => MATMUL.get_or_init(build),
        For::Check => CHECK.get_or_init(build),
    }
}

/// Families that have `what`, for the help text.
fn owners(what: &What) -> Vec<&'static dyn Family> {
    family::REGISTRY
        .iter()
        .copied()
        .filter(|f| match what {
            What::Knob(k, _) => own_knob(*f, k).is_some(),
            What::Output(name) => f.outputs().iter().any(|o| o.name == *name),
        })
        .collect()
}

/// The help of one option: each family that has it, grouped by what its own knob says (INT4's
/// `scheme` is not INT8's), with that knob's default.
fn help(opt: &Opt) -> String {
    match &opt.what {
        What::Knob(k, role) => {
            let whose = match role {
                Some(Role::W) => format!("{} of W: ", k.noun),
                Some(Role::X) => format!("{} of x: ", k.noun),
                None => String::new(),
            };
            // (titles, text) in registry order, one entry per distinct text.
            let mut groups: Vec<(Vec<&str>, String)> = Vec::new();
            for f in owners(&opt.what) {
                let own = own_knob(f, k).unwrap_or(k);
                let text = match own.kind {
                    Kind::Seed => own.help.to_string(),
                    _ => format!(
                        "{} [default: {}]",
                        own.help,
                        own.default(role.unwrap_or(Role::W))
                    ),
                };
                match groups.iter_mut().find(|(_, t)| *t == text) {
                    Some((titles, _)) => titles.push(f.title()),
                    None => groups.push((vec![f.title()], text)),
                }
            }
            let parts: Vec<String> = groups
                .iter()
                .map(|(titles, text)| format!("{}: {text}", titles.join(", ")))
                .collect();
            format!("{whose}{}", parts.join("; "))
        }
        What::Output(name) => {
            let mut parts: Vec<&str> = Vec::new();
            for o in family::REGISTRY.iter().flat_map(|f| f.outputs()) {
                if o.name == *name && !parts.contains(&o.help) {
                    parts.push(o.help);
                }
            }
            format!("Output .npy: {}", parts.join("; "))
        }
    }
}

fn arg(opt: &'static Opt) -> Arg {
    let a = Arg::new(opt.id)
        .long(opt.id)
        .help(help(opt))
        .value_name(leak(opt.id.to_uppercase().replace('-', "_")))
        .action(clap::ArgAction::Set);
    match &opt.what {
        What::Output(_) => a
            .value_name("FILE.npy")
            .value_parser(clap::value_parser!(PathBuf)),
        What::Knob(k, _) => match k.kind {
            Kind::Choice(_) => {
                // Every value any family takes under this key; the chosen family's own knob
                // checks it again.
                let mut all: Vec<&'static str> = Vec::new();
                for f in family::REGISTRY {
                    if let Some(Knob {
                        kind: Kind::Choice(c),
                        ..
                    }) = own_knob(*f, k)
                    {
                        for v in *c {
                            if !all.contains(v) {
                                all.push(v);
                            }
                        }
                    }
                }
                a.value_parser(PossibleValuesParser::new(all))
            }
            Kind::Bool => a.value_parser(PossibleValuesParser::new(["true", "false"])),
            Kind::BlockSize | Kind::Seed | Kind::Count => {
                let k: &'static Knob = k;
                a.value_parser(
                    clap::builder::NonEmptyStringValueParser::new()
                        .try_map(move |s: String| k.parse(&s).map_err(|e| e.to_string())),
                )
            }
        },
    }
}

/// The format options that were given, as `(option, value)` in registry order.
#[derive(Clone, Debug, Default)]
pub struct Given<const MODE: u8> {
    knobs: Vec<(&'static Opt, String)>,
    outputs: Vec<(&'static str, PathBuf)>,
}

pub type QuantizeKnobs = Given<0>;
pub type MatmulKnobs = Given<1>;
pub type CheckKnobs = Given<2>;

impl<const MODE: u8> Given<MODE> {
    fn mode() -> For {
        match MODE {
            0 => For::Quantize,
            1 => For::Matmul,
            _ => For::Check,
        }
    }

    /// The extra outputs that were asked for, `(name, path)`.
    pub fn outputs(&self) -> &[(&'static str, PathBuf)] {
        &self.outputs
    }

    /// Whether any format option was given.
    pub fn any(&self) -> bool {
        !self.knobs.is_empty() || !self.outputs.is_empty()
    }

    /// Every option given, in registry order.
    pub fn flags(&self) -> Vec<&str> {
        let mut flags: Vec<&str> = Vec::new();
        for o in options(Self::mode()) {
            let given = match &o.what {
                What::Knob(..) => self.knobs.iter().any(|(g, _)| std::ptr::eq(*g, o)),
                What::Output(n) => self.outputs.iter().any(|(g, _)| g == n),
            };
            if given {
                flags.push(&o.flag);
            }
        }
        flags
    }

    /// `family` with the options given applied; options the family does not have are refused,
    /// all of them named (`--scheme, --rounding do not apply to --format mxfp4`).
    pub fn variant(&self, f: &'static dyn Family) -> Result<Variant> {
        self.variant_pair(f, f)
    }

    /// W in `wf` and x in `xf` with the options given applied: an operand's option
    /// (`--w-scheme`) to that operand's format, a shared one (`--block-size`) to each format
    /// that has it; an option neither has is refused by name.
    pub fn variant_pair(
        &self,
        wf: &'static dyn Family,
        xf: &'static dyn Family,
    ) -> Result<Variant> {
        let owners = |role: Option<Role>| -> Vec<&'static dyn Family> {
            match role {
                Some(Role::W) => vec![wf],
                Some(Role::X) => vec![xf],
                None => vec![wf, xf],
            }
        };
        // Refused options, by whose format refused them (W's, x's, or both for a shared one).
        let mut wrong: Vec<(usize, &str)> = Vec::new();
        for o in options(Self::mode()) {
            let (applies, whose) = match &o.what {
                What::Knob(k, role) => (
                    owners(*role).iter().any(|f| own_knob(*f, k).is_some()),
                    match role {
                        Some(Role::W) => 0,
                        Some(Role::X) => 1,
                        None => 2,
                    },
                ),
                What::Output(n) => (wf.outputs().iter().any(|fo| fo.name == *n), 0),
            };
            let given = match &o.what {
                What::Knob(..) => self.knobs.iter().any(|(g, _)| std::ptr::eq(*g, o)),
                What::Output(n) => self.outputs.iter().any(|(g, _)| g == n),
            };
            if given && !applies {
                wrong.push((whose, &o.flag));
            }
        }
        let mut v = Variant::pair(wf, xf);
        let whose = |i: usize| -> Vec<&str> {
            wrong
                .iter()
                .filter(|(w, _)| *w == i)
                .map(|(_, f)| *f)
                .collect()
        };
        if v.is_mixed() {
            refuse_for(&format!("--w-format {}", wf.name()), &whose(0))?;
            refuse_for(&format!("--x-format {}", xf.name()), &whose(1))?;
            refuse_for(
                &format!("--w-format {} or --x-format {}", wf.name(), xf.name()),
                &whose(2),
            )?;
        } else {
            let all: Vec<&str> = wrong.iter().map(|(_, f)| *f).collect();
            refuse(wf.name(), &all)?;
        }
        let mut given: Vec<(&str, Role)> = Vec::new();
        for (o, value) in &self.knobs {
            let What::Knob(k, role) = o.what else {
                continue;
            };
            for (r, f) in [(Role::W, wf), (Role::X, xf)] {
                if role.is_some_and(|want| want != r) {
                    continue;
                }
                // The family's own knob checks the value (MXINT8 offers no `even`).
                let Some(own) = own_knob(f, k) else { continue };
                let value = own.parse(value).map_err(|e| match own.kind {
                    // clap took the value as some family's: this one does not offer it.
                    Kind::Choice(choices) => Error::Invalid(format!(
                        "{}: {} has no {} '{}'; it takes {}",
                        o.flag,
                        f.title(),
                        own.noun,
                        crate::core::text::echo(value),
                        family::knob::one_of(choices)
                    )),
                    _ => Error::Invalid(format!("{}: {e}", o.flag)),
                })?;
                match own.scope {
                    Scope::Gemm => v.gemm.set(own.key, value),
                    _ if r == Role::W => v.w.set(own.key, value),
                    _ => v.x.set(own.key, value),
                }
                given.push((own.key, r));
            }
        }
        for (r, f) in [(Role::W, wf), (Role::X, xf)] {
            for k in f.knobs() {
                if let Some((other, needed)) = k.requires
                    && given.contains(&(k.key, r))
                    && v.operand(r).get(other) != Some(needed)
                {
                    let prefix = match (Self::mode(), k.scope) {
                        (For::Matmul, Scope::PerOperand) if r == Role::W => "w_",
                        (For::Matmul, Scope::PerOperand) => "x_",
                        _ => "",
                    };
                    let other_prefix = match f.knobs().iter().find(|o| o.key == other) {
                        Some(o) if o.scope == Scope::PerOperand => prefix,
                        _ => "",
                    };
                    return Err(Error::Invalid(format!(
                        "{} applies to {} {needed} only",
                        Knob::option(&format!("{prefix}{}", k.key)),
                        Knob::option(&format!("{other_prefix}{other}"))
                    )));
                }
            }
        }
        v.label = v.default_label();
        Ok(v)
    }
}

/// The family's knob with `k`'s key and kind of value (choices may differ: MXINT8's scale
/// rules are MXFP4's without `even`).
fn own_knob(f: &dyn Family, k: &Knob) -> Option<&'static Knob> {
    let same_kind =
        |a: Kind, b: Kind| matches!((a, b), (Kind::Choice(_), Kind::Choice(_))) || a == b;
    f.knobs()
        .iter()
        .find(|fk| fk.key == k.key && same_kind(fk.kind, k.kind))
}

/// Refuses options that do not apply to the chosen format, naming them.
pub fn refuse(format: &str, wrong: &[&str]) -> Result<()> {
    refuse_for(&format!("--format {format}"), wrong)
}

/// Refuses options that do not apply to `what` (`--format mxfp4`), naming them.
fn refuse_for(what: &str, wrong: &[&str]) -> Result<()> {
    if wrong.is_empty() {
        return Ok(());
    }
    let verb = if wrong.len() == 1 { "does" } else { "do" };
    Err(Error::Invalid(format!(
        "{} {verb} not apply to {what}",
        wrong.join(", ")
    )))
}

/// The `--format` values: every family's name, and `extra` (`f64` for `matmul`).
pub fn format_parser(extra: &[&'static str]) -> PossibleValuesParser {
    use clap::builder::PossibleValue;
    let values = family::REGISTRY
        .iter()
        .map(|f| PossibleValue::new(f.name()).aliases(f.aliases().iter().copied()))
        .chain(extra.iter().map(|&e| PossibleValue::new(e)));
    PossibleValuesParser::new(values)
}

impl<const MODE: u8> clap::Args for Given<MODE> {
    fn augment_args(cmd: Command) -> Command {
        options(Self::mode()).iter().fold(cmd, |c, o| c.arg(arg(o)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl<const MODE: u8> clap::FromArgMatches for Given<MODE> {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut g = Given::default();
        g.update_from_arg_matches(m)?;
        Ok(g)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        for o in options(Self::mode()) {
            match &o.what {
                What::Knob(..) => {
                    if let Some(v) = m.get_one::<String>(o.id) {
                        self.knobs.push((o, v.clone()));
                    }
                }
                What::Output(name) => {
                    if let Some(p) = m.get_one::<PathBuf>(o.id) {
                        self.outputs.push((name, p.clone()));
                    }
                }
            }
        }
        Ok(())
    }
}
