//! The parameter editor: what it lists (the data's settings, then the current variant's
//! format knobs, read from the registry), how a step changes each, and how each is shown.

use super::app::App;
use crate::core::data::distribution::{ChannelAxis, ChannelOutliers, Distribution, Role, Sign};
use crate::core::family::{self, Kind, Knob, Scope};
use crate::core::scenario::{OperandSpec, Source};

/// One editable parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Dist(Target),
    Spread(Target),
    /// One parameter of the operand's distribution by its key (`mean`, `nu`, `means[1]`),
    /// set by typing a value.
    DistValue(Target, &'static str),
    Sparsity(Target),
    OutlierCount(Target),
    OutlierFactor(Target),
    M,
    K,
    N,
    Seed,
    /// A setting of the current variant's format: a knob of the registry, for one operand
    /// (`Some`) or as a whole.
    Knob(&'static str, Option<Role>),
    /// The format of one operand of the current variant (any family of the registry).
    Format(Role),
    Shown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    W,
    X,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::W => "W",
            Target::X => "x",
        }
    }
}

/// Distributions offered by the editor, in cycling order.
const DISTS: [&str; 7] = [
    "normal",
    "uniform",
    "laplace",
    "student_t",
    "lognormal",
    "bimodal",
    "constant",
];
const COUNTS: [usize; 7] = [0, 1, 2, 4, 8, 16, 32];
const FACTORS: [f64; 8] = [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 1000.0];
const MAX_DIM: usize = 8192;

fn step_in<T: PartialEq + Copy>(list: &[T], current: T, dir: i32) -> T {
    let i = list.iter().position(|&v| v == current).unwrap_or(0) as i32;
    list[(i + dir).clamp(0, list.len() as i32 - 1) as usize]
}

/// Every numeric parameter of a distribution, by the key a scenario file gives it.
fn dist_fields(d: &Distribution) -> &'static [&'static str] {
    match d {
        Distribution::Normal { .. } => &["mean", "std"],
        Distribution::Uniform { .. } => &["low", "high"],
        Distribution::Laplace { .. } => &["mean", "scale"],
        Distribution::StudentT { .. } => &["nu", "scale"],
        Distribution::LogNormal { .. } => &["mu", "sigma"],
        Distribution::Bimodal { .. } => &["means[0]", "means[1]", "std", "weight"],
        Distribution::Constant { .. } => &["value"],
    }
}

/// The parameter `field` of `d`, to read or set.
fn dist_field<'a>(d: &'a mut Distribution, field: &str) -> Option<&'a mut f64> {
    Some(match (d, field) {
        (Distribution::Normal { mean, .. } | Distribution::Laplace { mean, .. }, "mean") => mean,
        (Distribution::Normal { std, .. } | Distribution::Bimodal { std, .. }, "std") => std,
        (Distribution::Uniform { low, .. }, "low") => low,
        (Distribution::Uniform { high, .. }, "high") => high,
        (Distribution::Laplace { scale, .. } | Distribution::StudentT { scale, .. }, "scale") => {
            scale
        }
        (Distribution::StudentT { nu, .. }, "nu") => nu,
        (Distribution::LogNormal { mu, .. }, "mu") => mu,
        (Distribution::LogNormal { sigma, .. }, "sigma") => sigma,
        (Distribution::Bimodal { means, .. }, "means[0]") => &mut means[0],
        (Distribution::Bimodal { means, .. }, "means[1]") => &mut means[1],
        (Distribution::Bimodal { weight, .. }, "weight") => weight,
        (Distribution::Constant { value }, "value") => value,
        _ => return None,
    })
}

/// Why M, K and N are not edited when an operand is data.
const SHAPE_FROM_DATA: &str = "shapes come from the data files; change a distribution first";

/// The editor's name for an operand's own data in the source cycle.
const DATA: &str = "data";

fn cycle<T: PartialEq + Copy>(list: &[T], current: T, dir: i32) -> T {
    let n = list.len() as i32;
    let i = list.iter().position(|&v| v == current).unwrap_or(0) as i32;
    list[((i + dir) % n + n) as usize % list.len()]
}

/// A distribution's "size" parameter, kept when cycling to another distribution.
fn magnitude(d: &Distribution) -> f64 {
    match *d {
        Distribution::Normal { std, .. } => std,
        Distribution::Uniform { high, .. } => high,
        Distribution::Laplace { scale, .. } | Distribution::StudentT { scale, .. } => scale,
        Distribution::LogNormal { mu, .. } => mu.exp(),
        Distribution::Bimodal { means, .. } => means[1].abs(),
        Distribution::Constant { value } => value.abs(),
    }
}

fn with_magnitude(name: &str, s: f64) -> Distribution {
    let s = if s > 0.0 && s.is_finite() { s } else { 1.0 };
    match name {
        "uniform" => Distribution::Uniform { low: -s, high: s },
        "laplace" => Distribution::Laplace {
            mean: 0.0,
            scale: s,
        },
        "student_t" => Distribution::StudentT { nu: 3.0, scale: s },
        "lognormal" => Distribution::LogNormal {
            mu: s.ln(),
            sigma: 1.0,
            sign: Sign::Random,
        },
        "bimodal" => Distribution::Bimodal {
            means: [-s, s],
            std: s / 8.0,
            weight: 0.5,
        },
        "constant" => Distribution::Constant { value: s },
        _ => Distribution::Normal { mean: 0.0, std: s },
    }
}

impl App {
    /// The parameters the editor lists: data first, then the current variant's.
    pub fn params(&self) -> Vec<Param> {
        let mut p = Vec::new();
        for t in [Target::W, Target::X] {
            p.extend([Param::Dist(t), Param::Spread(t)]);
            if let Source::Random(d) = &self.operand(t).source {
                p.extend(dist_fields(d).iter().map(|&f| Param::DistValue(t, f)));
            }
            p.extend([
                Param::Sparsity(t),
                Param::OutlierCount(t),
                Param::OutlierFactor(t),
            ]);
        }
        p.extend([Param::M, Param::K, Param::N, Param::Seed]);
        if let Some(v) = self.scenario.variants.get(self.variant) {
            p.extend([Param::Format(Role::W), Param::Format(Role::X)]);
            for k in v.knobs().into_iter().filter(|k| !k.steps.is_empty()) {
                match k.scope {
                    Scope::PerOperand => p.extend([
                        Param::Knob(k.key, Some(Role::W)),
                        Param::Knob(k.key, Some(Role::X)),
                    ]),
                    Scope::Shared | Scope::Gemm => p.push(Param::Knob(k.key, None)),
                }
            }
        }
        p.push(Param::Shown);
        p
    }

    fn operand_mut(&mut self, t: Target) -> &mut OperandSpec {
        match t {
            Target::W => &mut self.scenario.w,
            Target::X => &mut self.scenario.x,
        }
    }

    /// Changes a parameter by one step; returns whether the scenario changed.
    pub(super) fn adjust(&mut self, param: Param, dir: i32) -> bool {
        let up = dir > 0;
        let scale = |v: f64| if up { v * 2.0 } else { v / 2.0 };
        match param {
            Param::Dist(t) => {
                // The scenario's own data (a file, inline values) stays in the cycle, after
                // the distributions, so one key press never loses it.
                let origin = match t {
                    Target::W => &self.origin.w,
                    Target::X => &self.origin.x,
                };
                let data = (!matches!(origin.source, Source::Random(_)))
                    .then(|| (origin.source.clone(), origin.view.clone()));
                let mut names: Vec<&str> = DISTS.to_vec();
                if data.is_some() {
                    names.push(DATA);
                }
                // Leaving the data for a distribution keeps the data's spread (its std).
                let data_std = self.computed.as_ref().map(|c| match t {
                    Target::W => c.report.reference.w.std,
                    Target::X => c.report.reference.x.std,
                });
                let op = self.operand_mut(t);
                let (name, mag) = match &op.source {
                    Source::Random(d) => (d.name(), magnitude(d)),
                    _ => (DATA, data_std.unwrap_or(1.0)),
                };
                let next = cycle(&names, name, dir);
                match data {
                    Some((source, view)) if next == DATA => {
                        op.source = source;
                        op.view = view;
                    }
                    _ => {
                        op.source = Source::Random(with_magnitude(next, mag));
                        op.view = Default::default();
                    }
                }
            }
            Param::Spread(t) => {
                let Source::Random(d) = &mut self.operand_mut(t).source else {
                    return false;
                };
                match d {
                    Distribution::Normal { std: v, .. }
                    | Distribution::Laplace { scale: v, .. }
                    | Distribution::Bimodal { std: v, .. } => *v = scale(*v),
                    Distribution::Uniform { low, high } => {
                        *high = scale(*high);
                        *low = -*high;
                    }
                    Distribution::StudentT { nu, .. } => {
                        *nu = step_in(&[1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 16.0, 30.0], *nu, dir);
                    }
                    Distribution::LogNormal { sigma, .. } => {
                        *sigma = (*sigma + if up { 0.25 } else { -0.25 }).clamp(0.25, 4.0);
                    }
                    Distribution::Constant { value } => *value = scale(*value),
                }
            }
            Param::DistValue(..) => {
                self.status = Some("Enter types a value for this parameter".into());
                return false;
            }
            Param::Sparsity(t) => {
                let m = &mut self.operand_mut(t).modifiers;
                m.sparsity = ((m.sparsity * 10.0).round() + f64::from(dir)).clamp(0.0, 9.0) / 10.0;
            }
            Param::OutlierCount(t) => {
                let m = &mut self.operand_mut(t).modifiers;
                let current = m.outlier_channels.as_ref().map_or(0, |c| c.count);
                let factor = m.outlier_channels.as_ref().map_or(50.0, |c| c.factor);
                let axis = m
                    .outlier_channels
                    .as_ref()
                    .map_or(ChannelAxis::K, |c| c.axis);
                let count = step_in(&COUNTS, current, dir);
                m.outlier_channels = (count > 0).then_some(ChannelOutliers {
                    count,
                    factor,
                    axis,
                });
            }
            Param::OutlierFactor(t) => {
                let m = &mut self.operand_mut(t).modifiers;
                let Some(c) = m.outlier_channels.as_mut() else {
                    return false;
                };
                c.factor = step_in(&FACTORS, c.factor, dir);
            }
            Param::M | Param::K | Param::N => {
                if self.shape_from_data() {
                    self.status = Some(SHAPE_FROM_DATA.into());
                    return false;
                }
                let s = &mut self.scenario;
                let (slot, default) = match param {
                    Param::M => (&mut s.m, crate::core::scenario::DEFAULT_M),
                    Param::K => (&mut s.k, crate::core::scenario::DEFAULT_K),
                    _ => (&mut s.n, crate::core::scenario::DEFAULT_N),
                };
                let v = slot.unwrap_or(default);
                *slot = Some(if up {
                    (v * 2).min(MAX_DIM)
                } else {
                    (v / 2).max(1)
                });
            }
            Param::Seed => {
                // Within 63 bits, so the seed can be written into a scenario file.
                let s = &mut self.scenario.seed;
                *s = if up {
                    (*s + 1).min(i64::MAX as u64)
                } else {
                    s.saturating_sub(1)
                };
            }
            Param::Shown => {
                if let Some(h) = self.hidden.get_mut(self.variant) {
                    *h = !*h;
                }
                return false;
            }
            _ => return self.adjust_variant(param, dir),
        }
        true
    }

    /// Whether Enter on the parameter types a number into it.
    pub fn is_typed(&self, p: Param) -> bool {
        match p {
            Param::M | Param::K | Param::N | Param::Seed => true,
            Param::Sparsity(_) | Param::OutlierCount(_) => true,
            Param::OutlierFactor(t) => self.operand(t).modifiers.outlier_channels.is_some(),
            Param::Spread(t) | Param::DistValue(t, _) => {
                matches!(self.operand(t).source, Source::Random(_))
            }
            _ => false,
        }
    }

    /// Whether a data operand fixes the shape (M, K, N cannot be edited then).
    fn shape_from_data(&self) -> bool {
        !matches!(self.scenario.w.source, Source::Random(_))
            || !matches!(self.scenario.x.source, Source::Random(_))
    }

    fn operand(&self, t: Target) -> &OperandSpec {
        match t {
            Target::W => &self.scenario.w,
            Target::X => &self.scenario.x,
        }
    }

    /// Sets a typed number; the error says what the parameter takes.
    pub(super) fn set_typed(&mut self, p: Param, text: &str) -> Result<(), String> {
        let text = text.trim();
        let name = App::param_name(p);
        let bad = |what: &str| format!("{name}: '{}' is not {what}", crate::core::text::echo(text));
        let number = || {
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad("a finite number"))
        };
        let positive = || {
            number().and_then(|v| {
                if v > 0.0 {
                    Ok(v)
                } else {
                    Err(bad("a number > 0"))
                }
            })
        };
        match p {
            Param::M | Param::K | Param::N => {
                let v = text
                    .parse::<usize>()
                    .ok()
                    .filter(|v| (1..=MAX_DIM).contains(v))
                    .ok_or_else(|| bad(&format!("a size from 1 to {MAX_DIM}")))?;
                if self.shape_from_data() {
                    return Err(SHAPE_FROM_DATA.into());
                }
                let s = &mut self.scenario;
                *match p {
                    Param::M => &mut s.m,
                    Param::K => &mut s.k,
                    _ => &mut s.n,
                } = Some(v);
            }
            Param::Seed => {
                self.scenario.seed = text
                    .parse::<u64>()
                    .ok()
                    .filter(|&v| v <= i64::MAX as u64)
                    .ok_or_else(|| bad("a seed from 0 to 2^63 − 1"))?;
            }
            Param::Sparsity(t) => {
                let v = number()?;
                if !(0.0..100.0).contains(&v) {
                    return Err(bad("a percentage from 0 to below 100"));
                }
                self.operand_mut(t).modifiers.sparsity = v / 100.0;
            }
            Param::OutlierCount(t) => {
                let count = text
                    .parse::<usize>()
                    .map_err(|_| bad("a count (0: none)"))?;
                let m = &mut self.operand_mut(t).modifiers;
                let (factor, axis) = m
                    .outlier_channels
                    .as_ref()
                    .map_or((50.0, ChannelAxis::K), |c| (c.factor, c.axis));
                m.outlier_channels = (count > 0).then_some(ChannelOutliers {
                    count,
                    factor,
                    axis,
                });
            }
            Param::OutlierFactor(t) => {
                let v = number()?;
                if let Some(c) = self.operand_mut(t).modifiers.outlier_channels.as_mut() {
                    c.factor = v;
                }
            }
            Param::Spread(t) => {
                // The parameter the arrows step: std or scale, ν, σ, or the constant.
                let Source::Random(d) = &mut self.operand_mut(t).source else {
                    return Err(format!("{name}: the operand's data has no parameters"));
                };
                match d {
                    Distribution::Normal { std: v, .. }
                    | Distribution::Laplace { scale: v, .. }
                    | Distribution::Bimodal { std: v, .. }
                    | Distribution::StudentT { nu: v, .. }
                    | Distribution::LogNormal { sigma: v, .. } => *v = positive()?,
                    Distribution::Uniform { low, high } => {
                        *high = positive()?;
                        *low = -*high;
                    }
                    Distribution::Constant { value } => *value = number()?,
                }
            }
            Param::DistValue(t, field) => {
                let v = number()?;
                let Source::Random(d) = &mut self.operand_mut(t).source else {
                    return Err(format!("{name}: the operand's data has no parameters"));
                };
                let mut changed = d.clone();
                let slot = dist_field(&mut changed, field)
                    .ok_or_else(|| format!("{name}: not a parameter of {}", d.name()))?;
                *slot = v;
                // The same rules as a scenario file's (std > 0, low < high, weight in [0, 1]).
                let ok = match &changed {
                    Distribution::Normal { std: s, .. }
                    | Distribution::Laplace { scale: s, .. }
                    | Distribution::LogNormal { sigma: s, .. } => *s > 0.0,
                    Distribution::StudentT { nu, scale } => *nu > 0.0 && *scale > 0.0,
                    Distribution::Uniform { low, high } => low < high,
                    Distribution::Bimodal { std, weight, .. } => {
                        *std > 0.0 && (0.0..=1.0).contains(weight)
                    }
                    Distribution::Constant { .. } => true,
                };
                if !ok {
                    return Err(bad(match field {
                        "low" | "high" => "a bound that keeps low < high",
                        "weight" => "a weight in [0, 1]",
                        _ => "a number > 0",
                    }));
                }
                *d = changed;
            }
            _ => return Err(format!("{name}: not a number to type")),
        }
        Ok(())
    }

    fn adjust_variant(&mut self, param: Param, dir: i32) -> bool {
        if let Param::Format(role) = param {
            return self.adjust_format(role, dir);
        }
        let Param::Knob(key, role) = param else {
            return false;
        };
        let seed = self.scenario.seed;
        let Some(v) = self.scenario.variants.get_mut(self.variant) else {
            return false;
        };
        let Some(knob) = v.knobs().into_iter().find(|k| k.key == key) else {
            return false;
        };
        let role = role.unwrap_or(Role::W);
        // A value the editor does not list (a block size of 48 from a file) steps from the
        // default.
        let current = v.value(knob, role);
        let from = if knob.steps.contains(&current) {
            current
        } else {
            knob.default(role)
        };
        let next = cycle(knob.steps, from, dir).to_string();
        v.set(knob, role, next.clone());
        // A seed that only means something with this value (stochastic rounding's) takes the
        // scenario's seed.
        for dep in v.knobs() {
            if dep.kind == Kind::Seed && dep.requires == Some((knob.key, next.as_str())) {
                v.set(dep, role, seed.to_string());
            }
        }
        self.relabel();
        true
    }

    /// Steps one operand's format through the registry; the other operand keeps its format
    /// and settings, the changed one starts at its new format's defaults.
    fn adjust_format(&mut self, role: Role, dir: i32) -> bool {
        let Some(v) = self.scenario.variants.get(self.variant) else {
            return false;
        };
        let names = family::names();
        let next = cycle(&names, v.format(role).name(), dir);
        let Some(f) = family::find(next) else {
            return false;
        };
        let mut n = match role {
            Role::W => family::Variant::pair(f, v.x_format),
            Role::X => family::Variant::pair(v.w_format, f),
        };
        match role {
            Role::W => n.x = v.x.clone(),
            Role::X => n.w = v.w.clone(),
        }
        for (k, val) in v.gemm.iter() {
            if n.gemm.get(k).is_some() {
                n.gemm.set(k, val.to_string());
            }
        }
        self.scenario.variants[self.variant] = n;
        self.relabel();
        true
    }

    /// The current variant's label from its settings, kept unique among the variants.
    fn relabel(&mut self) {
        let Some(v) = self.scenario.variants.get(self.variant) else {
            return;
        };
        let base = v.default_label();
        let mut label = base.clone();
        let mut i = 2;
        while self
            .scenario
            .variants
            .iter()
            .enumerate()
            .any(|(j, o)| j != self.variant && o.label == label)
        {
            label = format!("{base} #{i}");
            i += 1;
        }
        self.scenario.variants[self.variant].label = label;
    }

    /// Current value of a parameter, as the editor shows it.
    pub fn param_value(&self, p: Param) -> String {
        let s = &self.scenario;
        let op = |t: Target| self.operand(t);
        let variant = s.variants.get(self.variant);
        match p {
            Param::Dist(t) => match &op(t).source {
                Source::Random(d) => d.name().to_string(),
                other => format!(
                    "{} (data)",
                    if matches!(other, Source::File { .. }) {
                        "file"
                    } else {
                        "values"
                    }
                ),
            },
            Param::Spread(t) => match &op(t).source {
                Source::Random(d) => d.describe(),
                _ => "—".into(),
            },
            Param::DistValue(t, field) => match &op(t).source {
                Source::Random(d) => {
                    let mut d = d.clone();
                    dist_field(&mut d, field).map_or("—".into(), |v| format!("{v}"))
                }
                _ => "—".into(),
            },
            Param::Sparsity(t) => format!("{:.0}% zeros", op(t).modifiers.sparsity * 100.0),
            Param::OutlierCount(t) => op(t)
                .modifiers
                .outlier_channels
                .as_ref()
                .map_or("none".into(), |c| format!("{} channels", c.count)),
            Param::OutlierFactor(t) => op(t)
                .modifiers
                .outlier_channels
                .as_ref()
                .map_or("—".into(), |c| format!("×{}", c.factor)),
            Param::M | Param::K | Param::N => {
                let shape = self.computed.as_ref().map(|c| {
                    (
                        c.report.scenario.m,
                        c.report.scenario.k,
                        c.report.scenario.n,
                    )
                });
                let (v, i) = match p {
                    Param::M => (s.m, 0),
                    Param::K => (s.k, 1),
                    _ => (s.n, 2),
                };
                v.or(shape.map(|t| [t.0, t.1, t.2][i]))
                    .map_or("—".into(), |v| v.to_string())
            }
            Param::Seed => s.seed.to_string(),
            Param::Shown => if self.hidden.get(self.variant).copied().unwrap_or(false) {
                "hidden"
            } else {
                "shown"
            }
            .into(),
            Param::Format(role) => variant.map_or(String::new(), |v| v.format(role).name().into()),
            Param::Knob(key, role) => variant
                .and_then(|v| {
                    let k = v.knobs().into_iter().find(|k| k.key == key)?;
                    Some(v.value(k, role.unwrap_or(Role::W)).to_string())
                })
                .unwrap_or_default(),
        }
    }

    /// Name of a parameter in the editor.
    pub fn param_name(p: Param) -> String {
        match p {
            Param::Dist(t) => format!("{} distribution", t.name()),
            Param::Spread(t) => format!("{} parameters", t.name()),
            Param::DistValue(t, field) => format!("{}   {field}", t.name()),
            Param::Sparsity(t) => format!("{} sparsity", t.name()),
            Param::OutlierCount(t) => format!("{} outlier channels", t.name()),
            Param::OutlierFactor(t) => format!("{} outlier factor", t.name()),
            Param::M => "M (rows of W)".into(),
            Param::K => "K (reduction)".into(),
            Param::N => "N (columns of x)".into(),
            Param::Seed => "seed".into(),
            Param::Knob(key, role) => {
                let noun = knob_noun(key);
                match role {
                    Some(Role::W) => format!("W {noun}"),
                    Some(Role::X) => format!("x {noun}"),
                    None => noun.to_string(),
                }
            }
            Param::Format(Role::W) => "W format".into(),
            Param::Format(Role::X) => "x format".into(),
            Param::Shown => "variant shown".into(),
        }
    }
}

impl App {
    /// What the parameter under the editor's cursor means, in one line (a scale rule with its
    /// formula): shown under the editor, so every setting is defined where it is chosen.
    pub fn param_help(&self, p: Param) -> String {
        match p {
            Param::Dist(_) => "the distribution the operand is drawn from (its data, for a file \
                               operand); ←→ step through them"
                .into(),
            Param::Spread(_) => {
                "the distribution's scale (std, scale or σ): ←→ halve or double it".into()
            }
            Param::DistValue(t, field) => format!(
                "{field} of {}'s distribution, as a scenario file writes it",
                t.name()
            ),
            Param::Sparsity(_) => "the fraction of elements set to exactly 0".into(),
            Param::OutlierCount(t) => format!(
                "how many channels (rows of {}) are scaled by the outlier factor",
                match t {
                    Target::W => "W along K: columns of W",
                    Target::X => "x: features along K",
                }
            ),
            Param::OutlierFactor(_) => "how much larger the outlier channels are".into(),
            Param::M | Param::K | Param::N => {
                "the GEMM's shape: y (M×N) = W (M×K) · x (K×N)".into()
            }
            Param::Seed => "the data's seed (r rerolls it)".into(),
            Param::Format(_) => "the operand's number format (`qlab formats` lists them)".into(),
            Param::Shown => "which variant the editor's settings below apply to".into(),
            Param::Knob("scale_rule", role) => {
                let value = self.param_value(Param::Knob("scale_rule", role));
                crate::core::codec::mx_block::ScaleRule::ALL
                    .iter()
                    .find(|r| r.name() == value)
                    .map_or_else(
                        || knob_help("scale_rule").into(),
                        |r| format!("{value}: {}", r.definition()),
                    )
            }
            Param::Knob(key, _) => knob_help(key).into(),
        }
    }
}

/// A knob's one-line help, from the registry.
fn knob_help(key: &str) -> &'static str {
    family::REGISTRY
        .iter()
        .flat_map(|f| f.knobs())
        .find(|k| k.key == key)
        .map_or("", |k: &Knob| k.help)
}

/// The prose name of a knob key (`block_size` → `block size`), from the registry.
fn knob_noun(key: &str) -> &'static str {
    family::REGISTRY
        .iter()
        .flat_map(|f| f.knobs())
        .find(|k| k.key == key)
        .map_or("setting", |k: &Knob| k.noun)
}
